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
