//! The running daemon.

pub mod actions;
pub mod control;
pub mod daemon;
pub mod health;
pub mod ingest;
pub mod intake;
pub mod metrics;
pub mod requests;
pub mod scheduler;
pub mod sender;
pub mod settings;
pub mod shutdown;
pub mod tasks;
pub mod views;
