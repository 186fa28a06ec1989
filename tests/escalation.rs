//! The SLA ladder end to end, against the real servers: targets of a few seconds, the daemon
//! stopped and killed between the steps, and every mail counted in the mailbox it must reach.
//! The pure ladder is tested in `src/sla.rs` and `src/desk.rs` with a simulated clock; this shows
//! that the shell (scheduler, store, outbox, SMTP) delivers each step exactly once.

mod common;

use std::time::Duration;

use common::*;

const WAIT: Duration = Duration::from_secs(45);

/// P1 first response in 8 s: warning at 4 s (50 %), breach at 8 s, supervisor at 14 s.
const SLA: &str = r#"
[http]
listen = "127.0.0.1:0"

[sla]
warn_at = 0.5
supervisor_delay = "6s"

[sla.targets.P1]
respond = "8s"
resolve = "1h"
update = "none"
business_hours = false
"#;

async fn subjects(dovecot: &Dovecot, user: &str) -> Vec<String> {
    dovecot
        .fetch_all(user, "INBOX")
        .await
        .into_iter()
        .map(|(_, raw, _)| supportd::mail::parse::parse(&raw).unwrap().subject)
        .collect()
}

async fn wait_for(dovecot: &Dovecot, daemon: &Daemon, user: &str, n: usize) -> Vec<String> {
    let ok = dovecot.wait_count(user, "INBOX", n, WAIT).await;
    let have = subjects(dovecot, user).await;
    assert!(
        ok,
        "{user}: expected {n} mails, have {have:#?}\n{}",
        daemon.log()
    );
    have
}

#[tokio::test]
async fn warning_breach_and_supervisor_arrive_once_each_across_restarts() {
    let dovecot = Dovecot::start();
    let smtp = Smtp::start(&dovecot);
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n{}\n[outbound]\nsecret = \"escalation-secret-0123456789\"\nretry_initial_secs = 1\n{AGENTS}\n{SLA}",
        base_config(dir.path(), &dovecot),
        smtp_config(&smtp)
    );
    let config = write_config_raw(dir.path(), &text);
    let mut daemon = Daemon::start(&config);

    dovecot
        .append(
            "support",
            "INBOX",
            &mail(
                "customer@example.com",
                "support@example.com",
                "Our website is down",
                "<down@example.com>",
                "The whole site is down since 10:00, 502 on every page.",
            ),
        )
        .await;

    // The assignee: the new-ticket notification, then the warning at 4 s.
    let alice = wait_for(&dovecot, &daemon, "agent1", 2).await;
    assert!(alice[0].starts_with("[SUP-1] [P1]"), "{alice:?}");
    assert!(
        alice[1].contains("SLA warning (first response)"),
        "{alice:?}"
    );

    // Stopped before the breach falls due, started after: it fires at start, once.
    daemon.terminate();
    tokio::time::sleep(Duration::from_secs(5)).await;
    daemon = Daemon::start(&config);
    let tier2 = wait_for(&dovecot, &daemon, "tier2", 1).await;
    assert!(
        tier2[0].contains("SLA BREACHED (first response)"),
        "{tier2:?}"
    );
    let alice = wait_for(&dovecot, &daemon, "agent1", 3).await;
    assert!(alice[2].contains("SLA BREACHED"), "{alice:?}");

    // Killed outright while waiting for the supervisor step; it still comes exactly once.
    daemon.kill();
    daemon = Daemon::start(&config);
    let sue = wait_for(&dovecot, &daemon, "supervisor", 1).await;
    assert!(sue[0].contains("supervisor informed"), "{sue:?}");

    // The customer: the acknowledgement, then a notice at each escalation level.
    let customer = wait_for(&dovecot, &daemon, "customer", 3).await;
    assert!(
        customer[0].contains("We received your request"),
        "{customer:?}"
    );
    assert!(
        customer[1..].iter().all(|s| s.contains("escalated")),
        "{customer:?}"
    );

    // Nothing more arrives: every step was sent exactly once.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for (user, n) in [
        ("agent1", 3),
        ("tier2", 1),
        ("supervisor", 1),
        ("customer", 3),
    ] {
        assert_eq!(
            dovecot.count(user, "INBOX").await,
            n,
            "{user}: {:#?}",
            subjects(&dovecot, user).await
        );
    }
    let t = cli_json(&config, &["ticket", "show", "1", "--json"]);
    assert_eq!(t["escalations"].as_array().unwrap().len(), 2, "{t:#}");
    let report = cli_json(&config, &["report", "--json"]);
    let p1 = &report["by_priority"][0];
    assert_eq!(p1["tickets"], 1, "{report:#}");
    assert_eq!(p1["escalated"], 1, "{report:#}");
    assert_eq!(p1["escalations"], 2, "{report:#}");
    assert_eq!(
        p1["first_response"]["met"], 0,
        "a missed target: {report:#}"
    );
    // This last daemon fired the supervisor step (level 2); the breach was its predecessor's.
    let m = metrics(listening_port(&daemon).await);
    let level = |l: &str| sample(&m, "supportd_escalations_total", &[l]);
    assert_eq!(
        (level("level=\"1\""), level("level=\"2\"")),
        (0.0, 1.0),
        "{m}"
    );
    daemon.terminate();
}
