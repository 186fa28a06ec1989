//! Turning raw RFC 5322 bytes into one normalised [`Inbound`] record.
//!
//! Everything downstream (threading, the desk core, the CLI) sees only this record, so mail-parser
//! stays behind this one module: its 1.0 release is an API rewrite we will have to migrate to.
//! [`headers`], [`body`], [`attachments`](mod@attachments) and [`machine`] each read one part of the mail.

mod attachments;
mod body;
mod headers;
mod machine;
#[cfg(test)]
mod tests;
mod trace;

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{HeaderName, MessageParser};
use sha2::{Digest, Sha256};

use crate::mail::inbound::Inbound;
use crate::mail::parse::attachments::attachments;
use crate::mail::parse::body::body_text;
use crate::mail::parse::headers::{
    mailboxes, message_id, message_ids, sender, subject_text, to_utc,
};
use crate::mail::parse::machine::{machine_flags, reported_ids};
use crate::mail::parse::trace::{leading_authentication_results, spam_flags};
use crate::mail::quote;

/// Why a raw mail could not become an [`Inbound`]. The messages are meant for whoever reads the
/// quarantine, so they say what is wrong with the mail rather than where the code gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not even one header field could be read (binary garbage, an empty file).
    #[error("not an RFC 5322 message: no header could be parsed")]
    Unparsable,
    /// Headers were read, but none of the ones every mail carries.
    #[error("no message headers: none of From, To, Date, Subject or Message-ID is present")]
    NoHeaders,
    /// Nobody to answer.
    #[error("no From (or Sender/Reply-To/Return-Path) address")]
    NoSender,
    /// A parser panicked. That is a bug (in mail-parser, html2text or here), not a property of the
    /// mail, but the mail is what reproduces it, so it belongs in the quarantine too.
    #[error("internal error: the mail parser crashed on this message")]
    Internal,
}

/// Domain of synthesised Message-IDs; `.invalid` (RFC 2606) can never collide with a real one.
const SYNTHETIC_ID_DOMAIN: &str = "synthetic.supportd.invalid";

/// Parse one raw RFC 5322 mail into an [`Inbound`].
///
/// Never panics, whatever the input: anything that cannot become a ticket is a [`ParseError`]
/// saying why, so the caller can quarantine it and carry on with the mailbox.
pub fn parse(raw: &[u8]) -> Result<Inbound, ParseError> {
    // mail-parser documents that it never panics, but it carries `debug_assert!`s on malformed
    // nesting, and html2text makes no such promise. One hostile mail must not stop the daemon.
    catch_unwind(AssertUnwindSafe(|| parse_message(raw))).unwrap_or(Err(ParseError::Internal))
}

fn parse_message(raw: &[u8]) -> Result<Inbound, ParseError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::Unparsable)?;
    let essential = [
        HeaderName::From,
        HeaderName::To,
        HeaderName::Date,
        HeaderName::Subject,
        HeaderName::MessageId,
    ];
    if !msg.headers().iter().any(|h| essential.contains(&h.name)) {
        return Err(ParseError::NoHeaders);
    }
    let from = sender(&msg).ok_or(ParseError::NoSender)?;

    let raw_sha256 = hex::encode(Sha256::digest(raw));
    let (message_id, message_id_synthetic) = match message_id(&msg) {
        Some(id) => (id, false),
        None => (format!("{raw_sha256}@{SYNTHETIC_ID_DOMAIN}"), true),
    };
    let (text, from_html) = body_text(&msg);
    Ok(Inbound {
        message_id,
        message_id_synthetic,
        in_reply_to: message_ids(&msg, HeaderName::InReplyTo),
        references: message_ids(&msg, HeaderName::References),
        reply_to: mailboxes(&msg, HeaderName::ReplyTo),
        to: mailboxes(&msg, HeaderName::To),
        cc: mailboxes(&msg, HeaderName::Cc),
        date: msg.date().and_then(to_utc),
        subject: subject_text(&msg),
        reply_text: quote::strip(&text),
        text,
        from_html,
        attachments: attachments(&msg),
        machine: machine_flags(&msg, &from),
        reported_ids: Vec::new(),
        authentication_results: leading_authentication_results(&msg),
        spam_flags: spam_flags(&msg),
        from,
        raw_sha256,
        size: raw.len() as u64,
    })
    .map(|mut m| {
        if m.machine.dsn {
            m.reported_ids = reported_ids(raw, &m.message_id);
        }
        m
    })
}

/// What can be read from a header block alone: enough to dedupe before downloading a mail and to
/// describe a quarantined one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeaderSummary {
    /// Message-ID without angle brackets.
    pub(crate) message_id: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) subject: Option<String>,
}

/// Reads Message-ID, sender and subject from a header block (or a whole mail). Never panics.
pub(crate) fn header_summary(header: &[u8]) -> HeaderSummary {
    catch_unwind(AssertUnwindSafe(|| {
        let Some(msg) = MessageParser::default().parse(header) else {
            return HeaderSummary::default();
        };
        let subject = subject_text(&msg);
        HeaderSummary {
            message_id: message_id(&msg),
            from: sender(&msg).map(|m| m.address),
            subject: (!subject.is_empty()).then_some(subject),
        }
    }))
    .unwrap_or_default()
}
