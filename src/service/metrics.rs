//! The daemon's counters since start and the Prometheus text of `/metrics`.
//!
//! Ingest, the outbox sender, the scheduler and the agent-proof check count here; `/metrics`,
//! `/healthz`, `supportd status` and the systemd `STATUS=` line read it. The process-wide counters
//! (latency histogram, escalations, impersonations) are statics because every task writes them
//! and none owns them; the per-task status structs are shared as `Arc<Mutex<…>>` by the task
//! that updates them.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::priority::Priority;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::io::store::Store;

/// Live counters about ingest, shown by `status` and health checks.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct IngestStatus {
    /// True while a session is logged in.
    pub(crate) connected: bool,
    /// When the inbox was last fully synced.
    pub(crate) last_sync: Option<DateTime<Utc>>,
    /// Mails stored since start.
    pub(crate) stored: u64,
    /// Re-deliveries recognised since start.
    pub(crate) duplicates: u64,
    /// Mails quarantined since start.
    pub(crate) quarantined: u64,
    /// Reconnects since start.
    pub(crate) reconnects: u64,
    /// Last connection error.
    pub(crate) last_error: Option<String>,
    /// While disconnected: the wait before the next login attempt (doubles per failure, up to
    /// 60 s).
    pub(crate) retry_in_secs: Option<u64>,
    /// Whether the server offered IDLE and we use it.
    pub(crate) idle: bool,
    /// Mails handled and stored whose MOVE out of the inbox kept failing (newest last).
    pub(crate) stuck: Vec<StuckMail>,
    /// Given-up parses (over `support.max_parse_cpu_ms`) whose thread still runs.
    pub(crate) abandoned_parses: usize,
    /// Where ingest's time went since start, so a slow backlog can be blamed on the server or
    /// on us (the benchmark's profile of end-to-end ingest reads it).
    pub(crate) phases: IngestPhases,
}

/// Wall time ingest spent in each step since start, in microseconds.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct IngestPhases {
    /// `UID FETCH <from>:* (UID FLAGS RFC822.SIZE)`: what is in the inbox.
    pub(crate) index_us: u64,
    /// The partial FETCH of each batch's headers.
    pub(crate) headers_us: u64,
    /// The batched FETCH of bodies.
    pub(crate) bodies_us: u64,
    /// Each mail's parse (on its own thread, under the CPU budget), waited for.
    pub(crate) parse_us: u64,
    /// The desk and staging of each mail themselves (on the blocking pool).
    pub(crate) desk_us: u64,
    /// Handling each mail, its parse and desk included: also the duplicate checks, the hops
    /// to the parser thread and the blocking pool, and fetching a body the batch left out.
    pub(crate) handle_us: u64,
    /// Writing the batch to the store and its fsync.
    pub(crate) sync_us: u64,
    /// MOVEs (or flags) out of the inbox.
    pub(crate) move_us: u64,
}

/// One of [`IngestPhases`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    Index,
    Headers,
    Bodies,
    Parse,
    Desk,
    Handle,
    Sync,
    Move,
}

impl IngestPhases {
    /// Adds the time since `since` to `phase`.
    pub(crate) fn add(&mut self, phase: Phase, since: std::time::Instant) {
        let us = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        let slot = match phase {
            Phase::Index => &mut self.index_us,
            Phase::Headers => &mut self.headers_us,
            Phase::Bodies => &mut self.bodies_us,
            Phase::Parse => &mut self.parse_us,
            Phase::Desk => &mut self.desk_us,
            Phase::Handle => &mut self.handle_us,
            Phase::Sync => &mut self.sync_us,
            Phase::Move => &mut self.move_us,
        };
        *slot = slot.saturating_add(us);
    }
}

/// A mail left in the inbox because the server refused to move it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct StuckMail {
    pub(crate) uid: u32,
    pub(crate) message_id: Option<String>,
    /// What failed and what was done about it.
    pub(crate) reason: String,
    pub(crate) at: DateTime<Utc>,
}

/// Counters about delivery, shown by `status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct SendStats {
    /// Mails accepted by the server since start.
    pub(crate) sent: u64,
    /// Failed attempts since start.
    pub(crate) failures: u64,
    /// Mails given up on since start.
    pub(crate) dead: u64,
    /// Longest time between a 250 and its fsynced "sent" mark: the window in which a crash
    /// would cause one re-send.
    pub(crate) max_resend_window_us: u64,
    /// Last delivery error.
    pub(crate) last_error: Option<String>,
    /// Outbox items waiting because `outbound.max_automatic_per_hour` was reached.
    pub(crate) held_by_cap: std::collections::BTreeSet<u64>,
}

/// Impersonation attempts seen since start: mail from an agent address without proof, handled as
/// a customer's mail (see [`crate::desk::agent`]).
pub(crate) static IMPERSONATIONS: AtomicU64 = AtomicU64::new(0);

