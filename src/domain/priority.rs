//! A ticket's urgency: a leaf, because the SLA targets, classification and routing are all
//! keyed by it while the ticket record in turn holds the SLA clocks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Urgency, P1 (site down) to P4 (questions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Site down, business stopped.
    P1,
    /// Key function broken.
    P2,
    /// Minor fault.
    P3,
    /// Cosmetic issue or question.
    P4,
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A priority name that is none of P1..P4 (from `#priority` or a configuration rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priority `{0}`; expected P1, P2, P3 or P4")]
pub struct UnknownPriority(pub(crate) String);

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];
}

impl FromStr for Priority {
    type Err = UnknownPriority;
    fn from_str(s: &str) -> Result<Self, UnknownPriority> {
        match s.trim().to_ascii_uppercase().as_str() {
            "P1" => Ok(Priority::P1),
            "P2" => Ok(Priority::P2),
            "P3" => Ok(Priority::P3),
            "P4" => Ok(Priority::P4),
            _ => Err(UnknownPriority(s.to_owned())),
        }
    }
}
