//! The shell's adapters to the outside world, one per thing we talk to: the IMAP server, the
//! store (sled), the SMTP relay, the HTTP listener, systemd, and the operator's files. They know
//! the core's types but make no decisions; the service layer drives them.

pub(crate) mod compact;
pub(crate) mod files;
pub(crate) mod heap;
pub(crate) mod http;
pub(crate) mod imap;
pub(crate) mod smtp;
pub mod store;
pub(crate) mod systemd;
