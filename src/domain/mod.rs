//! The records the store keeps (tickets, messages, outbox items) and the rules that need nothing
//! but their own written policy: business time, customer identification, survey answers and the
//! SLA (targets, classification, clocks, the escalation ladder, routing). Pure; above `mail`.

#![deny(clippy::disallowed_methods, clippy::disallowed_types)]
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

pub mod calendar;
pub mod customer;
pub mod message;
pub mod outbox;
pub mod priority;
pub(crate) mod problem;
pub mod sla;
pub mod status;
pub(crate) mod survey;
pub mod ticket;
