//! The `supportd` command line.

pub mod bench;
pub mod sweep_bench;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::config::sections::LogFormat;
use crate::desk::report::{self, Report};
use crate::domain::status::Status;
use crate::io::store::{Store, StoreError};
use crate::service::views::{Request, TicketDetail, TicketSummary};
use crate::service::{control, daemon, views};
use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use unicode_width::UnicodeWidthStr;

#[derive(Parser)]
#[command(version, about = "Turns a support mailbox into a helpdesk")]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        env = "SUPPORTD_CONFIG",
        default_value = "/etc/supportd/supportd.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the daemon: ingest the mailbox until SIGTERM.
    Run,
    /// Validate the configuration and list every problem.
    CheckConfig,
    /// List tickets.
    Tickets {
        /// Only tickets with this status (new, open, pending, resolved, closed).
        #[arg(long)]
        status: Option<Status>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with one ticket.
    Ticket {
        #[command(subcommand)]
        cmd: TicketCmd,
    },
    /// Mail that could not become a ticket.
    Quarantine {
        #[command(subcommand)]
        cmd: QuarantineCmd,
    },
    /// Outgoing mail.
    Outbox {
        #[command(subcommand)]
        cmd: OutboxCmd,
    },
    /// SLA accountability per priority and per agent: targets met, median and p90 times,
    /// escalations, satisfaction.
    Report {
        /// Only tickets created at or after this: YYYY-MM-DD (midnight in the calendar's time
        /// zone) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summary of the store and, when running, the daemon.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a complete JSON-lines export of the store to standard output (through the daemon
    /// when it runs).
    Export,
    /// Load an export into an empty store (through the daemon when it runs).
    Import {
        /// The export file.
        file: PathBuf,
    },
    /// Rewrite the store to reclaim space (daemon must be stopped); keeps the old copy.
    Compact,
    /// Measure ingest throughput and latency against the configured IMAP server.
    Bench(bench::Args),
    /// Measure the SLA scheduler with many open tickets, in a scratch store (no server needed).
    BenchSweep(sweep_bench::Args),
}

#[derive(Subcommand)]
enum OutboxCmd {
    /// List outgoing mail and its delivery state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a dead mail back in the queue.
    Retry {
        /// Outbox item id.
        id: u64,
    },
}

#[derive(Subcommand)]
enum TicketCmd {
    /// Show a ticket with its messages.
    Show {
        /// Ticket number.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a ticket's status; the customer gets a progress mail when configured.
    SetStatus {
        /// Ticket number.
        id: u64,
        /// new, open, pending, resolved or closed.
        status: Status,
    },
}

#[derive(Subcommand)]
enum QuarantineCmd {
    /// List quarantined mail with the reason.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command line: parses the arguments and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("supportd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(cli: &Cli) -> Result<Config> {
    Config::load(&cli.config).map_err(|e| anyhow::anyhow!("{e}"))
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(config.log.level.as_deref().unwrap_or("supportd=info,warn"))
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => {
            // Under systemd the journal timestamps every line itself; colours only on a terminal.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let builder = builder.with_ansi(ansi).with_writer(std::io::stderr);
            if std::env::var_os("JOURNAL_STREAM").is_some() {
                builder.without_time().init()
            } else {
                builder.init()
            }
        }
    }
}

fn real_main(cli: Cli) -> Result<ExitCode> {
    match &cli.cmd {
        Cmd::CheckConfig => match Config::load(&cli.config) {
            Ok(c) => {
                println!(
                    "{}: OK (imap {}:{} as {}, store {})",
                    cli.config.display(),
                    c.imap.host,
                    c.imap_port(),
                    c.imap.username,
                    c.store.path.display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprint!("{e}");
                Ok(ExitCode::from(2))
            }
        },
        Cmd::Run => {
            let config = load(&cli)?;
            init_tracing(&config);
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(daemon::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Export => {
            let config = load(&cli)?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            if control::export(&config.control_socket(), &mut out)? {
                return Ok(ExitCode::SUCCESS);
            }
            match reach(&config, &Request::Status)? {
                // The daemon came up while we looked: ask it.
                Target::Daemon(_) => {
                    if !control::export(&config.control_socket(), &mut out)? {
                        bail!("the daemon stopped answering during the export");
                    }
                }
                Target::Store(store) => {
                    let n = store.export(&mut out)?;
                    eprintln!("exported {n} records");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Import { file } => {
            let config = load(&cli)?;
            let path = std::fs::canonicalize(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let v = query(&config, &Request::Import { path: path.clone() })?;
            let n = v["records"].as_u64().unwrap_or(0);
            println!("imported {n} records from {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Compact => {
            let config = load(&cli)?;
            compact(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::BenchSweep(args) => {
            sweep_bench::run(args.clone())?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Bench(args) => {
            let config = load(&cli)?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(bench::run(config, args.clone()))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Tickets { status, json } => {
            let config = load(&cli)?;
            let data = query(&config, &Request::Tickets { status: *status })?;
            let list: Vec<TicketSummary> = serde_json::from_value(data.clone())?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                print_tickets(&list);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ticket {
            cmd: TicketCmd::Show { id, json },
        } => {
            let config = load(&cli)?;
            let data = query(&config, &Request::Ticket { id: *id })?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                print_ticket(&serde_json::from_value(data)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ticket {
            cmd: TicketCmd::SetStatus { id, status },
        } => {
            let config = load(&cli)?;
            let v = query(
                &config,
                &Request::SetStatus {
                    id: *id,
                    status: *status,
                },
            )?;
            if v["changed"].as_bool() == Some(true) {
                println!("ticket {id} is now {status}");
            } else {
                println!("ticket {id} already was {status}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Outbox {
            cmd: OutboxCmd::Retry { id },
        } => {
            let config = load(&cli)?;
            let v = query(&config, &Request::OutboxRetry { id: *id })?;
            if v["requeued"].as_bool() == Some(true) {
                println!("outbox item {id} queued again");
            } else {
                println!("outbox item {id} is not dead; nothing to retry");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Outbox {
            cmd: OutboxCmd::List { json },
        } => {
            let config = load(&cli)?;
            let data = query(&config, &Request::Outbox)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                let list: Vec<crate::service::views::OutboxView> = serde_json::from_value(data)?;
                if list.is_empty() {
                    println!("outbox is empty");
                }
                for i in list {
                    let state = serde_json::to_value(&i.state)?;
                    println!(
                        "#{:<5} ticket {:<6} {:<9} {:<10} attempts {:<3} to {}  {}{}",
                        i.id,
                        i.ticket,
                        format!("{:?}", i.kind).to_lowercase(),
                        state["state"].as_str().unwrap_or("?"),
                        i.attempts,
                        i.to.join(", "),
                        i.subject,
                        state["reason"]
                            .as_str()
                            .map(|r| format!("\n       {r}"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Quarantine {
            cmd: QuarantineCmd::List { json },
        } => {
            let config = load(&cli)?;
            let data = query(&config, &Request::Quarantine)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                let list: Vec<crate::io::store::QuarantineRecord> = serde_json::from_value(data)?;
                if list.is_empty() {
                    println!("quarantine is empty");
                }
                for q in list {
                    println!(
                        "#{:<5} {}  {} bytes  from {}  subject {}\n       reason: {}",
                        q.id,
                        q.at.format("%Y-%m-%d %H:%M:%S"),
                        q.size,
                        q.from.as_deref().unwrap_or("?"),
                        q.subject.as_deref().unwrap_or("?"),
                        q.reason
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Report { since, json } => {
            let config = load(&cli)?;
            let since = since
                .as_deref()
                .map(|s| report::parse_since(s, &config.calendar))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let data = query(&config, &Request::Report { since })?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                print_report(&serde_json::from_value(data)?, config.calendar.tz());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { json } => {
            let config = load(&cli)?;
            let data = query(&config, &Request::Status)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                print_status(&data);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Export into a fresh directory, import, check, swap: sled never shrinks its files, and this is
/// the measured way to get the space back (2–4× less on a churned store).
fn compact(config: &Config) -> Result<()> {
    let path = &config.store.path;
    let store = match Store::open(path) {
        Ok(s) => s,
        Err(StoreError::Locked(_)) => bail!("stop the daemon first: compaction rewrites the store"),
        Err(e) => return Err(e).context("cannot open store"),
    };
    let before = store.size_on_disk();
    let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
    let dump = path.with_extension(format!("export-{stamp}.jsonl"));
    let n = store.export(std::io::BufWriter::new(std::fs::File::create(&dump)?))?;
    let tickets = store.ticket_count();
    drop(store);
    let fresh = path.with_extension(format!("new-{stamp}"));
    let imported = {
        let new = Store::open(&fresh)?;
        let m = new.import(std::io::BufReader::new(std::fs::File::open(&dump)?))?;
        if m != n || new.ticket_count() != tickets {
            bail!(
                "compaction check failed ({m} of {n} records); the store is untouched, the copy is in {}",
                fresh.display()
            );
        }
        new.size_on_disk()
    };
    let old = path.with_extension(format!("old-{stamp}"));
    std::fs::rename(path, &old)?;
    std::fs::rename(&fresh, path)?;
    std::fs::remove_file(&dump)?;
    println!(
        "compacted {} records: {before} -> {imported} bytes; the old store is kept in {} (remove it when satisfied)",
        n,
        old.display()
    );
    Ok(())
}

/// Where a request goes: the running daemon (already answered) or the store, opened directly.
enum Target {
    Daemon(serde_json::Value),
    Store(Store),
}

/// Sends `req` to the running daemon, or opens the store when no daemon runs. A daemon that is
/// starting holds the store lock a moment before its socket listens, so a locked store means:
/// wait for the socket.
fn reach(config: &Config, req: &Request) -> Result<Target> {
    let socket = config.control_socket();
    if let Some(v) = control::request(&socket, req)? {
        return Ok(Target::Daemon(v));
    }
    match Store::open(&config.store.path) {
        Ok(s) => Ok(Target::Store(s)),
        Err(StoreError::Locked(p)) => {
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if let Some(v) = control::request(&socket, req)? {
                    return Ok(Target::Daemon(v));
                }
            }
            bail!(
                "the store {} is held by a running daemon, but its control socket {} does not answer",
                p.display(),
                socket.display()
            )
        }
        Err(e) => Err(e).context("cannot open store"),
    }
}

/// Asks the running daemon, or reads the store directly when no daemon runs.
fn query(config: &Config, req: &Request) -> Result<serde_json::Value> {
    if !matches!(req, Request::Import { .. }) && !config.store.path.join("db").exists() {
        bail!(
            "no store at {} yet (has `supportd run` ever run with this config?)",
            config.store.path.display()
        );
    }
    let store = match reach(config, req)? {
        Target::Daemon(v) => return Ok(v),
        Target::Store(s) => s,
    };
    let templates = match &config.outbound {
        Some(out) if matches!(req, Request::SetStatus { .. }) => Some(
            crate::desk::outbound::templates::Templates::load(out.templates_dir.as_deref())?,
        ),
        _ => None,
    };
    let ctx = views::Context {
        config: Some(config),
        templates: templates.as_ref(),
        ..Default::default()
    };
    views::answer(&store, ctx, req)
}

fn print_tickets(list: &[TicketSummary]) {
    if list.is_empty() {
        println!("no tickets");
        return;
    }
    println!(
        "{:>6}  {:<8} {:<3} {:<24} {:>4}  {:<16}  SUBJECT",
        "#", "STATUS", "PRI", "CUSTOMER", "MSGS", "UPDATED (UTC)"
    );
    for t in list {
        println!(
            "{:>6}  {:<8} {:<3} {:<24} {:>4}  {:<16}  {}",
            t.id,
            t.status.as_str(),
            t.priority.to_string(),
            truncate(&t.customer, 24),
            t.messages,
            t.updated_at.format("%Y-%m-%d %H:%M"),
            t.subject
        );
    }
}

fn print_ticket(t: &TicketDetail) {
    println!("Ticket {}  [{}] {}", t.id, t.status, t.priority);
    println!("Subject:   {}", t.subject);
    println!("Customer:  {}", t.customer);
    println!("Requester: {}", t.requester);
    println!(
        "Created:   {}",
        t.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!(
        "Updated:   {}",
        t.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(r) = t.related {
        println!("Related:   ticket {r}");
    }
    if let Some(a) = &t.assignee {
        println!("Assignee:  {a}");
    }
    if !t.priority_rule.is_empty() {
        println!("Priority:  {} ({})", t.priority, t.priority_rule);
    }
    for (name, key) in [
        ("First response", "first_response"),
        ("Update", "update"),
        ("Resolution", "resolution"),
    ] {
        let c = &t.sla[key];
        if let Some(due) = c["due_at"].as_str() {
            let state = match (c["stopped_at"].as_str(), c["breached"].as_bool()) {
                (Some(at), Some(true)) => format!("MISSED, stopped at {at}"),
                (Some(at), _) => format!("met at {at}"),
                (None, Some(true)) => "BREACHED".to_owned(),
                _ if c["paused"].as_bool() == Some(true) => "paused".to_owned(),
                _ => "running".to_owned(),
            };
            println!("{name:<15} due {due} ({state})");
        }
    }
    for e in &t.escalations {
        println!(
            "Escalated:  level {} at {} by {:?} ({})",
            e.level,
            e.at.format("%Y-%m-%d %H:%M:%S UTC"),
            e.by,
            e.detail
        );
    }
    if let Some(s) = &t.satisfaction {
        println!(
            "Satisfaction: {}/5 at {}{}",
            s.score,
            s.at.format("%Y-%m-%d %H:%M:%S UTC"),
            if s.comment.is_empty() {
                String::new()
            } else {
                format!(" \"{}\"", s.comment.replace('\n', " "))
            }
        );
    }
    for (i, m) in t.messages.iter().enumerate() {
        println!("\n--- message {} ({:?}) ---", i + 1, m.threaded_by);
        println!("From:    {}", m.from);
        if let Some(d) = m.date {
            println!("Date:    {}", d.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        println!("Subject: {}", m.subject);
        println!("Message-ID: <{}>", m.message_id);
        if !m.machine_generated.is_empty() {
            println!("Machine-generated: {}", m.machine_generated.join("; "));
        }
        for a in &m.attachments {
            println!(
                "Attachment: {} ({}, {} bytes)",
                a.name, a.content_type, a.size
            );
        }
        println!("\n{}", m.text);
    }
}

fn print_report(r: &Report, tz: chrono_tz::Tz) {
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M");
    match r.since {
        Some(s) => println!(
            "SLA report: tickets created since {} ({tz}), as of {}",
            local(s),
            local(r.as_of)
        ),
        None => println!("SLA report: all tickets, as of {} ({tz})", local(r.as_of)),
    }
    let mut by_priority = r.by_priority.clone();
    by_priority.push(r.overall.clone());
    let mut tables = vec![report_rows("PRIORITY", &by_priority)];
    // Only an empty period has no agent row (unassigned tickets have their own).
    if !r.by_agent.is_empty() {
        tables.push(report_rows("AGENT", &r.by_agent));
    }
    // One set of widths for both tables, so their columns line up under each other.
    let widths: Vec<usize> = (0..tables[0][0].len())
        .map(|i| {
            tables
                .iter()
                .flatten()
                .map(|row| row[i].width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for rows in &tables {
        println!();
        for row in rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                // Display width: a Chinese character takes two columns.
                let pad = " ".repeat(w.saturating_sub(cell.width()));
                // Names read left to right, figures line up on their last digit.
                if i == 0 {
                    line.push_str(&format!("{cell}{pad}"));
                } else {
                    line.push_str(&format!("  {pad}{cell}"));
                }
            }
            println!("{}", line.trim_end());
        }
    }
    println!(
        "\nRESP/RES MET: first-response/resolution targets met, of the tickets whose target is \
         decided\n  (clock stopped, or past due); MED/P90: time taken, pending time excluded.\n\
         ESC: tickets escalated; SLA/AGT/CUS: escalations by the SLA, agents, customers.\n\
         CSAT: average survey score (answers); SAT: answers scoring 4 or 5."
    );
}

/// The header and one row per group of a `report` table.
fn report_rows(first: &str, groups: &[report::Group]) -> Vec<Vec<String>> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let pct = |p: Option<f64>| opt(p.map(|p| format!("{p}%")));
    let time = |s: Option<i64>| opt(s.map(report::human_duration));
    let met =
        |t: &report::TargetStats| opt(t.met_pct.map(|p| format!("{p}% {}/{}", t.met, t.measured)));
    let header = [
        first,
        "TICKETS",
        "OPEN",
        "DONE",
        "RESP MET",
        "MED",
        "P90",
        "RES MET",
        "MED",
        "P90",
        "ESC",
        "SLA/AGT/CUS",
        "CSAT",
        "SAT",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for g in groups {
        let (f, res, s, by) = (
            &g.first_response,
            &g.resolution,
            &g.satisfaction,
            &g.escalations_by,
        );
        rows.push(vec![
            g.name.clone(),
            g.tickets.to_string(),
            g.open.to_string(),
            g.resolved.to_string(),
            met(f),
            time(f.median_secs),
            time(f.p90_secs),
            met(res),
            time(res.median_secs),
            time(res.p90_secs),
            g.escalated.to_string(),
            format!("{}/{}/{}", by.sla, by.agent, by.customer),
            opt(s.average.map(|a| format!("{a:.1} ({})", s.answers))),
            pct(s.satisfied_pct),
        ]);
    }
    rows
}

fn print_status(v: &serde_json::Value) {
    let daemon = v["daemon"].as_bool() == Some(true);
    println!(
        "daemon:      {}",
        if daemon { "running" } else { "not running" }
    );
    println!(
        "tickets:     {}  {}",
        v["tickets"],
        v["tickets_by_status"]
            .as_object()
            .map(|m| m
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    println!("messages:    {}", v["messages"]);
    println!("quarantined: {}", v["quarantined"]);
    println!("store:       {} bytes on disk", v["store_bytes"]);
    let i = &v["ingest"];
    if daemon {
        println!(
            "imap:        {}{}, last sync {}",
            if i["connected"].as_bool() == Some(true) {
                "connected"
            } else {
                "disconnected"
            },
            if i["idle"].as_bool() == Some(true) {
                " (IDLE)"
            } else {
                " (polling)"
            },
            i["last_sync"].as_str().unwrap_or("never")
        );
        println!(
            "since start: {} stored, {} duplicates, {} quarantined, {} reconnects",
            i["stored"], i["duplicates"], i["quarantined"], i["reconnects"]
        );
        if let Some(e) = i["last_error"].as_str() {
            println!("last error:  {e}");
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
