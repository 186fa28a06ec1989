//! Making sled's writes durable: sled's `flush` only issues `sync_file_range`, and large values
//! live in blob files sled never fsyncs, so this fsyncs the database file, every new blob file
//! and the directories holding them.

use std::path::Path;

pub(super) type SyncedBlobs = std::sync::Mutex<std::collections::HashSet<u64>>;

pub(super) fn fsync_files(path: &Path, blobs_synced: &SyncedBlobs) -> std::io::Result<()> {
    let mut synced = blobs_synced.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::File::open(path.join("db"))?.sync_all()?;
    let blobs = path.join("blobs");
    if let Ok(entries) = std::fs::read_dir(&blobs) {
        let mut present = std::collections::HashSet::new();
        let mut new = false;
        for e in entries.flatten() {
            let Some(lsn) = e.file_name().to_str().and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            present.insert(lsn);
            if !synced.contains(&lsn) {
                // A blob may be removed by sled's GC between listing and opening it.
                if let Ok(f) = std::fs::File::open(e.path()) {
                    f.sync_all()?;
                }
                synced.insert(lsn);
                new = true;
            }
        }
        // Forget blobs sled has since removed, so the set stays as small as the directory.
        synced.retain(|l| present.contains(l));
        if new {
            std::fs::File::open(&blobs)?.sync_all()?;
        }
    }
    std::fs::File::open(path)?.sync_all()?;
    Ok(())
}

/// Deletes snapshot files that sled never finished writing.
///
/// sled 0.34.7 writes a snapshot to `snap.<lsn>.generating`, fsyncs it and renames it to
/// `snap.<lsn>`; the rename is the commit. But when it opens a store it picks the highest-sorting
/// `snap.*` file *including* an unrenamed `.generating` one, so a SIGKILL while a snapshot is
/// being written leaves a store that refuses to open with "Read corrupted data" (sled issue
/// #1527, seen in `tests/crash.rs`). An unrenamed file is by construction not a committed
/// snapshot, and the log it summarises is still on disk, so removing it is what sled's own
/// recovery would have needed.
pub(super) fn remove_torn_snapshots(path: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            tracing::warn!(file = %entry.path().display(), "removing a snapshot sled did not finish writing");
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
