//! The ingest loop: IMAP mailbox → parsed mail → threaded ticket → durable store → MOVE.
//!
//! Ordering is the whole point of this module. A mail leaves the inbox only after the
//! transaction holding it is flushed *and* fsynced; a crash anywhere before that leaves the mail
//! in the inbox, and the Message-ID index turns its re-delivery into a no-op. Each connection
//! starts with a full scan of the inbox (cheap, since handled mail is moved away), so a mail left
//! behind by a crash between fsync and MOVE is picked up on the next connect.
//!
//! Poison mail is contained: parse failures and oversized mail are quarantined, a panic inside
//! the parser is caught, and a UID that keeps failing to download is moved to quarantine after
//! [`MAX_ATTEMPTS`] tries so it can never stall the mailbox.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::Config;
use crate::config::queues::IngestAccount;
use crate::domain::message::Source;
use crate::io::imap::{self, Imap, Woken};
use crate::io::store::{Store, StoreError, UidState};
use crate::mail::parse;
use crate::service::intake::{IntakeEnv, Outcome, ingest_caught, parse_mail, store_quarantined};
use crate::service::metrics::{IngestStatus, Phase, StuckMail};
use crate::service::parse_budget::{self, Parsed};
use crate::service::settings::{Live, Settings};
use crate::service::shutdown::Shutdown;

/// Messages handled between two fsyncs + MOVEs; bounds the work redone after a crash.
const BATCH: usize = 64;
/// Mails of a batch whose parse runs ahead of the one being handled: the parse (a thread of its
/// own) then overlaps the desk and staging of the mail before it, instead of following it.
const PARSE_AHEAD: usize = 2;
/// Download attempts before a UID is given up on and quarantined.
pub(crate) const MAX_ATTEMPTS: u32 = 3;

/// Everything ingest needs; one instance per daemon.
pub(crate) struct Ingest {
    /// Connection settings, fixed for the life of the process.
    config: Arc<Config>,
    /// The account and mailbox this task ingests.
    account: IngestAccount,
    /// Reloadable settings (SIGHUP), read once per mail.
    live: Live,
    store: Store,
    outbox_wake: Option<Arc<tokio::sync::Notify>>,
    /// Failed download attempts per (UIDVALIDITY, UID).
    attempts: HashMap<(u32, u32), u32>,
    /// Failed header fetches per (UIDVALIDITY, UID), counted only while fetching one by one.
    header_attempts: HashMap<(u32, u32), u32>,
    /// Bodies are fetched a batch at a time while this holds. A failed batched FETCH clears it
    /// until a pass completes, so the mails are then fetched one by one and a poison mail is
    /// caught by the per-UID attempt count instead of failing its whole batch forever.
    bulk_ok: bool,
    /// Mails whose MOVE kept failing and that could not even be flagged: skipped by every scan
    /// of this process.
    skipped: HashSet<(u32, u32)>,
    /// Shared status for the control socket.
    pub(crate) status: Arc<Mutex<IngestStatus>>,
    /// Told the Message-IDs of each batch once it is durable (benchmark and tests).
    durable: Option<tokio::sync::mpsc::UnboundedSender<Vec<String>>>,
}

impl Ingest {
    /// Prepares ingest with fixed settings (loads the customer directory and templates).
    pub(crate) fn new(config: Arc<Config>, store: Store) -> Result<Ingest> {
        let mut config = (*config).clone();
        config.bind(&store.identity().instance());
        let settings = Arc::new(Settings::from_config(Arc::new(config))?);
        // The sender half is dropped: these settings never change.
        let (_, live) = tokio::sync::watch::channel(settings);
        Ok(Ingest::with_settings(live, store))
    }

    /// Prepares ingest reading reloadable settings from `live`.
    pub(crate) fn with_settings(live: Live, store: Store) -> Ingest {
        let config = live.borrow().config.clone();
        let account = config.ingest_accounts().remove(0);
        Ingest {
            config,
            account,
            live,
            store,
            outbox_wake: None,
            attempts: HashMap::new(),
            header_attempts: HashMap::new(),
            bulk_ok: true,
            skipped: HashSet::new(),
            status: Arc::default(),
            durable: None,
        }
    }

    /// Ingests `account` instead of `[imap]`'s mailbox.
    pub(crate) fn for_account(mut self, account: IngestAccount) -> Ingest {
        self.account = account;
        self
    }

