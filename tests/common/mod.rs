//! The integration-test harness: real servers on 127.0.0.1 and the real `supportd` binary, one set
//! per test, so nothing on the I/O path is mocked and no test sees another's state.
//!
//! One module per thing a test talks to:
//! * `dovecot`: a private Dovecot (IMAP + LMTP) per test; `imap` and `lmtp`: the test's clients
//!   on it; `tls`: the test CA behind its certificates.
//! * `relay`: the SMTP relay (aiosmtpd) delivering into that Dovecot, with a log of what it sent.
//! * `config`: `supportd.toml` pointing at them; `daemon`: the binary as daemon and CLI;
//!   `health`: its HTTP endpoints.
//! * `mail`: mail builders, and mailboxes counted as at-least-once delivery allows.
//! * `desk`: all of it at once, for the tests that need mailboxes ([`Desk`]).
//! * `wait`: the one way a test waits; `ports`: ports no one else takes; `process`: children
//!   that die with their test.
//!
//! Everything is re-exported here, so a test writes `use common::*`.
//!
//! Requirements (installed by `.ci/run`): run as root, `dovecot-imapd`, `dovecot-lmtpd`,
//! `openssl`, aiosmtpd, and a system user `vmail`. Tests never skip: a missing server is a panic.
#![allow(dead_code)]

mod config;
mod daemon;
mod desk;
mod dovecot;
mod health;
mod imap;
mod lmtp;
mod mail;
mod ports;
mod process;
mod relay;
mod tls;
mod wait;

// Each test binary uses a part of it.
#[allow(unused_imports)]
pub use self::{
    config::*, daemon::*, desk::*, dovecot::*, health::*, imap::*, lmtp::*, mail::*, ports::*,
    process::*, relay::*, tls::*, wait::*,
};

use std::path::Path;

/// Read a whole file as (lossy) UTF-8; empty if missing.
pub fn read_lossy(path: &Path) -> String {
    read_since(path, 0)
}

/// What was appended to the file at `path` after its first `offset` bytes (logs shared by the
/// restarts of one server: readiness and errors are judged on the current run's part).
pub fn read_since(path: &Path, offset: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset..).unwrap_or_default()).into_owned()
}
