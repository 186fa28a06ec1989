//! Phase (d): the core ingest step without IMAP, over the same mails, into a fresh store.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;

use crate::cli::bench::generator::Mail;
use crate::config::Config;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::io::store::Store;
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
    let store = Store::open(path)?;
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
    };
    let t = Instant::now();
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
    core.total = t.elapsed();
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
