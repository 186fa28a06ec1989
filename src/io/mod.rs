//! The I/O shell's adapters.

pub mod compact;
pub mod files;
pub mod http;
pub mod imap;
pub mod smtp;
pub mod store;
pub mod systemd;
