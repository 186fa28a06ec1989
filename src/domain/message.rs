//! The record of one mail on a ticket: what the store keeps of it (the raw bytes are kept apart,
//! by hash), where it came from and how it was threaded.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::mail::inbound::Inbound;
use crate::mail::inbound::{MachineFlags, TextCharset};
use crate::mail::mailbox::Mailbox;

/// Which rule attached a message to its ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ThreadedBy {
    /// It opened a new ticket.
    New,
    /// In-Reply-To/References named a message we know.
    Reference,
    /// Subject tag from a participant or agent.
    Tag,
    /// Same normalised subject and customer among active tickets.
    Subject,
    /// An authenticated agent's mail (signed reply address or notification Message-ID).
    Agent,
}

/// Where an inbound mail was found on the IMAP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub(crate) mailbox: String,
    /// UIDVALIDITY at the time.
    pub(crate) uidvalidity: u32,
    pub(crate) uid: u32,
}

/// What is kept about an attachment; its bytes stay in the raw mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AttachmentMeta {
    pub(crate) name: String,
    pub(crate) content_type: String,
    /// Decoded size in bytes.
    pub(crate) size: u64,
    /// Content-ID, for the `cid:` images of the HTML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content_id: Option<String>,
    /// Shown within the message (an embedded image) rather than offered as a file.
    #[serde(default)]
    pub(crate) inline: bool,
}

/// One mail on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// Ticket it belongs to.
    pub(crate) ticket: u64,
    /// 1-based position on the ticket, in arrival order.
    pub(crate) seq: u32,
    /// Message-ID without angle brackets.
    pub(crate) message_id: String,
    /// True when `message_id` was synthesised from the raw bytes.
    #[serde(default)]
    pub(crate) message_id_synthetic: bool,
    pub(crate) from: Mailbox,
    pub(crate) to: Vec<Mailbox>,
    pub(crate) cc: Vec<Mailbox>,
    /// The mail's Date header.
    pub(crate) date: Option<DateTime<Utc>>,
    /// When we stored it.
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) subject: String,
    /// Full decoded text.
    pub(crate) text: String,
    /// Text without quoted history.
    pub(crate) reply_text: String,
    /// True when the text was converted from HTML.
    pub(crate) from_html: bool,
    pub(crate) attachments: Vec<AttachmentMeta>,
    pub(crate) machine: MachineFlags,
    /// How it was threaded.
    pub(crate) threaded_by: ThreadedBy,
    /// SHA-256 of the raw bytes, the key of the raw mail in the store.
    pub(crate) raw_sha256: String,
    /// Raw size in bytes.
    pub(crate) size: u64,
    /// IMAP location it was ingested from.
    pub(crate) source: Option<Source>,
    /// Internal (an agent's note or command mail): never shown or sent to the customer.
    #[serde(default)]
    pub(crate) internal: bool,
    /// Written by an authenticated agent.
    #[serde(default)]
    pub(crate) from_agent: bool,
    /// The receiving side judged it spam (why): stored and shown, never answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spam: Option<String>,
    /// The Message-ID the mail carried when another mail with different content had it first;
    /// `message_id` is then a synthetic one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reused_message_id: Option<String>,
    /// Charset the text was read with, and whether the mail declared it.
    #[serde(default)]
    pub(crate) charset: Option<TextCharset>,
    /// Where the parser degraded gracefully (a budget, a repaired structure).
    #[serde(default)]
    pub(crate) parse_notes: Vec<String>,
}

impl Message {
    /// The record of `inbound`, arrived at `now` as message `seq` of `ticket`. Whether it is
    /// internal and an agent's is for the caller to say.
    pub(crate) fn received(
        inbound: &Inbound,
        ticket: u64,
        seq: u32,
        threaded_by: ThreadedBy,
        source: Option<Source>,
        now: DateTime<Utc>,
    ) -> Message {
        Message {
            ticket,
            seq,
            message_id: inbound.message_id.clone(),
            message_id_synthetic: inbound.message_id_synthetic,
            from: inbound.from.clone(),
            to: inbound.to.clone(),
            cc: inbound.cc.clone(),
            date: inbound.date,
            received_at: now,
            subject: inbound.subject.clone(),
            text: inbound.text.clone(),
            reply_text: inbound.reply_text.clone(),
            from_html: inbound.from_html,
            attachments: inbound
                .attachments
                .iter()
                .map(|a| AttachmentMeta {
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    size: a.size,
                    content_id: a.content_id.clone(),
                    inline: a.inline,
                })
                .collect(),
            machine: inbound.machine.clone(),
            threaded_by,
            raw_sha256: inbound.raw_sha256.clone(),
            size: inbound.size,
            source,
            internal: false,
            from_agent: false,
            spam: None,
            reused_message_id: None,
            charset: inbound.charset.clone(),
            parse_notes: inbound.parse_notes.clone(),
        }
    }
}
