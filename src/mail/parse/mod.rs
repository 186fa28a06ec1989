//! Turning raw RFC 5322 bytes into one normalised [`Inbound`] record.
//!
//! Everything downstream (threading, the desk core, the CLI) sees only this record, so mail-parser
//! stays behind this one module: its 1.0 release is an API rewrite we will have to migrate to.
//!
//! A mail goes through: [`scan`] (a linear pass that enforces the [`Limits`] on structure and
//! closes unterminated inner multiparts), mail-parser (the structure), [`headers`] (with
//! [`charset`] for raw 8-bit bytes), [`parts`] (every MIME leaf shown or attached, text decoded by
//! [`charset`], HTML by [`html`]), [`body`] (the text), [`attachments`](mod@attachments) (names)
//! and [`machine`] (robot signals).

mod attachments;
mod body;
mod charset;
mod headers;
mod html;
pub mod limits;
mod machine;
#[cfg(test)]
mod mime_tests;
mod parts;
mod scan;
#[cfg(test)]
mod tests;
mod trace;

use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{HeaderName, MessageParser};
use sha2::{Digest, Sha256};

use crate::mail::inbound::{Inbound, QuoteSplit};
use crate::mail::parse::body::assemble;
use crate::mail::parse::charset::HeaderCharset;
use crate::mail::parse::headers::{
    declared_charsets, eight_bit_fields, mailboxes, message_id, message_ids, sender, sender_tld,
    subject_text, to_utc,
};
pub use crate::mail::parse::limits::Limits;
use crate::mail::parse::machine::{machine_flags, reported_ids};
use crate::mail::parse::parts::Walker;
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
    /// Over one of the [`Limits`]; the text names the budget and its configuration key.
    #[error("{0}")]
    OverBudget(String),
}

/// Domain of synthesised Message-IDs; `.invalid` (RFC 2606) can never collide with a real one.
const SYNTHETIC_ID_DOMAIN: &str = "synthetic.supportd.invalid";

/// Parse one raw RFC 5322 mail into an [`Inbound`], within the default [`Limits`].
pub fn parse(raw: &[u8]) -> Result<Inbound, ParseError> {
    parse_with(raw, &Limits::default())
}

/// Parse one raw RFC 5322 mail into an [`Inbound`], within `limits`.
///
/// Never panics, whatever the input: anything that cannot become a ticket is a [`ParseError`]
/// saying why, so the caller can quarantine it and carry on with the mailbox.
pub fn parse_with(raw: &[u8], limits: &Limits) -> Result<Inbound, ParseError> {
    // mail-parser documents that it never panics, but it carries `debug_assert!`s on malformed
    // nesting, and html5ever makes no such promise. One hostile mail must not stop the daemon.
    catch_unwind(AssertUnwindSafe(|| parse_message(raw, limits)))
        .unwrap_or(Err(ParseError::Internal))
}

/// Parts of `msg`, those of attached messages included, counting no further than `limit + 1`.
fn count_parts(msg: &mail_parser::Message<'_>, limit: usize) -> usize {
    let mut count = 0;
    let mut pending = vec![msg];
    while let Some(m) = pending.pop() {
        count += m.parts.len();
        if count > limit {
            break;
        }
        pending.extend(m.parts.iter().filter_map(|p| p.message()));
    }
    count
}

