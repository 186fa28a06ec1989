//! Agents working tickets by ordinary email, against real mailboxes: notifications arrive in the
//! agents' Dovecot mailboxes, replies go through the real SMTP relay to the customer's mailbox.

mod common;

use common::*;
use supportd::mail::inbound::Inbound;

/// The desk of these tests: the test agents on duty, `support` lines added to `[support]`.
fn start_desk(support: &str) -> Desk {
    Desk::start(DeskOptions {
        support,
        agents: true,
        ..Default::default()
    })
}

/// The agent's plain "Reply" to a notification, as a mail client writes it.
fn agent_reply(from: &str, notification: &Inbound, id: &str, body: &str) -> Vec<u8> {
    let reply_to = &notification.reply_to[0].address;
    mail_with(
        from,
        reply_to,
        &format!("Re: {}", notification.subject),
        id,
        &[
            ("In-Reply-To", &format!("<{}>", notification.message_id)),
            ("References", &format!("<{}>", notification.message_id)),
        ],
        body,
    )
}

async fn open_ticket(desk: &Desk) -> Inbound {
    desk.deliver(&mail(
        "Zhang San <customer@example.com>",
        "support@example.com",
        "网站打不开",
        "<c1@example.com>",
        "从今天早上开始 www.shop.cn 打不开。",
    ))
    .await;
    desk.mailbox("customer", 1).await; // the acknowledgement
    desk.mailbox("agent1", 1).await.remove(0)
}

#[tokio::test]
async fn the_agents_reply_reaches_the_customer_threaded_from_the_support_address() {
    let desk = start_desk("");
    let n = open_ticket(&desk).await;
    // "打不开" classifies the ticket as P1; the notification shows the SLA due times.
    assert!(n.subject.starts_with("[SUP-1] [P1]"), "{}", n.subject);
    assert!(n.text.contains("First response due"), "{}", n.text);
    assert!(
        n.reply_to[0].address.starts_with("support+1."),
        "{:?}",
        n.reply_to
    );
    assert!(n.text.contains("www.shop.cn"), "{}", n.text);
    assert!(n.text.contains("#status"), "command help: {}", n.text);
    assert_eq!(
        desk.ticket(1)["messages"][0]["from"],
        "Zhang San <customer@example.com>"
    );

    desk.deliver(&agent_reply(
        "Alice <agent1@example.com>",
        &n,
        "<a1@example.com>",
        "您好，请清除浏览器缓存后再试。\n\n-- \nAlice\n\n在 2026年11月23日 10:00，support 写道：\n> quoted notification",
    ))
    .await;
    let mails = desk.mailbox("customer", 2).await;
    let relay = &mails[1];
    assert_eq!(relay.text.trim(), "您好，请清除浏览器缓存后再试。");
    assert_eq!(relay.from.address, "support@example.com");
    assert_eq!(relay.from.name.as_deref(), Some("alice (Example Support)"));
    assert_eq!(relay.in_reply_to, ["c1@example.com"]);
    assert!(
        relay.subject.starts_with("[SUP-1] Re: 网站打不开"),
        "{}",
        relay.subject
    );
    assert!(
        !String::from_utf8_lossy(&desk.dovecot.fetch_all("customer", "INBOX").await[1].1)
            .contains("Auto-Submitted"),
        "a human reply is not automatic mail"
    );
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["status"], "pending", "waiting for the customer");
    // The agent's reply met the first-response clock; pending pauses the rest.
    assert!(t["sla"]["first_response"]["stopped_at"].is_string(), "{t}");
    assert_eq!(t["sla"]["resolution"]["paused"], true, "{t}");

    // The customer answers: back to open, and the assignee hears about it.
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        &format!("Re: {}", relay.subject),
        "<c2@example.com>",
        &[("In-Reply-To", &format!("<{}>", relay.message_id))],
        "还是不行。",
    ))
    .await;
    let agent_mails = desk.mailbox("agent1", 2).await;
    assert!(
        agent_mails[1].text.contains("还是不行"),
        "{}",
        agent_mails[1].text
    );
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "open");
}

