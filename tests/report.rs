//! `supportd report` on a store written through the library: the real binary's JSON and text
//! output, `--since` in the calendar's time zone, and a bad `--since`. Needs no servers: the
//! report only reads the store.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use serde_json::{Value, json};
use supportd::config::Config;
use supportd::domain::priority::Priority;
use supportd::domain::sla::clocks::Clocks;
use supportd::domain::status::Status;
use supportd::domain::ticket::{EscalatedBy, EscalationEvent, Satisfaction, Ticket};
use supportd::io::store::Store;
use supportd::mail::mailbox::Mailbox;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn mins(m: i64) -> Duration {
    Duration::minutes(m)
}

/// Drives a ticket's clocks through the same transitions the desk uses, so the report is checked
/// against clocks as the daemon writes them.
struct Builder<'a> {
    config: &'a Config,
    t: Ticket,
}

impl<'a> Builder<'a> {
    fn new(config: &'a Config, id: u64, p: Priority, created: DateTime<Utc>, who: &str) -> Self {
        let t = Ticket {
            id,
            status: Status::New,
            priority: p,
            customer: format!("C{id}"),
            subject: format!("problem {id}"),
            normalized_subject: format!("problem {id}"),
            requester: Mailbox {
                name: None,
                address: format!("c{id}@example.org"),
            },
            participants: vec![format!("c{id}@example.org").into()],
            message_count: 1,
            created_at: created,
            updated_at: created,
            last_customer_message_id: format!("m{id}@example.org"),
            related: None,
            assignee: (!who.is_empty()).then(|| who.to_owned()),
            first_response_at: None,
            resolved_at: None,
            merged_into: None,
            escalation: 0,
            priority_rule: "test".into(),
            sla: Clocks::start(&config.calendar, &config.sla, p, created),
            escalations: Vec::new(),
            satisfaction: None,
            queue: String::new(),
        };
        Builder { config, t }
    }

    fn after(&self, m: i64) -> DateTime<Utc> {
        self.t.created_at + mins(m)
    }

    fn reply(mut self, m: i64) -> Self {
        let now = self.after(m);
        let c = self.config;
        self.t.sla = self
            .t
            .sla
            .on_agent_reply(&c.calendar, &c.sla, self.t.priority, now);
        self.t.first_response_at.get_or_insert(now);
        if self.t.status == Status::New {
            self.t.status = Status::Open;
        }
        self
    }

    fn status(mut self, status: Status, m: i64) -> Self {
        let now = self.after(m);
        let c = self.config;
        self.t.sla = self
            .t
            .sla
            .on_status(&c.calendar, &c.sla, self.t.priority, status, now);
        self.t.status = status;
        if status == Status::Resolved {
            self.t.resolved_at = Some(now);
        }
        self
    }

    fn escalate(mut self, by: EscalatedBy, m: i64) -> Self {
        self.t.escalation += 1;
        self.t.escalations.push(EscalationEvent {
            at: self.after(m),
            level: self.t.escalation,
            by,
            detail: "test".into(),
        });
        self
    }

    fn score(mut self, score: u8) -> Self {
        self.t.satisfaction = Some(Satisfaction {
            score,
            comment: String::new(),
            at: self.t.created_at + Duration::days(1),
        });
        self
    }
}

