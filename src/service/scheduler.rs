//! The SLA scheduler: every few seconds, fire the escalation steps that have fallen due.
//!
//! The store keeps active tickets ordered by their next due time, so a sweep looks only at the
//! tickets that are due, however many are open. Between sweeps the task sleeps until the
//! earliest due time (or [`SWEEP_EVERY`], whichever is sooner) and is woken early when a write
//! makes a ticket due sooner, so a step fires within moments of falling due rather than up to a
//! tick late. Each ticket's fired steps and the mails they
//! cause are committed in one transaction ([`crate::desk::escalate::escalate`]), so a step fires exactly
//! once even if the daemon dies mid-sweep.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tracing::{error, info, warn};

use crate::config::Config;
use crate::desk::effect::Effect;
use crate::desk::escalate::escalate;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::templates::Templates;
use crate::io::store::{Store, StoreError};
use crate::service::settings::Live;
use crate::service::shutdown::Shutdown;

/// The longest sleep between sweeps (the issue asks for at least every 30 s); a backstop, since
/// the task wakes at the earliest due time anyway.
pub(crate) const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The shortest sleep, so a ticket that stays due (its sweep failing) cannot spin the task.
const MIN_SLEEP: Duration = Duration::from_millis(200);

/// Fires every step due by `now`; returns the number of mails enqueued. Not yet durable: the
/// caller syncs. Without `templates` (no `[outbound]`) the customer hears nothing.
///
/// A ticket whose step fails (a record that does not read, a bug that panics) is skipped and
/// recorded ([`skipped`]), so it cannot hold up every ticket due after it; a failing store
/// still fails the sweep.
pub fn sweep(
    config: &Config,
    templates: Option<&Templates>,
    store: &Store,
    now: DateTime<Utc>,
) -> Result<usize> {
    let config = &*crate::service::identity::bound(config, store);
    let mut mails = 0;
    for id in store.due_tickets(now)? {
        let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sweep_one(config, templates, store, id, now)
        }));
        let why = match step {
            Ok(Ok(n)) => {
                mails += n;
                continue;
            }
            Ok(Err(e))
                if e.downcast_ref::<StoreError>()
                    .is_some_and(StoreError::is_fault) =>
            {
                return Err(e);
            }
            Ok(Err(e)) => format!("{e:#}"),
            Err(payload) => format!(
                "panicked: {}",
                crate::service::tasks::panic_message(payload)
            ),
        };
        error!(ticket = id, error = %why, "SLA step failed; this ticket is skipped until restart");
        // Out of the due index, or the sweep would come back for it every few hundred ms.
        store.forget_due(id);
        SKIPPED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, why);
    }
    Ok(mails)
}

/// Tickets whose SLA step failed since start, with why: shown by `status` and `/healthz`.
static SKIPPED: std::sync::Mutex<std::collections::BTreeMap<u64, String>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// The tickets [`sweep`] skipped since start, with why.
pub(crate) fn skipped() -> Vec<(u64, String)> {
    let s = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    s.iter().map(|(id, why)| (*id, why.clone())).collect()
}

/// Fires the due steps of ticket `id`; returns the number of mails enqueued.
fn sweep_one(
    config: &Config,
    templates: Option<&Templates>,
    store: &Store,
    id: u64,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut mails = 0;
    {
        let _w = store.write_lock();
        let Some(ticket) = store.ticket(id)? else {
            return Ok(0);
        };
        #[cfg(test)]
        if tests::PANIC_ON.load(std::sync::atomic::Ordering::Relaxed) == id {
            panic!("injected panic for ticket {id}");
        }
        // The ladder of the ticket's queue: its targets, its tier 2 and supervisors.
        let view = config.in_queue(&ticket.queue);
        let config = &*view;
        let history = match templates {
            Some(_) => store.rate_histories([ticket.requester.address.as_str()])?,
            None => HashMap::new(),
        };
        let mailer = templates.map(|templates| Mailer {
            templates,
            history: &history,
        });
        match escalate(config, mailer, &ticket, now) {
            Some((t, outgoing, effects)) => {
                for Effect::Log(line) in effects {
                    info!(ticket = t.id, "{line}");
                }
                mails += outgoing.len();
                store.commit_ticket(&t, &outgoing)?;
                crate::service::metrics::ESCALATIONS
                    .record_new(&t, Some((ticket.id, ticket.escalations.len())));
            }
            // The index was ahead of the ticket (e.g. paused meanwhile): refresh it.
            None => store.commit_ticket(&ticket, &[])?,
        }
    }
    Ok(mails)
}

/// Recomputes the due times of every active ticket with `config`'s calendar and targets (the
/// priority stays; fired steps stay fired), so a changed `[sla]` or `[calendar]` applies to open
/// tickets, not only to new ones. Writes only tickets whose clocks changed; returns how many.
/// Records the settings' [`policy_fingerprint`] in the store, so a start with the same settings
/// skips the walk. Not yet durable: the caller syncs.
pub fn reapply(config: &Config, store: &Store, now: DateTime<Utc>) -> Result<usize> {
    let mut changed = 0;
    for id in store.active_ticket_ids()? {
        // One ticket at a time (never all of them in memory), under the lock ingest takes too.
        let _w = store.write_lock();
        let Some(mut t) = store.ticket(id)? else {
            continue;
        };
        let clocks = t
            .sla
            .on_priority_change(&config.calendar, &config.sla, t.priority, now);
        if t.status.is_active() && clocks != t.sla {
            t.sla = clocks;
            store.commit_ticket(&t, &[])?;
            changed += 1;
        }
    }
    store.set_applied_sla_policy(&policy_fingerprint(config))?;
    Ok(changed)
}

