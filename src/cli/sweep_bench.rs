//! `supportd bench-sweep`: what the SLA scheduler costs with many open tickets.
//!
//! ```text
//! supportd bench-sweep [--tickets 100000] [--due 1000] [--tmp-dir DIR]
//! ```
//!
//! It needs no server and ignores the operator's configuration and store: it fills a scratch
//! store (removed at the end) with `--tickets` open tickets under the built-in SLA defaults, of
//! which `--due` have an escalation step due now, and prints, as a markdown table:
//!
//! 1. filling the store (one committed transaction per ticket, then one fsync);
//! 2. reopening it (the due index is read from the store where it is asked, not loaded);
//! 3. a sweep with nothing due: the steady state, run every few seconds;
//! 4. for comparison, a full scan that reads every ticket and asks its clocks what is due: the
//!    cost every sweep would have without the index;
//! 5. a sweep with `--due` tickets due, each escalated (agent mail + customer notice, rendered
//!    and queued) and committed, then the fsync that makes them durable;
//! 6. re-applying changed SLA settings to every open ticket (what a SIGHUP costs).
//!
//! It prints figures and asserts nothing about speed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeDelta, Utc};

use crate::config::{Config, sample};
use crate::desk::outbound::templates::Templates;
use crate::domain::priority::Priority;
use crate::domain::sla::clocks::Clocks;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::io::store::Store;
use crate::mail::mailbox::Mailbox;
use crate::service::scheduler;

/// Command-line options.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Open tickets in the scratch store.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) tickets: usize,
    /// Of these, tickets with an escalation step due at the measured sweep.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) due: usize,
    /// Directory for the scratch store (default: the system temp dir); fsync speed matters, so
    /// put it on the file system the real store lives on.
    #[arg(long)]
    pub(crate) tmp_dir: Option<PathBuf>,
}

/// xorshift64*: deterministic and dependency-free, enough to spread tickets.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Ticket `id`: the first `due` are P1 tickets opened 40 minutes ago (their first-response breach
/// is due); the rest are P2–P4 tickets opened within the last half hour, due later.
fn ticket(config: &Config, id: u64, due: bool, rng: &mut Rng, now: DateTime<Utc>) -> Ticket {
    let (priority, created) = if due {
        (Priority::P1, now - TimeDelta::minutes(40))
    } else {
        let p = match rng.below(10) {
            0..=2 => Priority::P2,
            3..=6 => Priority::P3,
            _ => Priority::P4,
        };
        (p, now - TimeDelta::seconds(rng.below(1_800) as i64))
    };
    let customer = format!("c{}@example.org", rng.below(20_000));
    Ticket {
        id,
        status: Status::Open,
        priority,
        customer: customer.clone(),
        subject: format!("Bench ticket {id}"),
        normalized_subject: format!("bench ticket {id}"),
        requester: Mailbox {
            name: None,
            address: customer.clone(),
        },
        participants: vec![customer.into()],
        message_count: 1,
        created_at: created,
        updated_at: created,
        last_customer_message_id: format!("bench{id}@example.org"),
        related: None,
        assignee: Some("alice".into()),
        first_response_at: None,
        resolved_at: None,
        merged_into: None,
        escalation: 0,
        priority_rule: "bench".into(),
        sla: Clocks::start(&config.calendar, &config.sla, priority, created),
        escalations: Vec::new(),
        satisfaction: None,
        queue: String::new(),
    }
}

