//! What we write to customers, and whether we may write at all.
//!
//! Pure functions: given a ticket, the mail that triggered the message, the templates and *now*,
//! build the complete bytes of an outgoing mail ([`compose`]), or explain why nothing may be sent
//! ([`may_answer`]). [`mailer`] ties them to the per-recipient caps; [`templates`] and
//! [`wording`] decide what the mail says.

pub(crate) mod compose;
pub(crate) mod mailer;
pub(crate) mod may_answer;
pub mod templates;
pub(crate) mod wording;
