//! `[http]`: `/healthz` (JSON, 200 or 503) and `/metrics` (Prometheus text format 0.0.4).
//!
//! The listener is plain HTTP/1.1 (hyper) and meant for loopback: the configuration refuses a
//! non-loopback address unless `http.allow_remote = true`, as neither endpoint authenticates.
//!
//! What `/healthz` judges, each failing check adding one line to `reasons`:
//! - **IMAP**: a session is logged in ([`IngestStatus::connected`]);
//! - **sync age**: the inbox was fully synced within [`Config::sync_max_age_secs`] (an idle
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

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::domain::ticket::{Priority, Status};
use crate::io::store::Store;
use crate::service::ingest::IngestStatus;
use crate::service::sender::SendStats;

/// How often the store's directory is checked for writability.
pub const STORE_CHECK_EVERY: Duration = Duration::from_secs(30);
/// Name of the probe file the store check writes (and removes) in the store directory.
pub const PROBE_FILE: &str = ".health-probe";

// ---- histogram ---------------------------------------------------------------------------------

/// Upper bounds (seconds) of the ingest latency buckets. IDLE adds about 0.5 s on Dovecot, a
/// batch fsync a few ms; polling adds up to `imap.poll_interval_secs`.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A fixed-bucket Prometheus histogram; `const`-constructible so it can be a `static`.
#[derive(Debug)]
pub struct Histogram {
    inner: Mutex<HistogramInner>,
}

#[derive(Debug, Clone, Copy)]
struct HistogramInner {
    /// Non-cumulative counts per bucket of [`LATENCY_BUCKETS`]; the last slot is `+Inf`.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram over [`LATENCY_BUCKETS`].
    pub const fn new() -> Histogram {
        Histogram {
            inner: Mutex::new(HistogramInner {
                buckets: [0; LATENCY_BUCKETS.len() + 1],
                sum: 0.0,
                count: 0,
            }),
        }
    }

    /// Records one observation of `seconds`.
    pub fn observe(&self, seconds: f64) {
        self.observe_n(seconds, 1);
    }

    /// Records `n` observations of the same value (a batch of mails made durable together).
    pub fn observe_n(&self, seconds: f64, n: u64) {
        if n == 0 || !seconds.is_finite() {
            return;
        }
        let seconds = seconds.max(0.0);
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        let mut h = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        h.buckets[i] += n;
        h.sum += seconds * n as f64;
        h.count += n;
    }

    /// Number of observations so far.
    pub fn count(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).count
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let h = *self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i];
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        cumulative += h.buckets[LATENCY_BUCKETS.len()];
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let _ = writeln!(out, "{name}_sum {}", h.sum);
        let _ = writeln!(out, "{name}_count {}", h.count);
    }
}

/// Arrival → durable latency of ingested mail, in seconds: from the `UID FETCH` that first
/// showed the mail to ingest (its arrival at the daemon; with IDLE, Dovecot announces a new mail
/// about 0.5 s after delivery) to the fsync of the batch holding it. Ingest observes it once per
/// mail, right after `Store::sync` of each batch.
pub static INGEST_LATENCY: Histogram = Histogram::new();

/// Highest escalation level counted by [`ESCALATIONS`].
pub const ESCALATION_LEVELS: usize = 3;

/// Escalations by level (1-based), exported as `supportd_escalations_total{level}`.
#[derive(Debug)]
pub struct Escalations([AtomicU64; ESCALATION_LEVELS]);

