//! Intake inside an open ingest batch ([`Store::open_batch`]): the mails of one batch depend on
//! each other (a reply to a ticket opened earlier in it, the same mail twice, the ticket
//! counter), and one failing mail must not cost the others or leave half of itself.

use chrono::Utc;

use crate::desk::accept::Accepted;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::io::store::{Store, StoreError};
use crate::service::intake::{Outcome, ingest_raw_with};

fn mail(n: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: c{n}@example.org\r\nTo: support@example.com\r\nSubject: site {n} down\r\n\
         Message-ID: <m{n}@example.org>\r\n{extra}\r\nOur whole site is down ({n}).\r\n"
    )
    .into_bytes()
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    config: crate::config::Config,
    templates: Templates,
    directory: Directory,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let config = crate::config::sample::scratch(&path, "").unwrap();
        Fixture {
            _dir: dir,
            path,
            config,
            templates: Templates::load(None).unwrap(),
            directory: Directory::default(),
        }
    }

    fn ingest(&self, store: &Store, raw: &[u8]) -> Outcome {
        ingest_raw_with(
            &self.config,
            store,
            &self.directory,
            Some(&self.templates),
            raw,
            None,
            Utc::now(),
        )
        .unwrap()
    }
}

/// A reply to a ticket opened earlier in the same batch joins it, the counter goes on, the same
/// mail twice in a batch is stored once, and nothing is in sled before the batch's sync; after
/// it (and a reopen) everything is.
#[test]
fn mails_of_one_batch_see_each_other() {
    let f = Fixture::new();
    {
        let store = Store::open(&f.path).unwrap();
        let batch = store.open_batch();
        let first = f.ingest(&store, &mail("1", ""));
        assert_eq!(
            first,
            Outcome::Stored {
                ticket: 1,
                created: true
            }
        );
        let reply =
            b"From: c1@example.org\r\nTo: support@example.com\r\nSubject: Re: site 1 down\r\n\
            Message-ID: <m1r@example.org>\r\nIn-Reply-To: <m1@example.org>\r\n\
            References: <m1@example.org>\r\n\r\nStill down.\r\n";
        assert_eq!(
            f.ingest(&store, reply),
            Outcome::Stored {
                ticket: 1,
                created: false
            }
        );
        assert_eq!(
            f.ingest(&store, &mail("1", "")),
            Outcome::Duplicate { ticket: Some(1) }
        );
        assert_eq!(
            f.ingest(&store, &mail("2", "")),
            Outcome::Stored {
                ticket: 2,
                created: true
            }
        );
        assert_eq!(store.staged_mails(), 3);
        // Staged, not in sled yet: a scan does not see it, a point read does.
        assert_eq!(store.ticket_count(), 0);
        assert_eq!(store.ticket(1).unwrap().unwrap().id, 1);
        store.sync_blocking().unwrap();
        assert_eq!(store.staged_mails(), 0);
        assert_eq!(store.ticket_count(), 2);
        drop(batch);
    }
    let store = Store::reopen(&f.path);
    assert_eq!(store.ticket_count(), 2);
    assert_eq!(store.messages(1).unwrap().len(), 2);
    assert_eq!(store.messages(2).unwrap().len(), 1);
    assert_eq!(store.next_ticket_id().unwrap(), 3);
    // The ticket indexes were written in the batch's transaction, the reply's ticket once.
    assert_eq!(store.index_difference().unwrap(), None);
    assert_eq!(store.message_count(), 3);
    // Each new ticket's acknowledgement is in the outbox once, numbered in order.
    let ids: Vec<u64> = store.outbox_list().unwrap().iter().map(|i| i.id).collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(ids, sorted);
    assert!(!ids.is_empty());
}

