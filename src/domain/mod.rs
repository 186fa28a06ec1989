//! Records and pure domain rules.

pub mod calendar;
pub mod customer;
pub mod sla;
pub mod ticket;
