//! The sled store: every read and write of durable state goes through here.
//!
//! Layout (values are JSON unless noted; `tickets`, `messages` and `raw` hold theirs compressed,
//! see [`value_codec`]; integers in keys are big-endian so sled's byte order is numeric order):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `meta` | `schema_version`, `next_ticket`, `next_quarantine`, `next_outbox`, `outbound_secret` (generated when none is configured, see [`secret`]); the identity (`instance_id`, `created_at`, `upgraded_at`, `legacy_until`, see [`identity`]) | text / u64 |
//! | `tickets` | ticket u64 | [`Ticket`] |
//! | `messages` | ticket u64 ++ seq u32 | [`Message`] |
//! | `msgid` | Message-ID | ticket u64 ++ seq u32 |
//! | `raw` | SHA-256 hex | the raw mail bytes |
//! | `subjects` | customer `\0` normalised subject, and requester address `\0` normalised subject | ticket u64 |
//! | `learned` | address | the customer ID it was learned for (text) |
//! | `uidstate` | mailbox name | [`UidState`] |
//! | `quarantine` | id u64 | [`QuarantineRecord`] |
//! | `quarantine_idx` | SHA-256 hex or `msgid:` Message-ID | id u64 |
//! | `outbox` | id u64 | [`OutboxItem`] |
//! | `outbox_pending` | id u64 | empty (the items the sender still has to try) |
//! | `outbox_ticket` | ticket u64 ++ id u64 | empty (a ticket's items, without reading the outbox) |
//! | `ratelog` | recipient address | times of automatic mails sent to it |
//! | `index` | see [`ticket_index`] | tickets by status and queue, by creation time, by next due time; counts (derived, not exported) |
//!
//! sled's `flush` only issues `sync_file_range`, and large values live in separate blob files
//! that sled never fsyncs, so [`Store::sync`] adds real `fsync`s: a mail is only acknowledged on
//! the IMAP server after `sync` returns.

/// Key of an export's last line, `{"supportd_export_end":{"records":N}}`: a reader that does
/// not see it got a cut-off export (the daemon dropped a stalled reader, a disk filled up).
pub(crate) const EXPORT_END_KEY: &str = "supportd_export_end";

mod due;
mod durability;
mod export;
mod identity;
mod message_codec;
mod pending;
mod permissions;
mod records;
pub(crate) mod secret;
mod stats;
mod ticket_index;
mod value_codec;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::desk::accept::Accepted;
use crate::domain::message::Message;
use crate::domain::outbox::OutboxItem;
use crate::domain::outbox::State;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::io::store::due::{DueState, next_due};
use crate::io::store::durability::fsync_files;
pub(crate) use crate::io::store::identity::Identity;
use crate::io::store::pending::{Kv, Pending, Staged, T, TREES, TxKv, TxTrees};
pub(crate) use crate::io::store::permissions::private_umask;
pub(crate) use crate::io::store::records::{QuarantineRecord, Released, UidState};
use crate::io::store::stats::{CommitClock, Step};
pub(crate) use crate::io::store::stats::{CommitTimes, TreeBytes, open_sled_only};
use crate::io::store::value_codec::Kind;

/// Version of the on-disk layout; bumped with a migration whenever it changes.
/// 2: the store has an identity (instance id) that its signatures are bound to; `learned`.
/// 3: a message's texts are kept as ranges into its raw mail and full text where they occur
/// there ([`message_codec`]).
/// 4: raw mail, tickets and messages are zstd-compressed ([`value_codec`]).
/// 5: the persistent ticket indexes ([`ticket_index`]); built by [`Store::migrate_to_5`].
pub(crate) const SCHEMA_VERSION: u64 = 5;

/// Why a store operation failed; `Locked` and `Duplicate` are expected outcomes callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled reported an error.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// Another process (usually the running daemon) holds the database lock.
    #[error("the store at {0} is in use by another process (is the daemon running?)")]
    Locked(PathBuf),
    /// A record could not be (de)serialised.
    #[error("store: corrupt record: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// A stored value does not decompress (damaged, truncated or forged).
    #[error("store: record {tree}/{key} does not decode: {why}")]
    Undecodable {
        /// The tree.
        tree: &'static str,
        /// Its key, hex.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// The store was written by a newer version.
    #[error("store schema version {found} is newer than this binary supports ({SCHEMA_VERSION})")]
    TooNew {
        /// Version on disk.
        found: u64,
    },
    /// The Message-ID is already stored (a re-delivery).
    #[error("message {0} is already stored")]
    Duplicate(String),
    /// The ticket counter moved under us (another writer): retry.
    #[error("ticket number {0} was taken concurrently")]
    Conflict(u64),
    /// File-system error while making writes durable.
    #[error("store: {0}")]
    Io(#[from] std::io::Error),
}

/// The result of a store operation.
pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// A failure of the disk or of sled itself (ENOSPC, EIO, a corrupt log), after which sled
    /// refuses every write until the store is opened anew; not a property of one record.
    pub(crate) fn is_fault(&self) -> bool {
        matches!(
            self,
            StoreError::Io(_)
                | StoreError::Sled(
                    sled::Error::Io(_)
                        | sled::Error::Corruption { .. }
                        | sled::Error::ReportableBug(_)
                )
        )
    }
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
    meta: sled::Tree,
    tickets: sled::Tree,
    messages: sled::Tree,
    msgid: sled::Tree,
    raw: sled::Tree,
    subjects: sled::Tree,
    uidstate: sled::Tree,
    quarantine: sled::Tree,
    quarantine_idx: sled::Tree,
    outbox: sled::Tree,
    outbox_pending: sled::Tree,
    outbox_ticket: sled::Tree,
    ratelog: sled::Tree,
    learned: sled::Tree,
    /// The persistent ticket indexes and counts ([`ticket_index`]).
    index: sled::Tree,
    /// Who this store is (re-read after an import).
    identity: Arc<std::sync::RwLock<Identity>>,
    /// Serialises read-modify-write of tickets between ingest and the control socket.
    writer: Arc<std::sync::Mutex<()>>,
    /// What the due index ([`due`], the `d` keys of `index`) keeps in memory.
    due: Arc<DueState>,
    /// Woken when a write makes some ticket due earlier than the index's earliest time before,
    /// so the scheduler sleeping until then wakes up for it.
    due_sooner: Arc<tokio::sync::Notify>,
    /// Blob files already fsynced, so `sync` only touches new ones. A set, not a high-water
    /// mark: blobs of concurrent commits can appear out of LSN order, and a mark would skip them.
    /// The mutex also serialises concurrent syncs (ingest and the outbox sender).
    blobs_synced: Arc<std::sync::Mutex<std::collections::HashSet<u64>>>,
    /// The first write that failed for a [`StoreError::is_fault`] reason. sled stays in that
    /// error state, so the daemon reports it and restarts once the cause is gone
    /// ([`crate::service::daemon`]).
    fault: Arc<std::sync::Mutex<Option<String>>>,
    /// Where commits spend their time (read by the benchmark).
    clock: Arc<CommitClock>,
    /// The writes of open ingest batches not yet in sled ([`pending`]).
    pending: Arc<std::sync::Mutex<Pending>>,
    /// Open batches ([`Store::open_batch`]); while any is open, inbound mail is staged.
    batches: Arc<std::sync::atomic::AtomicUsize>,
}

fn ticket_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn message_key(ticket: u64, seq: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&ticket.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn outbox_ticket_key(ticket: u64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&ticket.to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Set in `meta` once `outbox_ticket` indexes every outbox item.
const OUTBOX_TICKET_INDEX: &str = "outbox_ticket_index";

fn subject_key(customer: &str, normalized: &str) -> Vec<u8> {
    let mut k = customer.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(normalized.as_bytes());
    k
}

/// The plain bytes of a value of `tree` ([`value_codec`]), or an error naming its key.
fn plain<'v>(
    tree: &'static str,
    kind: Kind,
    key: &[u8],
    v: &'v [u8],
) -> Result<std::borrow::Cow<'v, [u8]>> {
    value_codec::decode(kind, v).map_err(|e| StoreError::Undecodable {
        tree,
        key: hex::encode(key),
        why: e.to_string(),
    })
}

/// A ticket as stored under `key`.
fn ticket_of(key: &[u8], v: &[u8]) -> Result<Ticket> {
    Ok(serde_json::from_slice(&plain(
        "tickets",
        Kind::Ticket,
        key,
        v,
    )?)?)
}

/// The stored bytes of a ticket.
fn ticket_value(t: &Ticket) -> serde_json::Result<Vec<u8>> {
    Ok(value_codec::encode(Kind::Ticket, &serde_json::to_vec(t)?))
}

fn u64_of(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(b)
}

impl Store {
    /// Opens (creating if needed) the store at `path` with the default cache
    /// ([`crate::config::sections::DEFAULT_CACHE_MIB`]).
    pub fn open(path: &Path) -> Result<Store> {
        Store::open_with_cache(
            path,
            crate::config::sections::DEFAULT_CACHE_MIB * 1024 * 1024,
        )
    }