#[tokio::test]
async fn commands_and_notes_change_state_only() {
    let desk = start_desk("");
    let n = open_ticket(&desk).await;
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<a2@example.com>",
        "#priority P1\n#assign bob\n#customer C1001\n#note 客户的 root 密码在保险柜里\nsecond line of the note",
    ))
    .await;
    desk.wait_processed(2).await;
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["priority"], "P1");
    assert_eq!(t["customer"], "C1001");
    assert_eq!(t["status"], "open");
    // Nothing reached the customer beyond the acknowledgement; the note is nowhere outside.
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 1);
    for log in desk.smtp().sent_log() {
        assert!(!log.to_string().contains("保险柜"));
    }
    // A customer mail now goes to bob, the new assignee.
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        "Re: 网站打不开",
        "<c3@example.com>",
        &[("In-Reply-To", "<c1@example.com>")],
        "any news?",
    ))
    .await;
    let bob = desk.mailbox("agent2", 1).await;
    assert!(
        bob[0].subject.contains("[SUP-1] [P1]"),
        "{}",
        bob[0].subject
    );
}

#[tokio::test]
async fn a_forged_agent_mail_changes_nothing_and_relays_nothing() {
    let desk = start_desk("");
    open_ticket(&desk).await;
    // From the agent's address, with the tag, but without the signed reply address or
    // notification Message-ID.
    desk.deliver(&mail(
        "agent1@example.com",
        "support@example.com",
        "Re: [SUP-1] 网站打不开",
        "<forged@evil.example>",
        "#status closed\nPlease send us your admin password.",
    ))
    .await;
    desk.wait_processed(2).await;
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["status"], "new");
    assert_eq!(
        t["messages"].as_array().unwrap().len(),
        1,
        "not posted into the ticket"
    );
    assert_eq!(
        desk.dovecot.count("customer", "INBOX").await,
        1,
        "nothing relayed"
    );
    assert!(
        desk.daemon().log().contains("without proof"),
        "impersonation is logged"
    );
}

#[tokio::test]
async fn a_bad_command_tells_the_agent_and_changes_nothing() {
    let desk = start_desk("");
    let n = open_ticket(&desk).await;
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<a3@example.com>",
        "#status closed\n#frobnicate now\nDear customer, all done.",
    ))
    .await;
    let mails = desk.mailbox("agent1", 2).await;
    let err = &mails[1];
    assert!(err.subject.contains("Command error"), "{}", err.subject);
    assert!(
        err.text.contains("unknown command `#frobnicate`"),
        "{}",
        err.text
    );
    assert!(
        err.text.contains("Status(Closed)"),
        "what was understood: {}",
        err.text
    );
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "new");
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 1);
}

#[tokio::test]
async fn a_resolved_ticket_reopens_inside_the_window() {
    let desk = start_desk("");
    let n = open_ticket(&desk).await;
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<a4@example.com>",
        "#status resolved\nFixed: the certificate was renewed.",
    ))
    .await;
    let (relay, survey) = relay_and_survey(&desk).await;
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "resolved");
    // The customer answers the survey: recorded, and the ticket stays resolved.
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        &format!("Re: {}", survey.subject),
        "<c4s@example.com>",
        &[("In-Reply-To", &format!("<{}>", survey.message_id))],
        "满意\n谢谢！",
    ))
    .await;
    desk.wait_processed(3).await;
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["status"], "resolved");
    assert_eq!(t["satisfaction"]["score"], 5, "{t:#}");
    assert_eq!(t["satisfaction"]["comment"], "谢谢！");
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        &format!("Re: {}", relay.subject),
        "<c5@example.com>",
        &[("In-Reply-To", &format!("<{}>", relay.message_id))],
        "It is broken again.",
    ))
    .await;
    desk.wait_processed(4).await;
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["status"], "open");
    assert_eq!(t["messages"].as_array().unwrap().len(), 4);
    // Only the ack, the relay and the survey reached the customer: answers get no answer.
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 3);
}

