//! Ingest batches: the mails of one batch are written to sled in one transaction instead of one
//! each.
//!
//! A sled transaction seals the log buffer when it commits (so recovery sees all of it or
//! none), which costs a log write and a background-thread wake-up per transaction; with one
//! transaction per mail that was most of the core's time. While a batch is open
//! ([`super::Store::open_batch`]), [`super::Store::commit_inbound`] checks and stages one mail's
//! writes ([`Staged`]) against the sled trees *plus* the batch's earlier writes, and only when
//! every check passed adds them to the [`Pending`] overlay: a failing mail leaves nothing, the
//! others stay. The store's point reads that intake uses ([`super::Store::ticket`], the
//! Message-ID and subject indexes, the ticket counter, learned customers, rate history) read the
//! overlay first, so a reply to a ticket opened earlier in the same batch, the same Message-ID
//! twice in a batch and the ticket counter all behave as if each mail had been committed.
//!
//! The overlay is written ("settled") in one sled transaction by [`super::Store::sync`], before
//! any other writer takes the writer lock, and before the reads that do not look into it (scans):
//! a crash before the batch's fsync loses the whole overlay and nothing else — its mails are
//! still in the inbox (ingest moves them only after the fsync) and are ingested again, once.

use std::cell::RefCell;
use std::collections::BTreeMap;

use sled::IVec;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

/// The trees an inbound mail or a ticket change writes, in [`super::Store::written_trees`]
/// order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum T {
    Meta,
    Tickets,
    Messages,
    Msgid,
    Raw,
    Subjects,
    Outbox,
    OutboxPending,
    OutboxTicket,
    Ratelog,
    Learned,
    Index,
}

/// The written trees as sled's `Transactional` (implemented for tuples) hands them out.
pub(super) type TxTrees = (
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
    TransactionalTree,
);

/// Number of [`T`]s.
pub(super) const TREES: usize = 12;

/// Reads and writes of the written trees, inside a sled transaction ([`TxKv`]) or staged into an
/// open batch ([`Staged`]): the one description of what a mail writes serves both. `A` is why
/// a write is refused (the store's error; generic so this file needs nothing of its parent).
pub(super) trait Kv<A> {
    type Err;
    fn get(&self, t: T, key: &[u8]) -> std::result::Result<Option<IVec>, Self::Err>;
    fn put(&self, t: T, key: &[u8], value: &[u8]) -> std::result::Result<(), Self::Err>;
    fn remove(&self, t: T, key: &[u8]) -> std::result::Result<(), Self::Err>;
    fn abort(e: A) -> Self::Err;
}

/// The written trees inside one sled transaction.
pub(super) struct TxKv<'t>(pub(super) [&'t TransactionalTree; TREES]);

impl<A> Kv<A> for TxKv<'_> {
    type Err = ConflictableTransactionError<A>;
    fn get(&self, t: T, key: &[u8]) -> std::result::Result<Option<IVec>, Self::Err> {
        Ok(self.0[t as usize].get(key)?)
    }
    fn put(&self, t: T, key: &[u8], value: &[u8]) -> std::result::Result<(), Self::Err> {
        self.0[t as usize].insert(key, value)?;
        Ok(())
    }
    fn remove(&self, t: T, key: &[u8]) -> std::result::Result<(), Self::Err> {
        self.0[t as usize].remove(key)?;
        Ok(())
    }
    fn abort(e: A) -> Self::Err {
        ConflictableTransactionError::Abort(e)
    }
}

/// Writes by tree and key, in that order; `None` removes.
pub(super) type Writes = BTreeMap<(T, Vec<u8>), Option<IVec>>;

/// The writes of an open batch not yet in sled.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// `None`: removed.
    writes: Writes,
    /// Mails in `writes` (for the log and tests).
    pub(super) mails: usize,
}

impl Pending {
    /// What the batch wrote under `key`: `Some(None)` if it removed it, `None` if nothing.
    pub(super) fn get(&self, t: T, key: &[u8]) -> Option<Option<IVec>> {
        // A tuple key cannot be looked up by borrowed parts; the key is short.
        self.writes.get(&(t, key.to_vec())).cloned()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Takes every write out, in tree and key order.
    pub(super) fn take(&mut self) -> Writes {
        self.mails = 0;
        std::mem::take(&mut self.writes)
    }
}

/// One mail's writes on top of sled and the batch's earlier writes, added to the batch only by
/// [`Pending::merge`] (after every check passed).
pub(super) struct Staged<'a> {
    pub(super) trees: [&'a sled::Tree; TREES],
    pub(super) pending: &'a Pending,
    local: RefCell<Writes>,
}

impl<'a> Staged<'a> {
    pub(super) fn new(trees: [&'a sled::Tree; TREES], pending: &'a Pending) -> Staged<'a> {
        Staged {
            trees,
            pending,
            local: RefCell::default(),
        }
    }

    /// The staged writes, to add to the batch.
    pub(super) fn into_writes(self) -> Writes {
        self.local.into_inner()
    }
}

impl Pending {
    /// Adds one mail's staged writes.
    pub(super) fn merge(&mut self, writes: Writes) {
        self.writes.extend(writes);
        self.mails += 1;
    }
}

impl<A: From<sled::Error>> Kv<A> for Staged<'_> {
    type Err = A;
    fn get(&self, t: T, key: &[u8]) -> std::result::Result<Option<IVec>, A> {
        if let Some(v) = self.local.borrow().get(&(t, key.to_vec())) {
            return Ok(v.clone());
        }
        if let Some(v) = self.pending.get(t, key) {
            return Ok(v);
        }
        Ok(self.trees[t as usize].get(key)?)
    }
    fn put(&self, t: T, key: &[u8], value: &[u8]) -> std::result::Result<(), A> {
        self.local
            .borrow_mut()
            .insert((t, key.to_vec()), Some(IVec::from(value)));
        Ok(())
    }
    fn remove(&self, t: T, key: &[u8]) -> std::result::Result<(), A> {
        self.local.borrow_mut().insert((t, key.to_vec()), None);
        Ok(())
    }
    fn abort(e: A) -> A {
        e
    }
}
