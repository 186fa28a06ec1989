//! Tests of the test harness itself (tests/common), not of supportd.

mod common;

use std::time::{Duration, Instant};

use common::{
    DOVECOT_DEFAULT_CAPABILITIES, Dovecot, DovecotOptions, PASSWORD, capabilities_without, mail,
    mail_with,
};

#[tokio::test]
async fn dovecot_starts_and_accepts_logins() {
    let t = Instant::now();
    let d = Dovecot::start();
    eprintln!("dovecot started in {:?}", t.elapsed());

    let ports = [d.imap_port, d.imaps_port, d.lmtp_port];
    assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    assert!(d.log().contains("starting up"), "{}", d.log());
    assert!(d.ca_pem_path().is_file());

    for user in common::USERS {
        let mut s = d.session(user).await;
        s.noop().await.unwrap();
        s.logout().await.unwrap();
    }
    // Wrong password is rejected; `User@Domain` maps to the bare user name.
    assert!(d.try_session("support", "wrong").await.is_err());
    let mut s = d
        .try_session("Support@Example.com", PASSWORD)
        .await
        .unwrap();
    let caps = s.capabilities().await.unwrap();
    for c in ["MOVE", "IDLE", "UIDPLUS"] {
        assert!(caps.has_str(c), "default CAPABILITY lacks {c}");
    }
    s.logout().await.unwrap();
}

#[tokio::test]
async fn append_fetch_roundtrips_bytes_exactly() {
    let d = Dovecot::start();
    let raw = mail_with(
        "Jörg Kunde <customer@example.org>",
        "Example Support <support@example.com>",
        "Drucker druckt nicht — schon wieder, bitte dringend ansehen, danke schön!",
        "roundtrip-1@example.org",
        &[("X-Test", "1")],
        "Hallo,\n.leading dot\n.\n\nGrüße\n",
    );
    d.append("support", "INBOX", &raw).await;
    d.append_with_flags("support", "INBOX", "(\\Seen)", b"Subject: x\r\n\r\ny\r\n")
        .await;
    let got = d.fetch_all("support", "INBOX").await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].1, raw, "stored bytes differ");
    assert!(got[0].0 < got[1].0);
    assert!(!got[0].2.iter().any(|f| f == "\\Seen"), "{:?}", got[0].2);
    assert!(got[1].2.iter().any(|f| f == "\\Seen"), "{:?}", got[1].2);

    // Appending to a missing mailbox creates it; counting a missing one is 0.
    d.append("support", "Processed", &raw).await;
    d.append("support", "Processed", &raw).await; // "already exists" is fine
    assert_eq!(d.count("support", "Processed").await, 2);
    assert_eq!(d.count("support", "Nope").await, 0);
    assert!(
        d.wait_count("support", "INBOX", 2, Duration::from_secs(1))
            .await
    );
    assert!(
        !d.wait_count("support", "INBOX", 3, Duration::from_millis(300))
            .await
    );
    assert!(d.list("support").await.contains(&"Processed".to_string()));
    // Other users' mailboxes are separate.
    assert_eq!(d.count("customer", "INBOX").await, 0);

    // Append rate: one connection, 200 messages.
    let msgs: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            mail(
                "a@example.org",
                "support@example.com",
                "bulk",
                &format!("bulk-{i}@x"),
                "x",
            )
        })
        .collect();
    let t = Instant::now();
    d.append_many("support", "Bulk", &msgs).await;
    let el = t.elapsed();
    eprintln!(
        "append_many: 200 msgs in {el:?} ({:.0}/s)",
        200.0 / el.as_secs_f64()
    );
    let t = Instant::now();
    for m in msgs.iter().take(20) {
        d.append("support", "Bulk2", m).await;
    }
    eprintln!("append (connect+login each): 20 msgs in {:?}", t.elapsed());
    assert_eq!(d.count("support", "Bulk").await, 200);
}

