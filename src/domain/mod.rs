//! Records and pure domain rules.

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
