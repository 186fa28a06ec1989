//! Mail as it arrives.

pub mod msgid;
pub mod parse;
pub mod quote;
pub mod subject;