/// After an agent's reply that resolves the ticket, the customer has the ack, the relayed
/// answer and the satisfaction survey (in Chinese, as the customer wrote).
async fn relay_and_survey(desk: &Desk) -> (Inbound, Inbound) {
    let mails = desk.mailbox("customer", 3).await;
    let subjects: Vec<_> = mails.iter().map(|m| m.subject.clone()).collect();
    let (survey, relay): (Vec<_>, Vec<_>) = mails
        .into_iter()
        .skip(1)
        .partition(|m| m.subject.contains("请评价"));
    assert_eq!((survey.len(), relay.len()), (1, 1), "{subjects:?}");
    (
        relay.into_iter().next().unwrap(),
        survey.into_iter().next().unwrap(),
    )
}

#[tokio::test]
async fn after_the_window_a_reply_opens_a_linked_ticket() {
    let desk = start_desk("reopen_window_days = 0");
    let n = open_ticket(&desk).await;
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<a5@example.com>",
        "#status resolved\nDone.",
    ))
    .await;
    // The reply is read after the resolution, so with a window of 0 days it is outside it.
    let (relay, _) = relay_and_survey(&desk).await;
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        &format!("Re: {}", relay.subject),
        "<c6@example.com>",
        &[("In-Reply-To", &format!("<{}>", relay.message_id))],
        "Another problem now.",
    ))
    .await;
    desk.wait_processed(3).await;
    desk.settle().await;
    let t2 = desk.ticket(2);
    assert_eq!(t2["related"], 1);
    assert_eq!(desk.ticket(1)["status"], "resolved");
}

#[tokio::test]
async fn merge_moves_the_conversation() {
    let desk = start_desk("");
    let n1 = open_ticket(&desk).await;
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Also the mail server",
        "<m2@example.com>",
        "Mail is down too.",
    ))
    .await;
    // Ticket 2 goes round-robin to bob.
    let n2 = desk.mailbox("agent2", 1).await.remove(0);
    assert!(n2.subject.starts_with("[SUP-2]"), "{}", n2.subject);
    desk.deliver(&agent_reply(
        "agent2@example.com",
        &n2,
        "<a6@example.com>",
        "#merge 1",
    ))
    .await;
    desk.wait_processed(3).await;
    desk.settle().await;
    let t2 = desk.ticket(2);
    assert_eq!(t2["status"], "closed");
    // The customer's next mail on ticket 2 lands in ticket 1.
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Re: [SUP-2] Also the mail server",
        "<m3@example.com>",
        "any news about the mail server?",
    ))
    .await;
    desk.wait_processed(4).await;
    desk.settle().await;
    let t1 = desk.ticket(1);
    let ids: Vec<&str> = t1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"m3@example.com"), "{ids:?}");
    let _ = n1;
}

#[tokio::test]
async fn escalation_notifies_tier2() {
    let desk = start_desk("");
    let n = open_ticket(&desk).await;
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<a7@example.com>",
        "#escalate",
    ))
    .await;
    let t2 = desk.mailbox("tier2", 1).await;
    assert!(t2[0].subject.contains("[SUP-1]"), "{}", t2[0].subject);
    desk.settle().await;
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 1);
}

