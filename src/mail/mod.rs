//! Mail as it arrives.

pub(crate) mod header;
pub mod inbound;
pub mod mailbox;
pub(crate) mod msgid;
pub mod parse;
pub(crate) mod quote;
pub(crate) mod subject;
