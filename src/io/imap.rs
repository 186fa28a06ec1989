//! The IMAP connection: TLS/STARTTLS/plain transport, login, and the handful of commands ingest
//! needs, each under a timeout so a silent server can never stall the daemon.
//!
//! Capabilities decide how processed mail leaves the inbox: `MOVE` (RFC 6851) when offered, else
//! COPY + `\Deleted` + `UID EXPUNGE` when `UIDPLUS` makes that expunge precise, else `\Seen` plus
//! a keyword, so we never run a bare EXPUNGE that could remove somebody else's deleted mail.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use async_imap::extensions::idle::IdleResponse;
use async_imap::types::Fetch;
use futures_util::TryStreamExt;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::sections::ImapConfig;
use crate::config::sections::Security;

/// Keyword set on processed mail when the server can neither MOVE nor UID EXPUNGE.
pub(crate) const DONE_KEYWORD: &str = "$SupportdDone";
/// Keyword set on quarantined mail in the same situation.
pub(crate) const QUARANTINE_KEYWORD: &str = "$SupportdQuarantined";

/// The byte stream under the IMAP session: plain TCP or TLS over TCP.
#[derive(Debug)]
pub(crate) enum MailStream {
    /// Unencrypted (loopback only, enforced by config validation).
    Plain(TcpStream),
    /// TLS, either implicit or after STARTTLS.
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for MailStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Builds a rustls client configuration trusting `ca_file` (PEM) or, without one, the Mozilla
/// roots. The ring provider is named explicitly: relying on a process-wide default panics when
/// another crate compiles in a second provider.
pub(crate) fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read CA file {}", path.display()))?
                .collect::<std::result::Result<_, _>>()
                .with_context(|| format!("bad PEM in CA file {}", path.display()))?;
            if certs.is_empty() {
                bail!("CA file {} holds no certificate", path.display());
            }
            for c in certs {
                roots.add(c)?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Runs `fut` under the configured per-operation timeout, naming the operation on failure.
pub(crate) async fn timed<T, E, F>(limit: Duration, what: &str, fut: F) -> Result<T>
where
    F: Future<Output = std::result::Result<T, E>>,
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r.map_err(|e| e.into().context(format!("IMAP {what} failed"))),
        Err(_) => Err(anyhow!("IMAP {what} timed out after {}s", limit.as_secs())),
    }
}

/// What the server offered after login.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Caps {
    /// RFC 2177 IDLE.
    pub(crate) idle: bool,
    /// RFC 6851 MOVE.
    pub(crate) mv: bool,
    /// RFC 4315 UIDPLUS (UID EXPUNGE).
    pub(crate) uidplus: bool,
}

/// Header-level facts about one message, fetched before deciding whether to download it.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub(crate) uid: u32,
    /// RFC822.SIZE.
    pub(crate) size: u64,
    /// Flags and keywords as text.
    pub(crate) flags: Vec<String>,
    /// The header block, at most the `max_header` bytes [`Imap::fetch_headers`] was given.
    pub(crate) header: Vec<u8>,
    /// True when the header is longer than that: only its start was downloaded.
    pub(crate) header_cut: bool,
}

/// The selected mailbox's identity.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selected {
    pub(crate) uidvalidity: u32,
    /// Number of messages.
    pub(crate) exists: u32,
}

/// How an IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woken {
    /// The server reported a change.
    NewData,
    /// The renew interval passed.
    Timeout,
    /// Shutdown was requested.
    Shutdown,
}

/// A logged-in IMAP session.
pub(crate) struct Imap {
    session: async_imap::Session<MailStream>,
    pub(crate) caps: Caps,
    limit: Duration,
}

