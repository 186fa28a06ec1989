//! The store's own records: where ingest is in each mailbox, and what the quarantine keeps.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::message::Source;

/// Per-mailbox IMAP sync position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UidState {
    /// UIDVALIDITY the UIDs belong to.
    pub(crate) uidvalidity: u32,
    /// Highest UID fully handled (stored or quarantined, then moved).
    pub(crate) last_uid: u32,
}

/// A mail that was not turned into a ticket, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuarantineRecord {
    pub(crate) id: u64,
    /// When it was quarantined.
    pub(crate) at: DateTime<Utc>,
    pub(crate) reason: String,
    /// Message-ID, if one could be read.
    pub(crate) message_id: Option<String>,
    /// Sender, if one could be read.
    pub(crate) from: Option<String>,
    /// Subject, if one could be read.
    pub(crate) subject: Option<String>,
    /// Size announced by the server or measured.
    pub(crate) size: u64,
    /// SHA-256 of the kept bytes (the whole mail, or only its header when it was too big).
    pub(crate) raw_sha256: Option<String>,
    /// True when only the header was downloaded and kept.
    pub(crate) header_only: bool,
    /// Where it was found.
    pub(crate) source: Option<Source>,
    /// Released by an operator (`supportd quarantine release`): when, and the ticket it went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) released: Option<Released>,
}

/// A quarantined mail an operator released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Released {
    pub(crate) at: DateTime<Utc>,
    /// The ticket the mail was stored on.
    pub(crate) ticket: Option<u64>,
}
