//! The SLA scheduler against a real store with a simulated clock: each escalation step is
//! enqueued exactly once, also when the daemon restarts between steps.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use supportd::config::Config;
use supportd::config::sample;
use supportd::desk::outbound::templates::Templates;
use supportd::domain::customer::Directory;
use supportd::io::store::Store;
use supportd::service::intake::{Outcome, ingest_raw_with};
use supportd::service::scheduler::{policy_fingerprint, reapply, sweep};

fn config(store: &Path) -> Config {
    config_with(store, "")
}

fn config_with(store: &Path, extra: &str) -> Config {
    sample::scratch(store, extra).unwrap()
}

fn escalations(store: &Store) -> Vec<(String, Vec<String>)> {
    store
        .outbox_list()
        .unwrap()
        .into_iter()
        .filter(|i| i.subject.contains("SLA") || i.subject.contains("update due"))
        .map(|i| (i.subject, i.to))
        .collect()
}

#[test]
fn escalations_fire_once_each_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let config = config(&path);
    let templates = Templates::load(None).unwrap();
    // Tuesday 10:00 Shanghai: business hours.
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let raw = b"From: customer@example.org\r\nTo: support@example.com\r\nSubject: website down\r\nMessage-ID: <down@example.org>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0800\r\n\r\nOur whole site is down, 502 everywhere.\r\n";
    {
        let store = Store::open(&path).unwrap();
        let out = ingest_raw_with(
            &config,
            &store,
            &Directory::default(),
            Some(&templates),
            raw,
            None,
            t0,
        )
        .unwrap();
        assert!(
            matches!(
                out,
                Outcome::Stored {
                    ticket: 1,
                    created: true
                }
            ),
            "{out:?}"
        );
        assert_eq!(store.ticket(1).unwrap().unwrap().priority.to_string(), "P1");
        assert_eq!(store.due_len().unwrap(), 1);
        assert_eq!(
            sweep(&config, None, &store, t0 + Duration::minutes(10)).unwrap(),
            0
        );
        assert_eq!(
            sweep(&config, None, &store, t0 + Duration::minutes(25)).unwrap(),
            1
        );
        assert_eq!(
            sweep(&config, None, &store, t0 + Duration::minutes(26)).unwrap(),
            0
        );
        store.sync_blocking().unwrap();
    }
    // Restart: the due index is rebuilt from the stored clocks.
    let store = Store::open(&path).unwrap();
    assert_eq!(store.due_len().unwrap(), 1);
    assert_eq!(
        sweep(&config, None, &store, t0 + Duration::minutes(31)).unwrap(),
        1
    );
    assert_eq!(
        sweep(&config, None, &store, t0 + Duration::minutes(32)).unwrap(),
        0
    );
    assert_eq!(
        sweep(&config, None, &store, t0 + Duration::minutes(61)).unwrap(),
        1
    );
    let e = escalations(&store);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].0.contains("SLA warning (first response)"), "{e:#?}");
    assert_eq!(e[0].1, ["alice@example.com"]);
    assert!(e[1].0.contains("SLA BREACHED (first response)"), "{e:#?}");
    let mut breach_to = e[1].1.clone();
    breach_to.sort();
    assert_eq!(breach_to, ["alice@example.com", "tess@example.com"]);
    assert!(e[2].0.contains("supervisor informed"), "{e:#?}");
    assert_eq!(e[2].1, ["sue@example.com"]);
    // Resolving stops everything: nothing is due any more.
    let mut t = store.ticket(1).unwrap().unwrap();
    t.status = supportd::domain::status::Status::Resolved;
    t.sla = t.sla.on_status(
        &config.calendar,
        &config.sla,
        t.priority,
        t.status,
        t0 + Duration::minutes(70),
    );
    store.commit_ticket(&t, &[]).unwrap();
    assert_eq!(store.due_len().unwrap(), 0);
    // The census behind /metrics moved the ticket from new to resolved, and agrees after a
    // reopen that rebuilds it from the tickets.
    let resolved = supportd::domain::status::Status::ALL
        .iter()
        .position(|&s| s == supportd::domain::status::Status::Resolved)
        .unwrap();
    let census = store.census();
    assert_eq!(census[0], [0, 0, 0, 0], "no new tickets left");
    assert!(store.active_ticket_ids().unwrap().is_empty());
    assert_eq!(census[resolved], [1, 0, 0, 0], "one resolved P1");
    store.sync_blocking().unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.census(), census);
    assert_eq!(
        sweep(&config, None, &store, t0 + Duration::hours(10)).unwrap(),
        0
    );
}

#[test]
fn changed_targets_apply_to_open_tickets_and_customers_hear_of_escalations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let config = config(&path);
    let templates = Templates::load(None).unwrap();
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let raw = b"From: customer@example.org\r\nTo: support@example.com\r\nSubject: website down\r\nMessage-ID: <down2@example.org>\r\n\r\nOur whole site is down.\r\n";
    let store = Store::open(&path).unwrap();
    ingest_raw_with(
        &config,
        &store,
        &Directory::default(),
        Some(&templates),
        raw,
        None,
        t0,
    )
    .unwrap();
    let due = |s: &Store| {
        s.ticket(1)
            .unwrap()
            .unwrap()
            .sla
            .first_response
            .due_at
            .unwrap()
    };
    assert_eq!(due(&store), t0 + Duration::minutes(30));
    assert_eq!(store.active_ticket_ids().unwrap(), [1]);
    assert_eq!(
        store.applied_sla_policy().unwrap(),
        None,
        "never applied yet"
    );
    assert_eq!(
        reapply(&config, &store, t0).unwrap(),
        0,
        "unchanged: no writes"
    );

    // The operator shortens P1's first response to 10 minutes and reloads.
    let tighter = config_with(&path, "[sla.targets.P1]\nrespond = \"10m\"");
    assert_eq!(reapply(&tighter, &store, t0).unwrap(), 1);
    // Recorded, so a start with these settings skips the walk.
    assert_eq!(
        store.applied_sla_policy().unwrap(),
        Some(policy_fingerprint(&tighter))
    );
    assert_ne!(policy_fingerprint(&tighter), policy_fingerprint(&config));
    assert_eq!(due(&store), t0 + Duration::minutes(10));
    assert_eq!(
        store.next_due_at(),
        Some(t0 + Duration::minutes(8)),
        "warning at 80 %"
    );

    // The breach escalates, and the customer is told (with templates at hand).
    let mails = sweep(
        &tighter,
        Some(&templates),
        &store,
        t0 + Duration::minutes(11),
    )
    .unwrap();
    assert_eq!(
        mails, 2,
        "tier 2 + assignee in one mail, and the customer's notice"
    );
    let notices: Vec<_> = store
        .outbox_list()
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == supportd::domain::outbox::Kind::Escalated)
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].to, ["customer@example.org"]);
    let t = store.ticket(1).unwrap().unwrap();
    assert_eq!(t.escalation, 1);
    assert_eq!(t.escalations.len(), 1);
}
