//! Queues with a mailbox or an IMAP account of their own, against one real Dovecot holding
//! several users: each distinct account and mailbox is ingested by its own task, a broken
//! account (wrong password) never stops the others and makes `/healthz` 503 naming it, and two
//! queues naming the same account and mailbox share one task (one ticket per mail).

mod common;

use std::collections::BTreeSet;

use common::*;

/// support@ on `[imap]` (user `support`, INBOX); abuse@ in its folder `Abuse` of the same
/// account; billing@ and invoices@ both on the account of user `billing` (one task); sales@ on
/// user `sales` with a wrong password.
const QUEUES: &str = r#"
[http]
listen = "127.0.0.1:0"

[[queues]]
name = "support"
addresses = ["support@example.com"]
agents = ["alice"]

[[queues]]
name = "abuse"
addresses = ["abuse@example.com"]
agents = ["alice"]
mailbox = "Abuse"

[[queues]]
name = "billing"
addresses = ["billing@example.com"]
agents = ["bob"]
display_name = "Example Billing"
[queues.imap]
host = "127.0.0.1"
port = PORT
security = "plain"
username = "billing"
password = "secret"
poll_interval_secs = 2

[[queues]]
name = "invoices"
addresses = ["invoices@example.com"]
agents = ["bob"]
[queues.imap]
host = "127.0.0.1"
port = PORT
security = "plain"
username = "billing"
password = "secret"
poll_interval_secs = 2

[[queues]]
name = "sales"
addresses = ["sales@example.com"]
agents = ["bob"]
[queues.imap]
host = "127.0.0.1"
port = PORT
security = "plain"
username = "sales"
password = "not-the-password"
poll_interval_secs = 2
"#;

