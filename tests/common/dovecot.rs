//! A real, private Dovecot 2.3 per test: its own temp dir, ports, certificates, passwd-file users
//! and process group, so tests share nothing and a crashed test leaves no server behind. The
//! IMAP and LMTP clients on it live in `imap.rs` and `lmtp.rs`.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::ports::free_ports;
use super::process::{die_with_parent, has_exited, kill_group};
use super::read_since;
use super::tls::make_certificates;

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
    // Queues with an IMAP account of their own (tests/accounts.rs).
    "billing",
    "sales",
];

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
        // SIGTERM, not SIGKILL: the master then takes its children (imap, auth, log) along.
        die_with_parent(&mut cmd, libc::SIGTERM);
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
        let dir = self.dir.path();
        (
            read_since(&dir.join("dovecot.log"), self.log_offsets.0),
            read_since(&dir.join("dovecot.stderr"), self.log_offsets.1),
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
