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
//! 4. (b) runs the real [`Ingest`](crate::service::ingest::Ingest) loop until the inbox is
//!    empty and every mail is in the processed mailbox (appended → durable ticket → moved);
//! 5. (c) with ingest idling, APPENDs `--latency-mails` more mails one at a time and measures
//!    APPEND completion → batch fsynced
//!    ([`Ingest::on_durable`](crate::service::ingest::Ingest::on_durable));
//! 6. (d) runs the core step ([`crate::service::intake::ingest_raw_with`]: parse, thread, store) over the same
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

mod core;
mod generator;
mod hostile;
mod peak;
mod probe;
mod report;
mod session;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use chrono::Utc;

use crate::config::Config;
use crate::io::imap::Imap;
use crate::io::store::Store;

pub use self::core::core_only;
use self::core::{core_run, dir_size, fill};
use self::generator::Generator;
use self::peak::{Peak, proc_status_kib};
pub use self::probe::probe_from_env;
use self::probe::run_probe;
use self::report::{Report, group, kib, mib, ms, pct, rate, secs};
use self::session::{
    Running, STALL, bulk_fetch, check_alive, cleanup, ingest_state, prepare_ingest, raw_session,
    wait_moved,
};

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
    /// Also build stores of these many mails through the core step (comma-separated, e.g.
    /// `1000,100000`) and reopen each in a fresh process: ingest rate, start-up time, the
    /// latency of `tickets`, `ticket show` and `report`, and RSS, so growth with the store shows.
    #[arg(long, value_delimiter = ',')]
    pub(crate) scale: Vec<usize>,
    /// After reopening the store of (b)+(c) in a fresh process, ingest this many more mails
    /// there through the core step and measure that process's idle RSS (0 skips it).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) burst: usize,
    /// sled cache of the benchmark's stores in MiB, instead of `[store] cache_mib`.
    #[arg(long)]
    pub(crate) cache_mib: Option<u64>,
    /// Directory for the temporary stores (default: the system temp dir). fsync speed dominates
    /// ingest, so put it on the file system the real store lives on.
    #[arg(long)]
    pub(crate) tmp_dir: Option<PathBuf>,
    /// Instead of the phases above: each hostile mail of issue 14 through the real ingest loop,
    /// then a normal mail (outcome, CPU, the next mail's delay, peak RSS, store growth).
    #[arg(long)]
    pub(crate) hostile: bool,
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
    if let Some(mib) = args.cache_mib {
        cfg.store.cache_mib = mib.max(1);
    }
    cfg.control.socket = Some(work.join("control.sock"));
    // No SMTP relay: nothing the benchmark does can send mail.
    cfg.smtp = None;
    // Without a configured secret, the scratch store makes its own, as the daemon's would.
    Store::open(&cfg.store.path)?.complete_secret(&mut cfg)?;

    let mut report = Report::default();
    let mut running = Running::default();
    let outcome = tokio::select! {
        r = async {
            if args.hostile {
                hostile::hostile_phase(&cfg, &work, &mut running, &mut report).await
            } else {
                phases(&cfg, &args, &work, &mut running, &mut report).await
            }
        } => r,
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

/// A probe's figures as one table cell.
fn probe_figures(p: &probe::Probe) -> String {
    let burst = if p.burst > 0 {
        format!(
            "; idle RSS {} a second after a further burst of {} mails, {} once the freed heap \
             is released (as ingest does after a backlog)",
            mib(p.rss_burst_kib as usize * 1024),
            group(p.burst),
            mib(p.rss_burst_released_kib as usize * 1024)
        )
    } else {
        String::new()
    };
    format!(
        "open {} · `tickets` {} ({} active) · `tickets --status resolved` {} ({}) · `ticket \
         show` {} ({} after the two below) · `report --since` {} ({} tickets) · `report` of all {} · RSS {} after open \
         ({} once the freed heap was released), {} after the five ({} released; \
         {} before open)",
        ms(p.open),
        ms(p.list),
        group(p.listed),
        ms(p.list_resolved),
        group(p.resolved),
        ms(p.show),
        ms(p.show_after),
        ms(p.report),
        group(p.reported),
        ms(p.report_all),
        mib(p.rss_open_kib as usize * 1024),
        mib(p.rss_trimmed_kib as usize * 1024),
        mib(p.rss_after_kib as usize * 1024),
        mib(p.rss_after_trimmed_kib as usize * 1024),
        mib(p.rss_base_kib as usize * 1024),
    ) + &format!(
        "; sled alone opens it in {} to {} RSS",
        ms(p.sled_open),
        mib(p.rss_sled_kib as usize * 1024)
    ) + &burst
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
    let mut imap = Imap::connect(&cfg.imap)
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
    let metas = imap.fetch_meta(1, cfg.support.max_header_bytes).await?;
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
    let prepared = prepare_ingest(cfg)?;
    let t0 = Instant::now();
    let (store, status, durable) = running.start(prepared);
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
    let phases = status.lock().unwrap().phases.clone();
    report.row(
        "b",
        "end-to-end profile: where (b)'s time went (ingest's own clock)",
        ingest_profile(&phases, moved),
        None,
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
        let mut imap = Imap::connect(&cfg.imap).await?;
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
    // Idle after the burst: ingest waits in IDLE with everything stored.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = proc_status_kib("VmRSS");

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

    if let Some(kib) = idle_rss {
        report.row(
            "e",
            &format!(
                "idle RSS after the burst of (b)+(c) ({} mails stored)",
                group(total)
            ),
            format!(
                "{} (`VmRSS`, ingest idling; includes the {} of generated mails the benchmark \
                 holds)",
                mib(kib as usize * 1024),
                mib(report.held_bytes)
            ),
            None,
        );
    }
    let restart = run_probe(&cfg.store.path, cfg.store.cache_mib, args.burst)?;
    report.row(
        "e",
        &format!(
            "restart: a fresh process opens the store of (b)+(c) ({} tickets, {} messages)",
            group(restart.tickets),
            group(restart.messages)
        ),
        probe_figures(&restart),
        None,
    );

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
    let c = &core.commit;
    // The sync writes the batch's staged mails (settle) before it fsyncs.
    let fsync = core.sync.saturating_sub(c.settle);
    let desk = core
        .total
        .saturating_sub(core.parse + c.encode + c.transaction + c.reindex + core.sync);
    let share = |d: Duration| share_of(d, core.total);
    report.row(
        "d",
        "core profile: where (d)'s time went",
        format!(
            "parse {} · desk (thread, accept, render) {} · encode {} · checks and staging {} · \
             one sled transaction per batch {} · due-index wake-up {} · fsync {}",
            share(core.parse),
            share(desk),
            share(c.encode),
            share(c.transaction),
            share(c.settle),
            share(c.reindex),
            share(fsync)
        ),
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
    let core_path = work.join("core");
    crate::io::compact::compact(&core_path)?;
    report.row(
        "e",
        "store after (d), then `supportd compact` (export, import into a fresh store)",
        format!(
            "{} on disk ({} per mail, {:.1}× the raw mail)",
            mib(dir_size(&core_path) as usize),
            kib(dir_size(&core_path) as usize / n),
            dir_size(&core_path) as f64 / bytes.max(1) as f64,
        ),
        None,
    );
    let live: u64 = core.trees.iter().map(|t| t.key_bytes + t.value_bytes).sum();
    let mut trees = core.trees.clone();
    trees.sort_by_key(|t| std::cmp::Reverse(t.key_bytes + t.value_bytes));
    report.row(
        "e",
        "store after (d) by tree: live keys + values (the rest of the disk is sled's log)",
        format!(
            "{} live of {} on disk: {}; of `messages`, the full texts are {} and the reply \
             texts {}",
            mib(live as usize),
            mib(core.dir_bytes as usize),
            trees
                .iter()
                .filter(|t| t.entries > 0)
                .map(|t| format!(
                    "`{}` {} ({} entries)",
                    t.name,
                    kib((t.key_bytes + t.value_bytes) as usize),
                    group(t.entries as usize)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            kib(core.texts.0 as usize),
            kib(core.texts.1 as usize),
        ),
        None,
    );
    drop(mails);

    // 8. (f) Scale.
    for &size in &args.scale {
        eprintln!("bench: (f) a store of {} mails", group(size));
        let path = work.join(format!("scale-{size}"));
        let c = cfg.clone();
        let p = path.clone();
        let seed = args.seed;
        let (took, raw, disk) = tokio::task::spawn_blocking(move || fill(&c, size, seed, &p))
            .await
            .context("scale run panicked")??;
        let probe = run_probe(&path, cfg.store.cache_mib, 0)?;
        report.row(
            "f",
            &format!("store of {} mails written by the core step", group(size)),
            format!(
                "{}; {} on disk for {} raw ({:.1}×); reopened: {}",
                rate(size, raw as usize, took),
                mib(disk as usize),
                mib(raw as usize),
                disk as f64 / raw.max(1) as f64,
                probe_figures(&probe)
            ),
            None,
        );
        let _ = std::fs::remove_dir_all(&path);
    }
    Ok(())
}

/// (b)'s wall time by ingest step, as shares of `total` (the rest is ingest waiting for mail
/// or between passes).
fn ingest_profile(p: &crate::service::metrics::IngestPhases, total: Duration) -> String {
    let share = |us: u64| share_of(Duration::from_micros(us), total);
    let rest = p.handle_us.saturating_sub(p.parse_us + p.desk_us);
    format!(
        "inbox index {} · header FETCH {} · body FETCH {} · parse (own thread, waited for) {} · \
         desk and staging {} · duplicate checks and hand-overs {} · batch write and fsync {} · \
         MOVE {}",
        share(p.index_us),
        share(p.headers_us),
        share(p.bodies_us),
        share(p.parse_us),
        share(p.desk_us),
        share(rest),
        share(p.sync_us),
        share(p.move_us)
    )
}

/// `d` with its share of `total`, for the profiles.
fn share_of(d: Duration, total: Duration) -> String {
    format!(
        "{} ({:.0} %)",
        secs(d),
        100.0 * d.as_secs_f64() / total.as_secs_f64().max(1e-9)
    )
}
