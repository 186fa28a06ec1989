//! What the CLI and the control socket show: stable JSON shapes built from store records.
//!
//! Both paths (daemon running → control socket; daemon stopped → store opened directly) build
//! their answer with [`crate::service::requests::answer`] from these views, so the output cannot
//! differ between them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::config::sections::SecretSource;
use crate::domain::message::AttachmentMeta;
use crate::domain::message::Message;
use crate::domain::message::ThreadedBy;
use crate::domain::priority::Priority;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::io::store::Store;
use crate::service::metrics;

/// One line of `tickets`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TicketSummary {
    pub(crate) id: u64,
    pub(crate) status: Status,
    pub(crate) priority: Priority,
    pub(crate) customer: String,
    /// Subject of the opening mail.
    pub(crate) subject: String,
    /// Number of messages.
    pub(crate) messages: u32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    /// Who opened it, as `Name <address>`.
    pub(crate) requester: String,
    /// Its queue as stored: empty for the first queue.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) queue: String,
}

/// One message in `ticket show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct MessageView {
    pub(crate) message_id: String,
    /// Sender as `Name <address>`.
    pub(crate) from: String,
    pub(crate) date: Option<DateTime<Utc>>,
    /// When it was stored.
    pub(crate) received_at: DateTime<Utc>,
    pub(crate) subject: String,
    pub(crate) text: String,
    /// Text without quoted history.
    pub(crate) reply_text: String,
    pub(crate) attachments: Vec<AttachmentMeta>,
    /// How it was threaded.
    pub(crate) threaded_by: ThreadedBy,
    /// Machine-generated signals, if any.
    pub(crate) machine_generated: Vec<String>,
    /// Why the receiving side judged it spam.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spam: Option<String>,
    /// The Message-ID it carried, when another stored mail had it first (`message_id` is then
    /// a synthetic one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reused_message_id: Option<String>,
    /// Charset the text was read with, and whether the mail declared it.
    #[serde(default)]
    pub(crate) charset: Option<crate::mail::inbound::TextCharset>,
    /// Where the parser degraded gracefully.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) parse_notes: Vec<String>,
}

/// `ticket show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TicketDetail {
    pub(crate) id: u64,
    pub(crate) status: Status,
    pub(crate) priority: Priority,
    pub(crate) customer: String,
    pub(crate) subject: String,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    /// Who opened it.
    pub(crate) requester: String,
    /// Who receives the replies and may follow up, with how and when each was added.
    pub(crate) participants: Vec<crate::domain::ticket::Participant>,
    #[serde(default)]
    pub(crate) assignee: Option<String>,
    /// What decided the priority.
    #[serde(default)]
    pub(crate) priority_rule: String,
    /// SLA clocks: due, stopped and breached per clock.
    #[serde(default)]
    pub(crate) sla: serde_json::Value,
    /// Related earlier ticket.
    pub(crate) related: Option<u64>,
    /// Escalations, oldest first.
    #[serde(default)]
    pub(crate) escalations: Vec<crate::domain::ticket::EscalationEvent>,
    /// The customer's survey answer.
    #[serde(default)]
    pub(crate) satisfaction: Option<crate::domain::ticket::Satisfaction>,
    /// Its queue as stored: empty (left out) for the first queue.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) queue: String,
    /// Messages in arrival order.
    pub(crate) messages: Vec<MessageView>,
    /// Mails we sent or decided not to send about this ticket.
    pub(crate) outgoing: Vec<OutboxView>,
}

/// One line of `outbox`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutboxView {
    pub(crate) id: u64,
    pub(crate) ticket: u64,
    pub(crate) kind: crate::domain::outbox::Kind,
    pub(crate) message_id: String,
    pub(crate) to: Vec<String>,
    pub(crate) subject: String,
    /// State with its details.
    #[serde(flatten)]
    pub(crate) state: crate::domain::outbox::State,
    pub(crate) attempts: u32,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) next_attempt_at: DateTime<Utc>,
    pub(crate) last_error: Option<String>,
    /// Recipients left out when it was written, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) dropped: Vec<String>,
    /// Recipients the server refused permanently, with its answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) refused: Vec<String>,
}

/// The outbox line for an item.
pub(crate) fn outbox_view(i: &crate::domain::outbox::OutboxItem) -> OutboxView {
    OutboxView {
        id: i.id,
        ticket: i.ticket,
        kind: i.kind,
        message_id: i.message_id.clone(),
        to: i.to.clone(),
        subject: i.subject.clone(),
        state: i.state.clone(),
        attempts: i.attempts,
        created_at: i.created_at,
        next_attempt_at: i.next_attempt_at,
        last_error: i.last_error.clone(),
        dropped: i.dropped.clone(),
        refused: i.refused.clone(),
    }
}

