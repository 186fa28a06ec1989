//! The I/O shell's adapters.

pub mod http;
pub mod imap;
pub mod store;
pub mod systemd;
