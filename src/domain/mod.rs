//! Records and pure domain rules.

pub mod calendar;
pub mod customer;
pub mod message;
pub mod outbox;
pub mod priority;
pub mod problem;
pub mod sla;
pub mod status;
pub mod survey;
pub mod ticket;