impl Escalations {
    /// Counts one escalation to `level` (1..=[`ESCALATION_LEVELS`]; higher levels count as the
    /// highest).
    pub fn record(&self, level: usize) {
        let i = level.clamp(1, ESCALATION_LEVELS) - 1;
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the escalations `after` gained over the ticket it was, given as its number and
    /// how many escalations it had (`None`: a new ticket).
    pub fn record_new(&self, after: &crate::domain::ticket::Ticket, before: Option<(u64, usize)>) {
        let skip = match before {
            Some((id, n)) if id == after.id => n,
            _ => 0,
        };
        for e in after.escalations.iter().skip(skip) {
            self.record(e.level as usize);
        }
    }

    fn get(&self, level: usize) -> u64 {
        self.0[level - 1].load(Ordering::Relaxed)
    }
}

/// Escalation counters: the SLA scheduler, agents' `#escalate` and customers' requests.
pub static ESCALATIONS: Escalations = Escalations([const { AtomicU64::new(0) }; ESCALATION_LEVELS]);

// ---- state -------------------------------------------------------------------------------------

/// Result of the last store writability check.
#[derive(Debug, Clone, Default)]
struct StoreCheck {
    at: Option<Instant>,
    error: Option<String>,
}

/// Everything the endpoints read.
pub struct Health {
    config: Arc<Config>,
    store: Store,
    ingest: Arc<Mutex<IngestStatus>>,
    sender: Option<Arc<Mutex<SendStats>>>,
    store_check: Mutex<StoreCheck>,
    started: Instant,
}

/// One `/healthz` verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// True when every check passed.
    pub healthy: bool,
    /// The JSON body.
    pub body: serde_json::Value,
}

impl Health {
    /// Collects the shared state of a running daemon.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        ingest: Arc<Mutex<IngestStatus>>,
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
    pub async fn check_store(&self) {
        let dir = self.store.path().to_owned();
        let result = tokio::task::spawn_blocking(move || probe_dir(&dir))
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

    /// Checks the store every [`STORE_CHECK_EVERY`] until `shutdown` turns true.
    pub async fn run_store_checks(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(STORE_CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.check_store().await,
                _ = shutdown.changed() => return,
            }
        }
    }

    /// Computes the `/healthz` verdict.
    pub async fn verdict(&self) -> Verdict {
        let st = self.ingest.lock().unwrap().clone();
        let store = self.store.clone();
        let depth = tokio::task::spawn_blocking(move || store.outbox_depth())
            .await
            .map_err(anyhow::Error::from)
            .and_then(|r| r.map_err(anyhow::Error::from));
        let check = self.store_check.lock().unwrap().clone();
        let now = Utc::now();
        let mut reasons = Vec::new();

        if !st.connected {
            reasons.push(match &st.last_error {
                Some(e) => format!("IMAP not connected: {e}"),
                None => "IMAP not connected yet".to_owned(),
            });
        }
        let sync_age = st.last_sync.map(|t| secs(now - t));
        let max_sync = self.config.sync_max_age_secs();
        match sync_age {
            Some(age) if age > max_sync as f64 => reasons.push(format!(
                "inbox last synced {age:.0} s ago (limit {max_sync} s)"
            )),
            None if self.started.elapsed().as_secs() > max_sync => reasons.push(format!(
                "inbox not synced since start {} s ago",
                self.started.elapsed().as_secs()
            )),
            _ => {}
        }
        let max_outbox = self
            .config
            .http
            .as_ref()
            .map_or(30 * 60, |h| h.outbox_max_age_secs);
        let (depth, oldest_age) = match &depth {
            Ok((n, oldest)) => (Some(*n), oldest.map(|t| secs(now - t))),
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
            "last_sync": st.last_sync,
            "last_sync_age_seconds": sync_age,
            "outbox": {
                "depth": depth,
                "oldest_pending_age_seconds": oldest_age,
            },
            "store": {
                "writable": writable,
                "checked_age_seconds": check_age,
                "error": check.error,
            },
            "uptime_seconds": self.started.elapsed().as_secs(),
        });
        Verdict { healthy, body }
    }

    /// Renders `/metrics`.
    pub async fn metrics(&self) -> Result<String> {
        let st = self.ingest.lock().unwrap().clone();
        let sent = self.sender.as_ref().map(|s| s.lock().unwrap().clone());
        let store = self.store.clone();
        let gauges = tokio::task::spawn_blocking(move || StoreGauges::read(&store)).await??;
        Ok(render(&st, sent.as_ref(), &gauges))
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = response(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "GET only\n");
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match req.uri().path() {
            "/healthz" => {
                let v = self.verdict().await;
                let code = if v.healthy {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                let mut body = serde_json::to_string_pretty(&v.body).unwrap_or_default();
                body.push('\n');
                response(code, "application/json", body)
            }
            "/metrics" => match self.metrics().await {
                Ok(text) => response(
                    StatusCode::OK,
                    "text/plain; version=0.0.4; charset=utf-8",
                    text,
                ),
                Err(e) => {
                    warn!(error = %format!("{e:#}"), "cannot compute metrics");
                    response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain",
                        format!("cannot compute metrics: {e:#}\n"),
                    )
                }
            },
            _ => response(
                StatusCode::NOT_FOUND,
                "text/plain",
                "not found; try /healthz or /metrics\n",
            ),
        }
    }
}

