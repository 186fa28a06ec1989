//! Files under `tests/` that unit tests read: the mail corpus and the hand-written mails.
//!
//! Compiled for tests only. It is the one place the core's tests touch the disk, so the core's
//! code, tests included, stays under its no-I/O lint; it imports nothing from the crate, so
//! every layer's tests may use it.

use std::path::PathBuf;

/// The bytes of the file at `path`.
pub(crate) fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every file in the directory `dir` (not its subdirectories), with its bytes.
pub(crate) fn files(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            (path, raw)
        })
        .collect()
}
