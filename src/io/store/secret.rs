//! The signing secret the daemon makes itself when the operator configured none.
//!
//! It lives in the store (`meta/outbound_secret`, 256 bits from the OS as 64 hex characters)
//! rather than in a file beside it: it is written and fsynced like every other record, the
//! store directory is already private (mode 0700; `StateDirectoryMode=0700` under systemd)
//! and holds the customer mail the secret protects, and `export`/`import`/`compact` carry it
//! with the tickets whose reply addresses and Message-IDs it signed, with no second file whose
//! mode or backup could drift from the store's. A configured secret always wins and then
//! nothing is generated.

use crate::config::Config;
use crate::config::sections::SecretSource;
use crate::io::store::{Result, Store, StoreError};

/// Key of the generated secret in the `meta` tree.
pub(super) const KEY: &str = "outbound_secret";
/// 256 bits, hex.
const HEX_LEN: usize = 64;

/// What [`Store::complete_secret`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provided {
    /// The configuration names its own secret (or sends no mail): the store was not asked.
    Configured,
    /// The store's secret, made on an earlier start.
    Kept,
    /// Made just now (the first start with this store), fsynced before it is used.
    Generated,
}

/// Whether `value` is a secret this module wrote; anything else in its place (a hand-edited
/// export, a torn record) is refused rather than used or silently replaced.
pub(super) fn is_valid(value: &[u8]) -> bool {
    value.len() == HEX_LEN && value.iter().all(|b| b.is_ascii_hexdigit())
}

impl Store {
    /// Fills in the signing secret of a configuration that names none
    /// ([`SecretSource::Store`]): the store's, generated and made durable on first use. Every
    /// place that opens the store with a configuration calls this before anything is signed or
    /// verified.
    pub(crate) fn complete_secret(&self, config: &mut Config) -> Result<Provided> {
        let Some(out) = config.outbound.as_mut() else {
            return Ok(Provided::Configured);
        };
        if out.secret_source != SecretSource::Store {
            return Ok(Provided::Configured);
        }
        let (secret, provided) = self.generated_secret()?;
        out.resolved_secret = secret;
        Ok(provided)
    }

    /// The store's secret, generating it if there is none yet.
    fn generated_secret(&self) -> Result<(Vec<u8>, Provided)> {
        if let Some(v) = self.meta.get(KEY)? {
            return checked(&v).map(|s| (s, Provided::Kept));
        }
        let mut bits = [0u8; HEX_LEN / 2];
        getrandom::fill(&mut bits).map_err(|e| {
            StoreError::Io(std::io::Error::other(format!(
                "no randomness for the outbound secret: {e}"
            )))
        })?;
        let fresh = hex::encode(bits).into_bytes();
        // Only one process can open the store, but stay correct if a second writer appears:
        // whoever stored a secret first wins, and everybody uses that one.
        let swapped =
            self.meta
                .compare_and_swap(KEY, None as Option<&[u8]>, Some(fresh.as_slice()))?;
        self.sync_blocking()?;
        match swapped {
            Ok(()) => Ok((fresh, Provided::Generated)),
            Err(e) => {
                checked(e.current.as_deref().unwrap_or_default()).map(|s| (s, Provided::Kept))
            }
        }
    }
}

fn checked(value: &[u8]) -> Result<Vec<u8>> {
    if is_valid(value) {
        Ok(value.to_vec())
    } else {
        Err(StoreError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the store's meta/{KEY} is not a secret this program wrote ({} bytes); \
                 restore the store from a backup, or configure outbound.secret_file",
                value.len()
            ),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sample;

    fn store_config(store: &std::path::Path) -> Config {
        let mut c = sample::scratch(store, "").unwrap();
        let out = c.outbound.as_mut().unwrap();
        out.secret = None;
        out.resolved_secret.clear();
        out.secret_source = SecretSource::Store;
        c
    }

    #[test]
    fn generated_once_kept_across_opens_and_never_shared_between_stores() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut c = store_config(&path);
        let first = {
            let store = Store::reopen(&path);
            assert_eq!(store.complete_secret(&mut c).unwrap(), Provided::Generated);
            c.outbound.as_ref().unwrap().resolved_secret.clone()
        };
        assert!(is_valid(&first), "{first:?}");
        let mut again = store_config(&path);
        let store = Store::reopen(&path);
        assert_eq!(store.complete_secret(&mut again).unwrap(), Provided::Kept);
        assert_eq!(again.outbound.unwrap().resolved_secret, first);
        // A second store gets its own 256 bits.
        let other = dir.path().join("other");
        let mut c2 = store_config(&other);
        Store::reopen(&other).complete_secret(&mut c2).unwrap();
        assert_ne!(c2.outbound.unwrap().resolved_secret, first);
        // The new store directory is private.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }

    #[test]
    fn a_configured_secret_wins_and_nothing_is_generated() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = sample::scratch(dir.path(), "").unwrap();
        let configured = c.outbound.as_ref().unwrap().resolved_secret.clone();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.complete_secret(&mut c).unwrap(), Provided::Configured);
        assert_eq!(c.outbound.unwrap().resolved_secret, configured);
        assert!(store.meta.get(KEY).unwrap().is_none());
    }

    #[test]
    fn a_damaged_secret_stops_the_start_instead_of_being_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for bad in [&b""[..], b"short", &[b'g'; 64], &[b'a'; 65], &[0u8; 64]] {
            store.meta.insert(KEY, bad).unwrap();
            let mut c = store_config(dir.path());
            let e = store.complete_secret(&mut c).unwrap_err().to_string();
            assert!(e.contains("outbound_secret"), "{e}");
            assert!(c.outbound.unwrap().resolved_secret.is_empty());
            assert_eq!(store.meta.get(KEY).unwrap().as_deref(), Some(bad));
        }
    }
}
