//! Acknowledgements and progress mail through the real SMTP relay into the real Dovecot: the
//! tests read what the customer actually receives, over IMAP.

mod common;

use std::time::Duration;

use common::*;
use supportd::mail::parse::parse;

/// The desk of these tests; `outbound` lines are added to `[outbound]`.
fn start_desk(outbound: &str) -> Desk {
    Desk::start(DeskOptions {
        outbound,
        ..Default::default()
    })
}

fn header<'a>(raw: &'a [u8], name: &str) -> Vec<&'a str> {
    let text = std::str::from_utf8(raw).unwrap();
    let head = text.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .filter_map(|l| {
            l.split_once(':')
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        })
        .collect()
}

#[tokio::test]
async fn new_ticket_gets_exactly_one_threaded_ack_in_the_customers_language() {
    let mut desk = start_desk("");
    desk.deliver(&mail(
        "张三 <customer@example.com>",
        "support@example.com",
        "网站打不开",
        "<q1@example.com>",
        "你好，www.shop.cn 从今天早上开始打不开，页面显示 502。",
    ))
    .await;
    let acks = desk.inbox("customer", 1).await;
    let (raw, ack) = &acks[0];
    assert!(ack.subject.starts_with("[SUP-1] "), "{}", ack.subject);
    assert!(ack.subject.contains("网站打不开"), "{}", ack.subject);
    assert_eq!(ack.in_reply_to, ["q1@example.com"]);
    assert_eq!(ack.references, ["q1@example.com"]);
    // `sup.<store tag>.<ticket>.<nonce>.<mac>`: signed, for ticket 1, of this store.
    let parts: Vec<&str> = ack.message_id.split('.').collect();
    assert_eq!((parts[0], parts[2]), ("sup", "1"), "{}", ack.message_id);
    assert_eq!(header(raw, "Auto-Submitted"), ["auto-replied"]);
    assert_eq!(header(raw, "X-Auto-Response-Suppress"), ["All"]);
    assert_eq!(header(raw, "Precedence"), ["bulk"]);
    assert_eq!(header(raw, "X-Loop"), ["support@example.com"]);
    assert_eq!(ack.reply_to[0].address, "support@example.com");
    let body = &ack.text;
    assert!(body.contains("工单号为 1"), "{body}");
    // "打不开" and a 502 classify it as P1, promised within 30 minutes.
    assert!(body.contains("P1"), "{body}");
    assert!(body.contains("30 分钟"), "{body}");
    // Only what the mail did not already say is asked for.
    assert!(body.contains("截图或日志文件"), "{body}");
    assert!(body.contains("您已经尝试过的处理方法"), "{body}");
    assert!(body.contains("您的客户ID"), "{body}");
    assert!(!body.contains("具体的错误提示"), "{body}");
    assert!(!body.contains("问题开始出现的时间"), "{body}");
    assert!(!body.contains("受影响的域名"), "{body}");

    // The customer answers the ack (plain Reply, no tag in the subject): same ticket, no new ack.
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        "补充",
        "<q2@example.com>",
        &[("In-Reply-To", &format!("<{}>", ack.message_id))],
        "已经重启过服务器，还是不行。",
    ))
    .await;
    desk.wait_processed(2).await;
    let t = desk.ticket(1);
    assert_eq!(t["priority"], "P1");
    assert!(!t["priority_rule"].as_str().unwrap().is_empty(), "{t}");
    assert!(t["sla"]["first_response"]["due_at"].is_string(), "{t}");
    assert_eq!(t["messages"].as_array().unwrap().len(), 2, "{t}");
    assert_eq!(t["messages"][1]["threaded_by"], "reference");
    assert_eq!(t["outgoing"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["outgoing"][0]["state"], "sent");

    // The re-send window (250 received → "sent" fsynced) is measured and reported.
    let status = cli_json(&desk.config, &["status", "--json"]);
    let window = status["ingest"]["outbox"]["max_resend_window_us"]
        .as_u64()
        .unwrap_or_else(|| panic!("{status}"));
    assert!(window > 0, "{status}");
    eprintln!("measured re-send window: {window} µs");

    // A restart re-reads the outbox; nothing is sent twice.
    desk.restart();
    desk.daemon().wait_ready().await;
    settled_outbox(&desk.config).await;
    desk.inbox("customer", 1).await;
    assert_eq!(desk.smtp().sent_log().len(), 1);
}

