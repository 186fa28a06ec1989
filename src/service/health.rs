//! `[http]`: `/healthz` (JSON, 200 or 503) and `/metrics` (Prometheus text format 0.0.4).
//!
//! The listener is plain HTTP/1.1 (hyper) and meant for loopback: the configuration refuses a
//! non-loopback address unless `http.allow_remote = true`, as neither endpoint authenticates.
//!
//! What `/healthz` judges, each failing check adding one line to `reasons`:
//! - **IMAP**: a session is logged in, for each ingested account and mailbox on its own
//!   ([`crate::service::metrics::IngestStatus::connected`]): one failing account is a 503
//!   naming it, while the daemon goes on ingesting the others;
//! - **sync age**: the inbox was fully synced within [`Config::sync_max_age_of`] (an idle
//!   mailbox is re-synced at least once per IDLE renewal or poll);
//! - **outbox**: the oldest pending mail is younger than `http.outbox_max_age_secs`;
//! - **store**: a background check every [`STORE_CHECK_EVERY`] creates, writes, fsyncs, reads
//!   back and removes a small probe file in the store directory. That catches a read-only
//!   remount, a full disk or an I/O error even while no mail arrives; it is cheap (one small
//!   fsync every 30 s) and, unlike a sled write, leaves nothing in the database. The check's
//!   result is cached, so scraping `/healthz` never touches the disk.
//!
//! `/metrics` reads the live counters and computes the ticket, quarantine and outbox gauges
//! from the store at scrape time (one scan of the ticket tree, on the blocking pool).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use serde_json::json;
use tracing::{info, warn};

use crate::config::Config;
use crate::io::http::Reply;
use crate::io::store::Store;
use crate::service::accounts::IngestStatuses;
use crate::service::metrics::{self, SendStats, StoreGauges, age_secs};
use crate::service::shutdown::Shutdown;

/// How often the store's directory is checked for writability.
pub(crate) const STORE_CHECK_EVERY: Duration = Duration::from_secs(30);
/// Name of the probe file the store check writes (and removes) in the store directory.
pub(crate) const PROBE_FILE: &str = ".health-probe";

/// Result of the last store writability check.
#[derive(Debug, Clone, Default)]
struct StoreCheck {
    at: Option<Instant>,
    error: Option<String>,
}

/// Everything the endpoints read.
pub(crate) struct Health {
    config: Arc<Config>,
    store: Store,
    ingest: IngestStatuses,
    sender: Option<Arc<Mutex<SendStats>>>,
    store_check: Mutex<StoreCheck>,
    started: Instant,
}

/// One `/healthz` verdict.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// True when every check passed.
    pub(crate) healthy: bool,
    /// The JSON body.
    pub(crate) body: serde_json::Value,
}

impl Health {
    /// Collects the shared state of a running daemon.
    pub(crate) fn new(
        config: Arc<Config>,
        store: Store,
        ingest: IngestStatuses,
        sender: Option<Arc<Mutex<SendStats>>>,
    ) -> Arc<Health> {
        Arc::new(Health {
            config,
            store,
            ingest,
            sender,
            store_check: Mutex::default(),
            started: Instant::now(),
        })
    }

    /// Runs the store writability check once and records its result.
    pub(crate) async fn check_store(&self) {
        let dir = self.store.path().to_owned();
        let result = tokio::task::spawn_blocking(move || probe_dir(&dir, 0))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        let mut c = self.store_check.lock().unwrap();
        if let Err(e) = &result {
            if c.error.is_none() {
                warn!(error = %e, dir = %self.store.path().display(), "store directory is not writable");
            }
        } else if c.error.is_some() {
            info!("store directory is writable again");
        }
        c.at = Some(Instant::now());
        c.error = result.err().map(|e| e.to_string());
    }

