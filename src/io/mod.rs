//! The I/O shell's adapters.

pub(crate) mod compact;
pub(crate) mod files;
pub(crate) mod http;
pub(crate) mod imap;
pub(crate) mod smtp;
pub mod store;
pub(crate) mod systemd;
