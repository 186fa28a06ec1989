//! The store's identity: a random instance id given when the store is created, so everything
//! it signs (Message-IDs, reply addresses; see [`crate::mail::msgid`]) is bound to it and mail
//! signed by an earlier store never threads into this one's tickets, whose numbers may repeat.
//!
//! Kept in `meta`: `instance_id` (32 hex digits), `created_at` (RFC 3339), and for a store
//! upgraded from schema 1, `upgraded_at` and `legacy_until` (its highest ticket then: ids in the
//! old format stay valid for those tickets).

use std::io::Read;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::mail::msgid::Instance;

/// Who this store is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Identity {
    /// The instance id (hex).
    pub(crate) instance_id: String,
    /// When the store was created (unknown for one created before instance ids).
    pub(crate) created_at: Option<DateTime<Utc>>,
    /// When a store from before instance ids got its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) upgraded_at: Option<DateTime<Utc>>,
    /// Old-format ids are accepted for tickets up to this number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) legacy_until: Option<u64>,
}

impl Identity {
    /// What signatures are bound to.
    pub(crate) fn instance(&self) -> Instance {
        Instance {
            id: self.instance_id.clone(),
            legacy_until: self.legacy_until,
        }
    }
}

/// 128 random bits in hex, from the kernel.
pub(super) fn random_id() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(hex::encode(b))
}

/// Reads the identity from `meta` (`None` before it has one).
pub(super) fn read(meta: &sled::Tree) -> sled::Result<Option<Identity>> {
    let text = |k: &str| -> sled::Result<Option<String>> {
        Ok(meta
            .get(k)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    };
    let Some(instance_id) = text("instance_id")? else {
        return Ok(None);
    };
    let time = |v: Option<String>| {
        v.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc))
    };
    Ok(Some(Identity {
        instance_id,
        created_at: time(text("created_at")?),
        upgraded_at: time(text("upgraded_at")?),
        legacy_until: text("legacy_until")?.and_then(|v| v.parse().ok()),
    }))
}

/// Writes a new identity into `meta`.
pub(super) fn write(meta: &sled::Tree, id: &Identity) -> sled::Result<()> {
    meta.insert("instance_id", id.instance_id.as_bytes())?;
    if let Some(t) = id.created_at {
        meta.insert("created_at", t.to_rfc3339().as_bytes())?;
    }
    if let Some(t) = id.upgraded_at {
        meta.insert("upgraded_at", t.to_rfc3339().as_bytes())?;
    }
    if let Some(n) = id.legacy_until {
        meta.insert("legacy_until", n.to_string().as_bytes())?;
    }
    Ok(())
}

/// The warning for a store that was just created: an operator who expected their store here
/// must stop now, before customers' replies to the old store's mail open new tickets.
pub(super) fn warn_created(path: &Path, id: &Identity) {
    tracing::warn!(
        path = %path.display(),
        instance = %id.instance_id,
        "created a NEW, EMPTY store; if a store should be here (moved, not mounted, restored \
         elsewhere), stop the daemon now: replies to mail of the earlier store will not thread \
         into this one's tickets"
    );
}