fn parse_message(raw: &[u8], limits: &Limits) -> Result<Inbound, ParseError> {
    let scanned = scan::scan(raw, limits).map_err(|e| ParseError::OverBudget(e.to_string()))?;
    let buffer = scanned.repaired.as_deref().unwrap_or(raw);
    let msg = MessageParser::default()
        .parse(buffer)
        .ok_or(ParseError::Unparsable)?;
    let parts = count_parts(&msg, limits.max_mime_parts);
    if parts > limits.max_mime_parts {
        return Err(ParseError::OverBudget(limits.mime_parts(parts).to_string()));
    }
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
    let tld = sender_tld(&msg);
    let header_charset = HeaderCharset::new(
        eight_bit_fields(&msg),
        declared_charsets(&msg),
        tld.as_deref(),
    );
    let from = sender(&msg, &header_charset).ok_or(ParseError::NoSender)?;

    let raw_sha256 = hex::encode(Sha256::digest(raw));
    let (message_id, message_id_synthetic) = match message_id(&msg) {
        Some(id) => (id, false),
        None => (format!("{raw_sha256}@{SYNTHETIC_ID_DOMAIN}"), true),
    };
    let walked = Walker::new(&msg, raw, &scanned, limits, &header_charset, tld.as_deref()).walk();
    let mut notes = Vec::new();
    if scanned.closed > 0 {
        notes.push(format!(
            "{} unterminated inner multipart(s) closed at the enclosing boundary",
            scanned.closed
        ));
    }
    notes.extend(walked.notes);
    let (text, from_html, charset) = assemble(&walked.segments, limits.max_text_bytes, &mut notes);
    let max_ids = limits.max_reference_ids;
    let (in_reply_to, found) = message_ids(&msg, HeaderName::InReplyTo, max_ids);
    if found > max_ids {
        notes.push(format!(
            "In-Reply-To shortened to the first and the last {} of its {found} ids (parse.max_reference_ids)",
            max_ids.saturating_sub(1)
        ));
    }
    let (references, found) = message_ids(&msg, HeaderName::References, max_ids);
    if found > max_ids {
        notes.push(format!(
            "References shortened to the first and the last {} of its {found} ids (parse.max_reference_ids)",
            max_ids.saturating_sub(1)
        ));
    }
    let header_charset_used = eight_bit_fields(&msg)
        .next()
        .map(|bytes| header_charset.decode(bytes).1.name().to_string());
    Ok(Inbound {
        message_id,
        message_id_synthetic,
        in_reply_to,
        references,
        reply_to: mailboxes(&msg, HeaderName::ReplyTo, &header_charset),
        to: mailboxes(&msg, HeaderName::To, &header_charset),
        cc: mailboxes(&msg, HeaderName::Cc, &header_charset),
        date: msg.date().and_then(to_utc),
        subject: subject_text(&msg, &header_charset),
        // Below, from the split the mail keeps.
        reply_text: String::new(),
        quote: QuoteSplit::default(),
        text,
        from_html,
        attachments: walked.attachments,
        machine: machine_flags(&msg, &from),
        reported_ids: Vec::new(),
        authentication_results: leading_authentication_results(&msg),
        spam_flags: spam_flags(&msg),
        delivered_to: trace::delivered_to(&msg),
        from,
        raw_sha256,
        size: raw.len() as u64,
        charset,
        header_charset: header_charset_used,
        parse_notes: notes,
    })
    .map(|mut m| {
        m.reply_text = quote::strip_split(&m.text, m.split());
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
///
/// Only those fields are handed to mail-parser, each at most [`SUMMARY_FIELD_BYTES`], so a
/// hostile header of a million fields or a 20 MB Subject costs one linear pass here.
pub(crate) fn header_summary(header: &[u8]) -> HeaderSummary {
    catch_unwind(AssertUnwindSafe(|| {
        let wanted = summary_fields(header);
        let Some(msg) = MessageParser::default().parse(&wanted) else {
            return HeaderSummary::default();
        };
        let charset = HeaderCharset::new(
            eight_bit_fields(&msg),
            std::iter::empty(),
            sender_tld(&msg).as_deref(),
        );
        let subject = subject_text(&msg, &charset);
        HeaderSummary {
            message_id: message_id(&msg),
            from: sender(&msg, &charset).map(|m| m.address),
            subject: (!subject.is_empty()).then_some(subject),
        }
    }))
    .unwrap_or_default()
}

/// Longest field [`header_summary`] reads.
const SUMMARY_FIELD_BYTES: usize = 16 * 1024;

/// The last Message-ID, From, Sender, Reply-To, Return-Path and Subject field of the header
/// block of `raw` (each cut at [`SUMMARY_FIELD_BYTES`]), as a header block of their own.
fn summary_fields(raw: &[u8]) -> Vec<u8> {
    const NAMES: [&[u8]; 6] = [
        b"message-id",
        b"from",
        b"sender",
        b"reply-to",
        b"return-path",
        b"subject",
    ];
    let mut last: [Option<(usize, usize)>; 6] = [None; 6];
    let mut current: Option<usize> = None;
    let mut at = 0;
    while at < raw.len() {
        let end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| at + p + 1);
        let line = &raw[at..end];
        if line == b"\n" || line == b"\r\n" {
            break;
        }
        if line.starts_with(b" ") || line.starts_with(b"\t") {
            if let Some(slot) = current
                && let Some((start, _)) = last[slot]
            {
                last[slot] = Some((start, end));
            }
        } else {
            current = line.iter().position(|&b| b == b':').and_then(|colon| {
                let name = line[..colon].trim_ascii();
                NAMES.iter().position(|n| name.eq_ignore_ascii_case(n))
            });
            if let Some(slot) = current {
                last[slot] = Some((at, end));
            }
        }
        at = end;
    }
    let mut out = Vec::new();
    for (start, end) in last.into_iter().flatten() {
        let field = &raw[start..end.min(start + SUMMARY_FIELD_BYTES)];
        out.extend_from_slice(field.trim_ascii_end());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}
