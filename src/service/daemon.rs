//! `supportd run`: open the store, start the control socket and ingest, stop cleanly on a signal.
//!
//! Shutdown is one signal ([`crate::service::shutdown`]): SIGTERM/SIGINT fire it, ingest
//! finishes the mail in hand (its batch is fsynced and moved), IDLE is ended with DONE, every
//! task is waited for and its ending reported, and the store is flushed last. A task that panics
//! (or ingest failing) stops the daemon with an error, so systemd restarts it
//! ([`crate::service::tasks`]).
//!
//! Under systemd (`Type=notify`, see `deploy/supportd.service`) the main loop also speaks the
//! notification protocol ([`crate::io::systemd`]): `READY=1` once the store is open and IMAP is
//! logged in, `WATCHDOG=1` at half of `$WATCHDOG_USEC` while the runtime still runs tasks,
//! `STATUS=` lines, and `STOPPING=1` on SIGTERM/SIGINT. SIGHUP is `systemctl reload`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::io::http;
use crate::io::store::secret::Provided;
use crate::io::store::{Store, StoreError};
use crate::io::systemd;
use crate::service::accounts::IngestStatuses;
use crate::service::control;
use crate::service::health::Health;
use crate::service::ingest::Ingest;
use crate::service::metrics::SendStats;
use crate::service::redact::Secrets;
use crate::service::scheduler;
use crate::service::sender::Sender;
use crate::service::settings::{Live, Settings};
use crate::service::shutdown::{Shutdown, Trigger};
use crate::service::tasks::{Ended, Tasks};

/// How often the main loop looks at ingest before `READY=1` (bounds the readiness delay).
const READY_POLL: Duration = Duration::from_millis(100);
/// How often the `STATUS=` line is recomputed once ready.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) async fn run(config: Config, secrets: Secrets) -> Result<()> {
    let result = run_inner(config, secrets).await;
    if let Err(e) = &result {
        systemd::status(&format!("failed: {e:#}"));
    }
    result
}

