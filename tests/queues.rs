//! Queues against real mailboxes: one daemon answering support@ (with the alias help@) and
//! billing@ (with invoices@), each with its own agents, targets, templates and From address;
//! routing by delivery address, To and Cc; isolation between the queues' agents; `#queue`
//! moves; and a single-queue store upgrading to queues without a change.

mod common;

use common::*;
use supportd::mail::inbound::Inbound;

/// support@ (alice, tess, sue), billing@ (bob, sue; faster P3/P4 first responses, its own
/// templates and display name) and abuse@ (alice; the global targets, like support@).
fn queues(billing_templates: &std::path::Path) -> String {
    format!(
        r#"
[[queues]]
name = "support"
addresses = ["support@example.com", "help@example.com"]
agents = ["alice"]
tier2 = ["tess"]
supervisors = ["sue"]

[[queues]]
name = "billing"
addresses = ["billing@example.com", "invoices@example.com"]
agents = ["bob"]
supervisors = ["sue"]
display_name = "Example Billing"
templates_dir = {}
[queues.sla.targets.P3]
respond = "1h"
[queues.sla.targets.P4]
respond = "2h"

[[queues]]
name = "abuse"
addresses = ["abuse@example.com"]
agents = ["alice"]
"#,
        toml_string(&billing_templates.to_string_lossy())
    )
}

/// A desk with the three queues and our MX's `Authentication-Results` trusted.
fn start() -> (Desk, tempfile::TempDir) {
    let tpl = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tpl.path().join("en")).unwrap();
    std::fs::write(
        tpl.path().join("en/ack.txt"),
        "Subject: {{ ticket.tag }} Billing received: {{ ticket.subject }}\n\nBilling will answer by {{ response_due }}.\n\n{{ support_name }}\n",
    )
    .unwrap();
    let extra = queues(tpl.path());
    let desk = Desk::start(DeskOptions {
        support: "trusted_authserv_id = \"mx.example.com\"",
        agents: true,
        extra: Box::leak(extra.into_boxed_str()),
        ..Default::default()
    });
    (desk, tpl)
}

