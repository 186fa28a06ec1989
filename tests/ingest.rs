//! End-to-end ingest against a real Dovecot: mail appended over IMAP, the real `supportd` binary
//! running as a daemon, results read back through the real CLI.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The desk of these tests: ingest only (no relay, nothing is ever sent), `extra` appended to the
/// configuration.
fn start_desk(extra: &str) -> Desk {
    start_desk_on(DovecotOptions::default(), extra)
}

/// [`start_desk`] on a Dovecot started with `dovecot`.
fn start_desk_on(dovecot: DovecotOptions, extra: &str) -> Desk {
    Desk::start(DeskOptions {
        extra,
        no_relay: true,
        dovecot,
        ..Default::default()
    })
}

fn fixture(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mail")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn message_ids(t: &Value) -> Vec<String> {
    t["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn new_ticket_then_replies_thread_by_header_and_by_tag() {
    let desk = start_desk("");
    desk.deliver(&mail(
        "Zhang San <zhang@customer.example>",
        "support@example.com",
        "网站打不开",
        "<first@customer.example>",
        "你好，我们的网站从今天早上开始打不开。\n客户ID：C1001",
    ))
    .await;
    desk.wait_processed(1).await;
    let list = desk.tickets();
    assert_eq!(list.len(), 1, "{list:?}");
    let t = &list[0];
    for key in [
        "id",
        "status",
        "priority",
        "customer",
        "subject",
        "messages",
        "created_at",
        "updated_at",
    ] {
        assert!(t.get(key).is_some(), "tickets --json lacks {key}: {t}");
    }
    assert_eq!(t["id"], 1);
    assert_eq!(t["status"], "new");
    assert_eq!(t["subject"], "网站打不开");
    assert_eq!(t["customer"], "C1001");
    assert_eq!(t["messages"], 1);

    // (a) In-Reply-To, with a subject that would not match anything.
    desk.deliver(&mail_with(
        "zhang@customer.example",
        "support@example.com",
        "something else entirely",
        "<second@customer.example>",
        &[("In-Reply-To", "<first@customer.example>")],
        "补充：错误是 502。",
    ))
    .await;
    // (b) The subject tag from a participant (no threading headers).
    desk.deliver(&mail(
        "zhang@customer.example",
        "support@example.com",
        "Re: [SUP-1] 网站打不开",
        "<third@customer.example>",
        "还是不行",
    ))
    .await;
    // A stranger quoting the same tag must not get into the ticket.
    desk.deliver(&mail(
        "evil@attacker.example",
        "support@example.com",
        "[SUP-1] please send me the logs",
        "<evil@attacker.example>",
        "hi",
    ))
    .await;
    desk.wait_processed(4).await;
    let t1 = desk.ticket(1);
    assert_eq!(
        message_ids(&t1),
        [
            "first@customer.example",
            "second@customer.example",
            "third@customer.example"
        ]
    );
    let threaded: Vec<&str> = t1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["threaded_by"].as_str().unwrap())
        .collect();
    assert_eq!(threaded, ["new", "reference", "tag"]);
    let t2 = desk.ticket(2);
    assert_eq!(message_ids(&t2), ["evil@attacker.example"]);
    assert_eq!(t2["related"], 1);
    assert_eq!(desk.dovecot.count("support", "INBOX").await, 0);
}

#[tokio::test]
async fn foxmail_reply_without_headers_threads_by_subject_and_customer() {
    let desk = start_desk("");
    desk.deliver(&mail(
        "li@shop.example",
        "support@example.com",
        "后台无法登录",
        "<orig@shop.example>",
        "后台登录提示密码错误。",
    ))
    .await;
    desk.wait_processed(1).await;
    // Foxmail drops References on "回复：" (full-width colon) replies.
    desk.deliver(&mail(
        "li@shop.example",
        "support@example.com",
        "回复：答复: 后台无法登录",
        "<reply@shop.example>",
        "补充截图\n\n------------------ 原始邮件 ------------------\n发件人: support\n",
    ))
    .await;
    // Same subject from a different customer is a different ticket.
    desk.deliver(&mail(
        "other@else.example",
        "support@example.com",
        "回复：后台无法登录",
        "<other@else.example>",
        "我们也是",
    ))
    .await;
    desk.wait_processed(3).await;
    let t = desk.ticket(1);
    assert_eq!(message_ids(&t), ["orig@shop.example", "reply@shop.example"]);
    assert_eq!(t["messages"][1]["threaded_by"], "subject");
    assert_eq!(t["messages"][1]["reply_text"], "补充截图");
    assert_eq!(desk.tickets().len(), 2);
}

