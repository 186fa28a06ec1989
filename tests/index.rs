//! The store's persistent ticket indexes (by status and queue, by creation time, by due time,
//! the counts) agree with a full read of the tickets after a mixed sequence of writes through
//! every write path a test can reach without servers: ingest (new tickets, replies, a repeated
//! mail, two queues), status and queue changes, SLA steps, a re-applied SLA policy, a reopen.

use chrono::{DateTime, Duration, Utc};
use supportd::config::sample;
use supportd::desk::outbound::templates::Templates;
use supportd::domain::customer::Directory;
use supportd::domain::status::Status;
use supportd::io::store::Store;
use supportd::service::intake::ingest_raw_with;
use supportd::service::scheduler::{reapply, sweep};

const QUEUES: &str = r#"
[[queues]]
name = "support"
addresses = ["support@example.com"]
agents = ["alice"]

[[queues]]
name = "billing"
addresses = ["billing@example.com"]
agents = ["alice"]
"#;

fn mail(i: usize, to: &str, parent: Option<usize>) -> Vec<u8> {
    let (subject, refs) = match parent {
        Some(p) => (
            format!("Re: problem {p}"),
            format!("In-Reply-To: <m{p}@c.example>\r\nReferences: <m{p}@c.example>\r\n"),
        ),
        None => (
            if i.is_multiple_of(3) {
                format!("网站打不开 {i}")
            } else {
                format!("problem {i}")
            },
            String::new(),
        ),
    };
    format!(
        "From: c{}@c.example\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <m{i}@c.example>\r\n{refs}Date: Tue, 24 Nov 2026 10:00:00 +0800\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsite down {i}, urgent\r\n",
        i % 7
    )
    .into_bytes()
}

fn agrees(store: &Store, when: &str) {
    assert_eq!(store.index_difference().unwrap(), None, "{when}");
    // What callers read from it: the census, the active tickets.
    let all: Vec<_> = (1..store.census().iter().flatten().sum::<u64>() + 1)
        .filter_map(|id| store.ticket(id).unwrap())
        .collect();
    let mut census = [[0u64; 4]; 5];
    for t in &all {
        let s = Status::ALL.iter().position(|&s| s == t.status).unwrap();
        census[s][t.priority as usize] += 1;
    }
    assert_eq!(store.census(), census, "{when}");
    let active: Vec<u64> = all
        .iter()
        .filter(|t| matches!(t.status, Status::New | Status::Open | Status::Pending))
        .map(|t| t.id)
        .collect();
    assert_eq!(store.active_ticket_ids().unwrap(), active, "{when}");
}

#[test]
fn the_index_agrees_with_a_full_read_after_mixed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let config = sample::scratch(&path, QUEUES).unwrap();
    let templates = Templates::load(None).unwrap();
    let t0: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let ingest = |store: &Store, raw: &[u8], now| {
        ingest_raw_with(
            &config,
            store,
            &Directory::default(),
            Some(&templates),
            raw,
            None,
            now,
        )
        .unwrap()
    };
    {
        let store = Store::open(&path).unwrap();
        agrees(&store, "empty");
        for i in 0..40usize {
            let to = if i.is_multiple_of(4) {
                "billing@example.com"
            } else {
                "support@example.com"
            };
            let parent = (i % 5 == 4).then(|| i - 3);
            ingest(
                &store,
                &mail(i, to, parent),
                t0 + Duration::minutes(i as i64),
            );
        }
        // Repeated deliveries change nothing.
        for i in [0, 4, 39] {
            ingest(&store, &mail(i, "support@example.com", None), t0);
        }
        assert!(store.ticket_count() >= 25, "{}", store.ticket_count());
        agrees(&store, "after ingest");
        // Status changes, a queue move and a priority change, some twice over.
        for (n, id) in (1..=store.ticket_count() as u64).enumerate() {
            let mut t = store.ticket(id).unwrap().unwrap();
            t.status = Status::ALL[n % 5];
            if n.is_multiple_of(6) {
                t.queue = if t.queue == "billing" { "" } else { "billing" }.into();
            }
            if n.is_multiple_of(7) {
                t.priority = supportd::domain::priority::Priority::P2;
            }
            store.commit_ticket(&t, &[]).unwrap();
            if n.is_multiple_of(3) {
                t.status = Status::Open;
                store.commit_ticket(&t, &[]).unwrap();
            }
        }
        agrees(&store, "after status changes");
        // SLA steps fire over the next hours; a reply to a resolved ticket reopens it.
        for h in 1..6 {
            sweep(&config, Some(&templates), &store, t0 + Duration::hours(h)).unwrap();
        }
        ingest(
            &store,
            &mail(100, "support@example.com", Some(3)),
            t0 + Duration::hours(7),
        );
        agrees(&store, "after SLA steps and a reopening reply");
        store.sync_blocking().unwrap();
    }
    // A reopen reads the index as it was written; another SLA policy rewrites the clocks.
    let store = Store::open(&path).unwrap();
    agrees(&store, "after a reopen");
    let slower = sample::scratch(
        &path,
        &format!("{QUEUES}\n[sla.targets.P3]\nrespond = \"9h\"\n"),
    )
    .unwrap();
    reapply(&slower, &store, t0 + Duration::hours(8)).unwrap();
    agrees(&store, "after a re-applied SLA policy");
    // The scheduler's due index, read from the index, is what it was before.
    let due = (
        store.due_len().unwrap(),
        store.next_due_at().map(|d| d.timestamp_micros()),
    );
    assert!(due.0 > 0);
    store.sync_blocking().unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        (
            store.due_len().unwrap(),
            store.next_due_at().map(|d| d.timestamp_micros())
        ),
        due
    );
    sweep(&slower, None, &store, t0 + Duration::days(3)).unwrap();
    agrees(&store, "after the last SLA steps");
}
