//! The ingest task while the benchmark runs, the mailbox counts it polls, and the clean-up of
//! scratch mailboxes and stores however the run ends; a second, raw IMAP session for STATUS,
//! DELETE and the bulk FETCH comparison.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::io::imap::{Imap, timed};
use crate::io::store::Store;
use crate::service::ingest::Ingest;
use crate::service::metrics::IngestStatus;
use crate::service::shutdown::Trigger;

/// Give up when the processed mailbox has not grown for this long.
pub(super) const STALL: Duration = Duration::from_secs(60);
/// How often the mailbox counts are polled during the end-to-end run.
const POLL: Duration = Duration::from_millis(50);

/// The ingest task while it runs, so cleanup can stop it whatever happened.
#[derive(Default)]
pub(super) struct Running {
    pub(super) ingest: Option<(Trigger, JoinHandle<Result<()>>)>,
}

/// The real ingest loop on the store of `cfg`, ready to start ([`Running::start`]), telling
/// `durable` when each batch is fsynced.
pub(super) struct Prepared {
    pub(super) store: Store,
    pub(super) status: Arc<Mutex<IngestStatus>>,
    pub(super) durable: Durable,
    ingest: Ingest,
}

/// Opens the store of `cfg` and builds its ingest loop (not started: what is timed starts later).
pub(super) fn prepare_ingest(cfg: &Config) -> Result<Prepared> {
    let store = Store::open_with_cache(&cfg.store.path, cfg.store.cache_bytes())
        .with_context(|| format!("cannot open store {}", cfg.store.path.display()))?;
    let mut ingest = Ingest::new(Arc::new(cfg.clone()), store.clone())?;
    let status = ingest.status.clone();
    let durable = Durable::default();
    let (tx, rx) = mpsc::unbounded_channel();
    ingest.on_durable(tx);
    tokio::spawn(durable.clone().collect(rx));
    Ok(Prepared {
        store,
        status,
        durable,
        ingest,
    })
}

impl Running {
    /// Starts the ingest loop of `prepared`; returns its store, status and durability record.
    pub(super) fn start(
        &mut self,
        prepared: Prepared,
    ) -> (Store, Arc<Mutex<IngestStatus>>, Durable) {
        let (stop_tx, stop_rx) = Trigger::new();
        self.ingest = Some((stop_tx, tokio::spawn(prepared.ingest.run(stop_rx))));
        (prepared.store, prepared.status, prepared.durable)
    }

    /// Signals shutdown and waits for ingest; returns how long it took to stop.
    pub(super) async fn stop(&mut self) -> Result<Duration> {
        let Some((tx, mut handle)) = self.ingest.take() else {
            return Ok(Duration::ZERO);
        };
        let t = Instant::now();
        tx.fire();
        match tokio::time::timeout(Duration::from_secs(30), &mut handle).await {
            Ok(Ok(Ok(()))) => Ok(t.elapsed()),
            Ok(Ok(Err(e))) => Err(e.context("ingest failed")),
            Ok(Err(e)) => Err(anyhow!("ingest task panicked: {e}")),
            Err(_) => {
                handle.abort();
                Err(anyhow!("ingest did not stop within 30 s of shutdown"))
            }
        }
    }
}

/// Fails when the ingest task ended on its own (it only ends on shutdown or a fatal error).
pub(super) async fn check_alive(running: &mut Running) -> Result<()> {
    if running
        .ingest
        .as_ref()
        .is_some_and(|(_, h)| h.is_finished())
    {
        running.stop().await?;
        bail!("ingest stopped on its own");
    }
    Ok(())
}

