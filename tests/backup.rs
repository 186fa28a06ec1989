//! Backup and maintenance: export while the daemon runs, wipe, import, compare; compaction.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn snapshot(config: &Path) -> Vec<Value> {
    let list = cli_json(config, &["tickets", "--json"]);
    let mut all = vec![
        list.clone(),
        cli_json(config, &["outbox", "list", "--json"]),
    ];
    all.push(cli_json(config, &["quarantine", "list", "--json"]));
    for t in list.as_array().unwrap() {
        let id = t["id"].as_u64().unwrap().to_string();
        all.push(cli_json(config, &["ticket", "show", &id, "--json"]));
    }
    all
}

fn run(config: &Path, args: &[&str]) -> String {
    let out = cli(config, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn export_wipe_import_round_trips_exactly() {
    let dovecot = Dovecot::start();
    let smtp = Smtp::start(&dovecot);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}\n[outbound]\nsecret = \"backup-secret-0123456789\"\n",
        smtp_config(&smtp)
    );
    let config = write_config(dir.path(), &dovecot, &extra);
    let mut daemon = Daemon::start(&config);
    for i in 0..5 {
        dovecot
            .append(
                "support",
                "INBOX",
                &mail(
                    "客户 <customer@example.com>",
                    "support@example.com",
                    &format!("问题 {i}"),
                    &format!("<b{i}@example.com>"),
                    "网站打不开",
                ),
            )
            .await;
    }
    dovecot.append("support", "INBOX", b"garbage\x00\xff").await;
    // Everything worked off: five tickets, the garbage in quarantine, five acks sent.
    assert!(
        dovecot.wait_count("support", "INBOX", 0, WAIT).await,
        "{}",
        daemon.log()
    );
    assert_eq!(dovecot.count("support", "Processed").await, 5);
    assert_eq!(dovecot.count("support", "Quarantine").await, 1);
    let outbox = settled_outbox(&config).await;
    assert_eq!(outbox.len(), 5, "{outbox:#?}");
    assert!(outbox.iter().all(|i| i["state"] == "sent"), "{outbox:#?}");
    let before = snapshot(&config);

    // Export through the running daemon.
    let out = cli(&config, &["export"]);
    assert!(out.status.success());
    let export = dir.path().join("backup.jsonl");
    std::fs::write(&export, &out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"tree\":\"raw\""));

    // Wipe and import without a daemon.
    daemon.terminate();
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    let msg = run(&config, &["import", export.to_str().unwrap()]);
    assert!(msg.contains("imported"), "{msg}");
    assert_eq!(snapshot(&config), before);
    // Importing twice is refused.
    assert!(
        !cli(&config, &["import", export.to_str().unwrap()])
            .status
            .success()
    );

    // Compaction keeps everything.
    let msg = run(&config, &["compact"]);
    assert!(msg.contains("compacted"), "{msg}");
    assert_eq!(snapshot(&config), before);

    // Import through a running daemon into a fresh store; it keeps working afterwards.
    std::fs::remove_dir_all(dir.path().join("store")).unwrap();
    let daemon = Daemon::start(&config);
    let sock = dir.path().join("store/control.sock");
    let listening = wait_until(WAIT, async || {
        std::os::unix::net::UnixStream::connect(&sock).ok()
    })
    .await;
    assert!(listening.is_some(), "{}", daemon.log());
    run(&config, &["import", export.to_str().unwrap()]);
    assert_eq!(cli_json(&config, &["status", "--json"])["daemon"], true);
    assert_eq!(snapshot(&config), before);
    dovecot
        .append(
            "support",
            "INBOX",
            &mail(
                "customer@example.com",
                "support@example.com",
                "after",
                "<after@example.com>",
                "x",
            ),
        )
        .await;
    assert!(
        dovecot.wait_count("support", "Processed", 6, WAIT).await,
        "{}",
        daemon.log()
    );
    let list = cli_json(&config, &["tickets", "--json"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        6,
        "ticket numbers continue after import"
    );
    assert_eq!(list[5]["id"], 6);
}
