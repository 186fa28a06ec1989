//! In-memory indexes over the tickets, rebuilt at open and updated after every committed write,
//! so they can never disagree with the store after a crash: active tickets by their next SLA due
//! time (a sweep costs what is due, not what is open) and tickets counted by status and priority
//! (`/metrics` costs nothing per scrape).

use chrono::{DateTime, Utc};

use crate::domain::status::Status;
use crate::domain::ticket::Ticket;

/// When the next SLA step of a ticket falls due (`None` for finished tickets).
pub(super) fn next_due(t: &Ticket) -> Option<DateTime<Utc>> {
    if t.status.is_active() {
        t.sla.next_due()
    } else {
        None
    }
}

/// Tickets counted by status and priority: one byte per ticket number remembers where each is
/// counted (100 KB for 100,000 tickets), so a write moves it between counts.
#[derive(Debug, Default)]
pub(super) struct Census {
    pub(super) class: Vec<u8>,
    pub(super) counts: [[u64; 4]; 5],
}

impl Census {
    pub(super) const NONE: u8 = u8::MAX;

    pub(super) fn set(&mut self, t: &Ticket) {
        let Ok(i) = usize::try_from(t.id) else {
            return;
        };
        if i >= self.class.len() {
            self.class.resize(i + 1, Self::NONE);
        }
        let s = Status::ALL.iter().position(|&s| s == t.status).unwrap_or(0);
        let p = t.priority as usize;
        let old = std::mem::replace(&mut self.class[i], (s * 4 + p) as u8);
        if old != Self::NONE {
            let (os, op) = (old as usize / 4, old as usize % 4);
            self.counts[os][op] = self.counts[os][op].saturating_sub(1);
        }
        self.counts[s][p] += 1;
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
