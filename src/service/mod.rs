//! The running daemon.

pub(crate) mod actions;
pub(crate) mod control;
pub(crate) mod daemon;
pub(crate) mod health;
pub(crate) mod ingest;
pub mod intake;
pub(crate) mod metrics;
pub(crate) mod requests;
pub mod scheduler;
pub(crate) mod sender;
pub(crate) mod settings;
pub(crate) mod shutdown;
pub(crate) mod tasks;
pub(crate) mod views;