/// `raw` as our server delivered it: the delivery fields on top.
fn delivered(top: &[(&str, &str)], raw: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    for (n, v) in top {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend(raw);
    out
}

/// An agent's mail our MX authenticated (aligned DMARC pass).
fn authenticated(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    delivered(
        &[(
            "Authentication-Results",
            "mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com",
        )],
        mail(from, to, subject, id, body),
    )
}

fn queue_of(desk: &Desk, id: u64) -> String {
    desk.ticket(id)["queue"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn mail_routes_by_address_and_each_queue_answers_with_its_team_and_voice() {
    let (desk, _tpl) = start();
    // 1: to billing@, delivered there.
    desk.deliver(&delivered(
        &[("Delivered-To", "billing@example.com")],
        mail(
            "Zhang San <customer@example.com>",
            "billing@example.com",
            "Invoice 2026-11 is wrong",
            "<q1@example.com>",
            "The amount is doubled.",
        ),
    ))
    .await;
    let acks = desk.mailbox("customer", 1).await;
    assert_eq!(acks[0].from.address, "billing@example.com");
    assert_eq!(acks[0].from.name.as_deref(), Some("Example Billing"));
    assert!(
        acks[0].subject.starts_with("[SUP-1] Billing received:"),
        "{}",
        acks[0].subject
    );
    assert!(
        acks[0].text.contains("Billing will answer by"),
        "{}",
        acks[0].text
    );
    let bob = desk.mailbox("agent2", 1).await;
    assert!(bob[0].subject.starts_with("[SUP-1]"), "{}", bob[0].subject);
    assert!(
        bob[0].reply_to[0].address.starts_with("billing+1."),
        "{:?}",
        bob[0].reply_to
    );
    assert_eq!(queue_of(&desk, 1), "billing");

    // 2: to support@ with billing@ in Cc: one ticket, in the first queue written, one ack.
    desk.deliver(&mail_with(
        "Zhang San <customer@example.com>",
        "support@example.com",
        "Site down",
        "<q2@example.com>",
        &[("Cc", "billing@example.com")],
        "www.shop.cn does not load.",
    ))
    .await;
    let acks = desk.mailbox("customer", 2).await;
    assert_eq!(acks[1].from.address, "support@example.com");
    assert!(
        acks[1].subject.starts_with("[SUP-2] We received"),
        "{}",
        acks[1].subject
    );
    desk.mailbox("agent1", 1).await;

    // 3: to the alias help@ from another customer: support.
    desk.deliver(&mail(
        "customer2@example.com",
        "help@example.com",
        "Mailbox full",
        "<q3@example.com>",
        "My mailbox is full.",
    ))
    .await;
    desk.mailbox("customer2", 1).await;
    desk.mailbox("agent1", 2).await;

    // 4: delivered to invoices@ (the billing alias) with a Delivered-To: support@ the sender
    // wrote into their own headers: the server's (topmost) one routes.
    desk.deliver(&delivered(
        &[
            ("Delivered-To", "invoices@example.com"),
            ("Received", "from mx.example.com by mail.example.com"),
        ],
        mail_with(
            "customer@example.com",
            "accounts@partner.example",
            "Refund please",
            "<q4@example.com>",
            &[("Delivered-To", "support@example.com")],
            "Please refund order 77.",
        ),
    ))
    .await;
    desk.mailbox("customer", 3).await;
    desk.mailbox("agent2", 2).await;
    desk.settle().await;
    let queues: Vec<String> = (1..=4).map(|id| queue_of(&desk, id)).collect();
    assert_eq!(queues, ["billing", "", "", "billing"]);
    // Nobody heard twice, and support's agent never saw billing's tickets.
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 3);
    assert_eq!(desk.dovecot.count("agent1", "INBOX").await, 2);
    assert_eq!(desk.dovecot.count("agent2", "INBOX").await, 2);

    // Bob's answer reaches the customer from billing@; a follow-up sent to support@ stays in
    // billing.
    desk.deliver(&mail_with(
        "Bob <agent2@example.com>",
        &bob[0].reply_to[0].address,
        &format!("Re: {}", bob[0].subject),
        "<b1@example.com>",
        &[("In-Reply-To", &format!("<{}>", bob[0].message_id))],
        "We corrected the invoice.",
    ))
    .await;
    let mails = desk.mailbox("customer", 4).await;
    assert_eq!(mails[3].from.address, "billing@example.com");
    assert_eq!(mails[3].text.trim(), "We corrected the invoice.");
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Re: [SUP-1] Invoice 2026-11 is wrong",
        "<q5@example.com>",
        "Thanks!",
    ))
    .await;
    desk.settle().await;
    assert_eq!(queue_of(&desk, 1), "billing");
    assert_eq!(desk.ticket(1)["messages"].as_array().unwrap().len(), 3);
    let billing = cli_json(
        &desk.config,
        &["tickets", "--all", "--queue", "billing", "--json"],
    );
    let ids: Vec<u64> = billing
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 4]);
    // The report has a row per queue, and the totals.
    let report = cli_json(&desk.config, &["report", "--json"]);
    let rows: Vec<(&str, u64)> = report["by_queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["name"].as_str().unwrap(), g["tickets"].as_u64().unwrap()))
        .collect();
    assert_eq!(rows, [("support", 2), ("billing", 2), ("abuse", 0)]);
    assert_eq!(report["overall"]["tickets"], 4);
    let text = cli_ok(&desk.config, &["report"]);
    assert!(text.contains("QUEUE") && text.contains("billing"), "{text}");
}

