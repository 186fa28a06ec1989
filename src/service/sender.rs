//! The outbox sender: delivers queued mail through SMTP with lettre, retrying with backoff.
//!
//! Every outgoing mail was enqueued, complete with its Message-ID, in the same transaction as the
//! change that caused it, so a crash can neither lose it nor invent a second one. An item is
//! marked sent only after the server's 250 *and* the mark is fsynced; the only way to send a mail
//! twice is a crash in the window between that 250 and the fsync (see [`SendStats`]), and then the
//! second copy carries the same Message-ID, which mail clients use to drop duplicates.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};
use lettre::AsyncTransport;
use tokio::sync::Notify;
use tracing::{Instrument, info, info_span, warn};

use crate::config::Config;
use crate::desk::outbound::may_answer::global_cap;
use crate::domain::outbox::State;
use crate::domain::outbox::{OutboxItem, backoff};
use crate::io::smtp;
use crate::io::store::Store;
use crate::service::metrics::{QueueCounters, SendStats, by_queue};
use crate::service::shutdown::Shutdown;

/// Due items read from the outbox at a time: a backlog's composed mails are sent a page at a
/// time, not held all at once.
const DUE_PAGE: usize = 64;

/// The sender task.
pub(crate) struct Sender {
    config: Arc<Config>,
    store: Store,
    transport: smtp::Transport,
    wake: Arc<Notify>,
    pub(crate) stats: Arc<Mutex<SendStats>>,
    /// When automatic mails to customers were sent in the last hour (the global cap).
    auto_sent: Mutex<VecDeque<DateTime<Utc>>>,
}

impl Sender {
    /// Prepares a sender; `wake` is notified whenever something was enqueued.
    pub(crate) fn new(config: Arc<Config>, store: Store, wake: Arc<Notify>) -> Result<Sender> {
        let since = Utc::now() - chrono::Duration::hours(1);
        let mut sent: Vec<DateTime<Utc>> = store
            .outbox_list()?
            .iter()
            .filter(|i| i.kind.is_automatic_to_customer())
            .filter_map(|i| match i.state {
                State::Sent { at } if at > since => Some(at),
                _ => None,
            })
            .collect();
        sent.sort();
        Ok(Sender {
            transport: smtp::transport(&config)?,
            config,
            store,
            wake,
            stats: Arc::default(),
            auto_sent: Mutex::new(sent.into()),
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
        let max = self
            .config
            .outbound
            .as_ref()
            .map_or(u64::MAX, |o| o.max_automatic_per_hour);
        let now = Utc::now();
        let (mut next, mut delivered) = (None, 0);
        loop {
            let (items, rest) = self.store.outbox_due(now, next, DUE_PAGE)?;
            for item in items {
                if shutdown.is_shutdown() {
                    return Ok(());
                }
                self.deliver(item, max).await?;
                delivered += 1;
            }
            match rest {
                Some(after) => next = Some(after),
                None => break,
            }
        }
        if delivered >= crate::io::heap::BACKLOG {
            // As ingest does after a backlog: the composed mails and the SMTP sessions' buffers
            // are free now.
            tokio::task::spawn_blocking(crate::io::heap::release_free_memory);
        }
        Ok(())
    }

    /// Sends due item `item`, or holds it while the global cap of automatic mail is reached.
    async fn deliver(&self, mut item: OutboxItem, max: u64) -> Result<()> {
        let automatic = item.kind.is_automatic_to_customer();
        if automatic {
            let now = Utc::now();
            let until = {
                let mut sent = self.auto_sent.lock().unwrap();
                sent.retain(|t| *t > now - chrono::Duration::hours(1));
                global_cap(max, sent.make_contiguous(), now)
            };
            if let Some(until) = until {
                // Not a failure and not dropped: the mail waits for the hour to free a place.
                item.next_attempt_at = until;
                self.store.outbox_update(&item)?;
                self.hold(item.id, max, true);
                return Ok(());
            }
        }
        let id = item.id;
        if self.attempt(item).await? && automatic {
            self.auto_sent.lock().unwrap().push_back(Utc::now());
        }
        self.hold(id, max, false);
        Ok(())
    }

    /// Records that item `id` waits (or no longer waits) for the global cap, and tells the log
    /// and `/healthz` when waiting starts and ends.
    fn hold(&self, id: u64, max: u64, held: bool) {
        let mut st = self.stats.lock().unwrap();
        let was = !st.held_by_cap.is_empty();
        if held {
            st.held_by_cap.insert(id);
        } else {
            st.held_by_cap.remove(&id);
        }
        let now = !st.held_by_cap.is_empty();
        if now && !was {
            warn!(
                limit = max,
                "outbound.max_automatic_per_hour reached: automatic mail to customers waits until the hour frees a place"
            );
        } else if was && !now {
            info!("automatic mail flows again (below outbound.max_automatic_per_hour)");
        }
    }

    /// Adds `counted` to the queue of ticket `ticket` (`/metrics` by queue); a ticket that cannot
    /// be read counts for the first queue.
    fn count_for_queue(&self, ticket: u64, counted: QueueCounters) {
        let queue = self
            .store
            .ticket(ticket)
            .ok()
            .flatten()
            .map(|t| t.queue)
            .unwrap_or_default();
        by_queue(&queue, |c| {
            c.sent += counted.sent;
            c.failures += counted.failures;
            c.dead += counted.dead;
        });
    }

    /// Sends `item` to `rcpts` in one SMTP transaction.
    async fn send(&self, item: &OutboxItem, rcpts: &[String]) -> Result<(), (bool, String)> {
        let envelope = smtp::envelope(item, rcpts).map_err(|e| (true, e))?;
        self.transport
            .send_raw(&envelope, item.raw.as_bytes())
            .await
            .map(|_| ())
            .map_err(|e| (e.is_permanent(), e.to_string()))
    }

    /// Marks `rcpts` delivered, durably, and measures the re-send window.
    async fn delivered(&self, item: &mut OutboxItem, rcpts: Vec<String>) -> Result<()> {
        let accepted = Instant::now();
        item.delivered.extend(rcpts);
        if item.remaining().is_empty() {
            item.state = State::Sent { at: Utc::now() };
        }
        self.store.outbox_update(item)?;
        self.store.sync().await?;
        let window = accepted.elapsed().as_micros() as u64;
        let mut st = self.stats.lock().unwrap();
        st.max_resend_window_us = st.max_resend_window_us.max(window);
        Ok(())
    }

    /// One delivery attempt; true when the mail reached all its (remaining) recipients. A panic
    /// (a bug this item reproduces) costs this item, marked dead with the panic's message, not
    /// the outbox.
    async fn attempt(&self, item: OutboxItem) -> Result<bool> {
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
                self.count_for_queue(
                    item.ticket,
                    QueueCounters {
                        dead: 1,
                        ..QueueCounters::default()
                    },
                );
                self.store.outbox_update(&item)?;
                self.store.sync().await?;
                Ok(false)
            }
        }
    }

