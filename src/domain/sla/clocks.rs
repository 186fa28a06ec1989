//! A ticket's three SLA clocks (first response, update, resolution), the events that move them
//! (an agent's reply, a status change, a priority change) and which ladder rungs are due.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::Calendar;
use crate::domain::priority::Priority;
use crate::domain::sla::ladder::{Clock, ClockKind, ClockState, Escalation, Step};
use crate::domain::sla::policy::SlaPolicy;
use crate::domain::status::Status;

/// The three SLA clocks of a ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Clocks {
    /// Until the first agent reply.
    pub first_response: Clock,
    /// Until the next customer-visible update.
    pub(crate) update: Clock,
    pub(crate) resolution: Clock,
}

impl Clocks {
    /// Clocks of a ticket created at `created_at`: first response and resolution running; the
    /// update clock starts with the first agent reply.
    pub fn start(
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        created_at: DateTime<Utc>,
    ) -> Clocks {
        let mut c = Clocks::default();
        for kind in [ClockKind::FirstResponse, ClockKind::Resolution] {
            let clock = c.clock_mut(kind);
            clock.restart(created_at);
            clock.reschedule(kind, cal, sla, priority);
        }
        c
    }

    /// One clock.
    pub(crate) fn clock(&self, kind: ClockKind) -> &Clock {
        match kind {
            ClockKind::FirstResponse => &self.first_response,
            ClockKind::Update => &self.update,
            ClockKind::Resolution => &self.resolution,
        }
    }

    fn clock_mut(&mut self, kind: ClockKind) -> &mut Clock {
        match kind {
            ClockKind::FirstResponse => &mut self.first_response,
            ClockKind::Update => &mut self.update,
            ClockKind::Resolution => &mut self.resolution,
        }
    }

    /// True while the ticket is pending (the clocks are paused).
    pub(crate) fn is_pending(&self) -> bool {
        self.resolution.state() == ClockState::Paused
    }

    /// True while the ticket is resolved or closed.
    pub(crate) fn is_resolved(&self) -> bool {
        self.resolution.state() == ClockState::Stopped
    }

    /// An agent replied to the customer: stops the first-response clock (the first time) and,
    /// being customer-visible, restarts the update clock.
    pub fn on_agent_reply(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        c.first_response.stop(now, cal);
        c.restart_update(cal, sla, priority, now);
        c
    }

    /// The customer was told something by a person (a reply, a public note, a progress mail an
    /// agent triggered): restarts the update clock. Not for automatic acknowledgements, which
    /// would otherwise keep the clock from ever falling due.
    pub(crate) fn on_customer_visible_update(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        c.restart_update(cal, sla, priority, now);
        c
    }

    /// The ticket's status changed to `status`:
    /// - `pending` pauses every running clock;
    /// - `new`/`open` from pending resumes them, moving their due times by the paused time;
    /// - `resolved`/`closed` stops every clock (resolving also ends the wait for a first response);
    /// - any active status after `resolved`/`closed` reopens: the resolution clock restarts with
    ///   a full target (a new cycle, so its ladder can fire again) and so does the update clock.
    ///
    /// The previous status is read from the clocks, so repeating an event changes nothing.
    pub fn on_status(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        status: Status,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        if c.resolution.state() == ClockState::Idle {
            return c;
        }
        match status {
            Status::Resolved | Status::Closed => {
                for kind in ClockKind::ALL {
                    c.clock_mut(kind).stop(now, cal);
                }
            }
            Status::New | Status::Open | Status::Pending => {
                if c.is_resolved() {
                    let r = &mut c.resolution;
                    r.restart(now);
                    r.reschedule(ClockKind::Resolution, cal, sla, priority);
                    c.restart_update(cal, sla, priority, now);
                } else {
                    for kind in ClockKind::ALL {
                        let clock = c.clock_mut(kind);
                        if clock.resume(now, cal) {
                            clock.reschedule(kind, cal, sla, priority);
                        }
                    }
                }
                if status == Status::Pending {
                    for kind in ClockKind::ALL {
                        c.clock_mut(kind).pause(now);
                    }
                }
            }
        }
        c
    }

