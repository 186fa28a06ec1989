//! Records and pure domain rules.

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