#[tokio::test]
async fn charsets_html_and_attachments_are_decoded() {
    let desk = start_desk("");
    let names = [
        "gb2312.eml",
        "gbk.eml",
        "big5.eml",
        "iso2022jp.eml",
        "html-only.eml",
        "attachment-gb18030-name.eml",
    ];
    for n in names {
        desk.deliver(&fixture(n)).await;
    }
    desk.wait_processed(names.len()).await;
    let mut all = String::new();
    for t in desk.tickets() {
        let d = desk.ticket(t["id"].as_u64().unwrap());
        all.push_str(&serde_json::to_string(&d).unwrap());
    }
    // Every fixture's subject and a characteristic body text, decoded.
    for (n, expect) in [
        ("gb2312", "网站"),
        ("gbk", "镕"),
        ("big5", "網站"),
        ("iso2022jp", "ウェブサイト"),
    ] {
        assert!(all.contains(expect), "{n}: `{expect}` not found in {all}");
    }
    assert!(
        all.contains("发票.pdf"),
        "attachment name not decoded: {all}"
    );
    assert!(
        all.contains("\"content_type\":\"application/pdf\""),
        "{all}"
    );
    assert!(!all.contains("<p>"), "HTML tags left in text: {all}");
}

#[tokio::test]
async fn the_same_mail_twice_is_one_message() {
    let desk = start_desk("");
    let m = mail(
        "a@customer.example",
        "support@example.com",
        "help",
        "<dup@customer.example>",
        "body",
    );
    desk.deliver(&m).await;
    desk.deliver(&m).await;
    // Without a Message-ID the raw bytes decide.
    let no_id = fixture("no-message-id.eml");
    desk.deliver(&no_id).await;
    desk.deliver(&no_id).await;
    desk.wait_processed(4).await;
    let list = desk.tickets();
    let total: u64 = list.iter().map(|t| t["messages"].as_u64().unwrap()).sum();
    assert_eq!(total, 2, "{list:?}");
    // Again after a restart, with the store reopened.
    let mut desk = desk;
    desk.restart();
    desk.deliver(&m).await;
    desk.wait_processed(5).await;
    let total: u64 = desk
        .tickets()
        .iter()
        .map(|t| t["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2);
}

#[tokio::test]
async fn uidvalidity_change_makes_no_duplicates() {
    let mut desk = start_desk("");
    // Use a non-INBOX mailbox so it can be deleted and re-created (new UIDVALIDITY).
    desk.stop();
    let text = std::fs::read_to_string(&desk.config)
        .unwrap()
        .replace("mailbox = \"INBOX\"", "mailbox = \"Support\"");
    std::fs::write(&desk.config, text).unwrap();
    let a = mail(
        "a@c.example",
        "support@example.com",
        "one",
        "<a@c.example>",
        "1",
    );
    let b = mail(
        "b@c.example",
        "support@example.com",
        "two",
        "<b@c.example>",
        "2",
    );
    desk.dovecot.append("support", "Support", &a).await;
    let v1 = desk.dovecot.uidvalidity("support", "Support").await;
    desk.start_daemon();
    desk.wait_processed(1).await;
    desk.stop();
    desk.dovecot.delete("support", "Support").await;
    desk.dovecot.create("support", "Support").await;
    desk.dovecot.append("support", "Support", &a).await;
    desk.dovecot.append("support", "Support", &b).await;
    assert_ne!(desk.dovecot.uidvalidity("support", "Support").await, v1);
    desk.start_daemon();
    desk.wait_processed(3).await;
    let list = desk.tickets();
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|t| t["messages"] == 1), "{list:?}");
    assert!(desk.log().contains("UIDVALIDITY changed"), "{}", desk.log());
}

#[tokio::test]
async fn garbage_and_oversized_mail_is_quarantined_and_the_next_mail_still_flows() {
    let desk = start_desk("");
    let mut cfg = std::fs::read_to_string(&desk.config).unwrap();
    cfg = cfg.replace(
        "tag_prefix = \"SUP\"",
        "tag_prefix = \"SUP\"\nmax_message_bytes = 4096",
    );
    std::fs::write(&desk.config, cfg).unwrap();
    let mut desk = desk;
    desk.restart();
    desk.deliver(b"\x00\x01\x02 this is \xff\xfe not a mail at all\r\n")
        .await;
    let big_body = "x".repeat(10_000);
    desk.deliver(&mail(
        "big@c.example",
        "support@example.com",
        "huge",
        "<big@c.example>",
        &big_body,
    ))
    .await;
    desk.deliver(&mail(
        "ok@c.example",
        "support@example.com",
        "fine",
        "<ok@c.example>",
        "ok",
    ))
    .await;
    desk.wait_processed(1).await;
    desk.wait_quarantined(2).await;
    assert_eq!(desk.tickets().len(), 1);
    let q = cli_json(&desk.config, &["quarantine", "list", "--json"]);
    let q = q.as_array().unwrap();
    assert_eq!(q.len(), 2, "{q:?}");
    let reasons: Vec<&str> = q.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("too large")),
        "{reasons:?}"
    );
    let big = q
        .iter()
        .find(|r| r["reason"].as_str().unwrap().contains("too large"))
        .unwrap();
    assert_eq!(big["header_only"], true);
    assert_eq!(big["message_id"], "big@c.example");
    // The human-readable listing works too.
    let out = cli(&desk.config, &["quarantine", "list"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("too large"));
}

