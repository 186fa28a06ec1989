//! `supportd run`: open the store, start the control socket and ingest, stop cleanly on a signal.
//!
//! Shutdown is one `watch` channel: SIGTERM/SIGINT flip it, ingest finishes the mail in hand
//! (its batch is fsynced and moved), IDLE is ended with DONE, and the store is flushed last.

use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info};

use crate::config::Config;
use crate::control;
use crate::ingest::Ingest;
use crate::outbox::Sender;
use crate::store::Store;

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(config: Config) -> Result<()> {
    // Handlers first: a SIGTERM during start-up must still mean a clean stop.
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let config = Arc::new(config);
    let store = Store::open(&config.store.path)
        .with_context(|| format!("cannot open store {}", config.store.path.display()))?;
    info!(path = %config.store.path.display(), tickets = store.ticket_count(), "store open");
    let (stop_tx, stop_rx) = watch::channel(false);

    let wake = Arc::new(tokio::sync::Notify::new());
    let mut ingest = Ingest::new(config.clone(), store.clone())?;
    ingest.wake_outbox(wake.clone());
    let templates = match &config.outbound {
        Some(out) => Some(Arc::new(crate::outbound::Templates::load(
            out.templates_dir.as_deref(),
        )?)),
        None => None,
    };
    let sender = match &config.smtp {
        Some(_) => Some(Sender::new(config.clone(), store.clone(), wake.clone())?),
        None => None,
    };
    let shared = control::Shared {
        store: store.clone(),
        config: config.clone(),
        templates,
        ingest: ingest.status.clone(),
        sender: sender.as_ref().map(|s| s.stats.clone()),
        wake: wake.clone(),
    };
    let socket = config.control_socket();
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
    let ingest_task = tokio::spawn(ingest.run(stop_rx.clone()));

    let mut ingest_task = ingest_task;
    let ingest_result = tokio::select! {
        _ = term.recv() => { info!("SIGTERM: shutting down"); None }
        _ = int.recv() => { info!("SIGINT: shutting down"); None }
        r = &mut ingest_task => Some(r),
    };
    let _ = stop_tx.send(true);
    let ingest_result = match ingest_result {
        Some(r) => r,
        None => ingest_task.await,
    };
    let _ = control_task.await;
    if let Some(t) = sender_task {
        let _ = t.await;
    }
    store.sync().await.context("final store flush failed")?;
    info!("stopped");
    ingest_result.context("ingest task panicked")?
}
