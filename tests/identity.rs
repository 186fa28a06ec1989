//! Who the customer is, and who may join, read or widen a ticket (issue 12), end to end against
//! Dovecot and the SMTP relay: every way a stranger could get into somebody else's ticket, each
//! in Chinese and in English, with the stranger's real mailbox read to show it stays empty of
//! the ticket's mail; the legitimate ways in (a colleague on a reply-all to our mail, an agent's
//! `#cc add`); the outgoing headers; the lost store; duplicates; the quarantine's release.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use supportd::mail::inbound::Inbound;

fn start(support: &str, outbound: &str, extra: &str) -> Desk {
    Desk::start(DeskOptions {
        support,
        outbound,
        extra,
        agents: true,
        ..Default::default()
    })
}

/// Every mail in `user`'s inbox, parsed, with its raw bytes.
async fn all(desk: &Desk, user: &str) -> Vec<Inbound> {
    desk.inbox_now(user)
        .await
        .into_iter()
        .map(|m| m.1)
        .collect()
}

/// Waits for a mail in `user`'s inbox that `pred` accepts.
async fn find(desk: &Desk, user: &str, what: &str, pred: impl Fn(&Inbound) -> bool) -> Inbound {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = all(desk, user).await.into_iter().find(|m| pred(m)) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "{user} never got {what}; has {:?}\n{}",
            all(desk, user)
                .await
                .iter()
                .map(|m| &m.subject)
                .collect::<Vec<_>>(),
            desk.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The agents' notification about ticket `n` whose text contains `needle` (agents take tickets
/// round-robin, so it is in agent1's or agent2's inbox).
async fn notification(desk: &Desk, n: u64, needle: &str) -> Inbound {
    let tag = format!("[SUP-{n}]");
    let deadline = Instant::now() + WAIT;
    loop {
        for user in ["agent1", "agent2"] {
            if let Some(m) = all(desk, user)
                .await
                .into_iter()
                .find(|m| m.subject.starts_with(&tag) && m.text.contains(needle))
            {
                return m;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no notification of ticket {n} with {needle:?}\n{}",
            desk.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The agent's plain "Reply" to a notification, as a mail client writes it.
fn agent_reply(notification: &Inbound, id: &str, body: &str) -> Vec<u8> {
    let from = notification.to[0].address.clone();
    mail_with(
        &from,
        &notification.reply_to[0].address,
        &format!("Re: {}", notification.subject),
        id,
        &[("In-Reply-To", &format!("<{}>", notification.message_id))],
        body,
    )
}

/// Nothing in `user`'s inbox is about ticket `n` (when given) or carries `secret`.
async fn has_nothing_of(desk: &Desk, user: &str, n: Option<u64>, secret: &str) {
    desk.settle().await;
    let tag = n.map(|n| format!("[SUP-{n}]"));
    for m in all(desk, user).await {
        assert!(
            !tag.as_ref().is_some_and(|t| m.subject.contains(t)) && !m.text.contains(secret),
            "{user} received mail of ticket {n:?}: {} / {}",
            m.subject,
            m.text
        );
    }
}

fn participants(t: &Value) -> Vec<String> {
    t["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["address"].as_str().unwrap().to_owned())
        .collect()
}

/// One scenario's words in one language.
struct Words {
    subject: &'static str,
    body: &'static str,
    id_line: &'static str,
    secret: &'static str,
    complaint: &'static str,
}

const ZH: Words = Words {
    subject: "FTP 无法登录",
    body: "您好，我们的 FTP 从今天早上开始无法登录。",
    id_line: "客户ID：C1001",
    secret: "FTP 新密码 Xy7-9kLq",
    complaint: "我要投诉，请升级处理",
};

const EN: Words = Words {
    subject: "Cannot log in to FTP",
    body: "Hello, since this morning we cannot log in to our FTP account.",
    id_line: "Customer ID: C1001",
    secret: "your new FTP password is Xy7-9kLq",
    complaint: "I want to escalate this, this is a complaint",
};

/// The customer opens a ticket; returns its number, the acknowledgement and the notification.
async fn open(desk: &Desk, n: u64, w: &Words, id: &str, body: &str) -> (Inbound, Inbound) {
    desk.deliver(&mail(
        "Zhang San <customer@example.com>",
        "support@example.com",
        w.subject,
        id,
        body,
    ))
    .await;
    let tag = format!("[SUP-{n}]");
    let ack = find(desk, "customer", "the acknowledgement", |m| {
        m.subject.starts_with(&tag)
    })
    .await;
    let note = notification(desk, n, w.body.split('，').next().unwrap_or(w.body)).await;
    (ack, note)
}

// ---------------------------------------------------------------------------------------------

/// The seeds' own case: the first mail says `客户ID: C-1001` (GB2312 subject, GBK body), the
/// Foxmail reply `回复：<subject>` carries neither References nor the ID. One ticket, one ack.
#[tokio::test]
async fn the_foxmail_reply_without_headers_joins_the_first_ticket() {
    let desk = start("", "", "");
    let first = "From: =?GB2312?B?1cXI/Q==?= <customer@example.com>\r\n\
To: support@example.com\r\nSubject: =?GB2312?B?zfjVvrTysru/qg==?=\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0800\r\nMessage-ID: <fox1@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=gbk\r\nContent-Transfer-Encoding: base64\r\n\r\n\
xPq6w6OsztLDx7XEzfjVvrTTvfHM7NTnyc+/qsq8tPKyu7+qoaMNCr/Nu6dJRDogQy0xMDAxDQrVxcj9DQo=\r\n";
    let reply = "From: =?GB2312?B?1cXI/Q==?= <customer@example.com>\r\n\
To: support@example.com\r\nSubject: =?GB2312?B?u9i4tKO6zfjVvrTysru/qg==?=\r\n\
Date: Mon, 23 Nov 2026 10:30:00 +0800\r\nMessage-ID: <fox2@example.com>\r\nMIME-Version: 1.0\r\n\
X-Mailer: Foxmail 7.2\r\nContent-Type: text/plain; charset=gbk\r\n\
Content-Transfer-Encoding: base64\r\n\r\nu7nKx7Tysru/qqOsx+u+ob/stKbA7aGjDQo=\r\n";
    desk.deliver(first.as_bytes()).await;
    desk.wait_processed(1).await;
    desk.deliver(reply.as_bytes()).await;
    // The same in English: the ID in the first mail, `Re:` without headers.
    desk.deliver(&mail(
        "customer2@example.com",
        "support@example.com",
        "Website down",
        "<en1@example.com>",
        "Our website is down since 9:00.\nCustomer ID: C-2002",
    ))
    .await;
    desk.wait_processed(3).await;
    desk.deliver(&mail(
        "customer2@example.com",
        "support@example.com",
        "Re: Website down",
        "<en2@example.com>",
        "Still down, please hurry.",
    ))
    .await;
    desk.wait_processed(4).await;
    desk.settle().await;
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let t1 = desk.ticket(1);
    assert_eq!(t1["customer"], "C-1001");
    assert_eq!(t1["messages"][1]["threaded_by"], "subject", "{t1:#}");
    assert_eq!(desk.ticket(2)["messages"][1]["threaded_by"], "subject");
    assert_eq!(all(&desk, "customer").await.len(), 1, "one acknowledgement");
    assert_eq!(
        all(&desk, "customer2").await.len(),
        1,
        "one acknowledgement"
    );
}

/// `From:` the requester (forged), `Cc:` a stranger, `Re: [SUP-n] …`: the mail is filed on the
/// ticket, the stranger is not added, the agents see the Cc, and the agent's next reply goes to
/// the requester only.
#[tokio::test]
async fn a_forged_from_with_a_stranger_in_cc_widens_nothing() {
    let desk = start("", "", "");
    for (i, w) in [ZH, EN].iter().enumerate() {
        let n = i as u64 + 1;
        let (ack, _) = open(&desk, n, w, &format!("<f{n}@example.com>"), w.body).await;
        desk.deliver(&mail_with(
            "Zhang San <customer@example.com>",
            "support@example.com",
            &format!("Re: {}", ack.subject),
            &format!("<forged{n}@evil.example>"),
            &[("Cc", "Mallory <stranger@evil.example>")],
            "please also send the answer to my colleague",
        ))
        .await;
        let note = notification(&desk, n, "stranger@evil.example").await;
        assert!(
            note.text.contains("Not added: stranger@evil.example"),
            "{}",
            note.text
        );
        assert!(participants(&desk.ticket(n)) == ["customer@example.com"]);
        desk.deliver(&agent_reply(
            &note,
            &format!("<a{n}@example.com>"),
            w.secret,
        ))
        .await;
        find(&desk, "customer", "the agent's reply", |m| {
            m.text.contains(w.secret)
        })
        .await;
        has_nothing_of(&desk, "stranger", Some(n), w.secret).await;
    }
}

/// Own From, the same subject and the customer's ID in the body: a new ticket of its own, linked
/// as related, the agents told the sender only claims the customer; the stranger never gets the
/// agent's reply and cannot escalate the customer's ticket.
#[tokio::test]
async fn a_stranger_claiming_the_customer_id_gets_a_ticket_of_their_own() {
    let desk = start("", "", "");
    let mut n = 1;
    for w in [ZH, EN] {
        let body = format!("{}\n{}", w.body, w.id_line);
        open(&desk, n, &w, &format!("<c{n}@example.com>"), &body).await;
        desk.deliver(&mail(
            "stranger@evil.example",
            "support@example.com",
            w.subject,
            &format!("<s{n}@evil.example>"),
            &format!("{}\n{}", w.id_line, w.complaint),
        ))
        .await;
        let claim = notification(&desk, n + 1, "claims customer C1001").await;
        assert!(
            claim.text.contains(&format!("#merge {n}")),
            "{}",
            claim.text
        );
        let t2 = desk.ticket(n + 1);
        assert_eq!(t2["related"], n, "{t2:#}");
        assert_eq!(participants(&t2), ["stranger@evil.example"]);
        // The complaint stays on the stranger's own ticket.
        desk.deliver(&mail(
            "stranger@evil.example",
            "support@example.com",
            &format!("Re: [SUP-{n}] {}", w.subject),
            &format!("<s{n}b@evil.example>"),
            w.complaint,
        ))
        .await;
        let note = notification(&desk, n, "").await;
        desk.deliver(&agent_reply(
            &note,
            &format!("<ar{n}@example.com>"),
            w.secret,
        ))
        .await;
        find(&desk, "customer", "the agent's reply", |m| {
            m.text.contains(w.secret)
        })
        .await;
        has_nothing_of(&desk, "stranger", Some(n), w.secret).await;
        let t1 = desk.ticket(n);
        assert_eq!(
            t1["escalations"].as_array().map_or(0, Vec::len),
            0,
            "{t1:#}"
        );
        assert_eq!(t1["messages"].as_array().unwrap().len(), 2, "{t1:#}");
        n += 3;
    }
}

/// A customer's own Message-ID (seen in a forwarded mail) in In-Reply-To lets nobody else in.
#[tokio::test]
async fn a_known_message_id_lets_no_stranger_in() {
    let desk = start("", "", "");
    let mut n = 1;
    for w in [ZH, EN] {
        let id = format!("own{n}@example.com");
        let (_, note) = open(&desk, n, &w, &format!("<{id}>"), w.body).await;
        desk.deliver(&mail_with(
            "stranger@evil.example",
            "support@example.com",
            &format!("Re: {}", w.subject),
            &format!("<k{n}@evil.example>"),
            &[
                ("In-Reply-To", &format!("<{id}>")),
                ("References", &format!("<{id}>")),
            ],
            "me too, please send me the answer",
        ))
        .await;
        notification(&desk, n + 1, &format!("Not added to ticket {n}")).await;
        assert_eq!(desk.ticket(n + 1)["related"], n);
        desk.deliver(&agent_reply(
            &note,
            &format!("<km{n}@example.com>"),
            w.secret,
        ))
        .await;
        find(&desk, "customer", "the agent's reply", |m| {
            m.text.contains(w.secret)
        })
        .await;
        has_nothing_of(&desk, "stranger", Some(n), w.secret).await;
        n += 2;
    }
}

/// With `trusted_authserv_id`, a sender-written `Authentication-Results` below the real one, a
/// pass for another user of the agent's domain, or a header by somebody else's server prove no
/// agent: no command runs, nothing is relayed. Our MX's own aligned pass does.
#[tokio::test]
async fn forged_authentication_results_prove_no_agent() {
    let desk = start("trusted_authserv_id = \"mx.example.com\"", "", "");
    let mut n = 1;
    for w in [ZH, EN] {
        open(&desk, n, &w, &format!("<ar{n}@example.com>"), w.body).await;
        let forgeries: [&[(&str, &str)]; 3] = [
            &[
                (
                    "Authentication-Results",
                    "mx.example.com; dkim=fail header.d=example.com; spf=fail smtp.mailfrom=agent1@example.com",
                ),
                ("Received", "from evil.example by mx.example.com"),
                (
                    "Authentication-Results",
                    "mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com",
                ),
            ],
            &[(
                "Authentication-Results",
                "mx.example.com; spf=pass smtp.mailfrom=stranger@example.com",
            )],
            &[(
                "Authentication-Results",
                "mx.evil.example; dkim=pass header.d=example.com",
            )],
        ];
        for (k, headers) in forgeries.iter().enumerate() {
            // The MX's headers come first, as it prepends them.
            let mut raw = String::new();
            for (name, value) in headers.iter() {
                raw.push_str(&format!("{name}: {value}\r\n"));
            }
            raw.push_str(
                &String::from_utf8(mail(
                    "agent1@example.com",
                    "support@example.com",
                    &format!("Re: [SUP-{n}] {}", w.subject),
                    &format!("<forged-ar{n}-{k}@evil.example>"),
                    &format!("#priority P4\n#status resolved\n{}", w.secret),
                ))
                .unwrap(),
            );
            desk.deliver(raw.as_bytes()).await;
        }
        desk.settle().await;
        let t = desk.ticket(n);
        assert_ne!(t["priority"], "P4", "{t:#}");
        assert_ne!(t["status"], "resolved", "{t:#}");
        has_nothing_of(&desk, "customer", None, w.secret).await;
        // The real thing: our MX's aligned pass for the agent herself, on top.
        let mut raw = "Authentication-Results: mx.example.com; dkim=pass header.d=example.com header.i=@example.com; dmarc=pass header.from=example.com\r\nReceived: from mail.example.com by mx.example.com\r\n".to_owned();
        raw.push_str(
            &String::from_utf8(mail(
                "agent1@example.com",
                "support@example.com",
                &format!("Re: [SUP-{n}] {}", w.subject),
                &format!("<real-ar{n}@example.com>"),
                &format!("#priority P4\n{}", w.secret),
            ))
            .unwrap(),
        );
        desk.deliver(raw.as_bytes()).await;
        find(&desk, "customer", "the agent's reply", |m| {
            m.text.contains(w.secret)
        })
        .await;
        desk.settle().await;
        assert_eq!(desk.ticket(n)["priority"], "P4");
        // Each forgery was a stranger's mail with somebody else's tag: a ticket of its own.
        n += 1 + forgeries.len() as u64;
    }
}

/// The participant rules where they break relays: 50 Cc (capped at 10, the Cc line of the
/// relay folded at 78 columns), `Bob <bob>` (never a participant), recipients the relay refuses
/// permanently (the others still get the reply).
#[tokio::test]
async fn many_and_broken_copies_neither_flood_nor_break_the_relay() {
    let desk = start("", "", "");
    let mut cc: Vec<String> = (0..50)
        .map(|i| format!("\"Colleague Number {i} 同事\" <colleague{i}@example.net>"))
        .collect();
    cc.insert(0, "Bob <bob>".into());
    cc.insert(3, "Li Si <customer2@example.com>".into());
    let cc = cc.join(", ");
    assert!(cc.len() > 1669, "{}", cc.len());
    desk.deliver(&mail_with(
        "Zhang San <customer@example.com>",
        "support@example.com",
        "邮件服务器退信 mail bounces",
        "<many@example.com>",
        &[("Cc", &cc)],
        "所有同事都抄送了。Everybody is in Cc.",
    ))
    .await;
    let note = notification(&desk, 1, "max_participants").await;
    assert!(
        note.text.contains("`bob` is not an address"),
        "{}",
        note.text
    );
    let t = desk.ticket(1);
    let p = participants(&t);
    assert_eq!(p.len(), 10, "{p:?}");
    assert!(p.contains(&"customer2@example.com".to_owned()), "{p:?}");
    desk.deliver(&agent_reply(
        &note,
        "<many-a1@example.com>",
        "已处理 / fixed",
    ))
    .await;
    let (raw, _) = find_raw(&desk, "customer2", |m| m.text.contains("已处理")).await;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let head = raw.split("\r\n\r\n").next().unwrap();
    // The address lists are folded at 78 columns; no line anywhere reaches 998 octets.
    let mut in_list = false;
    for line in head.split("\r\n") {
        if !line.starts_with([' ', '\t']) {
            in_list = line.starts_with("To:") || line.starts_with("Cc:");
        }
        assert!(
            !in_list || line.len() <= 78,
            "{} octets: {line}",
            line.len()
        );
        assert!(line.len() <= 998);
    }
    assert!(head.contains("Cc: "), "{head}");
    find(&desk, "customer", "the relay", |m| {
        m.text.contains("已处理")
    })
    .await;
    desk.settle().await;
    // colleague*@example.net are no Dovecot users: refused at RCPT, one by one.
    let relay_item = desk
        .outbox()
        .into_iter()
        .find(|o| o["kind"] == "relay")
        .unwrap();
    assert_eq!(relay_item["state"], "sent", "{relay_item:#}");
    assert_eq!(
        relay_item["refused"].as_array().unwrap().len(),
        8,
        "{relay_item:#}"
    );
}

/// A 100 KB Message-ID is not echoed, so the acknowledgement still goes out; a bounce makes
/// MAILER-DAEMON no participant; relays to a Cc'd customer do not count against their caps, so
/// their own acknowledgement later is not suppressed.
#[tokio::test]
async fn long_ids_bounces_and_relays_leave_the_acknowledgements_alone() {
    let desk = start("", "rate_limits = [[600, 2]]", "");
    let huge = format!("<{}@example.com>", "x".repeat(100 * 1024));
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Long id",
        &huge,
        "hello",
    ))
    .await;
    let (raw, ack) = find_raw(&desk, "customer", |m| m.subject.contains("Long id")).await;
    assert!(ack.in_reply_to.is_empty() && ack.references.is_empty());
    assert!(
        String::from_utf8_lossy(&raw)
            .lines()
            .all(|l| l.len() <= 998)
    );
    // The colleague is added by a reply-all to our acknowledgement.
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        &format!("Re: {}", ack.subject),
        "<long-2@example.com>",
        &[
            ("In-Reply-To", &format!("<{}>", ack.message_id)),
            ("Cc", "customer2@example.com"),
        ],
        "adding my colleague",
    ))
    .await;
    let note = notification(&desk, 1, "customer2@example.com (new)").await;
    for k in 0..3 {
        desk.deliver(&agent_reply(
            &note,
            &format!("<long-a{k}@example.com>"),
            &format!("update {k}"),
        ))
        .await;
        find(&desk, "customer2", "a relay", |m| {
            m.text.contains(&format!("update {k}"))
        })
        .await;
    }
    // A bounce of our acknowledgement.
    desk.deliver(&mail_with(
        "MAILER-DAEMON@mx.example.net",
        "support@example.com",
        "Undelivered Mail Returned to Sender",
        "<bounce1@mx.example.net>",
        &[
            ("Auto-Submitted", "auto-replied"),
            ("In-Reply-To", &format!("<{}>", ack.message_id)),
        ],
        "Your mail could not be delivered.",
    ))
    .await;
    // The colleague's own ticket gets its acknowledgement despite three relays to them.
    desk.deliver(&mail(
        "customer2@example.com",
        "support@example.com",
        "My own question",
        "<own-q@example.com>",
        "A question of my own.",
    ))
    .await;
    find(&desk, "customer2", "their acknowledgement", |m| {
        m.subject.contains("My own question")
    })
    .await;
    desk.settle().await;
    let p = participants(&desk.ticket(1));
    assert_eq!(
        p,
        ["customer@example.com", "customer2@example.com"],
        "{p:?}"
    );
}

async fn find_raw(desk: &Desk, user: &str, pred: impl Fn(&Inbound) -> bool) -> (Vec<u8>, Inbound) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(m) = desk.inbox_now(user).await.into_iter().find(|m| pred(&m.1)) {
            return m;
        }
        assert!(Instant::now() < deadline, "nothing found\n{}", desk.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Spam with `Reply-To: victim` is acknowledged to its From only; spam-flagged mail is stored
/// and not acknowledged; a forged VIP From gets no uplift; beyond the global cap acks wait and
/// `/healthz` says why.
#[tokio::test]
async fn no_backscatter() {
    let dir = tempfile::tempdir().unwrap();
    let customers = dir.path().join("customers.toml");
    std::fs::write(
        &customers,
        "[[customer]]\nid = \"VIP1\"\naddresses = [\"customer2@example.com\"]\ntier = \"vip\"\n",
    )
    .unwrap();
    let support = format!(
        "trusted_authserv_id = \"mx.example.com\"\ncustomer_directory = {}",
        toml_string(&customers.to_string_lossy())
    );
    let desk = start(
        &support,
        "max_automatic_per_hour = 4",
        "[http]\nlisten = \"127.0.0.1:0\"\n",
    );
    for (k, (subject, body)) in [
        ("网站打不开了 紧急", "请回复到我的同事邮箱"),
        ("Your invoice", "Please answer my colleague"),
    ]
    .iter()
    .enumerate()
    {
        desk.deliver(&mail_with(
            "stranger@evil.example",
            "support@example.com",
            subject,
            &format!("<bs{k}@evil.example>"),
            &[("Reply-To", "victim <customer@example.com>")],
            body,
        ))
        .await;
    }
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        "WIN A PRIZE 中奖",
        "<spam1@example.com>",
        &[("X-Spam-Flag", "YES"), ("X-Spam-Status", "Yes, score=12.3")],
        "click here",
    ))
    .await;
    // A forged VIP From: the directory says VIP, but our MX authenticated nothing.
    desk.deliver(&mail(
        "customer2@example.com",
        "support@example.com",
        "Question about invoices",
        "<vip1@example.com>",
        "How do I download an invoice?",
    ))
    .await;
    desk.wait_processed(4).await;
    desk.settle().await;
    assert_eq!(all(&desk, "stranger").await.len(), 2, "acks to From");
    assert!(
        all(&desk, "customer").await.is_empty(),
        "nothing to the victim or to spam"
    );
    let spam = desk.ticket(3);
    assert!(
        spam["messages"][0]["spam"]
            .as_str()
            .unwrap()
            .contains("X-Spam-Flag"),
        "{spam:#}"
    );
    let vip = desk.ticket(4);
    assert!(
        !vip["priority_rule"].as_str().unwrap().contains("VIP"),
        "{vip:#}"
    );
    // Two acks so far (and one to the VIP address): the cap of 4 an hour leaves one more.
    for k in 0..3 {
        desk.deliver(&mail(
            "stranger@evil.example",
            "support@example.com",
            &format!("flood {k}"),
            &format!("<flood{k}@evil.example>"),
            "x",
        ))
        .await;
    }
    desk.wait_processed(7).await;
    let port = listening_port(desk.daemon()).await;
    let degraded = wait_until(WAIT, async || {
        let (code, _, body) = http_get(port, "/healthz").ok()?;
        (code == 503 && body.contains("max_automatic_per_hour")).then_some(body)
    })
    .await;
    assert!(degraded.is_some(), "{}", desk.log());
    assert!(
        desk.daemon()
            .log()
            .contains("max_automatic_per_hour reached")
    );
    // Waiting, not dropped: pending in the outbox, not suppressed.
    let waiting: Vec<Value> = desk
        .outbox()
        .into_iter()
        .filter(|o| o["kind"] == "ack" && o["state"] == "pending")
        .collect();
    assert_eq!(waiting.len(), 2, "{waiting:#?}");
    assert_eq!(all(&desk, "stranger").await.len(), 3);
}

/// The store directory moved away: the daemon starts a new store (and says so loudly); a reply
/// to the old store's acknowledgement opens a new ticket, linked to nothing, instead of
/// threading into the new store's ticket with the same number.
#[tokio::test]
async fn a_lost_store_never_threads_old_mail_into_new_tickets() {
    let mut desk = start("", "", "");
    let (ack_zh, _) = open(&desk, 1, &ZH, "<lost1@example.com>", ZH.body).await;
    let (ack_en, _) = open(&desk, 2, &EN, "<lost2@example.com>", EN.body).await;
    desk.settle().await;
    let before = cli_json(&desk.config, &["status", "--json"]);
    desk.stop();
    std::fs::rename(desk.dir().join("store"), desk.dir().join("store.lost")).unwrap();
    desk.start_daemon();
    assert!(
        desk.daemon()
            .wait_for_log("created a NEW, EMPTY store", WAIT)
            .await
    );
    let after = cli_json(&desk.config, &["status", "--json"]);
    assert_ne!(
        after["store"]["instance_id"],
        before["store"]["instance_id"]
    );
    assert!(after["store"]["created_at"].is_string(), "{after:#}");
    // Another customer's tickets 1 and 2 in the new store.
    for (k, w) in [ZH, EN].iter().enumerate() {
        desk.deliver(&mail(
            "customer2@example.com",
            "support@example.com",
            w.subject,
            &format!("<new{k}@example.com>"),
            w.body,
        ))
        .await;
    }
    // Processed still holds the two mails of the old store.
    desk.wait_processed(4).await;
    for (k, ack) in [ack_zh, ack_en].iter().enumerate() {
        desk.deliver(&mail_with(
            "customer@example.com",
            "support@example.com",
            &format!("回复：{}", ack.subject),
            &format!("<old-reply{k}@example.com>"),
            &[("In-Reply-To", &format!("<{}>", ack.message_id))],
            "补充信息 / more details",
        ))
        .await;
    }
    desk.wait_processed(6).await;
    desk.settle().await;
    for n in [1, 2] {
        let t = desk.ticket(n);
        assert_eq!(t["messages"].as_array().unwrap().len(), 1, "{t:#}");
        assert_eq!(participants(&t), ["customer2@example.com"]);
    }
    for n in [3, 4] {
        let t = desk.ticket(n);
        assert_eq!(participants(&t), ["customer@example.com"]);
        assert!(t["related"].is_null(), "linked by nothing: {t:#}");
    }
    // An agent answering the old store's notification proves nothing here: its reply address
    // and Message-ID were signed for the other store.
    let old_note = notification(&desk, 1, "customer@example.com").await;
    desk.deliver(&agent_reply(
        &old_note,
        "<lost-old@example.com>",
        "meant for customer",
    ))
    .await;
    // The new ticket 1's reply reaches its customer only.
    let note = notification(&desk, 1, "customer2@example.com").await;
    desk.deliver(&agent_reply(
        &note,
        "<lost-a@example.com>",
        "only for customer2",
    ))
    .await;
    find(&desk, "customer2", "the reply", |m| {
        m.text.contains("only for customer2")
    })
    .await;
    has_nothing_of(&desk, "customer", None, "only for customer2").await;
    has_nothing_of(&desk, "customer", None, "meant for customer").await;
    has_nothing_of(&desk, "customer2", None, "meant for customer").await;
    assert!(desk.daemon().log().contains("without proof"));
}

/// Two different web-form mails under one Message-ID are two messages; the same mail again is
/// none. A quarantined mail is released into a ticket, through the daemon and without it.
#[tokio::test]
async fn reused_message_ids_and_the_quarantine_release() {
    let mut desk = start("", "", "");
    let form = |name: &str, text: &str| {
        mail(
            "webform@example.com",
            "support@example.com",
            &format!("Contact form: {name}"),
            "<form@www.example.com>",
            text,
        )
    };
    let a = form("张三", "网站打不开");
    desk.deliver(&a).await;
    desk.wait_processed(1).await;
    desk.deliver(&form("John", "Password reset please")).await;
    desk.deliver(&a).await;
    desk.wait_processed(3).await;
    desk.settle().await;
    let tickets = desk.tickets();
    assert_eq!(tickets.len(), 2, "{tickets:#?}");
    let second = desk.ticket(2);
    assert!(
        second["messages"][0]["message_id"]
            .as_str()
            .unwrap()
            .ends_with("@reused.supportd.invalid"),
        "{second:#}"
    );
    assert_eq!(
        second["messages"][0]["reused_message_id"],
        "form@www.example.com"
    );
    assert!(desk.daemon().log().contains("reuses the Message-ID"));

    // Out-of-office mail matches no ticket: quarantined; the operator releases it.
    for (k, daemon_runs) in [(0, true), (1, false)] {
        desk.deliver(&mail_with(
            "customer@example.com",
            "support@example.com",
            &format!("Automatic reply {k}: 我不在办公室"),
            &format!("<ooo{k}@example.com>"),
            &[("Auto-Submitted", "auto-replied")],
            "I am out of the office, but this is actually a real request.",
        ))
        .await;
        desk.wait_quarantined(k + 1).await;
        let q = desk.quarantine();
        let id = q[k]["id"].as_u64().unwrap();
        if !daemon_runs {
            desk.stop();
        }
        let out = cli_ok(&desk.config, &["quarantine", "release", &id.to_string()]);
        assert!(out.contains("opened ticket"), "{out}");
        if !daemon_runs {
            desk.start_daemon();
        }
        let q = desk.quarantine();
        assert!(q[k]["released"]["ticket"].is_u64(), "{q:#?}");
        let again = cli(&desk.config, &["quarantine", "release", &id.to_string()]);
        assert!(!again.status.success(), "released once");
    }
    assert_eq!(desk.tickets().len(), 4);
}

/// A colleague the customer copies on a reply-all to our acknowledgement becomes a participant
/// and receives the replies; `#cc remove` and `#cc add` change who does.
#[tokio::test]
async fn reply_all_to_our_mail_and_cc_commands() {
    let desk = start("", "", "");
    for (n, w) in (1u64..).zip([ZH, EN]) {
        let (ack, _) = open(&desk, n, &w, &format!("<ra{n}@example.com>"), w.body).await;
        desk.deliver(&mail_with(
            "customer@example.com",
            "support@example.com",
            &format!("Re: {}", ack.subject),
            &format!("<ra{n}b@example.com>"),
            &[
                ("In-Reply-To", &format!("<{}>", ack.message_id)),
                ("Cc", "Li Si <customer2@example.com>, support@example.com"),
            ],
            "我抄送了同事 / copying my colleague",
        ))
        .await;
        let note = notification(&desk, n, "customer2@example.com (new)").await;
        let (agent_user, agent_name) = match note.to[0].address.as_str() {
            "agent1@example.com" => ("agent1", "alice"),
            _ => ("agent2", "bob"),
        };
        let t = desk.ticket(n);
        assert_eq!(t["participants"][1]["how"], "cc_of_reply", "{t:#}");
        desk.deliver(&agent_reply(
            &note,
            &format!("<ra{n}c@example.com>"),
            w.secret,
        ))
        .await;
        find(&desk, "customer2", "the reply", |m| {
            m.text.contains(w.secret)
        })
        .await;
        // The agent takes the colleague off and puts the stranger (a consultant) on.
        let later = format!("{} (2)", w.secret);
        desk.deliver(&agent_reply(
            &note,
            &format!("<ra{n}d@example.com>"),
            &format!("#cc remove customer2@example.com\n#cc add Consultant <stranger@example.com>\n{later}"),
        ))
        .await;
        find(&desk, "stranger", "the reply", |m| m.text.contains(&later)).await;
        desk.settle().await;
        let t = desk.ticket(n);
        assert_eq!(
            participants(&t),
            ["customer@example.com", "stranger@example.com"]
        );
        assert_eq!(t["participants"][1]["by"], agent_name, "{t:#}");
        assert!(
            !all(&desk, "customer2")
                .await
                .iter()
                .any(|m| m.text.contains(&later)),
            "removed"
        );
        // An address that may not be on a ticket is refused with a reason.
        desk.deliver(&agent_reply(
            &note,
            &format!("<ra{n}e@example.com>"),
            "#cc add bob",
        ))
        .await;
        find(&desk, agent_user, "the command error", |m| {
            m.subject.contains("Command error") && m.text.contains("`bob`")
        })
        .await;
    }
}
