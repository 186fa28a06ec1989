//! The outbox sender: delivers queued mail through SMTP with lettre, retrying with backoff.
//!
//! Every outgoing mail was enqueued, complete with its Message-ID, in the same transaction as the
//! change that caused it, so a crash can neither lose it nor invent a second one. An item is
//! marked sent only after the server's 250 *and* the mark is fsynced; the only way to send a mail
//! twice is a crash in the window between that 250 and the fsync (see [`SendStats`]), and then the
//! second copy carries the same Message-ID, which mail clients use to drop duplicates.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::sync::{Notify, watch};
use tracing::{Instrument, info, info_span, warn};

use crate::config::{Config, Security};
use crate::desk::outbound::{self, OutboxItem, State};
use crate::io::store::Store;
use crate::service::metrics::SendStats;

/// Builds the SMTP transport from `[smtp]`.
pub fn transport(config: &Config) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
    let smtp = config
        .smtp
        .as_ref()
        .context("outbound mail needs an [smtp] section")?;
    let port = smtp.port.unwrap_or(match smtp.security {
        Security::Tls => 465,
        Security::Starttls => 587,
        Security::Plain => 25,
    });
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
    if smtp.security != Security::Plain {
        let mut params = TlsParameters::builder(smtp.host.clone());
        if let Some(ca) = &smtp.ca_file {
            let path = crate::config::relative_to(config.path.parent().unwrap_or(".".as_ref()), ca);
            let pem = std::fs::read(&path)
                .with_context(|| format!("cannot read smtp.ca_file {}", path.display()))?;
            params = params.add_root_certificate(
                Certificate::from_pem(&pem).context("smtp.ca_file is not a PEM certificate")?,
            );
        }
        let params = params.build_rustls()?;
        b = b.tls(match smtp.security {
            Security::Tls => Tls::Wrapper(params),
            _ => Tls::Required(params),
        });
    } else {
        b = b.tls(Tls::None);
    }
    if let (Some(user), Some(pass)) = (&smtp.username, &smtp.resolved_password) {
        b = b.credentials(Credentials::new(user.clone(), pass.clone()));
    }
    Ok(b.build())
}

/// The sender task.
pub struct Sender {
    config: Arc<Config>,
    store: Store,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    wake: Arc<Notify>,
    /// Shared counters.
    pub stats: Arc<Mutex<SendStats>>,
}

impl Sender {
    /// Prepares a sender; `wake` is notified whenever something was enqueued.
    pub fn new(config: Arc<Config>, store: Store, wake: Arc<Notify>) -> Result<Sender> {
        Ok(Sender {
            transport: transport(&config)?,
            config,
            store,
            wake,
            stats: Arc::default(),
        })
    }

    /// Delivers due items until shutdown; sleeps until the next due item, a wake-up, or 30 s.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            // A store error must not end delivery for good: log it and try again shortly.
            if let Err(e) = self.deliver_due(&shutdown).await {
                warn!(error = %format!("{e:#}"), "outbox sweep failed; retrying in 5 s");
                self.stats.lock().unwrap().last_error = Some(format!("{e:#}"));
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                    _ = shutdown.changed() => return Ok(()),
                }
            }
            if *shutdown.borrow() {
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
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    async fn deliver_due(&self, shutdown: &watch::Receiver<bool>) -> Result<()> {
        for item in self.store.outbox_due(Utc::now())? {
            if *shutdown.borrow() {
                break;
            }
            self.attempt(item).await?;
        }
        Ok(())
    }

    async fn attempt(&self, item: OutboxItem) -> Result<()> {
        let span = info_span!("send", outbox = item.id, ticket = item.ticket, kind = ?item.kind);
        self.attempt_inner(item).instrument(span).await
    }

    async fn attempt_inner(&self, mut item: OutboxItem) -> Result<()> {
        let envelope = match envelope(&item) {
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
                        item.next_attempt_at = now + outbound::backoff(initial, item.attempts - 1);
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

fn envelope(item: &OutboxItem) -> Result<Envelope, String> {
    let from = item
        .envelope_from
        .parse()
        .map_err(|e| format!("bad envelope sender {}: {e}", item.envelope_from))?;
    let to = item
        .to
        .iter()
        .map(|t| t.parse().map_err(|e| format!("bad recipient {t}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| e.to_string())
}

/// Puts a dead item back in the queue (from the CLI). Returns false when it was not dead.
pub fn retry(store: &Store, id: u64) -> anyhow::Result<bool> {
    let _w = store.write_lock();
    let Some(mut item) = store.outbox_item(id)? else {
        anyhow::bail!("no outbox item {id}");
    };
    if !matches!(item.state, State::Dead { .. }) {
        return Ok(false);
    }
    item.state = State::Pending;
    item.attempts = 0;
    item.created_at = Utc::now();
    item.next_attempt_at = Utc::now();
    store.outbox_update(&item)?;
    store.sync_blocking()?;
    Ok(true)
}
