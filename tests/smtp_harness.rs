//! Tests of the SMTP test harness (tests/common `Smtp`, tests/smtp/relay.py),
//! not of supportd: a real aiosmtpd relay delivering into a real Dovecot.

mod common;

use std::time::{Duration, Instant};

use common::{Dovecot, PASSWORD, Smtp, SmtpOptions, dot_stuff, mail, smtp_config};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

// ----------------------------------------------------------------------
// A tiny hand-written SMTP client (no lettre: the harness must be checked
// independently of the client under test).
// ----------------------------------------------------------------------

/// One SMTP reply: code and full text (all lines).
#[derive(Debug)]
struct Reply {
    code: u16,
    text: String,
}

struct Client<S> {
    s: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    fn new(s: S) -> Self {
        Client {
            s: BufReader::new(s),
        }
    }

    async fn reply(&mut self) -> Reply {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(20), self.s.read_line(&mut line))
                .await
                .expect("SMTP reply timed out")
                .expect("read SMTP reply");
            assert!(n > 0, "SMTP connection closed; got so far: {text:?}");
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                let code = line[..3].parse().expect("SMTP reply code");
                return Reply { code, text };
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> Reply {
        self.s
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write SMTP command");
        self.reply().await
    }

    async fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line).await;
        assert_eq!(r.code, code, "{line}: {r:?}");
        r
    }

    async fn auth_plain(&mut self, user: &str, pass: &str) -> Reply {
        let token = common::base64(format!("\0{user}\0{pass}").as_bytes());
        self.cmd(&format!("AUTH PLAIN {token}")).await
    }

    /// MAIL, RCPT... (all must be 250), DATA; returns DATA's final reply.
    async fn send(&mut self, from: &str, rcpts: &[&str], raw: &[u8]) -> Reply {
        self.expect(&format!("MAIL FROM:<{from}>"), 250).await;
        for r in rcpts {
            self.expect(&format!("RCPT TO:<{r}>"), 250).await;
        }
        self.data(raw).await
    }

    async fn data(&mut self, raw: &[u8]) -> Reply {
        self.expect("DATA", 354).await;
        let w = self.s.get_mut();
        w.write_all(&dot_stuff(raw)).await.unwrap();
        w.write_all(b".\r\n").await.unwrap();
        self.reply().await
    }
}

