//! What each subcommand does: load the configuration, ask the daemon or the store, print.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde::de::DeserializeOwned;

use crate::cli::args::{Cli, Cmd, OutboxCmd, QuarantineCmd, TicketCmd};
use crate::cli::query::{Target, query, reach};
use crate::cli::{assets, bench, fuzz, print, sweep_bench};
use crate::config::Config;
use crate::config::sections::LogFormat;
use crate::desk::report;
use crate::io::compact::compact;
use crate::service::redact::{self, Redacting, Secrets};
use crate::service::requests::Request;
use crate::service::{control, daemon};

/// Runs the parsed command line; the exit code is 2 for an invalid configuration.
pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.cmd {
        Cmd::CheckConfig => return Ok(check_config(&cli)),
        Cmd::BenchSweep(args) => sweep_bench::run(args.clone())?,
        Cmd::Fuzz(args) => return fuzz::run(args.clone()),
        Cmd::GenerateAssets { dir } => {
            for f in assets::generate(dir)? {
                println!("{}", f.display());
            }
        }
        cmd => {
            let config = load(&cli)?;
            with_config(&config, cmd)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_config(cli: &Cli) -> ExitCode {
    match Config::load(&cli.config) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: OK (imap {}:{} as {}, store {})",
                cli.config.display(),
                c.imap.host,
                c.imap_port(),
                c.imap.username,
                c.store.path.display()
            );
            let accounts = c.ingest_accounts();
            if accounts.len() > 1 {
                for a in &accounts {
                    println!("ingest: {} (queues {})", a.name, a.queues.join(", "));
                }
            }
            match &c.outbound {
                Some(out) => println!("outbound secret: {}", out.secret_source.describe()),
                None => println!("outbound mail: off (no [smtp] section)"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{e}");
            ExitCode::from(2)
        }
    }
}

fn load(cli: &Cli) -> Result<Config> {
    Config::load(&cli.config).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Every subcommand that needs the configuration.
fn with_config(config: &Config, cmd: &Cmd) -> Result<()> {
    match cmd {
        Cmd::CheckConfig | Cmd::BenchSweep(_) | Cmd::Fuzz(_) | Cmd::GenerateAssets { .. } => {
            unreachable!("handled without a configuration")
        }
        Cmd::Run => {
            let secrets = init_tracing(config);
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(daemon::run(config.clone(), secrets))?;
        }
        Cmd::Export => export(config)?,
        Cmd::Import { file } => {
            let path = std::fs::canonicalize(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let v = query(config, &Request::Import { path: path.clone() })?;
            let n = v["records"].as_u64().unwrap_or(0);
            println!("imported {n} records from {}", path.display());
        }
        Cmd::Compact => {
            let c = compact(&config.store.path)?;
            println!(
                "compacted {} records: {} -> {} bytes; the old store is kept in {} (remove it when satisfied)",
                c.records,
                c.before,
                c.after,
                c.old.display()
            );
        }
        Cmd::Bench(args) => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(bench::run(config.clone(), args.clone()))?;
        }
        Cmd::Tickets {
            status,
            all,
            queue,
            json,
        } => show(
            config,
            &Request::Tickets {
                status: *status,
                queue: queue.clone(),
                all: *all,
            },
            *json,
            |list: Vec<_>| {
                print::tickets(&list);
                Ok(())
            },
        )?,
        Cmd::Ticket {
            cmd: TicketCmd::Show { id, json },
        } => show(config, &Request::Ticket { id: *id }, *json, |t| {
            print::ticket(&t);
            Ok(())
        })?,
        Cmd::Ticket {
            cmd: TicketCmd::SetStatus { id, status },
        } => {
            let req = Request::SetStatus {
                id: *id,
                status: *status,
            };
            if query(config, &req)?["changed"].as_bool() == Some(true) {
                println!("ticket {id} is now {status}");
            } else {
                println!("ticket {id} already was {status}");
            }
        }
        Cmd::Outbox {
            cmd: OutboxCmd::Retry { id },
        } => {
            let v = query(config, &Request::OutboxRetry { id: *id })?;
            if v["requeued"].as_bool() == Some(true) {
                println!("outbox item {id} queued again");
            } else {
                println!("outbox item {id} is not dead; nothing to retry");
            }
        }
        Cmd::Outbox {
            cmd: OutboxCmd::List { json },
        } => show(config, &Request::Outbox, *json, |list: Vec<_>| {
            print::outbox(&list)
        })?,
        Cmd::Quarantine {
            cmd: QuarantineCmd::Release { id },
        } => {
            let v = query(config, &Request::QuarantineRelease { id: *id })?;
            match (v["ticket"].as_u64(), v["created"].as_bool()) {
                (Some(t), Some(true)) => println!("quarantined mail {id} opened ticket {t}"),
                (Some(t), _) => println!("quarantined mail {id} was added to ticket {t}"),
                _ => println!("quarantined mail {id} was already stored"),
            }
        }
        Cmd::Quarantine {
            cmd: QuarantineCmd::List { json },
        } => show(config, &Request::Quarantine, *json, |list: Vec<_>| {
            print::quarantine(&list);
            Ok(())
        })?,
        Cmd::Report { since, json } => {
            let since = since
                .as_deref()
                .map(|s| report::parse_since(s, &config.calendar))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
            let tz = config.calendar.tz();
            show(config, &Request::Report { since }, *json, |r| {
                print::report(&r, tz);
                Ok(())
            })?
        }
        Cmd::Status { json } => {
            let data = query(config, &Request::Status)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&data)?);
            } else {
                print::status(&data);
            }
        }
    }
    Ok(())
}