/// A digest of what of the configuration the clocks depend on, to notice a reload or a start
/// with other settings than the stored clocks follow.
pub fn policy_fingerprint(config: &Config) -> String {
    let settings = format!("{:?}{:?}", config.sla, config.calendar);
    hex::encode(Sha256::digest(settings.as_bytes()))
}

/// Sweeps every [`SWEEP_EVERY`] until shutdown, with the current (reloadable) settings.
pub(crate) async fn run(mut live: Live, store: Store, wake: Arc<Notify>, mut shutdown: Shutdown) {
    // The settings the stored clocks follow: a start with other settings (changed while the
    // daemon was stopped) re-applies them, a start with the same ones does nothing.
    let mut applied = store
        .applied_sla_policy()
        .ok()
        .flatten()
        .unwrap_or_default();
    loop {
        let config = live.borrow_and_update().config.clone();
        let fingerprint = policy_fingerprint(&config);
        if fingerprint != applied {
            let s = store.clone();
            let result =
                tokio::task::spawn_blocking(move || reapply(&config, &s, Utc::now())).await;
            match result {
                Ok(Ok(n)) => match store.sync().await {
                    Ok(()) => {
                        applied = fingerprint;
                        if n > 0 {
                            info!(tickets = n, "SLA settings applied to open tickets");
                        }
                    }
                    Err(e) => {
                        warn!(error = %format!("{e:#}"), "applying SLA settings: store sync failed; retrying")
                    }
                },
                Ok(Err(e)) => {
                    warn!(error = %format!("{e:#}"), "applying SLA settings failed; retrying")
                }
                Err(e) => warn!(error = %e, "applying SLA settings panicked; retrying"),
            }
        }
        let wait = store
            .next_due_at()
            .map(|d| (d - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(SWEEP_EVERY)
            .clamp(MIN_SLEEP, SWEEP_EVERY);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = store.due_sooner() => {}
            Ok(()) = live.changed() => {}
            () = shutdown.recv() => return,
        }
        if store.fault().is_some() {
            // Nothing can be committed until the daemon restarts and reopens the store.
            continue;
        }
        let (config, templates) = {
            let l = live.borrow();
            (l.config.clone(), l.templates.clone())
        };
        let s = store.clone();
        let result = tokio::task::spawn_blocking(move || {
            sweep(&config, templates.as_deref(), &s, Utc::now())
        })
        .await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::Directory;
    use crate::service::intake::ingest_raw_with;

    /// The ticket whose SLA step panics (a test-only fault; 0: none). Compiled only into the
    /// unit tests, so no mail or configuration can reach it.
    pub(super) static PANIC_ON: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// A scratch store with `n` new "site down" tickets (P1: a warning due 25 min later),
    /// opened at a fixed Tuesday 10:00 so no calendar or clock decides the outcome.
    fn site_down_tickets(n: u32) -> (tempfile::TempDir, Config, Store, DateTime<Utc>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let config = crate::config::sample::scratch(&path, "").unwrap();
        let store = Store::open(&path).unwrap();
        let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        for n in 1..=n {
            let raw = format!(
                "From: c{n}@example.org\r\nTo: support@example.com\r\nSubject: site {n} down\r\n\
                 Message-ID: <down{n}@example.org>\r\n\r\nOur whole site is down, 502 everywhere.\r\n"
            );
            let d = Directory::default();
            ingest_raw_with(&config, &store, &d, None, raw.as_bytes(), None, t0).unwrap();
        }
        (dir, config, store, t0)
    }

    #[test]
    fn a_ticket_whose_step_fails_is_skipped_and_the_others_still_fire() {
        let (_dir, config, store, t0) = site_down_tickets(2);
        assert_eq!(store.due_len().unwrap(), 2);
        store.corrupt_ticket(1);
        let later = t0 + chrono::Duration::minutes(25);
        // Ticket 1 cannot be read; ticket 2's warning still goes out.
        assert_eq!(sweep(&config, None, &store, later).unwrap(), 1);
        let skipped = skipped();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].0, 1);
        assert!(skipped[0].1.contains("corrupt"), "{skipped:?}");
        // Out of the due index: the next sweeps do not come back for it.
        assert_eq!(store.due_tickets(later).unwrap(), Vec::<u64>::new());
        assert_eq!(sweep(&config, None, &store, later).unwrap(), 0);
    }

    #[test]
    fn a_panic_in_one_tickets_step_skips_it_and_later_tickets_still_escalate() {
        let (_dir, config, store, t0) = site_down_tickets(3);
        PANIC_ON.store(2, std::sync::atomic::Ordering::Relaxed);
        let later = t0 + chrono::Duration::minutes(25);
        // The tickets before and after the panicking one still get their step.
        assert_eq!(sweep(&config, None, &store, later).unwrap(), 2);
        let skipped = skipped();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].0, 2);
        assert!(
            skipped[0]
                .1
                .contains("panicked: injected panic for ticket 2"),
            "{skipped:?}"
        );
        // Each warning is an agent's mail in the outbox: tickets 1 and 3 have one, 2 none.
        for (id, n) in [(1, 1), (2, 0), (3, 1)] {
            let sent = store.outbox_for_ticket(id).unwrap();
            assert_eq!(sent.len(), n, "ticket {id}: {sent:?}");
        }
        // Out of the due index, and the store is still writable (no lock left behind).
        assert_eq!(store.due_tickets(later).unwrap(), Vec::<u64>::new());
        assert_eq!(sweep(&config, None, &store, later).unwrap(), 0);
        PANIC_ON.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}
