//! SIGHUP reload: templates and rules change without dropping the IMAP session; a broken file
//! keeps the running configuration.

mod common;

use std::time::Duration;

use common::*;
use supportd::mail::parse::parse;

fn hup(d: &Daemon) {
    unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
}

async fn wait_log(d: &Daemon, needle: &str, count: usize) {
    let t = std::time::Instant::now();
    while d.log().matches(needle).count() < count {
        assert!(t.elapsed() < WAIT, "no `{needle}` x{count} in\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_templates_and_survives_a_broken_file() {
    let desk = Desk::start(DeskOptions::default());
    let (dovecot, config, daemon) = (&desk.dovecot, &desk.config, desk.daemon());
    let send = |i: u32| {
        mail(
            "customer@example.com",
            "support@example.com",
            &format!("question {i}"),
            &format!("<r{i}@example.com>"),
            "hello",
        )
    };
    dovecot.append("support", "INBOX", &send(1)).await;
    assert!(dovecot.wait_count("customer", "INBOX", 1, WAIT).await);
    wait_log(daemon, "IMAP logged in", 1).await;

    // An operator override of the English acknowledgement, picked up by SIGHUP.
    let tpl = desk.dir().join("templates/en");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        tpl.join("ack.txt"),
        "Subject: {{ ticket.tag }} CUSTOM ACK {{ ticket.subject }}\n\nOur own words for ticket {{ ticket.id }}.\n",
    )
    .unwrap();
    let text = std::fs::read_to_string(config).unwrap().replace(
        "[outbound]\n",
        &format!(
            "[outbound]\ntemplates_dir = {}\n",
            toml_string(&desk.dir().join("templates").to_string_lossy())
        ),
    );
    std::fs::write(config, &text).unwrap();
    hup(daemon);
    wait_log(daemon, "SIGHUP: reloaded", 1).await;
    dovecot.append("support", "INBOX", &send(2)).await;
    assert!(dovecot.wait_count("customer", "INBOX", 2, WAIT).await);
    let mails = dovecot.fetch_all("customer", "INBOX").await;
    let second = parse(&mails[1].1).unwrap();
    assert!(second.subject.contains("CUSTOM ACK"), "{}", second.subject);

    // A broken file: the daemon keeps running on what it had.
    std::fs::write(config, format!("{text}\n[imap\nbroken")).unwrap();
    hup(daemon);
    wait_log(daemon, "reload failed", 1).await;
    dovecot.append("support", "INBOX", &send(3)).await;
    assert!(
        dovecot.wait_count("customer", "INBOX", 3, WAIT).await,
        "{}",
        daemon.log()
    );
    let mails = dovecot.fetch_all("customer", "INBOX").await;
    assert!(parse(&mails[2].1).unwrap().subject.contains("CUSTOM ACK"));
    // One IMAP login for the whole test: reloads never dropped the session.
    assert_eq!(
        daemon.log().matches("IMAP logged in").count(),
        1,
        "{}",
        daemon.log()
    );
}
