//! LMTP delivery into a [`Dovecot`], as a mail server hands mail to it (with the trace headers
//! Dovecot adds), plus the SMTP/LMTP reply reading and dot-stuffing the SMTP tests share.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::dovecot::Dovecot;

impl Dovecot {
    /// Deliver `raw` via LMTP to one recipient (`support` or
    /// `support@example.com`; the domain is ignored). Panics unless the
    /// recipient is accepted and the message saved. Dovecot prepends
    /// `Return-Path:` / `Delivered-To:` / `Received:` headers; the original
    /// bytes follow unchanged (a final CRLF is added if missing).
    pub fn lmtp_deliver(&self, rcpt_user: &str, raw: &[u8]) {
        self.lmtp_deliver_to(&[rcpt_user], raw);
    }

    /// Deliver to several recipients in one transaction; panics on failure.
    pub fn lmtp_deliver_to(&self, rcpts: &[&str], raw: &[u8]) {
        if let Err(e) = self.try_lmtp_deliver(rcpts, raw) {
            panic!("LMTP delivery to {rcpts:?} failed: {e}\n{}", self.log());
        }
    }

    /// LMTP delivery returning the first failing reply (e.g. an unknown
    /// recipient: `550 5.1.1 ... User doesn't exist`).
    pub fn try_lmtp_deliver(&self, rcpts: &[&str], raw: &[u8]) -> Result<(), String> {
        let stream = TcpStream::connect(("127.0.0.1", self.lmtp_port))
            .map_err(|e| format!("connect LMTP: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);

        expect_reply(&mut r, 220, "greeting")?;
        lmtp_cmd(&mut w, &mut r, "LHLO localhost", 250)?;
        lmtp_cmd(&mut w, &mut r, "MAIL FROM:<>", 250)?;
        for rcpt in rcpts {
            lmtp_cmd(&mut w, &mut r, &format!("RCPT TO:<{rcpt}>"), 250)?;
        }
        lmtp_cmd(&mut w, &mut r, "DATA", 354)?;
        w.write_all(&dot_stuff(raw)).map_err(|e| e.to_string())?;
        w.write_all(b".\r\n").map_err(|e| e.to_string())?;
        // LMTP: one reply per accepted recipient.
        for rcpt in rcpts {
            expect_reply(&mut r, 250, &format!("DATA for {rcpt}"))?;
        }
        let _ = lmtp_cmd(&mut w, &mut r, "QUIT", 221);
        Ok(())
    }
}

fn lmtp_cmd(
    w: &mut TcpStream,
    r: &mut BufReader<TcpStream>,
    cmd: &str,
    want: u16,
) -> Result<String, String> {
    w.write_all(format!("{cmd}\r\n").as_bytes())
        .map_err(|e| format!("{cmd}: {e}"))?;
    expect_reply(r, want, cmd)
}

/// Read one (possibly multi-line) SMTP/LMTP reply and check its code.
fn expect_reply(r: &mut BufReader<TcpStream>, want: u16, what: &str) -> Result<String, String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .map_err(|e| format!("{what}: read reply: {e}"))?;
        if n == 0 {
            return Err(format!("{what}: connection closed; got so far: {text:?}"));
        }
        text.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if code == want {
                return Ok(text);
            }
            return Err(format!("{what}: expected {want}, got {text:?}"));
        }
    }
}

/// Dot-stuff a message for SMTP/LMTP DATA and make sure it ends with CRLF.
pub fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\n") {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}