#[tokio::test]
async fn english_mail_gets_an_english_ack() {
    let desk = start_desk("");
    desk.deliver(&mail(
        "Jane <customer@example.com>",
        "support@example.com",
        "Checkout broken",
        "<e1@example.com>",
        "Customer ID: C-77\nThe checkout page fails.",
    ))
    .await;
    let acks = desk.inbox("customer", 1).await;
    let body = &acks[0].1.text;
    assert!(body.contains("registered as ticket 1"), "{body}");
    assert!(body.contains("the exact error message"), "{body}");
    assert!(!body.contains("your customer ID"), "{body}");
}

#[tokio::test]
async fn out_of_office_replies_create_nothing_and_get_nothing() {
    let desk = start_desk("");
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "help",
        "<o1@example.com>",
        "x",
    ))
    .await;
    let acks = desk.inbox("customer", 1).await;
    let ack_id = acks[0].1.message_id.clone();
    // The customer's out-of-office answers our ack...
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        "Automatic reply: [SUP-1] We received your request: help",
        "<ooo1@example.com>",
        &[
            ("In-Reply-To", &format!("<{ack_id}>")),
            ("Auto-Submitted", "auto-replied"),
        ],
        "I am out of the office until Monday.",
    ))
    .await;
    // ...and another one arrives with nothing to thread on.
    desk.deliver(&mail_with(
        "other@example.com",
        "support@example.com",
        "Out of office",
        "<ooo2@example.com>",
        &[("X-Autoreply", "yes")],
        "Away.",
    ))
    .await;
    desk.wait_processed(2).await;
    assert!(
        desk.dovecot
            .wait_count("support", "Quarantine", 1, WAIT)
            .await
    );
    settled_outbox(&desk.config).await;
    assert_eq!(desk.tickets().len(), 1, "no ticket for auto-replies");
    desk.inbox("customer", 1).await;
    assert_eq!(desk.smtp().sent_log().len(), 1, "nothing answered");
    let q = cli_json(&desk.config, &["quarantine", "list", "--json"]);
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("machine-generated"),
        "{q}"
    );
}

#[tokio::test]
async fn a_ping_ponging_autoresponder_stays_under_the_cap() {
    // A badly written autoresponder (no Auto-Submitted) answers every mail we send; with
    // follow-up notices on, each of its answers would trigger another mail from us.
    let desk = start_desk("followup_notice = true\nrate_limits = [[600, 5]]\n");
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "ping",
        "<p0@example.com>",
        "x",
    ))
    .await;
    let mut answered = 0;
    for round in 1..=12 {
        // Either our next mail arrives, or the desk has dealt with the robot's last mail (it left
        // the inbox, nothing is pending) without writing one: capped.
        let next = wait_until(WAIT, async || {
            if desk.dovecot.count("customer", "INBOX").await >= round {
                return Some(true);
            }
            let handled = desk.dovecot.count("support", "Processed").await == answered + 1
                && desk.outbox().iter().all(|i| i["state"] != "pending");
            // Checked again: the mail may have arrived between the two looks.
            (handled && desk.dovecot.count("customer", "INBOX").await < round).then_some(false)
        })
        .await
        .unwrap_or_else(|| panic!("round {round}: neither mail nor cap\n{}", desk.log()));
        if !next {
            break;
        }
        let mails = desk.dovecot.fetch_all("customer", "INBOX").await;
        let last = parse(&mails.last().unwrap().1).unwrap();
        desk.deliver(&mail_with(
            "customer@example.com",
            "support@example.com",
            &format!("Re: {}", last.subject),
            &format!("<p{round}@example.com>"),
            &[("In-Reply-To", &format!("<{}>", last.message_id))],
            "Thank you for your mail. (robot)",
        ))
        .await;
        answered += 1;
    }
    desk.wait_processed(answered + 1).await;
    settled_outbox(&desk.config).await;
    let sent = desk.smtp().sent_log().len();
    assert_eq!(sent, 5, "capped at 5 mails\n{}", desk.log());
    let suppressed = desk
        .outbox()
        .iter()
        .filter(|i| i["state"] == "suppressed")
        .count();
    assert!(suppressed >= 1, "the capped mail is recorded");
    let t = desk.ticket(1);
    assert!(
        t["outgoing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["reason"].as_str().unwrap_or("").contains("rate limit")),
        "{t}"
    );
}

