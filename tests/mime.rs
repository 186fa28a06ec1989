//! Issue 18 and issue 14's parse budgets against the real servers: mails appended to a real
//! Dovecot, the real daemon ingesting them, results read back through the real CLI.
//!
//! The MIME mails are `tests/mail/mime/` (each rebuilds the shape of a Zammad parser fixture;
//! see its `build.py`). The hostile mails are built here. Budget tests assert the outcome (a
//! quarantine reason naming the key, or a ticket with a note naming it) and that the next mail
//! becomes a ticket; how long each took is printed, not asserted (the benchmark measures it).

mod common;

use std::path::Path;
use std::time::Instant;

use common::*;
use serde_json::Value;

fn start(support: &str, extra: &str) -> Desk {
    Desk::start(DeskOptions {
        support,
        extra,
        no_relay: true,
        ..Default::default()
    })
}

fn mime(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mail/mime")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one message of the ticket whose subject is `subject`.
fn message(desk: &Desk, subject: &str) -> Value {
    let tickets = desk.tickets();
    let ticket = tickets
        .iter()
        .find(|t| t["subject"] == subject)
        .unwrap_or_else(|| panic!("no ticket {subject:?} in {tickets:#?}"));
    let detail = desk.ticket(ticket["id"].as_u64().unwrap());
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{detail:#}");
    messages[0].clone()
}

fn text(m: &Value) -> &str {
    m["text"].as_str().unwrap()
}

fn names(m: &Value) -> Vec<&str> {
    m["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn every_part_and_every_charset_is_stored_whole() {
    // The bounce matches no ticket: let machine mail open one so its parts can be looked at.
    let desk = start("machine_mail_tickets = true", "");
    let files = [
        "inline-screenshots.eml",
        "only-a-photo.eml",
        "html-then-plain-signature.eml",
        "html-plain-html.eml",
        "bounce-unterminated-alternative.eml",
        "unnamed-parts.eml",
        "raw-gbk-subject-latin1-part.eml",
        "sjis-raw-subject-lying-word.eml",
        "raw-8bit-file-names.eml",
        "iso2022jp-undeclared.eml",
        "gbk-undeclared.eml",
        "html-table-layout.eml",
    ];
    for f in files {
        desk.deliver(&mime(f)).await;
    }
    desk.wait_processed(files.len()).await;
    assert_eq!(desk.tickets().len(), files.len(), "{:#?}", desk.tickets());
    let all = serde_json::to_string(&desk.tickets()).unwrap();
    assert!(!all.contains('\u{fffd}'), "{all}");

    // Inline screenshots are attachments with their Content-ID; the text is the plain version.
    let shots = message(&desk, "截图");
    assert_eq!(names(&shots), ["shot1.png", "image.png"], "{shots:#}");
    for (a, id) in shots["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["shot1", "shot2"])
    {
        assert_eq!(a["inline"], true, "{a}");
        assert_eq!(a["content_id"], format!("{id}@customer.example"), "{a}");
    }
    assert!(text(&shots).starts_with("后台报错，见截图："), "{shots:#}");
    // A mail that is only a photo keeps it.
    let photo = desk
        .tickets()
        .into_iter()
        .find(|t| {
            let d = desk.ticket(t["id"].as_u64().unwrap());
            names(&d["messages"][0]) == ["IMG_0042.JPG"]
        })
        .expect("the photo is an attachment");
    let photo = &desk.ticket(photo["id"].as_u64().unwrap())["messages"][0];
    assert_eq!(text(photo), "[image: IMG_0042.JPG]");
    assert_eq!(photo["attachments"][0]["content_type"], "image/jpeg");
    // Every text part of a mixed mail, in order, HTML included.
    let mixed: Vec<String> = desk
        .tickets()
        .iter()
        .map(|t| text(&desk.ticket(t["id"].as_u64().unwrap())["messages"][0]).to_owned())
        .collect();
    assert!(
        mixed.iter().any(
            |t| t == "The checkout page shows error 500\n\n[part 2]\n\nZhang San, Example Shop"
        ),
        "{mixed:#?}"
    );
    assert!(
        mixed.iter().any(|t| t
            == "first part in html\n\n[part 2]\n\nsecond part in plain text\n\n[part 3]\n\nthird part, a signature"),
        "{mixed:#?}"
    );
    // The bounce: the unterminated inner multipart ends at the outer boundary, the report and
    // the returned message are attachments.
    assert!(
        mixed
            .iter()
            .any(|t| t == "Die Nachricht konnte nicht zugestellt werden: Empfänger unbekannt."),
        "{mixed:#?}"
    );
    let attached: Vec<String> = desk
        .tickets()
        .iter()
        .flat_map(|t| {
            let d = desk.ticket(t["id"].as_u64().unwrap());
            names(&d["messages"][0])
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    for name in [
        "delivery-status.txt",
        "Re: [SUP-7] your ticket.eml",
        "image.gif",
        "image-2.gif",
        "Server log.bin",
        "原始邮件.eml",
        "报价单.doc",
        "Überweisung März.pdf",
    ] {
        assert!(attached.iter().any(|a| a == name), "{name}: {attached:?}");
    }
    // Raw 8-bit headers by evidence, bodies without a charset sniffed, and which was used.
    let gbk_subject = message(&desk, "转发：整体提升企业服务水平");
    assert_eq!(gbk_subject["from"], "武兰成 <wu@customer.example>");
    assert!(text(&message(&desk, "ツール")).contains("よろしくお願いします。"));
    let jis = message(&desk, "お問い合わせ");
    assert_eq!(
        text(&jis),
        "サーバーに接続できません。\n確認をお願いします。"
    );
    assert_eq!(jis["charset"]["charset"], "ISO-2022-JP", "{jis:#}");
    assert_eq!(jis["charset"]["declared"], false, "{jis:#}");
    let gbk = message(&desk, "网站打不开");
    assert!(text(&gbk).starts_with("您好，我们的网站"), "{gbk:#}");
    assert_eq!(gbk["charset"]["charset"], "GBK", "{gbk:#}");
    // HTML tables as plain lines, without box drawing.
    assert!(
        mixed.iter().any(|t| t.starts_with("Your order\n\nHello,")
            && t.contains("Item 1  details <https://shop.example/item/1>")
            && !t.contains(|c: char| ('\u{2500}'..='\u{257f}').contains(&c))),
        "{mixed:#?}"
    );
}

/// One hostile mail of each budget, each followed by a normal mail: every hostile mail is
/// quarantined with the key in its reason or stored cut with the key in a note, and every
/// normal mail after it is a ticket.
#[tokio::test]
async fn hostile_mails_are_bounded_and_the_next_mail_flows() {
    // The IMAP-side budgets (header bytes downloaded, CPU time of a parse; tests/hostile.rs)
    // are raised here so that each mail reaches the parser's own budget this test is about.
    let desk = start(
        "max_header_bytes = 8388608\nmax_fetch_bytes = 67108864\nmax_parse_cpu_ms = 600000\n",
        "[parse]\nmax_html_work = 1000000\n",
    );
    let head = |id: &str, subject: &str, extra: &str| {
        format!(
            "From: Mallory <m@hostile.example>\r\nTo: support@example.com\r\n\
             Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{id}@hostile.example>\r\n\
             Subject: {subject}\r\nMIME-Version: 1.0\r\n{extra}"
        )
    };
    // 100,000 header fields (1.1 MB of header).
    let fields = format!(
        "{}{}\r\nbody\r\n",
        head("fields", "fields", ""),
        "X-Junk: 1\r\n".repeat(100_000)
    );
    // MIME nested 2,000 deep.
    let mut deep = head("deep", "deep", "");
    for level in 0..2_000 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    deep.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    // 20,000 parts.
    let parts = format!(
        "{}\r\n{}--m--\r\n",
        head(
            "parts",
            "parts",
            "Content-Type: multipart/mixed; boundary=m\r\n"
        ),
        "--m\r\n\r\nx\r\n".repeat(20_000)
    );
    // HTML quadratic for html5ever (issue 14: 43 s), and past the configured work budget.
    let html = format!(
        "{}\r\n{}<p>the real words</p>\r\n",
        head("html", "html", "Content-Type: text/html; charset=utf-8\r\n"),
        "<div></span>".repeat(340_000)
    );
    // 100,000 References ids (issue 14: 33 s).
    let ids: String = (0..100_000).map(|i| format!(" <r{i}@x.example>")).collect();
    let references = format!(
        "{}\r\nplease help\r\n",
        head("refs", "refs", &format!("References:{ids}\r\n"))
    );
    // 3 MB of text, over the default 1 MiB text budget.
    let long = format!(
        "{}Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        head("long", "long", ""),
        "很长的一行文字 ".repeat(150_000)
    );
    let hostile = [
        ("fields", fields),
        ("deep", deep),
        ("parts", parts),
        ("html", html),
        ("refs", references),
        ("long", long),
    ];
    let started = Instant::now();
    for (name, raw) in &hostile {
        desk.deliver(raw.as_bytes()).await;
        desk.deliver(&mail(
            "ok@customer.example",
            "support@example.com",
            &format!("after {name}"),
            &format!("<after-{name}@customer.example>"),
            "a normal mail",
        ))
        .await;
    }
    desk.wait_quarantined(3).await;
    desk.wait_processed(hostile.len() * 2 - 3).await;
    println!(
        "{} hostile + {} normal mails worked off in {:?}",
        hostile.len(),
        hostile.len(),
        started.elapsed()
    );
    let quarantine = desk.quarantine();
    let reason = |id: &str| {
        quarantine
            .iter()
            .find(|q| q["message_id"] == format!("{id}@hostile.example"))
            .and_then(|q| q["reason"].as_str())
            .unwrap_or_else(|| panic!("{id} not quarantined: {quarantine:#?}"))
            .to_owned()
    };
    assert!(reason("fields").contains("parse.max_header_fields"));
    assert!(reason("deep").contains("parse.max_mime_depth"));
    assert!(reason("parts").contains("parse.max_mime_parts"));
    let tickets = desk.tickets();
    for (name, _) in &hostile {
        assert!(
            tickets
                .iter()
                .any(|t| t["subject"] == format!("after {name}")),
            "after {name}: {tickets:#?}"
        );
    }
    let notes = |m: &Value| -> String { m["parse_notes"].to_string() };
    let html = message(&desk, "html");
    assert!(notes(&html).contains("parse.max_html_work"), "{html:#}");
    assert!(text(&html).contains("the real words"), "{html:#}");
    let refs = message(&desk, "refs");
    assert!(notes(&refs).contains("parse.max_reference_ids"), "{refs:#}");
    let long = message(&desk, "long");
    assert!(notes(&long).contains("parse.max_text_bytes"), "{long:#}");
    assert!(
        text(&long).len() < 1024 * 1024 + 200,
        "{}",
        text(&long).len()
    );
    assert!(!desk.log().contains("panicked"), "{}", desk.log());
}

/// A `[parse]` key out of range is an error naming it: `check-config` exits 2, and the daemon
/// refuses to start on it.
#[test]
fn parse_keys_out_of_range_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let check = |parse: &str| {
        let toml = format!("{}\n[parse]\n{parse}\n", base_config_port(dir.path(), 1));
        let out = cli(&write_config_raw(dir.path(), &toml), &["check-config"]);
        assert_eq!(out.status.code(), Some(2), "{parse}: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = check("max_mime_parts = \"many\"");
    assert!(err.contains("parse.max_mime_parts"), "{err}");
    let err = check("max_html_wrok = 5");
    assert!(err.contains("parse.max_html_wrok"), "{err}");
    let err = check("max_mime_depth = 1\nmax_reference_ids = 0");
    assert!(
        err.contains("parse.max_mime_depth: must be at least 5"),
        "{err}"
    );
    assert!(
        err.contains("parse.max_reference_ids: must be at least 2"),
        "{err}"
    );
}

/// Inline screenshots are forwarded to the agent like any attachment.
#[tokio::test]
async fn the_agents_notification_carries_the_inline_screenshots() {
    let desk = Desk::start(DeskOptions {
        agents: true,
        ..Default::default()
    });
    let raw = String::from_utf8(mime("inline-screenshots.eml"))
        .unwrap()
        .replace("zhang@customer.example", "customer@example.com");
    desk.deliver(raw.as_bytes()).await;
    desk.mailbox("customer", 1).await; // the acknowledgement
    let notification = desk.mailbox("agent1", 1).await.remove(0);
    let names: Vec<&str> = notification
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["shot1.png", "image.png"], "{}", notification.text);
    assert!(
        notification.attachments[0].data.starts_with(b"\x89PNG"),
        "{:?}",
        &notification.attachments[0].data[..8]
    );
}
