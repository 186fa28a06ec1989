//! Hostile input and repeating failures against the real servers: each budget quarantines the
//! mail that breaks it, with a reason naming the budget, and the next ordinary mail still
//! becomes a ticket; a stalled export, a full disk or a mail the server will not move stops
//! nothing; secrets and the store stay private.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// An ingest-only desk (nothing is ever sent) with `support` lines added to `[support]` and
/// `extra` sections.
fn desk(support: &str, extra: &str) -> Desk {
    Desk::start(DeskOptions {
        support,
        extra,
        no_relay: true,
        ..Default::default()
    })
}

fn plain(n: usize) -> Vec<u8> {
    mail(
        &format!("Customer {n} <c{n}@customer.example>"),
        "support@example.com",
        &format!("question {n}"),
        &format!("<q{n}@customer.example>"),
        "Hello, a question about our hosting.",
    )
}

/// A mail with `size` bytes of attachment, base64.
fn with_attachment(id: &str, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size).map(|i| (i * 7 + i / 251) as u8).collect();
    let b64 = base64(&data);
    let mut body = String::new();
    for line in b64.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(line).unwrap());
        body.push_str("\r\n");
    }
    format!(
        "From: Big <big@customer.example>\r\nTo: support@example.com\r\nSubject: logs {id}\r\n\
         Message-ID: <{id}@customer.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nThe logs are attached.\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"logs.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{body}--b--\r\n"
    )
    .into_bytes()
}

/// A mail that is all header: no blank line, one long header field folded over `lines` lines.
fn all_header(id: &str, lines: usize) -> Vec<u8> {
    let mut raw = format!(
        "From: h@customer.example\r\nTo: support@example.com\r\nSubject: header {id}\r\n\
         Message-ID: <{id}@customer.example>\r\nX-Filler: start\r\n"
    );
    for i in 0..lines {
        raw.push_str(&format!(
            " folded filler line {i:08} of a header that never ends\r\n"
        ));
    }
    raw.into_bytes()
}

fn quarantine_reason(desk: &Desk, message_id: &str) -> Value {
    desk.quarantine()
        .into_iter()
        .find(|q| q["message_id"] == message_id)
        .unwrap_or_else(|| panic!("{message_id} not quarantined: {:#?}", desk.quarantine()))
}

#[tokio::test]
async fn a_header_over_its_budget_is_never_downloaded_whole_and_the_next_mail_flows() {
    let desk = desk("max_header_bytes = 65536", "");
    let hostile = all_header("endless", 40_000); // 2.3 MB of header
    assert!(hostile.len() > 2_000_000);
    desk.deliver(&hostile).await;
    desk.deliver(&plain(1)).await;
    desk.wait_quarantined(1).await;
    desk.wait_processed(1).await;
    let q = quarantine_reason(&desk, "endless@customer.example");
    let reason = q["reason"].as_str().unwrap();
    assert!(
        reason.contains("support.max_header_bytes = 65536"),
        "{reason}"
    );
    assert_eq!(q["header_only"], true);
    assert_eq!(q["size"], hostile.len());
    // What the store kept is exactly the header's first 64 KiB.
    let kept = hex::encode(Sha256::digest(&hostile[..65536]));
    assert_eq!(q["raw_sha256"], kept.as_str());
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(tickets[0]["subject"], "question 1");
}