/// Asks for `req` and prints the answer: as pretty JSON with `--json`, else read as `T` and
/// printed by `human`.
fn show<T: DeserializeOwned>(
    config: &Config,
    req: &Request,
    json: bool,
    human: impl FnOnce(T) -> Result<()>,
) -> Result<()> {
    let data = query(config, req)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&data)?);
        Ok(())
    } else {
        human(serde_json::from_value(data)?)
    }
}

/// `export`: streamed from the daemon when it runs, else straight from the store.
fn export(config: &Config) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if control::export(&config.control_socket(), &mut out)? {
        return Ok(());
    }
    match reach(config, &Request::Status)? {
        // The daemon came up while we looked: ask it.
        Target::Daemon(_) => {
            if !control::export(&config.control_socket(), &mut out)? {
                bail!("the daemon stopped answering during the export");
            }
        }
        Target::Store(store) => {
            // Spooled, and the store closed before the copy: a stalled pipe must not keep a
            // starting daemon out of its store.
            let (spool, n) = store.export_spooled()?;
            drop(store);
            control::copy_export(&mut std::io::BufReader::new(spool), &mut out)?;
            eprintln!("exported {n} records");
        }
    }
    Ok(())
}

/// Logging for `run`: JSON or text as configured; under systemd without timestamps (the journal
/// adds them) and colours only on a terminal. No secret reaches it ([`redact`]): the returned
/// [`Secrets`] learn the new ones on SIGHUP.
fn init_tracing(config: &Config) -> Secrets {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(config.log.level.as_deref().unwrap_or("supportd=info,warn"))
    });
    let secrets = Secrets::default();
    secrets.learn(config);
    let builder = tracing_subscriber::fmt().with_env_filter(redact::quiet_wire_traces(filter));
    match config.log.format {
        LogFormat::Json => builder
            .json()
            .with_writer(Redacting {
                inner: std::io::stdout,
                secrets: secrets.clone(),
            })
            .init(),
        LogFormat::Text => {
            // Under systemd the journal timestamps every line itself; colours only on a terminal.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let builder = builder.with_ansi(ansi).with_writer(Redacting {
                inner: std::io::stderr,
                secrets: secrets.clone(),
            });
            if std::env::var_os("JOURNAL_STREAM").is_some() {
                builder.without_time().init()
            } else {
                builder.init()
            }
        }
    }
    secrets
}
