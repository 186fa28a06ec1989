//! One address of a mail, as every layer compares and shows it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One mailbox from an address header; `address` is lower-cased so it can be compared directly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Decoded display name, if any.
    pub name: Option<String>,
    /// The address, lower-cased.
    pub address: String,
}

/// `Name <address>`, or the bare address when there is no name: how the CLI, the control socket
/// and agent notifications show a sender.
impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) if !n.is_empty() => write!(f, "{n} <{}>", self.address),
            _ => f.write_str(&self.address),
        }
    }
}
