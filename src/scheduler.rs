//! The SLA scheduler: every few seconds, fire the escalation steps that have fallen due.
//!
//! The store keeps active tickets ordered by their next due time, so a sweep looks only at the
//! tickets that are due, however many are open. Each ticket's fired steps and the mails they
//! cause are committed in one transaction ([`crate::desk::escalate`]), so a step fires exactly
//! once even if the daemon dies mid-sweep.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::desk::{self, Effect};
use crate::settings::Live;
use crate::store::Store;

/// How often due tickets are swept (the issue asks for at least every 30 s).
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Fires every step due by `now`; returns the number of mails enqueued. Not yet durable: the
/// caller syncs.
pub fn sweep(config: &Config, store: &Store, now: DateTime<Utc>) -> Result<usize> {
    let mut mails = 0;
    for id in store.due_tickets(now) {
        let _w = store.write_lock();
        let Some(ticket) = store.ticket(id)? else {
            continue;
        };
        match desk::escalate(config, &ticket, now) {
            Some((t, outgoing, effects)) => {
                for Effect::Log(line) in effects {
                    info!(ticket = t.id, "{line}");
                }
                mails += outgoing.len();
                store.commit_ticket(&t, &outgoing)?;
            }
            // The index was ahead of the ticket (e.g. paused meanwhile): refresh it.
            None => store.commit_ticket(&ticket, &[])?,
        }
    }
    Ok(mails)
}

/// Sweeps every [`SWEEP_EVERY`] until shutdown, with the current (reloadable) settings.
pub async fn run(live: Live, store: Store, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let config = live.borrow().config.clone();
        let s = store.clone();
        let result = tokio::task::spawn_blocking(move || sweep(&config, &s, Utc::now())).await;
        match result {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => {
                if let Err(e) = store.sync().await {
                    warn!(error = %format!("{e:#}"), "SLA sweep: store sync failed");
                    continue;
                }
                info!(mails = n, "SLA sweep enqueued escalation mail");
                wake.notify_one();
            }
            Ok(Err(e)) => warn!(error = %format!("{e:#}"), "SLA sweep failed; retrying next tick"),
            Err(e) => warn!(error = %e, "SLA sweep panicked; retrying next tick"),
        }
    }
}