/// A mail whose commit fails inside a batch (a ticket number taken, a Message-ID stored earlier
/// in the batch) leaves nothing of itself; the mails before and after it are stored.
#[test]
fn a_failing_mail_costs_only_itself() {
    let f = Fixture::new();
    let store = Store::open(&f.path).unwrap();
    let batch = store.open_batch();
    f.ingest(&store, &mail("1", ""));
    // What a forged commit writes: a copy of ticket 1's first mail under a new Message-ID,
    // claiming to open ticket 1 again.
    let ticket = store.ticket(1).unwrap().unwrap();
    let mut message = store.message_at(1, 1).unwrap().unwrap();
    message.message_id = "forged@example.org".into();
    let forged = Accepted {
        ticket: ticket.clone(),
        created: true,
        message: message.clone(),
        effects: Vec::new(),
        outgoing: Vec::new(),
        extra_tickets: Vec::new(),
        learned: vec![("forged@example.org".into(), "FORGED".into())],
    };
    let raw = mail("1", "");
    assert!(matches!(
        store.commit_inbound(&forged, &raw),
        Err(StoreError::Conflict(1))
    ));
    // The same Message-ID as the batch's first mail.
    let mut dup = forged.clone();
    dup.created = false;
    dup.message.message_id = "m1@example.org".into();
    assert!(matches!(
        store.commit_inbound(&dup, &raw),
        Err(StoreError::Duplicate(_))
    ));
    assert_eq!(store.staged_mails(), 1);
    assert_eq!(
        f.ingest(&store, &mail("2", "")),
        Outcome::Stored {
            ticket: 2,
            created: true
        }
    );
    store.sync_blocking().unwrap();
    drop(batch);
    assert_eq!(store.ticket_count(), 2);
    assert_eq!(store.message_location("forged@example.org").unwrap(), None);
    assert_eq!(store.learned_customer("forged@example.org").unwrap(), None);
    assert_eq!(store.messages(1).unwrap().len(), 1);
    assert_eq!(store.next_ticket_id().unwrap(), 3);
}

/// A crash before the batch's sync loses the whole batch and nothing else: reopened, the store
/// has what the previous batch made durable, and the lost mails are ingested again, once.
#[test]
fn a_batch_lost_before_its_sync_is_ingested_again() {
    let f = Fixture::new();
    {
        let store = Store::open(&f.path).unwrap();
        let batch = store.open_batch();
        f.ingest(&store, &mail("1", ""));
        store.sync_blocking().unwrap();
        f.ingest(&store, &mail("2", ""));
        f.ingest(&store, &mail("3", ""));
        // The process dies here: the staged mails never reach sled.
        store.pending_lost_for_test();
        drop(batch);
    }
    let store = Store::reopen(&f.path);
    assert_eq!(store.ticket_count(), 1);
    let _batch = store.open_batch();
    for n in ["2", "3", "2"] {
        f.ingest(&store, &mail(n, ""));
    }
    store.sync_blocking().unwrap();
    assert_eq!(store.ticket_count(), 3);
    assert_eq!(store.next_ticket_id().unwrap(), 4);
}

/// The SLA due index is read from sled, so a ticket staged in an open batch is due only once
/// the batch is written; the scheduler, woken for it while it was staged, is woken once more
/// then, and a ticket the sweep gave up on stays out until its next write.
#[test]
fn a_staged_ticket_falls_due_when_its_batch_is_written() {
    let f = Fixture::new();
    let store = Store::open(&f.path).unwrap();
    let woken = |store: &Store| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_millis(1), store.due_sooner())
                .await
                .is_ok()
        })
    };
    assert_eq!(store.next_due_at(), None);
    let batch = store.open_batch();
    f.ingest(&store, &mail("1", ""));
    assert!(woken(&store), "the staging wakes the scheduler");
    assert!(!woken(&store), "once");
    assert_eq!(store.next_due_at(), None, "not in sled yet");
    store.sync_blocking().unwrap();
    assert!(woken(&store), "the batch's write wakes it again");
    let due = store.ticket(1).unwrap().unwrap().sla.next_due();
    assert!(due.is_some());
    // The index keeps microseconds.
    let micros = |d: Option<chrono::DateTime<Utc>>| d.map(|d| d.timestamp_micros());
    assert_eq!(micros(store.next_due_at()), micros(due));
    let late = due.unwrap() + chrono::Duration::days(365);
    assert_eq!(store.due_tickets(late).unwrap(), vec![1]);
    assert_eq!(store.due_len().unwrap(), 1);
    drop(batch);

    store.forget_due(1);
    assert_eq!(store.next_due_at(), None);
    assert_eq!(store.due_tickets(late).unwrap(), Vec::<u64>::new());
    assert_eq!(store.due_len().unwrap(), 0);
    // A later ticket is the earliest now; the skipped one is passed over, not a stop.
    f.ingest(&store, &mail("2", ""));
    assert_eq!(store.due_tickets(late).unwrap(), vec![2]);
    // Its next write puts ticket 1 back.
    let reply = b"From: c1@example.org\r\nTo: support@example.com\r\nSubject: Re: site 1 down\r\n\
        Message-ID: <m1r@example.org>\r\nIn-Reply-To: <m1@example.org>\r\n\r\nStill down.\r\n";
    f.ingest(&store, reply);
    assert_eq!(store.due_tickets(late).unwrap(), vec![1, 2]);
}