#[tokio::test]
async fn whole_corpus_ingests_without_panic() {
    let desk = start_desk("");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = Vec::new();
    for sub in ["rt", "cpython"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            files.push(e.unwrap().path());
        }
    }
    files.sort();
    for f in &files {
        desk.deliver(&std::fs::read(f).unwrap()).await;
    }
    let n = files.len();
    let done = wait_until(WAIT, async || {
        let p = desk.dovecot.count("support", "Processed").await;
        let q = desk.dovecot.count("support", "Quarantine").await;
        (p + q == n).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "{} processed + {} quarantined of {n}\n{}",
        desk.dovecot.count("support", "Processed").await,
        desk.dovecot.count("support", "Quarantine").await,
        desk.log()
    );
    assert_eq!(desk.dovecot.count("support", "INBOX").await, 0);
    assert!(!desk.log().contains("panicked"), "{}", desk.log());
    // RT's GB18030 ticket is decoded.
    let all = serde_json::to_string(&desk.tickets()).unwrap();
    assert!(
        all.contains('中') || all.contains("测试") || all.contains('新'),
        "{all}"
    );
}

#[tokio::test]
async fn tls_with_private_ca() {
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let ca = toml_string(&dovecot.ca_pem_path().to_string_lossy());
    // Implicit TLS on the IMAPS port, then STARTTLS on the plain one; the certificate is for
    // `localhost` and signed by the test CA.
    let ways = [(dovecot.imaps_port, "tls"), (dovecot.imap_port, "starttls")];
    for (n, (port, security)) in ways.into_iter().enumerate() {
        let text = base_config(dir.path(), &dovecot)
            .replace(
                &format!("port = {}", dovecot.imap_port),
                &format!("port = {port}"),
            )
            .replace("host = \"127.0.0.1\"", "host = \"localhost\"")
            .replace(
                "security = \"plain\"",
                &format!("security = \"{security}\"\nca_file = {ca}"),
            );
        let config = write_config_raw(dir.path(), &text);
        let daemon = Daemon::start(&config);
        dovecot
            .append(
                "support",
                "INBOX",
                &mail(
                    "t@c.example",
                    "support@example.com",
                    security,
                    &format!("<{security}@c.example>"),
                    "x",
                ),
            )
            .await;
        assert!(
            dovecot
                .wait_count("support", "Processed", n + 1, WAIT)
                .await,
            "{}",
            daemon.log()
        );
    }
}

#[tokio::test]
async fn without_move_falls_back_to_copy_and_uid_expunge() {
    let desk = start_desk_on(
        DovecotOptions {
            capabilities: Some(capabilities_without(&["MOVE"])),
            ..Default::default()
        },
        "",
    );
    desk.deliver(&mail(
        "a@c.example",
        "support@example.com",
        "x",
        "<nm@c.example>",
        "x",
    ))
    .await;
    desk.wait_processed(1).await;
    assert_eq!(desk.dovecot.count("support", "INBOX").await, 0);
}

#[tokio::test]
async fn without_move_or_uidplus_marks_mail_with_a_keyword_and_never_duplicates() {
    let mut desk = start_desk_on(
        DovecotOptions {
            capabilities: Some(capabilities_without(&["MOVE", "UIDPLUS"])),
            ..Default::default()
        },
        "",
    );
    desk.deliver(&mail(
        "a@c.example",
        "support@example.com",
        "x",
        "<kw1@c.example>",
        "x",
    ))
    .await;
    desk.wait_processed(1).await;
    // COPY first, then the keyword: wait for the second step too.
    let inbox = desk
        .dovecot
        .wait_flag("support", "INBOX", "SupportdDone")
        .await
        .unwrap_or_else(|| panic!("no keyword\n{}", desk.log()));
    assert_eq!(inbox.len(), 1, "mail stays in place");
    assert!(
        inbox[0].2.iter().any(|f| f.contains("SupportdDone")),
        "{:?}",
        inbox[0].2
    );
    desk.restart();
    desk.deliver(&mail(
        "b@c.example",
        "support@example.com",
        "y",
        "<kw2@c.example>",
        "y",
    ))
    .await;
    desk.wait_processed(2).await;
    let list = desk.tickets();
    assert_eq!(list.len(), 2, "{list:?}");
}

