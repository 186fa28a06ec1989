//! The Debian package under a real systemd: a Debian 12 root file system booted with
//! `systemd-nspawn` (systemd as PID 1; this host's PID 1 need not be systemd), the package
//! installed, configured and started by running the README's install section line by line
//! inside it, the configuration pointed at a test Dovecot and SMTP relay on the host's loopback
//! (the container shares the host's network namespace); then the README's uninstall lines.
//!
//! Checked: `apt install ./…deb` works offline on a minimal system (its Depends are there),
//! creates the `supportd` user and `/etc/supportd` (root:supportd 0750, the conffile 0640),
//! installs the man pages and completions, and neither enables nor starts the unit; the
//! conffile as installed is refused by `check-config`, naming exactly the values to fill in;
//! filled in, `systemctl enable --now` returns with the unit active (Type=notify: only after
//! READY=1); a mail delivered to the support mailbox becomes a ticket, read inside the container
//! through the control socket, and its acknowledgement reaches the customer's mailbox through
//! the relay with SMTP AUTH; `systemctl reload` is a SIGHUP to the same process; the service
//! outlives `WatchdogSec` without a restart; `systemctl stop` ends with Result=success; the
//! journal holds no warning about the unit. `apt remove` stops the service and removes the unit
//! and the binary but keeps configuration, user and tickets; `apt purge` removes the
//! configuration, the user, the statoverrides and every unit link, and keeps the ticket store
//! (the debconf default), owned by root; installing again adopts that store (the ticket is still
//! there), and a purge with the question answered yes removes it too.
//!
//! Inputs, from scripts/test: `SUPPORTD_DEB` (scripts/package, from the release build) and
//! `SUPPORTD_NSPAWN_ROOTFS` (scripts/systemd-rootfs, a cached debootstrap tree; the container
//! runs on a throw-away overlay of it, so runs never see each other's state).

mod common;

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

const UNIT: &str = "supportd.service";
const CONFIG: &str = "/etc/supportd/supportd.toml";
/// Where the container sees the "source checkout" the README's commands run in.
const CHECKOUT: &str = "/root/supportd";
const SMTP_USER: &str = "support@example.com";
/// Differs from the IMAP password, so each password is proven to reach its own use.
const SMTP_PASSWORD: &str = "smtp-secret-of-the-unit-check";
const WAIT: Duration = Duration::from_secs(60);
/// How long past `WatchdogSec` after the start the service must keep running.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(5);
/// The values the packaged conffile marks FILL IN, in file order.
const FILL_IN: [&str; 5] = [
    "imap.host",
    "imap.username",
    "imap.password",
    "smtp.host",
    "support.address",
];

