//! `supportd bench`: throughput and latency figures against the configured IMAP server.
//!
//! ```text
//! supportd --config /etc/supportd/supportd.toml bench [--mails 10000] [--latency-mails 200]
//! cargo run --release --example bench -- --mails 10000     # against a private test Dovecot
//! ```
//!
//! It prints figures and asserts nothing about speed. What it measures, in order:
//!
//! 1. generates `--mails` realistic mails in memory (deterministic for a given `--seed`): about
//!    60 % new tickets and 40 % replies (`In-Reply-To`/`References` an earlier mail, `Re:`
//!    subject, quoted history), 30 % Chinese (half GBK, half UTF-8), some multipart/alternative,
//!    some HTML-only, a few with a small base64 attachment;
//! 2. APPENDs them over one connection;
//! 3. (a) FETCHes them back the way ingest does (an index FETCH, then sizes and headers, then
//!    bodies, one FETCH per batch of 64) and, for comparison, one body FETCH per mail (ingest's
//!    fallback after a failed batch) and one bulk `UID FETCH 1:* BODY.PEEK[]`;
//! 4. (b) runs the real [`Ingest`] loop until the inbox is empty and every mail is in the
//!    processed mailbox (appended → durable ticket → moved);
//! 5. (c) with ingest idling, APPENDs `--latency-mails` more mails one at a time and measures
//!    APPEND completion → batch fsynced ([`Ingest::on_durable`]);
//! 6. (d) runs the core step ([`intake::ingest_raw_with`]: parse, thread, store) over the same
//!    mails without IMAP into a fresh store, fsyncing every 64 mails like production batches,
//!    plus a parse-only pass;
//! 7. (e) peak RSS per phase (`VmHWM`, reset between phases through `/proc/self/clear_refs`) and
//!    the store's size.
//!
//! It never touches the operator's mailboxes or store: it works in scratch mailboxes
//! `supportd-bench-<unix time>-{inbox,processed,quarantine}` and temporary stores under
//! `--tmp-dir` (default: the system temp dir), all removed at the end, also after an error or
//! Ctrl-C. `[smtp]` is dropped from its configuration, so no mail is ever sent; with `[outbound]`
//! configured, acknowledgements are still rendered and queued into the temporary store, as in
//! production. The server needs room for the generated mails (about 25 MB for 10,000). Scratch
//! mailboxes are created at the top level: a server that only allows folders below `INBOX.`
//! refuses them, and the benchmark stops before it has done anything.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::{DateTime, FixedOffset, Utc};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::config::sections::Security;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::io::imap::{Imap, timed};
use crate::io::store::Store;
use crate::mail::parse;
use crate::service::ingest::Ingest;
use crate::service::intake::{self, Outcome};
use crate::service::metrics::IngestStatus;
use crate::service::shutdown::Trigger;

/// Mails per fsync in the core run, as ingest batches them.
const BATCH: usize = 64;
/// Give up when the processed mailbox has not grown for this long.
const STALL: Duration = Duration::from_secs(60);
/// How often the mailbox counts are polled during the end-to-end run.
const POLL: Duration = Duration::from_millis(50);

/// Benchmark options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Number of mails to append, fetch and ingest.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) mails: usize,
    /// Further mails appended one at a time, while ingest idles, for the latency figures (0 skips
    /// the latency run).
    #[arg(long, default_value_t = 200)]
    pub(crate) latency_mails: usize,
    /// Milliseconds between two latency mails.
    #[arg(long, default_value_t = 30)]
    pub(crate) latency_gap_ms: u64,
    /// Seed of the mail generator: the same seed gives the same mails.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Directory for the temporary stores (default: the system temp dir). fsync speed dominates
    /// ingest, so put it on the file system the real store lives on.
    #[arg(long)]
    pub(crate) tmp_dir: Option<PathBuf>,
}