#[tokio::test]
async fn tls_login_on_imaps_with_test_ca() {
    use tokio_rustls::TlsConnector;

    let d = Dovecot::start();
    let config = common::tls_client_config(&d.ca_pem_path());
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", d.imaps_port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(config).connect(name, tcp).await.unwrap();
    let mut client = async_imap::Client::new(tls);
    let greeting = client.read_response().await.unwrap().expect("greeting");
    assert!(
        format!("{:?}", greeting.parsed()).contains("Ok"),
        "{:?}",
        greeting.parsed()
    );
    let mut s = client
        .login("support", PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    s.noop().await.unwrap();
    s.logout().await.unwrap();

    // The helper does the same; IP SAN works too.
    let mut s = d.tls_session("agent1").await;
    s.select("INBOX").await.unwrap();
    s.logout().await.unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", d.imaps_port))
        .await
        .unwrap();
    let ip = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    TlsConnector::from(common::tls_client_config(&d.ca_pem_path()))
        .connect(ip, tcp)
        .await
        .expect("IP SAN");

    // A different CA is rejected.
    let other = Dovecot::start();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", d.imaps_port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let res = TlsConnector::from(common::tls_client_config(&other.ca_pem_path()))
        .connect(name, tcp)
        .await;
    assert!(res.is_err(), "certificate from another CA was accepted");
}

#[tokio::test]
async fn lmtp_delivery_lands_in_inbox() {
    let d = Dovecot::start();
    let raw = mail(
        "customer@example.org",
        "support@example.com",
        "Help über LMTP",
        "lmtp-1@example.org",
        "line one\n.starts with a dot\n.\nlast\n",
    );
    d.lmtp_deliver("support@example.com", &raw);
    d.lmtp_deliver("tier2", &raw);
    d.lmtp_deliver_to(&["Agent1@example.com", "agent2@example.net"], &raw);
    for user in ["support", "tier2", "agent1", "agent2"] {
        let got = d.fetch_all(user, "INBOX").await;
        assert_eq!(got.len(), 1, "{user}");
        // Dovecot prepends Return-Path/Delivered-To/Received; the rest is ours.
        assert!(
            got[0].1.ends_with(&raw),
            "{user}: {}",
            String::from_utf8_lossy(&got[0].1)
        );
    }
    assert_eq!(d.count("customer", "INBOX").await, 0);

    let err = d
        .try_lmtp_deliver(&["nobody@example.com"], &raw)
        .unwrap_err();
    assert!(err.contains("550"), "{err}");
}

#[tokio::test]
async fn capabilities_option_hides_move() {
    let caps = capabilities_without(&["MOVE"]);
    assert!(!caps.split(' ').any(|c| c == "MOVE"));
    assert_eq!(
        caps.split(' ').count() + 1,
        DOVECOT_DEFAULT_CAPABILITIES.split(' ').count()
    );
    let d = Dovecot::start_with(DovecotOptions {
        capabilities: Some(caps),
        ..Default::default()
    });
    let mut s = d.session("support").await;
    let got = s.capabilities().await.unwrap();
    assert!(!got.has_str("MOVE"), "MOVE still advertised");
    assert!(got.has_str("IDLE") && got.has_str("UIDPLUS"));
    s.logout().await.unwrap();

    let d = Dovecot::start_with(DovecotOptions {
        capabilities: Some(capabilities_without(&["IDLE", "UIDPLUS", "MOVE"])),
        ..Default::default()
    });
    let mut s = d.session("support").await;
    let got = s.capabilities().await.unwrap();
    for c in ["IDLE", "UIDPLUS", "MOVE"] {
        assert!(!got.has_str(c), "{c} still advertised");
    }
    s.logout().await.unwrap();
}

#[tokio::test]
async fn recreating_a_mailbox_changes_uidvalidity() {
    let d = Dovecot::start();
    d.create("support", "Processed").await;
    let v1 = d.uidvalidity("support", "Processed").await;
    d.append("support", "Processed", b"Subject: a\r\n\r\nb\r\n")
        .await;
    d.delete("support", "Processed").await;
    assert_eq!(d.count("support", "Processed").await, 0);
    d.create("support", "Processed").await;
    let v2 = d.uidvalidity("support", "Processed").await;
    assert_ne!(v1, v2);
    assert_eq!(d.count("support", "Processed").await, 0);
}

#[tokio::test]
async fn stop_kill_restart_keep_ports_and_mail() {
    let mut d = Dovecot::start();
    d.append("support", "INBOX", b"Subject: a\r\n\r\nb\r\n")
        .await;
    let port = d.imap_port;

    // Graceful stop: open sessions are cut off too, whole group is gone.
    let mut open = d.session("support").await;
    open.select("INBOX").await.unwrap();
    let pgid = d.pid().unwrap();
    let t = Instant::now();
    d.stop();
    eprintln!("graceful stop took {:?}", t.elapsed());
    assert!(!d.is_running());
    assert_eq!(common::live_group_members(pgid), Vec::<u32>::new());
    assert!(open.noop().await.is_err(), "session survived stop()");
    assert!(d.try_session("support", PASSWORD).await.is_err());

    d.restart();
    assert_eq!(d.imap_port, port);
    assert_eq!(d.count("support", "INBOX").await, 1);

    // Crash-like kill.
    let mut open = d.session("support").await;
    open.select("INBOX").await.unwrap();
    let pgid = d.pid().unwrap();
    let t = Instant::now();
    d.kill();
    eprintln!("kill took {:?}", t.elapsed());
    assert_eq!(common::live_group_members(pgid), Vec::<u32>::new());
    assert!(open.noop().await.is_err(), "session survived kill()");
    d.restart();
    assert_eq!(d.count("support", "INBOX").await, 1);
}

#[tokio::test]
async fn idle_sees_new_mail() {
    let d = Dovecot::start();
    let mut s = d.session("support").await;
    s.select("INBOX").await.unwrap();
    let mut idle = s.idle();
    idle.init().await.unwrap();
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(10));
    let t = Instant::now();
    let append = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        d.append("support", "INBOX", b"Subject: a\r\n\r\nb\r\n")
            .await;
    };
    let (res, ()) = tokio::join!(wait, append);
    let res = res.unwrap();
    eprintln!("IDLE woke after {:?}: {res:?}", t.elapsed());
    assert!(
        matches!(res, async_imap::extensions::idle::IdleResponse::NewData(_)),
        "{res:?}"
    );
    let mut s = idle.done().await.unwrap();
    s.logout().await.unwrap();
}