#[tokio::test]
#[ignore = "boots a Debian 12 container (systemd-nspawn, root); run by scripts/test"]
async fn the_package_under_systemd() {
    let deb = input_path(
        "SUPPORTD_DEB",
        "the Debian package (scripts/package; target/debian/supportd_*.deb)",
    );
    let rootfs = input_path(
        "SUPPORTD_NSPAWN_ROOTFS",
        "the Debian 12 root file system printed by scripts/systemd-rootfs",
    );
    let install = readme_steps("## Installing on a Debian server");
    let uninstall = readme_steps("**Uninstall:**");
    check_install_block(&install);

    let dovecot = Dovecot::start();
    let smtp = Smtp::start_with(
        &dovecot,
        SmtpOptions {
            auth: Some((SMTP_USER.into(), SMTP_PASSWORD.into())),
            ..Default::default()
        },
    );
    let checkout = stage_checkout(&deb);
    let mut ct = Container::boot(&rootfs, checkout.path());

    // --- install, as the README says ----------------------------------------------------------
    let started_at = run_install(&ct, &install, &dovecot, &smtp);
    let first = ct.show(&[
        "MainPID",
        "ExecMainStartTimestampMonotonic",
        "ActiveEnterTimestampMonotonic",
        "WatchdogUSec",
        "NRestarts",
        "FragmentPath",
    ]);
    if !first["FragmentPath"].ends_with("/lib/systemd/system/supportd.service") {
        ct.fail(&format!("the unit is not the package's: {first:?}"));
    }
    let main_pid = first["MainPID"].clone();
    let watchdog = parse_timespan(&first["WatchdogUSec"])
        .unwrap_or_else(|| ct.fail(&format!("WatchdogUSec: {:?}", first["WatchdogUSec"])));
    if watchdog.is_zero() {
        ct.fail("the unit has no WatchdogSec");
    }
    let ready_mono: u64 = first["ActiveEnterTimestampMonotonic"].parse().unwrap();
    if first["ExecMainStartTimestampMonotonic"]
        .parse::<u64>()
        .unwrap()
        > ready_mono
    {
        ct.fail(&format!(
            "active before the main process started: {first:?}"
        ));
    }

    // --- a mail becomes a ticket, read through the control socket -----------------------------
    let msgid = format!("unit-check-{}@customer.example", std::process::id());
    let subject = "Cannot add a DNS record in the control panel";
    let body = "Hello,\n\nthe panel says \"record rejected\" when I add an MX record.\n\nCarol\n";
    let raw = mail(
        "Carol Customer <customer@example.com>",
        "support@example.com",
        subject,
        &msgid,
        body,
    );
    dovecot.append("support", "INBOX", &raw).await;
    let socket = ct.sh(
        "stat -c '%F %U %a' /var/lib/supportd/store/control.sock",
        WAIT,
    );
    if socket.trim() != "socket supportd 600" {
        ct.fail(&format!("control socket: {socket:?}"));
    }
    let ticket = wait_ticket(&ct, subject).await;
    let id = ticket["id"].as_u64().expect("ticket id");
    if !ticket["requester"]
        .as_str()
        .is_some_and(|r| r.contains("customer@example.com"))
    {
        ct.fail(&format!("ticket requester: {ticket}"));
    }
    // The secret nobody configured was generated in the store, and status says so.
    let status = ct.sh(&format!("supportd --config {CONFIG} status --json"), WAIT);
    if !status.contains("\"source\": \"store\"") {
        ct.fail(&format!(
            "status does not name the generated secret: {status}"
        ));
    }

    // --- its acknowledgement reaches the customer's real mailbox ------------------------------
    check_acknowledgement(&ct, &dovecot, &smtp, id, &msgid).await;

    // --- reload = SIGHUP to the same process ---------------------------------------------------
    let reloaded = "SIGHUP: reloaded";
    if ct.unit_log().contains(reloaded) {
        ct.fail("a reload was logged before `systemctl reload`");
    }
    ct.sh("systemctl reload supportd", WAIT);
    let deadline = Instant::now() + WAIT;
    while !ct.unit_log().contains(reloaded) {
        if Instant::now() > deadline {
            ct.fail(&format!(
                "no {reloaded:?} in the log within {WAIT:?} of the reload"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if ct.unit_log().contains("SIGHUP: reload failed") {
        ct.fail("the reload failed");
    }
    ct.assert_same_process(&main_pid, "after the reload");

    // --- alive past WatchdogSec (the checks above ran inside this window) ---------------------
    let until = started_at + watchdog + WATCHDOG_MARGIN;
    eprintln!(
        "waiting {:?} more: past WatchdogSec={watchdog:?} since the start",
        until.saturating_duration_since(Instant::now())
    );
    while Instant::now() < until {
        ct.assert_same_process(&main_pid, "while waiting out WatchdogSec");
        std::thread::sleep(Duration::from_secs(1));
    }
    ct.assert_same_process(
        &main_pid,
        &format!("{watchdog:?} + {WATCHDOG_MARGIN:?} after the start"),
    );
    let pinged: u64 = ct.show(&["WatchdogTimestampMonotonic"])["WatchdogTimestampMonotonic"]
        .parse()
        .unwrap();
    // The daemon pings every WatchdogSec/2, so by now the last ping is well after READY.
    let quarter = watchdog.as_micros() as u64 / 4;
    if pinged < ready_mono + quarter {
        ct.fail(&format!(
            "no WATCHDOG=1 long after READY (last ping at {pinged} µs, READY at {ready_mono} µs)"
        ));
    }

    // --- stop ------------------------------------------------------------------------------
    ct.sh("systemctl stop supportd", Duration::from_secs(90));
    let st = ct.show(&[
        "ActiveState",
        "Result",
        "ExecMainCode",
        "ExecMainStatus",
        "NRestarts",
    ]);
    // ExecMainCode 1 = CLD_EXITED: the process exited by itself, with status 0.
    if st["ActiveState"] != "inactive"
        || st["Result"] != "success"
        || st["ExecMainCode"] != "1"
        || st["ExecMainStatus"] != "0"
        || st["NRestarts"] != "0"
    {
        ct.fail(&format!("after `systemctl stop`: {st:?}"));
    }

    // --- no warning about the unit in the journal ---------------------------------------------
    let problems = ct.journal_warnings();
    if !problems.is_empty() {
        ct.fail(&format!(
            "warnings about {UNIT} in the journal:\n{}",
            problems.join("\n")
        ));
    }

    // --- uninstall, as the README says --------------------------------------------------------
    ct.sh("systemctl start supportd", WAIT);
    run_uninstall(&ct, &uninstall);

    // --- the kept store is adopted by the next installation; a purge answered yes removes it --
    let started = run_install(&ct, &install, &dovecot, &smtp);
    eprintln!("installed again, running after {:?}", started.elapsed());
    let again = wait_ticket(&ct, subject).await;
    if again["id"].as_u64() != Some(id) {
        ct.fail(&format!("the kept store lost ticket {id}: {again}"));
    }
    ct.sh(
        "echo 'supportd supportd/purge_store boolean true' | debconf-set-selections",
        WAIT,
    );
    ct.sh("apt-get purge -y supportd", Duration::from_secs(120));
    if ct.run("test -e /var/lib/supportd", None, WAIT).ok() {
        ct.fail("purge answered yes, but /var/lib/supportd is still there");
    }
    check_purged(&ct);
    ct.poweroff();
}

/// A path from the environment that must exist; says which step provides it.
fn input_path(var: &str, what: &str) -> PathBuf {
    let Some(p) = std::env::var_os(var).filter(|v| !v.is_empty()) else {
        panic!(
            "${var} is not set: it names {what}. scripts/test sets it (run the whole \
             scripts/test, or set it by hand)"
        );
    };
    let p = PathBuf::from(p);
    assert!(p.exists(), "${var}={} does not exist ({what})", p.display());
    p
}

/// What the README's install commands need from a source checkout: the package where
/// `scripts/package` puts it, `target/debian/`.
fn stage_checkout(deb: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("supportd-unit-checkout-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    let debian = d.join("target/debian");
    fs::create_dir_all(&debian).unwrap();
    fs::copy(deb, debian.join(deb.file_name().unwrap())).unwrap();
    // apt reads a local package as its sandbox user `_apt`.
    for p in [d.join("target"), debian.clone()] {
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// One line of a README command block, and what the check does with it.
#[derive(Debug)]
enum Step {
    /// Run inside the container, in the checkout; must exit 0.
    Run(String),
    /// `editor /etc/supportd/supportd.toml`: the operator's edits, see [`configure`].
    Edit,
    /// `systemctl enable --now supportd`: the start that is checked.
    Start(String),
    /// Not run: `scripts/package` (the package comes from `SUPPORTD_DEB`) and `journalctl -f`
    /// (follows forever).
    Skip(String),
}

impl Step {
    fn text(&self) -> &str {
        match self {
            Step::Run(c) | Step::Start(c) | Step::Skip(c) => c,
            Step::Edit => "editor",
        }
    }
}

/// The commands of the first ```sh block after `heading` in the README. Comments are
/// dropped; `apt` gets `-y` (there is no terminal to answer its question).
fn readme_steps(heading: &str) -> Vec<Step> {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split(heading)
        .nth(1)
        .unwrap_or_else(|| panic!("README has no {heading:?}"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .unwrap_or_else(|| panic!("README: no ```sh block after {heading:?}"));
    let mut steps = Vec::new();
    for raw in block.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cmd = line.split(" #").next().unwrap().trim();
        let step =
            if cmd == "scripts/package" || cmd.starts_with("journalctl ") && cmd.ends_with(" -f") {
                Step::Skip(cmd.to_string())
            } else if cmd.starts_with("editor ") {
                assert_eq!(cmd, format!("editor {CONFIG}"), "README: the edited file");
                Step::Edit
            } else if cmd.starts_with("systemctl enable --now ") {
                Step::Start(cmd.to_string())
            } else if let Some(rest) = cmd.strip_prefix("apt ") {
                Step::Run(format!("apt -y {rest}"))
            } else {
                Step::Run(cmd.to_string())
            };
        steps.push(step);
    }
    steps
}

/// Fails if the install block lost a line this check relies on, so the README and the check
/// cannot drift apart silently.
fn check_install_block(steps: &[Step]) {
    let all: Vec<&str> = steps.iter().map(Step::text).collect();
    let has = |want: &str| all.iter().any(|c| c.contains(want));
    for want in [
        "scripts/package",
        "apt -y install ./target/debian/supportd_",
        "check-config",
    ] {
        assert!(
            has(want),
            "README install block: no line with {want:?}: {all:?}"
        );
    }
    assert_eq!(
        steps.iter().filter(|s| matches!(s, Step::Edit)).count(),
        1,
        "README install block: one `editor {CONFIG}`: {all:?}"
    );
    assert_eq!(
        steps.iter().filter(|s| matches!(s, Step::Start(_))).count(),
        1,
        "README install block: one `systemctl enable --now supportd`: {all:?}"
    );
}

/// Runs the install block; checks what the package did before the edit and what `enable
/// --now` did. Returns when the start was issued.
fn run_install(ct: &Container, steps: &[Step], dovecot: &Dovecot, smtp: &Smtp) -> Instant {
    let mut started_at = None;
    for step in steps {
        match step {
            Step::Run(line) => {
                ct.sh(
                    &format!("cd {CHECKOUT} && {line}"),
                    Duration::from_secs(120),
                );
                if line.contains(" install ./") {
                    check_installed(ct);
                }
            }
            Step::Edit => {
                let installed = ct.sh(&format!("cat {CONFIG}"), WAIT);
                let edited = configure(&installed, dovecot, smtp);
                ct.sh_stdin(&format!("cat > {CONFIG}"), edited.as_bytes(), WAIT);
            }
            Step::Start(line) => {
                let t0 = Instant::now();
                let run = ct.run(
                    &format!("cd {CHECKOUT} && {line}"),
                    None,
                    Duration::from_secs(120),
                );
                if !run.ok() {
                    ct.fail(&format!("`{line}` failed: {run}"));
                }
                started_at = Some(t0);
                eprintln!("`{line}` returned after {:?}", t0.elapsed());
                // Type=notify: the start job ends, and the unit turns active, only on READY=1.
                let st = ct.show(&["Type", "ActiveState", "SubState", "MainPID", "StatusText"]);
                if st["Type"] != "notify" {
                    ct.fail(&format!("the unit is Type={}, not notify", st["Type"]));
                }
                if st["ActiveState"] != "active"
                    || st["SubState"] != "running"
                    || st["MainPID"] == "0"
                {
                    ct.fail(&format!(
                        "after `{line}` returned the unit is not running: {st:?}"
                    ));
                }
                if st["StatusText"].is_empty() {
                    ct.fail("no STATUS= text after the start");
                }
            }
            Step::Skip(_) => {}
        }
    }
    started_at.expect("the README's install section starts the unit")
}

/// Right after `apt install`: the user, the configuration's owner and modes, the
/// documentation, a unit that is installed but neither enabled nor started, and a conffile
/// `check-config` refuses until its FILL IN values are there.
fn check_installed(ct: &Container) {
    let user = ct.sh("getent passwd supportd", WAIT);
    let fields: Vec<&str> = user.trim().split(':').collect();
    if fields.len() != 7 || fields[5] != "/var/lib/supportd" || fields[6] != "/usr/sbin/nologin" {
        ct.fail(&format!("the supportd user: {user:?}"));
    }
    let modes = ct.sh(&format!("stat -c '%U:%G %a' /etc/supportd {CONFIG}"), WAIT);
    if modes.lines().collect::<Vec<_>>() != ["root:supportd 750", "root:supportd 640"] {
        ct.fail(&format!("/etc/supportd and its conffile: {modes:?}"));
    }
    ct.sh(
        "test -f /usr/share/man/man1/supportd.1.gz && \
         test -f /usr/share/man/man1/supportd-ticket-show.1.gz && \
         test -f /usr/share/bash-completion/completions/supportd && \
         test -f /usr/share/zsh/vendor-completions/_supportd && \
         test -f /usr/share/fish/vendor_completions.d/supportd.fish && \
         test -f /usr/share/doc/supportd/examples/supportd.toml && \
         test -f /usr/share/supportd/templates/zh/ack.txt && \
         test -x /usr/bin/supportd",
        WAIT,
    );
    let enabled = ct.run("systemctl is-enabled supportd", None, WAIT);
    let active = ct.run("systemctl is-active supportd", None, WAIT);
    if enabled.stdout.trim() != "disabled" || active.stdout.trim() != "inactive" {
        ct.fail(&format!(
            "the package must not enable or start the unit: {enabled} / {active}"
        ));
    }
    let check = ct.run("supportd check-config", None, WAIT);
    let named: Vec<&str> = check
        .stderr
        .lines()
        .filter(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split(':').next())
        .collect();
    if check.status.and_then(|s| s.code()) != Some(2) || named != FILL_IN {
        ct.fail(&format!(
            "the conffile as installed should be refused naming {FILL_IN:?}: {check}"
        ));
    }
}

/// The operator's edits of the installed `/etc/supportd/supportd.toml`, line by line as in an
/// editor: the five FILL IN values, and the commented `security`, `port`, `username` and
/// `password` lines of the test servers (plain on loopback, SMTP with AUTH). Fails if a line the
/// edit expects is missing, so the conffile and this check cannot drift apart.
fn configure(installed: &str, dovecot: &Dovecot, smtp: &Smtp) -> String {
    let quote = |s: &str| format!("\"{s}\"");
    let values: HashMap<&str, String> = [
        ("imap.host", quote("127.0.0.1")),
        ("imap.username", quote("support")),
        ("imap.password", quote(PASSWORD)),
        ("imap.security", quote("plain")),
        ("imap.port", dovecot.imap_port.to_string()),
        ("smtp.host", quote("127.0.0.1")),
        ("smtp.security", quote("plain")),
        ("smtp.port", smtp.port.to_string()),
        ("smtp.username", quote(SMTP_USER)),
        ("smtp.password", quote(SMTP_PASSWORD)),
        ("support.address", quote("support@example.com")),
    ]
    .into_iter()
    .collect();
    let mut section = String::new();
    let mut done = Vec::new();
    let mut out = String::new();
    for line in installed.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.to_string();
        }
        let uncommented = trimmed.strip_prefix('#').unwrap_or(trimmed);
        let key = uncommented.split('=').next().unwrap_or("").trim();
        let full = format!("{section}.{key}");
        let fill = trimmed.contains('=') && (line.contains("FILL IN") || trimmed.starts_with('#'));
        match values.get(full.as_str()) {
            Some(v) if fill && !done.contains(&full) => {
                out.push_str(&format!("{key} = {v}\n"));
                done.push(full);
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    let mut missing: Vec<&&str> = values
        .keys()
        .filter(|k| !done.iter().any(|d| d == *k))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "the installed conffile has no line for {missing:?}:\n{installed}"
    );
    out
}

/// Waits for the one ticket with `subject` (`tickets --json` through the control socket).
async fn wait_ticket(ct: &Container, subject: &str) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = ct.sh(&format!("supportd --config {CONFIG} tickets --json"), WAIT);
        let list: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| ct.fail(&format!("tickets --json is not JSON ({e}): {out}")));
        let list = list.as_array().cloned().unwrap_or_default();
        if let Some(t) = list.iter().find(|t| t["subject"] == subject) {
            if list.len() != 1 {
                ct.fail(&format!("one mail, {} tickets: {list:?}", list.len()));
            }
            return t.clone();
        }
        if Instant::now() > deadline {
            ct.fail(&format!("no ticket for the mail within {WAIT:?}: {out}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Exactly one acknowledgement in the customer's mailbox, threaded, from the support address,
/// sent through the relay after AUTH with the configured login.
async fn check_acknowledgement(
    ct: &Container,
    dovecot: &Dovecot,
    smtp: &Smtp,
    id: u64,
    msgid: &str,
) {
    if !dovecot.wait_count("customer", "INBOX", 1, WAIT).await {
        ct.fail(&format!(
            "no acknowledgement in the customer's INBOX within {WAIT:?}; relay log:\n{}",
            smtp.log()
        ));
    }
    let inbox = dovecot.fetch_all("customer", "INBOX").await;
    if inbox.len() != 1 {
        ct.fail(&format!(
            "customer has {} mails, expected one ack",
            inbox.len()
        ));
    }
    let ack = supportd::mail::parse::parse(&inbox[0].1).expect("parse the ack");
    let tag = format!("[SUP-{id}]");
    if !ack.subject.contains(&tag)
        || !ack.in_reply_to.iter().any(|m| m.contains(msgid))
        || ack.from.address != "support@example.com"
    {
        ct.fail(&format!(
            "acknowledgement: subject {:?} (want {tag}), in-reply-to {:?} (want {msgid}), from {:?}",
            ack.subject, ack.in_reply_to, ack.from
        ));
    }
    let sent = smtp.sent_log();
    let to_customer: Vec<_> = sent
        .iter()
        .filter(|e| {
            e["rcpts"]
                .as_array()
                .is_some_and(|r| r.iter().any(|a| a == "customer@example.com"))
        })
        .collect();
    if to_customer.len() != 1 || to_customer[0]["auth_user"] != SMTP_USER {
        ct.fail(&format!(
            "relay: want one mail to the customer, sent after AUTH as {SMTP_USER}: {sent:?}"
        ));
    }
}

/// The README's uninstall block: `apt remove` (with the service running), then `apt purge`
/// with debconf's default answer; each checked.
fn run_uninstall(ct: &Container, steps: &[Step]) {
    let all: Vec<&str> = steps.iter().map(Step::text).collect();
    assert_eq!(
        all,
        ["apt -y remove supportd", "apt -y purge supportd"],
        "README uninstall block"
    );
    ct.sh(all[0], Duration::from_secs(120));
    // Stopped and gone; configuration, user and tickets stay.
    let st = ct.show(&["ActiveState", "LoadState"]);
    if st["ActiveState"] != "inactive"
        || !["not-found", "masked"].contains(&st["LoadState"].as_str())
    {
        ct.fail(&format!(
            "after `apt remove` the unit is still there: {st:?}"
        ));
    }
    if ct.run("pgrep -x supportd", None, WAIT).ok() {
        ct.fail("a supportd process survived `apt remove`");
    }
    ct.sh(
        "! test -e /usr/lib/systemd/system/supportd.service && ! test -e /usr/bin/supportd && \
         test -f /etc/supportd/supportd.toml && getent passwd supportd >/dev/null && \
         test -d /var/lib/supportd/store",
        WAIT,
    );
    ct.sh(all[1], Duration::from_secs(120));
    check_purged(ct);
    // The store stays (debconf's default), handed to root since its user is gone.
    let kept = ct.sh("stat -c '%U:%G %a' /var/lib/supportd", WAIT);
    if kept.trim() != "root:root 700" {
        ct.fail(&format!("the kept store: {kept:?}"));
    }
    let owners = ct.sh("find /var/lib/supportd ! -user root | head", WAIT);
    if !owners.trim().is_empty() {
        ct.fail(&format!(
            "files of the deleted user in the kept store:\n{owners}"
        ));
    }
}

/// After a purge: no configuration, user, group, statoverride, unit file or unit link.
fn check_purged(ct: &Container) {
    let leftovers = ct.sh(
        "test -e /etc/supportd && echo /etc/supportd; \
         getent passwd supportd; getent group supportd; \
         dpkg-statoverride --list | grep supportd; \
         find /etc/systemd /usr/lib/systemd/system /var/lib/systemd -name '*supportd*'; \
         dpkg-query -W -f='${db:Status-Status}\\n' supportd 2>/dev/null | grep -v not-installed; \
         true",
        WAIT,
    );
    if !leftovers.trim().is_empty() {
        ct.fail(&format!("left after `apt purge`:\n{leftovers}"));
    }
}

/// `30s`, `1min 30s`, `500ms` as `systemctl show` prints them.
fn parse_timespan(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for part in s.split_whitespace() {
        let split = part.find(|c: char| !c.is_ascii_digit())?;
        let (n, unit) = part.split_at(split);
        let n: u64 = n.parse().ok()?;
        total += match unit {
            "us" => Duration::from_micros(n),
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "min" => Duration::from_secs(60 * n),
            "h" => Duration::from_secs(3600 * n),
            _ => return None,
        };
    }
    (!s.trim().is_empty()).then_some(total)
}

// ---- the container -------------------------------------------------------------------------

/// A booted container. Dropping it (also on a failed check) powers it off; its overlay, and
/// so everything the run changed, is gone with it.
struct Container {
    nspawn: Option<Child>,
    /// The container's systemd, as a host PID (for nsenter).
    pid1: u32,
    console: PathBuf,
    dir: tempfile::TempDir,
}

/// The outcome of a command in the container; `status` is None if it was killed on timeout.
struct Run {
    cmd: String,
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed after the timeout".into(),
        };
        write!(
            f,
            "`{}`: {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.stdout, self.stderr
        )
    }
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

impl Container {
    fn boot(rootfs: &Path, checkout: &Path) -> Container {
        let dir = tempfile::Builder::new()
            .prefix("supportd-nspawn-")
            .tempdir()
            .unwrap();
        let console = dir.path().join("console.log");
        let name = format!("supportd-ci-{}", std::process::id());
        let mut cmd = Command::new("systemd-nspawn");
        cmd.arg("--directory")
            .arg(rootfs)
            // The cached tree stays read-only; writes go to a tmpfs overlay that ends with
            // the container.
            .arg("--volatile=overlay")
            .arg("--machine")
            .arg(&name)
            .arg("--boot")
            .arg("--console=pipe")
            .arg("--link-journal=no")
            .arg(format!("--bind-ro={}:{CHECKOUT}", checkout.display()));
        if !Path::new("/run/systemd/system").exists() {
            // No systemd on the host: nothing to register with, no unit to move into.
            cmd.args(["--register=no", "--keep-unit"]);
        }
        let log = File::create(&console).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe. If the test dies without running Drop, nspawn
        // gets SIGTERM, which shuts the container down.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let nspawn = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run systemd-nspawn: {e} (apt-get install systemd-container, or run .ci/run)"
            )
        });
        let nspawn_pid = nspawn.id();
        let mut ct = Container {
            nspawn: Some(nspawn),
            pid1: 0,
            console,
            dir,
        };

        let deadline = Instant::now() + WAIT;
        ct.pid1 = loop {
            if let Some(status) = ct.nspawn.as_mut().unwrap().try_wait().unwrap() {
                ct.nspawn = None;
                panic!(
                    "systemd-nspawn exited ({status}) before the container's systemd ran: this \
                     host cannot run systemd-nspawn (it needs root with full privileges, not an \
                     unprivileged container). Its output:\n{}",
                    read_lossy(&ct.console)
                );
            }
            if let Some(pid) = child_named(nspawn_pid, "systemd") {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "no systemd under systemd-nspawn (pid {nspawn_pid}) within {WAIT:?}:\n{}",
                read_lossy(&ct.console)
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // `is-system-running --wait` answers nothing until PID 1's socket is up: retry.
        loop {
            let run = ct.run(
                "systemctl is-system-running --wait",
                None,
                Duration::from_secs(10),
            );
            match run.stdout.trim() {
                "running" => break,
                "degraded" => {
                    let failed = ct.run("systemctl --failed --no-legend", None, WAIT);
                    eprintln!(
                        "container boot degraded (not about supportd):\n{}",
                        failed.stdout
                    );
                    break;
                }
                _ if Instant::now() > deadline => {
                    ct.fail(&format!("container did not boot: {run}"))
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        ct
    }

    /// Runs `script` with `/bin/sh -c` inside the container as root, with a clean environment.
    fn run(&self, script: &str, stdin: Option<&[u8]>, timeout: Duration) -> Run {
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let path = |what: &str| self.dir.path().join(format!("run{n}.{what}"));
        let stdin = match stdin {
            Some(bytes) => {
                fs::write(path("stdin"), bytes).unwrap();
                Stdio::from(File::open(path("stdin")).unwrap())
            }
            None => Stdio::null(),
        };
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.pid1.to_string(),
            "-a",
            "--",
            "/usr/bin/env",
            "-i",
        ])
        .args([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "LANG=C.UTF-8",
            // No terminal: apt and debconf take the defaults (or the preseeded answers).
            "DEBIAN_FRONTEND=noninteractive",
            "SYSTEMD_PAGER=",
            "SYSTEMD_COLORS=0",
            "/bin/sh",
            "-c",
            script,
        ])
        .stdin(stdin)
        .stdout(File::create(path("stdout")).unwrap())
        .stderr(File::create(path("stderr")).unwrap())
        // Own group: on a timeout nsenter and what it forked are killed together.
        .process_group(0);
        let mut child = cmd.spawn().expect("spawn nsenter");
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > deadline {
                // SAFETY: kill(2) on the process group of our own, unreaped child.
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        Run {
            cmd: script.to_string(),
            status,
            stdout: read_lossy(&path("stdout")),
            stderr: read_lossy(&path("stderr")),
        }
    }

    /// [`Container::run`] that must succeed; returns stdout.
    fn sh(&self, script: &str, timeout: Duration) -> String {
        let run = self.run(script, None, timeout);
        if !run.ok() {
            self.fail(&run.to_string());
        }
        run.stdout
    }

    fn sh_stdin(&self, script: &str, stdin: &[u8], timeout: Duration) -> String {
        let run = self.run(script, Some(stdin), timeout);
        if !run.ok() {
            self.fail(&run.to_string());
        }
        run.stdout
    }

    /// `systemctl show` of the unit: property → value.
    fn show(&self, props: &[&str]) -> HashMap<String, String> {
        let args: String = props.iter().map(|p| format!(" -p {p}")).collect();
        let out = self.sh(&format!("systemctl show {UNIT}{args}"), WAIT);
        let map: HashMap<String, String> = out
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for p in props {
            if !map.contains_key(*p) {
                self.fail(&format!("systemctl show: no {p} in {out:?}"));
            }
        }
        map
    }

    /// What supportd wrote to the journal (its stdout/stderr), without systemd's lines.
    fn unit_log(&self) -> String {
        self.sh(
            &format!("journalctl --no-pager -q -o cat _SYSTEMD_UNIT={UNIT}"),
            WAIT,
        )
    }

    /// Running, same MainPID, never restarted.
    fn assert_same_process(&self, main_pid: &str, when: &str) {
        let st = self.show(&["ActiveState", "SubState", "MainPID", "NRestarts"]);
        if st["ActiveState"] != "active"
            || st["SubState"] != "running"
            || st["MainPID"] != main_pid
            || st["NRestarts"] != "0"
        {
            self.fail(&format!(
                "{when}: want the same process (MainPID {main_pid}) running, never restarted: {st:?}"
            ));
        }
    }

    /// Journal lines at warning or worse that are about the unit: systemd's messages about it
    /// (`-u` matches those and the service's own output), any other warning naming supportd
    /// (e.g. one logged by a forked child without the unit field), and supportd's own WARN or
    /// ERROR lines (its output reaches the journal at the default priority).
    fn journal_warnings(&self) -> Vec<String> {
        // Lines still queued in journald's stream from the service's last moments count too.
        self.sh("journalctl --sync", WAIT);
        let mut found: Vec<String> = self
            .sh(
                &format!("journalctl --no-pager -q -o short-monotonic -p warning -u {UNIT}"),
                WAIT,
            )
            .lines()
            .map(str::to_string)
            .collect();
        for line in self
            .sh(
                "journalctl --no-pager -q -o short-monotonic -p warning",
                WAIT,
            )
            .lines()
        {
            if line.contains("supportd") && !found.iter().any(|f| f == line) {
                found.push(line.to_string());
            }
        }
        // The one warning a fresh install must give: its first start creates the store (the same
        // warning on a later start means the store was lost; README: store identity).
        let mut created = 0;
        for line in self.unit_log().lines() {
            let level = line.split_whitespace().next().unwrap_or("");
            if line.contains("created a NEW, EMPTY store") && created == 0 {
                created += 1;
                continue;
            }
            if level == "WARN" || level == "ERROR" {
                found.push(line.to_string());
            }
        }
        found
    }

    /// Panics with `what` and the state of the unit and the container.
    fn fail(&self, what: &str) -> ! {
        let mut diag = String::new();
        for cmd in [
            format!("systemctl status {UNIT} --no-pager -l --lines=0"),
            "journalctl --no-pager -o short-monotonic -n 200".to_string(),
        ] {
            let run = self.run(&cmd, None, Duration::from_secs(15));
            diag.push_str(&format!("\n=== {cmd} ===\n{}{}", run.stdout, run.stderr));
        }
        panic!(
            "{what}\n{diag}\n=== container console ===\n{}",
            read_lossy(&self.console)
        );
    }

    /// `systemctl poweroff`, then wait for nspawn; SIGTERM and SIGKILL if it hangs.
    fn poweroff(&mut self) {
        let Some(mut nspawn) = self.nspawn.take() else {
            return;
        };
        if nspawn.try_wait().ok().flatten().is_none() {
            let _ = self.run("systemctl poweroff", None, Duration::from_secs(15));
        }
        for (grace, signal) in [
            (Duration::from_secs(30), libc::SIGTERM),
            (Duration::from_secs(10), libc::SIGKILL),
        ] {
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if nspawn.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("systemd-nspawn still running after {grace:?}: signal {signal}");
            // SAFETY: kill(2) on our own, unreaped child.
            unsafe {
                libc::kill(nspawn.id() as libc::pid_t, signal);
            }
        }
        let _ = nspawn.wait();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.poweroff();
    }
}

/// A child of `parent` whose command name is `comm`.
fn child_named(parent: u32, comm: &str) -> Option<u32> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = &stat[open + 1..close];
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if name == comm && ppid == Some(&parent.to_string()) {
            return Some(pid);
        }
    }
    None
}
