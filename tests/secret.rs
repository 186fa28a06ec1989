//! The signing secret nobody had to invent: without `outbound.secret`/`secret_file`/
//! `$SUPPORTD_SECRET` the daemon generates one on first start and keeps it in the store; it is
//! the same after a restart and after export → import, a configured secret wins, and the
//! commands say which source is in use without ever showing the secret.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;
use supportd::mail::inbound::Inbound;

/// The agent's plain "Reply" to a notification.
fn agent_reply(notification: &Inbound, id: &str, body: &str) -> Vec<u8> {
    mail_with(
        "Alice <agent1@example.com>",
        &notification.reply_to[0].address,
        &format!("Re: {}", notification.subject),
        id,
        &[
            ("In-Reply-To", &format!("<{}>", notification.message_id)),
            ("References", &format!("<{}>", notification.message_id)),
        ],
        body,
    )
}

/// The generated secret as the export carries it (`meta/outbound_secret`), if any.
fn exported_secret(export: &[u8]) -> Option<String> {
    use base64::Engine;
    let key = hex::encode("outbound_secret");
    String::from_utf8_lossy(export)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["tree"] == "meta" && v["key"] == key.as_str())
        .map(|v| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v["b64"].as_str().unwrap())
                .unwrap();
            String::from_utf8(b).unwrap()
        })
}

fn export(config: &Path) -> Vec<u8> {
    let out = cli(config, &["export"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

async fn open_ticket(desk: &Desk) -> Inbound {
    desk.deliver(&mail(
        "张伟 <customer@example.com>",
        "support@example.com",
        "网站打不开",
        "<s1@example.com>",
        "从今天早上开始 www.shop.cn 打不开。",
    ))
    .await;
    desk.mailbox("customer", 1).await;
    desk.mailbox("agent1", 1).await.remove(0)
}

#[tokio::test]
async fn without_a_configured_secret_the_daemon_makes_one_and_keeps_it() {
    let mut desk = Desk::start(DeskOptions {
        agents: true,
        generated_secret: true,
        ..Default::default()
    });
    let config = desk.config.clone();
    let n = open_ticket(&desk).await;
    assert!(
        n.reply_to[0].address.starts_with("support+1."),
        "{:?}",
        n.reply_to
    );
    desk.settle().await;

    let secret = exported_secret(&export(&config)).expect("the export carries the secret");
    assert_eq!(secret.len(), 64, "256 bits, hex");
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");

    // The commands name the source and never show the secret.
    let check = cli_ok(&config, &["check-config"]);
    assert!(
        check.contains("outbound secret: generated on first start"),
        "{check}"
    );
    let status = cli_ok(&config, &["status"]);
    assert!(
        status.contains("secret:      generated on first start"),
        "{status}"
    );
    let json = cli_json(&config, &["status", "--json"]);
    assert_eq!(json["outbound_secret"]["source"], "store", "{json:#}");
    for shown in [&check, &status, &json.to_string(), &desk.log()] {
        assert!(!shown.contains(&secret), "the secret leaked: {shown}");
    }
    assert!(
        desk.log()
            .contains("generated the outbound signing secret (first start)"),
        "{}",
        desk.log()
    );

    // After a restart the same secret: the agent's reply to the notification signed before it
    // proves the agent and is relayed to the customer.
    // A reload re-reads the configuration and takes the store's secret again.
    desk.restart();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe {
        libc::kill(desk.daemon().pid() as libc::pid_t, libc::SIGHUP);
    }
    assert!(
        desk.daemon().wait_for_log("SIGHUP: reloaded", WAIT).await,
        "{}",
        desk.log()
    );
    desk.deliver(&agent_reply(
        &n,
        "<s2@example.com>",
        "您好，请清除浏览器缓存后再试。",
    ))
    .await;
    let mails = desk.mailbox("customer", 2).await;
    assert_eq!(mails[1].text.trim(), "您好，请清除浏览器缓存后再试。");
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "pending");
    assert_eq!(exported_secret(&export(&config)).as_deref(), Some(&*secret));
    assert_eq!(
        desk.log()
            .matches("generated the outbound signing secret")
            .count(),
        1,
        "generated at the first start only:\n{}",
        desk.log()
    );
}

#[tokio::test]
async fn export_and_import_carry_the_generated_secret() {
    let mut desk = Desk::start(DeskOptions {
        agents: true,
        generated_secret: true,
        ..Default::default()
    });
    let config = desk.config.clone();
    let n = open_ticket(&desk).await;
    desk.settle().await;
    let backup = export(&config);
    let secret = exported_secret(&backup).unwrap();
    let file = desk.dir().join("backup.jsonl");
    std::fs::write(&file, &backup).unwrap();

    // A new machine. A hand-made export whose secret is not 256 bits is refused, naming it.
    desk.stop();
    std::fs::rename(desk.dir().join("store"), desk.dir().join("store.old")).unwrap();
    let forged = String::from_utf8(backup.clone())
        .unwrap()
        .replace(&base64(secret.as_bytes()), &base64(b"0123456789abcdef"));
    assert_ne!(forged.as_bytes(), &backup[..]);
    let forged_file = desk.dir().join("forged.jsonl");
    std::fs::write(&forged_file, forged).unwrap();
    let out = cli(&config, &["import", forged_file.to_str().unwrap()]);
    assert!(!out.status.success(), "a forged secret was imported");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("outbound_secret"), "{err}");
    std::fs::remove_dir_all(desk.dir().join("store")).unwrap();

    // Its daemon makes its own secret at its first start.
    desk.start_daemon();
    desk.daemon().wait_ready().await;
    let own = exported_secret(&export(&config)).unwrap();
    assert_ne!(own, secret, "each store makes its own");

    // The real backup, through the running daemon: from now on it signs and verifies with the
    // secret of the store it came from, so the agent's reply to the old notification works.
    cli_ok(&config, &["import", file.to_str().unwrap()]);
    assert_eq!(exported_secret(&export(&config)).as_deref(), Some(&*secret));
    desk.deliver(&agent_reply(&n, "<s3@example.com>", "已经修好了。"))
        .await;
    let mails = desk.mailbox("customer", 2).await;
    assert_eq!(mails[1].text.trim(), "已经修好了。");
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "pending");
}