/// Connect, read the 220 greeting and EHLO; returns the EHLO reply.
async fn connect_plain(port: u16) -> (Client<TcpStream>, Reply) {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect smtp");
    let mut c = Client::new(tcp);
    let greeting = c.reply().await;
    assert_eq!(greeting.code, 220, "{greeting:?}");
    let ehlo = c.expect("EHLO client.test", 250).await;
    (c, ehlo)
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

async fn tls_handshake(smtp: &Smtp, tcp: TcpStream) -> TlsStream {
    let connector =
        tokio_rustls::TlsConnector::from(common::tls_client_config(&smtp.ca_pem_path()));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake failed: {e}\n{}", smtp.log()))
}

/// Connect, STARTTLS, EHLO again; returns the post-TLS EHLO reply.
async fn connect_starttls(smtp: &Smtp) -> (Client<TlsStream>, Reply) {
    let (mut c, ehlo) = connect_plain(smtp.port).await;
    assert!(ehlo.text.contains("STARTTLS"), "{ehlo:?}");
    c.expect("STARTTLS", 220).await;
    assert!(c.s.buffer().is_empty());
    let tls = tls_handshake(smtp, c.s.into_inner()).await;
    let mut c = Client::new(tls);
    let ehlo = c.expect("EHLO client.test", 250).await;
    (c, ehlo)
}

/// Subjects of all messages in `user`'s INBOX.
async fn inbox_subjects(d: &Dovecot, user: &str) -> Vec<String> {
    d.fetch_all(user, "INBOX")
        .await
        .iter()
        .map(|(_, raw, _)| {
            let m = mail_parser::MessageParser::default()
                .parse(raw)
                .expect("parse delivered mail");
            m.subject().unwrap_or_default().to_string()
        })
        .collect()
}

// ----------------------------------------------------------------------
// Tests
// ----------------------------------------------------------------------

#[tokio::test]
async fn plain_smtp_delivers_into_dovecot_inbox() {
    let d = Dovecot::start();
    let t = Instant::now();
    let smtp = Smtp::start(&d);
    eprintln!("smtp relay started in {:?}", t.elapsed());
    assert_ne!(smtp.port, 0);

    let raw = mail(
        "Example Support <support@example.com>",
        "Kunde <customer@example.com>",
        "Re: Drucker — Ticket SUP-1",
        "ack-1@example.com",
        "Hallo,\n.leading dot stays\n\nGrüße\n",
    );
    let (mut c, ehlo) = connect_plain(smtp.port).await;
    assert!(!ehlo.text.contains("STARTTLS"), "{ehlo:?}");
    assert!(ehlo.text.contains("8BITMIME"), "{ehlo:?}");
    let t = Instant::now();
    let r = c
        .send("support@example.com", &["customer@example.com"], &raw)
        .await;
    eprintln!("one SMTP->LMTP delivery took {:?}", t.elapsed());
    assert_eq!(r.code, 250, "{r:?}\n{}", smtp.log());
    c.expect("QUIT", 221).await;

    // No polling: 250 means it is already in the mailbox.
    let got = d.fetch_all("customer", "INBOX").await;
    assert_eq!(got.len(), 1);
    let stored = &got[0].1;
    assert!(
        stored.ends_with(&raw),
        "original bytes must follow Dovecot's trace headers:\n{}",
        String::from_utf8_lossy(stored)
    );
    let headers = String::from_utf8_lossy(&stored[..stored.len() - raw.len()]).to_string();
    assert!(
        headers.contains("Return-Path: <support@example.com>"),
        "{headers}"
    );
    assert!(
        headers.contains("Delivered-To: customer@example.com"),
        "{headers}"
    );
    // Nobody else got it.
    assert_eq!(d.count("support", "INBOX").await, 0);
    assert_eq!(d.count("customer2", "INBOX").await, 0);

    // smtp_config() is valid TOML with what the lead's [smtp] expects.
    let cfg: toml::Table = smtp_config(&smtp).parse().unwrap();
    let s = cfg["smtp"].as_table().unwrap();
    assert_eq!(s["host"].as_str(), Some("127.0.0.1"));
    assert_eq!(s["port"].as_integer(), Some(i64::from(smtp.port)));
    assert_eq!(s["security"].as_str(), Some("plain"));
    assert!(!s.contains_key("ca_file") && !s.contains_key("username"));
}

#[tokio::test]
async fn multiple_recipients_and_null_sender() {
    let d = Dovecot::start();
    let smtp = Smtp::start(&d);
    let (mut c, _) = connect_plain(smtp.port).await;
    let raw = mail(
        "support@example.com",
        "customer@example.com, customer2@example.com",
        "two",
        "two@example.com",
        "x\n",
    );
    // `Agent1@Example.ORG`: LMTP maps it to user agent1 (%Ln).
    let r = c
        .send(
            "",
            &[
                "customer@example.com",
                "customer2@example.com",
                "Agent1@Example.ORG",
            ],
            &raw,
        )
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    // A second transaction on the same connection.
    let r = c
        .send(
            "support@example.com",
            &["customer@example.com"],
            &mail("a@b", "c@d", "second", "second@example.com", "y\n"),
        )
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    c.expect("QUIT", 221).await;

    assert_eq!(inbox_subjects(&d, "customer").await, ["two", "second"]);
    assert_eq!(inbox_subjects(&d, "customer2").await, ["two"]);
    assert_eq!(inbox_subjects(&d, "agent1").await, ["two"]);
    let got = d.fetch_all("customer2", "INBOX").await;
    assert!(
        String::from_utf8_lossy(&got[0].1).starts_with("Return-Path: <>"),
        "{}",
        String::from_utf8_lossy(&got[0].1)
    );

    let log = smtp.sent_log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["mail_from"], "");
    assert_eq!(
        log[0]["rcpts"],
        serde_json::json!([
            "customer@example.com",
            "customer2@example.com",
            "Agent1@Example.ORG"
        ])
    );
}