/// Upper bounds (seconds) of the ingest latency buckets. IDLE adds about 0.5 s on Dovecot, a
/// batch fsync a few ms; polling adds up to `imap.poll_interval_secs`.
pub(crate) const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A fixed-bucket Prometheus histogram; `const`-constructible so it can be a `static`.
#[derive(Debug)]
pub(crate) struct Histogram {
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
    pub(crate) const fn new() -> Histogram {
        Histogram {
            inner: Mutex::new(HistogramInner {
                buckets: [0; LATENCY_BUCKETS.len() + 1],
                sum: 0.0,
                count: 0,
            }),
        }
    }

    #[cfg(test)]
    /// Records one observation of `seconds`.
    pub(crate) fn observe(&self, seconds: f64) {
        self.observe_n(seconds, 1);
    }

    /// Records `n` observations of the same value (a batch of mails made durable together).
    pub(crate) fn observe_n(&self, seconds: f64, n: u64) {
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

    #[cfg(test)]
    /// Number of observations so far.
    pub(crate) fn count(&self) -> u64 {
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
pub(crate) static INGEST_LATENCY: Histogram = Histogram::new();

/// Highest escalation level counted by [`ESCALATIONS`].
pub(crate) const ESCALATION_LEVELS: usize = 3;

/// Escalations by level (1-based), exported as `supportd_escalations_total{level}`.
#[derive(Debug)]
pub(crate) struct Escalations([AtomicU64; ESCALATION_LEVELS]);

impl Escalations {
    /// Counts one escalation to `level` (1..=[`ESCALATION_LEVELS`]; higher levels count as the
    /// highest).
    pub(crate) fn record(&self, level: usize) {
        let i = level.clamp(1, ESCALATION_LEVELS) - 1;
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the escalations `after` gained over the ticket it was, given as its number and
    /// how many escalations it had (`None`: a new ticket).
    pub(crate) fn record_new(&self, after: &Ticket, before: Option<(u64, usize)>) {
        let skip = match before {
            Some((id, n)) if id == after.id => n,
            _ => 0,
        };
        for e in after.escalations.iter().skip(skip) {
            self.record(e.level as usize);
            by_queue(&after.queue, |c| {
                c.escalations[(e.level as usize).clamp(1, ESCALATION_LEVELS) - 1] += 1
            });
        }
    }

    fn get(&self, level: usize) -> u64 {
        self.0[level - 1].load(Ordering::Relaxed)
    }
}

/// Escalation counters: the SLA scheduler, agents' `#escalate` and customers' requests.
pub(crate) static ESCALATIONS: Escalations =
    Escalations([const { AtomicU64::new(0) }; ESCALATION_LEVELS]);
/// What `/metrics` counts per queue since start, besides the tickets (which the store counts).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct QueueCounters {
    pub(crate) escalations: [u64; ESCALATION_LEVELS],
    pub(crate) sent: u64,
    pub(crate) failures: u64,
    pub(crate) dead: u64,
}

/// Per queue name as stored on the tickets (empty: the first queue). Bounded by the queues the
/// store's tickets name, not by mail.
static QUEUES: Mutex<std::collections::BTreeMap<String, QueueCounters>> =
    Mutex::new(std::collections::BTreeMap::new());

/// Counts something for the queue stored as `queue` on its ticket.
pub(crate) fn by_queue(queue: &str, count: impl FnOnce(&mut QueueCounters)) {
    let mut all = QUEUES.lock().unwrap_or_else(|e| e.into_inner());
    match all.get_mut(queue) {
        Some(c) => count(c),
        None => count(all.entry(queue.to_owned()).or_default()),
    }
}

/// The per-queue series of `/metrics`, labelled with the configured queue names: a ticket's
/// stored name (empty, or a queue no longer configured) is read as [`Config::queue`] reads it,
/// so a queue's series sum what belongs to it.
pub(crate) fn render_queues(out: &mut String, config: &Config, g: &StoreGauges) {
    use std::collections::BTreeMap;
    let name = |stored: &str| config.queue(stored).name.clone();
    let mut tickets: BTreeMap<String, [[u64; 4]; 5]> = config
        .queues
        .iter()
        .map(|q| (q.name.clone(), [[0; 4]; 5]))
        .collect();
    for (stored, counts) in &g.tickets_by_queue {
        let t = tickets.entry(name(stored)).or_default();
        for (row, add) in t.iter_mut().zip(counts) {
            for (v, a) in row.iter_mut().zip(add) {
                *v += a;
            }
        }
    }
    let mut counters: BTreeMap<String, QueueCounters> = config
        .queues
        .iter()
        .map(|q| (q.name.clone(), QueueCounters::default()))
        .collect();
    for (stored, c) in QUEUES.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        let t = counters.entry(name(stored)).or_default();
        for (v, a) in t.escalations.iter_mut().zip(c.escalations) {
            *v += a;
        }
        t.sent += c.sent;
        t.failures += c.failures;
        t.dead += c.dead;
    }
    let _ = writeln!(
        out,
        "# HELP supportd_queue_tickets Tickets in the store by queue, status and priority.\n# TYPE supportd_queue_tickets gauge"
    );
    for (q, counts) in &tickets {
        for (si, s) in Status::ALL.iter().enumerate() {
            for (pi, p) in Priority::ALL.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "supportd_queue_tickets{{queue=\"{}\",status=\"{s}\",priority=\"{p}\"}} {}",
                    label(q),
                    counts[si][pi]
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP supportd_queue_escalations_total Tickets escalated since start, by queue and level.\n# TYPE supportd_queue_escalations_total counter"
    );
    for (q, c) in &counters {
        for (i, n) in c.escalations.iter().enumerate() {
            let _ = writeln!(
                out,
                "supportd_queue_escalations_total{{queue=\"{}\",level=\"{}\"}} {n}",
                label(q),
                i + 1
            );
        }
    }
    type Series = (&'static str, &'static str, fn(&QueueCounters) -> u64);
    let series: [Series; 3] = [
        (
            "supportd_queue_outbox_sent_total",
            "Mails of the queue's tickets accepted by the SMTP server since start.",
            |c| c.sent,
        ),
        (
            "supportd_queue_outbox_failures_total",
            "Failed delivery attempts of the queue's mails since start.",
            |c| c.failures,
        ),
        (
            "supportd_queue_outbox_dead_total",
            "Mails of the queue's tickets given up on since start.",
            |c| c.dead,
        ),
    ];
    for (metric, help, value) in series {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for (q, c) in &counters {
            let _ = writeln!(out, "{metric}{{queue=\"{}\"}} {}", label(q), value(c));
        }
    }
}

/// Gauges computed from the store at scrape time.
#[derive(Debug, Default, Clone)]
pub(crate) struct StoreGauges {
    /// Tickets per (status, priority), indexed like [`Status::ALL`] × P1..P4.
    pub(crate) tickets: [[u64; 4]; 5],
    /// The same per queue name as stored on the tickets.
    pub(crate) tickets_by_queue: Vec<(String, [[u64; 4]; 5])>,
    /// Quarantine records kept.
    pub(crate) quarantine: u64,
    /// Pending outbox items.
    pub(crate) outbox_depth: u64,
    /// Age of the oldest pending outbox item, seconds.
    pub(crate) outbox_oldest_age: Option<f64>,
    /// Bytes the store uses on disk.
    pub(crate) store_bytes: u64,
}

impl StoreGauges {
    /// Reads the store's counters and the outbox queue (blocking).
    pub(crate) fn read(store: &Store) -> Result<StoreGauges> {
        let (depth, oldest) = store.outbox_depth().context("cannot read the outbox")?;
        Ok(StoreGauges {
            tickets: store.census(),
            tickets_by_queue: store.census_by_queue(),
            quarantine: store.quarantine_count() as u64,
            outbox_depth: depth as u64,
            outbox_oldest_age: oldest.map(|t| age_secs(Utc::now() - t)),
            store_bytes: store.size_on_disk(),
        })
    }
}

/// A time difference in seconds with millisecond precision, never negative (clocks can step).
pub(crate) fn age_secs(d: chrono::TimeDelta) -> f64 {
    (d.num_milliseconds().max(0) as f64) / 1000.0
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// A label value in the text format: `\`, `"` and newlines escaped.
pub(crate) fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The Prometheus text exposition of the daemon's counters and gauges.
pub(crate) fn render(st: &IngestStatus, sent: Option<&SendStats>, g: &StoreGauges) -> String {
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
        IMPERSONATIONS.load(Ordering::Relaxed),
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
        for (pi, p) in Priority::ALL.iter().enumerate() {
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
    fn queue_series_sum_what_belongs_to_each_configured_queue() {
        let config = crate::config::sample::scratch(
            std::path::Path::new("/nonexistent"),
            "[[agents]]\nname = \"bob\"\naddresses = [\"bob@example.com\"]\n\
             [[queues]]\nname = \"support\"\naddresses = [\"support@example.com\"]\nagents = [\"bob\"]\n\
             [[queues]]\nname = \"billing\"\naddresses = [\"billing@example.com\"]\nagents = [\"bob\"]\n",
        )
        .unwrap();
        let mut first = [[0; 4]; 5];
        first[0][2] = 2;
        let mut billing = [[0; 4]; 5];
        billing[0][2] = 1;
        let mut gone = [[0; 4]; 5];
        gone[0][2] = 4;
        let g = StoreGauges {
            // "" is the first queue; a queue no longer configured counts as the first too.
            tickets_by_queue: vec![
                (String::new(), first),
                ("billing".into(), billing),
                ("removed".into(), gone),
            ],
            ..StoreGauges::default()
        };
        by_queue("billing", |c| c.sent += 3);
        let mut out = String::new();
        render_queues(&mut out, &config, &g);
        assert!(
            out.contains(
                "supportd_queue_tickets{queue=\"support\",status=\"new\",priority=\"P3\"} 6\n"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "supportd_queue_tickets{queue=\"billing\",status=\"new\",priority=\"P3\"} 1\n"
            ),
            "{out}"
        );
        assert!(!out.contains("removed"), "{out}");
        assert!(
            out.contains("supportd_queue_outbox_sent_total{queue=\"billing\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("supportd_queue_escalations_total{queue=\"support\",level=\"1\"} 0\n"),
            "{out}"
        );
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
}