fn response(
    code: StatusCode,
    ctype: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn secs(d: chrono::TimeDelta) -> f64 {
    (d.num_milliseconds().max(0) as f64) / 1000.0
}

/// Create, write, fsync, read back and remove a probe file in `dir`.
fn probe_dir(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let payload = format!("supportd health probe {}\n", std::process::id());
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

// ---- /metrics ----------------------------------------------------------------------------------

const PRIORITIES: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

/// Gauges computed from the store at scrape time.
#[derive(Debug, Default, Clone)]
pub struct StoreGauges {
    /// Tickets per (status, priority), indexed like [`Status::ALL`] × P1..P4.
    pub tickets: [[u64; 4]; 5],
    /// Quarantine records kept.
    pub quarantine: u64,
    /// Pending outbox items.
    pub outbox_depth: u64,
    /// Age of the oldest pending outbox item, seconds.
    pub outbox_oldest_age: Option<f64>,
    /// Bytes the store uses on disk.
    pub store_bytes: u64,
}

impl StoreGauges {
    /// Reads the store's counters and the outbox queue (blocking).
    pub fn read(store: &Store) -> Result<StoreGauges> {
        let (depth, oldest) = store.outbox_depth().context("cannot read the outbox")?;
        Ok(StoreGauges {
            tickets: store.census(),
            quarantine: store.quarantine_count() as u64,
            outbox_depth: depth as u64,
            outbox_oldest_age: oldest.map(|t| secs(Utc::now() - t)),
            store_bytes: store.size_on_disk(),
        })
    }
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The Prometheus text exposition of the daemon's counters and gauges.
pub fn render(st: &IngestStatus, sent: Option<&SendStats>, g: &StoreGauges) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP supportd_build_info The running version.\n# TYPE supportd_build_info gauge\nsupportd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    metric(
        &mut out,
        "supportd_mails_stored_total",
        "counter",
        "Mails stored on a ticket since start.",
        st.stored,
    );
    metric(
        &mut out,
        "supportd_mails_duplicate_total",
        "counter",
        "Re-delivered mails recognised and ignored since start.",
        st.duplicates,
    );
    metric(
        &mut out,
        "supportd_mails_quarantined_total",
        "counter",
        "Mails quarantined since start.",
        st.quarantined,
    );
    metric(
        &mut out,
        "supportd_imap_connected",
        "gauge",
        "1 while an IMAP session is logged in.",
        u8::from(st.connected),
    );
    metric(
        &mut out,
        "supportd_imap_reconnects_total",
        "counter",
        "IMAP sessions that ended in an error since start.",
        st.reconnects,
    );
    metric(
        &mut out,
        "supportd_agent_impersonations_total",
        "counter",
        "Mails from an agent address without proof, handled as customer mail, since start.",
        crate::desk::agent::IMPERSONATIONS.load(std::sync::atomic::Ordering::Relaxed),
    );
    metric(
        &mut out,
        "supportd_last_sync_timestamp_seconds",
        "gauge",
        "Unix time of the last full inbox sync (0 before the first).",
        st.last_sync
            .map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0),
    );
    INGEST_LATENCY.render(
        &mut out,
        "supportd_ingest_latency_seconds",
        "Time from a mail being seen in the inbox to its ticket being durable (fsynced).",
    );

    let _ = writeln!(
        out,
        "# HELP supportd_tickets Tickets in the store by status and priority.\n# TYPE supportd_tickets gauge"
    );
    for (si, s) in Status::ALL.iter().enumerate() {
        for (pi, p) in PRIORITIES.iter().enumerate() {
            let _ = writeln!(
                out,
                "supportd_tickets{{status=\"{s}\",priority=\"{p}\"}} {}",
                g.tickets[si][pi]
            );
        }
    }
    metric(
        &mut out,
        "supportd_quarantine_records",
        "gauge",
        "Quarantine records kept in the store.",
        g.quarantine,
    );
    metric(
        &mut out,
        "supportd_store_size_bytes",
        "gauge",
        "Bytes the store uses on disk.",
        g.store_bytes,
    );

    metric(
        &mut out,
        "supportd_outbox_depth",
        "gauge",
        "Outgoing mails waiting to be (re)tried.",
        g.outbox_depth,
    );
    metric(
        &mut out,
        "supportd_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest pending outgoing mail (0 when none).",
        g.outbox_oldest_age.unwrap_or(0.0),
    );
    let sent = sent.cloned().unwrap_or_default();
    metric(
        &mut out,
        "supportd_outbox_sent_total",
        "counter",
        "Mails accepted by the SMTP server since start.",
        sent.sent,
    );
    metric(
        &mut out,
        "supportd_outbox_failures_total",
        "counter",
        "Failed delivery attempts since start.",
        sent.failures,
    );
    metric(
        &mut out,
        "supportd_outbox_dead_total",
        "counter",
        "Mails given up on since start.",
        sent.dead,
    );

    let _ = writeln!(
        out,
        "# HELP supportd_escalations_total Tickets escalated since start, by level.\n# TYPE supportd_escalations_total counter"
    );
    for level in 1..=ESCALATION_LEVELS {
        let _ = writeln!(
            out,
            "supportd_escalations_total{{level=\"{level}\"}} {}",
            ESCALATIONS.get(level)
        );
    }
    out
}