/// Summary of one ticket.
pub(crate) fn summary(t: &Ticket) -> TicketSummary {
    TicketSummary {
        id: t.id,
        status: t.status,
        priority: t.priority,
        customer: t.customer.clone(),
        subject: t.subject.clone(),
        messages: t.message_count,
        created_at: t.created_at,
        updated_at: t.updated_at,
        requester: t.requester.to_string(),
        queue: t.queue.clone(),
    }
}

fn message_view(m: &Message) -> MessageView {
    MessageView {
        message_id: m.message_id.clone(),
        from: m.from.to_string(),
        date: m.date,
        received_at: m.received_at,
        subject: m.subject.clone(),
        text: m.text.clone(),
        reply_text: m.reply_text.clone(),
        attachments: m.attachments.clone(),
        threaded_by: m.threaded_by,
        machine_generated: m.machine.reasons(),
        spam: m.spam.clone(),
        reused_message_id: m.reused_message_id.clone(),
        charset: m.charset.clone(),
        parse_notes: m.parse_notes.clone(),
    }
}

/// The SLA clocks as shown to people: due and stopped times and whether each is breached.
pub(crate) fn sla_view(
    c: &crate::domain::sla::clocks::Clocks,
    now: DateTime<Utc>,
) -> serde_json::Value {
    let one = |k: crate::domain::sla::ladder::ClockKind| {
        let clock = c.clock(k);
        serde_json::json!({
            "due_at": clock.due_at,
            "stopped_at": clock.stopped_at,
            "paused": clock.paused_since.is_some(),
            "breached": clock.is_breached(now),
        })
    };
    serde_json::json!({
        "first_response": one(crate::domain::sla::ladder::ClockKind::FirstResponse),
        "update": one(crate::domain::sla::ladder::ClockKind::Update),
        "resolution": one(crate::domain::sla::ladder::ClockKind::Resolution),
    })
}

/// Detail of one ticket, or `None` if it does not exist.
pub(crate) fn detail(store: &Store, id: u64) -> crate::io::store::Result<Option<TicketDetail>> {
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
        requester: t.requester.to_string(),
        participants: t.participants.clone(),
        assignee: t.assignee.clone(),
        priority_rule: t.priority_rule.clone(),
        sla: sla_view(&t.sla, Utc::now()),
        escalations: t.escalations.clone(),
        satisfaction: t.satisfaction.clone(),
        queue: t.queue.clone(),
        related: t.related,
        messages,
        outgoing: store
            .outbox_for_ticket(id)?
            .iter()
            .map(outbox_view)
            .collect(),
    }))
}

/// The `status` answer: the store's counts and, from a running daemon, its live counters.
pub(crate) fn status(
    store: &Store,
    config: Option<&Config>,
    live: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    // From the counts in the store's index: `status` must answer at once, however large the store.
    // Which signing secret is in use, never the secret (null: no outbound mail, none needed).
    let secret = config.and_then(|c| c.outbound.as_ref()).map(|o| {
        let file = match &o.secret_source {
            SecretSource::File(p) => Some(p.display().to_string()),
            _ => None,
        };
        serde_json::json!({
            "source": o.secret_source.name(),
            "file": file,
            "text": o.secret_source.describe(),
        })
    });
    let mut by_status = serde_json::Map::new();
    for (status, counts) in Status::ALL.iter().zip(store.census()) {
        let n: u64 = counts.iter().sum();
        if n > 0 {
            by_status.insert(status.as_str().to_owned(), n.into());
        }
    }
    Ok(serde_json::json!({
        "store": store.identity(),
        "daemon": live.is_some(),
        "ingest": live,
        "tickets": store.ticket_count(),
        "tickets_by_status": by_status,
        "messages": store.message_count(),
        "quarantined": store.quarantine_count(),
        "outbox_pending": store.outbox_depth()?.0,
        "agent_impersonations": metrics::IMPERSONATIONS.load(std::sync::atomic::Ordering::Relaxed),
        "store_bytes": store.size_on_disk(),
        "store_fault": store.fault(),
        "sla_skipped": crate::service::scheduler::skipped()
            .into_iter()
            .map(|(ticket, why)| serde_json::json!({ "ticket": ticket, "reason": why }))
            .collect::<Vec<_>>(),
        "outbound_secret": secret,
    }))
}