#[tokio::test]
async fn a_cc_colleague_may_follow_up_by_tag_and_receives_the_reply() {
    let desk = start_desk("");
    desk.deliver(&mail_with(
        "customer@example.com",
        "support@example.com",
        "Invoice missing",
        "<cc1@example.com>",
        &[("Cc", "customer2@example.com")],
        "Colleague in Cc.",
    ))
    .await;
    let n = desk.mailbox("agent1", 1).await.remove(0);
    // The colleague writes with only the tag: accepted, because they are a participant.
    desk.deliver(&mail(
        "customer2@example.com",
        "support@example.com",
        "Re: [SUP-1] Invoice missing",
        "<cc2@example.com>",
        "It is invoice 2026-17.",
    ))
    .await;
    desk.wait_processed(2).await;
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["messages"].as_array().unwrap().len(), 2, "{t}");
    assert_eq!(t["messages"][1]["threaded_by"], "tag");
    // The agent's reply goes to the requester with the colleague in Cc.
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<cc3@example.com>",
        "Sent again.",
    ))
    .await;
    // The acknowledgement went to the requester only; the colleague gets the relayed reply.
    let c2 = desk.mailbox("customer2", 1).await;
    assert_eq!(c2[0].text.trim(), "Sent again.");
    assert_eq!(c2[0].cc[0].address, "customer2@example.com");
}

#[tokio::test]
async fn a_customer_asking_to_escalate_reaches_tier2_and_is_told() {
    let desk = start_desk("");
    open_ticket(&desk).await;
    let ack = desk.mailbox("customer", 1).await.remove(0);
    desk.deliver(&mail_with(
        "Zhang San <customer@example.com>",
        "support@example.com",
        &format!("回复：{}", ack.subject),
        "<c9@example.com>",
        &[("In-Reply-To", &format!("<{}>", ack.message_id))],
        "已经两个小时了还没有人处理，我要投诉！\n\n------------------ 原始邮件 ------------------\n请升级处理",
    ))
    .await;
    desk.wait_processed(2).await;
    let tier2 = desk.mailbox("tier2", 1).await;
    assert!(
        tier2[0]
            .subject
            .contains("Escalated by the customer to level 1"),
        "{}",
        tier2[0].subject
    );
    assert!(tier2[0].text.contains("我要投诉"), "{}", tier2[0].text);
    let customer = desk.mailbox("customer", 2).await;
    assert!(
        customer[1].subject.contains("已升级"),
        "{}",
        customer[1].subject
    );
    assert_eq!(customer[1].in_reply_to, ["c9@example.com"]);
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["escalations"][0]["by"], "customer", "{t:#}");
    assert_eq!(
        t["escalations"].as_array().unwrap().len(),
        1,
        "one level, not two"
    );
    // The assignee hears of it in the same notification, not twice.
    assert_eq!(desk.dovecot.count("agent1", "INBOX").await, 2);
    assert_eq!(desk.dovecot.count("supervisor", "INBOX").await, 0);
}

#[tokio::test]
async fn a_reply_to_a_closed_ticket_is_filed_and_the_customer_told_when_policy_is_reject() {
    let desk = start_desk("closed_policy = \"reject\"");
    let n = open_ticket(&desk).await;
    desk.deliver(&agent_reply(
        "agent1@example.com",
        &n,
        "<a8@example.com>",
        "#status closed",
    ))
    .await;
    desk.wait_processed(2).await;
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "closed");
    let ack = desk.mailbox("customer", 1).await.remove(0);
    desk.deliver(&mail_with(
        "Zhang San <customer@example.com>",
        "support@example.com",
        &format!("回复：{}", ack.subject),
        "<c10@example.com>",
        &[("In-Reply-To", &format!("<{}>", ack.message_id))],
        "网站又打不开了",
    ))
    .await;
    desk.wait_processed(3).await;
    let mails = desk.mailbox("customer", 2).await;
    assert!(mails[1].subject.contains("已关闭"), "{}", mails[1].subject);
    desk.settle().await;
    let t = desk.ticket(1);
    assert_eq!(t["status"], "closed", "filed, not reopened");
    assert_eq!(t["messages"].as_array().unwrap().len(), 3);
    let list = cli_json(&desk.config, &["tickets", "--all", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "no new ticket: {list:#}");
}
