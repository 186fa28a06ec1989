//! The store as JSON lines and back: `supportd export`/`import`, backups and compaction.

use serde::{Deserialize, Serialize};

use crate::io::store::value_codec::{self, Kind};
use crate::io::store::{EXPORT_END_KEY as END_KEY, Result, SCHEMA_VERSION, Store, StoreError};

/// The trees whose values the store keeps compressed; an export holds them plain.
fn compressed(tree: &str) -> Option<Kind> {
    match tree {
        "raw" => Some(Kind::Raw),
        "tickets" => Some(Kind::Ticket),
        "messages" => Some(Kind::Message),
        _ => None,
    }
}

/// Every tree, in export order; values of the first group are JSON records.
const JSON_TREES: &[&str] = &[
    "tickets",
    "messages",
    "uidstate",
    "quarantine",
    "outbox",
    "ratelog",
];
const BINARY_TREES: &[&str] = &[
    "meta",
    "msgid",
    "raw",
    "subjects",
    "quarantine_idx",
    "outbox_pending",
    "learned",
    "outbox_ticket",
];

/// One line of an export file.
#[derive(Debug, Serialize, Deserialize)]
struct ExportLine {
    tree: String,
    /// Key, hex.
    key: String,
    /// The value when it is a JSON record (readable, greppable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Written as stored, not re-ordered through a map: an import stores the same bytes, so
    /// the records compress as they did (the dictionaries know our field order).
    json: Option<Box<serde_json::value::RawValue>>,
    /// The value as base64 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b64: Option<String>,
}

impl Store {
    /// Writes every tree as JSON lines (one per key), then the end line, and returns the number
    /// of records. A complete copy: importing it into an empty store gives back the same tickets,
    /// messages, raw mail, quarantine, outbox and sync state. Hold [`Store::write_lock`] for a
    /// consistent snapshot.
    pub(crate) fn export<W: std::io::Write>(&self, mut out: W) -> Result<u64> {
        use base64::Engine;
        let mut n = 0;
        let header = serde_json::json!({"supportd_export": SCHEMA_VERSION});
        writeln!(out, "{header}")?;
        for name in JSON_TREES.iter().chain(BINARY_TREES) {
            let tree = self.db.open_tree(name)?;
            for kv in tree.iter() {
                let (k, stored) = kv?;
                let v = match compressed(name).map(|kind| value_codec::decode(kind, &stored)) {
                    None => std::borrow::Cow::Borrowed(stored.as_ref()),
                    Some(Ok(v)) => v,
                    Some(Err(e)) => {
                        // Kept as it is stored: the export is still complete, and the
                        // record reads as damaged after an import as it does here.
                        tracing::warn!(
                            tree = name,
                            key = %hex::encode(&k),
                            error = %e,
                            "export: a record does not decode; written as stored"
                        );
                        std::borrow::Cow::Borrowed(stored.as_ref())
                    }
                };
                let json_value = if JSON_TREES.contains(name) {
                    // A stored record is compact JSON; one with a line break between its tokens
                    // (never written so) would break the line, so it is written re-encoded.
                    match serde_json::from_slice::<Box<serde_json::value::RawValue>>(&v) {
                        Ok(raw) if !v.contains(&b'\n') && !v.contains(&b'\r') => Some(raw),
                        Ok(_) => serde_json::from_slice::<serde_json::Value>(&v)
                            .ok()
                            .and_then(|j| serde_json::value::to_raw_value(&j).ok()),
                        Err(_) => None,
                    }
                } else {
                    None
                };
                let line = ExportLine {
                    tree: (*name).to_owned(),
                    key: hex::encode(&k),
                    b64: json_value
                        .is_none()
                        .then(|| base64::engine::general_purpose::STANDARD.encode(&v)),
                    json: json_value,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                n += 1;
            }
        }
        writeln!(out, "{}", serde_json::json!({ END_KEY: { "records": n } }))?;
        out.flush()?;
        Ok(n)
    }

    /// [`Store::export`] into an unlinked temporary file in the store's directory, under the
    /// writer lock, rewound: the snapshot is consistent and the lock is held only as long as the
    /// disk takes to write it, however slowly the caller then reads it (a stalled `| less` must
    /// not stop ingest). The file vanishes when dropped.
    pub(crate) fn export_spooled(&self) -> Result<(std::fs::File, u64)> {
        use std::io::{Seek, Write};
        let mut spool = tempfile::tempfile_in(&self.path)?;
        let n = {
            let _lock = self.write_lock();
            let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut spool);
            let n = self.export(&mut w)?;
            w.flush()?;
            n
        };
        spool.sync_data().ok();
        spool.rewind()?;
        Ok((spool, n))
    }

