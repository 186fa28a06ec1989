//! The outbox records: every mail we send (or decided not to send) about a ticket, stored with
//! the change that caused it, and the retry policy the sender applies to it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The kinds of mail we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Acknowledgement of a new ticket.
    Ack,
    /// "Your mail was added to ticket N".
    Followup,
    /// A customer-visible status change.
    Progress,
    /// An agent's reply relayed to the customer.
    Relay,
    /// A notification to agents (new ticket, customer follow-up).
    AgentNotify,
    /// An error report to an agent whose commands could not be carried out.
    AgentError,
    /// Notice to a customer that their ticket is closed.
    Closed,
    /// Notice to a customer that their ticket was escalated.
    Escalated,
    /// "Your ticket is resolved; how did we do?"
    Survey,
    /// Notice that the ticket moved to a queue with another promised response time.
    Moved,
}

impl Kind {
    /// Template name.
    pub(crate) fn template(self) -> &'static str {
        match self {
            Kind::Ack => "ack",
            Kind::Followup => "followup",
            Kind::Progress => "progress",
            Kind::Closed => "closed",
            Kind::Escalated => "escalated",
            Kind::Survey => "survey",
            Kind::Moved => "moved",
            Kind::Relay | Kind::AgentNotify | Kind::AgentError => "",
        }
    }

    /// Automatic mail to customers: counted against the per-recipient and global caps. An
    /// agent's relayed reply is human mail, and mail to agents is ours.
    pub(crate) fn is_automatic_to_customer(self) -> bool {
        matches!(
            self,
            Kind::Ack
                | Kind::Followup
                | Kind::Progress
                | Kind::Closed
                | Kind::Escalated
                | Kind::Survey
                | Kind::Moved
        )
    }

    /// `Auto-Submitted` value (RFC 3834): replies to a mail are `auto-replied`, the rest
    /// `auto-generated`.
    pub(crate) fn auto_submitted(self) -> &'static str {
        match self {
            Kind::Ack | Kind::Followup | Kind::Closed => "auto-replied",
            Kind::Progress
            | Kind::Relay
            | Kind::AgentNotify
            | Kind::AgentError
            | Kind::Escalated
            | Kind::Survey
            | Kind::Moved => "auto-generated",
        }
    }
}

/// Where an outbox item stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting to be (re)tried.
    Pending,
    /// The server accepted it (250).
    Sent {
        /// When the server accepted it.
        at: DateTime<Utc>,
    },
    /// Given up after retries or a permanent refusal; retryable from the CLI.
    Dead {
        /// Why.
        reason: String,
    },
    /// Never sent on purpose (rate cap, invalid address); recorded on the ticket.
    Suppressed {
        /// Why.
        reason: String,
    },
}

/// One outgoing mail in the durable outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Sequential id, assigned by the store.
    pub id: u64,
    /// Ticket it belongs to.
    pub ticket: u64,
    /// What it is.
    pub kind: Kind,
    /// Our signed Message-ID (without brackets).
    pub message_id: String,
    /// SMTP envelope sender (our support address, so bounces come back to the mailbox).
    pub envelope_from: String,
    /// SMTP recipients.
    pub to: Vec<String>,
    /// Subject, for listings.
    pub subject: String,
    /// The complete message, exactly as it will be sent every time.
    pub raw: String,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Earliest next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: u32,
    /// Current state.
    pub state: State,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// Held until then on purpose (e.g. a P3 escalation outside business hours): the retry
    /// deadline and the staleness alarm count from here, not from `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// Recipients left out when the mail was written, with why (an address mail cannot be
    /// sent to).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Recipients the server accepted the mail for so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delivered: Vec<String>,
    /// Recipients the server refused permanently, with its answer; the others still get it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

impl OutboxItem {
    /// A mail we decided not to send (a rate cap, an address that cannot be written to), kept so
    /// the ticket shows what was not sent and why.
    pub(crate) fn suppressed(
        ticket: u64,
        kind: Kind,
        envelope_from: &str,
        to: Vec<String>,
        reason: String,
        now: DateTime<Utc>,
    ) -> OutboxItem {
        OutboxItem {
            id: 0,
            ticket,
            kind,
            message_id: String::new(),
            envelope_from: envelope_from.to_owned(),
            to,
            subject: String::new(),
            raw: String::new(),
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
            state: State::Suppressed { reason },
            last_error: None,
            not_before: None,
            dropped: Vec::new(),
            delivered: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// Recipients still to be tried: neither delivered nor refused.
    pub(crate) fn remaining(&self) -> Vec<String> {
        let done = |r: &String| {
            self.delivered.iter().any(|d| d.eq_ignore_ascii_case(r))
                || self.refused.iter().any(|f| {
                    f.split(':')
                        .next()
                        .is_some_and(|a| a.eq_ignore_ascii_case(r))
                })
        };
        self.to.iter().filter(|r| !done(r)).cloned().collect()
    }

    /// Holds the mail until `at`.
    pub(crate) fn hold_until(&mut self, at: DateTime<Utc>) {
        self.next_attempt_at = at;
        self.not_before = Some(at);
    }

    /// Since when the mail has been meant to go out: its creation, or the end of its hold.
    pub(crate) fn due_since(&self) -> DateTime<Utc> {
        self.not_before
            .map_or(self.created_at, |n| n.max(self.created_at))
    }
}

/// Retry delay after `attempts` earlier failures: `initial` seconds doubling, at most one hour.
pub(crate) fn backoff(initial: u64, attempts: u32) -> Duration {
    let secs = initial.max(1).saturating_mul(1u64 << attempts.min(12));
    Duration::seconds(secs.min(3600) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(30, 0), Duration::seconds(30));
        assert_eq!(backoff(30, 1), Duration::seconds(60));
        assert_eq!(backoff(30, 20), Duration::seconds(3600));
        assert_eq!(backoff(1, 2), Duration::seconds(4));
    }
}
