//! Crash proof: mail keeps arriving while the daemon is SIGKILLed at random moments; afterwards
//! every mail is a message exactly once and every Message-ID belongs to one ticket.
//!
//! `#[ignore]`d in the quick run (it takes ~10 s); `.ci/run` runs ignored tests too.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

const MAILS: usize = 200;
const MIN_KILLS: usize = 10;

/// xorshift64*: enough randomness for kill timing, reproducible from the printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Mail `i`: every third one replies to an earlier mail (from its sender), every 25th has no
/// Message-ID.
fn crash_mail(i: usize) -> (Option<String>, Option<usize>, Vec<u8>) {
    let id = (i % 25 != 7).then(|| format!("crash-{i}@c.example"));
    let parent = (i % 3 == 2 && i >= 3)
        .then(|| i - 2)
        .filter(|p| p % 25 != 7);
    // A reply comes from the parent's sender: only a participant may join by a reference.
    let sender = parent.unwrap_or(i);
    let from = format!("customer{}@c{}.example", sender % 17, sender % 5);
    let subject = format!("问题 {i}: 网站 {} 打不开", i % 11);
    let body = format!("第 {i} 封邮件。\nMail number {i}.\n");
    let raw = match parent {
        Some(p) => mail_with(
            &from,
            "support@example.com",
            &format!("Re: {subject}"),
            id.as_deref().unwrap_or(""),
            &[("In-Reply-To", &format!("<crash-{p}@c.example>"))],
            &body,
        ),
        None => mail(
            &from,
            "support@example.com",
            &subject,
            id.as_deref().unwrap_or(""),
            &body,
        ),
    };
    (id, parent, raw)
}

#[tokio::test]
#[ignore = "slow: crash loop; run by .ci/run"]
async fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dovecot = Dovecot::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dovecot, "");
    let mails: Vec<_> = (0..MAILS).map(crash_mail).collect();

    // Appender: all 200 mails, in order, with jitter, over its own connections.
    let raws: Vec<Vec<u8>> = mails.iter().map(|m| m.2.clone()).collect();
    let appender = {
        let port = dovecot.imap_port;
        let mut rng = Rng(seed.rotate_left(17) | 1);
        let delays: Vec<u64> = (0..MAILS).map(|_| rng.below(25)).collect();
        tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let mut client = async_imap::Client::new(tcp);
            client.read_response().await.unwrap();
            let mut s = client
                .login("support", PASSWORD)
                .await
                .map_err(|e| e.0)
                .unwrap();
            for (raw, d) in raws.iter().zip(delays) {
                s.append("INBOX", None, None, raw).await.unwrap();
                tokio::time::sleep(Duration::from_millis(d)).await;
            }
            s.logout().await.ok();
        })
    };

    let mut kills = 0;
    let started = Instant::now();
    while kills < MIN_KILLS || !appender.is_finished() {
        let mut d = Daemon::spawn(&config);
        tokio::time::sleep(Duration::from_millis(30 + rng.below(400))).await;
        d.kill();
        kills += 1;
        // A safety net against a hung appender, not a speed limit.
        assert!(started.elapsed() < 3 * WAIT, "crash loop took too long");
    }
    appender.await.unwrap();
    eprintln!("{kills} SIGKILLs while appending {MAILS} mails");

    // Let a final daemon drain the inbox.
    let daemon = Daemon::start(&config);
    assert!(
        dovecot
            .wait_count("support", "Processed", MAILS, WAIT)
            .await,
        "processed {} of {MAILS}, inbox {}\n{}",
        dovecot.count("support", "Processed").await,
        dovecot.count("support", "INBOX").await,
        daemon.log()
    );
    assert_eq!(dovecot.count("support", "INBOX").await, 0);
    assert_eq!(dovecot.count("support", "Quarantine").await, 0);

    // Every mail is a message exactly once; every Message-ID is on exactly one ticket.
    let tickets = cli_json(&config, &["tickets", "--all", "--json"]);
    let mut ticket_of: HashMap<String, u64> = HashMap::new();
    let mut total = 0;
    for t in tickets.as_array().unwrap() {
        let id = t["id"].as_u64().unwrap();
        let detail = cli_json(&config, &["ticket", "show", &id.to_string(), "--json"]);
        let msgs = detail["messages"].as_array().unwrap();
        assert_eq!(msgs.len() as u64, t["messages"].as_u64().unwrap());
        for m in msgs {
            total += 1;
            let mid = m["message_id"].as_str().unwrap().to_owned();
            if let Some(other) = ticket_of.insert(mid.clone(), id) {
                panic!("{mid} is on tickets {other} and {id}");
            }
        }
    }
    assert_eq!(total, MAILS, "messages stored");
    for (i, (id, parent, _)) in mails.iter().enumerate() {
        let Some(id) = id else { continue };
        let t = ticket_of
            .get(id)
            .unwrap_or_else(|| panic!("mail {i} <{id}> was lost"));
        if let Some(p) = parent {
            let pt = ticket_of[&format!("crash-{p}@c.example")];
            assert_eq!(*t, pt, "reply {i} not threaded to its parent {p}");
        }
    }
    // Ticket numbers are sequential with no gaps.
    let mut ids: Vec<u64> = tickets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());

    // The ticket indexes are written in the tickets' transactions: after every SIGKILL (the
    // last one too) they agree with a full read of the store.
    let mut daemon = daemon;
    daemon.kill();
    let deadline = Instant::now() + WAIT;
    let store = loop {
        match supportd::io::store::Store::open(&dir.path().join("store")) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                eprintln!("reopening: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(store.index_difference().unwrap(), None);
    assert_eq!(store.ticket_count(), ids.len());
}