    /// How status and logs name the account.
    pub(crate) fn account_name(&self) -> &str {
        &self.account.name
    }

    /// Wakes the outbox sender after each durable batch, so acknowledgements go out at once.
    pub(crate) fn wake_outbox(&mut self, notify: Arc<tokio::sync::Notify>) {
        self.outbox_wake = Some(notify);
    }

    /// Reports the Message-IDs of every batch as soon as it is durable (fsynced), before the
    /// mails are moved out of the inbox. Used to measure arrival-to-durable latency.
    pub(crate) fn on_durable(&mut self, tx: tokio::sync::mpsc::UnboundedSender<Vec<String>>) {
        self.durable = Some(tx);
    }

    /// Runs until shutdown: connect, sync, wait (IDLE or poll), repeat; reconnects
    /// with exponential backoff after any error.
    pub(crate) async fn run(mut self, mut shutdown: Shutdown) -> Result<()> {
        let mut backoff = Duration::from_secs(1);
        loop {
            if shutdown.is_shutdown() {
                return Ok(());
            }
            if let Some(cause) = self.store.fault() {
                // Nothing can be stored until the store is reopened (the daemon restarts for
                // that): the mail waits in the inbox, not downloaded over and over.
                {
                    let mut st = self.status.lock().unwrap();
                    st.connected = false;
                    st.last_error = Some(format!("store failed: {cause}"));
                }
                shutdown.recv().await;
                return Ok(());
            }
            let started = Instant::now();
            let started_at = Utc::now();
            match self.session(&mut shutdown).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Locked(_)))
                        || e.downcast_ref::<Wedged>().is_some()
                    {
                        return Err(e);
                    }
                    let progressed = {
                        let mut st = self.status.lock().unwrap();
                        st.connected = false;
                        st.reconnects += 1;
                        st.last_error = Some(format!("{e:#}"));
                        st.last_sync.is_some_and(|t| t >= started_at)
                    };
                    // A session that completed a pass over the inbox (or lasted) failed anew: retry
                    // after 1 s, not after the backoff earlier failures built up.
                    if progressed || started.elapsed() > Duration::from_secs(120) {
                        backoff = Duration::from_secs(1);
                    }
                    self.status.lock().unwrap().retry_in_secs = Some(backoff.as_secs());
                    warn!(account = %self.account.name, error = %format!("{e:#}"), retry_in = ?backoff, "IMAP session ended; reconnecting");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        () = shutdown.recv() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    async fn session(&mut self, shutdown: &mut Shutdown) -> Result<()> {
        let acc = self.account.imap.clone();
        let mut imap = Imap::connect(&acc).await?;
        info!(
            account = %self.account.name,
            host = %acc.host,
            user = %acc.username,
            idle = imap.caps.idle,
            r#move = imap.caps.mv,
            uidplus = imap.caps.uidplus,
            "IMAP logged in"
        );
        imap.ensure_mailbox(&acc.mailbox).await?;
        imap.ensure_mailbox(&acc.processed_mailbox).await?;
        imap.ensure_mailbox(&acc.quarantine_mailbox).await?;
        let sel = imap.select(&acc.mailbox).await?;
        let mailbox = acc.mailbox.clone();
        match self.store.uid_state(&self.account.state_key)? {
            Some(s) if s.uidvalidity != sel.uidvalidity => warn!(
                mailbox,
                old = s.uidvalidity,
                new = sel.uidvalidity,
                "UIDVALIDITY changed; re-syncing by Message-ID"
            ),
            _ => {}
        }
        let use_idle = imap.caps.idle && acc.idle;
        {
            let mut st = self.status.lock().unwrap();
            st.connected = true;
            st.retry_in_secs = None;
            st.idle = use_idle;
            st.last_error = None;
        }
        // Full scan on every connect: the inbox holds only unhandled mail (or keyword-marked mail
        // that the scan skips), and it recovers anything a crash left between fsync and MOVE.
        let mut next_uid = 1;
        loop {
            // Repeat until a pass finds nothing: mail that lands while we work is only announced
            // in passing (see `Imap::new_mail_announced`).
            let mut drained = 0;
            loop {
                let (next, handled) = self
                    .sync(&mut imap, sel.uidvalidity, next_uid, shutdown)
                    .await?;
                next_uid = next;
                drained += handled;
                let announced = imap.new_mail_announced();
                if (handled == 0 && !announced) || shutdown.is_shutdown() {
                    break;
                }
            }
            if drained >= crate::io::heap::BACKLOG {
                // A backlog (after an outage, an import) leaves its mails' parse and desk
                // buffers free on the blocking threads' arenas; idling, the daemon holds only
                // what is live (the benchmark's 20k burst: 60.8 MiB idle before, 51.3 after).
                tokio::task::spawn_blocking(crate::io::heap::release_free_memory);
            }
            self.status.lock().unwrap().last_sync = Some(Utc::now());
            if shutdown.is_shutdown() {
                imap.logout().await;
                return Ok(());
            }
            if use_idle {
                let renew = Duration::from_secs(acc.idle_renew_secs);
                let (back, woken) = imap.idle(renew, shutdown.recv()).await?;
                imap = back;
                debug!(?woken, "IDLE ended");
                if woken == Woken::Shutdown {
                    imap.logout().await;
                    return Ok(());
                }
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(acc.poll_interval_secs)) => {}
                    () = shutdown.recv() => {
                        imap.logout().await;
                        return Ok(());
                    }
                }
                imap.noop().await?;
            }
        }
    }

    /// Handles every message with UID ≥ `from`; returns the next UID to look at and how many
    /// messages were seen.
    async fn sync(
        &mut self,
        imap: &mut Imap,
        uidvalidity: u32,
        from: u32,
        shutdown: &Shutdown,
    ) -> Result<(u32, usize)> {
        let t = Instant::now();
        let mut metas = imap.fetch_index(from).await?;
        self.spent(Phase::Index, t);
        // "Arrival" is when ingest first sees the mail (IMAP INTERNALDATE has only seconds).
        let seen = Instant::now();
        let next = metas
            .iter()
            .map(|m| m.uid + 1)
            .max()
            .unwrap_or(from)
            .max(from);
        // Mail marked by the no-MOVE fallback stays in the inbox; it is done, skip it unread. So
        // is mail whose MOVE kept failing, flagged or (when even that failed) remembered here.
        metas.retain(|m| {
            !imap::has_keyword(&m.flags, imap::DONE_KEYWORD)
                && !imap::has_keyword(&m.flags, imap::QUARANTINE_KEYWORD)
                && !self.skipped.contains(&(uidvalidity, m.uid))
        });
        let mut at = 0;
        while at < metas.len() {
            let end = (at + BATCH).min(metas.len());
            // Headers per batch, so a large backlog never sits in memory whole; the batch ends
            // early when its headers fill half the fetch budget.
            let t = Instant::now();
            let n = self
                .fetch_batch_headers(imap, uidvalidity, &mut metas[at..end])
                .await?;
            self.spent(Phase::Headers, t);
            self.batch(imap, uidvalidity, &metas[at..at + n], seen, shutdown)
                .await?;
            for m in &mut metas[at..at + n] {
                m.header = Vec::new();
            }
            at += n;
            if shutdown.is_shutdown() {
                break;
            }
        }
        // A whole pass went through: whatever broke a batched FETCH is behind us.
        self.bulk_ok = true;
        Ok((next, metas.len()))
    }

    /// Handles one batch: every mail decided and written, one fsync, then the MOVEs.
    async fn batch(
        &mut self,
        imap: &mut Imap,
        uidvalidity: u32,
        chunk: &[imap::Meta],
        seen: Instant,
        shutdown: &Shutdown,
    ) -> Result<()> {
        let acc = self.account.imap.clone();
        let t = Instant::now();
        let mut bodies = self.prefetch_bodies(imap, uidvalidity, chunk).await?;
        self.spent(Phase::Bodies, t);
        let t = Instant::now();
        // The batch's mails go to sled in one transaction, written by the `sync` below (which
        // comes before any MOVE); an early return settles them when the guard drops.
        let staged = self.store.open_batch();
        let summaries: Vec<_> = chunk
            .iter()
            .map(|m| parse::header_summary(&m.header))
            .collect();
        let ahead = self.parse_candidates(chunk, &summaries, &bodies)?;
        let mut started: HashMap<u32, ParseTask> = HashMap::new();
        let mut next_ahead = 0;
        let mut done = Vec::new();
        let mut quarantined = Vec::new();
        let mut unreadable = Vec::new();
        let mut ids = Vec::new();
        let mut names = HashMap::new();
        for (i, meta) in chunk.iter().enumerate() {
            // Keep PARSE_AHEAD parses running beyond this mail's own.
            while next_ahead < ahead.len() && ahead[next_ahead] <= i + PARSE_AHEAD {
                let uid = chunk[ahead[next_ahead]].uid;
                if let Some(raw) = bodies.get(&uid) {
                    started.insert(uid, self.start_parse(raw.clone()));
                }
                next_ahead += 1;
            }
            let source = Source {
                mailbox: acc.mailbox.clone(),
                uidvalidity,
                uid: meta.uid,
            };
            let summary = &summaries[i];
            let span = info_span!(
                "mail",
                uid = meta.uid,
                message_id = summary.message_id.as_deref().unwrap_or("-")
            );
            let prefetched = bodies
                .remove(&meta.uid)
                .map(|raw| (raw, started.remove(&meta.uid)));
            let key = (uidvalidity, meta.uid);
            let gave_up = |n: Option<&u32>| n.copied().unwrap_or(0) >= MAX_ATTEMPTS;
            let outcome = if gave_up(self.header_attempts.get(&key)) {
                self.header_attempts.remove(&key);
                unreadable.push(meta.uid);
                let reason = format!(
                    "the server could not read this mail (FETCH failed {MAX_ATTEMPTS} times); \
                     left in the inbox flagged {}",
                    imap::QUARANTINE_KEYWORD
                );
                let nothing = parse::header_summary(b"");
                self.quarantine(reason, &nothing, meta.size, b"", true, source)?
            } else {
                let unread_body = gave_up(self.attempts.get(&key));
                let outcome = self
                    .handle(imap, meta, summary, source, prefetched)
                    .instrument(span.clone())
                    .await?;
                if unread_body && matches!(outcome, Outcome::Quarantined { .. }) {
                    // The server cannot serve its body: do not ask it to move it either.
                    unreadable.push(meta.uid);
                }
                outcome
            };
            let _g = span.enter();
            if let Some(id) = &summary.message_id {
                ids.push(id.clone());
                names.insert(meta.uid, id.clone());
            }
            match &outcome {
                Outcome::Stored { ticket, created } => {
                    info!(ticket, created, "stored");
                    self.status.lock().unwrap().stored += 1;
                    done.push(meta.uid);
                }
                Outcome::Duplicate { ticket } => {
                    info!(ticket, "already stored; re-delivery ignored");
                    self.status.lock().unwrap().duplicates += 1;
                    done.push(meta.uid);
                }
                Outcome::Quarantined { id, reason } => {
                    warn!(quarantine = id, reason, "quarantined");
                    self.status.lock().unwrap().quarantined += 1;
                    if !unreadable.contains(&meta.uid) {
                        quarantined.push(meta.uid);
                    }
                }
            }
            if shutdown.is_shutdown() {
                break;
            }
        }
        self.spent(Phase::Handle, t);
        // Durable first, then tell the server: a crash in between only re-delivers.
        let t = Instant::now();
        self.store.sync().await?;
        drop(staged);
        self.spent(Phase::Sync, t);
        crate::service::metrics::INGEST_LATENCY.observe_n(
            seen.elapsed().as_secs_f64(),
            (done.len() + quarantined.len()) as u64,
        );
        if let Some(tx) = &self.durable {
            let _ = tx.send(std::mem::take(&mut ids));
        }
        if let Some(n) = &self.outbox_wake {
            n.notify_one();
        }
        let t = Instant::now();
        let processed = (&acc.processed_mailbox, imap::DONE_KEYWORD);
        self.move_out(imap, uidvalidity, &done, processed, &names)
            .await?;
        let quarantine = (&acc.quarantine_mailbox, imap::QUARANTINE_KEYWORD);
        self.move_out(imap, uidvalidity, &quarantined, quarantine, &names)
            .await?;
        // Only a flag (index data) for mail the server cannot read: a MOVE would make it
        // read the mail again, and the scan skips flagged mail.
        imap.mark(&unreadable, imap::QUARANTINE_KEYWORD).await?;
        self.spent(Phase::Move, t);
        if let Some(last) = chunk.last() {
            self.store.set_uid_state(
                &self.account.state_key,
                UidState {
                    uidvalidity,
                    last_uid: last.uid,
                },
            )?;
        }
        let abandoned = parse_budget::abandoned();
        self.status.lock().unwrap().abandoned_parses = abandoned;
        if abandoned >= parse_budget::MAX_ABANDONED {
            // Everything handled so far is durable and out of the inbox; only a new process
            // ends the runaway parser threads.
            return Err(anyhow::Error::new(Wedged(format!(
                "{abandoned} given-up mail parses are still running (each over support.max_parse_cpu_ms); restarting to end them"
            ))));
        }
        Ok(())
    }

    fn spent(&self, phase: Phase, since: Instant) {
        self.status.lock().unwrap().phases.add(phase, since);
    }

    /// Takes `uids` (all durably handled) out of the inbox into `dest`. A refused MOVE does not
    /// end the session (which would restart at UID 1 and meet the same mail first again): the
    /// mails are retried one by one, and one the server keeps refusing is flagged with `dest`'s
    /// keyword so every scan skips it (or, if even that is refused, skipped by this process),
    /// and reported in `status` and `/healthz`. A lost connection still ends the session.
    async fn move_out(
        &mut self,
        imap: &mut Imap,
        uidvalidity: u32,
        uids: &[u32],
        (dest, keyword): (&String, &str),
        names: &HashMap<u32, String>,
    ) -> Result<()> {
        let Err(first) = imap.move_out(uids, dest, keyword).await else {
            return Ok(());
        };
        imap.noop()
            .await
            .with_context(|| format!("after a failed MOVE ({first:#})"))?;
        for &uid in uids {
            let mut last = format!("{first:#}");
            let mut moved = false;
            for _ in 0..MAX_ATTEMPTS {
                match imap.move_out(&[uid], dest, keyword).await {
                    Ok(()) => {
                        moved = true;
                        break;
                    }
                    Err(e) => {
                        last = format!("{e:#}");
                        imap.noop()
                            .await
                            .with_context(|| format!("after a failed MOVE ({last})"))?;
                    }
                }
            }
            if moved {
                continue;
            }
            let flagged = imap.mark(&[uid], keyword).await;
            let left = match &flagged {
                Ok(()) => format!("flagged {keyword} and left in the inbox"),
                Err(e) => {
                    imap.noop().await?;
                    self.skipped.insert((uidvalidity, uid));
                    format!("flagging it failed too ({e:#}); skipped until restart")
                }
            };
            let message_id = names.get(&uid).cloned();
            warn!(uid, message_id = message_id.as_deref().unwrap_or("-"), error = %last, "MOVE to {dest} keeps failing; {left}");
            let reason = format!("MOVE to {dest} failed {MAX_ATTEMPTS} times ({last}); {left}");
            let mut st = self.status.lock().unwrap();
            st.stuck.push(StuckMail {
                uid,
                message_id,
                reason,
                at: Utc::now(),
            });
            let excess = st.stuck.len().saturating_sub(MAX_STUCK_SHOWN);
            st.stuck.drain(..excess);
        }
        Ok(())
    }

    /// Fetches the headers of `metas` (a batch's worth at most), in FETCHes of at most
    /// `support.max_fetch_bytes`; returns how many of them make the batch: all, or fewer once
    /// their headers fill half that budget (hostile mail all header), so headers and bodies of a
    /// batch stay bounded together.
    async fn fetch_batch_headers(
        &mut self,
        imap: &mut Imap,
        uidvalidity: u32,
        metas: &mut [imap::Meta],
    ) -> Result<usize> {
        let sup = &self.config.support;
        let (max_header, budget) = (sup.max_header_bytes, sup.max_fetch_bytes);
        let per_fetch = ((budget / (max_header + 1)) as usize).max(1);
        let mut bytes = 0u64;
        let mut at = 0;
        while at < metas.len() {
            let end = (at + per_fetch).min(metas.len());
            self.fetch_headers(imap, uidvalidity, &mut metas[at..end])
                .await?;
            bytes += metas[at..end]
                .iter()
                .map(|m| m.header.len() as u64)
                .sum::<u64>();
            at = end;
            if bytes >= budget / 2 {
                break;
            }
        }
        Ok(at)
    }

    /// Fills in the headers of `chunk`: with one FETCH normally; one mail at a time after a
    /// batched FETCH failed, counting failures per UID so that a mail the server cannot read is
    /// given up on (see [`MAX_ATTEMPTS`]) instead of failing every pass.
    async fn fetch_headers(
        &mut self,
        imap: &mut Imap,
        uidvalidity: u32,
        chunk: &mut [imap::Meta],
    ) -> Result<()> {
        let max_header = self.config.support.max_header_bytes;
        if self.bulk_ok {
            let result = imap.fetch_headers(chunk, max_header).await;
            return self.batch_outcome(result);
        }
        for meta in chunk.iter_mut() {
            let key = (uidvalidity, meta.uid);
            if self.header_attempts.get(&key).copied().unwrap_or(0) >= MAX_ATTEMPTS {
                continue;
            }
            match imap
                .fetch_headers(std::slice::from_mut(meta), max_header)
                .await
            {
                Ok(()) => {
                    self.header_attempts.remove(&key);
                }
                Err(e) => {
                    *self.header_attempts.entry(key).or_insert(0) += 1;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// The bodies of `chunk` with one FETCH, as far as `support.max_fetch_bytes` allows; empty
    /// after a failed batch, when every mail is fetched on its own ([`Ingest::handle`]). A mail
    /// that failed to download before, or will be quarantined unread anyway (too large, header
    /// too long), is left out.
    async fn prefetch_bodies(
        &mut self,
        imap: &mut Imap,
        uidvalidity: u32,
        chunk: &[imap::Meta],
    ) -> Result<HashMap<u32, Arc<Vec<u8>>>> {
        if !self.bulk_ok {
            return Ok(HashMap::new());
        }
        let max = self.config.support.max_message_bytes;
        let mut budget = self.config.support.max_fetch_bytes;
        let uids: Vec<u32> = chunk
            .iter()
            .filter(|m| {
                let tried = self.attempts.contains_key(&(uidvalidity, m.uid));
                let fits = m.size <= max && m.size <= budget && !tried && !m.header_cut;
                if fits {
                    budget -= m.size;
                }
                fits
            })
            .map(|m| m.uid)
            .collect();
        let result = imap.fetch_bodies(&uids).await;
        let bodies = self.batch_outcome(result)?;
        Ok(bodies
            .into_iter()
            .map(|(uid, b)| (uid, Arc::new(b)))
            .collect())
    }

    /// A batched FETCH's result; its failure switches to one mail at a time until a pass
    /// completes.
    fn batch_outcome<T>(&mut self, result: Result<T>) -> Result<T> {
        if let Err(e) = &result {
            warn!(error = %format!("{e:#}"), "batched FETCH failed; fetching one by one until the inbox is through");
            self.bulk_ok = false;
        }
        result
    }

    /// Decides the fate of one message, downloading it only when needed.
    async fn handle(
        &mut self,
        imap: &mut Imap,
        meta: &imap::Meta,
        summary: &parse::HeaderSummary,
        source: Source,
        prefetched: Option<(Arc<Vec<u8>>, Option<ParseTask>)>,
    ) -> Result<Outcome> {
        let cfg = self.config.clone();
        if let Some(outcome) = self.known_by_header(summary)? {
            return Ok(outcome);
        }
        if meta.header_cut {
            let limit = cfg.support.max_header_bytes;
            let reason = format!(
                "header too long: more than support.max_header_bytes = {limit} bytes (of {} in all); \
                 only its first {limit} bytes were downloaded and kept",
                meta.size
            );
            return self.quarantine(reason, summary, meta.size, &meta.header, true, source);
        }
        if meta.size > cfg.support.max_message_bytes {
            let reason = format!(
                "too large: {} bytes, limit support.max_message_bytes = {}",
                meta.size, cfg.support.max_message_bytes
            );
            return self.quarantine(reason, summary, meta.size, &meta.header, true, source);
        }
        let key = (source.uidvalidity, source.uid);
        if self.attempts.get(&key).copied().unwrap_or(0) >= MAX_ATTEMPTS {
            self.attempts.remove(&key);
            let reason = format!("download failed {MAX_ATTEMPTS} times; only the header was kept");
            return self.quarantine(reason, summary, meta.size, &meta.header, true, source);
        }
        let (fetched, parse) = match prefetched {
            Some((raw, parse)) => (Ok(Some(raw)), parse),
            None => (
                imap.fetch_body(meta.uid).await.map(|r| r.map(Arc::new)),
                None,
            ),
        };
        let raw = match fetched {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                self.bump_attempts(key);
                anyhow::bail!("server returned no body for UID {}", meta.uid);
            }
            Err(e) => {
                // Counted per UID across reconnects, so one undownloadable mail cannot stall
                // the mailbox forever.
                self.bump_attempts(key);
                return Err(e);
            }
        };
        self.attempts.remove(&key);
        if raw.len() as u64 > cfg.support.max_message_bytes {
            let reason = format!(
                "too large: {} bytes, limit support.max_message_bytes = {}",
                raw.len(),
                cfg.support.max_message_bytes
            );
            return self.quarantine(reason, summary, raw.len() as u64, &raw, false, source);
        }
        self.ingest_raw(raw, parse, Some(source), Utc::now()).await
    }

    /// What became of this mail before, when its header says it is one already stored or
    /// quarantined: then it is not downloaded or parsed again.
    fn known_by_header(&self, summary: &parse::HeaderSummary) -> Result<Option<Outcome>> {
        let Some(id) = &summary.message_id else {
            return Ok(None);
        };
        // Known by its header alone only when the header says it is the same mail; a
        // different mail under a reused Message-ID is downloaded and stored on its own.
        if let Some((ticket, seq)) = self.store.message_location(id)?
            && self.store.message_at(ticket, seq)?.is_none_or(|m| {
                Some(&m.from.address) == summary.from.as_ref()
                    && Some(&m.subject) == summary.subject.as_ref()
            })
        {
            return Ok(Some(Outcome::Duplicate {
                ticket: Some(ticket),
            }));
        }
        if let Some(rec) = self.store.quarantined_by_message_id(id)?
            && rec.released.is_none()
            && rec.from == summary.from
            && rec.subject == summary.subject
        {
            return Ok(Some(Outcome::Quarantined {
                id: rec.id,
                reason: "quarantined before".into(),
            }));
        }
        Ok(None)
    }

    /// Which of `chunk` (by index) get their parse started ahead: those with a body within
    /// `support.max_message_bytes`, not [known by their header](Ingest::known_by_header), and
    /// whose Message-ID is not seen earlier in the batch, as `handle` will find them. A
    /// re-delivered mail, even a hostile one, is thus never parsed ahead only to be found a
    /// duplicate.
    fn parse_candidates(
        &self,
        chunk: &[imap::Meta],
        summaries: &[parse::HeaderSummary],
        bodies: &HashMap<u32, Arc<Vec<u8>>>,
    ) -> Result<Vec<usize>> {
        let max = self.config.support.max_message_bytes;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (i, (meta, summary)) in chunk.iter().zip(summaries).enumerate() {
            // A body larger than the server said is quarantined unparsed.
            if bodies.get(&meta.uid).is_none_or(|b| b.len() as u64 > max) {
                continue;
            }
            if let Some(id) = &summary.message_id
                && !seen.insert(id.as_str())
            {
                continue;
            }
            if self.known_by_header(summary)?.is_some() {
                continue;
            }
            out.push(i);
        }
        Ok(out)
    }

    /// Starts parsing `raw` under the CPU budget of the current settings; the parse runs
    /// whether or not the task is awaited.
    fn start_parse(&self, raw: Arc<Vec<u8>>) -> ParseTask {
        let s = self.live.borrow().clone();
        let budget = Duration::from_millis(s.config.support.max_parse_cpu_ms);
        let limits = s.config.parse.clone();
        let parse = move |raw: &[u8]| parse_mail(raw, &limits);
        ParseTask {
            budget,
            handle: tokio::spawn(parse_budget::parse_within(raw, budget, parse)),
        }
    }

    /// [`store_quarantined`] for a mail of the inbox.
    fn quarantine(
        &self,
        reason: String,
        summary: &parse::HeaderSummary,
        size: u64,
        kept: &[u8],
        header_only: bool,
        source: Source,
    ) -> Result<Outcome> {
        store_quarantined(
            &self.store,
            reason,
            summary,
            size,
            kept,
            header_only,
            Some(source),
        )
    }

    fn bump_attempts(&mut self, key: (u32, u32)) -> u32 {
        let n = self.attempts.entry(key).or_insert(0);
        *n += 1;
        *n
    }

    /// Parses, threads and stores one raw mail (not yet durable: the caller syncs). The parse
    /// runs under the CPU budget (`support.max_parse_cpu_ms`, see [`parse_budget`]), the rest
    /// on the blocking pool: the store's writer lock and sled's I/O never hold up the runtime.
    /// `parse` is its parse if [`Ingest::start_parse`] already started it.
    async fn ingest_raw(
        &self,
        raw: Arc<Vec<u8>>,
        parse: Option<ParseTask>,
        source: Option<Source>,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let s = self.live.borrow().clone();
        let task = parse.unwrap_or_else(|| self.start_parse(raw.clone()));
        let budget = task.budget;
        let t = Instant::now();
        let parsed = task.handle.await.context("the parse task failed");
        self.spent(Phase::Parse, t);
        let parsed = match parsed?? {
            Parsed::Done(parsed) => parsed,
            Parsed::OverBudget => {
                warn!(
                    budget_ms = budget.as_millis() as u64,
                    "parsing this mail took too long; given up"
                );
                Err(format!(
                    "parsing took more than support.max_parse_cpu_ms = {} ms of CPU time; kept unparsed",
                    budget.as_millis()
                ))
            }
        };
        let store = self.store.clone();
        let route_queues = self.account.route_queues.clone();
        let span = tracing::Span::current();
        let status = self.status.clone();
        let desk = move || {
            let _g = span.enter();
            let env = IntakeEnv {
                config: &s.config,
                store: &store,
                directory: &s.directory,
                templates: s.templates.as_deref(),
                mailbox_queues: &route_queues,
            };
            let t = Instant::now();
            let outcome = ingest_caught(&env, &raw, parsed, source, now);
            status.lock().unwrap().phases.add(Phase::Desk, t);
            outcome
        };
        tokio::task::spawn_blocking(desk).await?
    }
}

/// A parse started by [`Ingest::start_parse`].
struct ParseTask {
    budget: Duration,
    handle: tokio::task::JoinHandle<Result<Parsed>>,
}

/// Ingest cannot go on in this process (given-up parses pile up): the daemon stops with this
/// error so systemd starts a fresh one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Wedged(pub(crate) String);

/// How many stuck mails `status` lists (the oldest are dropped).
const MAX_STUCK_SHOWN: usize = 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(n: u32, id: &str) -> Vec<u8> {
        format!(
            "From: c{n}@example.org\r\nTo: support@example.com\r\nSubject: site {n} down\r\n\
             Message-ID: <{id}>\r\n\r\nOur whole site is down ({n}).\r\n"
        )
        .into_bytes()
    }

    fn meta(uid: u32, raw: &[u8]) -> imap::Meta {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        imap::Meta {
            uid,
            size: raw.len() as u64,
            flags: Vec::new(),
            header: raw[..end].to_vec(),
            header_cut: false,
        }
    }

    /// A parse started ahead is one `handle` would run: not for a mail stored or quarantined
    /// under its Message-ID before (a re-delivered hostile mail would burn its whole CPU budget
    /// again), nor for the second copy in a batch, nor for a mail without a downloaded body.
    #[test]
    fn only_mails_that_handle_would_parse_are_parsed_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let config = Arc::new(crate::config::sample::scratch(&path, "").unwrap());
        let store = Store::open(&path).unwrap();
        let stored = raw(1, "stored@example.org");
        crate::service::intake::ingest_raw_with(
            &config,
            &store,
            &crate::domain::customer::Directory::default(),
            None,
            &stored,
            None,
            Utc::now(),
        )
        .unwrap();
        let hostile = raw(2, "hostile@example.org");
        let summary = parse::header_summary(&meta(0, &hostile).header);
        store_quarantined(
            &store,
            "over the budget".into(),
            &summary,
            hostile.len() as u64,
            &hostile,
            false,
            None,
        )
        .unwrap();
        let ingest = Ingest::new(config, store).unwrap();
        let mails = [
            raw(3, "new@example.org"),
            stored,
            hostile,
            raw(3, "new@example.org"),
            raw(4, "unfetched@example.org"),
            b"From: c5@example.org\r\nSubject: no id\r\n\r\nhi\r\n".to_vec(),
        ];
        let chunk: Vec<imap::Meta> = (0u32..)
            .zip(&mails)
            .map(|(uid, m)| meta(uid + 10, m))
            .collect();
        let summaries: Vec<_> = chunk
            .iter()
            .map(|m| parse::header_summary(&m.header))
            .collect();
        let bodies: HashMap<u32, Arc<Vec<u8>>> = chunk
            .iter()
            .zip(&mails)
            .filter(|(m, _)| m.uid != 14)
            .map(|(m, raw)| (m.uid, Arc::new(raw.clone())))
            .collect();
        let ahead = ingest
            .parse_candidates(&chunk, &summaries, &bodies)
            .unwrap();
        assert_eq!(ahead, [0, 5]);
    }
}
