//! Where the store's time and bytes go, for the benchmark: the cost of each commit step
//! (counted always: a few clock reads per commit) and the bytes each tree holds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Time spent in [`super::Store::commit_inbound`], by step, since the store was opened.
#[derive(Debug, Default)]
pub(crate) struct CommitClock {
    encode_ns: AtomicU64,
    transaction_ns: AtomicU64,
    reindex_ns: AtomicU64,
    settle_ns: AtomicU64,
}

/// A reading of [`CommitClock`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CommitTimes {
    /// Turning the records into bytes.
    pub(crate) encode: Duration,
    /// The sled transaction over the trees a mail writes, or (in an open batch) checking and
    /// staging its writes.
    pub(crate) transaction: Duration,
    /// Writing open batches' staged mails, one sled transaction per batch (part of the sync).
    pub(crate) settle: Duration,
    /// Waking the scheduler when a write makes a ticket due sooner (the due index itself is
    /// written with the tickets).
    pub(crate) reindex: Duration,
}

/// Which step of a commit a measured span belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    Encode,
    Transaction,
    Reindex,
    Settle,
}

impl CommitClock {
    pub(crate) fn add(&self, step: Step, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let slot = match step {
            Step::Encode => &self.encode_ns,
            Step::Transaction => &self.transaction_ns,
            Step::Reindex => &self.reindex_ns,
            Step::Settle => &self.settle_ns,
        };
        slot.fetch_add(ns, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> CommitTimes {
        let d = |a: &AtomicU64| Duration::from_nanos(a.load(Ordering::Relaxed));
        CommitTimes {
            encode: d(&self.encode_ns),
            transaction: d(&self.transaction_ns),
            reindex: d(&self.reindex_ns),
            settle: d(&self.settle_ns),
        }
    }
}

/// What one tree holds (live keys and values only: sled's log keeps more on disk).
#[derive(Debug, Clone, Default)]
pub(crate) struct TreeBytes {
    pub(crate) name: String,
    pub(crate) entries: u64,
    pub(crate) key_bytes: u64,
    pub(crate) value_bytes: u64,
}

/// sled alone opening the store at `path` with `cache_bytes` of cache and every tree, none of
/// our records read: what the benchmark compares the store's resident memory with.
pub(crate) fn open_sled_only(
    path: &std::path::Path,
    cache_bytes: u64,
) -> sled::Result<Box<dyn std::any::Any>> {
    let db = sled::Config::new()
        .path(path)
        .cache_capacity(cache_bytes)
        .open()?;
    let mut trees = Vec::new();
    for name in db.tree_names() {
        trees.push(db.open_tree(name)?);
    }
    Ok(Box::new((db, trees)))
}