    /// The priority changed to `priority`: every clock's due times are recomputed from its start
    /// with the new targets, keeping the paused time and the fired steps (a step fires once per
    /// cycle whatever the priority). An update clock appears (from `now`, if the first response
    /// was given) or disappears with the new priority's update target. Also the way to apply a
    /// changed calendar or `[sla]` to stored clocks: call it with the unchanged priority.
    pub(crate) fn on_priority_change(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        if c.resolution.state() == ClockState::Idle {
            return c;
        }
        for kind in [ClockKind::FirstResponse, ClockKind::Resolution] {
            c.clock_mut(kind).reschedule(kind, cal, sla, priority);
        }
        let has_update = sla.targets(priority).update.is_some();
        match (has_update, c.update.state()) {
            (true, ClockState::Running | ClockState::Paused) => {
                c.update.reschedule(ClockKind::Update, cal, sla, priority)
            }
            (true, ClockState::Idle) if c.first_response.state() == ClockState::Stopped => {
                c.restart_update(cal, sla, priority, now)
            }
            (false, ClockState::Running | ClockState::Paused) => c.update.clear(),
            _ => {}
        }
        c
    }

    fn restart_update(
        &mut self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) {
        let active = matches!(
            self.resolution.state(),
            ClockState::Running | ClockState::Paused
        );
        if !active || sla.targets(priority).update.is_none() {
            return;
        }
        let pending = self.is_pending();
        self.update.restart(now);
        if pending {
            self.update.paused_since = Some(now);
        }
        self.update
            .reschedule(ClockKind::Update, cal, sla, priority);
    }

    /// Steps due at `now` and not yet fired, oldest first. Paused and stopped clocks fire
    /// nothing. A warning is left out when its clock's breach is due too;
    /// marking the breach marks it.
    pub(crate) fn due_steps(&self, now: DateTime<Utc>) -> Vec<Escalation> {
        let mut out = Vec::new();
        for kind in ClockKind::ALL {
            let c = self.clock(kind);
            if c.state() != ClockState::Running {
                continue;
            }
            let due: Vec<(Step, DateTime<Utc>)> = c
                .schedule
                .iter()
                .filter(|&(s, at)| !c.fired.contains(s) && *at <= now)
                .map(|(s, at)| (*s, *at))
                .collect();
            let breach_due = due.iter().any(|(s, _)| *s == Step::Breach);
            for (step, at) in due {
                if step == Step::Warning && breach_due {
                    continue;
                }
                out.push(Escalation {
                    clock: kind,
                    cycle: c.cycle,
                    step,
                    at,
                });
            }
        }
        out.sort_by_key(|e| (e.at, e.clock, e.step));
        out
    }

    /// Records that `esc` was sent. A breach also marks its warning. An escalation of an earlier
    /// cycle (the clock restarted since) changes nothing.
    pub(crate) fn mark_fired(&self, esc: &Escalation) -> Clocks {
        let mut c = self.clone();
        let clock = c.clock_mut(esc.clock);
        if clock.cycle == esc.cycle {
            clock.fired.insert(esc.step);
            if esc.step == Step::Breach {
                clock.fired.insert(Step::Warning);
            }
        }
        c
    }

    /// The earliest instant at which [`Clocks::due_steps`] will return something, for indexing
    /// tickets by their next due time; `None` when nothing can fall due until another event.
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        ClockKind::ALL
            .into_iter()
            .map(|k| self.clock(k))
            .filter(|c| c.state() == ClockState::Running)
            .flat_map(|c| {
                c.schedule
                    .iter()
                    .filter(|&(s, _)| !c.fired.contains(s))
                    .map(|(_, at)| *at)
            })
            .min()
    }
}