impl Imap {
    /// Connects, secures and logs in as configured.
    pub(crate) async fn connect(c: &ImapConfig) -> Result<Imap> {
        let limit = Duration::from_secs(c.timeout_secs);
        let port = c.port();
        let tcp = timed(
            limit,
            "connect",
            TcpStream::connect((c.host.as_str(), port)),
        )
        .await
        .with_context(|| format!("cannot connect to {}:{port}", c.host))?;
        tcp.set_nodelay(true).ok();
        let tls = || -> Result<TlsConnector> {
            Ok(TlsConnector::from(tls_config(c.ca_file.as_deref())?))
        };
        let server_name = || -> Result<ServerName<'static>> {
            ServerName::try_from(c.host.clone())
                .map_err(|e| anyhow!("bad host name {}: {e}", c.host))
        };
        let client = match c.security {
            Security::Plain => {
                let mut client = async_imap::Client::new(MailStream::Plain(tcp));
                read_greeting(&mut client, limit).await?;
                client
            }
            Security::Tls => {
                let s = timed(limit, "TLS handshake", tls()?.connect(server_name()?, tcp)).await?;
                let mut client = async_imap::Client::new(MailStream::Tls(Box::new(s)));
                read_greeting(&mut client, limit).await?;
                client
            }
            Security::Starttls => {
                let mut client = async_imap::Client::new(MailStream::Plain(tcp));
                read_greeting(&mut client, limit).await?;
                timed(
                    limit,
                    "STARTTLS",
                    client.run_command_and_check_ok("STARTTLS", None),
                )
                .await?;
                let MailStream::Plain(tcp) = client.into_inner() else {
                    unreachable!("stream was created plain")
                };
                let s = timed(limit, "TLS handshake", tls()?.connect(server_name()?, tcp)).await?;
                async_imap::Client::new(MailStream::Tls(Box::new(s)))
            }
        };
        let mut session = timed(limit, "LOGIN", async {
            client
                .login(&c.username, &c.resolved_password)
                .await
                .map_err(|(e, _)| e)
        })
        .await
        .with_context(|| format!("login as {} refused", c.username))?;
        let caps = timed(limit, "CAPABILITY", session.capabilities()).await?;
        let caps = Caps {
            idle: caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        Ok(Imap {
            session,
            caps,
            limit,
        })
    }

    /// Creates `mailbox` unless it exists. STATUS is the existence test: LIST patterns vary with
    /// hierarchy separators and namespaces, and a fresh account may not even have its INBOX yet.
    pub(crate) async fn ensure_mailbox(&mut self, mailbox: &str) -> Result<()> {
        if timed(
            self.limit,
            "STATUS",
            self.session.status(mailbox, "(MESSAGES)"),
        )
        .await
        .is_ok()
        {
            return Ok(());
        }
        match timed(self.limit, "CREATE", self.session.create(mailbox)).await {
            Ok(()) => {
                tracing::info!(mailbox, "created mailbox");
                Ok(())
            }
            // Created concurrently (another client, or a server that auto-creates on STATUS).
            Err(e) if format!("{e:#}").to_ascii_lowercase().contains("exist") => Ok(()),
            Err(e) => Err(e.context(format!("cannot create mailbox {mailbox}"))),
        }
    }

    /// Selects `mailbox` read-write.
    pub(crate) async fn select(&mut self, mailbox: &str) -> Result<Selected> {
        let m = timed(self.limit, "SELECT", self.session.select(mailbox)).await?;
        Ok(Selected {
            uidvalidity: m
                .uid_validity
                .ok_or_else(|| anyhow!("server sent no UIDVALIDITY for {mailbox}"))?,
            exists: m.exists,
        })
    }

    /// UIDs and flags of all messages with UID ≥ `from`: a few dozen bytes per message, so even
    /// a large backlog costs little memory. Only index data, which the server answers without
    /// opening any mail: a mail it cannot read must not fail the listing (Dovecot, for one,
    /// drops the connection when RFC822.SIZE needs an unreadable file). Sizes and headers come
    /// per batch ([`Imap::fetch_headers`]).
    pub(crate) async fn fetch_index(&mut self, from: u32) -> Result<Vec<Meta>> {
        let range = format!("{}:*", from.max(1));
        let fetches: Vec<Fetch> = timed(self.limit, "FETCH index", async {
            self.session
                .uid_fetch(&range, "(UID FLAGS)")
                .await?
                .try_collect()
                .await
        })
        .await?;
        let mut out: Vec<Meta> = fetches
            .iter()
            // `n:*` always includes the highest message even when its UID is below n.
            .filter_map(|f| {
                let uid = f.uid?;
                (uid >= from).then(|| Meta {
                    uid,
                    size: f.size.map(u64::from).unwrap_or(0),
                    flags: f.flags().map(|fl| format!("{fl:?}")).collect(),
                    header: Vec::new(),
                    header_cut: false,
                })
            })
            .collect();
        out.sort_by_key(|m| m.uid);
        Ok(out)
    }