async fn run_inner(config: Config, secrets: Secrets) -> Result<()> {
    // Handlers first: a SIGTERM during start-up must still mean a clean stop.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // Without a handler SIGHUP would kill the daemon; `systemctl reload` sends it.
    let mut hup = signal(SignalKind::hangup())?;
    for w in &config.warnings {
        warn!(key = %w.key, "{}", w.message);
    }
    let mut config = config;
    systemd::status("opening the store");
    let store = open_store(&config.store.path, config.store.cache_bytes()).await?;
    secret_in_use(&store, &mut config)?;
    // A generated secret is known only now: hidden from the log like a configured one.
    secrets.learn(&config);
    let identity = store.identity();
    info!(
        path = %config.store.path.display(),
        tickets = store.ticket_count(),
        instance = %identity.instance_id,
        "store open"
    );
    config.bind(&identity.instance());
    let config = Arc::new(config);
    let (trigger, shutdown) = Trigger::new();
    let settings = Arc::new(Settings::from_config(config.clone())?);
    let (settings_tx, live) = watch::channel(settings);
    let settings_tx = Arc::new(settings_tx);
    let mut tasks = Tasks::default();
    let (ingest_status, sender_stats) =
        start_tasks(&config, &store, &live, &settings_tx, &shutdown, &mut tasks).await?;

    systemd::status(&format!(
        "logging in to IMAP {}:{}",
        config.imap.host,
        config.imap_port()
    ));
    let mut ready = false;
    let mut status = systemd::StatusLine::default();
    let mut status_tick = tokio::time::interval(READY_POLL);
    status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Pinged at half the timeout, as sd_watchdog_enabled(3) recommends; systemd arms the
    // watchdog at READY=1, so the pings start then too.
    let watchdog = systemd::watchdog_timeout();
    let mut watchdog_tick =
        tokio::time::interval(watchdog.map_or(Duration::from_secs(3600), |d| {
            (d / 2).max(Duration::from_millis(1))
        }));
    watchdog_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if let Some(d) = watchdog {
        info!(timeout = ?d, "systemd watchdog enabled");
    }
    let mut failure = None;
    let mut fault_seen = false;
    loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: shutting down"); break }
            _ = int.recv() => { info!("SIGINT: shutting down"); break }
            Some((name, ended)) = tasks.next() => {
                // Every task runs until shutdown: one that ends now is a fault.
                if let Some(e) = ended_early(name, ended) {
                    failure = Some(e);
                    break;
                }
            }
            _ = hup.recv() => reload(&settings_tx, &store, &secrets),
            _ = status_tick.tick() => {
                if let Some(cause) = store.fault() {
                    if !fault_seen {
                        fault_seen = true;
                        error!(error = %cause, "the store failed; ingest, sending and the SLA sweep wait, /healthz reports it, and the daemon restarts once the store's directory is writable again");
                        systemd::status(&format!("store failed: {cause}; waiting for the disk"));
                    }
                    if store_writable_again(store.path()).await {
                        failure = Some(anyhow!(
                            "the store failed ({cause}) and its directory is writable again: exiting so that a fresh start reopens it"
                        ));
                        break;
                    }
                    continue;
                }
                let st = ingest_status.total();
                if !ready && ingest_status.any_connected() {
                    ready = true;
                    let text = status_text(&ingest_status, sender_stats.as_ref());
                    systemd::ready(&text);
                    status.sent(text);
                    info!("ready");
                    status_tick = tokio::time::interval_at(
                        tokio::time::Instant::now() + STATUS_EVERY,
                        STATUS_EVERY,
                    );
                    watchdog_tick.reset_immediately();
                } else if ready {
                    status.set(status_text(&ingest_status, sender_stats.as_ref()));
                } else if let Some(e) = &st.last_error {
                    status.set(format!("waiting for IMAP login: {e}"));
                }
            }
            _ = watchdog_tick.tick(), if ready && watchdog.is_some() => {
                let limit = watchdog.unwrap_or_default() / 4;
                if runtime_responsive(limit).await {
                    systemd::watchdog();
                } else {
                    warn!(?limit, "runtime did not run a probe task in time; watchdog ping withheld");
                }
            }
        }
    }
    systemd::stopping("stopping: finishing the mail in hand");
    trigger.fire();
    while let Some((name, ended)) = tasks.next().await {
        match ended {
            Ended::Done => debug!(task = name, "stopped"),
            Ended::Failed(e) if name == INGEST => {
                error!(task = name, error = %format!("{e:#}"), "failed while stopping");
                failure.get_or_insert(e);
            }
            Ended::Failed(e) => {
                error!(task = name, error = %format!("{e:#}"), "failed while stopping")
            }
            Ended::Panicked(m) => {
                error!(task = name, panic = %m, "panicked while stopping");
                failure.get_or_insert(anyhow!("the {name} task panicked: {m}"));
            }
        }
    }
    if let Some(cause) = store.fault() {
        // sled in its error state can hang flushing, also when dropped: the handle is leaked
        // and the process ends with what is on disk, which is all that was acknowledged.
        warn!(error = %cause, "the store failed: no final flush");
        std::mem::forget(store);
    } else {
        store.sync().await.context("final store flush failed")?;
    }
    info!("stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How long the daemon waits at start for a store another process holds: a CLI command that
/// found no control socket (the daemon restarting) reads the store directly for a moment, and a
/// daemon still stopping flushes it.
const STORE_LOCKED_WAIT: Duration = Duration::from_secs(30);

/// Opens the store, waiting up to [`STORE_LOCKED_WAIT`] while another process holds it.
async fn open_store(path: &std::path::Path, cache_bytes: u64) -> Result<Store> {
    let deadline = tokio::time::Instant::now() + STORE_LOCKED_WAIT;
    let mut told = false;
    loop {
        match Store::open_with_cache(path, cache_bytes) {
            Err(StoreError::Locked(_)) if tokio::time::Instant::now() < deadline => {
                if !told {
                    warn!(path = %path.display(), wait = ?STORE_LOCKED_WAIT, "the store is in use by another process (a supportd command?); waiting for it");
                    systemd::status("waiting for the store: in use by another process");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            r => {
                return r.with_context(|| format!("cannot open store {}", path.display()));
            }
        }
    }
}

/// Name of the ingest task, whose failure is the daemon's (it cannot work without its mailbox).
const INGEST: &str = "ingest";

/// Starts every task: ingest, the outbox sender (with `[smtp]`), the SLA scheduler, the control
/// socket and (with `[http]`) the health listener with its store checks. Returns the shared
/// status the main loop reports to systemd.
async fn start_tasks(
    config: &Arc<Config>,
    store: &Store,
    live: &Live,
    publish: &Arc<watch::Sender<Arc<Settings>>>,
    shutdown: &Shutdown,
    tasks: &mut Tasks,
) -> Result<(IngestStatuses, Option<Arc<Mutex<SendStats>>>)> {
    let wake = Arc::new(tokio::sync::Notify::new());
    // One task per distinct account and mailbox: a failing one only backs off itself.
    let accounts = config.ingest_accounts();
    let ingest_status = IngestStatuses::new(config, &accounts);
    let ingests: Vec<Ingest> = accounts
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut ingest = Ingest::with_settings(live.clone(), store.clone()).for_account(a);
            ingest.status = ingest_status.slot(i);
            ingest.wake_outbox(wake.clone());
            ingest
        })
        .collect();
    let sender = match &config.smtp {
        Some(_) => Some(Sender::new(config.clone(), store.clone(), wake.clone())?),
        None => None,
    };
    let sender_stats = sender.as_ref().map(|s| s.stats.clone());
    if let Some(h) = &config.http {
        let listener = http::bind(h.listen).await?;
        let health = Health::new(
            config.clone(),
            store.clone(),
            ingest_status.clone(),
            sender_stats.clone(),
        );
        // Checked once before serving, so the first /healthz has a store verdict.
        health.check_store().await;
        let checks = health.clone().run_store_checks(shutdown.clone());
        tasks.spawn("store checks", async move {
            checks.await;
            Ok(())
        });
        let mut stop = shutdown.clone();
        let route = move |path: String| {
            let health = health.clone();
            async move { health.route(&path).await }
        };
        tasks.spawn("health listener", async move {
            http::serve(listener, route, async move { stop.recv().await })
                .await
                .context("health listener failed")
        });
    }
    let shared = control::Shared {
        store: store.clone(),
        live: live.clone(),
        publish: publish.clone(),
        ingest: ingest_status.clone(),
        sender: sender_stats.clone(),
        wake: wake.clone(),
    };
    let socket = config.control_socket();
    let stop = shutdown.clone();
    tasks.spawn("control socket", async move {
        control::serve(&socket, shared, stop)
            .await
            .context("control socket failed")
    });
    if let Some(s) = sender {
        let stop = shutdown.clone();
        tasks.spawn("outbox sender", async move {
            s.run(stop).await.context("outbox sender failed")
        });
    }
    let scheduler = scheduler::run(live.clone(), store.clone(), wake, shutdown.clone());
    tasks.spawn("scheduler", async move {
        scheduler.await;
        Ok(())
    });
    for ingest in ingests {
        let name = ingest.account_name().to_owned();
        let run = ingest.run(shutdown.clone());
        tasks.spawn(INGEST, async move {
            run.await.with_context(|| format!("account {name}"))
        });
    }
    Ok((ingest_status, sender_stats))
}

/// Reports a task that ended before shutdown and returns the error that stops the daemon. Every
/// task runs until shutdown and handles its own per-item failures (a mail, an outbox item, a
/// ticket), so one that ends is broken for good: a daemon that silently stopped sending mail or
/// answering the CLI would look healthy to systemd. Ending non-zero makes systemd restart it.
fn ended_early(name: &'static str, ended: Ended) -> Option<anyhow::Error> {
    Some(match ended {
        Ended::Panicked(m) => {
            error!(task = name, panic = %m, "task panicked; stopping so the service is restarted");
            anyhow!("the {name} task panicked: {m}")
        }
        Ended::Failed(e) => {
            error!(task = name, error = %format!("{e:#}"), "task failed; stopping so the service is restarted");
            e.context(format!("the {name} task failed"))
        }
        Ended::Done => {
            error!(
                task = name,
                "task ended before shutdown; stopping so the service is restarted"
            );
            anyhow!("the {name} task stopped on its own")
        }
    })
}

/// Whether the store's directory takes a write again (a probe file of a few MiB, fsynced, then
/// removed), so a restart can reopen the store.
async fn store_writable_again(dir: &std::path::Path) -> bool {
    let dir = dir.to_owned();
    tokio::task::spawn_blocking(move || {
        crate::service::health::probe_dir(&dir, RECOVERY_PROBE_BYTES).is_ok()
    })
    .await
    .unwrap_or(false)
}

/// Size of the probe that decides a failed store's disk has room again.
const RECOVERY_PROBE_BYTES: usize = 4 << 20;

/// SIGHUP: re-read the configuration, customer directory and templates. Only a complete, valid
/// set replaces the running one; otherwise the old settings stay and the log says why. The IMAP
/// session is not touched.
fn reload(settings_tx: &watch::Sender<Arc<Settings>>, store: &Store, secrets: &Secrets) {
    let current = settings_tx.borrow().clone();
    let path = current.config.path.clone();
    match current.reload(&path, store) {
        Ok((new, restart)) => {
            secrets.learn(&new.config);
            settings_tx.send_replace(Arc::new(new));
            info!(path = %path.display(), "SIGHUP: reloaded agents, customer directory, templates and rules");
            if restart.is_empty() {
                systemd::status("SIGHUP: configuration reloaded");
            } else {
                warn!(sections = %restart.join(", "), "SIGHUP: these sections changed and take effect only after a restart");
                systemd::status(&format!(
                    "SIGHUP: reloaded; restart to apply {}",
                    restart.join(", ")
                ));
            }
        }
        Err(e) => {
            warn!(path = %path.display(), error = %format!("{e:#}").trim_end(), "SIGHUP: reload failed; keeping the running configuration");
            systemd::status(
                "SIGHUP: reload failed; running on the previous configuration (see the log)",
            );
        }
    }
}

/// Fills in the store's signing secret when none is configured (generating it on the first
/// start) and says which secret is in use, never the secret.
fn secret_in_use(store: &Store, config: &mut Config) -> Result<()> {
    let provided = store
        .complete_secret(config)
        .context("cannot read the outbound secret from the store")?;
    if let Some(out) = &config.outbound {
        let source = out.secret_source.describe();
        match provided {
            Provided::Generated => {
                info!(source = %source, "generated the outbound signing secret (first start)")
            }
            Provided::Kept | Provided::Configured => {
                info!(source = %source, "outbound signing secret")
            }
        }
    }
    Ok(())
}

/// One `STATUS=` line for `systemctl status`.
fn status_text(
    accounts: &IngestStatuses,
    sender: Option<&Arc<Mutex<crate::service::metrics::SendStats>>>,
) -> String {
    let st = accounts.total();
    let each = accounts.each();
    let down: Vec<_> = each.iter().filter(|(_, s)| !s.connected).collect();
    let imap = if st.connected {
        if st.idle { "IMAP idle" } else { "IMAP polling" }.to_owned()
    } else if accounts.several() && down.len() < each.len() {
        format!(
            "IMAP: {} of {} accounts down ({})",
            down.len(),
            each.len(),
            down.iter()
                .map(|(a, s)| format!(
                    "{}: {}",
                    a.name,
                    s.last_error.as_deref().unwrap_or("disconnected")
                ))
                .collect::<Vec<_>>()
                .join("; ")
        )
    } else {
        format!(
            "IMAP reconnecting ({})",
            st.last_error.as_deref().unwrap_or("disconnected")
        )
    };
    // Counters only: anything that scans the store (even `ticket_count`) would run on the main
    // loop every few seconds.
    let mut s = format!(
        "{imap}; since start: {} stored, {} duplicates, {} quarantined",
        st.stored, st.duplicates, st.quarantined
    );
    if let Some(sender) = sender {
        let o = sender.lock().unwrap();
        s.push_str(&format!(
            "; outbox: {} sent, {} failures",
            o.sent, o.failures
        ));
    }
    s
}

/// True when a worker thread runs a freshly spawned task within `limit`: the watchdog ping then
/// vouches for the whole runtime, not only for the thread running the main loop.
async fn runtime_responsive(limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, tokio::spawn(async {})).await,
        Ok(Ok(()))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_task_ending_before_shutdown_stops_the_daemon() {
        assert!(ended_early("scheduler", Ended::Panicked("boom".into())).is_some());
        assert!(ended_early("control socket", Ended::Panicked("boom".into())).is_some());
        assert!(ended_early(INGEST, Ended::Failed(anyhow!("store locked"))).is_some());
        assert!(ended_early(INGEST, Ended::Done).is_some());
        let e = ended_early("control socket", Ended::Failed(anyhow!("bind"))).unwrap();
        assert_eq!(format!("{e:#}"), "the control socket task failed: bind");
        assert!(ended_early("outbox sender", Ended::Done).is_some());
    }
}