    /// Checks the store every [`STORE_CHECK_EVERY`] until shutdown.
    pub(crate) async fn run_store_checks(self: Arc<Self>, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(STORE_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.check_store().await,
                () = shutdown.recv() => return,
            }
        }
    }

    /// Computes the `/healthz` verdict.
    pub(crate) async fn verdict(&self) -> Verdict {
        let st = self.ingest.total();
        let each = self.ingest.each();
        let store = self.store.clone();
        let depth = tokio::task::spawn_blocking(move || store.outbox_depth())
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from));
        let check = self.store_check.lock().unwrap().clone();
        let now = Utc::now();
        let mut reasons = Vec::new();
        let fault = self.store.fault();
        if let Some(cause) = &fault {
            reasons.push(format!(
                "store failed: {cause} (the daemon restarts once its directory is writable again)"
            ));
        }
        // Every account is judged on its own: one broken account makes the daemon unhealthy
        // (an operator must be paged) while the others go on ingesting.
        let several = self.ingest.several();
        for (a, s) in &each {
            let max_sync = a.max_sync_secs;
            let what = if several {
                format!("IMAP account {} (queues {})", a.name, a.queues.join(", "))
            } else {
                "IMAP".to_owned()
            };
            let inbox = if several {
                format!("mailbox of {}", a.name)
            } else {
                "inbox".to_owned()
            };
            if !s.connected {
                let retry = s
                    .retry_in_secs
                    .map(|r| format!(" (next attempt within {r} s)"))
                    .unwrap_or_default();
                reasons.push(match &s.last_error {
                    Some(e) => format!("{what} not connected: {e}{retry}"),
                    None => format!("{what} not connected yet"),
                });
            }
            match s.last_sync.map(|t| age_secs(now - t)) {
                Some(age) if age > max_sync as f64 => reasons.push(format!(
                    "{inbox} last synced {age:.0} s ago (limit {max_sync} s)"
                )),
                None if self.started.elapsed().as_secs() > max_sync => reasons.push(format!(
                    "{inbox} not synced since start {} s ago",
                    self.started.elapsed().as_secs()
                )),
                _ => {}
            }
        }
        let sync_age = st.last_sync.map(|t| age_secs(now - t));
        let max_outbox = self
            .config
            .http
            .as_ref()
            .map_or(30 * 60, |h| h.outbox_max_age_secs);
        let (depth, oldest_age) = match &depth {
            Ok((n, oldest)) => (Some(*n), oldest.map(|t| age_secs(now - t))),
            Err(e) => {
                reasons.push(format!("cannot read the outbox: {e:#}"));
                (None, None)
            }
        };
        if let Some(age) = oldest_age
            && age > max_outbox as f64
        {
            reasons.push(format!(
                "oldest pending outbox mail is {age:.0} s old (limit {max_outbox} s)"
            ));
        }
        let held = self
            .sender
            .as_ref()
            .map_or(0, |s| s.lock().unwrap().held_by_cap.len());
        if held > 0 {
            let max = self
                .config
                .outbound
                .as_ref()
                .map_or(0, |o| o.max_automatic_per_hour);
            reasons.push(format!(
                "{held} automatic mail(s) to customers wait: outbound.max_automatic_per_hour = {max} reached"
            ));
        }
        let check_age = check.at.map(|t| t.elapsed().as_secs_f64());
        let writable = check.at.is_some() && check.error.is_none();
        match (&check.error, check_age) {
            (Some(e), _) => reasons.push(format!("store not writable: {e}")),
            (None, None) => reasons.push("store not checked yet".to_owned()),
            (None, Some(age)) if age > 3.0 * STORE_CHECK_EVERY.as_secs_f64() => {
                reasons.push(format!("store check is stale ({age:.0} s old)"))
            }
            _ => {}
        }
        let healthy = reasons.is_empty();
        let body = json!({
            "status": if healthy { "ok" } else { "unhealthy" },
            "reasons": reasons,
            "imap": {
                "connected": st.connected,
                "idle": st.idle,
                "reconnects": st.reconnects,
                "last_error": st.last_error,
            },
            // One entry per ingested account and mailbox, `[imap]`'s first.
            "accounts": self.ingest.json(),
            "last_sync": st.last_sync,
            "last_sync_age_seconds": sync_age,
            "outbox": {
                "depth": depth,
                "oldest_pending_age_seconds": oldest_age,
                "held_by_automatic_cap": held,
            },
            "store": {
                "writable": writable && fault.is_none(),
                "fault": fault,
                "checked_age_seconds": check_age,
                "error": check.error,
            },
            "uptime_seconds": self.started.elapsed().as_secs(),
            // Handled mail the server would not move out of the inbox (ingest goes on).
            "stuck_mail": st.stuck,
            "abandoned_parses": st.abandoned_parses,
            // Tickets whose SLA step failed (skipped until restart; the others go on).
            "sla_skipped": crate::service::scheduler::skipped()
                .into_iter()
                .map(|(ticket, why)| json!({ "ticket": ticket, "reason": why }))
                .collect::<Vec<_>>(),
        });
        Verdict { healthy, body }
    }

    /// Renders `/metrics`.
    pub(crate) async fn metrics(&self) -> Result<String> {
        let st = self.ingest.total();
        let accounts = self.ingest.each();
        let sent = self.sender.as_ref().map(|s| s.lock().unwrap().clone());
        let store = self.store.clone();
        let gauges = tokio::task::spawn_blocking(move || StoreGauges::read(&store)).await??;
        let mut text = metrics::render(&st, sent.as_ref(), &gauges);
        metrics::render_queues(&mut text, &self.config, &gauges);
        crate::service::accounts::render_metrics(&mut text, &accounts);
        Ok(text)
    }

    /// The answer for `path`: `/healthz` (200 or 503 with the verdict) or `/metrics`.
    pub(crate) async fn route(&self, path: &str) -> Reply {
        match path {
            "/healthz" => {
                let v = self.verdict().await;
                let mut body = serde_json::to_string_pretty(&v.body).unwrap_or_default();
                body.push('\n');
                Reply {
                    status: if v.healthy { 200 } else { 503 },
                    content_type: "application/json",
                    body,
                }
            }
            "/metrics" => match self.metrics().await {
                Ok(text) => Reply {
                    status: 200,
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    body: text,
                },
                Err(e) => {
                    warn!(error = %format!("{e:#}"), "cannot compute metrics");
                    Reply {
                        status: 500,
                        content_type: "text/plain",
                        body: format!("cannot compute metrics: {e:#}\n"),
                    }
                }
            },
            _ => Reply {
                status: 404,
                content_type: "text/plain",
                body: "not found; try /healthz or /metrics\n".to_owned(),
            },
        }
    }
}

/// Create, write, fsync, read back and remove a probe file in `dir`, padded to `size` bytes.
pub(crate) fn probe_dir(dir: &Path, size: usize) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let mut payload = format!("supportd health probe {}\n", std::process::id());
    if payload.len() < size {
        payload.push_str(&".".repeat(size - payload.len()));
    }
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)?;
        f.write_all(payload.as_bytes())?;
        f.sync_all()?;
        let mut back = String::new();
        std::fs::File::open(&path)?.read_to_string(&mut back)?;
        if back != payload {
            return Err(std::io::Error::other("probe file read back differently"));
        }
        Ok(())
    })();
    let removed = std::fs::remove_file(&path);
    result.and(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_writes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        probe_dir(dir.path(), 0).unwrap();
        probe_dir(dir.path(), 1 << 20).unwrap();
        assert!(!dir.path().join(PROBE_FILE).exists());
        assert!(probe_dir(&dir.path().join("missing"), 0).is_err());
    }
}