/// Runs the benchmark and prints its report (a markdown table) on stdout; progress goes to
/// stderr.
pub async fn run(config: Config, args: Args) -> Result<()> {
    if args.mails == 0 {
        bail!("--mails must be at least 1");
    }
    init_logging();
    let prefix = format!("supportd-bench-{}", Utc::now().timestamp());
    let work = args
        .tmp_dir
        .clone()
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut cfg = config;
    cfg.imap.mailbox = format!("{prefix}-inbox");
    cfg.imap.processed_mailbox = format!("{prefix}-processed");
    cfg.imap.quarantine_mailbox = format!("{prefix}-quarantine");
    cfg.imap.idle = true;
    cfg.store.path = work.join("ingest");
    cfg.control.socket = Some(work.join("control.sock"));
    // No SMTP relay: nothing the benchmark does can send mail.
    cfg.smtp = None;

    let mut report = Report::default();
    let mut running = Running::default();
    let outcome = tokio::select! {
        r = phases(&cfg, &args, &work, &mut running, &mut report) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    eprintln!("bench: cleaning up");
    let problems = cleanup(&cfg, &work, &mut running).await;
    if problems.is_empty() {
        report.notes.push(format!(
            "Scratch mailboxes `{prefix}-*` and the temporary stores were removed."
        ));
    }
    print!("{}", report.render());
    for p in &problems {
        eprintln!("bench: cleanup: {p}");
    }
    outcome?;
    if !problems.is_empty() {
        bail!("cleanup incomplete (see above)");
    }
    Ok(())
}

/// Ingest's log goes to stderr at `warn` unless `RUST_LOG` says otherwise (per-mail `info`
/// lines would drown the report). No-op when the caller already installed a subscriber.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn phases(
    cfg: &Config,
    args: &Args,
    work: &Path,
    running: &mut Running,
    report: &mut Report,
) -> Result<()> {
    let n = args.mails;
    let inbox = cfg.imap.mailbox.as_str();
    report.facts(cfg, work);

    // 1. Generate.
    let peak = Peak::start();
    let t = Instant::now();
    let mut generator = Generator::new(args.seed, &cfg.support.address, n + args.latency_mails);
    let mails = generator.take(n);
    let took = t.elapsed();
    let bytes: usize = mails.iter().map(|m| m.raw.len()).sum();
    report.mix = Some((generator.mix.clone(), bytes, args.seed));
    report.held_bytes = bytes;
    report.row(
        "",
        "generate the mails in memory",
        format!("{} mails, {} in {}", group(n), mib(bytes), secs(took)),
        peak.end(),
    );

    // 2. APPEND.
    eprintln!(
        "bench: appending {} mails ({}) to {inbox} on {}:{}",
        group(n),
        mib(bytes),
        cfg.imap.host,
        cfg.imap_port()
    );
    let peak = Peak::start();
    let mut imap = Imap::connect(cfg)
        .await
        .context("cannot connect to the IMAP server")?;
    report.caps = Some(imap.caps);
    let idle = imap.caps.idle;
    for mailbox in [
        inbox,
        &cfg.imap.processed_mailbox,
        &cfg.imap.quarantine_mailbox,
    ] {
        imap.ensure_mailbox(mailbox).await?;
    }
    let t = Instant::now();
    for m in &mails {
        imap.append(inbox, &m.raw).await?;
    }
    let took = t.elapsed();
    report.row(
        "",
        "APPEND, one connection, one command per mail",
        rate(n, bytes, took),
        peak.end(),
    );

    // 3. (a) FETCH.
    eprintln!("bench: (a) fetching them back");
    let peak = Peak::start();
    let sel = imap.select(inbox).await?;
    if sel.exists as usize != n {
        bail!("{inbox} holds {} mails, expected {n}", sel.exists);
    }
    let t = Instant::now();
    let metas = imap.fetch_meta(1).await?;
    let took_meta = t.elapsed();
    let header_bytes: usize = metas.iter().map(|m| m.header.len()).sum();
    let t = Instant::now();
    let mut batch_bytes = 0;
    for chunk in metas.chunks(64) {
        let uids: Vec<u32> = chunk.iter().map(|m| m.uid).collect();
        let bodies = imap.fetch_bodies(&uids).await?;
        if bodies.len() != uids.len() {
            bail!(
                "a batch of {inbox} came back with {} of {} mails",
                bodies.len(),
                uids.len()
            );
        }
        batch_bytes += bodies.values().map(Vec::len).sum::<usize>();
    }
    let took_batches = t.elapsed();
    let t = Instant::now();
    let mut body_bytes = 0;
    for meta in &metas {
        let body = imap
            .fetch_body(meta.uid)
            .await?
            .ok_or_else(|| anyhow!("UID {} vanished from {inbox}", meta.uid))?;
        body_bytes += body.len();
    }
    let took_bodies = t.elapsed();
    let fetched = metas.len();
    drop(metas);
    // This session has the inbox selected; better not let it collect the expunges ingest causes.
    imap.logout().await;
    let a_row = report.row(
        "a",
        "FETCH index `(UID FLAGS)`, then `(UID RFC822.SIZE BODY.PEEK[HEADER])` per 256",
        rate(fetched, header_bytes, took_meta),
        None,
    );
    report.row(
        "a",
        "FETCH bodies: one `UID FETCH <64 uids> BODY.PEEK[]` per batch (as ingest does)",
        rate(fetched, batch_bytes, took_batches),
        None,
    );
    report.row(
        "a",
        "FETCH bodies: one `UID FETCH <uid> BODY.PEEK[]` per mail (fallback after a failed batch)",
        rate(fetched, body_bytes, took_bodies),
        None,
    );
    let mut admin = raw_session(cfg).await?;
    let (bulk_n, bulk_bytes, took_bulk) = bulk_fetch(&mut admin, inbox).await?;
    report.row(
        "a",
        "FETCH bodies: one bulk `UID FETCH 1:* BODY.PEEK[]`",
        rate(bulk_n, bulk_bytes, took_bulk),
        None,
    );
    report.rows[a_row].3 = peak.end();

    // 4. (b) End to end.
    eprintln!("bench: (b) ingesting them");
    let peak = Peak::start();
    let store = Store::open(&cfg.store.path)
        .with_context(|| format!("cannot open store {}", cfg.store.path.display()))?;
    let mut ing = Ingest::new(Arc::new(cfg.clone()), store.clone())?;
    let status = ing.status.clone();
    let durable = Durable::default();
    let (tx, rx) = mpsc::unbounded_channel();
    ing.on_durable(tx);
    tokio::spawn(durable.clone().collect(rx));
    let (stop_tx, stop_rx) = Trigger::new();
    let t0 = Instant::now();
    running.ingest = Some((stop_tx, tokio::spawn(ing.run(stop_rx))));
    let counts = wait_moved(&mut admin, cfg, n, running, &status).await?;
    let moved = t0.elapsed();
    let ids: Vec<&str> = mails.iter().map(|m| m.id.as_str()).collect();
    let (first, last) = durable.span(&ids);
    let durable_note = match (first, last) {
        (Some(f), Some(l)) => format!(
            "; first batch durable after {}, all durable after {}",
            secs(f.duration_since(t0)),
            secs(l.duration_since(t0))
        ),
        _ => String::new(),
    };
    report.row(
        "b",
        "end-to-end ingest: appended → durable ticket → moved (batches of 64)",
        format!("{}{durable_note}", rate(n, bytes, moved)),
        peak.end(),
    );
    if counts.quarantine > 0 {
        report.notes.push(format!(
            "(b) {} of {} mails were quarantined instead of stored.",
            counts.quarantine, n
        ));
    }

    // 5. (c) Latency with IDLE.
    let mut total = n;
    if args.latency_mails > 0 {
        let m = args.latency_mails;
        let gap = Duration::from_millis(args.latency_gap_ms);
        eprintln!(
            "bench: (c) appending {m} mails {}ms apart while ingest idles",
            args.latency_gap_ms
        );
        let peak = Peak::start();
        let extra = generator.take(m);
        // Let ingest finish its last pass and enter IDLE.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut imap = Imap::connect(cfg).await?;
        let start = tokio::time::Instant::now();
        let mut appended = Vec::with_capacity(m);
        let mut append_times = Vec::with_capacity(m);
        for (i, mail) in extra.iter().enumerate() {
            tokio::time::sleep_until(start + gap * i as u32).await;
            let s = Instant::now();
            imap.append(inbox, &mail.raw).await?;
            let done = Instant::now();
            appended.push((mail.id.as_str(), done));
            append_times.push(done - s);
        }
        let sent_for = start.elapsed();
        imap.logout().await;
        let ids: Vec<&str> = extra.iter().map(|m| m.id.as_str()).collect();
        // Without IDLE, ingest only looks every poll interval.
        let deadline = Instant::now() + STALL + Duration::from_secs(cfg.imap.poll_interval_secs);
        while !durable.all(&ids) {
            if Instant::now() > deadline {
                bail!(
                    "latency mails not durable after {}s: {}",
                    STALL.as_secs(),
                    ingest_state(&status)
                );
            }
            check_alive(running).await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut lat: Vec<Duration> = appended
            .iter()
            .map(|(id, done)| durable.at(id).unwrap().saturating_duration_since(*done))
            .collect();
        lat.sort();
        append_times.sort();
        let c_row = report.row(
            "c",
            &format!(
                "arrival → durable with {}: {m} mails appended one at a time, {}ms apart",
                if idle {
                    "IDLE".to_owned()
                } else {
                    format!(
                        "polling every {} s (the server offers no IDLE)",
                        cfg.imap.poll_interval_secs
                    )
                },
                args.latency_gap_ms
            ),
            format!(
                "p50 {} · p90 {} · p99 {} · max {} (min {})",
                ms(pct(&lat, 50.0)),
                ms(pct(&lat, 90.0)),
                ms(pct(&lat, 99.0)),
                ms(*lat.last().unwrap()),
                ms(lat[0]),
            ),
            None,
        );
        report.notes.push(format!(
            "(c) is measured from the APPEND's OK (p50 {} itself; all {m} sent in {}) to the \
             moment the batch holding the mail is fsynced. Dovecot tells an idling client about \
             new mail only after a fixed ~0.5 s delay, so a mail that finds ingest idle waits \
             about that long, and the mails arriving meanwhile share its batch; a mail that \
             arrives while ingest is busy is picked up by its next pass without that delay.",
            ms(pct(&append_times, 50.0)),
            secs(sent_for)
        ));
        total += m;
        wait_moved(&mut admin, cfg, total, running, &status).await?;
        report.rows[c_row].3 = peak.end();
    }
    admin.logout().await;

    eprintln!("bench: stopping ingest");
    let took = running.stop().await?;
    let tickets = store.ticket_count();
    let messages = store.message_count();
    let sled_bytes = store.size_on_disk();
    drop(store);
    let dir_bytes = dir_size(&cfg.store.path);
    report.notes.push(format!(
        "Ingest stopped cleanly {} after shutdown was signalled; its store holds {} tickets and \
         {} messages.",
        ms(took),
        group(tickets),
        group(messages)
    ));

    // 6. (d) Core without IMAP.
    eprintln!("bench: (d) parse + thread + store without IMAP");
    let peak = Peak::start();
    let core_cfg = cfg.clone();
    let core_path = work.join("core");
    let (mails, core) = tokio::task::spawn_blocking(move || {
        let r = core_run(&core_cfg, &mails, &core_path);
        (mails, r)
    })
    .await
    .context("core benchmark panicked")?;
    let core = core?;
    let core_peak = peak.end();
    report.row(
        "d",
        "core: parse + thread + store, no IMAP, fsync every 64 mails",
        format!(
            "{}; {} of it in {} fsyncs ({} each)",
            rate(n, bytes, core.total),
            secs(core.sync),
            group(core.syncs),
            ms(core.sync / core.syncs.max(1) as u32)
        ),
        core_peak,
    );
    report.row(
        "d",
        "parse only (`parse::parse`)",
        rate(n, bytes, core.parse),
        None,
    );
    if core.parse_errors > 0 || core.quarantined > 0 || core.duplicates > 0 {
        report.notes.push(format!(
            "(d) {} parse errors, {} quarantined, {} duplicates.",
            core.parse_errors, core.quarantined, core.duplicates
        ));
    }
    report.notes.push(format!(
        "(d) threading: {} mails opened {} tickets and {} joined one (the generator wrote {} new \
         tickets and {} replies).",
        group(n),
        group(core.created),
        group(core.joined),
        group(generator.mix.new_tickets_in(&mails)),
        group(n - generator.mix.new_tickets_in(&mails)),
    ));

    // 7. (e) Memory and disk.
    report.row(
        "e",
        "peak RSS of the whole run (`VmHWM`)",
        match report.peak_overall() {
            Some(kib) => format!(
                "{} (of which {} are the generated mails the benchmark holds)",
                mib(kib as usize * 1024),
                mib(report.held_bytes)
            ),
            None => "unavailable (no /proc/self/status)".into(),
        },
        None,
    );
    report.row(
        "e",
        &format!("store after (b)+(c): {} mails", group(total)),
        format!(
            "{} on disk ({} per mail); sled reports {}",
            mib(dir_bytes as usize),
            kib(dir_bytes as usize / total.max(1)),
            mib(sled_bytes as usize),
        ),
        None,
    );
    report.row(
        "e",
        &format!("store after (d): {} mails", group(n)),
        format!(
            "{} on disk ({} per mail); raw mail is {} per mail",
            mib(core.dir_bytes as usize),
            kib(core.dir_bytes as usize / n),
            kib(bytes / n),
        ),
        None,
    );
    drop(mails);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ingest task, counts, cleanup
// ---------------------------------------------------------------------------------------------

/// The ingest task while it runs, so cleanup can stop it whatever happened.
#[derive(Default)]
struct Running {
    ingest: Option<(Trigger, JoinHandle<Result<()>>)>,
}

impl Running {
    /// Signals shutdown and waits for ingest; returns how long it took to stop.
    async fn stop(&mut self) -> Result<Duration> {
        let Some((tx, mut handle)) = self.ingest.take() else {
            return Ok(Duration::ZERO);
        };
        let t = Instant::now();
        tx.fire();
        match tokio::time::timeout(Duration::from_secs(30), &mut handle).await {
            Ok(Ok(Ok(()))) => Ok(t.elapsed()),
            Ok(Ok(Err(e))) => Err(e.context("ingest failed")),
            Ok(Err(e)) => Err(anyhow!("ingest task panicked: {e}")),
            Err(_) => {
                handle.abort();
                Err(anyhow!("ingest did not stop within 30 s of shutdown"))
            }
        }
    }
}

/// Fails when the ingest task ended on its own (it only ends on shutdown or a fatal error).
async fn check_alive(running: &mut Running) -> Result<()> {
    if running
        .ingest
        .as_ref()
        .is_some_and(|(_, h)| h.is_finished())
    {
        running.stop().await?;
        bail!("ingest stopped on its own");
    }
    Ok(())
}

fn ingest_state(status: &Mutex<IngestStatus>) -> String {
    let st = status.lock().unwrap();
    format!(
        "ingest stored {}, quarantined {}, duplicates {}, reconnects {}, last error {}",
        st.stored,
        st.quarantined,
        st.duplicates,
        st.reconnects,
        st.last_error.as_deref().unwrap_or("none")
    )
}

#[derive(Debug, Clone, Copy)]
struct Counts {
    inbox: usize,
    processed: usize,
    quarantine: usize,
}

async fn counts(s: &mut RawSession, cfg: &Config) -> Result<Counts> {
    Ok(Counts {
        inbox: status_messages(s, cfg, &cfg.imap.mailbox).await?,
        processed: status_messages(s, cfg, &cfg.imap.processed_mailbox).await?,
        quarantine: status_messages(s, cfg, &cfg.imap.quarantine_mailbox).await?,
    })
}

/// Polls until the inbox is empty and `n` mails have left it; fails when ingest dies or stalls.
async fn wait_moved(
    s: &mut RawSession,
    cfg: &Config,
    n: usize,
    running: &mut Running,
    status: &Mutex<IngestStatus>,
) -> Result<Counts> {
    let mut progress = (usize::MAX, Instant::now());
    loop {
        tokio::time::sleep(POLL).await;
        check_alive(running)
            .await
            .with_context(|| ingest_state(status))?;
        let c = counts(s, cfg).await?;
        let out = c.processed + c.quarantine;
        if c.inbox == 0 && out >= n {
            return Ok(c);
        }
        if out != progress.0 {
            progress = (out, Instant::now());
        } else if progress.1.elapsed() > STALL {
            bail!(
                "no progress for {}s: inbox {}, processed {}, quarantine {}; {}",
                STALL.as_secs(),
                c.inbox,
                c.processed,
                c.quarantine,
                ingest_state(status)
            );
        }
    }
}

/// Stops ingest, deletes the scratch mailboxes and the temporary directory; returns what could
/// not be cleaned up.
async fn cleanup(cfg: &Config, work: &Path, running: &mut Running) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = running.stop().await {
        problems.push(format!("{e:#}"));
    }
    let mailboxes = [
        &cfg.imap.mailbox,
        &cfg.imap.processed_mailbox,
        &cfg.imap.quarantine_mailbox,
    ];
    match raw_session(cfg).await {
        Ok(mut s) => {
            let limit = Duration::from_secs(cfg.imap.timeout_secs);
            for mailbox in mailboxes {
                // Absent when the run failed before creating it.
                if status_messages(&mut s, cfg, mailbox).await.is_err() {
                    continue;
                }
                if let Err(e) = timed(limit, "DELETE", s.session_mut().delete(mailbox)).await {
                    problems.push(format!("cannot delete mailbox {mailbox}: {e:#}"));
                }
            }
            s.logout().await;
        }
        Err(e) => problems.push(format!(
            "cannot connect to delete the mailboxes {}: {e:#}",
            mailboxes.map(|m| m.as_str()).join(", ")
        )),
    }
    if let Err(e) = std::fs::remove_dir_all(work) {
        problems.push(format!("cannot remove {}: {e}", work.display()));
    }
    problems
}

/// When each Message-ID became durable, as reported by [`Ingest::on_durable`].
#[derive(Clone, Default)]
struct Durable(Arc<Mutex<HashMap<String, Instant>>>);

impl Durable {
    async fn collect(self, mut rx: mpsc::UnboundedReceiver<Vec<String>>) {
        while let Some(ids) = rx.recv().await {
            let now = Instant::now();
            let mut map = self.0.lock().unwrap();
            for id in ids {
                map.entry(id).or_insert(now);
            }
        }
    }

    fn at(&self, id: &str) -> Option<Instant> {
        self.0.lock().unwrap().get(id).copied()
    }

    fn all(&self, ids: &[&str]) -> bool {
        let map = self.0.lock().unwrap();
        ids.iter().all(|id| map.contains_key(*id))
    }

    /// Earliest and latest durable instant among `ids` (latest only when all are durable).
    fn span(&self, ids: &[&str]) -> (Option<Instant>, Option<Instant>) {
        let map = self.0.lock().unwrap();
        let times: Vec<Option<Instant>> = ids.iter().map(|id| map.get(*id).copied()).collect();
        let first = times.iter().flatten().min().copied();
        let last = if times.iter().all(Option::is_some) {
            times.iter().flatten().max().copied()
        } else {
            None
        };
        (first, last)
    }
}

// ---------------------------------------------------------------------------------------------
// (d) The core step
// ---------------------------------------------------------------------------------------------

struct Core {
    parse: Duration,
    parse_errors: usize,
    total: Duration,
    sync: Duration,
    syncs: usize,
    created: usize,
    joined: usize,
    duplicates: usize,
    quarantined: usize,
    dir_bytes: u64,
}

fn core_run(cfg: &Config, mails: &[Mail], path: &Path) -> Result<Core> {
    let t = Instant::now();
    let parse_errors = mails
        .iter()
        .filter(|m| parse::parse(&m.raw).is_err())
        .count();
    let parse = t.elapsed();

    let directory = match &cfg.support.customer_directory {
        Some(p) => Directory::load(p)?,
        None => Directory::default(),
    };
    let templates = match &cfg.outbound {
        Some(out) => Some(Templates::load(out.templates_dir.as_deref())?),
        None => None,
    };
    let store = Store::open(path)?;
    let mut core = Core {
        parse,
        parse_errors,
        total: Duration::ZERO,
        sync: Duration::ZERO,
        syncs: 0,
        created: 0,
        joined: 0,
        duplicates: 0,
        quarantined: 0,
        dir_bytes: 0,
    };
    let t = Instant::now();
    for (i, m) in mails.iter().enumerate() {
        let outcome = intake::ingest_raw_with(
            cfg,
            &store,
            &directory,
            templates.as_ref(),
            &m.raw,
            None,
            Utc::now(),
        )?;
        match outcome {
            Outcome::Stored { created: true, .. } => core.created += 1,
            Outcome::Stored { created: false, .. } => core.joined += 1,
            Outcome::Duplicate { .. } => core.duplicates += 1,
            Outcome::Quarantined { .. } => core.quarantined += 1,
        }
        if (i + 1).is_multiple_of(BATCH) || i + 1 == mails.len() {
            let s = Instant::now();
            store.sync_blocking()?;
            core.sync += s.elapsed();
            core.syncs += 1;
        }
    }
    core.total = t.elapsed();
    drop(store);
    core.dir_bytes = dir_size(path);
    Ok(core)
}

/// Bytes of all files under `path`.
fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// A second, raw IMAP session (STATUS, DELETE, bulk FETCH)
// ---------------------------------------------------------------------------------------------

type RawSession = Imap;

/// A second session for the benchmark's own bookkeeping (STATUS, DELETE, bulk FETCH).
async fn raw_session(config: &Config) -> Result<RawSession> {
    Imap::connect(config).await
}

async fn status_messages(s: &mut RawSession, cfg: &Config, mailbox: &str) -> Result<usize> {
    let limit = Duration::from_secs(cfg.imap.timeout_secs);
    let m = timed(
        limit,
        "STATUS",
        s.session_mut().status(mailbox, "(MESSAGES)"),
    )
    .await?;
    Ok(m.exists as usize)
}

/// `UID FETCH 1:* BODY.PEEK[]` streamed: (mails, bytes, time).
async fn bulk_fetch(s: &mut RawSession, mailbox: &str) -> Result<(usize, usize, Duration)> {
    let limit = Duration::from_secs(600);
    timed(limit, "EXAMINE", s.session_mut().examine(mailbox)).await?;
    let t = Instant::now();
    let (n, bytes) = timed(limit, "FETCH bodies", async {
        let mut stream = s
            .session_mut()
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await?;
        let (mut n, mut bytes) = (0, 0);
        while let Some(f) = stream.try_next().await? {
            if let Some(b) = f.body() {
                n += 1;
                bytes += b.len();
            }
        }
        Ok::<_, async_imap::error::Error>((n, bytes))
    })
    .await?;
    let took = t.elapsed();
    timed(limit, "CLOSE", s.session_mut().close()).await?;
    Ok((n, bytes, took))
}

// ---------------------------------------------------------------------------------------------
// Peak RSS
// ---------------------------------------------------------------------------------------------

/// KiB, and whether the peak was reset at the start of the phase.
type PeakRss = Option<(u64, bool)>;

/// Peak RSS of one phase: `VmHWM` after resetting it (Linux ≥ 4.0, `clear_refs` value 5).
struct Peak {
    reset: bool,
}

impl Peak {
    fn start() -> Peak {
        Peak {
            reset: std::fs::write("/proc/self/clear_refs", "5").is_ok(),
        }
    }

    /// KiB; cumulative since process start when the reset was not possible.
    fn end(self) -> PeakRss {
        proc_status_kib("VmHWM").map(|k| (k, self.reset))
    }
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    facts: Vec<String>,
    caps: Option<crate::io::imap::Caps>,
    mix: Option<(Mix, usize, u64)>,
    held_bytes: usize,
    /// (phase key, what, result, peak RSS).
    rows: Vec<(&'static str, String, String, PeakRss)>,
    notes: Vec<String>,
}

impl Report {
    fn facts(&mut self, cfg: &Config, work: &Path) {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let mem = proc_meminfo_kib("MemTotal").map_or_else(
            || "? RAM".into(),
            |k| format!("{:.1} GiB RAM", k as f64 / 1024.0 / 1024.0),
        );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
            |_| std::env::consts::OS.into(),
            |k| format!("Linux {}", k.trim()),
        );
        let profile = if cfg!(debug_assertions) {
            "debug (unoptimised: use --release for real figures)"
        } else {
            "release"
        };
        // Other work on the machine skews every figure; say how busy it was.
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .map_or_else(String::new, |l| format!(", load average {l} at start"));
        self.facts.push(format!(
            "machine: {cpus} CPUs ({model}), {mem}, {kernel}{load}; supportd {} {profile} build",
            env!("CARGO_PKG_VERSION")
        ));
        self.facts.push(format!(
            "IMAP server: {}:{} ({})",
            cfg.imap.host,
            cfg.imap_port(),
            match cfg.imap.security {
                Security::Tls => "TLS",
                Security::Starttls => "STARTTLS",
                Security::Plain => "plain, no TLS",
            }
        ));
        self.facts.push(format!(
            "temporary stores: {} on {}",
            work.display(),
            fs_type(work)
        ));
    }

    /// Adds a row; returns its index so the phase's peak RSS can be filled in later.
    fn row(&mut self, key: &'static str, what: &str, result: String, rss: PeakRss) -> usize {
        self.rows.push((key, what.to_owned(), result, rss));
        self.rows.len() - 1
    }

    fn peak_overall(&self) -> Option<u64> {
        self.rows.iter().filter_map(|r| r.3).map(|(k, _)| k).max()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n## supportd bench\n");
        let mut facts = self.facts.clone();
        if let Some(c) = self.caps
            && let Some(f) = facts.get_mut(1)
        {
            let _ = write!(
                f,
                ", IDLE {}, MOVE {}, UIDPLUS {}",
                yes(c.idle),
                yes(c.mv),
                yes(c.uidplus)
            );
        }
        if let Some((mix, bytes, seed)) = &self.mix {
            facts.push(format!(
                "mails: {} ({}, avg {}, seed {seed}): {} new tickets, {} replies; {} Chinese \
                 ({} GBK, {} UTF-8); {} multipart/alternative, {} HTML-only, {} with an attachment",
                group(mix.total),
                mib(*bytes),
                kib(bytes / mix.total.max(1)),
                group(mix.new),
                group(mix.replies),
                group(mix.gbk + mix.zh_utf8),
                group(mix.gbk),
                group(mix.zh_utf8),
                group(mix.alternative),
                group(mix.html_only),
                group(mix.attachments),
            ));
        }
        for f in &facts {
            let _ = writeln!(out, "- {f}");
        }
        let cumulative = self.rows.iter().any(|r| matches!(r.3, Some((_, false))));
        let _ = writeln!(out, "\n| | measurement | result | peak RSS |");
        let _ = writeln!(out, "|---|---|---|---|");
        for (key, what, result, rss) in &self.rows {
            let rss = rss.map_or_else(String::new, |(k, _)| mib(k as usize * 1024));
            let _ = writeln!(out, "| {key} | {what} | {result} | {rss} |");
        }
        let _ = writeln!(out);
        if self.rows.iter().any(|r| r.3.is_some()) {
            let _ = writeln!(
                out,
                "- Peak RSS (`VmHWM`) is reset at the start of each phase, so a figure covers its \
                 row and the rows below it without one. The benchmark process holds the \
                 generated mails ({}) throughout.{}",
                mib(self.held_bytes),
                if cumulative {
                    " /proc/self/clear_refs was not writable: the figures are cumulative."
                } else {
                    ""
                }
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "- {n}");
        }
        out
    }
}

fn proc_meminfo_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Name of the file system holding `path` (fsync costs nothing on tmpfs).
fn fs_type(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "?".into();
    };
    // SAFETY: statfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "?".into();
    }
    #[allow(clippy::unnecessary_cast)]
    match st.f_type as i64 {
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs (fsync costs nothing: figures are optimistic)".into(),
        0x794C_7630 => "overlayfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        t => format!("file system 0x{t:x}"),
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `12,345`.
fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// `n mails in t = x mails/s, y MiB/s`.
fn rate(n: usize, bytes: usize, d: Duration) -> String {
    let s = d.as_secs_f64().max(1e-9);
    format!(
        "{} mails in {} = **{} mails/s**, {:.1} MiB/s",
        group(n),
        secs(d),
        group((n as f64 / s).round() as usize),
        bytes as f64 / s / (1024.0 * 1024.0)
    )
}

/// Nearest-rank percentile of sorted, non-empty `v`.
fn pct(v: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// Mail generator
// ---------------------------------------------------------------------------------------------

/// One generated mail.
#[derive(Debug, Clone)]
pub(crate) struct Mail {
    /// Message-ID without angle brackets.
    pub(crate) id: String,
    /// RFC 5322 bytes, CRLF line ends.
    pub(crate) raw: Vec<u8>,
    /// True when it opens a ticket (no In-Reply-To).
    pub(crate) new_ticket: bool,
}

/// What the generator produced.
#[derive(Debug, Clone, Default)]
struct Mix {
    total: usize,
    new: usize,
    replies: usize,
    gbk: usize,
    zh_utf8: usize,
    alternative: usize,
    html_only: usize,
    attachments: usize,
}

impl Mix {
    fn new_tickets_in(&self, mails: &[Mail]) -> usize {
        mails.iter().filter(|m| m.new_ticket).count()
    }
}

/// SplitMix64: small, fast and deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

/// How a customer's mail client writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// English, UTF-8 (ASCII in practice), 7bit/8bit.
    En,
    /// Chinese, GBK, base64 bodies (Foxmail / QQ / NetEase style).
    Gbk,
    /// Chinese, UTF-8, 8bit bodies.
    ZhUtf8,
}

/// Text in two renditions, UTF-8 and GBK (ASCII is the same in both), so a reply in either
/// charset can quote a parent written in the other.
#[derive(Debug, Clone, Default)]
struct Text {
    utf8: String,
    gbk: Vec<u8>,
}

impl Text {
    fn ascii(&mut self, s: &str) -> &mut Text {
        debug_assert!(s.is_ascii());
        self.utf8.push_str(s);
        self.gbk.extend_from_slice(s.as_bytes());
        self
    }
    fn zh(&mut self, z: Zh) -> &mut Text {
        self.utf8.push_str(z.0);
        self.gbk.extend_from_slice(z.1);
        self
    }
    fn text(&mut self, t: &Text) -> &mut Text {
        self.utf8.push_str(&t.utf8);
        self.gbk.extend_from_slice(&t.gbk);
        self
    }
    fn bytes(&self, client: Client) -> &[u8] {
        match client {
            Client::Gbk => &self.gbk,
            _ => self.utf8.as_bytes(),
        }
    }
    /// The first `max` lines, each prefixed with `prefix`.
    fn quoted(&self, prefix: &str, max: usize) -> Text {
        let mut out = Text::default();
        // `\n` never occurs inside a GBK double-byte character, so both split alike.
        for (u, g) in self
            .utf8
            .split('\n')
            .zip(self.gbk.split(|&b| b == b'\n'))
            .take(max)
        {
            out.utf8.push_str(prefix);
            out.utf8.push_str(u);
            out.utf8.push('\n');
            out.gbk.extend_from_slice(prefix.as_bytes());
            out.gbk.extend_from_slice(g);
            out.gbk.push(b'\n');
        }
        out
    }
}

struct Customer {
    client: Client,
    name: Text,
    address: String,
    domain: String,
    company: String,
    customer_id: Option<String>,
    tz: FixedOffset,
}

/// What a reply needs to know about an earlier mail.
struct Earlier {
    id: String,
    references: Vec<String>,
    subject: Text,
    customer: usize,
    from: String,
    date: DateTime<FixedOffset>,
    body: Text,
}

/// Generates a support mailbox's worth of mail.
pub(crate) struct Generator {
    rng: Rng,
    support: String,
    run: String,
    base: DateTime<Utc>,
    customers: Vec<Customer>,
    earlier: Vec<Earlier>,
    count: usize,
    mix: Mix,
}

impl Generator {
    /// A generator for about `planned` mails addressed to `support`.
    pub(crate) fn new(seed: u64, support: &str, planned: usize) -> Generator {
        let mut rng = Rng(seed ^ 0x5EED_5EED);
        let n_customers = (planned / 8).clamp(20, 5_000);
        let customers = (0..n_customers)
            .map(|k| {
                // Exactly 30 % of the customers write Chinese: 15 % GBK, 15 % UTF-8.
                let client = match k % 20 {
                    0..=2 => Client::Gbk,
                    3..=5 => Client::ZhUtf8,
                    _ => Client::En,
                };
                let company = EN_COMPANIES[k % EN_COMPANIES.len()];
                let mut name = Text::default();
                let (address, domain, tz);
                if client == Client::En {
                    let first = rng.pick(EN_FIRST);
                    let last = rng.pick(EN_LAST);
                    name.ascii(&format!("{first} {last}"));
                    domain = format!("{company}{k}.example");
                    address = format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase());
                    tz = FixedOffset::west_opt(3600 * rng.range(0, 8) as i32).unwrap();
                } else {
                    name.zh(rng.pick(ZH_NAMES));
                    domain = format!("{company}{k}.example.cn");
                    address = format!("user{}@{domain}", rng.range(100, 999));
                    tz = FixedOffset::east_opt(8 * 3600).unwrap();
                }
                let customer_id = rng
                    .chance(40)
                    .then(|| format!("C-{:05}", rng.range(10_000, 99_999)));
                Customer {
                    client,
                    name,
                    address,
                    domain,
                    company: company.to_owned(),
                    customer_id,
                    tz,
                }
            })
            .collect();
        Generator {
            rng,
            support: support.to_owned(),
            run: format!("{:x}", Utc::now().timestamp()),
            // Mails are 7 s apart and end about now.
            base: Utc::now() - chrono::Duration::seconds(7 * planned as i64),
            customers,
            earlier: Vec::new(),
            count: 0,
            mix: Mix::default(),
        }
    }

    /// The next `n` mails.
    pub(crate) fn take(&mut self, n: usize) -> Vec<Mail> {
        (0..n).map(|_| self.next_mail()).collect()
    }

    fn next_mail(&mut self) -> Mail {
        let i = self.count;
        self.count += 1;
        let rng = &mut self.rng;
        // Replies mostly continue recent conversations.
        let parent = (!self.earlier.is_empty() && rng.chance(40)).then(|| {
            let window = self.earlier.len().min(500);
            self.earlier.len() - 1 - rng.below(window)
        });
        let customer_ix = match parent {
            Some(p) => self.earlier[p].customer,
            None => rng.below(self.customers.len()),
        };
        let c = &self.customers[customer_ix];
        let date = (self.base + chrono::Duration::seconds(7 * i as i64)).with_timezone(&c.tz);
        let id = format!(
            "{}.{i:06}.{:08x}@{}",
            self.run,
            rng.next() as u32,
            if c.client == Client::En {
                format!("mail.{}", c.domain)
            } else {
                c.domain.clone()
            }
        );

        // Subject and body.
        let mut subject = Text::default();
        let mut body = Text::default();
        let mut references = Vec::new();
        let zh = c.client != Client::En;
        match parent {
            None => {
                let number = rng.range(10_000, 999_999).to_string();
                if zh {
                    subject.zh(rng.pick(ZH_TOPICS)).ascii(" #").ascii(&number);
                    body.zh(ZH_HELLO).ascii("\n\n");
                    for _ in 0..rng.range(2, 5) {
                        body.zh(rng.pick(ZH_SENTENCES)).ascii("\n");
                    }
                    if let Some(cid) = &c.customer_id
                        && rng.chance(60)
                    {
                        body.zh(ZH_CUSTOMER_NO).ascii(cid).ascii("\n");
                    }
                    body.ascii("\n").zh(ZH_THANKS).ascii("\n").text(&c.name);
                } else {
                    subject.ascii(&rng.pick(EN_TOPICS).replace("{}", &number));
                    body.ascii(rng.pick(EN_GREETINGS)).ascii("\n\n");
                    let mut para = String::new();
                    for _ in 0..rng.range(3, 7) {
                        para.push_str(rng.pick(EN_SENTENCES));
                        para.push(' ');
                    }
                    body.ascii(&wrap(para.trim_end(), 72));
                    if let Some(cid) = &c.customer_id
                        && rng.chance(60)
                    {
                        body.ascii(&format!("\nOur customer ID is {cid}.\n"));
                    }
                    body.ascii("\n").ascii(rng.pick(EN_CLOSINGS)).ascii("\n");
                    body.text(&c.name);
                }
                body.ascii(&format!(
                    "\n{} Ltd.\nPhone +1 555 01{:02}\n",
                    capitalise(&c.company),
                    rng.below(100)
                ));
            }
            Some(p) => {
                let e = &self.earlier[p];
                subject.text(&e.subject);
                references = e.references.clone();
                references.push(e.id.clone());
                let keep = references.len().saturating_sub(10);
                references.drain(..keep);
                if zh {
                    body.zh(ZH_HELLO).ascii("\n\n");
                    for _ in 0..rng.range(1, 2) {
                        body.zh(rng.pick(ZH_FOLLOWUPS)).ascii("\n");
                    }
                    body.ascii("\n").text(&c.name).ascii("\n\n");
                    body.zh(ZH_ORIGINAL).ascii("\n").zh(ZH_FROM);
                    body.ascii(&format!("<{}>\n\n", e.from));
                    body.text(&e.body.quoted("", 30));
                } else {
                    body.ascii(&wrap(rng.pick(EN_FOLLOWUPS), 72));
                    body.ascii("\n").ascii(rng.pick(EN_CLOSINGS)).ascii("\n");
                    body.text(&c.name).ascii("\n\n");
                    body.ascii(&format!(
                        "On {}, {} wrote:\n",
                        e.date.format("%a, %d %b %Y at %H:%M"),
                        e.from
                    ));
                    body.text(&e.body.quoted("> ", 30));
                }
            }
        }

        // MIME structure.
        let mix = &mut self.mix;
        mix.total += 1;
        match (parent.is_some(), c.client) {
            (true, _) => mix.replies += 1,
            (false, _) => mix.new += 1,
        }
        match c.client {
            Client::Gbk => mix.gbk += 1,
            Client::ZhUtf8 => mix.zh_utf8 += 1,
            Client::En => {}
        }
        let shape = rng.below(100);
        let mut entity = if shape < 2 {
            mix.html_only += 1;
            part("text/html", c.client, html(&body).bytes(c.client))
        } else if shape < 22 {
            mix.alternative += 1;
            let b = format!("----=_Part_{:016x}", rng.next());
            multipart(
                "alternative",
                &b,
                &[
                    part("text/plain", c.client, body.bytes(c.client)),
                    part("text/html", c.client, html(&body).bytes(c.client)),
                ],
            )
        } else {
            part("text/plain", c.client, body.bytes(c.client))
        };
        if rng.chance(3) {
            mix.attachments += 1;
            let size = rng.range(2_000, 16_000);
            let (ctype, name, magic): (&str, String, &[u8]) = if rng.chance(60) {
                (
                    "image/png",
                    format!("screenshot-{i}.png"),
                    b"\x89PNG\r\n\x1a\n",
                )
            } else {
                ("application/pdf", format!("invoice-{i}.pdf"), b"%PDF-1.4\n")
            };
            let mut data = magic.to_vec();
            while data.len() < size {
                data.extend_from_slice(&rng.next().to_le_bytes());
            }
            let mut att = format!(
                "Content-Type: {ctype}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\
                 Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n"
            )
            .into_bytes();
            att.extend_from_slice(base64_lines(&data).as_bytes());
            let b = format!("----=_Mixed_{:016x}", rng.next());
            entity = multipart("mixed", &b, &[entity, att]);
        }

        // Header.
        let mut h = String::new();
        let rfc = |d: &DateTime<FixedOffset>| d.to_rfc2822();
        let received = date.with_timezone(&Utc).fixed_offset();
        let _ = write!(
            h,
            "Return-Path: <{from}>\r\n\
             Received: from mail.{dom} (mail.{dom} [198.51.100.{ip}])\r\n\
             \tby mx.supportd.example (Postfix) with ESMTPS id {qid:010X}\r\n\
             \tfor <{support}>; {rdate}\r\n\
             Received: from [10.{a}.{b}.{ip}] (unknown [10.{a}.{b}.{ip}])\r\n\
             \tby mail.{dom} with ESMTPSA id {qid2:012x}; {date}\r\n\
             DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s=s1;\r\n\
             \th=from:to:subject:date:message-id; bh={bh};\r\n\tb={sig}\r\n",
            from = c.address,
            dom = c.domain,
            ip = rng.range(1, 254),
            a = rng.below(256),
            b = rng.below(256),
            qid = rng.next() & 0xFF_FFFF_FFFF,
            qid2 = rng.next() & 0xFFFF_FFFF_FFFF,
            support = self.support,
            rdate = rfc(&received),
            date = rfc(&date),
            bh = base64(&rng.next().to_le_bytes().repeat(4)),
            sig = base64(
                &(0..32)
                    .flat_map(|_| rng.next().to_le_bytes())
                    .collect::<Vec<_>>()
            )
            .as_bytes()
            .chunks(70)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n\t "),
        );
        let display = if zh {
            encoded_words(&c.name, c.client)
        } else {
            format!("\"{}\"", c.name.utf8)
        };
        let _ = write!(
            h,
            "From: {display} <{}>\r\nTo: {}\r\nSubject: {}{}\r\nDate: {}\r\nMessage-ID: <{id}>\r\n",
            c.address,
            self.support,
            if parent.is_some() { "Re: " } else { "" },
            encoded_words(&subject, c.client),
            rfc(&date),
        );
        if let Some(last) = references.last() {
            let refs: Vec<String> = references.iter().map(|r| format!("<{r}>")).collect();
            let _ = write!(
                h,
                "In-Reply-To: <{last}>\r\nReferences: {}\r\n",
                refs.join("\r\n ")
            );
        }
        let _ = write!(
            h,
            "X-Mailer: {}\r\nMIME-Version: 1.0\r\n",
            match c.client {
                Client::Gbk => "Foxmail 7.2.25.228[cn]",
                Client::ZhUtf8 => "NetEase Mail Master 5.2",
                Client::En => rng.pick(EN_MAILERS),
            }
        );
        let mut raw = h.into_bytes();
        raw.extend_from_slice(&entity);

        self.earlier.push(Earlier {
            id: id.clone(),
            references,
            subject,
            customer: customer_ix,
            from: c.address.clone(),
            date,
            body: body.quoted("", 40),
        });
        Mail {
            id,
            raw,
            new_ticket: parent.is_none(),
        }
    }
}

