//! Shared integration-test harness.
//!
//! * [`Dovecot`]: a real, private Dovecot 2.3 instance per test (temp dir, free
//!   ports on 127.0.0.1, test CA + server certificate, passwd-file users).
//! * Async IMAP helpers on [`Dovecot`] (plain IMAP via async-imap) and an LMTP
//!   delivery helper.
//! * [`mail`] / [`mail_with`]: build simple RFC 5322 messages.
//! * [`Daemon`], [`cli`], [`cli_json`]: run the `supportd` binary.
//! * [`write_config`], [`write_config_raw`], [`base_config`]: `supportd.toml`.
//!
//! Requirements (installed by `.ci/run`): run as root, `dovecot-imapd`,
//! `dovecot-lmtpd`, `openssl`, and a system user `vmail`.
//!
//! Tests never skip: a missing Dovecot is a panic.
#![allow(dead_code)]

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::types::{Fetch, Flag};
use futures_util::TryStreamExt;
use tempfile::TempDir;

/// Users known to every test Dovecot. All have the password [`PASSWORD`].
/// Because of `auth_username_format = %Ln`, `Support@Example.COM` logs in /
/// receives mail as `support` (any domain is accepted and stripped).
pub const USERS: &[&str] = &[
    "support",
    "customer",
    "customer2",
    "stranger",
    "agent1",
    "agent2",
    "supervisor",
    "tier2",
];

/// `[[agents]]` living in the test users' mailboxes: alice and bob (agents), tess (tier 2)
/// and sue (supervisor).
pub const AGENTS: &str = r#"
[[agents]]
name = "alice"
addresses = ["agent1@example.com"]

[[agents]]
name = "bob"
addresses = ["agent2@example.com"]

[[agents]]
name = "tess"
addresses = ["tier2@example.com"]
role = "tier2"

[[agents]]
name = "sue"
addresses = ["supervisor@example.com"]
role = "supervisor"
"#;

/// The deadline for whatever a test waits for. Generous on purpose: it only runs out when the
/// test fails anyway, and a loaded 2-core CI machine running two tests at a time is slow.
pub const WAIT: Duration = Duration::from_secs(90);

