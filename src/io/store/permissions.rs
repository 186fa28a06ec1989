//! The store holds every customer's mail: its directory is 0700 and its files 0600, whatever the
//! umask of whoever started the process. The daemon's umask is 077 ([`private_umask`]), so what
//! sled creates later is private from the start; [`make_private`] fixes what exists, such as a
//! store created by an older version or under another umask.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Sets this process's umask to 077: everything it creates (the store's files, the control
/// socket, an export's spool file) is readable by its owner only. The unit sets `UMask=0077`
/// too; this covers a start outside systemd.
pub(crate) fn private_umask() {
    // SAFETY: umask(2) only swaps the process's file-mode mask and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}

/// Makes the store directory 0700 and every file in it (and in its subdirectories, such as
/// sled's `blobs/`) 0600, sockets included.
pub(super) fn make_private(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            make_private(&path)?;
        } else if !kind.is_symlink() {
            let mode = entry.metadata()?.permissions().mode() & 0o7777;
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o700))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_below_the_store_becomes_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir_all(store.join("blobs")).unwrap();
        std::fs::write(store.join("db"), b"x").unwrap();
        std::fs::write(store.join("blobs/7"), b"x").unwrap();
        for p in ["", "blobs"] {
            std::fs::set_permissions(store.join(p), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        for p in ["db", "blobs/7"] {
            std::fs::set_permissions(store.join(p), std::fs::Permissions::from_mode(0o644))
                .unwrap();
        }
        make_private(&store).unwrap();
        let mode = |p: &str| {
            std::fs::metadata(store.join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(""), 0o700);
        assert_eq!(mode("blobs"), 0o700);
        assert_eq!(mode("db"), 0o600);
        assert_eq!(mode("blobs/7"), 0o600);
    }
}