#[tokio::test]
async fn starttls_and_auth() {
    let d = Dovecot::start();
    let smtp = Smtp::start_with(
        &d,
        SmtpOptions {
            tls: true,
            auth: Some(("mailer".into(), "s3cret".into())),
            ..Default::default()
        },
    );

    // Before STARTTLS: no AUTH offered; MAIL and AUTH refused (530: TLS
    // required).
    let (mut c, ehlo) = connect_plain(smtp.port).await;
    assert!(ehlo.text.contains("STARTTLS"), "{ehlo:?}");
    assert!(!ehlo.text.contains("AUTH"), "{ehlo:?}");
    let r = c.cmd("MAIL FROM:<support@example.com>").await;
    assert_eq!(r.code, 530, "{r:?}");
    let r = c.auth_plain("mailer", "s3cret").await;
    assert_eq!(r.code, 530, "{r:?}");
    c.expect("QUIT", 221).await;

    // After STARTTLS: AUTH offered; MAIL before AUTH refused; wrong password
    // refused; right password works.
    let (mut c, ehlo) = connect_starttls(&smtp).await;
    assert!(ehlo.text.contains("AUTH LOGIN PLAIN"), "{ehlo:?}");
    assert!(!ehlo.text.contains("STARTTLS"), "{ehlo:?}");
    assert_eq!(c.cmd("MAIL FROM:<support@example.com>").await.code, 530);
    assert_eq!(c.auth_plain("mailer", "wrong").await.code, 535);
    let r = c.auth_plain("mailer", "s3cret").await;
    assert_eq!(r.code, 235, "{r:?}");
    let raw = mail(
        "support@example.com",
        "customer@example.com",
        "over tls",
        "tls-1@example.com",
        "secret stuff\n",
    );
    let r = c
        .send("support@example.com", &["customer@example.com"], &raw)
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    c.expect("QUIT", 221).await;

    // AUTH LOGIN works too.
    let (mut c, _) = connect_starttls(&smtp).await;
    c.expect("AUTH LOGIN", 334).await;
    c.expect(&common::base64(b"mailer"), 334).await;
    c.expect(&common::base64(b"s3cret"), 235).await;
    c.expect("QUIT", 221).await;

    assert_eq!(inbox_subjects(&d, "customer").await, ["over tls"]);
    let log = smtp.sent_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["tls"], true);
    assert_eq!(log[0]["auth_user"], "mailer");

    let cfg: toml::Table = smtp_config(&smtp).parse().unwrap();
    let s = cfg["smtp"].as_table().unwrap();
    assert_eq!(s["host"].as_str(), Some("localhost"));
    assert_eq!(s["security"].as_str(), Some("starttls"));
    assert_eq!(s["username"].as_str(), Some("mailer"));
    assert_eq!(s["password"].as_str(), Some("s3cret"));
    assert_eq!(
        s["ca_file"].as_str().map(std::path::PathBuf::from),
        Some(d.ca_pem_path())
    );
}

#[tokio::test]
async fn implicit_tls_with_auth() {
    let d = Dovecot::start();
    let smtp = Smtp::start_with(
        &d,
        SmtpOptions {
            implicit_tls: true,
            auth: Some(("mailer".into(), PASSWORD.into())),
            ..Default::default()
        },
    );
    let tcp = TcpStream::connect(("127.0.0.1", smtp.port)).await.unwrap();
    let mut c = Client::new(tls_handshake(&smtp, tcp).await);
    assert_eq!(c.reply().await.code, 220);
    let ehlo = c.expect("EHLO client.test", 250).await;
    assert!(!ehlo.text.contains("STARTTLS"), "{ehlo:?}");
    assert!(ehlo.text.contains("AUTH"), "{ehlo:?}");
    assert_eq!(c.auth_plain("mailer", PASSWORD).await.code, 235);
    let raw = mail("a@b", "c@d", "smtps", "smtps@example.com", "z\n");
    let r = c
        .send("support@example.com", &["customer@example.com"], &raw)
        .await;
    assert_eq!(r.code, 250, "{r:?}");
    assert_eq!(inbox_subjects(&d, "customer").await, ["smtps"]);
    assert_eq!(smtp.sent_log()[0]["tls"], true);

    let cfg: toml::Table = smtp_config(&smtp).parse().unwrap();
    assert_eq!(cfg["smtp"]["security"].as_str(), Some("tls"));

    // A plain-text client gets no greeting (the server waits for a TLS
    // ClientHello).
    let mut plain = TcpStream::connect(("127.0.0.1", smtp.port)).await.unwrap();
    let mut buf = [0u8; 16];
    let r = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::io::AsyncReadExt::read(&mut plain, &mut buf),
    )
    .await;
    assert!(r.is_err(), "expected silence, got {r:?}");
}

