//! The running daemon.

pub mod control;
pub mod daemon;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod scheduler;
pub mod sender;
pub mod settings;
pub mod shutdown;
pub mod tasks;
pub mod views;
