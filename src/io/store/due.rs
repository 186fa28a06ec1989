//! The SLA due index: active tickets by their next SLA due time, so a sweep costs what is due,
//! not what is open. It is the `d` keys of the persistent index ([`super::ticket_index`]),
//! written in the same transaction as the tickets, and read from sled where it is asked: start-up
//! loads nothing (it loaded the due times of every active ticket, 60k at 100k stored mails,
//! which stayed resident for the life of the process), and it cannot disagree with the store.
//! What memory holds is what no record says: the tickets a sweep gave up on until their next
//! write, and whether a batch still to be written makes a ticket due sooner.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// What the due index keeps in memory.
#[derive(Debug, Default)]
pub(super) struct DueState {
    /// Tickets left out of the due index until their next write (their SLA step failed; see
    /// [`crate::service::scheduler::sweep`]). As many as steps failed since start.
    skipped: Mutex<HashSet<u64>>,
    /// A staged write (an open ingest batch) makes some ticket due earlier than the index said:
    /// the scheduler is woken once more when the batch is in sled, since it reads the index
    /// from there.
    sooner_staged: AtomicBool,
}

impl DueState {
    pub(super) fn skip(&self, id: u64) {
        self.lock().insert(id);
    }

    /// `ids` were written: they are in the index again.
    pub(super) fn written(&self, ids: impl IntoIterator<Item = u64>) {
        let mut s = self.lock();
        if !s.is_empty() {
            for id in ids {
                s.remove(&id);
            }
        }
    }

    pub(super) fn is_skipped(&self, id: u64) -> bool {
        let s = self.lock();
        !s.is_empty() && s.contains(&id)
    }

    pub(super) fn stage_sooner(&self) {
        self.sooner_staged.store(true, Ordering::SeqCst);
    }

    /// True once after [`DueState::stage_sooner`].
    pub(super) fn take_staged_sooner(&self) -> bool {
        self.sooner_staged.swap(false, Ordering::SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.skipped.lock().unwrap_or_else(|e| e.into_inner())
    }
}
