//! supportd: turns a support mailbox into a helpdesk.
//!
//! The crate is a pure *desk core* inside an I/O *shell*:
//!
//! - core (no I/O, time passed in): [`parse`] (raw mail → record), [`quote`] (quoted history),
//!   [`subject`] (prefixes and tags), [`customer`] (who wrote), [`thread`] (which ticket a mail
//!   joins), [`desk`] (what the mail does to the ticket), [`ticket`] (the records), [`report`]
//!   (SLA figures per priority and agent);
//! - shell: [`imap`] (the server connection), [`ingest`] (the mailbox loop), [`store`] (sled),
//!   [`control`] (the CLI's socket to the daemon), [`daemon`] (lifecycle), [`views`] (output).

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