#[tokio::test]
async fn batches_stay_within_the_fetch_budget_and_every_mail_is_handled() {
    // Bodies of about 30 KiB against a 64 KiB FETCH budget: batches of two at most, headers
    // in FETCHes of three; and all-header mails that end batches early.
    let desk = desk("max_header_bytes = 16384\nmax_fetch_bytes = 65536", "");
    let mut raws = Vec::new();
    for n in 0..8 {
        raws.push(with_attachment(&format!("att{n}"), 22_000));
        if n % 3 == 0 {
            raws.push(all_header(&format!("hdr{n}"), 400));
        }
    }
    desk.dovecot.append_many("support", "INBOX", &raws).await;
    desk.wait_processed(8).await;
    desk.wait_quarantined(3).await;
    assert_eq!(desk.tickets().len(), 8);
    for q in desk.quarantine() {
        assert!(
            q["reason"]
                .as_str()
                .unwrap()
                .contains("support.max_header_bytes"),
            "{q}"
        );
    }
    desk.settle().await;
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer for clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[tokio::test]
async fn a_mail_over_the_parse_budget_is_quarantined_unparsed_and_the_next_mail_flows() {
    // The budget is set from this build's own cost of parsing the big mail (the daemon runs the
    // same code, built the same way), a twentieth of it: the big mail is far over it, an
    // ordinary mail thousands of times under, on a fast machine or a slow one.
    let big = with_attachment("heavy", 12 << 20);
    let small = plain(1);
    supportd::mail::parse::parse(&small).unwrap();
    let t = thread_cpu();
    supportd::mail::parse::parse(&big).unwrap();
    let cost = thread_cpu() - t;
    let budget_ms = (cost.as_millis() / 20).max(1);
    let desk = desk(&format!("max_parse_cpu_ms = {budget_ms}"), "");
    desk.deliver(&big).await;
    desk.deliver(&small).await;
    desk.wait_quarantined(1).await;
    desk.wait_processed(1).await;
    let q = quarantine_reason(&desk, "heavy@customer.example");
    let reason = q["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("support.max_parse_cpu_ms = {budget_ms} ms")),
        "{reason} (parse cost {cost:?})"
    );
    // The whole mail is kept, for whoever looks into it.
    assert_eq!(q["header_only"], false);
    assert_eq!(q["raw_sha256"], hex::encode(Sha256::digest(&big)).as_str());
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    assert_eq!(tickets[0]["subject"], "question 1");
}

/// Fuzz finding: a mail of a few hundred thousand short lines (`\t\r\n` repeated) cost 8.7 s
/// of CPU for every mail the desk composed from it (lettre's LF-to-CRLF insertion is quadratic),
/// after the parse and so outside its budget. Now it is a ticket like any other: the customer is
/// acknowledged, the agents get the whole text, and the next mail follows.
#[tokio::test]
async fn a_mail_of_350_000_short_lines_is_a_ticket_and_the_next_mail_follows() {
    let desk = Desk::start(DeskOptions {
        // Sized for the debug build the tests run; the release build parses it in a fraction.
        support: "max_parse_cpu_ms = 120000",
        agents: true,
        ..Default::default()
    });
    let lines = format!("hi\r\n{}bye\r\n", "\t\r\n".repeat(350_000));
    let hostile = mail(
        "Zhang San <customer@example.com>",
        "support@example.com",
        "many lines",
        "<lines@example.com>",
        &lines,
    );
    assert!(hostile.len() > 1_000_000);
    desk.deliver(&hostile).await;
    desk.deliver(&mail(
        "Li Si <customer2@example.com>",
        "support@example.com",
        "question after the lines",
        "<after@example.com>",
        "Hello, a question about our hosting.",
    ))
    .await;
    desk.wait_processed(2).await;
    let subjects: Vec<Value> = desk
        .tickets()
        .into_iter()
        .map(|t| t["subject"].clone())
        .collect();
    assert_eq!(subjects, ["many lines", "question after the lines"]);
    desk.mailbox("customer", 1).await;
    desk.mailbox("customer2", 1).await;
    // Notifications go round the agents: the first ticket's to agent1.
    let first = desk.mailbox("agent1", 1).await.remove(0);
    assert!(first.subject.contains("many lines"), "{}", first.subject);
    assert!(
        first.text.contains("hi") && first.text.contains("bye"),
        "{}",
        &first.text[..first.text.len().min(500)]
    );
    desk.settle().await;
}

#[tokio::test]
async fn a_stalled_export_stops_neither_ingest_nor_the_cli() {
    let desk = desk("", "[control]\nwrite_timeout_secs = 3\n");
    // Enough to fill the pipe and the socket buffers many times over, in several lines (the
    // CLI reads a line at a time).
    for n in 0..4 {
        desk.deliver(&with_attachment(&format!("bulky{n}"), 1 << 20))
            .await;
    }
    desk.wait_processed(4).await;
    let mut export = Command::new(SUPPORTD_BIN)
        .arg("--config")
        .arg(&desk.config)
        .arg("export")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let daemon = desk.daemon();
    assert!(
        daemon
            .wait_for_log("export spooled; sending it", WAIT)
            .await,
        "{}",
        desk.log()
    );
    // Nobody reads the export: a new mail still becomes a ticket, and the CLI answers.
    desk.deliver(&plain(2)).await;
    desk.wait_processed(5).await;
    assert_eq!(desk.tickets().len(), 5);
    let status = cli_json(&desk.config, &["status", "--json"]);
    assert_eq!(status["tickets"], 5, "{status:#}");
    // The stalled reader is dropped after control.write_timeout_secs ...
    assert!(
        daemon
            .wait_for_log("a control client stopped reading its answer", WAIT)
            .await,
        "{}",
        desk.log()
    );
    // ... and the export it got is marked as cut off, not passed off as a backup.
    let mut out = Vec::new();
    export.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let done = export.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "{stderr}");
    assert!(stderr.contains("cut off"), "{stderr}");
    // An export read in time is complete and ends with its end line.
    let full = cli_ok(&desk.config, &["export"]);
    let last = full.lines().last().unwrap();
    assert!(last.starts_with("{\"supportd_export_end\""), "{last}");
}

