//! What the CLI and the control socket show: stable JSON shapes built from store records.
//!
//! Both paths (daemon running → control socket; daemon stopped → store opened directly) build
//! their answer with [`answer`], so the output cannot differ between them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::parse::Mailbox;
use crate::store::{QuarantineRecord, Store};
use crate::ticket::{AttachmentMeta, Message, Priority, Status, ThreadedBy, Ticket};

/// One line of `tickets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketSummary {
    /// Number.
    pub id: u64,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Customer ID.
    pub customer: String,
    /// Subject of the opening mail.
    pub subject: String,
    /// Number of messages.
    pub messages: u32,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who opened it, as `Name <address>`.
    pub requester: String,
}

/// One message in `ticket show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    /// Message-ID.
    pub message_id: String,
    /// Sender as `Name <address>`.
    pub from: String,
    /// Date header.
    pub date: Option<DateTime<Utc>>,
    /// When it was stored.
    pub received_at: DateTime<Utc>,
    /// Subject.
    pub subject: String,
    /// Full text.
    pub text: String,
    /// Text without quoted history.
    pub reply_text: String,
    /// Attachments.
    pub attachments: Vec<AttachmentMeta>,
    /// How it was threaded.
    pub threaded_by: ThreadedBy,
    /// Machine-generated signals, if any.
    pub machine_generated: Vec<String>,
}

/// `ticket show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketDetail {
    /// Number.
    pub id: u64,
    /// Status.
    pub status: Status,
    /// Priority.
    pub priority: Priority,
    /// Customer ID.
    pub customer: String,
    /// Subject.
    pub subject: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Who opened it.
    pub requester: String,
    /// Addresses allowed to follow up.
    pub participants: Vec<String>,
    /// Related earlier ticket.
    pub related: Option<u64>,
    /// Messages in arrival order.
    pub messages: Vec<MessageView>,
}

/// A request to the daemon (or answered locally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// List tickets.
    Tickets {
        /// Only this status.
        status: Option<Status>,
    },
    /// One ticket with its messages.
    Ticket {
        /// Number.
        id: u64,
    },
    /// Quarantine records.
    Quarantine,
    /// Daemon status.
    Status,
}

/// Formats a mailbox as `Name <address>`.
pub fn display(m: &Mailbox) -> String {
    match &m.name {
        Some(n) if !n.is_empty() => format!("{n} <{}>", m.address),
        _ => m.address.clone(),
    }
}

/// Summary of one ticket.
pub fn summary(t: &Ticket) -> TicketSummary {
    TicketSummary {
        id: t.id,
        status: t.status,
        priority: t.priority,
        customer: t.customer.clone(),
        subject: t.subject.clone(),
        messages: t.message_count,
        created_at: t.created_at,
        updated_at: t.updated_at,
        requester: display(&t.requester),
    }
}

fn message_view(m: &Message) -> MessageView {
    MessageView {
        message_id: m.message_id.clone(),
        from: display(&m.from),
        date: m.date,
        received_at: m.received_at,
        subject: m.subject.clone(),
        text: m.text.clone(),
        reply_text: m.reply_text.clone(),
        attachments: m.attachments.clone(),
        threaded_by: m.threaded_by,
        machine_generated: m.machine.reasons(),
    }
}

/// Detail of one ticket, or `None` if it does not exist.
pub fn detail(store: &Store, id: u64) -> crate::store::Result<Option<TicketDetail>> {
    let Some(t) = store.ticket(id)? else {
        return Ok(None);
    };
    let messages = store.messages(id)?.iter().map(message_view).collect();
    Ok(Some(TicketDetail {
        id: t.id,
        status: t.status,
        priority: t.priority,
        customer: t.customer.clone(),
        subject: t.subject.clone(),
        created_at: t.created_at,
        updated_at: t.updated_at,
        requester: display(&t.requester),
        participants: t.participants.clone(),
        related: t.related,
        messages,
    }))
}

/// Answers `req` from the store; `status` is the live daemon status when there is one.
pub fn answer(
    store: &Store,
    status: Option<serde_json::Value>,
    req: &Request,
) -> anyhow::Result<serde_json::Value> {
    Ok(match req {
        Request::Tickets { status } => {
            let list: Vec<TicketSummary> = store.tickets(*status)?.iter().map(summary).collect();
            serde_json::to_value(list)?
        }
        Request::Ticket { id } => match detail(store, *id)? {
            Some(d) => serde_json::to_value(d)?,
            None => anyhow::bail!("no ticket {id}"),
        },
        Request::Quarantine => {
            let list: Vec<QuarantineRecord> = store.quarantine_list()?;
            serde_json::to_value(list)?
        }
        Request::Status => {
            let mut by_status = serde_json::Map::new();
            for t in store.tickets(None)? {
                let e = by_status
                    .entry(t.status.as_str())
                    .or_insert(serde_json::Value::from(0u64));
                *e = serde_json::Value::from(e.as_u64().unwrap_or(0) + 1);
            }
            serde_json::json!({
                "daemon": status.is_some(),
                "ingest": status,
                "tickets": store.ticket_count(),
                "tickets_by_status": by_status,
                "messages": store.message_count(),
                "quarantined": store.quarantine_list()?.len(),
                "store_bytes": store.size_on_disk(),
            })
        }
    })
}