/// Polls `check` every 100 ms until it returns `Some`; `None` once `timeout` has passed (the
/// caller panics with its own diagnostics). Tests wait for a condition this way, never for a
/// fixed time.
pub async fn wait_until<T>(
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Password of every user in [`USERS`].
pub const PASSWORD: &str = "secret";

/// Dovecot 2.3.19's post-login CAPABILITY list with this harness's config
/// (as observed; `LITERAL+` appears only once here although Dovecot repeats
/// it). Use [`capabilities_without`] to hide single items.
pub const DOVECOT_DEFAULT_CAPABILITIES: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL \
CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC \
ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY \
PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY";

/// [`DOVECOT_DEFAULT_CAPABILITIES`] minus the given items (exact,
/// case-insensitive match), e.g. `capabilities_without(&["MOVE", "IDLE"])`.
///
/// Note: hiding a capability only changes what Dovecot *advertises*; the
/// command itself keeps working if a client sends it anyway.
pub fn capabilities_without(remove: &[&str]) -> String {
    DOVECOT_DEFAULT_CAPABILITIES
        .split_whitespace()
        .filter(|c| !remove.iter().any(|r| r.eq_ignore_ascii_case(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A mailbox as the product promises it: SMTP is at-least-once, so the one mail in flight when
/// the daemon is SIGKILLed (the server has said 250, the "sent" mark is not yet fsynced) arrives
/// again after the restart, with the same Message-ID. Tests count distinct Message-IDs and bound
/// the copies by the kills, never count raw mails.
#[derive(Debug, Default)]
pub struct Received {
    /// The first copy of each distinct Message-ID, in arrival order.
    pub mails: Vec<Vec<u8>>,
    /// The Message-ID of every further copy.
    pub resent: Vec<String>,
}

impl Received {
    /// Splits raw mails (in arrival order) into first copies and re-sent ones. A mail without a
    /// Message-ID counts as distinct.
    pub fn of(raws: Vec<Vec<u8>>) -> Received {
        let mut seen = std::collections::HashSet::new();
        let mut out = Received::default();
        for raw in raws {
            match message_id(&raw) {
                Some(id) if !seen.insert(id.clone()) => out.resent.push(id),
                _ => out.mails.push(raw),
            }
        }
        out
    }

    /// Subjects of the distinct mails, in arrival order.
    pub fn subjects(&self) -> Vec<String> {
        self.mails
            .iter()
            .map(|raw| {
                mail_parser::MessageParser::default()
                    .parse(raw)
                    .and_then(|m| m.subject().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// The Message-ID of `raw` (without `<>`), if it has one.
pub fn message_id(raw: &[u8]) -> Option<String> {
    mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_owned))
}

/// Options for [`Dovecot::start_with`].
#[derive(Clone, Debug, Default)]
pub struct DovecotOptions {
    /// If set, written as `imap_capability = <value>` (replaces the default
    /// list; see [`capabilities_without`]).
    pub capabilities: Option<String>,
    /// Appended verbatim to the end of `dovecot.conf` (a later plain
    /// setting overrides an earlier one; `service` blocks are merged).
    pub extra_config: String,
}

/// An async-imap session over plain TCP.
pub type ImapSession = async_imap::Session<tokio::net::TcpStream>;
/// An async-imap session over TLS (rustls).
pub type TlsImapSession =
    async_imap::Session<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A private Dovecot instance (own process group). On drop the whole
/// process group is SIGKILLed and the temp dir removed.
pub struct Dovecot {
    child: Option<Child>,
    bin: PathBuf,
    /// Plain IMAP port on 127.0.0.1.
    pub imap_port: u16,
    /// IMAPS (implicit TLS) port on 127.0.0.1; certificate signed by
    /// [`Dovecot::ca_pem_path`], valid for `localhost` and `127.0.0.1`.
    pub imaps_port: u16,
    /// LMTP port on 127.0.0.1.
    pub lmtp_port: u16,
    /// Lengths of dovecot.log / dovecot.stderr when the current master was
    /// spawned (readiness and errors are judged on the new part only).
    log_offsets: (usize, usize),
    // Declared last so it is removed after the child has been stopped.
    dir: TempDir,
}

enum StartError {
    /// Some port was taken between picking it and Dovecot binding it.
    PortInUse(String),
}

const START_TIMEOUT: Duration = Duration::from_secs(10);
const START_ATTEMPTS: usize = 8;

impl Dovecot {
    /// Start a Dovecot with the default options.
    pub fn start() -> Dovecot {
        Self::start_with(DovecotOptions::default())
    }

    /// Start a Dovecot; panics (with the Dovecot log) if it cannot be started
    /// within 10 s. Retries with fresh ports if a port was grabbed by someone
    /// else in the meantime.
    pub fn start_with(opts: DovecotOptions) -> Dovecot {
        let bin = dovecot_binary();
        let (uid, gid) = vmail_ids();
        if unsafe { libc::geteuid() } != 0 {
            panic!(
                "the Dovecot test harness must run as root (Dovecot drops privileges to \
                 dovenull/dovecot/vmail itself); run the tests via .ci/run or scripts/test as root"
            );
        }
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&bin, uid, gid, &opts) {
                Ok(d) => return d,
                Err(StartError::PortInUse(log)) => last = log,
            }
        }
        panic!(
            "dovecot: could not bind free ports after {START_ATTEMPTS} attempts; last log:\n{last}"
        );
    }

    fn try_start(
        bin: &Path,
        uid: u32,
        gid: u32,
        opts: &DovecotOptions,
    ) -> Result<Dovecot, StartError> {
        let dir = tempfile::Builder::new()
            .prefix("supportd-dovecot-")
            .tempdir_in("/tmp")
            .expect("create dovecot temp dir");
        let root = dir.path().to_path_buf();
        // Dovecot's unprivileged processes (vmail, dovecot) must traverse it.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["run", "state"] {
            fs::create_dir(root.join(sub)).unwrap();
        }
        let home = root.join("home");
        fs::create_dir(&home).unwrap();
        std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        for user in USERS {
            // Each user's INBOX exists before a test and the daemon both reach for it, as a real
            // mailbox does. Dovecot 2.3 creates an sdbox INBOX on first use, and two sessions
            // doing that at once race: an APPEND gets `NO [ALREADYEXISTS]`, and the other
            // session's Dovecot process may panic in the mailbox-list index lock (seen under
            // load: the daemon's first STATUS meeting the test's first APPEND).
            let h = home.join(user);
            let mut dir = h.clone();
            for sub in ["", "mail", "mailboxes", "INBOX", "dbox-Mails"] {
                dir.push(sub);
                fs::create_dir_all(&dir).unwrap();
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
                std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
            }
        }

        make_certificates(&root);

        let mut passwd = String::new();
        for user in USERS {
            passwd.push_str(&format!("{user}:{{PLAIN}}{PASSWORD}::::::\n"));
        }
        fs::write(root.join("passwd"), passwd).unwrap();

        let [imap_port, imaps_port, lmtp_port] = free_ports();
        let conf = dovecot_conf(&root, imap_port, imaps_port, lmtp_port, opts);
        fs::write(root.join("dovecot.conf"), conf).unwrap();

        let mut d = Dovecot {
            child: None,
            bin: bin.to_path_buf(),
            imap_port,
            imaps_port,
            lmtp_port,
            log_offsets: (0, 0),
            dir,
        };
        d.spawn();
        d.wait_ready()?;
        Ok(d)
    }

    fn spawn(&mut self) {
        let root = self.dir.path();
        self.log_offsets = (
            fs::metadata(root.join("dovecot.log")).map_or(0, |m| m.len() as usize),
            fs::metadata(root.join("dovecot.stderr")).map_or(0, |m| m.len() as usize),
        );
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("dovecot.stderr"))
            .unwrap();
        let mut cmd = Command::new(&self.bin);
        // Own process group: Dovecot's children (imap, auth, log, ...) can be
        // killed together by group id without touching anything else.
        cmd.process_group(0)
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // SAFETY: prctl is async-signal-safe. If the test process dies without
        // running Drop (panic=abort, SIGKILL by a test runner timeout), the
        // kernel sends SIGTERM to Dovecot so no instance is left behind.
        // (It fires when the *thread* that spawned Dovecot exits: start
        // Dovecot from the test's own thread, not from spawn_blocking.)
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display())),
        );
    }

    /// Ready = the master logged "starting up" (only logged after all
    /// listeners were bound, so the port really is ours) and the IMAP port
    /// answers with `* OK`.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let child = self.child.as_ref().expect("dovecot child");
            if has_exited(child) {
                let status = kill_group(self.child.take().unwrap());
                let diag = self.diagnostics();
                let (log, stderr) = self.new_output();
                if log.contains("Address already in use")
                    || stderr.contains("Address already in use")
                {
                    return Err(StartError::PortInUse(diag));
                }
                panic!("dovecot exited during startup ({status}):\n{diag}");
            }
            if self.new_output().0.contains("starting up") && imap_greeting_ok(self.imap_port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                panic!(
                    "dovecot did not accept IMAP connections on 127.0.0.1:{} within {:?}:\n{}",
                    self.imap_port,
                    START_TIMEOUT,
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// (log, stderr) written since the current master was spawned.
    fn new_output(&self) -> (String, String) {
        let read = |name: &str, off: usize| {
            let bytes = fs::read(self.dir.path().join(name)).unwrap_or_default();
            String::from_utf8_lossy(bytes.get(off..).unwrap_or_default()).into_owned()
        };
        (
            read("dovecot.log", self.log_offsets.0),
            read("dovecot.stderr", self.log_offsets.1),
        )
    }

    fn diagnostics(&self) -> String {
        let stderr = fs::read(self.dir.path().join("dovecot.stderr")).unwrap_or_default();
        format!(
            "--- {} ---\n{}\n--- dovecot stdout/stderr ---\n{}",
            self.dir.path().join("dovecot.log").display(),
            self.log(),
            String::from_utf8_lossy(&stderr)
        )
    }

    /// Stop Dovecot gracefully: SIGTERM to the master (clients get
    /// `* BYE`), then after it exited (at most 5 s) SIGKILL to whatever is
    /// left of its process group (Dovecot leaves e.g. `imap` processes with
    /// open client connections behind). Data and ports are kept so
    /// [`Dovecot::restart`] can bring it back. No-op if already stopped.
    pub fn stop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        if !has_exited(&child) {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while !has_exited(&child) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        kill_group(child);
    }

    /// SIGKILL every process of this Dovecot instance at once (a crash:
    /// clients see EOF/RST). Also what `Drop` does. No-op if stopped.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.take() {
            kill_group(child);
        }
    }

    /// Stop (if running) and start again on the same ports with the same
    /// config and mail data (for "server went away" tests).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.spawn();
            match self.wait_ready() {
                Ok(()) => return,
                // Should not happen (the old process group is gone), but a
                // port may briefly be taken by someone else.
                Err(StartError::PortInUse(log)) => {
                    if Instant::now() > deadline {
                        panic!(
                            "dovecot restart: ports still in use after {START_TIMEOUT:?}:\n{log}"
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Pid of the Dovecot master (= its process group id), if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the Dovecot master process is running.
    pub fn is_running(&self) -> bool {
        match self.child.as_ref() {
            Some(c) => !has_exited(c),
            None => false,
        }
    }

    /// The temp dir holding config, certificates, logs and mail homes
    /// (`home/<user>/mail`, sdbox).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// PEM file of the test CA that signed the server certificate.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Path of the generated `dovecot.conf`.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    /// Contents of Dovecot's log file (empty if not yet written).
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(self.dir.path().join("dovecot.log")).unwrap_or_default())
            .into_owned()
    }

    // ------------------------------------------------------------------
    // IMAP helpers (plain IMAP, one fresh connection per call)
    // ------------------------------------------------------------------

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

    // ------------------------------------------------------------------
    // LMTP
    // ------------------------------------------------------------------

    /// Deliver `raw` via LMTP to one recipient (`support` or
    /// `support@example.com`; the domain is ignored). Panics unless the
    /// recipient is accepted and the message saved. Dovecot prepends
    /// `Return-Path:` / `Delivered-To:` / `Received:` headers; the original
    /// bytes follow unchanged (a final CRLF is added if missing).
    pub fn lmtp_deliver(&self, rcpt_user: &str, raw: &[u8]) {
        self.lmtp_deliver_to(&[rcpt_user], raw);
    }

    /// Deliver to several recipients in one transaction; panics on failure.
    pub fn lmtp_deliver_to(&self, rcpts: &[&str], raw: &[u8]) {
        if let Err(e) = self.try_lmtp_deliver(rcpts, raw) {
            panic!("LMTP delivery to {rcpts:?} failed: {e}\n{}", self.log());
        }
    }

    /// LMTP delivery returning the first failing reply (e.g. an unknown
    /// recipient: `550 5.1.1 ... User doesn't exist`).
    pub fn try_lmtp_deliver(&self, rcpts: &[&str], raw: &[u8]) -> Result<(), String> {
        let stream = TcpStream::connect(("127.0.0.1", self.lmtp_port))
            .map_err(|e| format!("connect LMTP: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);

        expect_reply(&mut r, 220, "greeting")?;
        lmtp_cmd(&mut w, &mut r, "LHLO localhost", 250)?;
        lmtp_cmd(&mut w, &mut r, "MAIL FROM:<>", 250)?;
        for rcpt in rcpts {
            lmtp_cmd(&mut w, &mut r, &format!("RCPT TO:<{rcpt}>"), 250)?;
        }
        lmtp_cmd(&mut w, &mut r, "DATA", 354)?;
        w.write_all(&dot_stuff(raw)).map_err(|e| e.to_string())?;
        w.write_all(b".\r\n").map_err(|e| e.to_string())?;
        // LMTP: one reply per accepted recipient.
        for rcpt in rcpts {
            expect_reply(&mut r, 250, &format!("DATA for {rcpt}"))?;
        }
        let _ = lmtp_cmd(&mut w, &mut r, "QUIT", 221);
        Ok(())
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.kill();
    }
}

fn dovecot_conf(
    root: &Path,
    imap_port: u16,
    imaps_port: u16,
    lmtp_port: u16,
    opts: &DovecotOptions,
) -> String {
    let r = root.display();
    let caps = match &opts.capabilities {
        Some(c) => format!("imap_capability = {c}\n"),
        None => String::new(),
    };
    format!(
        r#"# generated by tests/common/mod.rs
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1

default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_max_userip_connections = 1000

ssl = yes
ssl_cert = <{r}/server.pem
ssl_key = <{r}/server.key

disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Ln
auth_verbose = no
# no 2 s delay / anvil penalty after failed logins (tests log in a lot)
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {r}/passwd
}}
userdb {{
  driver = static
  args = uid=vmail gid=vmail home={r}/home/%u
}}

mail_location = sdbox:~/mail
mail_fsync = never
namespace inbox {{
  inbox = yes
}}
lda_mailbox_autocreate = yes
{caps}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
{extra}
"#,
        extra = opts.extra_config
    )
}

fn dovecot_binary() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    for d in dirs {
        let candidate = d.join("dovecot");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("dovecot not installed: run .ci/run or `apt-get install dovecot-imapd dovecot-lmtpd`");
}

fn vmail_ids() -> (u32, u32) {
    let name = std::ffi::CString::new("vmail").unwrap();
    // SAFETY: getpwnam returns a pointer to static storage or NULL; we copy
    // the two integers out immediately.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        panic!("system user `vmail` missing: run .ci/run or `useradd -r vmail`");
    }
    unsafe { ((*pw).pw_uid, (*pw).pw_gid) }
}

/// Test CA (`ca.pem`) + server certificate (`server.pem`/`server.key`,
/// CA:FALSE, SAN localhost + 127.0.0.1), P-256 keys (fast to generate).
fn make_certificates(root: &Path) {
    fs::write(
        root.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_args: Vec<&str> = ["req", "-x509"]
        .into_iter()
        .chain(ec)
        .chain([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=supportd test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ])
        .collect();
    let csr_args: Vec<&str> = ["req"]
        .into_iter()
        .chain(ec)
        .chain([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ])
        .collect();
    let sign_args = [
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "3650",
        "-extfile",
        "server.ext",
    ];
    for args in [&ca_args[..], &csr_args[..], &sign_args[..]] {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(root)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!("openssl not runnable ({e}): run .ci/run or `apt-get install openssl`")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `N` distinct free ports on 127.0.0.1 for servers the harness restarts on the same port
/// (Dovecot, the SMTP relay).
///
/// They come from just below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), never from `bind(0)`: the kernel hands out
/// ephemeral ports for every outgoing connection and every `bind(0)` of every parallel test, so a
/// port taken from that range and freed while a server is stopped for a "server went away" test
/// can be grabbed by someone else before the restart. Ports below the range are only ever taken
/// by another test picking the same random port (and every start retries on "address in use").
/// All listeners are held at once so the ports differ.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let (lo, hi) = listener_port_range();
    let mut held: Vec<TcpListener> = Vec::with_capacity(N);
    let mut tries = 0;
    while held.len() < N {
        tries += 1;
        assert!(tries < 10_000, "no free port on 127.0.0.1 in {lo}..{hi}");
        let port = lo + (random_u64() % u64::from(hi - lo)) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// The 16k ports below the ephemeral range (at least 1024..).
fn listener_port_range() -> (u16, u16) {
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let hi = low.max(1024 + 4096);
    (hi.saturating_sub(16384).max(1024), hi)
}

/// Not cryptographic: distinct per call and per process, enough to spread port picks.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

fn imap_greeting_ok(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut line = String::new();
    let ok = BufReader::new(&s).read_line(&mut line).is_ok() && line.starts_with("* OK");
    let _ = s.write_all(b"a LOGOUT\r\n");
    ok
}

/// Whether `child` has exited, *without* reaping it: while it is an
/// unreaped zombie its pid (= the process group id of the Dovecot instance)
/// cannot be reused, so [`kill_group`] stays safe.
fn has_exited(child: &Child) -> bool {
    // SAFETY: waitid with WNOWAIT only inspects our own child.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// SIGKILL the process group led by `child` (spawned with
/// `process_group(0)`, not yet reaped), wait (max 5 s) until no live member
/// is left, so all sockets are closed, and reap the leader.
fn kill_group(mut child: Child) -> ExitStatus {
    let pgid = child.id();
    // SAFETY: the group id is the pid of our unreaped child.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
    let status = child.wait().expect("wait for dovecot");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !live_group_members(pgid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    status
}

/// Pids of non-zombie processes whose process group is `pgid` (from /proc;
/// orphaned Dovecot children are reaped by PID 1, possibly lazily).
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain anything.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
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

// ----------------------------------------------------------------------
// LMTP internals
// ----------------------------------------------------------------------

fn lmtp_cmd(
    w: &mut TcpStream,
    r: &mut BufReader<TcpStream>,
    cmd: &str,
    want: u16,
) -> Result<String, String> {
    w.write_all(format!("{cmd}\r\n").as_bytes())
        .map_err(|e| format!("{cmd}: {e}"))?;
    expect_reply(r, want, cmd)
}

/// Read one (possibly multi-line) SMTP/LMTP reply and check its code.
fn expect_reply(r: &mut BufReader<TcpStream>, want: u16, what: &str) -> Result<String, String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("{what}: read reply: {e}"))?;
        if n == 0 {
            return Err(format!("{what}: connection closed; got so far: {text:?}"));
        }
        text.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if code == want {
                return Ok(text);
            }
            return Err(format!("{what}: expected {want}, got {text:?}"));
        }
    }
}

/// Dot-stuff a message for SMTP/LMTP DATA and make sure it ends with CRLF.
fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\n") {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ----------------------------------------------------------------------
// TLS
// ----------------------------------------------------------------------

/// rustls client config trusting only the CA(s) in `ca_pem`, with an
/// explicit ring provider (no process-level default provider needed).
pub fn tls_client_config(ca_pem: &Path) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)
        .unwrap_or_else(|e| panic!("read {}: {e}", ca_pem.display()))
    {
        roots
            .add(cert.expect("parse CA PEM"))
            .expect("add CA to root store");
    }
    assert!(!roots.is_empty(), "no certificate in {}", ca_pem.display());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("rustls protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Arc::new(config)
}

// ----------------------------------------------------------------------
// Mail builders
// ----------------------------------------------------------------------

/// A simple valid RFC 5322 message (CRLF line endings, UTF-8 text/plain,
/// 8bit). Non-ASCII subjects are RFC 2047 B-encoded. `message_id` may be
/// given with or without `<>`; an empty `message_id` omits the header.
pub fn mail(from: &str, to: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    mail_with(from, to, subject, message_id, &[], body)
}

/// Like [`mail`] plus extra headers (values verbatim, e.g.
/// `("In-Reply-To", "<a@b>")`). An extra header whose name matches a default
/// header (From, To, Subject, Message-ID, Date, MIME-Version, Content-Type,
/// Content-Transfer-Encoding; case-insensitive) replaces it in place.
pub fn mail_with(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut headers: Vec<(String, String)> = vec![
        ("From".into(), from.into()),
        ("To".into(), to.into()),
        ("Subject".into(), encode_subject(subject)),
    ];
    if !message_id.is_empty() {
        let id = if message_id.starts_with('<') {
            message_id.to_string()
        } else {
            format!("<{message_id}>")
        };
        headers.push(("Message-ID".into(), id));
    }
    headers.extend([
        ("Date".into(), chrono::Utc::now().to_rfc2822()),
        ("MIME-Version".into(), "1.0".into()),
        ("Content-Type".into(), "text/plain; charset=utf-8".into()),
        ("Content-Transfer-Encoding".into(), "8bit".into()),
    ]);
    for (name, value) in extra_headers {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value.to_string(),
            None => headers.push((name.to_string(), value.to_string())),
        }
    }
    let mut out = String::new();
    for (n, v) in &headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&crlf(body));
    out.into_bytes()
}

/// Normalize line endings to CRLF.
pub fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// RFC 2047 `=?UTF-8?B?...?=` encoding if `s` is not plain ASCII; split into
/// several folded encoded-words (each <= 64 chars, so `Subject: ` + word
/// stays under 78) on char boundaries.
pub fn encode_subject(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

// ----------------------------------------------------------------------
// supportd binary
// ----------------------------------------------------------------------

/// Path of the `supportd` binary built by cargo for these tests.
/// Cargo sets `CARGO_BIN_EXE_*` only for integration tests; the benchmark example shares this
/// module but never starts the binary.
pub const SUPPORTD_BIN: &str = match option_env!("CARGO_BIN_EXE_supportd") {
    Some(p) => p,
    None => "supportd",
};

/// A running `supportd --config <path> run`. Killed (SIGKILL) on drop.
pub struct Daemon {
    child: Option<Child>,
    log_path: PathBuf,
    /// Length of `daemon.log` when this process started (the file is shared by restarts).
    log_start: u64,
}

impl Daemon {
    /// Spawn `supportd --config <config_path> run` with
    /// `RUST_LOG=supportd=debug,info` (stdout+stderr are appended to `<config dir>/daemon.log`)
    /// and wait until it serves its control socket (see [`Daemon::start_with_env`]).
    pub fn start(config_path: &Path) -> Daemon {
        Self::start_with_env(config_path, &[])
    }

    /// Like [`Daemon::start`] without waiting for anything: for tests that kill the daemon at
    /// random moments, start-up included.
    pub fn spawn(config_path: &Path) -> Daemon {
        Self::spawn_with_env(config_path, &[])
    }

    /// Process id (panics if already stopped).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon already stopped").id()
    }

    /// Path of `daemon.log`.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Contents of `daemon.log` so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// What this process wrote to `daemon.log` (the file is shared by restarts).
    pub fn own_log(&self) -> String {
        let log = fs::read(&self.log_path).unwrap_or_default();
        String::from_utf8_lossy(log.get(self.log_start as usize..).unwrap_or_default()).into_owned()
    }

    /// Poll the log every 50 ms until it contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until this process has logged in to IMAP and said `ready` (what `READY=1` means to
    /// systemd); its outbox sender has started by then. Panics after [`WAIT`] with the log.
    pub async fn wait_ready(&self) {
        let ready = wait_until(WAIT, async || {
            self.own_log()
                .lines()
                .any(|l| l.ends_with("supportd::daemon: ready"))
                .then_some(())
        })
        .await;
        assert!(ready.is_some(), "daemon not ready:\n{}", self.own_log());
    }

    /// Whether the process is still running (false after it exited on its own).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// Exit status if the process has exited, without waiting.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// SIGKILL and reap (simulates a crash). No-op if already stopped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM once the daemon's signal handler is in place, wait up to 10 s and
    /// return the exit status. Panics (after SIGKILL, showing the log) if the
    /// daemon does not exit in time.
    pub fn terminate(&mut self) -> ExitStatus {
        // SIGTERM before this process installed its handler (it logs "store open" after) would
        // be a plain kill; an earlier run's line in the shared log file does not count.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(45) && self.is_running() {
            let log = fs::read(&self.log_path).unwrap_or_default();
            let own = log.get(self.log_start as usize..).unwrap_or_default();
            if String::from_utf8_lossy(own).contains("store open") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut c = self.child.take().expect("daemon already stopped");
        if let Ok(Some(status)) = c.try_wait() {
            return status;
        }
        // SAFETY: plain kill(2) on our own, not yet reaped child.
        unsafe {
            libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!(
            "supportd did not exit within 10 s after SIGTERM; log:\n{}",
            self.log()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Run `supportd --config <config> <args...>` to completion (stdin is
/// /dev/null).
pub fn cli(config: &Path, args: &[&str]) -> Output {
    cli_with_stdin(config, args, b"")
}

/// Like [`cli`] but feeding `stdin` to the process.
pub fn cli_with_stdin(config: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(SUPPORTD_BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {SUPPORTD_BIN}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Write from a thread so a large input cannot deadlock against output.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for supportd");
    let _ = writer.join();
    out
}

/// Run the CLI and parse stdout as JSON; panics (showing stdout and stderr)
/// on a non-zero exit or invalid JSON.
pub fn cli_json(config: &Path, args: &[&str]) -> serde_json::Value {
    let out = cli(config, args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "supportd {args:?} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("supportd {args:?}: stdout is not JSON ({e}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}")
    })
}

/// The outbox (`outbox list --json`) once no item in it is pending: every mail queued so far was
/// sent, given up on or suppressed. The relay delivers and logs a mail before its 250 and the
/// daemon marks it sent after, so from then on the mailboxes and [`Smtp::sent_log`] hold all the
/// desk will send about what has happened so far; a test that checks "nothing more was sent"
/// waits for this instead of sleeping. Panics after [`WAIT`] showing what is still pending.
pub async fn settled_outbox(config: &Path) -> Vec<serde_json::Value> {
    let mut last = Vec::new();
    let settled = wait_until(WAIT, async || {
        let items = cli_json(config, &["outbox", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default();
        if items.iter().all(|i| i["state"] != "pending") {
            return Some(items);
        }
        last = items;
        None
    })
    .await;
    settled.unwrap_or_else(|| {
        let log = config.parent().map(|d| read_lossy(&d.join("daemon.log")));
        panic!(
            "outbox still pending after {WAIT:?}: {last:#?}\n--- daemon.log ---\n{}",
            log.unwrap_or_default()
        )
    })
}

// ----------------------------------------------------------------------
// supportd.toml
// ----------------------------------------------------------------------

/// The standard test config (the lead's `supportd.toml` schema)
/// pointing at `dovecot` as user `support`, store in `<dir>/store`.
pub fn base_config(dir: &Path, dovecot: &Dovecot) -> String {
    base_config_port(dir, dovecot.imap_port)
}

/// [`base_config`] with any IMAP port, for commands that only read the store (no Dovecot).
pub fn base_config_port(dir: &Path, imap_port: u16) -> String {
    let store = toml_string(&dir.join("store").to_string_lossy());
    format!(
        r#"[imap]
host = "127.0.0.1"
port = {port}
security = "plain"
username = "support"
password = "secret"
mailbox = "INBOX"
processed_mailbox = "Processed"
quarantine_mailbox = "Quarantine"
poll_interval_secs = 2

[store]
path = {store}

[support]
address = "support@example.com"
name = "Example Support"
tag_prefix = "SUP"

# Tests run at any hour: business hours around the clock, so no notification or escalation is
# held for the morning (that routing is tested with a simulated clock in src/desk.rs).
[calendar.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
"#,
        port = imap_port
    )
}

/// Write `<dir>/supportd.toml` = [`base_config`] + `extra` (verbatim, after a
/// newline). Returns the path.
pub fn write_config(dir: &Path, dovecot: &Dovecot, extra: &str) -> PathBuf {
    let mut text = base_config(dir, dovecot);
    if !extra.is_empty() {
        text.push('\n');
        text.push_str(extra);
        if !extra.ends_with('\n') {
            text.push('\n');
        }
    }
    write_config_raw(dir, &text)
}

/// Write `toml` verbatim to `<dir>/supportd.toml`. Returns the path.
pub fn write_config_raw(dir: &Path, toml: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("supportd.toml");
    fs::write(&path, toml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A TOML basic string literal (with quotes) for `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Read a whole file as (lossy) UTF-8; empty if missing.
pub fn read_lossy(path: &Path) -> String {
    let mut buf = Vec::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

// ----------------------------------------------------------------------
// SMTP relay (aiosmtpd) delivering into a test Dovecot via LMTP
// ----------------------------------------------------------------------

/// Options for [`Smtp::start_with`].
#[derive(Clone, Debug, Default)]
pub struct SmtpOptions {
    /// Offer STARTTLS with the Dovecot test CA's server certificate (valid
    /// for `localhost` / `127.0.0.1`). STARTTLS is then *required* before
    /// AUTH and MAIL (530 otherwise), like a real submission server.
    pub tls: bool,
    /// SMTPS: TLS from the first byte (same certificate), no STARTTLS.
    /// Implies the certificate even if `tls` is false.
    pub implicit_tls: bool,
    /// Require AUTH PLAIN/LOGIN with this (user, password) before MAIL
    /// (530 without, 535 on a wrong password).
    pub auth: Option<(String, String)>,
    /// This recipient (case-insensitive, without `<>`) gets `450 4.2.0` at
    /// RCPT TO (a temporary failure).
    pub fail_rcpt: Option<String>,
}

/// A real SMTP server on 127.0.0.1 (`tests/smtp/relay.py`, aiosmtpd) that
/// delivers every accepted message into the given [`Dovecot`] over LMTP
/// before it answers `250` to DATA: when a client has its 250, the message
/// is in the recipient's INBOX (read it with [`Dovecot::fetch_all`]).
///
/// * RCPT: [`SmtpOptions::fail_rcpt`] gets 450; otherwise Dovecot's LMTP
///   answer is mirrored (unknown user: `550 5.1.1 ... User doesn't exist`;
///   LMTP down: 451).
/// * DATA: if LMTP refused the message for every recipient its reply is
///   mirrored; if only some failed it is still 250 (logged under "failed").
/// * Each accepted message appends one JSON object to [`Smtp::sent_log`]:
///   `mail_from`, `rcpts` (delivered), `message_id` (with `<>`, or null),
///   `subject`, `size`, `tls`, `auth_user`, `failed`, `time`.
///
/// [`Smtp::stop`] / [`Smtp::restart`] keep the port ("SMTP was down for a
/// while"). SIGKILLed on drop and when the thread that started it dies
/// (start it from the test's own thread, not from `spawn_blocking`).
pub struct Smtp {
    /// SMTP port on 127.0.0.1 (stays the same across stop/restart).
    pub port: u16,
    child: Option<Child>,
    python: PathBuf,
    lmtp_port: u16,
    /// Dovecot's dir (ca.pem, server.pem, server.key).
    certs: PathBuf,
    opts: SmtpOptions,
    /// Lengths of relay.stdout / relay.stderr when the current process was
    /// spawned (READY and errors are judged on the new part only).
    out_offsets: (usize, usize),
    dir: TempDir,
}

/// `tests/smtp/relay.py`.
pub const SMTP_RELAY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/relay.py");

const SMTP_START_TIMEOUT: Duration = Duration::from_secs(10);

enum SmtpStartError {
    /// The (fixed) port is still/again taken by someone else.
    PortInUse(String),
}

impl Smtp {
    /// Plain SMTP, no AUTH, on a free port.
    pub fn start(dovecot: &Dovecot) -> Smtp {
        Self::start_with(dovecot, SmtpOptions::default())
    }

    /// Start the relay for `dovecot` on a port from [`free_ports`] (retrying with another one if
    /// it was taken meanwhile). Panics with the relay's stderr if it is not listening within
    /// 10 s, or if `aiosmtpd` is not installed.
    pub fn start_with(dovecot: &Dovecot, opts: SmtpOptions) -> Smtp {
        let python = smtp_python().clone();
        let dir = tempfile::Builder::new()
            .prefix("supportd-smtp-")
            .tempdir_in("/tmp")
            .expect("create smtp temp dir");
        let mut smtp = Smtp {
            port: 0,
            child: None,
            python,
            lmtp_port: dovecot.lmtp_port,
            certs: dovecot.dir().to_path_buf(),
            opts,
            out_offsets: (0, 0),
            dir,
        };
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let [port] = free_ports();
            smtp.port = port;
            match smtp.spawn_and_wait() {
                Ok(()) => return smtp,
                Err(SmtpStartError::PortInUse(e)) => last = e,
            }
        }
        panic!("smtp relay: no free port after {START_ATTEMPTS} attempts; last error:\n{last}");
    }

    fn spawn_and_wait(&mut self) -> Result<(), SmtpStartError> {
        let root = self.dir.path();
        let (stdout_path, stderr_path) = (root.join("relay.stdout"), root.join("relay.stderr"));
        self.out_offsets = (
            fs::metadata(&stdout_path).map_or(0, |m| m.len() as usize),
            fs::metadata(&stderr_path).map_or(0, |m| m.len() as usize),
        );
        let open = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap_or_else(|e| panic!("open {}: {e}", p.display()))
        };
        let mut cmd = Command::new(&self.python);
        cmd.arg("-u")
            .arg(SMTP_RELAY_SCRIPT)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--lmtp-port")
            .arg(self.lmtp_port.to_string())
            .arg("--log")
            .arg(self.sent_log_path());
        if self.opts.tls || self.opts.implicit_tls {
            cmd.arg("--tls-cert")
                .arg(self.certs.join("server.pem"))
                .arg("--tls-key")
                .arg(self.certs.join("server.key"));
        }
        if self.opts.implicit_tls {
            cmd.arg("--implicit-tls");
        }
        if let Some((user, pass)) = &self.opts.auth {
            cmd.arg("--auth").arg(format!("{user}:{pass}"));
        }
        if let Some(addr) = &self.opts.fail_rcpt {
            cmd.arg("--fail-rcpt").arg(addr);
        }
        cmd.stdin(Stdio::null())
            .stdout(open(&stdout_path))
            .stderr(open(&stderr_path));
        // SAFETY: prctl is async-signal-safe; kills the relay if the thread
        // that started it dies without running Drop.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {} {SMTP_RELAY_SCRIPT}: {e}", self.python.display()));
        self.child = Some(child);

        let deadline = Instant::now() + SMTP_START_TIMEOUT;
        loop {
            let (stdout, stderr) = self.new_output();
            if let Some(line) = stdout.lines().find(|l| l.starts_with("READY ")) {
                let port: u16 = line["READY ".len()..]
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("smtp relay: bad READY line {line:?}"));
                assert!(
                    self.port == 0 || self.port == port,
                    "smtp relay came up on port {port}, expected {}",
                    self.port
                );
                self.port = port;
                return Ok(());
            }
            let child = self.child.as_mut().expect("smtp child");
            if let Some(status) = child.try_wait().expect("wait for smtp relay") {
                self.child = None;
                if stderr.contains("Address already in use") {
                    return Err(SmtpStartError::PortInUse(stderr));
                }
                panic!(
                    "smtp relay exited during startup ({status}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}"
                );
            }
            if Instant::now() > deadline {
                self.kill();
                let (stdout, stderr) = self.new_output();
                panic!(
                    "smtp relay did not print READY within {SMTP_START_TIMEOUT:?}:\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}"
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// (stdout, stderr) written since the current process was spawned.
    fn new_output(&self) -> (String, String) {
        let read = |name: &str, off: usize| {
            let bytes = fs::read(self.dir.path().join(name)).unwrap_or_default();
            String::from_utf8_lossy(bytes.get(off..).unwrap_or_default()).into_owned()
        };
        (
            read("relay.stdout", self.out_offsets.0),
            read("relay.stderr", self.out_offsets.1),
        )
    }

    /// SIGTERM and wait (max 5 s, then SIGKILL). Afterwards connections to
    /// [`Smtp::port`] are refused. No-op if already stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: kill(2) on our own, not yet reaped child.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGKILL and reap (open connections see a reset/EOF). No-op if
    /// stopped. Also what `Drop` does.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port with the same options after
    /// [`Smtp::stop`]/[`Smtp::kill`]; retries for up to 10 s if the port is
    /// still taken. Panics if it is running.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "smtp relay is still running");
        let deadline = Instant::now() + SMTP_START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(SmtpStartError::PortInUse(e)) => {
                    if Instant::now() > deadline {
                        panic!(
                            "smtp relay: port {} still in use after {SMTP_START_TIMEOUT:?}:\n{e}",
                            self.port
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// [`Smtp::stop`] (if running) + [`Smtp::start_again`]: same port,
    /// options and sent log.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Like [`Smtp::restart`] but with new options (same port and log),
    /// e.g. to stop failing a recipient.
    pub fn restart_with(&mut self, opts: SmtpOptions) {
        self.stop();
        self.opts = opts;
        self.start_again();
    }

    /// Whether the relay process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().map(|s| s.is_none()).unwrap_or(false),
            None => false,
        }
    }

    /// Pid of the relay, if running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The options it was (re)started with.
    pub fn options(&self) -> &SmtpOptions {
        &self.opts
    }

    /// PEM of the CA that signed the relay's certificate (= the Dovecot
    /// test CA, [`Dovecot::ca_pem_path`]).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.certs.join("ca.pem")
    }

    /// Path of the JSON-lines sent log.
    pub fn sent_log_path(&self) -> PathBuf {
        self.dir.path().join("sent.jsonl")
    }

    /// One JSON object per accepted message, oldest first (see [`Smtp`]).
    pub fn sent_log(&self) -> Vec<serde_json::Value> {
        read_lossy(&self.sent_log_path())
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("smtp sent log: bad line {l:?}: {e}"))
            })
            .collect()
    }

    /// `message_id` of every accepted message (with `<>`; messages without
    /// one are skipped), oldest first.
    pub fn sent_message_ids(&self) -> Vec<String> {
        self.sent_log()
            .iter()
            .filter_map(|e| e["message_id"].as_str().map(str::to_string))
            .collect()
    }

    /// Message-IDs the relay accepted more than once, once per extra copy: the re-sends that
    /// at-least-once delivery allows for a mail in flight at a SIGKILL.
    pub fn resent(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.sent_message_ids()
            .into_iter()
            .filter(|id| !seen.insert(id.clone()))
            .collect()
    }

    /// Asserts that the relay saw at most `kills` re-sends (one mail can be in flight per
    /// SIGKILL) and reports them; returns how many there were.
    pub fn assert_resends_at_most(&self, kills: usize) -> usize {
        let resent = self.resent();
        eprintln!(
            "{} SIGKILL(s), {} re-sent mail(s) (same Message-ID): {resent:?}",
            kills,
            resent.len()
        );
        assert!(
            resent.len() <= kills,
            "{} re-sends for {kills} SIGKILL(s): {resent:?}\n{:#?}",
            resent.len(),
            self.sent_log()
        );
        resent.len()
    }

    /// Poll [`Smtp::sent_log`] every 50 ms until it has at least `n`
    /// entries. Returns false on timeout.
    pub async fn wait_sent(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.sent_log().len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The relay's stderr (aiosmtpd + relay log) across all (re)starts.
    pub fn log(&self) -> String {
        read_lossy(&self.dir.path().join("relay.stderr"))
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `[smtp]` section for `smtp` (append it with [`write_config`]):
/// `host = "127.0.0.1"`, `security = "plain"` without TLS; with TLS
/// `host = "localhost"` (the certificate's name), `security = "starttls"`
/// (or `"tls"` for [`SmtpOptions::implicit_tls`]) and `ca_file`; plus
/// `username`/`password` with [`SmtpOptions::auth`].
pub fn smtp_config(smtp: &Smtp) -> String {
    let o = &smtp.opts;
    let (host, security) = if o.implicit_tls {
        ("localhost", "tls")
    } else if o.tls {
        ("localhost", "starttls")
    } else {
        ("127.0.0.1", "plain")
    };
    let mut s = format!(
        "[smtp]\nhost = \"{host}\"\nport = {port}\nsecurity = \"{security}\"\n",
        port = smtp.port
    );
    if o.tls || o.implicit_tls {
        s.push_str(&format!(
            "ca_file = {}\n",
            toml_string(&smtp.ca_pem_path().to_string_lossy())
        ));
    }
    if let Some((user, pass)) = &o.auth {
        s.push_str(&format!(
            "username = {}\npassword = {}\n",
            toml_string(user),
            toml_string(pass)
        ));
    }
    s
}

/// The Python interpreter that can `import aiosmtpd` (resolved once per
/// test process): `$SUPPORTD_TEST_PYTHON` if set, else the first of
/// `python3` on PATH (what `.ci/run` installs into) and `/usr/bin/python3`
/// (Debian's `python3-aiosmtpd`). Returns the real executable (not a pyenv
/// shim).
fn smtp_python() -> &'static PathBuf {
    static PYTHON: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let candidates: Vec<String> = match std::env::var("SUPPORTD_TEST_PYTHON") {
            Ok(p) if !p.is_empty() => vec![p],
            _ => vec!["python3".into(), "/usr/bin/python3".into()],
        };
        let mut tried = String::new();
        for cand in &candidates {
            let out = Command::new(cand)
                .args(["-c", "import sys, aiosmtpd; print(sys.executable)"])
                .stdin(Stdio::null())
                .output();
            match out {
                Ok(o) if o.status.success() => {
                    let exe = String::from_utf8_lossy(&o.stdout).trim().to_string();
                    return Ok(if exe.is_empty() {
                        cand.into()
                    } else {
                        exe.into()
                    });
                }
                Ok(o) => tried.push_str(&format!(
                    "\n  {cand}: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
                Err(e) => tried.push_str(&format!("\n  {cand}: {e}")),
            }
        }
        Err(tried)
    });
    match found {
        Ok(p) => p,
        Err(tried) => {
            panic!("aiosmtpd not installed: run .ci/run or `pip install aiosmtpd` (tried:{tried})")
        }
    }
}

// ----------------------------------------------------------------------
// supportd with extra environment (tests/service.rs: NOTIFY_SOCKET, ...)
// ----------------------------------------------------------------------

impl Daemon {
    /// Like [`Daemon::start`], with extra environment variables for the
    /// daemon, e.g. `[("NOTIFY_SOCKET", path), ("WATCHDOG_USEC", "2000000")]`.
    ///
    /// Returns once the daemon has opened its store and answers on its control socket, or has
    /// exited (the test sees that). Until then a CLI call would find the store unlocked, open it
    /// itself and make the starting daemon fail with "store in use": the daemon does not retry
    /// a store held by a CLI reader.
    pub fn start_with_env(config_path: &Path, env: &[(&str, &str)]) -> Daemon {
        let mut d = Self::spawn_with_env(config_path, env);
        let socket = control_socket(config_path);
        let deadline = Instant::now() + WAIT;
        loop {
            let up = d.own_log().contains("store open")
                && socket
                    .as_deref()
                    .is_none_or(|s| std::os::unix::net::UnixStream::connect(s).is_ok());
            if up || !d.is_running() {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "supportd did not start within {WAIT:?}:\n{}",
                d.own_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// [`Daemon::spawn`] with extra environment variables.
    pub fn spawn_with_env(config_path: &Path, env: &[(&str, &str)]) -> Daemon {
        let dir = config_path
            .parent()
            .expect("config path has a parent dir")
            .to_path_buf();
        let log_path = dir.join("daemon.log");
        let log_start = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
        let mut cmd = Command::new(SUPPORTD_BIN);
        cmd.arg("--config")
            .arg(config_path)
            .arg("run")
            .env(
                "RUST_LOG",
                std::env::var("TEST_DAEMON_LOG").unwrap_or_else(|_| "supportd=debug,info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; kills the daemon if the test
        // thread dies without running Drop.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {SUPPORTD_BIN}: {e}"));
        Daemon {
            child: Some(child),
            log_path,
            log_start,
        }
    }
}

/// The control socket the configuration at `config_path` names (`[control] socket`, else
/// `control.sock` in the store directory), if the file parses.
fn control_socket(config_path: &Path) -> Option<PathBuf> {
    let table: toml::Table = fs::read_to_string(config_path).ok()?.parse().ok()?;
    let dir = config_path.parent()?;
    let relative = |p: &str| dir.join(p);
    if let Some(s) = table
        .get("control")
        .and_then(|c| c.get("socket"))
        .and_then(|s| s.as_str())
    {
        return Some(relative(s));
    }
    let store = table.get("store")?.get("path")?.as_str()?;
    Some(relative(store).join("control.sock"))
}

// ---- the health listener ----------------------------------------------------------------------

/// The port the daemon's health listener bound, from its log line.
pub async fn listening_port(daemon: &Daemon) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let log = daemon.own_log();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("health and metrics listening"))
            && let Some(addr) = line.split("addr=").nth(1)
            && let Some(port) = addr
                .split_whitespace()
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
        {
            return port;
        }
        assert!(Instant::now() < deadline, "no listening line in\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A minimal HTTP/1.1 GET: (status code, headers, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {raw:?}"));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    Ok((code, head.to_owned(), body.to_owned()))
}

/// The value of an unlabelled sample, or the sum over all label sets of `name{…}` samples
/// whose labels contain every `label` given.
pub fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (n, l) = match series.split_once('{') {
            Some((n, l)) => (n, l),
            None => (series, ""),
        };
        if n == name && labels.iter().all(|want| l.contains(want)) {
            found = true;
            sum += value.parse::<f64>().unwrap();
        }
    }
    assert!(found, "no sample {name}{labels:?} in\n{text}");
    sum
}

pub fn metrics(port: u16) -> String {
    let (code, head, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(code, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body
}
