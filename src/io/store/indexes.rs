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

/// Tickets counted by status and priority, in all and per queue: one byte per ticket number
/// remembers where each is counted and two its queue (300 KB for 100,000 tickets), so a write
/// moves it between counts.
#[derive(Debug, Default)]
pub(super) struct Census {
    pub(super) class: Vec<u8>,
    pub(super) counts: [[u64; 4]; 5],
    /// Per ticket number, its index in `queues`.
    queue_of: Vec<u16>,
    /// The queue names as stored (empty: the first queue) with their counts, in order of first
    /// sight. A stored name is bounded by the store, not by mail: at most the queues ever
    /// configured.
    pub(super) queues: Vec<(String, [[u64; 4]; 5])>,
}

impl Census {
    pub(super) const NONE: u8 = u8::MAX;

    pub(super) fn set(&mut self, t: &Ticket) {
        let Ok(i) = usize::try_from(t.id) else {
            return;
        };
        if i >= self.class.len() {
            self.class.resize(i + 1, Self::NONE);
            self.queue_of.resize(i + 1, 0);
        }
        let q = self.queue_index(&t.queue);
        let s = Status::ALL.iter().position(|&s| s == t.status).unwrap_or(0);
        let p = t.priority as usize;
        let old = std::mem::replace(&mut self.class[i], (s * 4 + p) as u8);
        let old_q = std::mem::replace(&mut self.queue_of[i], q) as usize;
        if old != Self::NONE {
            let (os, op) = (old as usize / 4, old as usize % 4);
            self.counts[os][op] = self.counts[os][op].saturating_sub(1);
            if let Some((_, c)) = self.queues.get_mut(old_q) {
                c[os][op] = c[os][op].saturating_sub(1);
            }
        }
        self.counts[s][p] += 1;
        self.queues[q as usize].1[s][p] += 1;
    }

    /// The index of the stored queue name `name`, added on first sight (beyond `u16` names,
    /// which no configuration has, the last one counts them).
    fn queue_index(&mut self, name: &str) -> u16 {
        if let Some(i) = self.queues.iter().position(|(n, _)| n == name) {
            return i as u16;
        }
        if self.queues.len() > usize::from(u16::MAX) {
            return u16::MAX;
        }
        self.queues.push((name.to_owned(), [[0; 4]; 5]));
        (self.queues.len() - 1) as u16
    }
}

#[cfg(test)]
mod census_tests {
    use super::*;
    use crate::mail::mailbox::Mailbox;

    #[test]
    fn a_ticket_moved_between_queues_is_counted_once_in_its_new_queue() {
        let mut c = Census::default();
        let requester = Mailbox {
            name: None,
            address: "c@example.org".into(),
        };
        let mut t = Ticket::new(1, "c".into(), requester, "s".into(), "s".into(), Utc::now());
        c.set(&t);
        let mut b = t.clone();
        b.id = 2;
        b.queue = "billing".into();
        c.set(&b);
        t.queue = "billing".into();
        t.status = Status::Open;
        c.set(&t);
        let total: u64 = c.counts.iter().flatten().sum();
        assert_eq!(total, 2);
        let of = |name: &str| -> u64 {
            c.queues
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, k)| k.iter().flatten().sum::<u64>())
                .sum()
        };
        assert_eq!((of(""), of("billing")), (0, 2));
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
