//! The real `supportd` binary, run as the daemon ([`Daemon`]) and as the CLI ([`cli`],
//! [`cli_json`]); what a test knows about the desk's state it reads through this CLI.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use super::process::die_with_parent;
use super::wait::{WAIT, wait_until};
use super::{read_lossy, read_since};

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
        die_with_parent(&mut cmd, libc::SIGKILL);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {SUPPORTD_BIN}: {e}"));
        Daemon {
            child: Some(child),
            log_path,
            log_start,
        }
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
        read_since(&self.log_path, self.log_start as usize)
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
                .any(|l| l.ends_with("supportd::service::daemon: ready"))
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

/// Run the CLI and return its stdout; panics (showing stderr) on a non-zero exit.
pub fn cli_ok(config: &Path, args: &[&str]) -> String {
    let out = cli(config, args);
    assert!(
        out.status.success(),
        "supportd {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
