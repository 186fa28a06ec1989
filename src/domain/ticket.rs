//! The ticket and message records: what the store keeps and the CLI shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::priority::Priority;
use crate::domain::sla::clocks::Clocks;
use crate::domain::status::Status;
use crate::mail::mailbox::Mailbox;

/// A support case: one conversation with one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Sequential number, never reused.
    pub id: u64,
    /// Lifecycle state.
    pub status: Status,
    /// Urgency.
    pub priority: Priority,
    /// Customer ID (from a pattern, the directory, or the sender address).
    pub customer: String,
    /// Subject of the mail that opened the ticket.
    pub subject: String,
    /// Normalised subject used for subject threading.
    pub normalized_subject: String,
    /// Who opened it.
    pub requester: Mailbox,
    /// Who is on the ticket: may follow up by tag, subject or reference, and receives the
    /// agents' replies. Each with how and when it was added (see [`crate::desk::participants`]).
    pub participants: Vec<Participant>,
    /// Number of messages on the ticket.
    pub message_count: u32,
    /// When the ticket was created.
    pub created_at: DateTime<Utc>,
    /// When anything on it last changed.
    pub updated_at: DateTime<Utc>,
    /// Message-ID of the customer's latest mail, for threading our answers.
    pub last_customer_message_id: String,
    /// An earlier ticket this one was split from (e.g. a stranger quoting its tag).
    #[serde(default)]
    pub related: Option<u64>,
    /// Assigned agent (name).
    #[serde(default)]
    pub assignee: Option<String>,
    /// When an agent first answered the customer.
    #[serde(default)]
    pub first_response_at: Option<DateTime<Utc>>,
    /// When it was last resolved (for the reopen window).
    #[serde(default)]
    pub resolved_at: Option<DateTime<Utc>>,
    /// The ticket this one was merged into.
    #[serde(default)]
    pub merged_into: Option<u64>,
    /// Escalation level reached (0 = none).
    #[serde(default)]
    pub escalation: u32,
    /// What decided the priority (classification rule, declaration, VIP, or an agent).
    #[serde(default)]
    pub priority_rule: String,
    /// The SLA clocks: first response, update, resolution.
    #[serde(default)]
    pub sla: Clocks,
    /// Every escalation, in order: by the SLA ladder, an agent's `#escalate` or the customer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<EscalationEvent>,
    /// The customer's answer to the satisfaction survey (the latest, if they answered twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<Satisfaction>,
    /// The queue (`[[queues]] name`) it belongs to; empty for the first queue, so a store
    /// written before queues existed reads unchanged and writes the same records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub queue: String,
}

/// How an address came to be on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Joined {
    /// It opened the ticket.
    Requester,
    /// In To/Cc of the mail that opened the ticket.
    OpeningMail,
    /// Wrote a reply to one of our mails about the ticket (a signed Message-ID of this store).
    RepliedToOurMail,
    /// In To/Cc of a reply to one of our mails about the ticket.
    CcOfReply,
    /// In To/Cc of a mail whose From our MX authenticated.
    CcOfAuthenticated,
    /// Added by an agent (`#cc add`).
    Agent,
    /// Came with a ticket merged into this one.
    Merged,
    /// Recorded before participants had a provenance.
    Earlier,
}

/// One address on a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ParticipantRecord")]
pub struct Participant {
    /// Lower-cased address.
    pub address: String,
    /// How it was added.
    pub how: Joined,
    /// Who added it: the agent's name, the ticket merged from, the proof seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// When it was added (unknown for [`Joined::Earlier`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
}

/// A stored participant: a bare address (before provenance) or the full record.
#[derive(Deserialize)]
#[serde(untagged)]
enum ParticipantRecord {
    Bare(String),
    Full {
        address: String,
        how: Joined,
        #[serde(default)]
        by: Option<String>,
        #[serde(default)]
        at: Option<DateTime<Utc>>,
    },
}

impl From<ParticipantRecord> for Participant {
    fn from(r: ParticipantRecord) -> Participant {
        match r {
            ParticipantRecord::Bare(address) => Participant::from(address),
            ParticipantRecord::Full {
                address,
                how,
                by,
                at,
            } => Participant {
                address,
                how,
                by,
                at,
            },
        }
    }
}

/// An address recorded without a provenance.
impl From<String> for Participant {
    fn from(address: String) -> Participant {
        Participant {
            address: address.to_lowercase(),
            how: Joined::Earlier,
            by: None,
            at: None,
        }
    }
}

impl From<&str> for Participant {
    fn from(address: &str) -> Participant {
        Participant::from(address.to_owned())
    }
}

/// Who raised a ticket's escalation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalatedBy {
    /// An SLA target was missed (breach or supervisor step).
    Sla,
    /// An agent's `#escalate`.
    Agent,
    /// The customer asked for it (升级, 投诉, escalate, …).
    Customer,
}

/// One rise of a ticket's escalation level, kept for `ticket show` and the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationEvent {
    /// When the level rose.
    pub at: DateTime<Utc>,
    /// The level reached: 1 = tier 2, 2 and above = supervisor.
    pub level: u32,
    /// Who raised it.
    pub by: EscalatedBy,
    /// Details: the SLA clock and step, the agent's name, or the customer's words.
    pub detail: String,
}

/// A customer's survey answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Satisfaction {
    /// 1 (very unhappy) to 5 (very happy).
    pub score: u8,
    /// Anything the customer wrote besides the score.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// When the answer arrived.
    pub at: DateTime<Utc>,
}

impl Ticket {
    /// The ticket a customer's first mail opens: new, unassigned, nothing answered, at the
    /// default priority with idle clocks. The caller classifies it and starts its clocks, which
    /// depend on the SLA policy.
    pub(crate) fn new(
        id: u64,
        customer: String,
        requester: Mailbox,
        subject: String,
        normalized_subject: String,
        now: DateTime<Utc>,
    ) -> Ticket {
        Ticket {
            id,
            status: Status::New,
            priority: Priority::P3,
            customer,
            subject,
            normalized_subject,
            requester,
            participants: Vec::new(),
            message_count: 0,
            created_at: now,
            updated_at: now,
            last_customer_message_id: String::new(),
            related: None,
            assignee: None,
            first_response_at: None,
            resolved_at: None,
            merged_into: None,
            escalation: 0,
            priority_rule: String::new(),
            sla: Clocks::default(),
            escalations: Vec::new(),
            satisfaction: None,
            queue: String::new(),
        }
    }

    /// Raises the escalation level to `level` and records who did it and why, so the level and
    /// its history never disagree.
    pub(crate) fn escalate_to(
        &mut self,
        level: u32,
        by: EscalatedBy,
        detail: String,
        at: DateTime<Utc>,
    ) {
        self.escalation = level;
        self.escalations.push(EscalationEvent {
            at,
            level,
            by,
            detail,
        });
    }

    /// True if `address` is on the ticket (may follow up, receives replies).
    pub(crate) fn is_participant(&self, address: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.address.eq_ignore_ascii_case(address))
    }
}