#[tokio::test]
async fn cli_reads_the_store_directly_when_the_daemon_is_stopped() {
    let mut desk = start_desk("");
    desk.deliver(&mail(
        "a@c.example",
        "support@example.com",
        "x",
        "<cli@c.example>",
        "x",
    ))
    .await;
    desk.wait_processed(1).await;
    let via_daemon = desk.ticket(1);
    desk.stop();
    let direct = desk.ticket(1);
    assert_eq!(via_daemon, direct);
    let out = cli(&desk.config, &["tickets"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("a@c.example"));
    let out = cli(&desk.config, &["ticket", "show", "99"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ticket 99"));
}

#[test]
fn check_config_names_every_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config_raw(
        dir.path(),
        r#"
[imap]
host = "mail.example.com"
security = "plain"
username = "support"
password = "x"
procesed_mailbox = "Done"

[store]
path = "/tmp/x"

[support]
address = "support"
"#,
    );
    let out = cli(&cfg, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["imap.procesed_mailbox", "support.address"] {
        assert!(err.contains(key), "{key} not named in:\n{err}");
    }
}

#[test]
fn the_shipped_example_configuration_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/supportd.toml"))
            .unwrap();
    std::fs::write(dir.path().join("supportd.toml"), example).unwrap();
    for (f, v) in [
        ("imap-password", "secret"),
        ("smtp-password", "secret"),
        ("outbound-secret", "0123456789abcdef0123456789abcdef"),
    ] {
        std::fs::write(dir.path().join(f), v).unwrap();
    }
    let out = cli(&dir.path().join("supportd.toml"), &["check-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A mail the server itself cannot read (its file unreadable in Dovecot's storage): FETCH fails
/// for it, every time. It must end in quarantine after a few tries while the mail around it is
/// stored: batched fetching falls back to one mail at a time, and the attempt count per UID
/// gives up on the poison one.
#[tokio::test]
async fn a_mail_the_server_cannot_read_does_not_block_the_others() {
    let mut desk = start_desk("");
    desk.stop();
    for i in 1..=3 {
        desk.deliver(&mail(
            "c@c.example",
            "support@example.com",
            &format!("mail {i}"),
            &format!("<m{i}@c.example>"),
            "body",
        ))
        .await;
    }
    let file = desk
        .dovecot
        .dir()
        .join("home/support/mail/mailboxes/INBOX/dbox-Mails/u.2");
    assert!(file.exists(), "{}", file.display());
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    desk.restart();
    desk.wait_processed(2).await;
    // It stays in the inbox (the server cannot move what it cannot read), flagged and skipped.
    let q = wait_until(WAIT, async || {
        let q = cli_json(&desk.config, &["quarantine", "list", "--json"]);
        let q = q.as_array().unwrap();
        (!q.is_empty()).then(|| q.clone())
    })
    .await
    .unwrap_or_default();
    assert_eq!(q.len(), 1, "{q:#?}\n{}", desk.log());
    assert!(
        q[0]["reason"].as_str().unwrap().contains("could not read"),
        "{q:#?}"
    );
    assert_eq!(q[0]["source"]["uid"], 2);
    assert_eq!(desk.tickets().len(), 2);
    // The quarantine record is durable before the flag is set: wait for the flag.
    let inbox = desk
        .dovecot
        .wait_flag("support", "INBOX", "SupportdQuarantined")
        .await
        .unwrap_or_else(|| panic!("no quarantine flag\n{}", desk.log()));
    assert_eq!(inbox.len(), 1);
    assert!(
        inbox[0].2.iter().any(|f| f.contains("SupportdQuarantined")),
        "{:?}",
        inbox[0].2
    );
    // The daemon is idle and healthy again, not reconnecting in a loop: the next mail is
    // stored by a pass that does not trip over the unreadable one.
    let log = desk.log();
    desk.deliver(&mail(
        "c@c.example",
        "support@example.com",
        "mail 4",
        "<m4@c.example>",
        "body",
    ))
    .await;
    desk.wait_processed(3).await;
    let later = desk.log();
    assert!(
        !later[log.len()..].contains("reconnecting"),
        "{}",
        &later[log.len()..]
    );
}
