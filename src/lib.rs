//! supportd: turns a support mailbox into a helpdesk.
//!
//! The crate is a pure *desk core* inside an I/O *shell*:
//!
//! - core (no I/O, time passed in): [`parse`] (raw mail → record), [`quote`] (quoted history),
//!   [`subject`] (prefixes and tags), [`customer`] (who wrote), [`thread`] (which ticket a mail
//!   joins), [`desk`] (what a mail, a status change or an SLA step does to the ticket),
//!   [`ticket`] (the records), [`outbound`] (what we write and whether we may), [`msgid`] (signed
//!   Message-IDs), [`agent`] (agent proof, notifications, relay), [`command`] (agents'
//!   `#commands`), [`calendar`] (business time), [`sla`] (priorities, clocks, the escalation
//!   ladder), [`report`] (SLA figures per priority and agent), [`config`] (validated settings);
//! - shell: [`imap`] (the server connection), [`ingest`] (the mailbox loop), [`store`] (sled),
//!   [`outbox`] (the SMTP sender), [`scheduler`] (the SLA sweep), [`control`] (the CLI's socket
//!   to the daemon), [`daemon`] (lifecycle), [`settings`] (SIGHUP reload), [`health`]
//!   (`/healthz`, `/metrics`), [`notify`] (systemd), [`views`] (output);
//! - measurement: [`bench`](mod@bench) (ingest against an IMAP server), [`sweep_bench`] (the SLA sweep).

#![warn(missing_docs)]

pub mod agent;
pub mod bench;
pub mod calendar;
pub mod command;
pub mod config;
pub mod control;
pub mod customer;
pub mod daemon;
pub mod desk;
pub mod health;
pub mod imap;
pub mod ingest;
pub mod msgid;
pub mod notify;
pub mod outbound;
pub mod outbox;
pub mod parse;
pub mod quote;
pub mod report;
pub mod scheduler;
pub mod settings;
pub mod sla;
pub mod store;
pub mod subject;
pub mod sweep_bench;
pub mod thread;
pub mod ticket;
pub mod views;
