//! The outbox sender: delivers queued mail through SMTP with lettre, retrying with backoff.
//!
//! Every outgoing mail was enqueued, complete with its Message-ID, in the same transaction as the
//! change that caused it, so a crash can neither lose it nor invent a second one. An item is
//! marked sent only after the server's 250 *and* the mark is fsynced; the only way to send a mail
//! twice is a crash in the window between that 250 and the fsync (see [`SendStats`]), and then the
//! second copy carries the same Message-ID, which mail clients use to drop duplicates.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::Utc;
use lettre::AsyncTransport;
use tokio::sync::Notify;
use tracing::{Instrument, info, info_span, warn};

use crate::config::Config;
use crate::domain::outbox::State;
use crate::domain::outbox::{OutboxItem, backoff};
use crate::io::smtp;
use crate::io::store::Store;
use crate::service::metrics::SendStats;
use crate::service::shutdown::Shutdown;

/// The sender task.
pub(crate) struct Sender {
    config: Arc<Config>,
    store: Store,
    transport: smtp::Transport,
    wake: Arc<Notify>,
    pub(crate) stats: Arc<Mutex<SendStats>>,
}

impl Sender {
    /// Prepares a sender; `wake` is notified whenever something was enqueued.
    pub(crate) fn new(config: Arc<Config>, store: Store, wake: Arc<Notify>) -> Result<Sender> {
        Ok(Sender {
            transport: smtp::transport(&config)?,
            config,
            store,
            wake,
            stats: Arc::default(),
        })
    }

    /// Delivers due items until shutdown; sleeps until the next due item, a wake-up, or 30 s.
    pub(crate) async fn run(self, mut shutdown: Shutdown) -> Result<()> {
        loop {
            if shutdown.is_shutdown() {
                return Ok(());
            }
            if self.store.fault().is_some() {
                // A mail sent now could not be marked sent: it waits for the restart.
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = shutdown.recv() => return Ok(()),
                }
            }
            // A store error must not end delivery for good: log it and try again shortly.
            if let Err(e) = self.deliver_due(&shutdown).await {
                warn!(error = %format!("{e:#}"), "outbox sweep failed; retrying in 5 s");
                self.stats.lock().unwrap().last_error = Some(format!("{e:#}"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    () = shutdown.recv() => return Ok(()),
                }
            }
            if shutdown.is_shutdown() {
                return Ok(());
            }
            let wait = match self.store.outbox_next_due().unwrap_or(None) {
                Some(t) => (t - Utc::now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
                    .min(Duration::from_secs(30)),
                None => Duration::from_secs(30),
            };
            if wait.is_zero() {
                // A failing item stays due only after its backoff; anything due now was just
                // enqueued, so loop at once.
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                () = shutdown.recv() => return Ok(()),
            }
        }
    }

    async fn deliver_due(&self, shutdown: &Shutdown) -> Result<()> {
        for item in self.store.outbox_due(Utc::now())? {
            if shutdown.is_shutdown() {
                break;
            }
            self.attempt(item).await?;
        }
        Ok(())
    }

    /// One delivery attempt. A panic (a bug this item reproduces) costs this item, marked dead
    /// with the panic's message, not the outbox.
    async fn attempt(&self, item: OutboxItem) -> Result<()> {
        use futures_util::FutureExt;
        let span = info_span!("send", outbox = item.id, ticket = item.ticket, kind = ?item.kind);
        let copy = item.clone();
        let attempt = std::panic::AssertUnwindSafe(self.attempt_inner(item).instrument(span));
        match attempt.catch_unwind().await {
            Ok(r) => r,
            Err(payload) => {
                let why = crate::service::tasks::panic_message(payload);
                warn!(outbox = copy.id, panic = %why, "sending panicked; marked dead");
                let mut item = copy;
                item.state = State::Dead {
                    reason: format!("internal error while sending (a bug): {why}"),
                };
                self.stats.lock().unwrap().dead += 1;
                self.store.outbox_update(&item)?;
                self.store.sync().await?;
                Ok(())
            }
        }
    }

    async fn attempt_inner(&self, mut item: OutboxItem) -> Result<()> {
        let envelope = match smtp::envelope(&item) {
            Ok(e) => e,
            Err(reason) => {
                item.state = State::Dead { reason };
                self.store.outbox_update(&item)?;
                self.store.sync().await?;
                return Ok(());
            }
        };
        let result = self
            .transport
            .send_raw(&envelope, item.raw.as_bytes())
            .await;
        let now = Utc::now();
        item.attempts += 1;
        match result {
            Ok(_) => {
                let accepted = Instant::now();
                item.state = State::Sent { at: now };
                item.last_error = None;
                self.store.outbox_update(&item)?;
                self.store.sync().await?;
                let window = accepted.elapsed().as_micros() as u64;
                let mut st = self.stats.lock().unwrap();
                st.sent += 1;
                st.max_resend_window_us = st.max_resend_window_us.max(window);
                info!(to = ?item.to, message_id = %item.message_id, "sent");
            }
            Err(e) => {
                let err = format!("{e}");
                let out = self.config.outbound.as_ref();
                let retry = chrono::Duration::hours(out.map_or(72, |o| o.retry_hours) as i64);
                item.last_error = Some(err.clone());
                {
                    let mut st = self.stats.lock().unwrap();
                    st.failures += 1;
                    st.last_error = Some(err.clone());
                    if e.is_permanent() {
                        item.state = State::Dead {
                            reason: format!("refused by the server: {err}"),
                        };
                        st.dead += 1;
                        warn!(error = %err, "permanently refused; marked dead");
                    } else if now - item.due_since() >= retry {
                        item.state = State::Dead {
                            reason: format!(
                                "gave up after {} attempts over {} hours: {err}",
                                item.attempts,
                                retry.num_hours()
                            ),
                        };
                        st.dead += 1;
                        warn!(error = %err, "retry period over; marked dead");
                    } else {
                        let initial = out.map_or(30, |o| o.retry_initial_secs);
                        item.next_attempt_at = now + backoff(initial, item.attempts - 1);
                        warn!(error = %err, retry_at = %item.next_attempt_at, "delivery failed; will retry");
                    }
                }
                self.store.outbox_update(&item)?;
                self.store.sync().await?;
            }
        }
        Ok(())
    }
}
