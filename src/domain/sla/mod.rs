//! The SLA core: priority targets, classification, the three clocks of a ticket, the escalation
//! ladder and who gets each escalation.
//!
//! Pure: no I/O and no clock. *Now* is always a parameter, every event function takes the
//! ticket's [`Clocks`](clocks::Clocks) and returns new ones, and the shell persists them. Business-hours
//! arithmetic comes from [`crate::domain::calendar`].
//!
//! Where things are: `targets` (how long each priority may take), [`policy`] (`[sla]` as
//! written, and validated), `classify` (a new ticket's priority; a customer asking to escalate),
//! `ladder` (one clock and the rungs of its escalation ladder), [`clocks`] (a ticket's three
//! clocks, the events that move them, which rungs are due), `routing` (who hears of a rung or a
//! notification, in and out of business hours).
//!
//! # Clocks
//! Each ticket has three [`Clock`](ladder::Clock)s:
//! - **first response**: started at creation, stopped by the first agent reply;
//! - **update** (only for priorities with an `update` target, by default P1 and P2): started by the
//!   first agent reply and restarted by every customer-visible update, so it measures the gap
//!   since the customer last heard from us;
//! - **resolution**: started at creation, stopped when the ticket is resolved or closed, and
//!   restarted (a new *cycle*, full target) when it is reopened.
//!
//! While the ticket is pending (waiting for the customer) every running clock is paused. When it
//! leaves pending, the paused time is added to the clock and its due times move later by exactly
//! that much: wall-clock time for 24×7 priorities, business time for business-hours priorities
//! (a pause over a weekend costs a business-hours ticket nothing but the business hours inside
//! it). Both totals are kept, so a priority change between the two kinds stays exact.
//!
//! # Escalation ladder
//! Per clock cycle, each [`Step`](ladder::Step) fires at most once:
//! - first response and resolution: [`Step::Warning`](ladder::Step::Warning) at `warn_at` of the target, [`Step::Breach`](ladder::Step::Breach)
//!   at the due time, [`Step::Supervisor`](ladder::Step::Supervisor) `supervisor_delay` after it;
//! - update: [`Step::UpdateReminder`](ladder::Step::UpdateReminder) at the due time (remind the assignee to send a progress
//!   update), [`Step::Supervisor`](ladder::Step::Supervisor) `supervisor_delay` after it. There is no warning: on a P1 the
//!   cycle is 15 minutes, and a warning every 12 would be noise the reminder already covers.
//!
//! The fired steps live in the clock, and the shell persists them in the same transaction as the
//! mails they cause; that is what makes each step exactly-once across restarts. A warning whose
//! breach is already due (the daemon was down, or the priority was raised) is folded into the
//! breach instead of arriving late next to it.

pub(crate) mod classify;
pub mod clocks;
pub(crate) mod ladder;
pub mod policy;
pub(crate) mod routing;
pub(crate) mod targets;
#[cfg(test)]
mod tests;