#[test]
fn mail_builder_produces_parseable_utf8_mail() {
    let subject =
        "Ärger mit der Rechnung Nr. 4711 — bitte um Rückruf, es ist wirklich sehr dringend 🙏";
    let raw = mail_with(
        "Kunde <customer@example.org>",
        "support@example.com",
        subject,
        "abc@example.org",
        &[
            ("In-Reply-To", "<prev@example.org>"),
            ("Date", "Mon, 1 Jan 2024 10:00:00 +0000"),
        ],
        "Zeile 1\nZeile 2 ✓\n",
    );
    let text = String::from_utf8(raw.clone()).unwrap();
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "bare LF in {text:?}"
    );
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.is_ascii(), "{head}");
    assert_eq!(body, "Zeile 1\r\nZeile 2 ✓\r\n");
    for line in head.split("\r\n") {
        assert!(line.len() <= 78, "header line too long: {line}");
    }
    assert_eq!(head.matches("Date:").count(), 1);

    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.subject(), Some(subject));
    assert_eq!(msg.message_id(), Some("abc@example.org"));
    assert_eq!(msg.in_reply_to().as_text(), Some("prev@example.org"));
    assert_eq!(msg.body_text(0).unwrap().trim_end(), "Zeile 1\r\nZeile 2 ✓");

    let plain = mail("a@b.c", "d@e.f", "Hello", "", "x");
    let plain = String::from_utf8(plain).unwrap();
    assert!(plain.contains("Subject: Hello\r\n"));
    assert!(!plain.contains("Message-ID"));
    assert_eq!(common::base64(b"Ma"), "TWE=");
    assert_eq!(common::base64(b"Man"), "TWFu");
    assert_eq!(common::base64(b"M"), "TQ==");
}
