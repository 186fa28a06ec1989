//! The test's own IMAP client on a [`Dovecot`] (async-imap, one fresh connection per call): how a
//! test puts mail into a mailbox and reads back what a user received.

use std::time::{Duration, Instant};

use async_imap::types::{Fetch, Flag};
use futures_util::TryStreamExt;

use super::dovecot::{Dovecot, PASSWORD};
use super::mail::Received;
use super::tls::tls_client_config;
use super::wait::{WAIT, wait_until};

/// An async-imap session over plain TCP.
pub type ImapSession = async_imap::Session<tokio::net::TcpStream>;
/// An async-imap session over TLS (rustls).
pub type TlsImapSession =
    async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

impl Dovecot {
    /// Log in as `user` (password [`PASSWORD`]) over plain IMAP.
    pub async fn session(&self, user: &str) -> ImapSession {
        self.try_session(user, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("IMAP login as {user:?} failed: {e}\n{}", self.log()))
    }

    /// Like [`Dovecot::session`] but with any password, returning the error.
    pub async fn try_session(
        &self,
        user: &str,
        password: &str,
    ) -> Result<ImapSession, async_imap::error::Error> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.imap_port)).await?;
        let mut client = async_imap::Client::new(tcp);
        read_greeting(&mut client).await?;
        client.login(user, password).await.map_err(|(e, _)| e)
    }

    /// Log in as `user` over implicit TLS on [`Dovecot::imaps_port`],
    /// verifying the server certificate against the test CA.
    pub async fn tls_session(&self, user: &str) -> TlsImapSession {
        let config = tls_client_config(&self.ca_pem_path());
        let connector = tokio_rustls::TlsConnector::from(config);
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.imaps_port))
            .await
            .expect("connect imaps");
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = connector
            .connect(name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS handshake with Dovecot failed: {e}\n{}", self.log()));
        let mut client = async_imap::Client::new(tls);
        read_greeting(&mut client).await.expect("imaps greeting");
        client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("IMAPS login as {user:?} failed: {e}\n{}", self.log()))
    }

    /// APPEND `raw` to `mailbox` of `user`, creating the mailbox if missing.
    pub async fn append(&self, user: &str, mailbox: &str, raw: &[u8]) {
        self.append_many(user, mailbox, &[raw]).await;
    }

    /// APPEND with flags, e.g. `append_with_flags(u, "INBOX", "(\\Seen)", raw)`.
    pub async fn append_with_flags(&self, user: &str, mailbox: &str, flags: &str, raw: &[u8]) {
        let mut s = self.session(user).await;
        ensure_mailbox(&mut s, mailbox).await;
        s.append(mailbox, Some(flags), None, raw)
            .await
            .unwrap_or_else(|e| panic!("APPEND to {user}/{mailbox} failed: {e}\n{}", self.log()));
        logout(s).await;
    }

    /// APPEND several messages over one connection (much faster than
    /// repeated [`Dovecot::append`] calls).
    pub async fn append_many<B: AsRef<[u8]>>(&self, user: &str, mailbox: &str, raws: &[B]) {
        let mut s = self.session(user).await;
        ensure_mailbox(&mut s, mailbox).await;
        for raw in raws {
            s.append(mailbox, None, None, raw.as_ref())
                .await
                .unwrap_or_else(|e| {
                    panic!("APPEND to {user}/{mailbox} failed: {e}\n{}", self.log())
                });
        }
        logout(s).await;
    }

    /// All messages of `mailbox` as `(uid, raw bytes, flags)`, sorted by UID.
    /// Uses EXAMINE + BODY.PEEK[], so it changes no flags (`\Recent` may be
    /// reported). Panics if the mailbox does not exist.
    pub async fn fetch_all(&self, user: &str, mailbox: &str) -> Vec<(u32, Vec<u8>, Vec<String>)> {
        let mut s = self.session(user).await;
        let mbox = s
            .examine(mailbox)
            .await
            .unwrap_or_else(|e| panic!("EXAMINE {user}/{mailbox} failed: {e}"));
        let mut out = Vec::new();
        if mbox.exists > 0 {
            let fetches: Vec<Fetch> = s
                .uid_fetch("1:*", "(UID FLAGS BODY.PEEK[])")
                .await
                .unwrap_or_else(|e| panic!("UID FETCH {user}/{mailbox} failed: {e}"))
                .try_collect()
                .await
                .unwrap_or_else(|e| panic!("UID FETCH {user}/{mailbox} failed: {e}"));
            for f in &fetches {
                let uid = f.uid.expect("FETCH response without UID");
                let raw = f.body().unwrap_or_default().to_vec();
                let flags = f.flags().map(flag_string).collect();
                out.push((uid, raw, flags));
            }
        }
        logout(s).await;
        out.sort_by_key(|m| m.0);
        out
    }

    /// Polls [`Dovecot::fetch_all`] until a mail in `mailbox` carries a flag containing `flag`
    /// (the daemon sets its keywords in a STORE after the COPY or the store write) and returns
    /// the mailbox then; `None` after [`WAIT`].
    pub async fn wait_flag(
        &self,
        user: &str,
        mailbox: &str,
        flag: &str,
    ) -> Option<Vec<(u32, Vec<u8>, Vec<String>)>> {
        wait_until(WAIT, async || {
            let all = self.fetch_all(user, mailbox).await;
            all.iter()
                .any(|m| m.2.iter().any(|f| f.contains(flag)))
                .then_some(all)
        })
        .await
    }

    /// Number of messages in `mailbox` (STATUS MESSAGES); 0 if it does not
    /// exist.
    pub async fn count(&self, user: &str, mailbox: &str) -> usize {
        let mut s = self.session(user).await;
        let n = status_count(&mut s, mailbox).await;
        logout(s).await;
        n
    }

    /// Poll [`Dovecot::count`] every 100 ms until it equals `n` exactly
    /// (works for "grows to" and "drains to 0"). Returns false on timeout.
    pub async fn wait_count(&self, user: &str, mailbox: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut s = self.session(user).await;
        loop {
            if status_count(&mut s, mailbox).await == n {
                logout(s).await;
                return true;
            }
            if Instant::now() >= deadline {
                logout(s).await;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `mailbox` of `user` as the at-least-once promise describes it (see [`Received`]).
    pub async fn received(&self, user: &str, mailbox: &str) -> Received {
        let raws = if self.count(user, mailbox).await == 0 {
            Vec::new()
        } else {
            self.fetch_all(user, mailbox)
                .await
                .into_iter()
                .map(|(_, raw, _)| raw)
                .collect()
        };
        Received::of(raws)
    }

    /// Polls until `user`'s INBOX holds `n` distinct Message-IDs and returns them; panics after
    /// [`WAIT`], or at once when there are more than `n` (a second distinct mail is never
    /// allowed). `context` goes into the panic message (e.g. a daemon log).
    pub async fn wait_received(
        &self,
        user: &str,
        n: usize,
        context: impl Fn() -> String,
    ) -> Received {
        let mut last = None;
        let got = wait_until(WAIT, async || {
            let r = self.received(user, "INBOX").await;
            assert!(
                r.mails.len() <= n,
                "{user}: expected {n} distinct mails, have {}: {:#?}\n{}",
                r.mails.len(),
                r.subjects(),
                context()
            );
            if r.mails.len() == n {
                return Some(r);
            }
            last = Some(r.subjects());
            None
        })
        .await;
        got.unwrap_or_else(|| {
            panic!(
                "{user}: expected {n} distinct mails, have {:#?}\n{}",
                last.unwrap_or_default(),
                context()
            )
        })
    }

    /// CREATE `mailbox` (panics on failure, e.g. if it exists).
    pub async fn create(&self, user: &str, mailbox: &str) {
        let mut s = self.session(user).await;
        s.create(mailbox)
            .await
            .unwrap_or_else(|e| panic!("CREATE {user}/{mailbox} failed: {e}"));
        logout(s).await;
    }

    /// DELETE `mailbox` (panics on failure, e.g. if it does not exist).
    pub async fn delete(&self, user: &str, mailbox: &str) {
        let mut s = self.session(user).await;
        s.delete(mailbox)
            .await
            .unwrap_or_else(|e| panic!("DELETE {user}/{mailbox} failed: {e}"));
        logout(s).await;
    }

    /// UIDVALIDITY of `mailbox` (STATUS); panics if it does not exist.
    pub async fn uidvalidity(&self, user: &str, mailbox: &str) -> u32 {
        let mut s = self.session(user).await;
        let st = s
            .status(mailbox, "(UIDVALIDITY)")
            .await
            .unwrap_or_else(|e| panic!("STATUS {user}/{mailbox} failed: {e}"));
        logout(s).await;
        st.uid_validity.expect("STATUS without UIDVALIDITY")
    }

    /// Names of all mailboxes of `user` (LIST "" "*"), sorted.
    pub async fn list(&self, user: &str) -> Vec<String> {
        let mut s = self.session(user).await;
        let names: Vec<_> = s
            .list(Some(""), Some("*"))
            .await
            .expect("LIST")
            .try_collect()
            .await
            .expect("LIST");
        let mut out: Vec<String> = names.iter().map(|n| n.name().to_string()).collect();
        drop(names);
        logout(s).await;
        out.sort();
        out
    }
}

async fn read_greeting<T>(
    client: &mut async_imap::Client<T>,
) -> Result<(), async_imap::error::Error>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match client.read_response().await? {
        Some(_) => Ok(()),
        None => Err(async_imap::error::Error::ConnectionLost),
    }
}

async fn logout<T>(mut s: async_imap::Session<T>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    let _ = s.logout().await;
}

async fn ensure_mailbox(s: &mut ImapSession, mailbox: &str) {
    if mailbox.eq_ignore_ascii_case("INBOX") {
        return;
    }
    if let Err(e) = s.create(mailbox).await {
        let msg = e.to_string();
        let exists = msg.contains("ALREADYEXISTS")
            || msg.contains("AlreadyExists")
            || msg.to_ascii_lowercase().contains("already exists");
        if !exists {
            panic!("CREATE {mailbox} failed: {msg}");
        }
    }
}

async fn status_count(s: &mut ImapSession, mailbox: &str) -> usize {
    match s.status(mailbox, "(MESSAGES)").await {
        Ok(st) => st.exists as usize,
        Err(async_imap::error::Error::No(_)) => 0,
        Err(e) => panic!("STATUS {mailbox} failed: {e}"),
    }
}

fn flag_string(f: Flag<'_>) -> String {
    match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent => "\\Recent".into(),
        Flag::MayCreate => "\\*".into(),
        Flag::Custom(c) => c.into_owned(),
    }
}