// ---- server ------------------------------------------------------------------------------------

/// Binds the listener (at start-up, so a taken port stops the daemon instead of leaving it
/// without health checks).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on http.listen = {addr}"))
}

/// Serves `/healthz` and `/metrics` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "health and metrics listening");
    }
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (stream, peer) = match r {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let health = health.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let health = health.clone();
                        async move { Ok::<_, Infallible>(health.handle(req).await) }
                    });
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = conn.await {
                        debug!(error = %e, %peer, "http connection ended with an error");
                    }
                });
            }
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new();
        h.observe(0.003);
        h.observe(0.2);
        h.observe_n(1000.0, 2);
        h.observe(f64::NAN);
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.25\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"300\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("x_count 4\n"), "{out}");
        assert!(out.contains("x_sum 2000.203"), "{out}");
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn render_has_every_series_once() {
        let st = IngestStatus {
            connected: true,
            stored: 7,
            duplicates: 1,
            ..Default::default()
        };
        let mut g = StoreGauges::default();
        g.tickets[0][2] = 5;
        let text = render(&st, None, &g);
        assert!(text.contains("supportd_mails_stored_total 7\n"), "{text}");
        assert!(text.contains("supportd_imap_connected 1\n"), "{text}");
        assert!(
            text.contains("supportd_tickets{status=\"new\",priority=\"P3\"} 5\n"),
            "{text}"
        );
        assert!(
            text.contains("supportd_tickets{status=\"closed\",priority=\"P1\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("supportd_escalations_total{level=\"1\"} 0\n"));
        assert!(text.contains("supportd_outbox_sent_total 0\n"));
        // Every sample line belongs to a family declared by a TYPE line, and no family twice.
        let mut families = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(families.insert(name.to_owned()), "duplicate family {name}");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s).filter(|b| families.contains(*b)))
                    .unwrap_or(name);
                assert!(families.contains(base), "undeclared sample {line}");
            }
        }
    }

    #[test]
    fn probe_writes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        probe_dir(dir.path()).unwrap();
        assert!(!dir.path().join(PROBE_FILE).exists());
        assert!(probe_dir(&dir.path().join("missing")).is_err());
    }
}
