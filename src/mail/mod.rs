//! Mail as it arrives.

pub mod header;
pub mod inbound;
pub mod mailbox;
pub mod msgid;
pub mod parse;
pub mod quote;
pub mod subject;