#[tokio::test]
async fn secrets_never_reach_the_log_even_at_trace_level() {
    let dovecot = Dovecot::start();
    // A password with the characters IMAP and JSON escape.
    let password = r#"Pw"7f3a\q-Zx91"#;
    let passwd = std::fs::read_to_string(dovecot.dir().join("passwd")).unwrap();
    let passwd = passwd.replace(
        &format!("support:{{PLAIN}}{PASSWORD}:"),
        &format!("support:{{PLAIN}}{password}:"),
    );
    std::fs::write(dovecot.dir().join("passwd"), passwd).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imap-password"), password).unwrap();
    let secret = "9f86d081884c7d659a2feaa0c55ad015";
    let text = base_config(dir.path(), &dovecot)
        .replace("password = \"secret\"", "password_file = \"imap-password\"");
    let smtp = "[smtp]\nhost = \"127.0.0.1\"\nport = 9\nsecurity = \"plain\"\n";
    let config = write_config_raw(
        dir.path(),
        &format!("{text}\n{smtp}[outbound]\nsecret = \"{secret}\"\n"),
    );
    let daemon = Daemon::start_with_env(&config, &[("RUST_LOG", "trace")]);
    daemon.wait_ready().await;
    // By LMTP: the test's own IMAP sessions would need the changed password.
    dovecot.lmtp_deliver("support", &plain(1));
    let processed = wait_until(WAIT, async || {
        daemon
            .log()
            .lines()
            // LMTP's `Return-Path: <>` makes it a bounce: quarantined, which is as good here.
            .any(|l| l.contains("mail{uid=1") && l.contains("quarantined"))
            .then_some(())
    })
    .await;
    assert!(processed.is_some(), "{}", daemon.log());
    let log = daemon.log();
    assert!(log.contains("TRACE"), "not a trace log:\n{log}");
    for needle in ["7f3a", "Zx91", "c55ad015"] {
        assert!(
            !log.contains(needle),
            "the log holds a secret ({needle}):\n{log}"
        );
    }
}

#[tokio::test]
async fn the_store_is_private_whatever_the_umask() {
    // SAFETY: umask(2) of this test process (nextest runs each test in its own process); the
    // daemon inherits it.
    unsafe { libc::umask(0o022) };
    let mut desk = desk("", "");
    desk.deliver(&with_attachment("blob", 300_000)).await;
    desk.wait_processed(1).await;
    // A restart (sled writes its snapshot files) and another mail.
    desk.restart();
    desk.deliver(&plain(1)).await;
    desk.wait_processed(2).await;
    let store = desk.dir().join("store");
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store), 0o700);
    let mut files = 0;
    let mut dirs = vec![store];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                assert_eq!(mode(&p), 0o700, "{}", p.display());
                dirs.push(p);
            } else {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                files += 1;
            }
        }
    }
    assert!(files >= 3, "{files} files");
}

#[tokio::test]
async fn a_starting_daemon_waits_for_a_store_a_command_holds() {
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dovecot, "");
    // What a `supportd status` does while the daemon is not up: it opens the store itself.
    let held = supportd::io::store::Store::open(&dir.path().join("store")).unwrap();
    let mut daemon = Daemon::spawn(&config);
    assert!(
        daemon
            .wait_for_log("the store is in use by another process", WAIT)
            .await,
        "{}",
        daemon.log()
    );
    assert!(daemon.is_running());
    drop(held);
    daemon.wait_ready().await;
    dovecot.append("support", "INBOX", &plain(1)).await;
    assert!(dovecot.wait_count("support", "Processed", 1, WAIT).await);
    assert!(daemon.terminate().success());
}