/// The store of the test: P1..P4, two agents and an unassigned ticket, met and missed targets,
/// escalations, survey answers, one ticket before 2026-01-02 and one merged away.
fn fill(config: &Config) {
    let b = |id, p, created: &str, who| Builder::new(config, id, p, at(created), who);
    let tickets = [
        // Before --since 2026-01-02.
        b(1, Priority::P1, "2025-12-20T02:00:00Z", "alice")
            .reply(10)
            .status(Status::Resolved, 60)
            .escalate(EscalatedBy::Agent, 5)
            .score(1)
            .t,
        // P1 met both, with an hour pending: resolution 150 min wall clock, 90 counted, due 180.
        b(2, Priority::P1, "2026-01-05T02:00:00Z", "alice")
            .reply(20)
            .status(Status::Pending, 30)
            .status(Status::Open, 90)
            .status(Status::Resolved, 150)
            .score(5)
            .t,
        // P1 missed both (45 min of 30, 3 h of 2), escalated by the SLA and the customer.
        b(3, Priority::P1, "2026-01-06T02:00:00Z", "bob")
            .reply(45)
            .escalate(EscalatedBy::Sla, 31)
            .escalate(EscalatedBy::Customer, 60)
            .status(Status::Resolved, 180)
            .status(Status::Closed, 200)
            .score(2)
            .t,
        // P2 answered in time, never resolved: its resolution is long past due, a miss.
        b(4, Priority::P2, "2026-01-07T02:00:00Z", "bob")
            .reply(30)
            .escalate(EscalatedBy::Sla, 481)
            .t,
        // P3 nobody answered: both targets missed, no times.
        b(5, Priority::P3, "2026-01-08T02:00:00Z", "").t,
        // A duplicate merged into ticket 2: left out everywhere.
        {
            let mut t = b(7, Priority::P2, "2026-01-05T03:00:00Z", "alice")
                .escalate(EscalatedBy::Customer, 1)
                .t;
            t.merged_into = Some(2);
            t
        },
        // 2026-01-02 01:00 in Shanghai (the calendar's zone) but still 2026-01-01 in UTC.
        b(8, Priority::P1, "2026-01-01T17:00:00Z", "bob")
            .reply(5)
            .status(Status::Resolved, 30)
            .score(4)
            .t,
    ];
    // P4 created just now: its targets are not due yet, so nothing about it is measured.
    let fresh = Builder::new(config, 6, Priority::P4, Utc::now(), "alice").t;

    let store = Store::open(&config.store.path).unwrap();
    for t in tickets.iter().chain([&fresh]) {
        store.commit_ticket(t, &[]).unwrap();
    }
    store.sync_blocking().unwrap();
}

fn row<'a>(rows: &'a Value, name: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:#}"))
}

