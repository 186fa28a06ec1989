//! Backup and maintenance: export while the daemon runs, wipe, import, compare; compaction.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn snapshot(config: &Path) -> Vec<Value> {
    let list = cli_json(config, &["tickets", "--all", "--json"]);
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

#[tokio::test]
async fn export_wipe_import_round_trips_exactly() {
    let mut desk = Desk::start(DeskOptions::default());
    let config = desk.config.clone();
    for i in 0..5 {
        desk.deliver(&mail(
            "客户 <customer@example.com>",
            "support@example.com",
            &format!("问题 {i}"),
            &format!("<b{i}@example.com>"),
            "网站打不开",
        ))
        .await;
    }
    desk.deliver(b"garbage\x00\xff").await;
    // Everything worked off: five tickets, the garbage in quarantine, five acks sent.
    desk.settle().await;
    assert_eq!(desk.dovecot.count("support", "Processed").await, 5);
    assert_eq!(desk.dovecot.count("support", "Quarantine").await, 1);
    let outbox = settled_outbox(&config).await;
    assert_eq!(outbox.len(), 5, "{outbox:#?}");
    assert!(outbox.iter().all(|i| i["state"] == "sent"), "{outbox:#?}");
    let before = snapshot(&config);

    // Export through the running daemon.
    let out = cli(&config, &["export"]);
    assert!(out.status.success());
    let export = desk.dir().join("backup.jsonl");
    std::fs::write(&export, &out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"tree\":\"raw\""));

    // Wipe and import without a daemon.
    desk.stop();
    std::fs::remove_dir_all(desk.dir().join("store")).unwrap();
    let msg = cli_ok(&config, &["import", export.to_str().unwrap()]);
    assert!(msg.contains("imported"), "{msg}");
    assert_eq!(snapshot(&config), before);
    // Importing twice is refused.
    assert!(
        !cli(&config, &["import", export.to_str().unwrap()])
            .status
            .success()
    );

    // Compaction keeps everything.
    let msg = cli_ok(&config, &["compact"]);
    assert!(msg.contains("compacted"), "{msg}");
    assert_eq!(snapshot(&config), before);

    // Import through a running daemon into a fresh store; it keeps working afterwards.
    std::fs::remove_dir_all(desk.dir().join("store")).unwrap();
    desk.start_daemon();
    let sock = desk.dir().join("store/control.sock");
    let listening = wait_until(WAIT, async || {
        std::os::unix::net::UnixStream::connect(&sock).ok()
    })
    .await;
    assert!(listening.is_some(), "{}", desk.log());
    cli_ok(&config, &["import", export.to_str().unwrap()]);
    assert_eq!(cli_json(&config, &["status", "--json"])["daemon"], true);
    assert_eq!(snapshot(&config), before);
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "after",
        "<after@example.com>",
        "x",
    ))
    .await;
    desk.wait_processed(6).await;
    let list = cli_json(&config, &["tickets", "--all", "--json"]);
    assert_eq!(
        list.as_array().unwrap().len(),
        6,
        "ticket numbers continue after import"
    );
    assert_eq!(list[5]["id"], 6);
}
