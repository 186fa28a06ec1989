//! The daemon's `/healthz` and `/metrics` from the outside: its bound port from the log, a
//! minimal HTTP GET, and Prometheus samples.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::daemon::Daemon;

/// The port the daemon's health listener bound, from its log line.
pub async fn listening_port(daemon: &Daemon) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        let log = daemon.own_log();
        if let Some(line) = log
            .lines()
            .find(|l| l.contains("health and metrics listening"))
            && let Some(addr) = line.split("addr=").nth(1)
            && let Some(port) = addr
                .split_whitespace()
                .next()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| p.parse().ok())
        {
            return port;
        }
        assert!(Instant::now() < deadline, "no listening line in\n{log}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A minimal HTTP/1.1 GET: (status code, headers, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {raw:?}"));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    Ok((code, head.to_owned(), body.to_owned()))
}

/// The value of an unlabelled sample, or the sum over all label sets of `name{…}` samples
/// whose labels contain every `label` given.
pub fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (n, l) = match series.split_once('{') {
            Some((n, l)) => (n, l),
            None => (series, ""),
        };
        if n == name && labels.iter().all(|want| l.contains(want)) {
            found = true;
            sum += value.parse::<f64>().unwrap();
        }
    }
    assert!(found, "no sample {name}{labels:?} in\n{text}");
    sum
}

/// `GET /metrics`, checked to be 200 in the Prometheus text format.
pub fn metrics(port: u16) -> String {
    let (code, head, body) = http_get(port, "/metrics").unwrap();
    assert_eq!(code, 200, "{head}\n{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    body
}
