//! The reply text end to end, against real mailboxes: what a customer's quoting client sends is
//! stored and passed on as the words they wrote, and what an agent answers to a notification
//! reaches the customer without a word of the notification.

mod common;

use common::*;
use supportd::mail::inbound::Inbound;

/// The customer: a QQ Mail user, whose mailbox the harness has as `customer`.
const CUSTOMER: &str = "customer@example.com";

fn start_desk() -> Desk {
    Desk::start(DeskOptions {
        agents: true,
        ..Default::default()
    })
}

/// Opens SUP-1 from the customer; returns the acknowledgement and agent1's notification.
async fn open_ticket(desk: &Desk) -> (Inbound, Inbound) {
    desk.deliver(&mail(
        &format!("张三 <{CUSTOMER}>"),
        "support@example.com",
        "网站打不开，显示 502",
        "<qq-open@qq.com>",
        "从今天早上开始后台登录后显示 502。",
    ))
    .await;
    let ack = desk.mailbox("customer", 1).await.remove(0);
    let notification = desk.mailbox("agent1", 1).await.remove(0);
    (ack, notification)
}

/// `tests/mail/replies/built/qq-top-zh.eml` (GB18030, base64, QQ's `原始邮件` header block) as
/// the customer's answer to `ack`: its sender, threading headers and subject point at our
/// ticket.
fn qq_reply(ack: &Inbound) -> Vec<u8> {
    let raw = std::fs::read("tests/mail/replies/built/qq-top-zh.eml").unwrap();
    let text = String::from_utf8(raw).expect("the headers are ASCII, the body base64");
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut out = String::new();
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("");
        let line = match name {
            "In-Reply-To" | "References" => format!("{name}: <{}>", ack.message_id),
            "Subject" => format!(
                "Subject: {}",
                encode_subject(&format!("回复：{}", ack.subject))
            ),
            "From" => format!("From: {}", CUSTOMER),
            "Cc" => continue,
            _ => line.to_owned(),
        };
        out.push_str(&line);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

#[tokio::test]
async fn a_qq_top_posted_reply_is_stored_and_passed_on_as_its_new_text() {
    let desk = start_desk();
    let (ack, _) = open_ticket(&desk).await;
    desk.deliver(&qq_reply(&ack)).await;
    let agent_mails = desk.mailbox("agent1", 2).await;
    let n = &agent_mails[1].text;
    assert!(n.contains("李工，您好："), "{n}");
    for history in ["原始邮件", "发送时间", "PHP-FPM 进程在 09:02 因内存不足"] {
        assert!(!n.contains(history), "{history:?} passed on: {n}");
    }
    desk.settle().await;
    let t = desk.ticket(1);
    let m = &t["messages"][1];
    let reply = m["reply_text"].as_str().unwrap();
    assert!(reply.starts_with("李工，您好："), "{reply}");
    assert!(reply.trim_end().ends_with("张三"), "{reply}");
    assert!(!reply.contains("原始邮件"), "{reply}");
    // The full mail stays stored.
    assert!(m["text"].as_str().unwrap().contains("原始邮件"), "{m}");
}

/// The agent's "Reply" to `n`, the notification, with `body`.
fn agent_answer(n: &Inbound, id: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut h = vec![
        ("In-Reply-To", format!("<{}>", n.message_id)),
        ("References", format!("<{}>", n.message_id)),
    ];
    h.extend(headers.iter().map(|(k, v)| (*k, v.to_string())));
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    mail_with(
        "Alice <agent1@example.com>",
        &n.reply_to[0].address,
        &format!("Re: {}", n.subject),
        id,
        &h,
        body,
    )
}

/// `text` quoted as Thunderbird quotes it.
fn quoted(text: &str) -> String {
    text.lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every line of the notification that is ours, not the customer's.
fn notification_fields(n: &Inbound) -> Vec<String> {
    n.text
        .lines()
        .filter(|l| l.contains("due") || l.contains("Assignee") || l.contains("Customer"))
        .map(|l| l.trim().to_owned())
        .filter(|l| l.len() > 8)
        .collect()
}

#[tokio::test]
async fn an_agents_bottom_post_reaches_the_customer_without_the_notification() {
    let desk = start_desk();
    let (_, n) = open_ticket(&desk).await;
    let fields = notification_fields(&n);
    assert!(fields.len() >= 2, "{}", n.text);
    desk.deliver(&agent_answer(
        &n,
        "<a-bottom@example.com>",
        &[],
        &format!(
            "On 2026/11/24 10:00, Example Support wrote:\n{}\n\n#status resolved\n张先生您好，PHP 内存上限已调高，请再试一下。\n\n-- \nAlice\n+86 21 5555 0100",
            quoted(&n.text)
        ),
    ))
    .await;
    // The acknowledgement, the relay and (the command resolved the ticket) the survey.
    let mails = desk.inbox("customer", 3).await;
    let (raw, relay) = mails
        .iter()
        .find(|(_, m)| m.subject.contains("Re:"))
        .expect("the relay");
    assert_eq!(
        relay.text.trim(),
        "张先生您好，PHP 内存上限已调高，请再试一下。"
    );
    let raw = String::from_utf8_lossy(raw).into_owned();
    for f in &fields {
        assert!(!raw.contains(f.as_str()), "{f:?} reached the customer");
    }
    desk.settle().await;
    assert_eq!(
        desk.ticket(1)["status"],
        "resolved",
        "the command below the quote"
    );
}

#[tokio::test]
async fn a_note_below_the_quote_and_an_out_of_office_reach_nobody() {
    let desk = start_desk();
    let (_, n) = open_ticket(&desk).await;
    desk.deliver(&agent_answer(
        &n,
        "<a-note@example.com>",
        &[],
        &format!(
            "On 2026/11/24 10:00, Example Support wrote:\n{}\n\n我今晚处理。\n#note 内部：root 密码 Vb4kR9q 在保险柜\n",
            quoted(&n.text)
        ),
    ))
    .await;
    desk.deliver(&agent_answer(
        &n,
        "<a-ooo@example.com>",
        &[("Auto-Submitted", "auto-replied")],
        "I am out of the office until May 6. Urgent: +86 139 1234 5678.",
    ))
    .await;
    desk.wait_processed(3).await;
    desk.settle().await;
    assert_eq!(
        desk.dovecot.count("customer", "INBOX").await,
        1,
        "only the ack"
    );
    for log in desk.smtp().sent_log() {
        let log = log.to_string();
        assert!(
            !log.contains("Vb4kR9q") && !log.contains("139 1234"),
            "{log}"
        );
    }
    let t = desk.ticket(1);
    assert_eq!(t["status"], "open", "{t}");
    assert!(t["sla"]["first_response"]["stopped_at"].is_null(), "{t}");
    // Both are stored on the ticket, for the agents.
    assert_eq!(t["messages"].as_array().unwrap().len(), 3, "{t}");
}

/// `n`'s text quoted, with `answer` written below the quoted line holding `after`.
fn quoted_with_answer_after(n: &Inbound, after: &str, answer: &str) -> String {
    let mut out = Vec::new();
    let mut placed = false;
    for l in n.text.lines() {
        out.push(format!("> {l}"));
        if !placed && l.contains(after) {
            out.push(String::new());
            out.push(answer.to_owned());
            out.push(String::new());
            placed = true;
        }
    }
    assert!(placed, "{after:?} is not in the notification: {}", n.text);
    out.join("\n")
}

#[tokio::test]
async fn an_agents_inline_answer_reaches_the_customer_without_the_notification() {
    let desk = start_desk();
    let (_, n) = open_ticket(&desk).await;
    let fields = notification_fields(&n);
    let answer = "原因是 PHP 内存上限太低，已经调到 512M，请再试一下。";
    desk.deliver(&agent_answer(
        &n,
        "<a-inline@example.com>",
        &[],
        &format!(
            "On 2026/11/24 10:00, Example Support wrote:\n{}\n\n-- \nAlice",
            quoted_with_answer_after(&n, "后台登录后显示 502", answer)
        ),
    ))
    .await;
    let mails = desk.mailbox("customer", 2).await;
    let relay = &mails[1].text;
    assert!(relay.contains(answer), "{relay}");
    assert!(!relay.contains("wrote:"), "{relay}");
    let raw = String::from_utf8_lossy(&desk.dovecot.fetch_all("customer", "INBOX").await[1].1)
        .into_owned();
    for f in &fields {
        assert!(!raw.contains(f.as_str()), "{f:?} reached the customer");
    }
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["status"], "pending", "{t}");
    assert!(!t["sla"]["first_response"]["stopped_at"].is_null(), "{t}");
}

/// A 1×1 PNG.
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

#[tokio::test]
async fn an_agents_attachment_only_answer_sends_the_file_and_one_neutral_line() {
    let desk = start_desk();
    let (_, n) = open_ticket(&desk).await;
    let fields = notification_fields(&n);
    // iPhone Mail: the phone footer, the whole notification quoted, the screenshot.
    let body = format!(
        "--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
         Sent from my iPhone\n\n> On 2026/11/24 10:00, Example Support wrote:\n{}\n\n\
         --b1\nContent-Type: image/png; name=screenshot.png\n\
         Content-Disposition: inline; filename=screenshot.png\nContent-Transfer-Encoding: base64\n\n\
         {PNG_BASE64}\n--b1--\n",
        quoted(&n.text)
    );
    desk.deliver(&agent_answer(
        &n,
        "<a-attachment@example.com>",
        &[("Content-Type", "multipart/mixed; boundary=\"b1\"")],
        &body,
    ))
    .await;
    let mails = desk.mailbox("customer", 2).await;
    let relay = &mails[1];
    assert_eq!(relay.text.trim(), "请查收附件。", "{}", relay.text);
    assert!(
        relay.attachments.iter().any(|a| a.name == "screenshot.png"),
        "{:?}",
        relay.attachments
    );
    let raw = String::from_utf8_lossy(&desk.dovecot.fetch_all("customer", "INBOX").await[1].1)
        .into_owned();
    for f in &fields {
        assert!(!raw.contains(f.as_str()), "{f:?} reached the customer");
    }
    assert!(
        !raw.contains("Sent from my iPhone"),
        "the footer is no answer"
    );
}

#[tokio::test]
async fn an_answer_inside_an_unmarked_copy_is_refused_and_the_agent_told() {
    let desk = start_desk();
    let (_, n) = open_ticket(&desk).await;
    // The notification pasted without quote marks, the answer somewhere in it: nothing can tell
    // the agent's words from ours, so nothing is sent and nothing changes.
    let pasted = n
        .text
        .lines()
        .map(|l| {
            if l.contains("后台登录后显示 502") {
                format!("{l}\n已经重启了 PHP-FPM。")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    desk.deliver(&agent_answer(
        &n,
        "<a-pasted@example.com>",
        &[],
        &format!("#status resolved\n\n{pasted}"),
    ))
    .await;
    let agent_mails = desk.mailbox("agent1", 2).await;
    let notice = &agent_mails[1];
    assert!(
        notice.subject.contains("[SUP-1]")
            && (notice.subject.contains("未发送给客户")
                || notice.subject.contains("Not sent to the customer")),
        "{}",
        notice.subject
    );
    desk.wait_processed(2).await;
    desk.settle().await;
    assert_eq!(
        desk.dovecot.count("customer", "INBOX").await,
        1,
        "only the ack"
    );
    let t = desk.ticket(1);
    assert_ne!(t["status"], "resolved", "the command was not applied: {t}");
}
