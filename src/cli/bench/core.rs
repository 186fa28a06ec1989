//! Phase (d): the core ingest step without IMAP, over the same mails, into a fresh store.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;

use crate::cli::bench::generator::Mail;
use crate::config::Config;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::io::store::{CommitTimes, Store, TreeBytes};
use crate::mail::parse;
use crate::service::intake::{self, Outcome};

/// Mails per fsync in the core run, as ingest batches them.
const BATCH: usize = 64;

pub(super) struct Core {
    pub(super) parse: Duration,
    pub(super) parse_errors: usize,
    pub(super) total: Duration,
    pub(super) sync: Duration,
    pub(super) syncs: usize,
    pub(super) created: usize,
    pub(super) joined: usize,
    pub(super) duplicates: usize,
    pub(super) quarantined: usize,
    pub(super) dir_bytes: u64,
    /// Where the store's commits spent their time.
    pub(super) commit: CommitTimes,
    /// Live bytes per tree, and the messages' stored texts (full, reply).
    pub(super) trees: Vec<TreeBytes>,
    pub(super) texts: (u64, u64),
}

pub(super) fn core_run(cfg: &Config, mails: &[Mail], path: &Path) -> Result<Core> {
    let t = Instant::now();
    let parse_errors = mails
        .iter()
        .filter(|m| parse::parse(&m.raw).is_err())
        .count();
    let parse = t.elapsed();

    let directory = match &cfg.support.customer_directory {
        Some(p) => Directory::load(p)?,
        None => Directory::default(),
    };
    let templates = match &cfg.outbound {
        Some(out) => Some(Templates::load(out.templates_dir.as_deref())?),
        None => None,
    };
    let store = Store::open_with_cache(path, cfg.store.cache_bytes())?;
    // Signing for this scratch store once, as the daemon does (not per mail).
    let mut bound = cfg.clone();
    bound.bind(&store.identity().instance());
    let cfg = &bound;
    let mut core = Core {
        parse,
        parse_errors,
        total: Duration::ZERO,
        sync: Duration::ZERO,
        syncs: 0,
        created: 0,
        joined: 0,
        duplicates: 0,
        quarantined: 0,
        dir_bytes: 0,
        commit: CommitTimes::default(),
        trees: Vec::new(),
        texts: (0, 0),
    };
    let t = Instant::now();
    // As ingest does: each batch's mails are written in one transaction by its sync.
    let batch = store.open_batch();
    for (i, m) in mails.iter().enumerate() {
        let outcome = intake::ingest_raw_with(
            cfg,
            &store,
            &directory,
            templates.as_ref(),
            &m.raw,
            None,
            Utc::now(),
        )?;
        match outcome {
            Outcome::Stored { created: true, .. } => core.created += 1,
            Outcome::Stored { created: false, .. } => core.joined += 1,
            Outcome::Duplicate { .. } => core.duplicates += 1,
            Outcome::Quarantined { .. } => core.quarantined += 1,
        }
        if (i + 1).is_multiple_of(BATCH) || i + 1 == mails.len() {
            let s = Instant::now();
            store.sync_blocking()?;
            core.sync += s.elapsed();
            core.syncs += 1;
        }
    }
    drop(batch);
    core.total = t.elapsed();
    core.commit = store.commit_times();
    core.trees = store.tree_bytes()?;
    core.texts = store.message_text_bytes()?;
    drop(store);
    core.dir_bytes = dir_size(path);
    Ok(core)
}

/// Bytes of all files under `path`.
pub(super) fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// A store of `n` generated mails at `path`, written through the core step in chunks (the mails
/// are never all in memory): the rate, the raw bytes written and the store's size on disk.
pub(super) fn fill(cfg: &Config, n: usize, seed: u64, path: &Path) -> Result<(Duration, u64, u64)> {
    let store = Store::open_with_cache(path, cfg.store.cache_bytes())?;
    let (took, raw_bytes) = fill_store(cfg, &store, n, seed)?;
    drop(store);
    Ok((took, raw_bytes, dir_size(path)))
}

/// `n` generated mails through the core step into `store`, fsynced per batch: the time taken
/// and the raw bytes written.
fn fill_store(cfg: &Config, store: &Store, n: usize, seed: u64) -> Result<(Duration, u64)> {
    let mut generator = crate::cli::bench::generator::Generator::new(seed, &cfg.support.address, n);
    let mut done = 0;
    let chunks = std::iter::from_fn(|| {
        (done < n).then(|| {
            let chunk = generator.take((n - done).min(BATCH * 64));
            done += chunk.len();
            chunk.into_iter().map(|m| m.raw).collect()
        })
    });
    ingest_chunks(cfg, store, chunks)
}

/// The mails of `chunks` through the core step into `store`, in batches of [`BATCH`] each
/// fsynced, as ingest writes them: the time taken and the raw bytes written.
pub(super) fn ingest_chunks(
    cfg: &Config,
    store: &Store,
    chunks: impl Iterator<Item = Vec<Vec<u8>>>,
) -> Result<(Duration, u64)> {
    let directory = Directory::default();
    let templates = match &cfg.outbound {
        Some(out) => Some(Templates::load(out.templates_dir.as_deref())?),
        None => None,
    };
    let mut bound = cfg.clone();
    bound.bind(&store.identity().instance());
    let mut raw_bytes = 0u64;
    let t = Instant::now();
    for chunk in chunks {
        for part in chunk.chunks(BATCH) {
            let _batch = store.open_batch();
            for raw in part {
                raw_bytes += raw.len() as u64;
                intake::ingest_raw_with(
                    &bound,
                    store,
                    &directory,
                    templates.as_ref(),
                    raw,
                    None,
                    Utc::now(),
                )?;
            }
            store.sync_blocking()?;
        }
    }
    Ok((t.elapsed(), raw_bytes))
}

/// Only phase (d), without IMAP, for profiling (`examples/core.rs`, e.g. under `perf record`):
/// `n` generated mails through the core step into a fresh store under `dir`; one line of
/// figures.
pub fn core_only(cfg: &Config, n: usize, seed: u64, dir: &Path) -> Result<String> {
    let mails = crate::cli::bench::generator::Generator::new(seed, &cfg.support.address, n).take(n);
    let core = core_run(cfg, &mails, &dir.join("core"))?;
    let c = &core.commit;
    let rate = |d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    Ok(format!(
        "core {n} mails in {:.2} s = {:.0} mails/s (created {}, joined {}, dup {}, quarantined {}); \
         parse-only {:.0} mails/s; encode {:.2} s, checks and staging {:.2} s, batch \
         transactions {:.2} s, reindex {:.2} s, sync (with the batch transactions) {:.2} s in {}",
        core.total.as_secs_f64(),
        rate(core.total),
        core.created,
        core.joined,
        core.duplicates,
        core.quarantined,
        rate(core.parse),
        c.encode.as_secs_f64(),
        c.transaction.as_secs_f64(),
        c.settle.as_secs_f64(),
        c.reindex.as_secs_f64(),
        core.sync.as_secs_f64(),
        core.syncs
    ))
}