    /// True when nothing but the initial metadata is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.tickets.is_empty() && self.quarantine.is_empty() && self.outbox.is_empty()
    }

    /// Loads an export into this store, which must be empty; returns the number of records.
    pub(crate) fn import<R: std::io::BufRead>(&self, input: R) -> Result<u64> {
        use base64::Engine;
        if !self.is_empty() {
            return Err(StoreError::Io(std::io::Error::other(
                "import needs an empty store (move the old store directory away first)",
            )));
        }
        let bad = |line: usize, what: String| {
            StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("export line {line}: {what}"),
            ))
        };
        // The export brings its store's identity (a restore keeps it, so what that store signed
        // keeps threading); an export from before identities gets one on the upgrade below.
        for k in ["instance_id", "created_at", "upgraded_at", "legacy_until"] {
            self.meta.remove(k)?;
        }
        let mut n = 0;
        let mut ended = false;
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            if ended && !line.trim().is_empty() {
                return Err(bad(i + 1, "data after the end line".into()));
            }
            if i == 0 {
                let v: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| bad(1, e.to_string()))?;
                match v["supportd_export"].as_u64() {
                    Some(ver) if ver <= SCHEMA_VERSION => continue,
                    Some(ver) => return Err(StoreError::TooNew { found: ver }),
                    None => return Err(bad(1, "not a supportd export".into())),
                }
            }
            if line.trim().is_empty() {
                continue;
            }
            if line.starts_with(&format!("{{\"{END_KEY}\"")) {
                let v: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| bad(i + 1, e.to_string()))?;
                let said = v[END_KEY]["records"].as_u64();
                if said != Some(n) {
                    return Err(bad(
                        i + 1,
                        format!("the end line counts {said:?} records, the file holds {n}"),
                    ));
                }
                ended = true;
                continue;
            }
            let rec: ExportLine =
                serde_json::from_str(&line).map_err(|e| bad(i + 1, e.to_string()))?;
            if !JSON_TREES.contains(&rec.tree.as_str())
                && !BINARY_TREES.contains(&rec.tree.as_str())
            {
                return Err(bad(i + 1, format!("unknown tree {}", rec.tree)));
            }
            let key = hex::decode(&rec.key).map_err(|e| bad(i + 1, e.to_string()))?;
            let value = match (rec.json, rec.b64) {
                (Some(j), _) => j.get().as_bytes().to_vec(),
                (None, Some(b)) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| bad(i + 1, e.to_string()))?,
                (None, None) => return Err(bad(i + 1, "no value".into())),
            };
            let value = match compressed(&rec.tree) {
                Some(kind) => value_codec::encode(kind, &value),
                None => value,
            };
            if rec.tree == "meta"
                && key == crate::io::store::secret::KEY.as_bytes()
                && !crate::io::store::secret::is_valid(&value)
            {
                return Err(bad(
                    i + 1,
                    "meta/outbound_secret is not a 256-bit hex secret".into(),
                ));
            }
            self.db.open_tree(&rec.tree)?.insert(key, value)?;
            n += 1;
        }
        self.migrate()?;
        // Older exports have no `outbox_ticket`; rebuilt either way so it matches the outbox.
        self.rebuild_outbox_ticket()?;
        // Derived, never exported: built from the imported tickets whatever the export's schema.
        self.rebuild_index()?;
        self.sync_blocking()?;
        Ok(n)
    }
}
