//! supportd: turns a support mailbox into a helpdesk.
//!
//! A pure core inside an I/O shell, in layers. Each layer imports only the layers above it in
//! this list; `tests/layers.rs` checks that, and that no two modules import each other, and
//! `.clippy.toml` with a `#![deny]` in each core root keeps the core away from the disk, the
//! network, the environment and the clock.
//!
//! The core (no I/O; *now* is a parameter):
//! - [`mail`]: mail as it arrives. [`mail::parse`] (raw bytes → [`mail::inbound::Inbound`], by
//!   headers, body, attachments and machine signals), `quote` (quoted history), `subject`
//!   (prefixes and our `[SUP-123]` tags), `msgid` (signed Message-IDs and reply addresses),
//!   [`mail::mailbox`], `header` (header hygiene for what we write).
//! - [`domain`]: the records and the rules that need no configuration beyond their own:
//!   [`domain::ticket`], [`domain::message`], [`domain::outbox`], [`domain::status`],
//!   [`domain::priority`], [`domain::calendar`] (business time), [`domain::customer`] (customer
//!   IDs, the directory), `survey` (reading a satisfaction answer), `problem` (a configuration
//!   mistake by key) and [`domain::sla`]: targets, policy, classification, the escalation
//!   `ladder`, the ticket's `clocks`, routing.
//! - [`config`]: the operator's configuration, typed (`sections`) and validated (`parse`) over
//!   text plus the facts the shell hands in (`facts`); [`config::sample`] for benchmarks and tests.
//! - [`desk`]: what a mail (`accept`), an agent's mail (`agent`: proof, assignment,
//!   notification, reply, relay; `commands`), a status change (`status`) or an SLA step
//!   (`escalate`) does to a ticket; `threading` (where a reply is matched to a ticket);
//!   [`desk::outbound`] (what we write, and whether we may); `report` (SLA figures).
//!
//! The shell:
//! - [`io`]: the outside world's adapters: `imap` (where we talk IMAP), [`io::store`] (sled,
//!   fsync), `smtp`, `http` (the `/healthz` listener), `systemd` (sd_notify), `files` (reading
//!   the configuration, templates and directory), `compact`.
//! - [`service`]: the running daemon: `daemon` (start, main loop, stop), `tasks` (supervision),
//!   `shutdown`, `ingest` (the IMAP loop), [`service::intake`] (the mail use case), `sender`
//!   (the outbox), [`service::scheduler`] (the SLA sweep), `settings` (SIGHUP reload), `control`
//!   (the CLI's socket), `requests`/`actions`/`views` (what the CLI may ask), `health`,
//!   `metrics`.
//! - [`cli`]: the command line (`args`, `commands`, `query`, `print`) and the benchmarks
//!   ([`cli::bench`], `sweep_bench`).
//!
//! Almost everything is `pub(crate)`. What is `pub` is what `tests/` and `examples/bench.rs`
//! use: the records, [`config::Config::load`], [`config::sample`], [`io::store::Store`],
//! [`service::intake::ingest_raw_with`], the scheduler's sweep, [`cli::main`] and [`cli::bench`].

#![warn(missing_docs)]
// An application, not a library: its documentation is read with private items
// (`cargo doc --document-private-items`, as scripts/test builds it), where these links resolve.
#![allow(rustdoc::private_intra_doc_links)]

pub mod cli;
pub mod config;
pub mod desk;
pub mod domain;
#[cfg(test)]
mod fixtures;
pub mod io;
pub mod mail;
pub mod service;