    /// Tries every recipient not yet delivered: all in one transaction, and when that fails
    /// with several, each on its own, so one recipient's refusal (a 5xx at RCPT) or trouble does
    /// not keep the mail from the others. A permanent refusal is recorded for its recipient; a
    /// transient one is retried with backoff until `outbound.retry_hours`.
    async fn attempt_inner(&self, mut item: OutboxItem) -> Result<bool> {
        #[cfg(test)]
        if tests::PANIC_ON.load(std::sync::atomic::Ordering::Relaxed) == item.id {
            panic!("injected panic for outbox item {}", item.id);
        }
        let remaining = item.remaining();
        if remaining.is_empty() {
            item.state = if item.delivered.is_empty() {
                State::Dead {
                    reason: "no recipient left to try".into(),
                }
            } else {
                State::Sent { at: Utc::now() }
            };
            self.store.outbox_update(&item)?;
            self.store.sync().await?;
            return Ok(false);
        }
        if let Err(reason) = smtp::envelope(&item, &remaining) {
            item.state = State::Dead { reason };
            self.store.outbox_update(&item)?;
            self.store.sync().await?;
            return Ok(false);
        }
        item.attempts += 1;
        let mut transient: Vec<String> = Vec::new();
        let mut refused_now = 0;
        match self.send(&item, &remaining).await {
            Ok(()) => self.delivered(&mut item, remaining).await?,
            Err((permanent, err)) if remaining.len() == 1 => {
                if permanent {
                    item.refused.push(format!("{}: {err}", remaining[0]));
                    refused_now += 1;
                } else {
                    transient.push(err);
                }
            }
            Err((_, err)) => {
                warn!(error = %err, recipients = remaining.len(), "delivery to all recipients failed; trying each on its own");
                for r in remaining {
                    match self.send(&item, std::slice::from_ref(&r)).await {
                        Ok(()) => self.delivered(&mut item, vec![r]).await?,
                        Err((true, err)) => {
                            warn!(recipient = %r, error = %err, "recipient refused permanently; the others still get the mail");
                            item.refused.push(format!("{r}: {err}"));
                            refused_now += 1;
                        }
                        Err((false, err)) => transient.push(format!("{r}: {err}")),
                    }
                }
            }
        }
        let now = Utc::now();
        let mut counted = QueueCounters::default();
        {
            let mut st = self.stats.lock().unwrap();
            if transient.is_empty() {
                if item.delivered.is_empty() {
                    let reason = format!("refused by the server: {}", item.refused.join("; "));
                    warn!(error = %reason, "permanently refused; marked dead");
                    item.state = State::Dead { reason };
                    st.dead += 1;
                    st.failures += 1;
                    counted.dead += 1;
                    counted.failures += 1;
                } else {
                    item.state = State::Sent { at: now };
                    st.sent += 1;
                    counted.sent += 1;
                    info!(to = ?item.delivered, message_id = %item.message_id, "sent");
                }
                if refused_now > 0 {
                    item.last_error = Some(item.refused.join("; "));
                    st.last_error = item.last_error.clone();
                } else if item.delivered.len() == item.to.len() {
                    item.last_error = None;
                }
            } else {
                let err = transient.join("; ");
                let out = self.config.outbound.as_ref();
                let retry = chrono::Duration::hours(out.map_or(72, |o| o.retry_hours) as i64);
                item.last_error = Some(err.clone());
                st.failures += 1;
                counted.failures += 1;
                st.last_error = Some(err.clone());
                if now - item.due_since() >= retry {
                    item.state = State::Dead {
                        reason: format!(
                            "gave up after {} attempts over {} hours: {err}",
                            item.attempts,
                            retry.num_hours()
                        ),
                    };
                    st.dead += 1;
                    counted.dead += 1;
                    warn!(error = %err, "retry period over; marked dead");
                } else {
                    let initial = out.map_or(30, |o| o.retry_initial_secs);
                    item.next_attempt_at = now + backoff(initial, item.attempts - 1);
                    warn!(error = %err, retry_at = %item.next_attempt_at, "delivery failed; will retry");
                }
            }
        }
        self.count_for_queue(item.ticket, counted);
        self.store.outbox_update(&item)?;
        self.store.sync().await?;
        Ok(matches!(item.state, State::Sent { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::customer::Directory;
    use crate::service::intake::ingest_raw_with;

    /// The outbox item whose attempt panics (a test-only fault; 0: none). Compiled only into
    /// the unit tests, so no mail or configuration can reach it.
    pub(super) static PANIC_ON: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// Ingests `n` mails that each open a ticket, so the outbox holds their acknowledgements and
    /// the agents' notifications.
    fn new_tickets(config: &Config, store: &Store, n: usize) {
        let templates = crate::desk::outbound::templates::Templates::load(None).unwrap();
        for n in 1..=n {
            let raw = format!(
                "From: c{n}@example.org\r\nTo: support@example.com\r\nSubject: site {n} down\r\n\
                 Message-ID: <down{n}@example.org>\r\n\r\nOur whole site is down.\r\n"
            );
            let d = Directory::default();
            ingest_raw_with(
                config,
                store,
                &d,
                Some(&templates),
                raw.as_bytes(),
                None,
                Utc::now(),
            )
            .unwrap();
        }
    }

    /// The due items come a page at a time, in id order, each once, and the pages end; an item
    /// not yet due is passed over.
    #[test]
    fn due_items_are_read_a_page_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let config = crate::config::sample::scratch(&path, "").unwrap();
        let store = Store::open(&path).unwrap();
        new_tickets(&config, &store, 20);
        let now = Utc::now();
        let mut later = store.outbox_list().unwrap()[3].clone();
        later.next_attempt_at = now + chrono::Duration::hours(1);
        store.outbox_update(&later).unwrap();
        let (all, rest) = store.outbox_due(now, None, usize::MAX).unwrap();
        assert_eq!(rest, None);
        assert!(all.len() > 20, "{}", all.len());
        assert!(all.iter().all(|i| i.id != later.id));
        let (mut paged, mut next, mut pages) = (Vec::new(), None, 0);
        loop {
            let (items, rest) = store.outbox_due(now, next, 7).unwrap();
            assert!(items.len() <= 7);
            paged.extend(items.iter().map(|i| i.id));
            pages += 1;
            match rest {
                Some(after) => next = Some(after),
                None => break,
            }
        }
        assert_eq!(paged, all.iter().map(|i| i.id).collect::<Vec<_>>());
        assert!(pages > all.len() / 7);
    }

    #[tokio::test]
    async fn a_panic_sending_one_item_marks_it_dead_and_the_next_items_are_still_tried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let mut config = crate::config::sample::scratch(&path, "").unwrap();
        // Nothing listens on port 1: every real attempt fails as a transient refusal.
        if let Some(smtp) = config.smtp.as_mut() {
            smtp.port = Some(1);
        }
        let store = Store::open(&path).unwrap();
        new_tickets(&config, &store, 2);
        let items = store.outbox_list().unwrap();
        assert!(items.len() >= 2, "{items:?}");
        let first = items.iter().map(|i| i.id).min().unwrap();
        PANIC_ON.store(first, std::sync::atomic::Ordering::Relaxed);
        let sender = Sender::new(Arc::new(config), store.clone(), Arc::default()).unwrap();
        let (_trigger, shutdown) = crate::service::shutdown::Trigger::new();
        sender.deliver_due(&shutdown).await.unwrap();
        PANIC_ON.store(0, std::sync::atomic::Ordering::Relaxed);
        for item in store.outbox_list().unwrap() {
            if item.id == first {
                let State::Dead { reason } = &item.state else {
                    panic!("the panicking item is not dead: {item:?}");
                };
                assert!(
                    reason.contains("internal error while sending (a bug): injected panic"),
                    "{reason}"
                );
            } else {
                assert_eq!(item.attempts, 1, "tried once: {item:?}");
                assert!(!matches!(item.state, State::Dead { .. }), "{item:?}");
            }
        }
        assert_eq!(sender.stats.lock().unwrap().dead, 1);
    }
}