    /// [`Store::open`] for tests that reopen a store they just dropped: sled's background
    /// threads can hold the directory's lock for a moment after the `Db` is gone (seen as
    /// `Locked` under load), as the daemon's own start waits out a CLI-held store.
    #[cfg(test)]
    pub(crate) fn reopen(path: &Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match Store::open(path) {
                Err(StoreError::Locked(_)) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                r => return r.unwrap(),
            }
        }
    }

    /// Opens (creating if needed) the store at `path` with `cache_bytes` of sled page cache
    /// (`[store] cache_mib`).
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store> {
        std::fs::create_dir_all(path)?;
        if let Err(e) = permissions::make_private(path) {
            // Not ours to change (another user's store opened by root, say): sled decides.
            tracing::warn!(path = %path.display(), error = %e, "cannot make the store private (0700/0600)");
        }
        durability::remove_torn_snapshots(path)?;
        let db = sled::Config::new()
            .path(path)
            .flush_every_ms(Some(500))
            // sled's default cache is 1 GiB, so RSS grew with the store (315 MiB after 20k
            // mails); the hot set of a helpdesk is small.
            .cache_capacity(cache_bytes)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock => {
                    StoreError::Locked(path.to_owned())
                }
                sled::Error::Io(ref io)
                    if io.to_string().contains("could not acquire lock")
                        || io.raw_os_error() == Some(libc::EWOULDBLOCK) =>
                {
                    StoreError::Locked(path.to_owned())
                }
                e => StoreError::Sled(e),
            })?;
        let store = Store {
            meta: db.open_tree("meta")?,
            tickets: db.open_tree("tickets")?,
            messages: db.open_tree("messages")?,
            msgid: db.open_tree("msgid")?,
            raw: db.open_tree("raw")?,
            subjects: db.open_tree("subjects")?,
            uidstate: db.open_tree("uidstate")?,
            quarantine: db.open_tree("quarantine")?,
            quarantine_idx: db.open_tree("quarantine_idx")?,
            outbox: db.open_tree("outbox")?,
            outbox_pending: db.open_tree("outbox_pending")?,
            outbox_ticket: db.open_tree("outbox_ticket")?,
            ratelog: db.open_tree("ratelog")?,
            learned: db.open_tree("learned")?,
            index: db.open_tree(ticket_index::TREE)?,
            identity: Arc::default(),
            writer: Arc::default(),
            due: Arc::default(),
            due_sooner: Arc::default(),
            path: path.to_owned(),
            db,
            blobs_synced: Arc::default(),
            fault: Arc::default(),
            clock: Arc::default(),
            pending: Arc::default(),
            batches: Arc::default(),
        };
        store.migrate()?;
        if store.meta.get(OUTBOX_TICKET_INDEX)?.is_none() {
            // A store from before the index: built once.
            store.rebuild_outbox_ticket()?;
        }
        Ok(store)
    }

    /// Creates the metadata of a new store, or brings an older one up to [`SCHEMA_VERSION`],
    /// and loads the identity.
    pub(super) fn migrate(&self) -> Result<()> {
        let now = Utc::now();
        match self.meta.get("schema_version")? {
            None => {
                self.meta
                    .insert("schema_version", SCHEMA_VERSION.to_string().as_bytes())?;
                self.meta.insert("next_ticket", &1u64.to_be_bytes())?;
                self.meta.insert("next_quarantine", &1u64.to_be_bytes())?;
                self.meta.insert("next_outbox", &1u64.to_be_bytes())?;
                let id = Identity {
                    instance_id: identity::random_id()?,
                    created_at: Some(now),
                    ..Identity::default()
                };
                identity::write(&self.meta, &id)?;
                self.meta.insert(OUTBOX_TICKET_INDEX, b"1".as_slice())?;
                // A new store's index is empty, as its trees are.
                self.index.clear()?;
                self.db.flush()?;
                identity::warn_created(&self.path, &id);
            }
            Some(v) => {
                let found: u64 = String::from_utf8_lossy(&v).parse().unwrap_or(u64::MAX);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew { found });
                }
                if found < 2 {
                    // Schema 1 had no identity: give it one, and keep accepting the ids it
                    // signed for the tickets it has.
                    for k in ["instance_id", "created_at", "upgraded_at", "legacy_until"] {
                        self.meta.remove(k)?;
                    }
                    let id = Identity {
                        instance_id: identity::random_id()?,
                        created_at: None,
                        upgraded_at: Some(now),
                        legacy_until: Some(self.next_ticket_id()?.saturating_sub(1)),
                    };
                    identity::write(&self.meta, &id)?;
                    self.meta.insert("schema_version", b"2".as_slice())?;
                    self.db.flush()?;
                    tracing::info!(
                        path = %self.path.display(),
                        instance = %id.instance_id,
                        legacy_until = id.legacy_until,
                        "store upgraded to schema 2: it has an instance id now"
                    );
                }
                if found < 4 {
                    // The raw mail first: the schema-3 step reads it.
                    self.compress_tree("raw", Kind::Raw)?;
                }
                if found < 3 {
                    self.slim_messages()?;
                }
                if found < 4 {
                    self.compress_tree("tickets", Kind::Ticket)?;
                    self.compress_tree("messages", Kind::Message)?;
                    self.meta.insert("schema_version", b"4".as_slice())?;
                    self.sync_blocking()?;
                    tracing::info!(
                        path = %self.path.display(),
                        "store upgraded to schema 4: raw mail, tickets and messages are \
                         compressed (`supportd compact` returns the space the old values held)"
                    );
                }
                if found < 5 {
                    self.migrate_to_5()?;
                }
            }
        }
        let id = match identity::read(&self.meta)? {
            Some(id) => id,
            None => {
                // Schema 2 without an identity (an import that lacked one): a store of its own.
                let id = Identity {
                    instance_id: identity::random_id()?,
                    created_at: Some(now),
                    ..Identity::default()
                };
                identity::write(&self.meta, &id)?;
                self.db.flush()?;
                identity::warn_created(&self.path, &id);
                id
            }
        };
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = id;
        Ok(())
    }

    /// Schema 2 → 3: rewrites every message whose texts can be kept as ranges
    /// ([`message_codec`]). Idempotent (a message already rewritten reads and writes the same),
    /// so a crash halfway only means it runs again; made durable every 1,000 messages.
    fn slim_messages(&self) -> Result<()> {
        let t = std::time::Instant::now();
        let (seen, rewritten) = self.rewrite_tree(&self.messages, |k, v| {
            // A record that does not read is left as it was (its ticket shows the error, as
            // before): one damaged message must not keep the daemon from starting.
            let m = match self.decode_message(k, v) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(key = %hex::encode(k), error = %e, "schema 3 upgrade: a message record does not read; left as it is");
                    return Ok(None);
                }
            };
            let Some(raw) = self.raw_mail(&m.raw_sha256)? else {
                return Ok(None);
            };
            let slim = value_codec::encode(Kind::Message, &message_codec::encode(&m, &raw)?);
            Ok((slim.len() < v.len()).then_some(slim))
        })?;
        if seen > 0 {
            tracing::info!(
                path = %self.path.display(),
                messages = seen,
                rewritten,
                took_ms = t.elapsed().as_millis() as u64,
                "store upgraded to schema 3: texts already in the raw mail are not stored twice \
                 (`supportd compact` returns the space the old records held)"
            );
        }
        Ok(())
    }

    /// A migration's pass over `tree`: `new` says what a value becomes (`None`: kept), applied
    /// and made durable every 1,000 values, so a step that is idempotent survives a crash
    /// halfway by running again. Returns the values seen and rewritten.
    fn rewrite_tree(
        &self,
        tree: &sled::Tree,
        mut new: impl FnMut(&[u8], &[u8]) -> Result<Option<Vec<u8>>>,
    ) -> Result<(u64, u64)> {
        let (mut seen, mut rewritten) = (0u64, 0u64);
        let mut from: Vec<u8> = Vec::new();
        loop {
            let batch: Vec<(sled::IVec, sled::IVec)> = tree
                .range(from.clone()..)
                .take(1000)
                .collect::<std::result::Result<_, _>>()?;
            let Some((last, _)) = batch.last() else { break };
            from = last.to_vec();
            from.push(0);
            let mut writes = sled::Batch::default();
            for (k, v) in &batch {
                seen += 1;
                if let Some(n) = new(k, v)? {
                    writes.insert(k.clone(), n);
                    rewritten += 1;
                }
            }
            tree.apply_batch(writes)?;
            self.sync_blocking()?;
        }
        Ok((seen, rewritten))
    }

    /// The raw mail stored under its SHA-256 (hex).
    pub(crate) fn raw_mail(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        Ok(match self.read(T::Raw, sha256.as_bytes())? {
            Some(v) => Some(plain("raw", Kind::Raw, sha256.as_bytes(), &v)?.into_owned()),
            None => None,
        })
    }

    /// Schema 3 → 4: compresses every value of `tree` that is still plain ([`value_codec`]).
    /// Idempotent, so a crash halfway only means it runs again; made durable every 1,000
    /// values. A raw mail is plain when its key is its SHA-256 (a compressed one never hashes
    /// to its key), or when it does not decode; a record when it is JSON. A record that is not
    /// JSON is left as it is (its ticket shows the error, as before).
    fn compress_tree(&self, name: &'static str, kind: Kind) -> Result<()> {
        use sha2::Digest;
        let tree = match name {
            "raw" => &self.raw,
            "tickets" => &self.tickets,
            _ => &self.messages,
        };
        let t = std::time::Instant::now();
        let (seen, rewritten) = self.rewrite_tree(tree, |k, v| {
            let is_plain = match kind {
                Kind::Raw => {
                    hex::encode(sha2::Sha256::digest(v)).as_bytes() == k
                        || value_codec::decode(kind, v).is_err()
                }
                _ => {
                    !value_codec::is_encoded(v)
                        && serde_json::from_slice::<serde::de::IgnoredAny>(v).is_ok()
                }
            };
            Ok(is_plain.then(|| value_codec::encode(kind, v)))
        })?;
        if seen > 0 {
            tracing::info!(
                tree = name,
                values = seen,
                rewritten,
                took_ms = t.elapsed().as_millis() as u64,
                "schema 4 upgrade: values compressed"
            );
        }
        Ok(())
    }

    /// Schema 3 or 4 → 5: builds the persistent ticket indexes from every ticket, once. A crash
    /// halfway leaves the version below 5, so the next open builds it again from scratch.
    fn migrate_to_5(&self) -> Result<()> {
        let t = std::time::Instant::now();
        let (tickets, messages) = self.rebuild_index()?;
        self.meta.insert("schema_version", b"5".as_slice())?;
        self.sync_blocking()?;
        tracing::info!(
            path = %self.path.display(),
            tickets,
            messages,
            took_ms = t.elapsed().as_millis() as u64,
            "store upgraded to schema 5: tickets are indexed by status, queue and time, so \
             start-up, listings and reports no longer read every ticket"
        );
        Ok(())
    }

    /// Builds `index` anew from the tickets (the migration, an import); returns the tickets
    /// and messages counted.
    fn rebuild_index(&self) -> Result<(u64, u64)> {
        Ok(ticket_index::rebuild(
            &self.index,
            &self.tickets,
            &self.messages,
            &|k, v| ticket_of(k, v).map_err(|e| e.to_string()),
        )?)
    }

    /// The first way `index` differs from a full read of the tickets, if any: for tests (after
    /// a mixed sequence of writes, after a crash) and diagnosis; costs a full read.
    #[doc(hidden)]
    pub fn index_difference(&self) -> Result<Option<String>> {
        Ok(ticket_index::difference(
            &self.index,
            &self.tickets,
            &self.messages,
            &|k, v| ticket_of(k, v).map_err(|e| e.to_string()),
        )?)
    }

    /// Who this store is.
    pub(crate) fn identity(&self) -> Identity {
        self.identity
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The customer ID `address` was learned for, if any.
    pub(crate) fn learned_customer(&self, address: &str) -> Result<Option<String>> {
        Ok(self
            .read(T::Learned, address.to_lowercase().as_bytes())?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// The message stored at a position (`None` for position 0, our own outgoing mail).
    pub(crate) fn message_at(&self, ticket: u64, seq: u32) -> Result<Option<Message>> {
        let key = message_key(ticket, seq);
        Ok(match self.read(T::Messages, &key)? {
            Some(v) => Some(self.decode_message(&key, &v)?),
            None => None,
        })
    }

    /// A stored message, its texts taken from its raw mail where they were stored as ranges.
    fn decode_message(&self, key: &[u8], v: &[u8]) -> Result<Message> {
        let v = plain("messages", Kind::Message, key, v)?;
        let raw = if message_codec::needs_raw(&v) {
            #[derive(serde::Deserialize)]
            struct Hash {
                raw_sha256: String,
            }
            let h: Hash = serde_json::from_slice(&v)?;
            self.raw_mail(&h.raw_sha256)?
        } else {
            None
        };
        message_codec::decode(&v, raw.as_deref()).map_err(|e| match e {
            message_codec::DecodeError::Json(e) => StoreError::Corrupt(e),
            e => StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                e.to_string(),
            )),
        })
    }

    /// Rebuilds `outbox_ticket` from the outbox (a store from before the index, an import).
    fn rebuild_outbox_ticket(&self) -> Result<()> {
        self.outbox_ticket.clear()?;
        for kv in self.outbox.iter() {
            let (k, v) = kv?;
            let item: OutboxItem = serde_json::from_slice(&v)?;
            self.outbox_ticket
                .insert(outbox_ticket_key(item.ticket, u64_of(&k)), &[])?;
        }
        self.meta.insert(OUTBOX_TICKET_INDEX, b"1".as_slice())?;
        Ok(())
    }

    /// Tickets per status and priority, indexed like [`Status::ALL`] × P1..P4 (from the counts
    /// kept in `index`: costs the same for ten tickets or a million).
    pub fn census(&self) -> [[u64; 4]; 5] {
        let mut all = [[0; 4]; 5];
        for (_, c) in self.census_by_queue() {
            for (s, row) in c.iter().enumerate() {
                for (p, n) in row.iter().enumerate() {
                    all[s][p] += n;
                }
            }
        }
        all
    }

    /// [`Store::census`] per queue, by the queue name as stored on the tickets (empty: the first
    /// queue; a name no longer configured is the first queue's too, which the caller decides).
    pub(crate) fn census_by_queue(&self) -> Vec<(String, [[u64; 4]; 5])> {
        match ticket_index::census(&self.index) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the ticket counts");
                Vec::new()
            }
        }
    }

    /// Numbers of the tickets that are new, open or pending, from `index`: a walk over active
    /// tickets then reads one ticket at a time instead of holding them all.
    pub fn active_ticket_ids(&self) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for s in Status::ALL.into_iter().filter(|s| s.is_active()) {
            ids.extend(ticket_index::ids_with_status(&self.index, s, None)?);
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// After `tickets` were written (in sled, or `staged` in an open batch), with `before` what
    /// [`Store::next_due_at`] said before the write: a ticket the sweep gave up on is due again,
    /// and the scheduler is woken if one is due sooner than it knew.
    fn reindex(&self, tickets: &[&Ticket], before: Option<DateTime<Utc>>, staged: bool) {
        self.due.written(tickets.iter().map(|t| t.id));
        let Some(soonest) = tickets.iter().filter_map(|t| next_due(t)).min() else {
            return;
        };
        if before.is_none_or(|e| soonest < e) {
            if staged {
                self.due.stage_sooner();
            }
            self.due_sooner.notify_one();
        }
    }

    /// The due index earliest first, without the tickets the sweep gave up on.
    fn due_entries(&self) -> impl Iterator<Item = sled::Result<(u64, DateTime<Utc>)>> + '_ {
        ticket_index::due(&self.index)
            .filter(|due| !matches!(due, Ok((id, _)) if self.due.is_skipped(*id)))
    }

    /// The earliest next SLA due time over all active tickets (one lookup in the index, and
    /// one more per ticket the sweep gave up on that is due before it).
    pub fn next_due_at(&self) -> Option<DateTime<Utc>> {
        match self.due_entries().next()? {
            Ok((_, at)) => Some(at),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the SLA due index");
                None
            }
        }
    }

    /// Completes when a write has made some ticket fall due earlier than [`Store::next_due_at`]
    /// said before it (a permit is stored if nobody waits, so no wake-up is lost).
    pub(crate) async fn due_sooner(&self) {
        self.due_sooner.notified().await
    }

    /// Ids of tickets with an SLA step due by `now`, earliest first: what the index holds up to
    /// `now`, never more.
    pub(crate) fn due_tickets(&self, now: DateTime<Utc>) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for due in self.due_entries() {
            let (id, at) = due?;
            if at > now {
                break;
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Takes ticket `id` out of the due index until its next write (the SLA sweep gave up on
    /// it).
    pub(crate) fn forget_due(&self, id: u64) {
        self.due.skip(id);
    }

    /// Overwrites ticket `id` with bytes that are no ticket (tests of what a corrupt record does).
    #[cfg(test)]
    pub(crate) fn corrupt_ticket(&self, id: u64) {
        self.tickets
            .insert(ticket_key(id), b"{not json".as_slice())
            .unwrap();
    }

    /// Number of tickets with a pending SLA step: a walk over the whole due index, for tests and
    /// benchmarks (nothing the daemon does regularly counts them).
    pub fn due_len(&self) -> Result<usize> {
        let mut n = 0;
        for due in self.due_entries() {
            due?;
            n += 1;
        }
        Ok(n)
    }

    /// Directory of the database.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Makes every write so far durable: sled flush, then fsync of the log file, any new blob
    /// files and their directory. Only after this may a mail be acknowledged to the server.
    pub(crate) async fn sync(&self) -> Result<()> {
        // sled in its error state may never finish a flush: fail at once.
        self.faulted()?;
        let r = async {
            let store = self.clone();
            tokio::task::spawn_blocking(move || store.settle())
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            self.db.flush_async().await?;
            let path = self.path.clone();
            let synced = self.blobs_synced.clone();
            tokio::task::spawn_blocking(move || fsync_files(&path, &synced))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            Ok(())
        }
        .await;
        self.watch(r)
    }

    /// Blocking variant of [`Store::sync`] for non-async callers.
    pub fn sync_blocking(&self) -> Result<()> {
        self.faulted()?;
        let r = self
            .settle()
            .and_then(|_| Ok(self.db.flush()?))
            .and_then(|_| Ok(fsync_files(&self.path, &self.blobs_synced)?));
        self.watch(r)
    }

    /// Records `r`'s error as the store's fault if it is one (see [`StoreError::is_fault`]).
    fn watch<T>(&self, r: Result<T>) -> Result<T> {
        if let Err(e) = &r
            && e.is_fault()
        {
            let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
            if fault.is_none() {
                tracing::error!(error = %e, "a store write failed; the store is unusable until it is reopened");
                *fault = Some(e.to_string());
            }
        }
        r
    }

    /// The recorded fault as an error.
    fn faulted(&self) -> Result<()> {
        match self.fault() {
            Some(cause) => Err(StoreError::Io(std::io::Error::other(format!(
                "the store failed earlier: {cause}"
            )))),
            None => Ok(()),
        }
    }

    /// Why writes to the store fail, once one has (see [`Store::watch`]).
    pub(crate) fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The ticket and position a Message-ID is stored under.
    pub(crate) fn message_location(&self, message_id: &str) -> Result<Option<(u64, u32)>> {
        Ok(self.read(T::Msgid, message_id.as_bytes())?.map(|v| {
            let t = u64_of(&v[..8.min(v.len())]);
            let s = if v.len() >= 12 {
                u32::from_be_bytes([v[8], v[9], v[10], v[11]])
            } else {
                0
            };
            (t, s)
        }))
    }

    /// One ticket.
    pub fn ticket(&self, id: u64) -> Result<Option<Ticket>> {
        let key = ticket_key(id);
        Ok(match self.read(T::Tickets, &key)? {
            Some(v) => Some(ticket_of(&key, &v)?),
            None => None,
        })
    }

    /// All tickets in number order, optionally only those with `status` (then read through
    /// `index`: the cost of the answer, not of the store).
    pub(crate) fn tickets(&self, status: Option<Status>) -> Result<Vec<Ticket>> {
        match status {
            Some(s) => self.tickets_with(&[s], None),
            None => {
                let mut out = Vec::new();
                for kv in self.tickets.iter() {
                    let (k, v) = kv?;
                    out.push(ticket_of(&k, &v)?);
                }
                Ok(out)
            }
        }
    }

    /// The tickets with one of `statuses`, in one of the stored queue names `queues` (any:
    /// `None`), in number order, read through `index`.
    pub(crate) fn tickets_with(
        &self,
        statuses: &[Status],
        queues: Option<&[String]>,
    ) -> Result<Vec<Ticket>> {
        let mut ids = Vec::new();
        for &s in statuses {
            match queues {
                None => ids.extend(ticket_index::ids_with_status(&self.index, s, None)?),
                Some(qs) => {
                    for q in qs {
                        ids.extend(ticket_index::ids_with_status(&self.index, s, Some(q))?);
                    }
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        self.tickets_by_id(&ids)
    }

    /// The tickets created at or after `since`, in number order, read through `index`.
    pub(crate) fn tickets_created_since(&self, since: DateTime<Utc>) -> Result<Vec<Ticket>> {
        let ids = ticket_index::ids_created_since(&self.index, since)?;
        let mut out = self.tickets_by_id(&ids)?;
        out.retain(|t| t.created_at >= since);
        Ok(out)
    }

    fn tickets_by_id(&self, ids: &[u64]) -> Result<Vec<Ticket>> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if let Some(t) = self.ticket(id)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The queue names stored on tickets (empty: the first queue), from the counts.
    pub(crate) fn stored_queue_names(&self) -> Result<Vec<String>> {
        Ok(ticket_index::census(&self.index)?
            .into_iter()
            .map(|(q, _)| q)
            .collect())
    }

    /// Number of tickets (from the counts in `index`).
    pub fn ticket_count(&self) -> usize {
        self.census().iter().flatten().sum::<u64>() as usize
    }

    /// A ticket's messages in arrival order.
    pub(crate) fn messages(&self, ticket: u64) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        for kv in self.messages.scan_prefix(ticket_key(ticket)) {
            let (k, v) = kv?;
            out.push(self.decode_message(&k, &v)?);
        }
        Ok(out)
    }

    /// Total number of stored messages (counted in `index`).
    pub(crate) fn message_count(&self) -> usize {
        ticket_index::message_count(&self.index).unwrap_or(0) as usize
    }

    /// Number of the latest ticket for this customer (or requester address) and normalised
    /// subject.
    pub(crate) fn ticket_id_by_subject(
        &self,
        customer: &str,
        normalized: &str,
    ) -> Result<Option<u64>> {
        if normalized.is_empty() {
            return Ok(None);
        }
        Ok(self
            .read(T::Subjects, &subject_key(customer, normalized))?
            .map(|v| u64_of(&v)))
    }

    /// The number the next new ticket will get.
    pub(crate) fn next_ticket_id(&self) -> Result<u64> {
        Ok(self
            .read(T::Meta, b"next_ticket")?
            .map(|v| u64_of(&v))
            .unwrap_or(1))
    }

    /// Takes the writer lock: every read-modify-write of a ticket (ingest, agent commands, status
    /// changes from the CLI) holds it, so two writers never overwrite each other's change.
    /// An open batch's writes are settled first, so the holder reads and overwrites what is
    /// in sled.
    pub(crate) fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        let guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = self.settle() {
            // The store is faulted now (see `watch`); the holder's own write fails with it.
            tracing::error!(error = %e, "cannot write an ingest batch");
        }
        guard
    }

    /// [`Store::write_lock`] for intake, which reads through an open batch
    /// ([`Store::commit_inbound`] stages into it) and so leaves it open.
    pub(crate) fn intake_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores one accepted mail atomically: message, raw bytes, Message-ID index, ticket, subject
    /// index, (for a new ticket) the ticket counter, and the outgoing mails it caused. Not
    /// durable until [`Store::sync`]. While a batch is open ([`Store::open_batch`]) the mail is
    /// checked and staged into it instead of written in a transaction of its own ([`pending`]):
    /// a mail that fails (a duplicate, a taken ticket number) leaves nothing in the batch.
    pub(crate) fn commit_inbound(&self, accepted: &Accepted, raw: &[u8]) -> Result<()> {
        let started = std::time::Instant::now();
        let enc = Encoded {
            ticket: ticket_value(&accepted.ticket)?,
            message: value_codec::encode(
                Kind::Message,
                &message_codec::encode(&accepted.message, raw)?,
            ),
            raw: value_codec::encode(Kind::Raw, raw),
            extra: accepted
                .extra_tickets
                .iter()
                .map(|t| Ok((t, ticket_value(t)?)))
                .collect::<std::result::Result<_, serde_json::Error>>()?,
        };
        self.clock.add(Step::Encode, started);
        let started = std::time::Instant::now();
        let staged = self.batches.load(std::sync::atomic::Ordering::SeqCst) > 0;
        let before = self.next_due_at();
        let res = if staged {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let staged = Staged::new(self.written_trees(), &pending);
            match put_inbound(&staged, accepted, &enc) {
                Ok(()) => {
                    let writes = staged.into_writes();
                    pending.merge(writes);
                    Ok(())
                }
                Err(e) => Err(e),
            }
        } else {
            self.transact(|kv| put_inbound(kv, accepted, &enc))
        };
        self.clock.add(Step::Transaction, started);
        res?;
        let started = std::time::Instant::now();
        let mut all = vec![&accepted.ticket];
        all.extend(accepted.extra_tickets.iter());
        self.reindex(&all, before, staged);
        self.clock.add(Step::Reindex, started);
        Ok(())
    }

    /// Saves a changed ticket together with the mails the change causes, atomically.
    pub fn commit_ticket(&self, ticket: &Ticket, outgoing: &[OutboxItem]) -> Result<()> {
        let json = ticket_value(ticket)?;
        // Over what is in sled, not under an open batch's writes.
        self.settle()?;
        let before = self.next_due_at();
        self.transact(|kv| {
            put_ticket(kv, ticket, &json)?;
            enqueue(kv, outgoing)
        })?;
        self.reindex(&[ticket], before, false);
        Ok(())
    }

    /// The trees [`Store::commit_inbound`] and [`Store::commit_ticket`] write, in [`T`] order.
    fn written_trees(&self) -> [&sled::Tree; TREES] {
        [
            &self.meta,
            &self.tickets,
            &self.messages,
            &self.msgid,
            &self.raw,
            &self.subjects,
            &self.outbox,
            &self.outbox_pending,
            &self.outbox_ticket,
            &self.ratelog,
            &self.learned,
            &self.index,
        ]
    }

    /// One sled transaction over the written trees.
    fn transact<R>(
        &self,
        f: impl Fn(&TxKv<'_>) -> std::result::Result<R, ConflictableTransactionError<StoreError>>,
    ) -> Result<R> {
        let [a, b, c, d, e, g, h, i, j, k, l, m] = self.written_trees();
        let res = (a, b, c, d, e, g, h, i, j, k, l, m).transaction(
            |(a, b, c, d, e, g, h, i, j, k, l, m): &TxTrees| {
                f(&TxKv([a, b, c, d, e, g, h, i, j, k, l, m]))
            },
        );
        match res {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => self.watch(Err(e.into())),
        }
    }

    /// A point read of a written tree that sees an open batch's writes.
    fn read(&self, t: T, key: &[u8]) -> Result<Option<sled::IVec>> {
        // Held over the sled read: `settle` moves the writes from the overlay into sled under
        // it, so a reader sees them in one place or the other.
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if !pending.is_empty()
            && let Some(v) = pending.get(t, key)
        {
            return Ok(v);
        }
        Ok(self.written_trees()[t as usize].get(key)?)
    }

    /// Opens an ingest batch: until the returned guard is dropped, inbound mail is staged
    /// ([`pending`]) and written in one transaction by [`Store::sync`] (or anything else that
    /// settles). Dropping the guard settles what is left.
    pub(crate) fn open_batch(&self) -> Batch {
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Batch {
            store: self.clone(),
        }
    }

    /// Writes the open batches' staged mails to sled in one transaction (not yet durable).
    pub(crate) fn settle(&self) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_empty() {
            return Ok(());
        }
        // Taken out first: after a failed write (a faulted store) nothing is written twice.
        let writes = pending.take();
        let started = std::time::Instant::now();
        let r = self.transact(|kv| {
            for ((t, k), v) in &writes {
                match v {
                    Some(v) => kv.put(*t, k, v)?,
                    None => kv.remove(*t, k)?,
                }
            }
            Ok(())
        });
        self.clock.add(Step::Settle, started);
        if r.is_ok() && self.due.take_staged_sooner() {
            self.due_sooner.notify_one();
        }
        r
    }

    /// Drops the staged mails, as a crash before the batch's sync does.
    #[cfg(test)]
    pub(crate) fn pending_lost_for_test(&self) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// Mails staged in open batches and not yet in sled.
    #[cfg(test)]
    pub(crate) fn staged_mails(&self) -> usize {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).mails
    }

    /// The fingerprint of the SLA settings the open tickets' clocks were last computed with
    /// (see [`crate::service::scheduler::reapply`]).
    pub fn applied_sla_policy(&self) -> Result<Option<String>> {
        Ok(self
            .meta
            .get("sla_policy")?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records `fingerprint` as the one the open tickets' clocks follow now.
    pub(crate) fn set_applied_sla_policy(&self, fingerprint: &str) -> Result<()> {
        self.meta.insert("sla_policy", fingerprint.as_bytes())?;
        Ok(())
    }

    /// [`Store::rate_history`] of each of `recipients`, keyed by lower-cased address as
    /// [`crate::desk::outbound::mailer::Mailer`] expects.
    pub(crate) fn rate_histories<'a>(
        &self,
        recipients: impl IntoIterator<Item = &'a str>,
    ) -> Result<std::collections::HashMap<String, Vec<DateTime<Utc>>>> {
        recipients
            .into_iter()
            .map(|r| Ok((r.to_lowercase(), self.rate_history(r)?)))
            .collect()
    }

    /// Times of automatic mails already sent to `recipient`.
    pub(crate) fn rate_history(&self, recipient: &str) -> Result<Vec<DateTime<Utc>>> {
        Ok(
            match self.read(T::Ratelog, recipient.to_lowercase().as_bytes())? {
                Some(v) => serde_json::from_slice(&v)?,
                None => Vec::new(),
            },
        )
    }

    /// All outbox items, oldest first.
    pub fn outbox_list(&self) -> Result<Vec<OutboxItem>> {
        let mut out = Vec::new();
        for kv in self.outbox.iter() {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// The outbox items of one ticket, read through `outbox_ticket`: the rest of the outbox
    /// (other tickets' mail with its forwarded attachments) is never loaded.
    pub(crate) fn outbox_for_ticket(&self, ticket: u64) -> Result<Vec<OutboxItem>> {
        let mut out = Vec::new();
        for kv in self.outbox_ticket.scan_prefix(ticket_key(ticket)) {
            let (k, _) = kv?;
            if let Some(item) = self.outbox_item(u64_of(&k[8..]))? {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Calls `f` with each outbox item, oldest first, one at a time (the outbox with its
    /// forwarded attachments never sits in memory whole).
    pub(crate) fn outbox_each(&self, mut f: impl FnMut(OutboxItem)) -> Result<()> {
        for kv in self.outbox.iter() {
            let (_, v) = kv?;
            f(serde_json::from_slice(&v)?);
        }
        Ok(())
    }

    /// The newest outbox items of one ticket, newest first: at most `limit` of them, from the
    /// newest `scan` items of the whole outbox (what an agent's answer quotes is recent; a
    /// years-old outbox is not read whole for every agent's mail).
    pub(crate) fn recent_outbox_for_ticket(
        &self,
        ticket: u64,
        limit: usize,
        scan: usize,
    ) -> Result<Vec<OutboxItem>> {
        #[derive(serde::Deserialize)]
        struct TicketOnly {
            ticket: u64,
        }
        // A scan: it sees an open batch's items only once they are in sled.
        self.settle()?;
        let mut out = Vec::new();
        for kv in self.outbox.iter().rev().take(scan) {
            let (_, v) = kv?;
            if serde_json::from_slice::<TicketOnly>(&v)?.ticket == ticket {
                out.push(serde_json::from_slice(&v)?);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Up to `limit` pending items whose next attempt is due by `now`, in id order, after item
    /// `after` (from the first: `None`), and where the next page starts (`None`: this was the
    /// last). Costs one lookup per pending item scanned, not per item ever sent, and holds one
    /// page: after an outage the outbox holds an acknowledgement and notifications per mail of
    /// the backlog (40,000 composed mails after 20,000 new tickets, which the sender held all at
    /// once before: 175 MiB).
    pub(crate) fn outbox_due(
        &self,
        now: DateTime<Utc>,
        after: Option<u64>,
        limit: usize,
    ) -> Result<(Vec<OutboxItem>, Option<u64>)> {
        use std::ops::Bound;
        let from = match after {
            Some(id) => Bound::Excluded(ticket_key(id)),
            None => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for kv in self
            .outbox_pending
            .range::<[u8; 8], _>((from, Bound::Unbounded))
        {
            let (k, _) = kv?;
            if let Some(v) = self.outbox.get(&k)? {
                let item: OutboxItem = serde_json::from_slice(&v)?;
                if item.state == State::Pending && item.next_attempt_at <= now {
                    out.push(item);
                    if out.len() == limit {
                        return Ok((out, Some(u64_of(&k))));
                    }
                }
            }
        }
        Ok((out, None))
    }

    /// Earliest next attempt among pending items.
    pub(crate) fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut next: Option<DateTime<Utc>> = None;
        for kv in self.outbox_pending.iter() {
            let (k, _) = kv?;
            if let Some(v) = self.outbox.get(&k)? {
                let item: OutboxItem = serde_json::from_slice(&v)?;
                next = Some(next.map_or(item.next_attempt_at, |n| n.min(item.next_attempt_at)));
            }
        }
        Ok(next)
    }

    /// Number of pending items and since when the most overdue one has been meant to go out.
    pub(crate) fn outbox_depth(&self) -> Result<(usize, Option<DateTime<Utc>>)> {
        let mut oldest: Option<DateTime<Utc>> = None;
        let mut n = 0;
        for kv in self.outbox_pending.iter() {
            let (k, _) = kv?;
            if let Some(v) = self.outbox.get(&k)? {
                let item: OutboxItem = serde_json::from_slice(&v)?;
                n += 1;
                // A mail held on purpose is not late before its hold ends.
                let since = item.due_since();
                if since <= Utc::now() {
                    oldest = Some(oldest.map_or(since, |o| o.min(since)));
                }
            }
        }
        Ok((n, oldest))
    }

    /// Writes back an item after a delivery attempt (pending index kept in step).
    pub(crate) fn outbox_update(&self, item: &OutboxItem) -> Result<()> {
        let json = serde_json::to_vec(item)?;
        let key = ticket_key(item.id);
        let res = (&self.outbox, &self.outbox_pending).transaction(|(outbox, pending)| {
            outbox.insert(&key, json.as_slice())?;
            if item.state == State::Pending {
                pending.insert(&key, &[])?;
            } else {
                pending.remove(&key)?;
            }
            Ok::<(), ConflictableTransactionError<StoreError>>(())
        });
        match res {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => self.watch(Err(e.into())),
        }
    }

    /// One outbox item.
    pub(crate) fn outbox_item(&self, id: u64) -> Result<Option<OutboxItem>> {
        Ok(match self.outbox.get(ticket_key(id))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// Stores a quarantine record with the bytes kept (whole mail or header). Returns the record
    /// with its id; a mail quarantined before keeps its first record and id.
    pub(crate) fn add_quarantine(
        &self,
        mut rec: QuarantineRecord,
        kept: &[u8],
    ) -> Result<QuarantineRecord> {
        // The same bytes are the same record; a Message-ID alone is not (a different mail may
        // reuse one), so it is indexed for lookups but does not make two mails one.
        let same: Vec<Vec<u8>> = rec
            .raw_sha256
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        let kept = value_codec::encode(Kind::Raw, kept);
        let idx_keys: Vec<Vec<u8>> = same
            .iter()
            .cloned()
            .chain(
                rec.message_id
                    .iter()
                    .map(|m| format!("msgid:{m}").into_bytes()),
            )
            .collect();
        let res = (
            &self.meta,
            &self.quarantine,
            &self.quarantine_idx,
            &self.raw,
        )
            .transaction(|(meta, q, qidx, rawt)| {
                for k in &same {
                    if let Some(v) = qidx.get(k)? {
                        return Ok(u64_of(&v));
                    }
                }
                let id = meta
                    .get("next_quarantine")?
                    .map(|v| u64_of(&v))
                    .unwrap_or(1);
                meta.insert("next_quarantine", &(id + 1).to_be_bytes())?;
                let mut r = rec.clone();
                r.id = id;
                let json = serde_json::to_vec(&r)
                    .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e)))?;
                q.insert(&ticket_key(id), json)?;
                for k in &idx_keys {
                    qidx.insert(k.as_slice(), &ticket_key(id))?;
                }
                if let Some(s) = &r.raw_sha256
                    && rawt.get(s.as_bytes())?.is_none()
                {
                    rawt.insert(s.as_bytes(), kept.as_slice())?;
                }
                Ok(id)
            });
        match res {
            Ok(id) => {
                rec.id = id;
                Ok(rec)
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => self.watch(Err(e.into())),
        }
    }

    /// The latest quarantine record of a Message-ID.
    pub(crate) fn quarantined_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<QuarantineRecord>> {
        match self
            .quarantine_idx
            .get(format!("msgid:{message_id}").as_bytes())?
        {
            Some(v) => self.quarantine_record(u64_of(&v)),
            None => Ok(None),
        }
    }

    /// One quarantine record.
    pub(crate) fn quarantine_record(&self, id: u64) -> Result<Option<QuarantineRecord>> {
        Ok(match self.quarantine.get(ticket_key(id))? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// The bytes kept for a quarantine record.
    pub(crate) fn quarantined_bytes(&self, rec: &QuarantineRecord) -> Result<Option<Vec<u8>>> {
        Ok(match &rec.raw_sha256 {
            Some(s) => self.raw_mail(s)?,
            None => None,
        })
    }

    /// Writes back a quarantine record (released).
    pub(crate) fn update_quarantine(&self, rec: &QuarantineRecord) -> Result<()> {
        self.quarantine
            .insert(ticket_key(rec.id), serde_json::to_vec(rec)?)?;
        Ok(())
    }

    /// Number of quarantine records, in the time of one lookup: `/metrics` and `status` ask on
    /// every scrape, and a mailbox's quarantine only grows (spam over the years). The ids are
    /// given out from 1 in the transaction that writes the record, an export carries them, and
    /// no record is ever removed, so the highest id is the count (checked against a full count
    /// in the tests); sled's `len` would read every record.
    pub(crate) fn quarantine_count(&self) -> usize {
        match self.quarantine.last() {
            Ok(Some((k, _))) => usize::try_from(u64_of(&k)).unwrap_or(usize::MAX),
            Ok(None) => 0,
            // Only a gauge: an unreadable tree shows up in every other read.
            Err(_) => self.quarantine.len(),
        }
    }

    /// All quarantine records, oldest first.
    pub(crate) fn quarantine_list(&self) -> Result<Vec<QuarantineRecord>> {
        let mut out = Vec::new();
        for kv in self.quarantine.iter() {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v)?);
        }
        Ok(out)
    }

    /// The sync position of a mailbox.
    pub(crate) fn uid_state(&self, mailbox: &str) -> Result<Option<UidState>> {
        Ok(match self.uidstate.get(mailbox.as_bytes())? {
            Some(v) => Some(serde_json::from_slice(&v)?),
            None => None,
        })
    }

    /// Records the sync position of a mailbox (made durable by the next [`Store::sync`]).
    pub(crate) fn set_uid_state(&self, mailbox: &str, state: UidState) -> Result<()> {
        let r = self
            .uidstate
            .insert(mailbox.as_bytes(), serde_json::to_vec(&state)?);
        self.watch(r.map(|_| ()).map_err(StoreError::from))
    }

    /// Bytes used on disk.
    pub(crate) fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }

    /// Where [`Store::commit_inbound`] spent its time since the store was opened.
    pub(crate) fn commit_times(&self) -> CommitTimes {
        self.clock.read()
    }

    /// What each tree holds, by walking it (the benchmark's breakdown; costs a full read).
    pub(crate) fn tree_bytes(&self) -> Result<Vec<TreeBytes>> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let mut t = TreeBytes {
                name: String::from_utf8_lossy(&name).into_owned(),
                ..TreeBytes::default()
            };
            for kv in tree.iter() {
                let (k, v) = kv?;
                t.entries += 1;
                t.key_bytes += k.len() as u64;
                t.value_bytes += v.len() as u64;
            }
            out.push(t);
        }
        Ok(out)
    }

    /// Bytes of the messages' full and reply texts as stored in `messages` (not those kept as
    /// ranges into the raw mail or the full text).
    pub(crate) fn message_text_bytes(&self) -> Result<(u64, u64)> {
        #[derive(serde::Deserialize)]
        struct Texts {
            text: String,
            reply_text: String,
        }
        let (mut text, mut reply) = (0, 0);
        for kv in self.messages.iter() {
            let (k, v) = kv?;
            let m: Texts = serde_json::from_slice(&plain("messages", Kind::Message, &k, &v)?)?;
            text += m.text.len() as u64;
            reply += m.reply_text.len() as u64;
        }
        Ok((text, reply))
    }
}

/// An accepted mail's records as bytes, encoded once before any transaction (which may retry).
struct Encoded<'a> {
    ticket: Vec<u8>,
    message: Vec<u8>,
    raw: Vec<u8>,
    extra: Vec<(&'a Ticket, Vec<u8>)>,
}

/// What one accepted mail writes, checked first: its Message-ID must be new and, for a new
/// ticket, its number the next one.
fn put_inbound<K: Kv<StoreError>>(
    kv: &K,
    accepted: &Accepted,
    enc: &Encoded<'_>,
) -> std::result::Result<(), K::Err> {
    let t = &accepted.ticket;
    let m = &accepted.message;
    if kv.get(T::Msgid, m.message_id.as_bytes())?.is_some() {
        return Err(K::abort(StoreError::Duplicate(m.message_id.clone())));
    }
    if accepted.created {
        let next = kv
            .get(T::Meta, b"next_ticket")?
            .map(|v| u64_of(&v))
            .unwrap_or(1);
        if next != t.id || kv.get(T::Tickets, &ticket_key(t.id))?.is_some() {
            return Err(K::abort(StoreError::Conflict(t.id)));
        }
        kv.put(T::Meta, b"next_ticket", &(t.id + 1).to_be_bytes())?;
    }
    put_ticket(kv, t, &enc.ticket)?;
    for (extra, json) in &enc.extra {
        put_ticket(kv, extra, json)?;
    }
    let mkey = message_key(t.id, m.seq);
    kv.put(T::Messages, &mkey, &enc.message)?;
    ticket_index::commit_tx(kv, [], 1)?;
    kv.put(T::Msgid, m.message_id.as_bytes(), &mkey)?;
    if kv.get(T::Raw, m.raw_sha256.as_bytes())?.is_none() {
        kv.put(T::Raw, m.raw_sha256.as_bytes(), &enc.raw)?;
    }
    if !t.normalized_subject.is_empty() {
        for k in [
            subject_key(&t.customer, &t.normalized_subject),
            subject_key(&t.requester.address, &t.normalized_subject),
        ] {
            kv.put(T::Subjects, &k, &ticket_key(t.id))?;
        }
    }
    for (address, customer) in &accepted.learned {
        kv.put(
            T::Learned,
            address.to_lowercase().as_bytes(),
            customer.as_bytes(),
        )?;
    }
    enqueue(kv, &accepted.outgoing)
}

/// The one place a ticket record is written (`json` is `ticket` encoded), with its index entries.
fn put_ticket<K: Kv<StoreError>>(
    kv: &K,
    ticket: &Ticket,
    json: &[u8],
) -> std::result::Result<(), K::Err> {
    kv.put(T::Tickets, &ticket_key(ticket.id), json)?;
    ticket_index::commit_tx(kv, [ticket], 0)
}

/// Queues `items`: numbered from the outbox counter, indexed by ticket and Message-ID, pending
/// ones counted against their recipients' rate caps.
fn enqueue<K: Kv<StoreError>>(kv: &K, items: &[OutboxItem]) -> std::result::Result<(), K::Err> {
    let corrupt = |e: serde_json::Error| K::abort(StoreError::Corrupt(e));
    for item in items {
        let id = kv
            .get(T::Meta, b"next_outbox")?
            .map(|v| u64_of(&v))
            .unwrap_or(1);
        kv.put(T::Meta, b"next_outbox", &(id + 1).to_be_bytes())?;
        let mut item = item.clone();
        item.id = id;
        let key = ticket_key(id);
        kv.put(
            T::Outbox,
            &key,
            &serde_json::to_vec(&item).map_err(corrupt)?,
        )?;
        kv.put(T::OutboxTicket, &outbox_ticket_key(item.ticket, id), &[])?;
        kv.put(
            T::Msgid,
            item.message_id.as_bytes(),
            &message_key(item.ticket, 0),
        )?;
        if item.state == State::Pending {
            kv.put(T::OutboxPending, &key, &[])?;
        }
        // Only automatic mail to customers counts against their caps: an agent's relayed
        // reply is human mail, and mail to agents is ours.
        if item.state == State::Pending && item.kind.is_automatic_to_customer() {
            for r in &item.to {
                let k = r.to_lowercase();
                let mut h: Vec<DateTime<Utc>> = match kv.get(T::Ratelog, k.as_bytes())? {
                    Some(v) => serde_json::from_slice(&v).map_err(corrupt)?,
                    None => Vec::new(),
                };
                h.push(item.created_at);
                // Bounded: a week of history is more than any sensible window.
                let since = item.created_at - chrono::Duration::days(7);
                h.retain(|t| *t > since);
                kv.put(
                    T::Ratelog,
                    k.as_bytes(),
                    &serde_json::to_vec(&h).map_err(corrupt)?,
                )?;
            }
        }
    }
    Ok(())
}

/// An open ingest batch ([`Store::open_batch`]).
pub(crate) struct Batch {
    store: Store,
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.store
            .batches
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        if let Err(e) = self.store.settle() {
            tracing::error!(error = %e, "cannot write an ingest batch");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new store gets an identity; a store written before identities (schema 1) gets one on
    /// open and keeps accepting the ids it signed for the tickets it had; a later new store
    /// with the same secret accepts none of them.
    #[test]
    fn identity_on_creation_and_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let id1 = {
            let store = Store::reopen(dir.path());
            let id = store.identity();
            assert_eq!(id.instance_id.len(), 32);
            assert!(id.created_at.is_some() && id.legacy_until.is_none());
            id
        };
        let again = Store::reopen(dir.path()).identity();
        assert_eq!(again, id1, "stable across opens");

        // Rewrite it the way schema 1 left a store: no identity, three tickets issued.
        let old = tempfile::tempdir().unwrap();
        {
            let store = Store::reopen(old.path());
            for k in ["instance_id", "created_at", "upgraded_at", "legacy_until"] {
                store.meta.remove(k).unwrap();
            }
            store
                .meta
                .insert("schema_version", b"1".as_slice())
                .unwrap();
            store
                .meta
                .insert("next_ticket", &4u64.to_be_bytes())
                .unwrap();
            store.db.flush().unwrap();
        }
        let store = Store::reopen(old.path());
        let up = store.identity();
        assert_eq!(up.legacy_until, Some(3));
        assert!(up.upgraded_at.is_some() && up.created_at.is_none());
        assert_ne!(up.instance_id, id1.instance_id);
        let inst = up.instance();
        let signer = crate::mail::msgid::Signer {
            secret: b"k",
            instance: &inst,
        };
        let legacy = crate::mail::msgid::legacy_sign(b"k", "example.com", 3, "n");
        assert_eq!(signer.verify(&legacy), crate::mail::msgid::Verdict::Ours(3));
        drop(store);
        // Upgraded once: reopening changes nothing.
        assert_eq!(Store::reopen(old.path()).identity(), up);
        let fresh = id1.instance();
        let fresh_signer = crate::mail::msgid::Signer {
            secret: b"k",
            instance: &fresh,
        };
        assert_eq!(
            fresh_signer.verify(&legacy),
            crate::mail::msgid::Verdict::OtherStore
        );
    }

    /// A store written by schema 2 (messages with their full texts, as
    /// `serde_json::to_vec(&Message)` wrote them) is migrated on first open; an export of it
    /// imports into a new store with the same messages, and a new store's export imports back
    /// into an identical export.
    #[test]
    fn schema_2_store_migrates_and_exports_round_trip() {
        let old = tempfile::tempdir().unwrap();
        let originals;
        let old_export = {
            let store = Store::reopen(old.path());
            // The schema-2 writer: messages as plain JSON.
            originals = write_old_messages(&store, |m, _| serde_json::to_vec(m).unwrap()).0;
            store
                .meta
                .insert("schema_version", b"2".as_slice())
                .unwrap();
            // A damaged record of another ticket: the upgrade leaves it, the store still opens.
            store
                .messages
                .insert(message_key(2, 1), b"{not json".as_slice())
                .unwrap();
            let mut out = Vec::new();
            store.export(&mut out).unwrap();
            store.db.flush().unwrap();
            let text = String::from_utf8(out).unwrap();
            let (_, rest) = text.split_once('\n').unwrap();
            format!("{{\"supportd_export\":2}}\n{rest}")
        };
        assert!(originals.len() >= 8);
        let stored_bytes =
            |s: &Store| -> usize { s.messages.iter().map(|kv| kv.unwrap().1.len()).sum() };
        let before = originals
            .iter()
            .map(|m| serde_json::to_vec(m).unwrap().len())
            .sum::<usize>();

        // Old export → new store.
        let imported = tempfile::tempdir().unwrap();
        let s = Store::reopen(imported.path());
        s.import(old_export.as_bytes()).unwrap();
        assert_eq!(s.messages(1).unwrap(), originals);
        assert!(stored_bytes(&s) < before);
        drop(s);

        // Old store opened by this version.
        let s = Store::reopen(old.path());
        assert_eq!(s.messages(1).unwrap(), originals);
        assert!(s.messages(2).is_err());
        assert_eq!(
            s.messages.get(message_key(2, 1)).unwrap().as_deref(),
            Some(b"{not json".as_slice())
        );
        assert_eq!(
            s.meta.get("schema_version").unwrap().as_deref(),
            Some(SCHEMA_VERSION.to_string().as_bytes())
        );
        assert!(
            stored_bytes(&s) < before,
            "{} vs {before}",
            stored_bytes(&s)
        );
        for m in &originals {
            assert_eq!(s.message_location(&m.message_id).unwrap(), Some((1, m.seq)));
        }
        drop(s);
        // Migrated once: opening again rewrites nothing and reads the same.
        let s = Store::reopen(old.path());
        assert_eq!(s.messages(1).unwrap(), originals);

        // New → new: the same export again.
        let mut first = Vec::new();
        s.export(&mut first).unwrap();
        let again = tempfile::tempdir().unwrap();
        let n = Store::reopen(again.path());
        n.import(first.as_slice()).unwrap();
        assert_eq!(n.messages(1).unwrap(), originals);
        let mut second = Vec::new();
        n.export(&mut second).unwrap();
        assert_eq!(
            String::from_utf8(first).unwrap(),
            String::from_utf8(second).unwrap()
        );
    }

    /// Writes every mail of `tests/mail` into ticket 1 as an older schema did: each message
    /// record as `encode` makes it, the raw mail verbatim, the Message-ID index; returns the
    /// messages and raw mails in order.
    fn write_old_messages(
        store: &Store,
        encode: impl Fn(&Message, &[u8]) -> Vec<u8>,
    ) -> (Vec<Message>, Vec<Vec<u8>>) {
        use crate::domain::message::ThreadedBy;
        let now = Utc::now();
        let mut out = (Vec::new(), Vec::new());
        for (i, (_, raw)) in crate::fixtures::files("tests/mail").iter().enumerate() {
            let inbound = crate::mail::parse::parse(raw).unwrap();
            let seq = i as u32 + 1;
            let m = Message::received(&inbound, 1, seq, ThreadedBy::New, None, now);
            let key = message_key(1, seq);
            store.messages.insert(key, encode(&m, raw)).unwrap();
            store
                .raw
                .insert(m.raw_sha256.as_bytes(), raw.as_slice())
                .unwrap();
            store.msgid.insert(m.message_id.as_bytes(), &key).unwrap();
            out.0.push(m);
            out.1.push(raw.clone());
        }
        out
    }

    /// A ticket as schema 3 wrote one (the benchmark's, Chinese subject and all).
    fn schema_3_ticket(id: u64) -> Ticket {
        let json = r#"{"id":1,"status":"new","priority":"P2","customer":"user472@hooli100.example.cn","subject":"发票开具问题 #319906","normalized_subject":"发票开具问题 #319906","requester":{"name":"李娜","address":"user472@hooli100.example.cn"},"participants":[{"address":"user472@hooli100.example.cn","how":"requester","at":"2026-12-01T18:43:10.999836573Z"}],"message_count":9,"created_at":"2026-12-01T18:43:10.999836573Z","updated_at":"2026-12-01T18:43:12.433402211Z","last_customer_message_id":"6b0f153e.000722.9f6136be@hooli100.example.cn","related":null,"assignee":"alice","first_response_at":null,"resolved_at":null,"merged_into":null,"escalation":0,"priority_rule":"rule broken-zh matched \"无法登录\"","sla":{"first_response":{"cycle":1,"started_at":"2026-12-01T18:43:10.999836573Z","due_at":"2026-12-01T19:43:10.999836573Z","stopped_at":null,"paused_since":null,"paused_secs":0,"paused_business_secs":0,"schedule":{"warning":"2026-12-01T19:31:10.999836573Z","breach":"2026-12-01T19:43:10.999836573Z","supervisor":"2026-12-01T20:13:10.999836573Z"},"fired":[]},"update":{"cycle":0,"started_at":null,"due_at":null,"stopped_at":null,"paused_since":null,"paused_secs":0,"paused_business_secs":0,"schedule":{},"fired":[]},"resolution":{"cycle":1,"started_at":"2026-12-01T18:43:10.999836573Z","due_at":"2026-12-02T02:43:10.999836573Z","stopped_at":null,"paused_since":null,"paused_secs":0,"paused_business_secs":0,"schedule":{"warning":"2026-12-02T01:07:10.999836573Z","breach":"2026-12-02T02:43:10.999836573Z","supervisor":"2026-12-02T03:13:10.999836573Z"},"fired":[]}}}"#;
        let mut t: Ticket = serde_json::from_str(json).unwrap();
        t.id = id;
        t
    }

    /// A store written by schema 3 (plain JSON tickets and messages, raw mail verbatim, as the
    /// schema-3 writer below does) is compressed on first open and reads the same; a crash
    /// halfway (some values compressed, the version still 3) upgrades the rest; its export is
    /// the readable one and imports into a store that exports the same again.
    #[test]
    fn schema_3_store_migrates_compressed_and_exports_round_trip() {
        let old = tempfile::tempdir().unwrap();
        let (originals, raws);
        let tickets: Vec<Ticket> = (1..=3).map(schema_3_ticket).collect();
        let plain_bytes;
        {
            let store = Store::reopen(old.path());
            for t in &tickets {
                store
                    .tickets
                    .insert(ticket_key(t.id), serde_json::to_vec(t).unwrap())
                    .unwrap();
            }
            // The schema-3 writer: messages in the message codec, uncompressed.
            (originals, raws) =
                write_old_messages(&store, |m, raw| message_codec::encode(m, raw).unwrap());
            store
                .meta
                .insert("schema_version", b"3".as_slice())
                .unwrap();
            // A crash in a first upgrade: one raw mail and one ticket already compressed.
            let first = originals[0].raw_sha256.as_bytes();
            let v = store.raw.get(first).unwrap().unwrap();
            store
                .raw
                .insert(first, value_codec::encode(Kind::Raw, &v))
                .unwrap();
            let v = store.tickets.get(ticket_key(2)).unwrap().unwrap();
            store
                .tickets
                .insert(ticket_key(2), value_codec::encode(Kind::Ticket, &v))
                .unwrap();
            plain_bytes = store_bytes(&store);
            store.db.flush().unwrap();
        }
        let s = Store::reopen(old.path());
        assert_eq!(
            s.meta.get("schema_version").unwrap().as_deref(),
            Some(b"5".as_slice())
        );
        assert_eq!(s.messages(1).unwrap(), originals);
        for t in &tickets {
            assert_eq!(s.ticket(t.id).unwrap().as_ref(), Some(t));
        }
        for (m, raw) in originals.iter().zip(&raws) {
            assert_eq!(s.raw_mail(&m.raw_sha256).unwrap().as_ref(), Some(raw));
        }
        for tree in [&s.raw, &s.tickets, &s.messages] {
            for kv in tree.iter() {
                assert!(value_codec::is_encoded(&kv.unwrap().1));
            }
        }
        let packed = store_bytes(&s);
        assert!(packed * 2 < plain_bytes, "{packed} vs {plain_bytes}");
        drop(s);
        // Migrated once: opening again rewrites nothing and reads the same.
        let s = Store::reopen(old.path());
        assert_eq!(store_bytes(&s), packed);
        assert_eq!(s.messages(1).unwrap(), originals);

        // The export holds plain values: the raw mail verbatim, records as readable JSON.
        let mut first = Vec::new();
        s.export(&mut first).unwrap();
        let text = String::from_utf8(first.clone()).unwrap();
        assert!(text.contains("\"normalized_subject\":\"发票开具问题 #319906\""));
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raws[0]);
        assert!(text.contains(&b64));
        let again = tempfile::tempdir().unwrap();
        let n = Store::reopen(again.path());
        n.import(first.as_slice()).unwrap();
        assert_eq!(n.messages(1).unwrap(), originals);
        assert_eq!(n.tickets(None).unwrap(), tickets);
        assert_eq!(store_bytes(&n), packed);
        let mut second = Vec::new();
        n.export(&mut second).unwrap();
        assert_eq!(text, String::from_utf8(second).unwrap());
    }

    /// Bytes of the three compressed trees' values.
    fn store_bytes(s: &Store) -> usize {
        [&s.raw, &s.tickets, &s.messages]
            .iter()
            .flat_map(|t| t.iter())
            .map(|kv| kv.unwrap().1.len())
            .sum()
    }

    /// A damaged, truncated or forged compressed value (a bomb declaring more than any value
    /// may hold, a frame cut short, another kind's value) is an error naming the record's tree
    /// and key, never a panic; the rest of the store reads on.
    #[test]
    fn undecodable_records_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::reopen(dir.path());
        let t = schema_3_ticket(5);
        s.commit_ticket(&t, &[]).unwrap();
        s.commit_ticket(&schema_3_ticket(6), &[]).unwrap();
        let good = s.tickets.get(ticket_key(5)).unwrap().unwrap().to_vec();
        let mut bomb = good.clone();
        bomb[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut short = good.clone();
        short[2..6].copy_from_slice(
            &(u32::from_le_bytes([good[2], good[3], good[4], good[5]]) + 1).to_le_bytes(),
        );
        let other = value_codec::encode(Kind::Message, &serde_json::to_vec(&t).unwrap());
        for bad in [
            good[..good.len() / 2].to_vec(),
            good[..3].to_vec(),
            bomb,
            short,
            other,
            vec![0xC4],
            vec![0xC4, 2, 0xFF, 0xFF, 0xFF, 0x0F, 0x28, 0xB5, 0x2F, 0xFD],
        ] {
            s.tickets.insert(ticket_key(5), bad.clone()).unwrap();
            let e = s.ticket(5).unwrap_err().to_string();
            assert!(e.contains("tickets/0000000000000005"), "{e}");
            assert!(s.tickets(None).is_err());
            assert_eq!(s.ticket(6).unwrap().map(|t| t.id), Some(6));
        }
        s.raw
            .insert(
                b"ab12".as_slice(),
                b"\xC4\x01\x00\x00\x10\x00garbage".as_slice(),
            )
            .unwrap();
        let e = s.raw_mail("ab12").unwrap_err().to_string();
        assert!(e.contains("raw/61623132"), "{e}");
        // The export keeps going and writes a damaged record as stored.
        s.tickets
            .insert(ticket_key(5), good[..good.len() / 2].to_vec())
            .unwrap();
        let mut out = Vec::new();
        s.export(&mut out).unwrap();
    }

    /// A store as the last release (schema 3) left it opens, is indexed once (schema 5) and
    /// lists, counts and reports the same as a full read; an index left half-built by a crash
    /// during the migration (the version still 3, keys of another build in the tree) is built
    /// again from scratch; an export of it imports into a store whose index agrees too.
    #[test]
    fn a_schema_3_store_written_by_the_last_release_migrates() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["conf", "db"] {
            std::fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/stores/schema3")
                    .join(f),
                dir.path().join(f),
            )
            .unwrap();
        }
        let check = |s: &Store| {
            assert_eq!(
                s.meta.get("schema_version").unwrap().as_deref(),
                Some(b"5".as_slice())
            );
            assert_eq!(s.index_difference().unwrap(), None);
            let all = s.tickets(None).unwrap();
            assert_eq!(all.len(), 18);
            assert_eq!(s.ticket_count(), 18);
            assert_eq!(s.message_count(), 30);
            for st in Status::ALL {
                let want: Vec<u64> = all
                    .iter()
                    .filter(|t| t.status == st)
                    .map(|t| t.id)
                    .collect();
                let got: Vec<u64> = s.tickets(Some(st)).unwrap().iter().map(|t| t.id).collect();
                assert_eq!(got, want, "{st:?}");
            }
            let since = all[9].created_at;
            let want: Vec<u64> = all
                .iter()
                .filter(|t| t.created_at >= since)
                .map(|t| t.id)
                .collect();
            let got: Vec<u64> = s
                .tickets_created_since(since)
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(got, want);
            assert_eq!(
                s.due_len().unwrap(),
                all.iter().filter(|t| next_due(t).is_some()).count()
            );
        };
        let s = Store::reopen(dir.path());
        check(&s);
        // A crash during the migration: version 3, the tree holding another build's keys.
        s.meta.insert("schema_version", b"3".as_slice()).unwrap();
        s.index
            .insert(
                b"s\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x63",
                &[],
            )
            .unwrap();
        s.index.remove(ticket_index_first_entry(&s)).unwrap();
        s.sync_blocking().unwrap();
        assert!(s.index_difference().unwrap().is_some());
        drop(s);
        let s = Store::reopen(dir.path());
        check(&s);
        // Export → import: the index is derived, never exported, and built for the import.
        let mut out = Vec::new();
        s.export(&mut out).unwrap();
        let again = tempfile::tempdir().unwrap();
        let n = Store::reopen(again.path());
        n.import(out.as_slice()).unwrap();
        check(&n);
    }

    fn ticket_index_first_entry(s: &Store) -> Vec<u8> {
        s.index
            .scan_prefix(b"t")
            .next()
            .unwrap()
            .unwrap()
            .0
            .to_vec()
    }

    /// A SIGKILL while sled writes a snapshot leaves `snap.<lsn>.generating` behind; the store
    /// must still open with everything committed before it.
    #[test]
    fn a_torn_snapshot_file_does_not_stop_the_store_from_opening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::reopen(dir.path());
            store.meta.insert("probe", b"kept".as_slice()).unwrap();
            store.db.flush().unwrap();
        }
        std::fs::write(dir.path().join("snap.7FFFFFFFFFFFFFFF.generating"), b"torn").unwrap();
        let store = Store::reopen(dir.path());
        assert_eq!(
            store.meta.get("probe").unwrap().as_deref(),
            Some(b"kept".as_slice())
        );
        assert!(!dir.path().join("snap.7FFFFFFFFFFFFFFF.generating").exists());
    }

    /// `quarantine_count` (the highest id) is the number of records: after new records, the same
    /// mail again (its first record kept), mails with nothing kept, a release, and an export
    /// imported into a fresh store.
    #[test]
    fn the_quarantine_count_is_the_number_of_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::reopen(dir.path());
        assert_eq!(store.quarantine_count(), 0);
        let record = |kept: &[u8]| QuarantineRecord {
            id: 0,
            at: Utc::now(),
            reason: "test".into(),
            message_id: Some("same@example.org".into()),
            from: None,
            subject: None,
            size: kept.len() as u64,
            raw_sha256: (!kept.is_empty())
                .then(|| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(kept))),
            header_only: false,
            source: None,
            released: None,
        };
        for kept in [&b"one"[..], b"two", b"one", b"", b"", b"three", b"two"] {
            store.add_quarantine(record(kept), kept).unwrap();
        }
        let mut first = store.quarantine_record(1).unwrap().unwrap();
        first.released = Some(Released {
            at: Utc::now(),
            ticket: None,
        });
        store.update_quarantine(&first).unwrap();
        assert_eq!(store.quarantine.len(), 5);
        assert_eq!(store.quarantine_count(), 5);
        let mut export = Vec::new();
        store.export(&mut export).unwrap();
        let again = tempfile::tempdir().unwrap();
        let imported = Store::reopen(again.path());
        imported.import(export.as_slice()).unwrap();
        assert_eq!(imported.quarantine_count(), 5);
        assert_eq!(imported.quarantine.len(), 5);
    }
}