#[tokio::test]
async fn acks_wait_out_an_smtp_outage_and_are_delivered_once() {
    let mut desk = start_desk("");
    desk.smtp_mut().stop();
    for (i, user) in ["customer", "customer2", "customer"].iter().enumerate() {
        desk.deliver(&mail(
            &format!("{user}@example.com"),
            "support@example.com",
            &format!("outage {i}"),
            &format!("<down{i}@example.com>"),
            "x",
        ))
        .await;
    }
    desk.wait_processed(3).await;
    // Each acknowledgement was tried and failed at least once, and waits for its retry.
    let pending = wait_until(WAIT, async || {
        let o = desk.outbox();
        (o.len() == 3
            && o.iter().all(|i| {
                i["state"] == "pending"
                    && i["attempts"].as_u64().unwrap() >= 1
                    && i["last_error"].is_string()
            }))
        .then_some(o)
    })
    .await;
    assert!(pending.is_some(), "{:#?}\n{}", desk.outbox(), desk.log());
    desk.smtp_mut().start_again();
    desk.inbox("customer", 2).await;
    desk.inbox("customer2", 1).await;
    let outbox = settled_outbox(&desk.config).await;
    assert!(outbox.iter().all(|i| i["state"] == "sent"), "{outbox:#?}");
    let ids = desk.smtp().sent_message_ids();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(unique.len(), 3, "{ids:?}");
}

#[tokio::test]
async fn sigkill_while_sending_loses_no_ack() {
    // 20 acks to one customer would otherwise hit the default cap of 10 per 10 minutes.
    let mut desk = start_desk("rate_limits = [[600, 100]]");
    const N: usize = 20;
    for i in 0..N {
        desk.deliver(&mail(
            "customer@example.com",
            "support@example.com",
            &format!("crash {i}"),
            &format!("<k{i}@example.com>"),
            "x",
        ))
        .await;
    }
    // Kill it a few times while it ingests and sends (start-up included: the next one is
    // spawned without waiting for it); the last one is left to drain, started fully before the
    // CLI reads the store.
    let delays = [150u64, 90, 200, 60, 120];
    let mut kills = 0;
    for (i, delay) in delays.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*delay)).await;
        if let Some(mut d) = desk.daemon.take() {
            d.kill();
            kills += 1;
        }
        desk.daemon = Some(if i + 1 < delays.len() {
            Daemon::spawn(&desk.config)
        } else {
            Daemon::start(&desk.config)
        });
    }
    desk.wait_processed(N).await;
    let outbox = settled_outbox(&desk.config).await;
    assert_eq!(outbox.len(), N);
    assert!(outbox.iter().all(|i| i["state"] == "sent"), "{outbox:?}");
    let ids = desk.smtp().sent_message_ids();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), N, "every ticket acknowledged\n{}", desk.log());
    // A re-send is only possible for a kill between the 250 and the fsync of the "sent" mark,
    // and then it carries the same Message-ID.
    desk.smtp().assert_resends_at_most(kills);
    let acks = desk.dovecot.received("customer", "INBOX").await;
    assert_eq!(acks.mails.len(), N);
}

