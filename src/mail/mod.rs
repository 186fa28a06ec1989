//! Mail formats: what arrives (parsing it into one [`inbound::Inbound`] record, stripping quoted
//! history, reading subjects and our tags) and the RFC 5322 details our own mail needs (signed
//! Message-IDs and reply addresses, header hygiene). The bottom layer: it knows no tickets.

#![deny(clippy::disallowed_methods, clippy::disallowed_types)]
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

pub(crate) mod auth_results;
pub(crate) mod autoreply;
pub(crate) mod header;
pub mod inbound;
pub mod mailbox;
pub(crate) mod msgid;
pub mod parse;
pub(crate) mod quote;
pub(crate) mod subject;

/// The reply-text corpus (`tests/mail/replies/`) checked row by row; above `parse` and `quote`,
/// which it runs.
#[cfg(test)]
pub(crate) mod corpus;