fn queue_of(t: &serde_json::Value) -> String {
    t["queue"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn each_account_is_ingested_on_its_own_and_a_broken_one_is_named_by_healthz() {
    // The Dovecot's port is known only once it runs: start one to learn it, then the desk
    // with the queues pointing at the desk's own Dovecot (patched in below).
    let mut desk = Desk::start(DeskOptions {
        agents: true,
        ..Default::default()
    });
    desk.stop();
    let port = desk.dovecot.imap_port.to_string();
    let text = std::fs::read_to_string(&desk.config).unwrap();
    std::fs::write(
        &desk.config,
        format!("{text}\n{}", QUEUES.replace("PORT", &port)),
    )
    .unwrap();
    desk.dovecot.create("support", "Abuse").await;
    desk.start_daemon();
    let daemon_port = listening_port(desk.daemon()).await;

    // Billing's own mailbox: to billing@, to invoices@ (same account: one task, routed by
    // address among its queues), and one to support@ that the server filed there anyway.
    let billing = [
        mail(
            "Zhang San <customer@example.com>",
            "billing@example.com",
            "Invoice wrong",
            "<a1@example.com>",
            "Doubled.",
        ),
        mail(
            "customer@example.com",
            "invoices@example.com",
            "Need a copy of invoice 7",
            "<a2@example.com>",
            "Please.",
        ),
        mail(
            "customer@example.com",
            "support@example.com",
            "Refund for order 9",
            "<a3@example.com>",
            "Please refund.",
        ),
    ];
    for m in &billing {
        desk.dovecot.append("billing", "INBOX", m).await;
    }
    // The abuse folder of [imap]'s account, and its INBOX.
    desk.dovecot
        .append(
            "support",
            "Abuse",
            &mail(
                "customer2@example.com",
                "support@example.com",
                "Spam from your network",
                "<a4@example.com>",
                "See headers.",
            ),
        )
        .await;
    desk.deliver(&mail(
        "customer2@example.com",
        "support@example.com",
        "Site down",
        "<a5@example.com>",
        "500 errors.",
    ))
    .await;

    assert!(
        desk.dovecot
            .wait_count("billing", "Processed", 3, WAIT)
            .await,
        "{}",
        desk.log()
    );
    assert!(
        desk.dovecot
            .wait_count("support", "Processed", 2, WAIT)
            .await,
        "{}",
        desk.log()
    );
    desk.settle().await;

    let tickets = desk.tickets();
    let ids: BTreeSet<String> = tickets
        .iter()
        .map(|t| desk.ticket(t["id"].as_u64().unwrap()))
        .map(|t| {
            t["messages"][0]["message_id"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(tickets.len(), 5, "{tickets:#?}\n{}", desk.log());
    assert_eq!(ids.len(), 5, "one ticket per mail: {ids:?}");
    let by_subject = |s: &str| {
        tickets
            .iter()
            .find(|t| t["subject"].as_str() == Some(s))
            .map(queue_of)
            .unwrap_or_else(|| panic!("no ticket {s}: {tickets:#?}"))
    };
    assert_eq!(by_subject("Invoice wrong"), "billing");
    assert_eq!(by_subject("Need a copy of invoice 7"), "invoices");
    // The server delivered it to billing's mailbox: that beats the address.
    assert_eq!(by_subject("Refund for order 9"), "billing");
    assert_eq!(by_subject("Spam from your network"), "abuse");
    // The first queue is stored as "" (as before queues).
    assert_eq!(by_subject("Site down"), "");

    // Acknowledgements: three to customer (from billing@ twice, invoices@ once), two to
    // customer2.
    let acks = desk.mailbox("customer", 3).await;
    let froms: BTreeSet<_> = acks.iter().map(|m| m.from.address.clone()).collect();
    assert!(froms.contains("billing@example.com"), "{froms:?}");
    assert!(froms.contains("invoices@example.com"), "{froms:?}");
    desk.mailbox("customer2", 2).await;

    // /healthz: 503 naming the broken account (and only it), the others connected.
    let (code, _, body) = http_get(daemon_port, "/healthz").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 503, "{body}");
    let reasons: Vec<&str> = v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r.as_str())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("sales@127.0.0.1/INBOX") && r.contains("not connected")),
        "{body}"
    );
    assert!(
        !reasons.iter().any(|r| r.contains("billing@127.0.0.1")),
        "{body}"
    );
    assert!(!body.contains("not-the-password"), "{body}");
    let accounts = v["accounts"].as_array().unwrap();
    let names: Vec<&str> = accounts
        .iter()
        .map(|a| a["account"].as_str().unwrap())
        .collect();
    // billing and invoices share one account and mailbox: one task.
    assert_eq!(
        names,
        [
            "support@127.0.0.1/INBOX",
            "support@127.0.0.1/Abuse",
            "billing@127.0.0.1/INBOX",
            "sales@127.0.0.1/INBOX"
        ],
        "{body}"
    );
    assert_eq!(
        accounts[2]["queues"],
        serde_json::json!(["billing", "invoices"])
    );
    for a in &accounts[..3] {
        assert_eq!(a["connected"], true, "{body}");
    }
    assert_eq!(accounts[3]["connected"], false, "{body}");
    assert!(accounts[3]["last_error"].as_str().is_some(), "{body}");

    // status: both kinds of account, with the broken one's error.
    let st = cli_json(&desk.config, &["status", "--json"]);
    let acc = st["ingest"]["accounts"].as_array().unwrap();
    assert_eq!(acc.len(), 4, "{st:#}");
    assert_eq!(acc[3]["connected"], false, "{st:#}");
    let text = cli_ok(&desk.config, &["status"]);
    assert!(text.contains("sales@127.0.0.1/INBOX"), "{text}");

    // /metrics: per account, and the unlabelled sums as before.
    let m = metrics(daemon_port);
    assert_eq!(
        sample(
            &m,
            "supportd_account_connected",
            &["account=\"sales@127.0.0.1/INBOX\""]
        ),
        0.0
    );
    assert_eq!(
        sample(
            &m,
            "supportd_account_mails_stored_total",
            &["queues=\"billing,invoices\""]
        ),
        3.0
    );
    assert_eq!(sample(&m, "supportd_mails_stored_total", &[]), 5.0);
    // Tickets by queue as the store holds them (the first queue's are stored without a name),
    // and every acknowledgement sent so far counted for its ticket's queue.
    let mut sent = 0.0;
    for q in ["support", "abuse", "billing", "invoices", "sales"] {
        let want = tickets
            .iter()
            .filter(|t| {
                t["queue"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("support")
                    == q
            })
            .count();
        let label = format!("queue=\"{q}\"");
        assert_eq!(
            sample(&m, "supportd_queue_tickets", &[&label]),
            want as f64,
            "{q}: {m}"
        );
        sent += sample(&m, "supportd_queue_outbox_sent_total", &[&label]);
    }
    assert!(
        sample(
            &m,
            "supportd_queue_outbox_sent_total",
            &["queue=\"billing\""]
        ) >= 1.0,
        "{m}"
    );
    assert_eq!(sent, sample(&m, "supportd_outbox_sent_total", &[]), "{m}");

    // A follow-up of the default queue's ticket that lands in billing's mailbox stays in its
    // ticket's queue (the mailbox only decides for new tickets).
    let site_down = tickets
        .iter()
        .find(|t| t["subject"].as_str() == Some("Site down"))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    desk.dovecot
        .append(
            "billing",
            "INBOX",
            &mail_with(
                "customer2@example.com",
                "support@example.com",
                "Re: Site down",
                "<a7@example.com>",
                &[
                    ("In-Reply-To", "<a5@example.com>"),
                    ("References", "<a5@example.com>"),
                ],
                "Still down.",
            ),
        )
        .await;
    assert!(
        desk.dovecot
            .wait_count("billing", "Processed", 4, WAIT)
            .await,
        "{}",
        desk.log()
    );
    let t = desk.ticket(site_down);
    assert_eq!(t["messages"].as_array().unwrap().len(), 2, "{t:#}");
    assert_eq!(queue_of(&t), "", "{t:#}");

    // The daemon is still up and ingesting.
    desk.dovecot
        .append(
            "billing",
            "INBOX",
            &mail(
                "customer@example.com",
                "billing@example.com",
                "Another invoice",
                "<a6@example.com>",
                "Again.",
            ),
        )
        .await;
    assert!(
        desk.dovecot
            .wait_count("billing", "Processed", 5, WAIT)
            .await,
        "{}",
        desk.log()
    );
    assert_eq!(desk.tickets().len(), 6);
    desk.stop();
}
