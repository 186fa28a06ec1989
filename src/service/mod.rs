//! The running daemon: its tasks (IMAP ingest, the outbox sender, the SLA scheduler, the
//! control socket, health), how they start, are supervised and stop, and the use cases they run
//! (a mail arrives, a CLI request comes in), each turning a desk decision into durable state.

pub(crate) mod accounts;
pub(crate) mod actions;
pub(crate) mod control;
pub(crate) mod daemon;
pub(crate) mod health;
pub(crate) mod identity;
pub(crate) mod ingest;
pub mod intake;
pub(crate) mod metrics;
pub(crate) mod parse_budget;
pub(crate) mod redact;
pub(crate) mod requests;
pub mod scheduler;
pub(crate) mod sender;
pub(crate) mod settings;
pub(crate) mod shutdown;
pub(crate) mod tasks;
pub(crate) mod views;
