//! A real SMTP server for the daemon to send through: `tests/smtp/relay.py` (aiosmtpd) delivering
//! into a [`Dovecot`] over LMTP before it answers 250, so a test reads over IMAP what a recipient
//! really received and the relay's log says what was sent how often.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::config::toml_string;
use super::dovecot::Dovecot;
use super::ports::free_ports;
use super::process::die_with_parent;
use super::{read_lossy, read_since};

const START_ATTEMPTS: usize = 8;

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
        die_with_parent(&mut cmd, libc::SIGKILL);
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
        let dir = self.dir.path();
        (
            read_since(&dir.join("relay.stdout"), self.out_offsets.0),
            read_since(&dir.join("relay.stderr"), self.out_offsets.1),
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