#[tokio::test]
async fn stop_refuses_connections_and_restart_keeps_port() {
    let d = Dovecot::start();
    let mut smtp = Smtp::start(&d);
    let port = smtp.port;
    let raw1 = mail("a@b", "c@d", "before", "before@example.com", "1\n");
    let (mut c, _) = connect_plain(port).await;
    assert_eq!(c.send("a@b", &["customer"], &raw1).await.code, 250);
    c.expect("QUIT", 221).await;

    // An idle connection is dropped by the stop.
    let (mut idle, _) = connect_plain(port).await;

    let t = Instant::now();
    smtp.stop();
    eprintln!("stop took {:?}", t.elapsed());
    assert!(!smtp.is_running());
    let e = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
    let mut line = String::new();
    let n = tokio::time::timeout(Duration::from_secs(5), idle.s.read_line(&mut line))
        .await
        .expect("idle connection not closed by stop");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?} {line:?}");
    smtp.stop(); // no-op

    let t = Instant::now();
    smtp.restart();
    eprintln!("restart took {:?}", t.elapsed());
    assert_eq!(smtp.port, port);
    let (mut c, _) = connect_plain(port).await;
    let raw2 = mail("a@b", "c@d", "after", "after@example.com", "2\n");
    assert_eq!(c.send("a@b", &["customer"], &raw2).await.code, 250);
    c.expect("QUIT", 221).await;
    assert_eq!(inbox_subjects(&d, "customer").await, ["before", "after"]);
    // The sent log survives restarts.
    assert_eq!(
        smtp.sent_message_ids(),
        ["<before@example.com>", "<after@example.com>"]
    );

    // kill + start_again, and restart while running, work too.
    smtp.kill();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    smtp.start_again();
    smtp.restart();
    assert_eq!(smtp.port, port);
    connect_plain(port).await.0.expect("QUIT", 221).await;
}

#[tokio::test]
async fn fail_rcpt_450_and_unknown_user_550() {
    let d = Dovecot::start();
    let mut smtp = Smtp::start_with(
        &d,
        SmtpOptions {
            fail_rcpt: Some("Customer2@Example.com".into()),
            ..Default::default()
        },
    );
    let (mut c, _) = connect_plain(smtp.port).await;
    c.expect("MAIL FROM:<support@example.com>", 250).await;
    let r = c.cmd("RCPT TO:<customer2@example.com>").await;
    assert_eq!(r.code, 450, "{r:?}");
    assert!(r.text.starts_with("450 4."), "{r:?}");
    let r = c.cmd("RCPT TO:<nobody@example.com>").await;
    assert_eq!(r.code, 550, "{r:?}");
    assert!(r.text.contains("5.1.1"), "{r:?}");
    c.expect("RCPT TO:<customer@example.com>", 250).await;
    let raw = mail("a@b", "c@d", "partial", "partial@example.com", "p\n");
    let r = c.data(&raw).await;
    assert_eq!(r.code, 250, "{r:?}");

    // All recipients refused: DATA is refused (503, no valid RCPT).
    c.expect("MAIL FROM:<support@example.com>", 250).await;
    assert_eq!(c.cmd("RCPT TO:<nobody@example.com>").await.code, 550);
    assert_eq!(c.cmd("DATA").await.code, 503);
    c.expect("QUIT", 221).await;

    assert_eq!(inbox_subjects(&d, "customer").await, ["partial"]);
    assert_eq!(d.count("customer2", "INBOX").await, 0);
    let log = smtp.sent_log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["rcpts"], serde_json::json!(["customer@example.com"]));

    // The recipient "comes back" after a restart without fail_rcpt.
    smtp.restart_with(SmtpOptions::default());
    let (mut c, _) = connect_plain(smtp.port).await;
    let raw = mail("a@b", "c@d", "retry", "retry@example.com", "r\n");
    assert_eq!(
        c.send("a@b", &["customer2@example.com"], &raw).await.code,
        250
    );
    assert_eq!(inbox_subjects(&d, "customer2").await, ["retry"]);
}

