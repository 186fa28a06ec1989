//! The in-memory due index: active tickets by their next SLA due time (a sweep costs what is
//! due, not what is open). Loaded at open from the persistent index ([`super::ticket_index`]),
//! which is written in the same transaction as the tickets, and updated after every committed
//! write, so it cannot disagree with the store after a crash.

use chrono::{DateTime, Utc};

use crate::domain::ticket::Ticket;

/// When the next SLA step of a ticket falls due (`None` for finished tickets).
pub(super) fn next_due(t: &Ticket) -> Option<DateTime<Utc>> {
    if t.status.is_active() {
        t.sla.next_due()
    } else {
        None
    }
}

/// Tickets ordered by next due time.
#[derive(Debug, Default)]
pub(super) struct DueIndex {
    pub(super) by_time: std::collections::BTreeSet<(DateTime<Utc>, u64)>,
    pub(super) of: std::collections::HashMap<u64, DateTime<Utc>>,
}

impl DueIndex {
    pub(super) fn set(&mut self, id: u64, due: Option<DateTime<Utc>>) {
        if let Some(old) = self.of.remove(&id) {
            self.by_time.remove(&(old, id));
        }
        if let Some(d) = due {
            self.of.insert(id, d);
            self.by_time.insert((d, id));
        }
    }

    pub(super) fn earliest(&self) -> Option<DateTime<Utc>> {
        self.by_time.first().map(|(d, _)| *d)
    }

    pub(super) fn due(&self, now: DateTime<Utc>) -> Vec<u64> {
        self.by_time
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, id)| *id)
            .collect()
    }
}