/// A leaf MIME entity: its header lines, a blank line and the encoded body.
fn part(ctype: &str, client: Client, body: &[u8]) -> Vec<u8> {
    let crlf = crlf(body);
    let (charset, cte) = match client {
        Client::Gbk => ("gbk", "base64"),
        Client::ZhUtf8 => ("utf-8", "8bit"),
        Client::En if body.is_ascii() => ("utf-8", "7bit"),
        Client::En => ("utf-8", "8bit"),
    };
    let mut out = format!(
        "Content-Type: {ctype}; charset=\"{charset}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
    )
    .into_bytes();
    if cte == "base64" {
        out.extend_from_slice(base64_lines(&crlf).as_bytes());
    } else {
        out.extend_from_slice(&crlf);
    }
    out
}

fn multipart(sub: &str, boundary: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: multipart/{sub}; boundary=\"{boundary}\"\r\n\r\n\
         This is a multi-part message in MIME format.\r\n"
    )
    .into_bytes();
    for p in parts {
        out.extend_from_slice(format!("\r\n--{boundary}\r\n").as_bytes());
        out.extend_from_slice(p);
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The text as a simple HTML document, one paragraph per line.
fn html(t: &Text) -> Text {
    let mut out = Text::default();
    out.ascii(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html\"></head>\n<body>\n",
    );
    for (u, g) in t.utf8.split('\n').zip(t.gbk.split(|&b| b == b'\n')) {
        // `<`, `>` and `&` are ASCII, never part of a GBK character.
        let esc = |s: &[u8]| -> Vec<u8> {
            let mut o = Vec::with_capacity(s.len());
            for &b in s {
                match b {
                    b'<' => o.extend_from_slice(b"&lt;"),
                    b'>' => o.extend_from_slice(b"&gt;"),
                    b'&' => o.extend_from_slice(b"&amp;"),
                    _ => o.push(b),
                }
            }
            o
        };
        out.utf8.push_str("<div>");
        out.utf8
            .push_str(&String::from_utf8(esc(u.as_bytes())).unwrap_or_default());
        out.utf8.push_str("</div>\n");
        out.gbk.extend_from_slice(b"<div>");
        out.gbk.extend_from_slice(&esc(g));
        out.gbk.extend_from_slice(b"</div>\n");
    }
    out.ascii("</body></html>\n");
    out
}

/// RFC 2047 encoded words (folded), or the text itself when it is ASCII.
fn encoded_words(t: &Text, client: Client) -> String {
    let (charset, bytes) = match client {
        Client::Gbk => ("GBK", t.gbk.as_slice()),
        _ if t.utf8.is_ascii() => return t.utf8.clone(),
        _ => ("UTF-8", t.utf8.as_bytes()),
    };
    // Split on character boundaries so every word decodes on its own.
    let mut words = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let len = match client {
            Client::Gbk if bytes[i] >= 0x81 => 2,
            Client::Gbk => 1,
            _ => match bytes[i] {
                0xF0.. => 4,
                0xE0.. => 3,
                0xC0.. => 2,
                _ => 1,
            },
        };
        if i + len - start > 36 {
            words.push(&bytes[start..i]);
            start = i;
        }
        i += len;
    }
    words.push(&bytes[start..]);
    words
        .iter()
        .map(|w| format!("=?{charset}?B?{}?=", base64(w)))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 40);
    for &c in b {
        if c == b'\n' {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split(' ') {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out.push('\n');
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Base64 in 76-character lines, CRLF-terminated.
fn base64_lines(data: &[u8]) -> String {
    let b = base64(data);
    let mut out = String::with_capacity(b.len() + b.len() / 38 + 2);
    for chunk in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push_str("\r\n");
    }
    out
}

const EN_FIRST: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Oscar",
    "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Wendy",
];
const EN_LAST: &[&str] = &[
    "Smith", "Jones", "Miller", "Garcia", "Brown", "Wilson", "Taylor", "Clark", "Lewis", "Walker",
    "Young", "King",
];
const EN_COMPANIES: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "vandelay",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
];
const EN_MAILERS: &[&str] = &[
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3774.300.61.1.2)",
    "Mozilla Thunderbird 128.5.0",
];
const EN_TOPICS: &[&str] = &[
    "Cannot log in to the admin console (account {})",
    "Invoice {} shows the wrong VAT number",
    "Refund request for order #{}",
    "Data sync fails with error E{}",
    "Printer in office {} cannot reach the network",
    "Password reset mail never arrives (user {})",
    "Features still locked after renewing licence {}",
    "Report export {} produces a broken CSV file",
    "URGENT: production API returns 500 for request {}",
    "Question about pricing for {} additional seats",
];
const EN_GREETINGS: &[&str] = &["Hello,", "Hi support team,", "Dear Support,", "Hi there,"];
const EN_SENTENCES: &[&str] = &[
    "Since this morning none of our users can log in.",
    "The error message says that the password is wrong, but it was just reset.",
    "We already restarted the server and cleared the browser cache, without success.",
    "This blocks our whole accounting department, so please treat it as urgent.",
    "I attached a screenshot of the error dialog.",
    "The same steps worked fine last week.",
    "We are on the Business plan and renewed it on the first of the month.",
    "The export starts, but the file only contains the header row.",
    "Could you please check what is going on and get back to us?",
    "Our IT contact is on holiday this week, so please reply to me directly.",
    "The problem only happens on Windows machines; the Macs are fine.",
];
const EN_FOLLOWUPS: &[&str] = &[
    "Thanks for the quick answer. Unfortunately the problem is still there after following \
     your steps.",
    "One more detail: it started right after the update on Monday afternoon.",
    "That fixed it, thank you! You can close the ticket.",
    "Any news on this? We are still waiting for a fix.",
    "I tried the workaround, but now a different error appears.",
];
const EN_CLOSINGS: &[&str] = &["Best regards,", "Thanks,", "Kind regards,", "Cheers,"];