#[tokio::test]
async fn crlf_in_a_subject_cannot_add_headers() {
    let desk = start_desk("");
    // The encoded word decodes to a CR/LF followed by a Bcc header.
    let evil = format!(
        "=?UTF-8?B?{}?=",
        base64(b"hello\r\nBcc: stranger@example.com\r\nX-Injected: yes")
    );
    let raw = crlf(&format!(
        "From: customer@example.com\nTo: support@example.com\nSubject: {evil}\nMessage-ID: <crlf@example.com>\nDate: Mon, 23 Nov 2026 10:00:00 +0000\n\nbody\n"
    ));
    desk.deliver(raw.as_bytes()).await;
    let acks = desk.inbox("customer", 1).await;
    let (raw, _) = &acks[0];
    assert!(header(raw, "Bcc").is_empty());
    assert!(header(raw, "X-Injected").is_empty());
    settled_outbox(&desk.config).await;
    assert_eq!(desk.dovecot.count("stranger", "INBOX").await, 0);
    let log = desk.smtp().sent_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["rcpts"], serde_json::json!(["customer@example.com"]));
}

#[tokio::test]
async fn a_bounce_of_our_ack_is_attached_to_its_ticket_and_never_answered() {
    let desk = start_desk("");
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "help",
        "<b1@example.com>",
        "x",
    ))
    .await;
    let acks = desk.inbox("customer", 1).await;
    let ack_id = &acks[0].1.message_id;
    let dsn = crlf(&format!(
        "From: MAILER-DAEMON@mx.example.com\nTo: support@example.com\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <dsn1@mx.example.com>\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n--B\nContent-Type: text/plain\n\nThe mail could not be delivered.\n--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\nFinal-Recipient: rfc822; customer@example.com\nAction: failed\nStatus: 5.2.2\n--B\nContent-Type: text/rfc822-headers\n\nFrom: Example Support <support@example.com>\nTo: customer@example.com\nSubject: [SUP-1] We received your request: help\nMessage-ID: <{ack_id}>\n--B--\n"
    ));
    desk.deliver(dsn.as_bytes()).await;
    desk.wait_processed(2).await;
    settled_outbox(&desk.config).await;
    assert_eq!(desk.tickets().len(), 1);
    let t = desk.ticket(1);
    let msgs = t["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2, "{t}");
    assert_eq!(msgs[1]["message_id"], "dsn1@mx.example.com");
    assert_eq!(desk.smtp().sent_log().len(), 1, "the bounce gets no answer");
}

#[tokio::test]
async fn status_changes_send_progress_mail() {
    let desk = start_desk("");
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Slow site",
        "<s1@example.com>",
        "x",
    ))
    .await;
    desk.inbox("customer", 1).await;
    for (status, text) in [
        ("open", "in progress"),
        ("pending", "waiting for your reply"),
        // Resolving asks for a score instead of a plain status line.
        ("resolved", "how did we do"),
    ] {
        let out = cli(&desk.config, &["ticket", "set-status", "1", status]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n = desk.smtp().sent_log().len() + 1;
        let mails = desk.inbox("customer", n).await;
        let last = &mails.last().unwrap().1;
        assert!(last.subject.contains(text), "{}", last.subject);
        assert!(last.subject.contains("[SUP-1]"), "{}", last.subject);
        assert_eq!(last.in_reply_to, ["s1@example.com"]);
    }
    assert_eq!(desk.tickets()[0]["status"], "resolved");
    // Setting the same status again changes and sends nothing.
    let out = cli(&desk.config, &["ticket", "set-status", "1", "resolved"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("already"));
}

#[tokio::test]
async fn a_refused_mail_is_dead_visible_and_retryable() {
    let desk = start_desk("");
    // No such mailbox: the relay mirrors Dovecot's permanent 550.
    desk.deliver(&mail(
        "nobody@example.com",
        "support@example.com",
        "hello",
        "<dead1@example.com>",
        "x",
    ))
    .await;
    desk.wait_processed(1).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let item = loop {
        let o = desk.outbox();
        if o.first().is_some_and(|i| i["state"] == "dead") {
            break o[0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{o:?}\n{}",
            desk.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(item["reason"].as_str().unwrap().contains("550"), "{item}");
    let text = cli(&desk.config, &["outbox", "list"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("dead"));
    let out = cli(&desk.config, &["outbox", "retry", "1"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("queued again"),
        "{out:?}"
    );
    // It is tried again (and refused again).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let o = desk.outbox();
        if o[0]["state"] == "dead"
            && o[0]["attempts"] == 1
            && o[0]["created_at"] != item["created_at"]
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{o:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