pub(super) fn ingest_state(status: &Mutex<IngestStatus>) -> String {
    let st = status.lock().unwrap();
    format!(
        "ingest stored {}, quarantined {}, duplicates {}, reconnects {}, last error {}",
        st.stored,
        st.quarantined,
        st.duplicates,
        st.reconnects,
        st.last_error.as_deref().unwrap_or("none")
    )
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Counts {
    pub(super) inbox: usize,
    pub(super) processed: usize,
    pub(super) quarantine: usize,
}

pub(super) async fn counts(s: &mut RawSession, cfg: &Config) -> Result<Counts> {
    Ok(Counts {
        inbox: status_messages(s, cfg, &cfg.imap.mailbox).await?,
        processed: status_messages(s, cfg, &cfg.imap.processed_mailbox).await?,
        quarantine: status_messages(s, cfg, &cfg.imap.quarantine_mailbox).await?,
    })
}

/// Polls until the inbox is empty and `n` mails have left it; fails when ingest dies or stalls.
pub(super) async fn wait_moved(
    s: &mut RawSession,
    cfg: &Config,
    n: usize,
    running: &mut Running,
    status: &Mutex<IngestStatus>,
) -> Result<Counts> {
    let mut progress = (usize::MAX, Instant::now());
    loop {
        tokio::time::sleep(POLL).await;
        check_alive(running)
            .await
            .with_context(|| ingest_state(status))?;
        let c = counts(s, cfg).await?;
        let out = c.processed + c.quarantine;
        if c.inbox == 0 && out >= n {
            return Ok(c);
        }
        if out != progress.0 {
            progress = (out, Instant::now());
        } else if progress.1.elapsed() > STALL {
            bail!(
                "no progress for {}s: inbox {}, processed {}, quarantine {}; {}",
                STALL.as_secs(),
                c.inbox,
                c.processed,
                c.quarantine,
                ingest_state(status)
            );
        }
    }
}

/// Stops ingest, deletes the scratch mailboxes and the temporary directory; returns what could
/// not be cleaned up.
pub(super) async fn cleanup(cfg: &Config, work: &Path, running: &mut Running) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = running.stop().await {
        problems.push(format!("{e:#}"));
    }
    let staging = staging_mailbox(cfg);
    let mailboxes = [
        &cfg.imap.mailbox,
        &cfg.imap.processed_mailbox,
        &cfg.imap.quarantine_mailbox,
        &staging,
    ];
    match raw_session(cfg).await {
        Ok(mut s) => {
            let limit = Duration::from_secs(cfg.imap.timeout_secs);
            for mailbox in mailboxes {
                // Absent when the run failed before creating it.
                if status_messages(&mut s, cfg, mailbox).await.is_err() {
                    continue;
                }
                if let Err(e) = timed(limit, "DELETE", s.session_mut().delete(mailbox)).await {
                    problems.push(format!("cannot delete mailbox {mailbox}: {e:#}"));
                }
            }
            s.logout().await;
        }
        Err(e) => problems.push(format!(
            "cannot connect to delete the mailboxes {}: {e:#}",
            mailboxes.map(|m| m.as_str()).join(", ")
        )),
    }
    if let Err(e) = std::fs::remove_dir_all(work) {
        problems.push(format!("cannot remove {}: {e}", work.display()));
    }
    problems
}

/// Where `bench --hostile` gathers a case's mails before moving them into the inbox together.
pub(super) fn staging_mailbox(cfg: &Config) -> String {
    format!("{}-staging", cfg.imap.mailbox)
}

/// When each Message-ID became durable, as reported by [`crate::service::ingest::Ingest::on_durable`].
#[derive(Clone, Default)]
pub(super) struct Durable(Arc<Mutex<HashMap<String, Instant>>>);

impl Durable {
    pub(super) async fn collect(self, mut rx: mpsc::UnboundedReceiver<Vec<String>>) {
        while let Some(ids) = rx.recv().await {
            let now = Instant::now();
            let mut map = self.0.lock().unwrap();
            for id in ids {
                map.entry(id).or_insert(now);
            }
        }
    }

    pub(super) fn at(&self, id: &str) -> Option<Instant> {
        self.0.lock().unwrap().get(id).copied()
    }

    pub(super) fn all(&self, ids: &[&str]) -> bool {
        let map = self.0.lock().unwrap();
        ids.iter().all(|id| map.contains_key(*id))
    }

    /// Earliest and latest durable instant among `ids` (latest only when all are durable).
    pub(super) fn span(&self, ids: &[&str]) -> (Option<Instant>, Option<Instant>) {
        let map = self.0.lock().unwrap();
        let times: Vec<Option<Instant>> = ids.iter().map(|id| map.get(*id).copied()).collect();
        let first = times.iter().flatten().min().copied();
        let last = if times.iter().all(Option::is_some) {
            times.iter().flatten().max().copied()
        } else {
            None
        };
        (first, last)
    }
}

pub(super) type RawSession = Imap;

/// A second session for the benchmark's own bookkeeping (STATUS, DELETE, bulk FETCH).
pub(super) async fn raw_session(config: &Config) -> Result<RawSession> {
    Imap::connect(&config.imap).await
}

pub(super) async fn status_messages(
    s: &mut RawSession,
    cfg: &Config,
    mailbox: &str,
) -> Result<usize> {
    let limit = Duration::from_secs(cfg.imap.timeout_secs);
    let m = timed(
        limit,
        "STATUS",
        s.session_mut().status(mailbox, "(MESSAGES)"),
    )
    .await?;
    Ok(m.exists as usize)
}

/// `UID FETCH 1:* BODY.PEEK[]` streamed: (mails, bytes, time).
pub(super) async fn bulk_fetch(
    s: &mut RawSession,
    mailbox: &str,
) -> Result<(usize, usize, Duration)> {
    let limit = Duration::from_secs(600);
    timed(limit, "EXAMINE", s.session_mut().examine(mailbox)).await?;
    let t = Instant::now();
    let (n, bytes) = timed(limit, "FETCH bodies", async {
        let mut stream = s
            .session_mut()
            .uid_fetch("1:*", "(UID BODY.PEEK[])")
            .await?;
        let (mut n, mut bytes) = (0, 0);
        while let Some(f) = stream.try_next().await? {
            if let Some(b) = f.body() {
                n += 1;
                bytes += b.len();
            }
        }
        Ok::<_, async_imap::error::Error>((n, bytes))
    })
    .await?;
    let took = t.elapsed();
    timed(limit, "CLOSE", s.session_mut().close()).await?;
    Ok((n, bytes, took))
}