/// A Chinese phrase as UTF-8 and as GBK bytes.
type Zh = (&'static str, &'static [u8]);

const ZH_TOPICS: &[Zh] = &[
    (
        "无法登录账户",
        b"\xce\xde\xb7\xa8\xb5\xc7\xc2\xbc\xd5\xcb\xbb\xa7",
    ),
    (
        "发票开具问题",
        b"\xb7\xa2\xc6\xb1\xbf\xaa\xbe\xdf\xce\xca\xcc\xe2",
    ),
    (
        "订单退款申请",
        b"\xb6\xa9\xb5\xa5\xcd\xcb\xbf\xee\xc9\xea\xc7\xeb",
    ),
    (
        "系统报错：数据同步失败",
        b"\xcf\xb5\xcd\xb3\xb1\xa8\xb4\xed\xa3\xba\xca\xfd\xbe\xdd\xcd\xac\xb2\xbd\xca\xa7\xb0\xdc",
    ),
    (
        "打印机无法连接网络",
        b"\xb4\xf2\xd3\xa1\xbb\xfa\xce\xde\xb7\xa8\xc1\xac\xbd\xd3\xcd\xf8\xc2\xe7",
    ),
    (
        "密码重置邮件收不到",
        b"\xc3\xdc\xc2\xeb\xd6\xd8\xd6\xc3\xd3\xca\xbc\xfe\xca\xd5\xb2\xbb\xb5\xbd",
    ),
    (
        "续费后功能仍受限",
        b"\xd0\xf8\xb7\xd1\xba\xf3\xb9\xa6\xc4\xdc\xc8\xd4\xca\xdc\xcf\xde",
    ),
    (
        "导出报表格式错误",
        b"\xb5\xbc\xb3\xf6\xb1\xa8\xb1\xed\xb8\xf1\xca\xbd\xb4\xed\xce\xf3",
    ),
];
const ZH_SENTENCES: &[Zh] = &[
    ("我们公司的账户从今天上午开始无法登录。", b"\xce\xd2\xc3\xc7\xb9\xab\xcb\xbe\xb5\xc4\xd5\xcb\xbb\xa7\xb4\xd3\xbd\xf1\xcc\xec\xc9\xcf\xce\xe7\xbf\xaa\xca\xbc\xce\xde\xb7\xa8\xb5\xc7\xc2\xbc\xa1\xa3"),
    ("错误提示是“用户名或密码不正确”，但密码确认无误。", b"\xb4\xed\xce\xf3\xcc\xe1\xca\xbe\xca\xc7\xa1\xb0\xd3\xc3\xbb\xa7\xc3\xfb\xbb\xf2\xc3\xdc\xc2\xeb\xb2\xbb\xd5\xfd\xc8\xb7\xa1\xb1\xa3\xac\xb5\xab\xc3\xdc\xc2\xeb\xc8\xb7\xc8\xcf\xce\xde\xce\xf3\xa1\xa3"),
    ("我们已经尝试重启设备，但问题依旧。", b"\xce\xd2\xc3\xc7\xd2\xd1\xbe\xad\xb3\xa2\xca\xd4\xd6\xd8\xc6\xf4\xc9\xe8\xb1\xb8\xa3\xac\xb5\xab\xce\xca\xcc\xe2\xd2\xc0\xbe\xc9\xa1\xa3"),
    ("这个问题影响到我们整个部门的工作，请尽快帮忙处理。", b"\xd5\xe2\xb8\xf6\xce\xca\xcc\xe2\xd3\xb0\xcf\xec\xb5\xbd\xce\xd2\xc3\xc7\xd5\xfb\xb8\xf6\xb2\xbf\xc3\xc5\xb5\xc4\xb9\xa4\xd7\xf7\xa3\xac\xc7\xeb\xbe\xa1\xbf\xec\xb0\xef\xc3\xa6\xb4\xa6\xc0\xed\xa1\xa3"),
    ("附件是相关的截图，请查收。", b"\xb8\xbd\xbc\xfe\xca\xc7\xcf\xe0\xb9\xd8\xb5\xc4\xbd\xd8\xcd\xbc\xa3\xac\xc7\xeb\xb2\xe9\xca\xd5\xa1\xa3"),
    ("系统提示“服务器繁忙，请稍后再试”。", b"\xcf\xb5\xcd\xb3\xcc\xe1\xca\xbe\xa1\xb0\xb7\xfe\xce\xf1\xc6\xf7\xb7\xb1\xc3\xa6\xa3\xac\xc7\xeb\xc9\xd4\xba\xf3\xd4\xd9\xca\xd4\xa1\xb1\xa1\xa3"),
    ("同样的操作在上周还是正常的。", b"\xcd\xac\xd1\xf9\xb5\xc4\xb2\xd9\xd7\xf7\xd4\xda\xc9\xcf\xd6\xdc\xbb\xb9\xca\xc7\xd5\xfd\xb3\xa3\xb5\xc4\xa1\xa3"),
];
const ZH_FOLLOWUPS: &[Zh] = &[
    ("上次的回复已收到，但问题还没有解决。", b"\xc9\xcf\xb4\xce\xb5\xc4\xbb\xd8\xb8\xb4\xd2\xd1\xca\xd5\xb5\xbd\xa3\xac\xb5\xab\xce\xca\xcc\xe2\xbb\xb9\xc3\xbb\xd3\xd0\xbd\xe2\xbe\xf6\xa1\xa3"),
    ("补充一下，出错的时间大约是下午三点。", b"\xb2\xb9\xb3\xe4\xd2\xbb\xcf\xc2\xa3\xac\xb3\xf6\xb4\xed\xb5\xc4\xca\xb1\xbc\xe4\xb4\xf3\xd4\xbc\xca\xc7\xcf\xc2\xce\xe7\xc8\xfd\xb5\xe3\xa1\xa3"),
    ("按照您说的步骤操作后，现在可以正常使用了，谢谢！", b"\xb0\xb4\xd5\xd5\xc4\xfa\xcb\xb5\xb5\xc4\xb2\xbd\xd6\xe8\xb2\xd9\xd7\xf7\xba\xf3\xa3\xac\xcf\xd6\xd4\xda\xbf\xc9\xd2\xd4\xd5\xfd\xb3\xa3\xca\xb9\xd3\xc3\xc1\xcb\xa3\xac\xd0\xbb\xd0\xbb\xa3\xa1"),
    ("请问这个问题大概什么时候能处理好？", b"\xc7\xeb\xce\xca\xd5\xe2\xb8\xf6\xce\xca\xcc\xe2\xb4\xf3\xb8\xc5\xca\xb2\xc3\xb4\xca\xb1\xba\xf2\xc4\xdc\xb4\xa6\xc0\xed\xba\xc3\xa3\xbf"),
];
const ZH_NAMES: &[Zh] = &[
    ("张伟", b"\xd5\xc5\xce\xb0"),
    ("王芳", b"\xcd\xf5\xb7\xbc"),
    ("李娜", b"\xc0\xee\xc4\xc8"),
    ("刘强", b"\xc1\xf5\xc7\xbf"),
    ("陈静", b"\xb3\xc2\xbe\xb2"),
    ("杨洋", b"\xd1\xee\xd1\xf3"),
    ("赵磊", b"\xd5\xd4\xc0\xda"),
];
const ZH_HELLO: Zh = ("您好：", b"\xc4\xfa\xba\xc3\xa3\xba");
const ZH_THANKS: Zh = ("谢谢！", b"\xd0\xbb\xd0\xbb\xa3\xa1");
const ZH_CUSTOMER_NO: Zh = ("客户编号：", b"\xbf\xcd\xbb\xa7\xb1\xe0\xba\xc5\xa3\xba");
const ZH_ORIGINAL: Zh = ("------------------ 原始邮件 ------------------", b"\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x20\xd4\xad\xca\xbc\xd3\xca\xbc\xfe\x20\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d\x2d");
const ZH_FROM: Zh = ("发件人：", b"\xb7\xa2\xbc\xfe\xc8\xcb\xa3\xba");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_mail_parses_threads_and_decodes_gbk() {
        let mut g = Generator::new(7, "support@example.com", 400);
        let mails = g.take(400);
        let mut ids = std::collections::HashSet::new();
        let (mut gbk_seen, mut replies) = (0, 0);
        for m in &mails {
            assert!(ids.insert(m.id.clone()), "duplicate Message-ID {}", m.id);
            let p = parse::parse(&m.raw).unwrap_or_else(|e| {
                panic!("{e}:\n{}", String::from_utf8_lossy(&m.raw));
            });
            assert_eq!(p.message_id, m.id);
            assert!(!p.subject.is_empty());
            assert!(!p.reply_text.trim().is_empty(), "{}", p.text);
            assert!(!p.machine.is_machine_generated(), "{:?}", p.machine);
            if m.new_ticket {
                assert!(p.in_reply_to.is_empty());
            } else {
                replies += 1;
                assert!(ids.contains(&p.in_reply_to[0]));
                assert!(p.subject.starts_with("Re: "), "{}", p.subject);
                // The quoted history is recognised and cut.
                assert!(p.reply_text.len() < p.text.len(), "{}", p.text);
            }
            if m.raw.windows(12).any(|w| w == b"charset=\"gbk") {
                gbk_seen += 1;
                assert!(
                    ZH_TOPICS.iter().any(|z| p.subject.contains(z.0)),
                    "{}",
                    p.subject
                );
                assert!(p.text.contains(ZH_HELLO.0), "{}", p.text);
            }
        }
        assert!(gbk_seen > 20, "{gbk_seen}");
        assert!((120..=200).contains(&replies), "{replies}");
        assert_eq!(g.mix.total, 400);
        assert!(g.mix.attachments > 0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(pct(&v, 50.0), Duration::from_millis(50));
        assert_eq!(pct(&v, 99.0), Duration::from_millis(99));
        assert_eq!(pct(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
