//! What a desk decision asks the shell to do besides storing the result: for now, log lines.
//! Decisions return them instead of logging, so the core stays a function of its inputs and the
//! shell picks the level and the span.

/// Something the shell must do as a consequence of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A line for the operator's log.
    Log(String),
}