#[tokio::test]
async fn agents_act_only_in_their_queues_and_queue_moves_tell_the_customer_only_a_new_promise() {
    let (desk, _tpl) = start();
    desk.deliver(&mail(
        "customer@example.com",
        "billing@example.com",
        "Invoice question",
        "<m1@example.com>",
        "Why two invoices?",
    ))
    .await;
    desk.mailbox("customer", 1).await;
    let bob = desk.mailbox("agent2", 1).await.remove(0);

    // Alice (support) is a real agent, but not billing's: refused, nothing done or sent.
    desk.deliver(&authenticated(
        "agent1@example.com",
        "billing@example.com",
        "Re: [SUP-1] Invoice question",
        "<a1@example.com>",
        "#status closed\n\nClosing this.",
    ))
    .await;
    let err = desk.mailbox("agent1", 1).await.remove(0);
    assert!(
        err.text.contains("not an agent of queue `billing`"),
        "{}",
        err.text
    );
    desk.settle().await;
    assert_eq!(desk.ticket(1)["status"], "new");
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 1);

    // Bob moves it to support, whose first response is later than billing's: the customer
    // hears the new promise, from support@; alice now owns it.
    desk.deliver(&reply(
        &bob,
        "Bob <agent2@example.com>",
        "<b1@example.com>",
        "#queue support\n",
    ))
    .await;
    let mails = desk.mailbox("customer", 2).await;
    let notice: &Inbound = &mails[1];
    assert_eq!(notice.from.address, "support@example.com");
    assert!(notice.text.contains("now handled by"), "{}", notice.text);
    desk.settle().await;
    assert_eq!(queue_of(&desk, 1), "");
    assert_eq!(desk.ticket(1)["assignee"], "alice");

    // Bob is no longer an agent on it; alice moves it to abuse (same targets): no notice.
    desk.deliver(&authenticated(
        "agent1@example.com",
        "support@example.com",
        "Re: [SUP-1] Invoice question",
        "<a2@example.com>",
        "#queue abuse\n",
    ))
    .await;
    desk.settle().await;
    assert_eq!(queue_of(&desk, 1), "abuse");
    assert_eq!(desk.dovecot.count("customer", "INBOX").await, 2);
    // An unknown queue is named back to the agent with the known ones.
    desk.deliver(&authenticated(
        "agent1@example.com",
        "abuse@example.com",
        "Re: [SUP-1] Invoice question",
        "<a3@example.com>",
        "#queue sales\n",
    ))
    .await;
    let err = desk.mailbox("agent1", 2).await;
    assert!(
        err.iter().any(|m| m.text.contains("no queue named `sales`")
            && m.text.contains("support, billing, abuse")),
        "{:?}",
        err.iter().map(|m| &m.text).collect::<Vec<_>>()
    );
    assert_eq!(queue_of(&desk, 1), "abuse");
}

/// The agent's plain "Reply" to a notification.
fn reply(notification: &Inbound, from: &str, id: &str, body: &str) -> Vec<u8> {
    mail_with(
        from,
        &notification.reply_to[0].address,
        &format!("Re: {}", notification.subject),
        id,
        &[("In-Reply-To", &format!("<{}>", notification.message_id))],
        body,
    )
}

/// A single-queue desk's store and configuration keep working when `[[queues]]` is added: its
/// tickets are the first queue's, stored as before (no queue field), and follow-ups join them.
#[tokio::test]
async fn a_single_queue_store_upgrades_to_queues_unchanged() {
    let mut desk = Desk::start(DeskOptions {
        agents: true,
        ..Default::default()
    });
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Old ticket",
        "<u1@example.com>",
        "Before queues.",
    ))
    .await;
    desk.mailbox("customer", 1).await;
    desk.settle().await;
    assert!(desk.ticket(1).get("queue").is_none());
    desk.stop();
    let tpl = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(&desk.config).unwrap();
    text.push_str(&queues(tpl.path()));
    std::fs::write(&desk.config, text).unwrap();
    desk.start_daemon();
    desk.deliver(&mail(
        "customer@example.com",
        "support@example.com",
        "Re: [SUP-1] Old ticket",
        "<u2@example.com>",
        "Still there?",
    ))
    .await;
    desk.deliver(&mail(
        "customer2@example.com",
        "billing@example.com",
        "New bill",
        "<u3@example.com>",
        "A question.",
    ))
    .await;
    desk.mailbox("customer2", 1).await;
    desk.settle().await;
    assert_eq!(desk.ticket(1)["messages"].as_array().unwrap().len(), 2);
    assert!(desk.ticket(1).get("queue").is_none());
    assert_eq!(queue_of(&desk, 2), "billing");
    let support = cli_json(
        &desk.config,
        &["tickets", "--all", "--queue", "support", "--json"],
    );
    assert_eq!(support.as_array().unwrap().len(), 1, "{support}");
}
