//! Mail as it arrives.

#![deny(clippy::disallowed_methods, clippy::disallowed_types)]
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

pub(crate) mod header;
pub mod inbound;
pub mod mailbox;
pub(crate) mod msgid;
pub mod parse;
pub(crate) mod quote;
pub(crate) mod subject;