#[test]
fn check_config_warns_about_secret_files_everybody_may_read_and_weak_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imap-password"), "pw").unwrap();
    std::fs::write(
        dir.path().join("secret"),
        "9f86d081884c7d659a2feaa0c55ad015",
    )
    .unwrap();
    for f in ["imap-password", "secret"] {
        std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
    let text = base_config_port(dir.path(), 143)
        .replace("password = \"secret\"", "password_file = \"imap-password\"");
    let smtp = "[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\n";
    let config = write_config_raw(
        dir.path(),
        &format!("{text}\n{smtp}[outbound]\nsecret_file = \"secret\"\n"),
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = cli(&config, &["check-config"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("warning: imap.password_file:") && stderr.contains("mode 0644"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: outbound.secret_file:"),
        "{stderr}"
    );
    assert!(!stderr.contains("(file)"), "{stderr}");
    // 104 bits are not enough.
    std::fs::write(dir.path().join("secret"), "0123456789abcdef0123456789").unwrap();
    let out = cli(&config, &["check-config"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("outbound.secret_file: too weak for a signing key: 26 hex characters"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_mail_the_server_will_not_move_is_flagged_and_later_mail_flows() {
    // Processed lives in a namespace of its own with a 1 MiB quota: Dovecot refuses to MOVE the
    // big mail there (cross-namespace, so quota-checked), again and again; small mails move.
    let quota = "namespace archive {\n  prefix = Archive/\n  separator = /\n  location = sdbox:~/archive\n}\n\
                 mail_plugins = $mail_plugins quota\n\
                 plugin {\n  quota = count:User quota:ns=\n  quota2 = count:Archive quota:ns=Archive/\n  \
                 quota2_rule = *:storage=1M\n  quota_vsizes = yes\n}\n";
    let processed = "Archive/Processed";
    let mut desk = Desk::start(DeskOptions {
        no_relay: true,
        extra: "[http]\nlisten = \"127.0.0.1:0\"\n",
        support: "",
        dovecot: DovecotOptions {
            extra_config: quota.into(),
            ..Default::default()
        },
        ..Default::default()
    });
    let text = std::fs::read_to_string(&desk.config).unwrap().replace(
        "processed_mailbox = \"Processed\"",
        &format!("processed_mailbox = \"{processed}\""),
    );
    std::fs::write(&desk.config, text).unwrap();
    desk.restart();
    desk.deliver(&with_attachment("huge", 1_500_000)).await;
    for n in 1..=3 {
        desk.deliver(&plain(n)).await;
    }
    moved(&desk, processed, 3).await;
    let stuck = wait_until(WAIT, async || {
        let st = cli_json(&desk.config, &["status", "--json"]);
        let stuck = st["ingest"]["stuck"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        (!stuck.is_empty()).then_some(stuck)
    })
    .await
    .unwrap_or_else(|| panic!("no stuck mail in status\n{}", desk.log()));
    assert_eq!(stuck.len(), 1, "{stuck:#?}");
    assert_eq!(stuck[0]["message_id"], "huge@customer.example");
    let reason = stuck[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("MOVE to {processed} failed 3 times"))
            && reason.contains("flagged"),
        "{reason}"
    );
    // Stored once, flagged done, left in the inbox; /healthz names it.
    assert_eq!(desk.tickets().len(), 4);
    let inbox = desk
        .dovecot
        .wait_flag("support", "INBOX", "$SupportdDone")
        .await
        .unwrap_or_else(|| panic!("not flagged\n{}", desk.log()));
    assert_eq!(inbox.len(), 1);
    let port = listening_port(desk.daemon()).await;
    let (_, _, body) = http_get(port, "/healthz").unwrap();
    assert!(body.contains("huge@customer.example"), "{body}");
    // Later mail keeps flowing, also after a restart, and the stuck mail is not taken again.
    desk.restart();
    desk.deliver(&plain(4)).await;
    moved(&desk, processed, 4).await;
    assert_eq!(desk.tickets().len(), 5);
    let st = cli_json(&desk.config, &["status", "--json"]);
    assert_eq!(st["ingest"]["duplicates"], 0, "{st:#}");
}

/// Waits until `mailbox` holds `n` mails.
async fn moved(desk: &Desk, mailbox: &str, n: usize) {
    assert!(
        desk.dovecot.wait_count("support", mailbox, n, WAIT).await,
        "{} in {mailbox}\n{}",
        desk.dovecot.count("support", mailbox).await,
        desk.log()
    );
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .unwrap();
        assert!(ok.success(), "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_owned())
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success(), "remount {}", self.0.display());
    }

    /// Fills the file system up with one file, to the last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        for size in [4096, 512, 1] {
            while f.write_all(&chunk[..size]).is_ok() {}
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_reported_then_cleared_by_a_restart_and_every_mail_is_stored_once() {
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("fs"), "32m");
    let text = base_config(dir.path(), &dovecot).replace(
        &toml_string(&dir.path().join("store").to_string_lossy()),
        &toml_string(&dir.path().join("fs/store").to_string_lossy()),
    );
    let config = write_config_raw(
        dir.path(),
        &format!("{text}\n[http]\nlisten = \"127.0.0.1:0\"\n"),
    );
    let mut daemon = Daemon::start(&config);
    daemon.wait_ready().await;
    let port = listening_port(&daemon).await;
    dovecot.append("support", "INBOX", &plain(0)).await;
    assert!(dovecot.wait_count("support", "Processed", 1, WAIT).await);
    // The disk fills up; mail keeps arriving.
    fs.fill();
    let mut raws = vec![with_attachment("full0", 200_000)];
    raws.extend((1..=4).map(plain));
    raws.push(with_attachment("full1", 200_000));
    dovecot.append_many("support", "INBOX", &raws).await;
    let unhealthy = wait_until(WAIT, async || {
        let (code, _, body) = http_get(port, "/healthz").ok()?;
        (code == 503 && body.contains("store failed")).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("/healthz never named the store\n{}", daemon.log()));
    assert!(unhealthy.contains("No space left on device"), "{unhealthy}");
    // Nothing was lost: every mail still waits in the inbox.
    assert_eq!(dovecot.count("support", "INBOX").await, raws.len());
    assert!(daemon.is_running());
    // Room again: the daemon exits non-zero, for systemd to start it afresh.
    fs.resize("256m");
    let exited = wait_until(WAIT, async || daemon.try_status()).await;
    let status = exited.unwrap_or_else(|| panic!("still running\n{}", daemon.log()));
    assert!(!status.success(), "{status:?}");
    assert!(
        daemon
            .log()
            .contains("exiting so that a fresh start reopens it"),
        "{}",
        daemon.log()
    );
    let daemon = Daemon::start(&config);
    daemon.wait_ready().await;
    assert!(
        dovecot
            .wait_count("support", "Processed", raws.len() + 1, WAIT)
            .await,
        "{}",
        daemon.log()
    );
    let tickets = cli_json(&config, &["tickets", "--all", "--json"]);
    let tickets = tickets.as_array().unwrap();
    assert_eq!(tickets.len(), raws.len() + 1, "{tickets:#?}");
    assert!(tickets.iter().all(|t| t["messages"] == 1), "{tickets:#?}");
    assert_eq!(dovecot.count("support", "INBOX").await, 0);
    drop(daemon);
    drop(fs);
}

/// Fuzz finding (`tests/fuzz-found/digest-shared-parts.eml`): a 42 KB digest whose parts
/// mail-parser links into a cycle cost hours of CPU to walk. Through the real server it is a
/// ticket like any mail, and the next mail follows. Its customer is the sender mail-parser
/// reports, `cc@dd.or` from inside the digest, not the top header's `aperson@dom.ain`: the
/// parser's part table for this mail is broken, and a From is no proof of anything anyway.
#[tokio::test]
async fn the_digest_whose_parts_form_a_cycle_is_handled_and_the_next_mail_follows() {
    let desk = desk("", "");
    let digest = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fuzz-found/digest-shared-parts.eml"
    ))
    .unwrap();
    desk.deliver(&digest).await;
    desk.deliver(&plain(1)).await;
    desk.settle().await;
    let tickets: Vec<(Value, Value)> = desk
        .tickets()
        .into_iter()
        .map(|t| (t["customer"].clone(), t["subject"].clone()))
        .collect();
    assert_eq!(
        tickets,
        [
            ("cc@dd.or".into(), "".into()),
            ("c1@customer.example".into(), "question 1".into())
        ]
    );
    assert!(desk.quarantine().is_empty());
}
