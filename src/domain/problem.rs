//! A mistake in written configuration, tied to its key.
//!
//! It lives in the domain, below `config`, because the calendar and the SLA policy validate their
//! own written form (`[calendar]`, `[sla]`) and report in these terms; `config` collects their
//! problems with its own into one list, so `check-config` can show every mistake at once.

use std::fmt;

/// One configuration problem, tied to the key that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Dotted key path, e.g. `imap.port`.
    pub(crate) key: String,
    /// What is wrong and, where possible, how to fix it.
    pub(crate) message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}