#[tokio::test]
async fn lmtp_down_gives_451() {
    let mut d = Dovecot::start();
    let smtp = Smtp::start(&d);
    d.stop();
    let (mut c, _) = connect_plain(smtp.port).await;
    c.expect("MAIL FROM:<a@b>", 250).await;
    let r = c.cmd("RCPT TO:<customer@example.com>").await;
    assert_eq!(r.code, 451, "{r:?}");
    c.expect("QUIT", 221).await;
    assert!(smtp.sent_log().is_empty());
}

#[tokio::test]
async fn sent_log_records_message_ids() {
    let d = Dovecot::start();
    let smtp = Smtp::start(&d);
    assert!(smtp.sent_log().is_empty());
    let (mut c, _) = connect_plain(smtp.port).await;
    for i in 0..3 {
        let raw = mail(
            "support@example.com",
            "customer@example.com",
            &format!("Ticket SUP-{i}: Bestätigung"),
            &format!("ack-{i}@supportd.example"),
            "thanks\n",
        );
        let r = c
            .send("support@example.com", &["customer@example.com"], &raw)
            .await;
        assert_eq!(r.code, 250, "{r:?}");
    }
    // No Message-ID header: logged as null.
    let r = c
        .send(
            "support@example.com",
            &["customer@example.com"],
            &mail("a@b", "c@d", "no id", "", "x\n"),
        )
        .await;
    assert_eq!(r.code, 250);
    c.expect("QUIT", 221).await;

    assert!(smtp.wait_sent(4, Duration::from_secs(1)).await);
    let log = smtp.sent_log();
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(
        smtp.sent_message_ids(),
        [
            "<ack-0@supportd.example>",
            "<ack-1@supportd.example>",
            "<ack-2@supportd.example>"
        ]
    );
    assert_eq!(log[1]["mail_from"], "support@example.com");
    assert_eq!(log[1]["rcpts"], serde_json::json!(["customer@example.com"]));
    assert_eq!(log[1]["subject"], "Ticket SUP-1: Bestätigung");
    assert_eq!(log[1]["tls"], false);
    assert!(log[1]["auth_user"].is_null());
    assert!(log[3]["message_id"].is_null());
    assert!(!smtp.wait_sent(5, Duration::from_millis(100)).await);
}

/// The real client the daemon will use (lettre, tokio + rustls) against the
/// relay: STARTTLS with the test CA, AUTH, and the same with SMTPS.
#[tokio::test]
async fn lettre_talks_to_the_relay() {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let d = Dovecot::start();
    for implicit in [false, true] {
        let smtp = Smtp::start_with(
            &d,
            SmtpOptions {
                tls: !implicit,
                implicit_tls: implicit,
                auth: Some(("mailer".into(), "pw".into())),
                ..Default::default()
            },
        );
        let ca = std::fs::read(smtp.ca_pem_path()).unwrap();
        let params = TlsParameters::builder("localhost".into())
            .add_root_certificate(Certificate::from_pem(&ca).unwrap())
            .build_rustls()
            .unwrap();
        let tls = if implicit {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
            .port(smtp.port)
            .tls(tls)
            .credentials(Credentials::new("mailer".into(), "pw".into()))
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let msg = Message::builder()
            .from("Example Support <support@example.com>".parse().unwrap())
            .to("customer@example.com".parse().unwrap())
            .subject(format!("lettre implicit={implicit}"))
            .message_id(Some(format!("<lettre-{implicit}@supportd.example>")))
            .body("Grüße\n".to_string())
            .unwrap();
        let resp = transport
            .send(msg)
            .await
            .unwrap_or_else(|e| panic!("lettre send failed: {e}\n{}", smtp.log()));
        assert!(resp.is_positive(), "{resp:?}");
        assert_eq!(
            smtp.sent_message_ids(),
            [format!("<lettre-{implicit}@supportd.example>")]
        );
        assert_eq!(smtp.sent_log()[0]["auth_user"], "mailer");
    }
    assert_eq!(
        inbox_subjects(&d, "customer").await,
        ["lettre implicit=false", "lettre implicit=true"]
    );
}