    /// Fills in the sizes (RFC822.SIZE, for the size check before any download) and header
    /// blocks of `metas` with one FETCH. Only the first `max_header` bytes of each header are
    /// asked for (a partial FETCH, `BODY.PEEK[HEADER]<0.n>`): a mail without a blank line is all
    /// header, and must not be downloaded whole to find that out. One byte more is asked for, so
    /// a header of exactly `max_header` bytes is told apart from a longer one
    /// ([`Meta::header_cut`]). Responses are copied out one at a time as they arrive, so memory
    /// holds the headers once, not twice.
    pub(crate) async fn fetch_headers(
        &mut self,
        metas: &mut [Meta],
        max_header: u64,
    ) -> Result<()> {
        if metas.is_empty() {
            return Ok(());
        }
        let set = uid_set(&metas.iter().map(|m| m.uid).collect::<Vec<_>>());
        let query = format!(
            "(UID RFC822.SIZE BODY.PEEK[HEADER]<0.{}>)",
            max_header.saturating_add(1)
        );
        let limit = max_header as usize;
        let mut seen = 0;
        timed(self.limit, "FETCH headers", async {
            let mut stream = self.session.uid_fetch(&set, &query).await?;
            while let Some(f) = stream.try_next().await? {
                let Some(m) = metas.iter_mut().find(|m| Some(m.uid) == f.uid) else {
                    continue;
                };
                seen += 1;
                if let Some(size) = f.size {
                    m.size = u64::from(size);
                }
                if let Some(h) = f.header() {
                    m.header_cut = h.len() > limit;
                    m.header = h[..h.len().min(limit)].to_vec();
                }
            }
            Ok::<(), async_imap::error::Error>(())
        })
        .await?;
        if seen < metas.len() {
            self.still_there("FETCH headers").await?;
        }
        Ok(())
    }

    /// After a FETCH that answered for fewer messages than asked: either they were expunged
    /// meanwhile (fine) or the server dropped the connection in the middle, which the IMAP
    /// library reports as a normal end of the response. A NOOP tells the two apart, so the
    /// failure is blamed on the command (and the mail) that caused it, not on the next one.
    async fn still_there(&mut self, what: &str) -> Result<()> {
        self.noop()
            .await
            .with_context(|| format!("the server closed the connection during {what}"))
    }

    /// Sizes, flags and headers (up to `max_header` bytes each) of all messages with UID ≥
    /// `from` (index, then headers).
    pub(crate) async fn fetch_meta(&mut self, from: u32, max_header: u64) -> Result<Vec<Meta>> {
        let mut metas = self.fetch_index(from).await?;
        for chunk in metas.chunks_mut(256) {
            self.fetch_headers(chunk, max_header).await?;
        }
        Ok(metas)
    }

    /// The full raw bytes of several messages with one FETCH (one round trip instead of one per
    /// mail); messages that vanished are missing from the map.
    pub(crate) async fn fetch_bodies(&mut self, uids: &[u32]) -> Result<HashMap<u32, Vec<u8>>> {
        if uids.is_empty() {
            return Ok(HashMap::new());
        }
        let set = uid_set(uids);
        let mut bodies: HashMap<u32, Vec<u8>> = HashMap::new();
        // Copied out as each response arrives: the batch sits in memory once.
        timed(self.limit, "FETCH bodies", async {
            let mut stream = self.session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
            while let Some(f) = stream.try_next().await? {
                if let (Some(uid), Some(body)) = (f.uid, f.body())
                    && uids.contains(&uid)
                {
                    bodies.insert(uid, body.to_vec());
                }
            }
            Ok::<(), async_imap::error::Error>(())
        })
        .await?;
        if bodies.len() < uids.len() {
            self.still_there("FETCH bodies").await?;
        }
        Ok(bodies)
    }

    /// The full raw bytes of one message, or `None` if it vanished.
    pub(crate) async fn fetch_body(&mut self, uid: u32) -> Result<Option<Vec<u8>>> {
        Ok(self.fetch_bodies(&[uid]).await?.remove(&uid))
    }