#[tokio::test]
async fn a_configured_secret_wins_and_nothing_is_generated() {
    let desk = Desk::start(DeskOptions::default());
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "hello",
        "<s4@example.com>",
        "hi",
    ))
    .await;
    desk.mailbox("customer", 1).await;
    desk.settle().await;
    assert_eq!(exported_secret(&export(&desk.config)), None);
    let json = cli_json(&desk.config, &["status", "--json"]);
    assert_eq!(json["outbound_secret"]["source"], "inline", "{json:#}");
    let check = cli_ok(&desk.config, &["check-config"]);
    assert!(
        check.contains("outbound secret: outbound.secret (in the configuration file)"),
        "{check}"
    );
    assert!(!check.contains("test-secret"), "{check}");
}

/// `check-config` for each way of configuring a secret, with no server or store: it names the
/// source and never prints the secret.
#[test]
fn check_config_names_the_source_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_config_port(dir.path(), 1143);
    let smtp = "[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\n";
    let secret = "file-secret-0123456789abcdef-SHOULD-NOT-SHOW";
    std::fs::write(dir.path().join("outbound-secret"), format!("{secret}\n")).unwrap();
    let cases = [
        ("", "generated on first start, kept in the store"),
        (
            "[outbound]\nsecret_file = \"outbound-secret\"\n",
            "outbound.secret_file outbound-secret",
        ),
    ];
    for (outbound, want) in cases {
        let path = write_config_raw(dir.path(), &format!("{base}\n{smtp}{outbound}"));
        let out = cli(&path, &["check-config"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains(want), "{stdout}");
        assert!(!stdout.contains(secret), "{stdout}");
    }
    // From the environment.
    let path = write_config_raw(dir.path(), &format!("{base}\n{smtp}"));
    let out = std::process::Command::new(SUPPORTD_BIN)
        .arg("--config")
        .arg(&path)
        .arg("check-config")
        .env("SUPPORTD_SECRET", secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("outbound secret: $SUPPORTD_SECRET"),
        "{stdout}"
    );
    assert!(!stdout.contains(secret), "{stdout}");
    // Without [smtp] nothing is signed and nothing is needed.
    let path = write_config_raw(dir.path(), &base);
    assert!(cli_ok(&path, &["check-config"]).contains("outbound mail: off"));
}
