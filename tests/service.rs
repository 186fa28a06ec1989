//! Running under a service manager, against a real Dovecot: the sd_notify protocol as systemd
//! would see it (a datagram socket named by `$NOTIFY_SOCKET`), the `/healthz` and `/metrics`
//! endpoints moving with real mail, and a SIGTERM in the middle of ingest losing nothing.

mod common;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// `$WATCHDOG_USEC` of the tests: pings every 2 s, so a ping may come up to 2 s late on a loaded
/// machine before the gap reaches the timeout.
const WATCHDOG_USEC: &str = "4000000";
const WATCHDOG: Duration = Duration::from_secs(4);

/// Every datagram received on a test `NOTIFY_SOCKET`, with its arrival time.
#[derive(Clone, Default)]
struct Notifications(Arc<Mutex<Vec<(Instant, String)>>>);

impl Notifications {
    /// Binds `<dir>/notify.sock` and collects datagrams from a thread until the test ends.
    fn listen(dir: &Path) -> (Notifications, PathBuf) {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let n = Notifications::default();
        let weak = Arc::downgrade(&n.0);
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let Some(store) = weak.upgrade() else { return };
                match sock.recv(&mut buf) {
                    Ok(len) => store.lock().unwrap().push((
                        Instant::now(),
                        String::from_utf8_lossy(&buf[..len]).into_owned(),
                    )),
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => panic!("notify socket: {e}"),
                }
            }
        });
        (n, path)
    }

    /// Every `KEY=value` line received, in order, with the datagram's arrival time.
    fn lines(&self) -> Vec<(Instant, String)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(t, msg)| msg.lines().map(|l| (*t, l.to_owned())).collect::<Vec<_>>())
            .collect()
    }

    fn position(&self, line: &str) -> Option<usize> {
        self.lines().iter().position(|(_, l)| l == line)
    }

    fn wait_for(&self, line: &str, timeout: Duration) -> bool {
        self.wait_until(timeout, |lines| lines.iter().any(|(_, l)| l == line))
    }

    /// Polls the lines received so far until `done` says so; false on timeout. (The datagrams
    /// are read by another thread, so what the daemon sent may not be here yet.)
    fn wait_until(&self, timeout: Duration, done: impl Fn(&[(Instant, String)]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.lines()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn dump(&self) -> String {
        self.lines()
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Polls `/healthz` until it answers `want`; returns the last JSON body.
async fn wait_health(port: u16, want: u16, daemon: &Daemon) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut last = String::new();
    loop {
        if let Ok((code, _, body)) = http_get(port, "/healthz") {
            if code == want {
                return serde_json::from_str(&body).unwrap();
            }
            last = format!("{code}: {body}");
        }
        if Instant::now() > deadline {
            panic!(
                "/healthz never answered {want}; last: {last}\n--- daemon log ---\n{}",
                daemon.log()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sd_notify_ready_after_login_then_watchdog_then_stopping() {
    let mut dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dovecot, "");
    let (notes, sock) = Notifications::listen(dir.path());

    // IMAP is down at start: the store opens, but READY=1 must wait for the login.
    dovecot.stop();
    let mut daemon = Daemon::start_with_env(
        &config,
        &[
            ("NOTIFY_SOCKET", sock.to_str().unwrap()),
            ("WATCHDOG_USEC", WATCHDOG_USEC),
        ],
    );
    // The daemon has tried to log in and failed (and said so) ...
    let waiting = notes.wait_until(WAIT, |lines| {
        lines
            .iter()
            .any(|(_, l)| l.starts_with("STATUS=waiting for IMAP login"))
    });
    assert!(
        waiting,
        "no STATUS while waiting for IMAP:\n{}\n{}",
        notes.dump(),
        daemon.log()
    );
    // ... and is not ready.
    assert_eq!(
        notes.position("READY=1"),
        None,
        "READY=1 before IMAP was reachable:\n{}",
        notes.dump()
    );
    assert!(
        !notes.lines().iter().any(|(_, l)| l == "WATCHDOG=1"),
        "watchdog pinged before READY:\n{}",
        notes.dump()
    );

    dovecot.restart();
    assert!(
        notes.wait_for("READY=1", Duration::from_secs(30)),
        "no READY=1 after IMAP came back:\n{}\n--- daemon log ---\n{}",
        notes.dump(),
        daemon.log()
    );
    // READY=1 came after the login: the daemon had logged it by the time READY arrived.
    let ready_at = notes.lines()[notes.position("READY=1").unwrap()].0;
    assert!(daemon.log().contains("IMAP logged in"), "{}", daemon.log());
    // The READY datagram carries a STATUS line too.
    assert!(
        notes
            .lines()
            .iter()
            .any(|(t, l)| *t == ready_at && l.starts_with("STATUS=IMAP")),
        "{}",
        notes.dump()
    );

    // Pings at half the timeout, from READY on.
    let pinged = notes.wait_until(WAIT, |lines| {
        lines.iter().filter(|(_, l)| l == "WATCHDOG=1").count() >= 3
    });
    assert!(pinged, "too few WATCHDOG=1:\n{}", notes.dump());
    let pings: Vec<Instant> = notes
        .lines()
        .iter()
        .filter(|(_, l)| l == "WATCHDOG=1")
        .map(|(t, _)| *t)
        .collect();
    assert!(pings.len() >= 3, "too few WATCHDOG=1:\n{}", notes.dump());
    let mut prev = ready_at;
    for t in &pings {
        assert!(
            t.duration_since(prev) < WATCHDOG,
            "watchdog gap {:?} reached the {WATCHDOG:?} timeout:\n{}",
            t.duration_since(prev),
            notes.dump()
        );
        prev = *t;
    }

    let status = daemon.terminate();
    assert!(status.success(), "exit {status:?}\n{}", daemon.log());
    assert!(
        notes.wait_for("STOPPING=1", WAIT),
        "no STOPPING=1:\n{}",
        notes.dump()
    );
    let lines = notes.lines();
    let ready = notes.position("READY=1").unwrap();
    let first_ping = lines.iter().position(|(_, l)| l == "WATCHDOG=1").unwrap();
    let stopping = notes.position("STOPPING=1").unwrap();
    let last_ping = lines.iter().rposition(|(_, l)| l == "WATCHDOG=1").unwrap();
    assert!(
        ready < first_ping && last_ping < stopping,
        "order READY < WATCHDOG… < STOPPING broken:\n{}",
        notes.dump()
    );
    assert_eq!(
        lines.iter().filter(|(_, l)| l == "READY=1").count(),
        1,
        "{}",
        notes.dump()
    );
}

#[tokio::test]
async fn no_notify_socket_means_no_notifications_and_a_normal_run() {
    // The wrapper is a no-op without NOTIFY_SOCKET: the daemon runs and stops as before.
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dovecot, "");
    let mut daemon = Daemon::start_with_env(&config, &[("WATCHDOG_USEC", WATCHDOG_USEC)]);
    assert!(
        daemon.wait_for_log("IMAP logged in", WAIT).await,
        "{}",
        daemon.log()
    );
    dovecot
        .append(
            "support",
            "INBOX",
            &mail(
                "a@customer.example",
                "support@example.com",
                "hi",
                "<n1@x>",
                "x",
            ),
        )
        .await;
    assert!(dovecot.wait_count("support", "Processed", 1, WAIT).await);
    let status = daemon.terminate();
    assert!(status.success(), "exit {status:?}\n{}", daemon.log());
}

#[tokio::test]
async fn healthz_and_metrics_move_with_real_mail() {
    let mut dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    // Port 0 and read the real one from the log: a port picked here and released could be taken
    // by another test's server before the daemon binds it.
    let config = write_config(dir.path(), &dovecot, "[http]\nlisten = \"127.0.0.1:0\"\n");
    let mut daemon = Daemon::start(&config);
    let port = listening_port(&daemon).await;

    // /healthz is ok from the login on; the first pass over the inbox, which sets the sync
    // time, ends a moment later.
    let h = common::wait_until(WAIT, async || {
        let h = wait_health(port, 200, &daemon).await;
        h["last_sync_age_seconds"].is_number().then_some(h)
    })
    .await
    .unwrap_or_else(|| panic!("/healthz never showed a sync\n{}", daemon.log()));
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["reasons"], serde_json::json!([]), "{h}");
    assert_eq!(h["imap"]["connected"], true, "{h}");
    assert_eq!(h["outbox"]["depth"], 0, "{h}");
    assert_eq!(
        h["outbox"]["oldest_pending_age_seconds"],
        Value::Null,
        "{h}"
    );
    assert_eq!(h["store"]["writable"], true, "{h}");
    assert!(h["last_sync_age_seconds"].as_f64().unwrap() < 30.0, "{h}");

    let before = metrics(port);
    assert_eq!(sample(&before, "supportd_mails_stored_total", &[]), 0.0);
    assert_eq!(sample(&before, "supportd_tickets", &[]), 0.0);
    assert_eq!(sample(&before, "supportd_imap_connected", &[]), 1.0);
    assert_eq!(sample(&before, "supportd_outbox_depth", &[]), 0.0);
    assert_eq!(
        sample(&before, "supportd_escalations_total", &["level=\"1\""]),
        0.0
    );
    assert!(before.contains("# TYPE supportd_ingest_latency_seconds histogram"));
    sample(
        &before,
        "supportd_ingest_latency_seconds_bucket",
        &["le=\"+Inf\""],
    );

    dovecot
        .append_many(
            "support",
            "INBOX",
            &[
                mail(
                    "Zhang San <zhang@customer.example>",
                    "support@example.com",
                    "网站打不开",
                    "<m1@customer.example>",
                    "你好",
                ),
                mail(
                    "li@other.example",
                    "support@example.com",
                    "Invoice question",
                    "<m2@other.example>",
                    "hello",
                ),
            ],
        )
        .await;
    assert!(
        dovecot.wait_count("support", "Processed", 2, WAIT).await,
        "{}",
        daemon.log()
    );
    let after = metrics(port);
    assert_eq!(sample(&after, "supportd_mails_stored_total", &[]), 2.0);
    assert_eq!(sample(&after, "supportd_mails_duplicate_total", &[]), 0.0);
    assert_eq!(sample(&after, "supportd_tickets", &[]), 2.0, "{after}");
    assert_eq!(
        sample(&after, "supportd_tickets", &["status=\"new\""]),
        2.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "supportd_tickets", &["status=\"closed\""]),
        0.0
    );
    // Ingest observes the latency histogram once per mail made durable; until it does (the
    // hook is one line in ingest), the histogram stays empty. Never more than once per mail.
    let observed = sample(&after, "supportd_ingest_latency_seconds_count", &[]);
    assert!(observed == 0.0 || observed == 2.0, "{after}");
    assert_eq!(
        sample(
            &after,
            "supportd_ingest_latency_seconds_bucket",
            &["le=\"+Inf\""]
        ),
        observed
    );
    assert!(sample(&after, "supportd_last_sync_timestamp_seconds", &[]) > 0.0);
    assert!(sample(&after, "supportd_store_size_bytes", &[]) > 0.0);

    let (code, _, _) = http_get(port, "/nope").unwrap();
    assert_eq!(code, 404);

    // IMAP goes away: 503 with the reason.
    dovecot.stop();
    let h = wait_health(port, 503, &daemon).await;
    assert_eq!(h["status"], "unhealthy", "{h}");
    assert_eq!(h["imap"]["connected"], false, "{h}");
    let reasons = h["reasons"].to_string();
    assert!(reasons.contains("IMAP not connected"), "{h}");
    let m = metrics(port);
    assert_eq!(sample(&m, "supportd_imap_connected", &[]), 0.0);
    assert!(sample(&m, "supportd_imap_reconnects_total", &[]) >= 1.0);

    // And back.
    dovecot.restart();
    wait_health(port, 200, &daemon).await;
    let status = daemon.terminate();
    assert!(status.success(), "exit {status:?}\n{}", daemon.log());
    // The port is released on shutdown.
    assert!(http_get(port, "/healthz").is_err());
}

fn message_id_of(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .map(|v| v.trim().trim_matches(['<', '>']).to_owned())
        .unwrap_or_else(|| panic!("no Message-ID in {text}"))
}

async fn ids_in(dovecot: &Dovecot, mailbox: &str) -> Vec<String> {
    dovecot
        .fetch_all("support", mailbox)
        .await
        .iter()
        .map(|(_, raw, _)| message_id_of(raw))
        .collect()
}

/// Every Message-ID stored in tickets, with repetitions (read through the CLI's export).
fn stored_ids(config: &Path) -> Vec<String> {
    let out = cli(config, &["export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["tree"] == "messages")
        .map(|v| v["json"]["message_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn sigterm_during_ingest_loses_nothing() {
    // More than three batches, so the SIGTERM lands while the inbox is still being worked on.
    const N: usize = 200;
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dovecot, "");
    let (notes, sock) = Notifications::listen(dir.path());
    let env = [("NOTIFY_SOCKET", sock.to_str().unwrap())];
    let mut daemon = Daemon::start_with_env(&config, &env);
    assert!(notes.wait_for("READY=1", WAIT), "{}", daemon.log());

    // Bodies of ~40 KB make each download and commit take a little while, so the SIGTERM below
    // lands while the batch is being worked on.
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(700);
    let expected: BTreeSet<String> = (0..N)
        .map(|i| format!("bulk{i}@customer.example"))
        .collect();
    let mails: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            mail(
                &format!("c{i}@customer.example"),
                "support@example.com",
                &format!("Problem number {i}"),
                &format!("<bulk{i}@customer.example>"),
                &format!("mail {i}\n{filler}"),
            )
        })
        .collect();
    dovecot.append_many("support", "INBOX", &mails).await;
    // Terminate at the first stored mail.
    let t = Instant::now();
    while !daemon.log().contains("stored") && t.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(2));
    }
    let status = daemon.terminate();
    assert!(status.success(), "exit {status:?}\n{}", daemon.log());
    assert!(notes.wait_for("STOPPING=1", WAIT), "{}", notes.dump());

    // Stopped: every mail is in exactly one of INBOX and Processed, and whatever was moved is
    // in the store.
    let inbox = ids_in(&dovecot, "INBOX").await;
    let processed = ids_in(&dovecot, "Processed").await;
    eprintln!(
        "after SIGTERM: {} processed, {} still in INBOX",
        processed.len(),
        inbox.len()
    );
    let mut all: Vec<String> = inbox.iter().chain(&processed).cloned().collect();
    all.sort();
    assert_eq!(
        all,
        expected.iter().cloned().collect::<Vec<_>>(),
        "a mail was lost or doubled on the server"
    );
    let stored = stored_ids(&config);
    let stored_set: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(stored.len(), stored_set.len(), "a mail was stored twice");
    for id in &processed {
        assert!(
            stored_set.contains(id),
            "{id} was moved to Processed but is not in the store"
        );
    }

    // Restart: the rest is ingested, nothing twice.
    let mut daemon = Daemon::start_with_env(&config, &env);
    assert!(
        dovecot.wait_count("support", "Processed", N, WAIT).await,
        "{}",
        daemon.log()
    );
    assert_eq!(dovecot.count("support", "INBOX").await, 0);
    let status = daemon.terminate();
    assert!(status.success(), "exit {status:?}\n{}", daemon.log());
    let mut stored = stored_ids(&config);
    stored.sort();
    assert_eq!(
        stored,
        expected.iter().cloned().collect::<Vec<_>>(),
        "the store does not hold each of the {N} mails exactly once"
    );
}
