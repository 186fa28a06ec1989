//! The I/O shell's adapters.

pub mod imap;
pub mod store;
pub mod systemd;