/// Runs the benchmark and prints its table on stdout; progress goes to stderr.
pub(crate) fn run(args: Args) -> Result<()> {
    if args.tickets == 0 || args.due > args.tickets {
        bail!("--tickets must be at least 1 and --due at most --tickets");
    }
    let base = args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = base.join(format!(
        "supportd-bench-sweep-{}-{}",
        Utc::now().timestamp(),
        std::process::id()
    ));
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let result = measure(&args, &work);
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn measure(args: &Args, work: &std::path::Path) -> Result<()> {
    let path = work.join("store");
    let config = sample::scratch(&path, "").map_err(|e| anyhow::anyhow!("{e}"))?;
    let templates = Templates::load(None)?;
    let now = Utc::now();
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |what: &str, figure: String| {
        eprintln!("{what}: {figure}");
        rows.push((what.to_owned(), figure));
    };

    // 1. Fill.
    let store = Store::open(&path)?;
    let mut rng = Rng(0x5eed_cafe);
    let started = Instant::now();
    for i in 0..args.tickets {
        let t = ticket(&config, i as u64 + 1, i < args.due, &mut rng, now);
        store.commit_ticket(&t, &[])?;
    }
    store.sync_blocking()?;
    let fill = started.elapsed();
    row(
        "fill: commit + fsync",
        format!(
            "{} tickets in {} ({}/s)",
            args.tickets,
            secs(fill),
            per_sec(args.tickets, fill)
        ),
    );
    drop(store);

    // 2. Reopen.
    let started = Instant::now();
    let store = Store::open(&path)?;
    let reopen = started.elapsed();
    row(
        "reopen",
        format!("{} for {} indexed tickets", ms(reopen), store.due_len()?),
    );

    // 3. The steady state: nothing due. Earlier than every due time, so nothing fires.
    let early = now - TimeDelta::hours(1);
    let runs = 1_000;
    let started = Instant::now();
    for _ in 0..runs {
        let n = scheduler::sweep(&config, Some(&templates), &store, early)?;
        debug_assert_eq!(n, 0);
    }
    let idle = started.elapsed() / runs;
    row("sweep, nothing due (mean of 1,000 runs)", us(idle));

    // 4. For comparison, without the index: read every ticket and ask its clocks.
    let started = Instant::now();
    let mut found = 0;
    for t in store.tickets(None)? {
        if t.status.is_active() && !t.sla.due_steps(now).is_empty() {
            found += 1;
        }
    }
    let scan = started.elapsed();
    row(
        "full scan instead of the index",
        format!("{} over {} tickets ({found} due)", ms(scan), args.tickets),
    );
    // 5. A sweep with `--due` tickets due.
    let due_now = store.due_tickets(now)?.len();
    let started = Instant::now();
    let mails = scheduler::sweep(&config, Some(&templates), &store, now)?;
    let sweep = started.elapsed();
    let started = Instant::now();
    store.sync_blocking()?;
    let sync = started.elapsed();
    row(
        "sweep, tickets due",
        format!(
            "{due_now} tickets, {mails} mails queued in {} ({} per ticket), fsync {}",
            ms(sweep),
            us(sweep / due_now.max(1) as u32),
            ms(sync)
        ),
    );
    let started = Instant::now();
    let again = scheduler::sweep(&config, Some(&templates), &store, now)?;
    row(
        "same sweep again (all fired)",
        format!("{again} mails in {}", us(started.elapsed())),
    );

    // 6. SIGHUP with changed targets: every open ticket re-timed.
    let mut tighter = config.clone();
    tighter.sla = crate::domain::sla::policy::SlaConfig {
        supervisor_delay: "20m".into(),
        ..Default::default()
    }
    .build("sla")
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let started = Instant::now();
    let changed = scheduler::reapply(&tighter, &store, now)?;
    row(
        "re-apply changed [sla] (SIGHUP)",
        format!("{changed} tickets re-timed in {}", secs(started.elapsed())),
    );

    row(
        "store size",
        format!("{} MiB", store.size_on_disk() / (1 << 20)),
    );

    println!("| measurement | figure |");
    println!("|---|---|");
    for (what, figure) in rows {
        println!("| {what} | {figure} |");
    }
    Ok(())
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    if d < Duration::from_micros(10) {
        format!("{} ns", d.as_nanos())
    } else {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    }
}

fn per_sec(n: usize, d: Duration) -> String {
    format!("{:.0}", n as f64 / d.as_secs_f64().max(1e-9))
}