#[test]
fn report_per_priority_and_agent_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the IMAP port: the report never connects.
    let path = write_config_raw(dir.path(), &base_config_port(dir.path(), 9));
    let config = Config::load(&path).unwrap();
    fill(&config);

    let r = cli_json(&path, &["report", "--since", "2026-01-02", "--json"]);
    assert_eq!(
        r["since"], "2026-01-01T16:00:00Z",
        "midnight in Asia/Shanghai"
    );
    let names: Vec<&str> = r["by_priority"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["P1", "P2", "P3", "P4"]);

    let all = &r["overall"];
    assert_eq!(all["name"], "all");
    assert_eq!(
        (&all["tickets"], &all["open"], &all["resolved"]),
        (&json!(6), &json!(3), &json!(3))
    );
    // First response: 5, 20, 45 min (P1), 30 min (P2) and the unanswered P3; P4 not yet due.
    assert_eq!(
        all["first_response"],
        json!({"measured": 5, "met": 3, "met_pct": 60.0, "median_secs": 1200, "p90_secs": 2700})
    );
    // Resolution: 30, 90 (pending hour excluded), 180 min; P2 and P3 past due unresolved.
    assert_eq!(
        all["resolution"],
        json!({"measured": 5, "met": 2, "met_pct": 40.0, "median_secs": 5400, "p90_secs": 10800})
    );
    assert_eq!(
        (&all["escalated"], &all["escalations"]),
        (&json!(2), &json!(3))
    );
    assert_eq!(
        all["escalations_by"],
        json!({"sla": 2, "agent": 0, "customer": 1})
    );
    assert_eq!(
        all["satisfaction"],
        json!({"answers": 3, "average": 3.7, "satisfied_pct": 66.7,
               "scores": {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}})
    );

    let p = &r["by_priority"];
    let p1 = row(p, "P1");
    assert_eq!(p1["tickets"], 3);
    assert_eq!(
        p1["first_response"],
        json!({"measured": 3, "met": 2, "met_pct": 66.7, "median_secs": 1200, "p90_secs": 2700})
    );
    assert_eq!(
        p1["resolution"],
        json!({"measured": 3, "met": 2, "met_pct": 66.7, "median_secs": 5400, "p90_secs": 10800})
    );
    let p2 = row(p, "P2");
    assert_eq!(p2["first_response"]["met_pct"], 100.0);
    assert_eq!(
        p2["resolution"],
        json!({"measured": 1, "met": 0, "met_pct": 0.0, "median_secs": null, "p90_secs": null})
    );
    let p3 = row(p, "P3");
    assert_eq!(p3["first_response"]["measured"], 1);
    assert_eq!(p3["first_response"]["met"], 0);
    assert_eq!(p3["first_response"]["median_secs"], Value::Null);
    let p4 = row(p, "P4");
    assert_eq!(p4["tickets"], 1);
    assert_eq!(p4["open"], 1);
    assert_eq!(p4["first_response"]["measured"], 0);
    assert_eq!(p4["first_response"]["met_pct"], Value::Null);
    assert_eq!(p4["satisfaction"]["average"], Value::Null);

    let a = &r["by_agent"];
    let agents: Vec<&str> = a
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["alice", "bob", "(unassigned)"]);
    let alice = row(a, "alice");
    assert_eq!(
        alice["tickets"], 2,
        "ticket 2 and the fresh P4; the merged one is left out"
    );
    assert_eq!(alice["first_response"]["measured"], 1);
    assert_eq!(alice["escalations"], 0);
    let bob = row(a, "bob");
    assert_eq!(bob["tickets"], 3);
    assert_eq!(
        bob["first_response"],
        json!({"measured": 3, "met": 2, "met_pct": 66.7, "median_secs": 1800, "p90_secs": 2700})
    );
    assert_eq!(
        bob["escalations_by"],
        json!({"sla": 2, "agent": 0, "customer": 1})
    );
    assert_eq!(row(a, "(unassigned)")["tickets"], 1);

    // Without --since ticket 1 counts too (merged ticket 7 still does not).
    let r = cli_json(&path, &["report", "--json"]);
    assert_eq!(r["since"], Value::Null);
    assert_eq!(r["overall"]["tickets"], 7);
    assert_eq!(r["overall"]["escalations_by"]["agent"], 1);
    let p1 = row(&r["by_priority"], "P1");
    assert_eq!(p1["first_response"]["met_pct"], 75.0);
    assert_eq!(p1["satisfaction"]["answers"], 4);
    assert_eq!(row(&r["by_agent"], "alice")["tickets"], 3);

    // An RFC 3339 time works as well: from 2026-01-06 10:00 Shanghai on, tickets 3, 4, 5 and 6.
    let r = cli_json(
        &path,
        &["report", "--since", "2026-01-06T10:00:00+08:00", "--json"],
    );
    assert_eq!(r["overall"]["tickets"], 4);

    // Text: a period line, both tables with human durations and `-` for what is unknown.
    let text = cli_ok(&path, &["report", "--since", "2026-01-02"]);
    assert!(
        text.starts_with("SLA report: tickets created since 2026-01-02 00:00 (Asia/Shanghai)"),
        "{text}"
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no line {name}:\n{text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(text.lines().any(|l| l.starts_with("PRIORITY")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("AGENT")), "{text}");
    assert_eq!(
        line("P1"),
        "P1 3 0 3 66.7% 2/3 20m 45m 66.7% 2/3 1h30m 3h 1 1/0/1 3.7 (3) 66.7%"
    );
    assert_eq!(line("P4"), "P4 1 1 0 - - - - - - 0 0/0/0 - -");
    assert_eq!(
        line("all"),
        "all 6 3 3 60% 3/5 20m 45m 40% 2/5 1h30m 3h 2 2/0/1 3.7 (3) 66.7%"
    );
    assert_eq!(
        line("bob"),
        "bob 3 1 2 66.7% 2/3 30m 45m 33.3% 1/3 30m 3h 2 2/0/1 3.0 (2) 50%"
    );
    assert!(line("(unassigned)").starts_with("(unassigned) 1 1 0 0% 0/1 - -"));

    // A bad --since names the option.
    let out = cli(&path, &["report", "--since", "last week"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--since") && err.contains("last week"),
        "{err}"
    );
}
