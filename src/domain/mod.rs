//! Records and pure domain rules.

pub mod calendar;
pub mod customer;
pub mod outbox;
pub mod priority;
pub mod problem;
pub mod sla;
pub mod status;
pub mod ticket;
