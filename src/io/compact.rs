//! Compacting the store: sled never shrinks its files, so the measured way to get the space back
//! (2–4× less on a churned store) is to export into a fresh directory, import, check, and swap,
//! keeping the old copy.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::io::store::{Store, StoreError};

/// What a compaction did.
#[derive(Debug, Clone)]
pub(crate) struct Compaction {
    pub(crate) records: u64,
    /// Bytes on disk before.
    pub(crate) before: u64,
    /// Bytes on disk after.
    pub(crate) after: u64,
    /// Where the old store is kept (for the operator to remove when satisfied).
    pub(crate) old: PathBuf,
}

/// Compacts the store at `path`; the daemon must be stopped.
pub(crate) fn compact(path: &Path) -> Result<Compaction> {
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(StoreError::Locked(_)) => bail!("stop the daemon first: compaction rewrites the store"),
        Err(e) => return Err(e).context("cannot open store"),
    };
    let before = store.size_on_disk();
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let dump = path.with_extension(format!("export-{stamp}.jsonl"));
    let n = store.export(std::io::BufWriter::new(std::fs::File::create(&dump)?))?;
    let tickets = store.ticket_count();
    drop(store);
    let fresh = path.with_extension(format!("new-{stamp}"));
    let after = {
        let new = Store::open(&fresh)?;
        let m = new.import(std::io::BufReader::new(std::fs::File::open(&dump)?))?;
        if m != n || new.ticket_count() != tickets {
            bail!(
                "compaction check failed ({m} of {n} records); the store is untouched, the copy is in {}",
                fresh.display()
            );
        }
        new.size_on_disk()
    };
    let old = path.with_extension(format!("old-{stamp}"));
    std::fs::rename(path, &old)?;
    std::fs::rename(&fresh, path)?;
    std::fs::remove_file(&dump)?;
    Ok(Compaction {
        records: n,
        before,
        after,
        old,
    })
}
