//! `supportd run`: open the store, start the control socket and ingest, stop cleanly on a signal.
//!
//! Shutdown is one `watch` channel: SIGTERM/SIGINT flip it, ingest finishes the mail in hand
//! (its batch is fsynced and moved), IDLE is ended with DONE, and the store is flushed last.
//!
//! Under systemd (`Type=notify`, see `deploy/supportd.service`) the main loop also speaks the
//! notification protocol ([`crate::io::systemd`]): `READY=1` once the store is open and IMAP is
//! logged in, `WATCHDOG=1` at half of `$WATCHDOG_USEC` while the runtime still runs tasks,
//! `STATUS=` lines, and `STOPPING=1` on SIGTERM/SIGINT. SIGHUP is `systemctl reload`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::io::http;
use crate::io::store::Store;
use crate::io::systemd;
use crate::service::control;
use crate::service::health::Health;
use crate::service::ingest::Ingest;
use crate::service::metrics::IngestStatus;
use crate::service::sender::Sender;
use crate::service::settings::Settings;

/// How often the main loop looks at ingest before `READY=1` (bounds the readiness delay).
const READY_POLL: Duration = Duration::from_millis(100);
/// How often the `STATUS=` line is recomputed once ready.
const STATUS_EVERY: Duration = Duration::from_secs(2);

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<()> {
    let result = run_inner(config).await;
    if let Err(e) = &result {
        systemd::status(&format!("failed: {e:#}"));
    }
    result
}

async fn run_inner(config: Config) -> Result<()> {
    // Handlers first: a SIGTERM during start-up must still mean a clean stop.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // Without a handler SIGHUP would kill the daemon; `systemctl reload` sends it.
    let mut hup = signal(SignalKind::hangup())?;
    let config = Arc::new(config);
    systemd::status("opening the store");
    let store = Store::open(&config.store.path)
        .with_context(|| format!("cannot open store {}", config.store.path.display()))?;
    info!(path = %config.store.path.display(), tickets = store.ticket_count(), "store open");
    let (stop_tx, stop_rx) = watch::channel(false);

    let wake = Arc::new(tokio::sync::Notify::new());
    let settings = Arc::new(Settings::from_config(config.clone())?);
    let (settings_tx, live) = watch::channel(settings);
    let mut ingest = Ingest::with_settings(live.clone(), store.clone());
    ingest.wake_outbox(wake.clone());
    let sender = match &config.smtp {
        Some(_) => Some(Sender::new(config.clone(), store.clone(), wake.clone())?),
        None => None,
    };
    let shared = control::Shared {
        store: store.clone(),
        live: live.clone(),
        ingest: ingest.status.clone(),
        sender: sender.as_ref().map(|s| s.stats.clone()),
        wake: wake.clone(),
    };
    let ingest_status = ingest.status.clone();
    let http = match &config.http {
        Some(h) => {
            let listener = http::bind(h.listen).await?;
            let health = Health::new(
                config.clone(),
                store.clone(),
                ingest.status.clone(),
                sender.as_ref().map(|s| s.stats.clone()),
            );
            // Checked once before serving, so the first /healthz has a store verdict.
            health.check_store().await;
            let checks = tokio::spawn(health.clone().run_store_checks(stop_rx.clone()));
            let mut rx = stop_rx.clone();
            let server = tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.changed().await;
                };
                let route = move |path: String| {
                    let health = health.clone();
                    async move { health.route(&path).await }
                };
                if let Err(e) = http::serve(listener, route, stop).await {
                    error!(error = %format!("{e:#}"), "health listener failed");
                }
            });
            Some((checks, server))
        }
        None => None,
    };
    let socket = config.control_socket();
    let sender_stats = sender.as_ref().map(|s| s.stats.clone());
    let control_task = {
        let rx = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = control::serve(&socket, shared, rx).await {
                error!(error = %format!("{e:#}"), "control socket failed");
            }
        })
    };
    let sender_task = sender.map(|s| {
        let rx = stop_rx.clone();
        tokio::spawn(async move {
            if let Err(e) = s.run(rx).await {
                error!(error = %format!("{e:#}"), "outbox sender failed");
            }
        })
    });
    let scheduler_task = tokio::spawn(crate::service::scheduler::run(
        live.clone(),
        store.clone(),
        wake.clone(),
        stop_rx.clone(),
    ));
    let ingest_task = tokio::spawn(ingest.run(stop_rx.clone()));

    systemd::status(&format!(
        "logging in to IMAP {}:{}",
        config.imap.host,
        config.imap_port()
    ));
    let mut ingest_task = ingest_task;
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
    let ingest_result = loop {
        tokio::select! {
            _ = term.recv() => { info!("SIGTERM: shutting down"); break None }
            _ = int.recv() => { info!("SIGINT: shutting down"); break None }
            r = &mut ingest_task => break Some(r),
            _ = hup.recv() => reload(&settings_tx),
            _ = status_tick.tick() => {
                let st = ingest_status.lock().unwrap().clone();
                if !ready && st.connected {
                    ready = true;
                    let text = status_text(&st, sender_stats.as_ref());
                    systemd::ready(&text);
                    status.sent(text);
                    info!("ready");
                    status_tick = tokio::time::interval_at(
                        tokio::time::Instant::now() + STATUS_EVERY,
                        STATUS_EVERY,
                    );
                    watchdog_tick.reset_immediately();
                } else if ready {
                    status.set(status_text(&st, sender_stats.as_ref()));
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
    };
    systemd::stopping("stopping: finishing the mail in hand");
    let _ = stop_tx.send(true);
    let ingest_result = match ingest_result {
        Some(r) => r,
        None => ingest_task.await,
    };
    let _ = control_task.await;
    let _ = scheduler_task.await;
    if let Some(t) = sender_task {
        let _ = t.await;
    }
    if let Some((checks, server)) = http {
        let _ = checks.await;
        let _ = server.await;
    }
    store.sync().await.context("final store flush failed")?;
    info!("stopped");
    ingest_result.context("ingest task panicked")?
}

/// SIGHUP: re-read the configuration, customer directory and templates. Only a complete, valid
/// set replaces the running one; otherwise the old settings stay and the log says why. The IMAP
/// session is not touched.
fn reload(settings_tx: &watch::Sender<Arc<Settings>>) {
    let current = settings_tx.borrow().clone();
    let path = current.config.path.clone();
    match current.reload(&path) {
        Ok((new, restart)) => {
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

/// One `STATUS=` line for `systemctl status`.
fn status_text(
    st: &IngestStatus,
    sender: Option<&Arc<Mutex<crate::service::metrics::SendStats>>>,
) -> String {
    let imap = if st.connected {
        if st.idle { "IMAP idle" } else { "IMAP polling" }.to_owned()
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