    /// Takes `uids` out of the inbox into `dest` (see the module docs for the fallbacks).
    /// `keyword` marks them when only flagging is possible.
    pub(crate) async fn move_out(&mut self, uids: &[u32], dest: &str, keyword: &str) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        if self.caps.mv {
            timed(self.limit, "MOVE", self.session.uid_mv(&set, dest)).await?;
        } else if self.caps.uidplus {
            timed(self.limit, "COPY", self.session.uid_copy(&set, dest)).await?;
            self.store_flags(&set, "\\Deleted").await?;
            timed(self.limit, "UID EXPUNGE", async {
                self.session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        } else {
            // Without UID EXPUNGE a plain EXPUNGE could remove mail we never stored, so the mail
            // stays in place, marked; sync skips marked mail.
            timed(self.limit, "COPY", self.session.uid_copy(&set, dest)).await?;
            self.store_flags(&set, &format!("\\Seen {keyword}")).await?;
        }
        Ok(())
    }

    /// Sets `keyword` on `uids` and nothing else (for mail that must stay where it is).
    pub(crate) async fn mark(&mut self, uids: &[u32], keyword: &str) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        self.store_flags(&uid_set(uids), keyword).await
    }

    async fn store_flags(&mut self, set: &str, flags: &str) -> Result<()> {
        let query = format!("+FLAGS.SILENT ({flags})");
        timed(self.limit, "STORE", async {
            self.session
                .uid_store(set, &query)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        Ok(())
    }

    /// Waits in IDLE until the server reports a change, `renew` passes, or `stop` completes
    /// (the daemon's shutdown).
    pub(crate) async fn idle(
        self,
        renew: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(Imap, Woken)> {
        let Imap {
            session,
            caps,
            limit,
        } = self;
        let mut handle = session.idle();
        timed(limit, "IDLE", handle.init()).await?;
        let woken = {
            let (wait, stop_source) = handle.wait_with_timeout(renew);
            tokio::pin!(wait);
            let mut interrupt = Some(stop_source);
            let r = tokio::select! {
                r = &mut wait => r,
                () = stop => {
                    // Dropping the stop source interrupts the wait cleanly.
                    interrupt.take();
                    let _ = (&mut wait).await;
                    Ok(IdleResponse::ManualInterrupt)
                }
            };
            match r? {
                IdleResponse::NewData(_) => Woken::NewData,
                IdleResponse::Timeout => Woken::Timeout,
                IdleResponse::ManualInterrupt => Woken::Shutdown,
            }
        };
        let session = timed(limit, "DONE", handle.done()).await?;
        Ok((
            Imap {
                session,
                caps,
                limit,
            },
            woken,
        ))
    }

    /// Drains responses the server pushed during other commands; true when one of them announced
    /// new mail. A mail that arrives while we MOVE is announced then, not at the next IDLE, so
    /// ignoring these would leave it in the inbox until the IDLE renew.
    pub(crate) fn new_mail_announced(&mut self) -> bool {
        let mut announced = false;
        while let Ok(r) = self.session.unsolicited_responses.try_recv() {
            if matches!(
                r,
                async_imap::types::UnsolicitedResponse::Exists(_)
                    | async_imap::types::UnsolicitedResponse::Recent(_)
            ) {
                announced = true;
            }
        }
        announced
    }

    /// The underlying session, for the rare command this module does not wrap (the benchmark's
    /// STATUS, DELETE and bulk FETCH). Callers apply their own timeouts.
    pub(crate) fn session_mut(&mut self) -> &mut async_imap::Session<MailStream> {
        &mut self.session
    }

    /// Checks the connection is alive (and lets the server push pending updates).
    pub(crate) async fn noop(&mut self) -> Result<()> {
        timed(self.limit, "NOOP", self.session.noop()).await
    }

    /// Logs out politely; errors are ignored since the connection is going away anyway.
    pub(crate) async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.logout()).await;
    }

    /// Appends a message (used by tests and the benchmark).
    pub(crate) async fn append(&mut self, mailbox: &str, raw: &[u8]) -> Result<()> {
        timed(
            self.limit,
            "APPEND",
            self.session.append(mailbox, None, None, raw),
        )
        .await
    }
}

async fn read_greeting(client: &mut async_imap::Client<MailStream>, limit: Duration) -> Result<()> {
    match timed(limit, "greeting", client.read_response()).await? {
        Some(_) => Ok(()),
        None => bail!("server closed the connection before greeting"),
    }
}

/// Compresses sorted UIDs into an IMAP set such as `3:7,9,12:13`.
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// True when `flags` (as produced by [`Imap::fetch_meta`]) contain `keyword`.
pub(crate) fn has_keyword(flags: &[String], keyword: &str) -> bool {
    flags.iter().any(|f| f.contains(keyword))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[9, 3, 4, 5, 7, 6, 12, 13]), "3:7,9,12:13");
        assert_eq!(uid_set(&[1]), "1");
        assert_eq!(uid_set(&[2, 2]), "2");
    }
}
