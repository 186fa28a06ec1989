//! The desk core: what a mail, an agent's command, a status change or an SLA step does to a
//! ticket.
//!
//! Plain functions over data. The shell hands in the current ticket (if threading chose one), the
//! parsed mail, what it looked up and *now*; the core returns the new ticket, the records and the
//! mails to enqueue, and log lines. Nothing here touches the network, the disk or the clock, so
//! the rules are tested in microseconds and the shell decides how to make the result durable.

#![deny(clippy::disallowed_methods, clippy::disallowed_types)]
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

pub(crate) mod accept;
pub(crate) mod agent;
pub(crate) mod authenticated;
pub(crate) mod commands;
pub(crate) mod effect;
pub(crate) mod escalate;
pub mod outbound;
pub(crate) mod participants;
pub(crate) mod report;
pub(crate) mod status;
#[cfg(test)]
mod testing;
pub(crate) mod threading;
