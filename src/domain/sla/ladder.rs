//! One SLA clock and its escalation ladder: the rungs ([`Step`]) a clock's cycle climbs, when each
//! falls due (computed with the clock's due time, so pauses and priority changes move them
//! together), and which have fired. Each rung fires at most once per cycle; the fired set is
//! stored with the clock, which is what makes a rung exactly-once across restarts.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::Calendar;
use crate::domain::priority::Priority;
use crate::domain::sla::policy::SlaPolicy;

/// Which of a ticket's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClockKind {
    /// Until the first agent reply.
    FirstResponse,
    /// Until the next customer-visible update.
    Update,
    /// Until resolved.
    Resolution,
}

impl ClockKind {
    /// All clocks.
    pub(crate) const ALL: [ClockKind; 3] = [
        ClockKind::FirstResponse,
        ClockKind::Update,
        ClockKind::Resolution,
    ];

    /// Snake-case name, as in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ClockKind::FirstResponse => "first_response",
            ClockKind::Update => "update",
            ClockKind::Resolution => "resolution",
        }
    }
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rung of the escalation ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Step {
    /// `warn_at` of the target has elapsed: tell the assignee.
    Warning,
    /// The target is missed: tell tier 2 and the assignee.
    Breach,
    /// `supervisor_delay` after the breach: tell the supervisor.
    Supervisor,
    /// The update interval is over: remind the assignee to update the customer.
    UpdateReminder,
}

impl Step {
    /// Snake-case name, as in JSON.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Step::Warning => "warning",
            Step::Breach => "breach",
            Step::Supervisor => "supervisor",
            Step::UpdateReminder => "update_reminder",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClockState {
    /// Not started (or no target for this priority).
    Idle,
    /// Counting.
    Running,
    /// Pending: waiting for the customer.
    Paused,
    /// Met or ended.
    Stopped,
}

/// One SLA clock. Serialised with the ticket; every field defaults, so older records load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Clock {
    /// Incremented at every (re)start; [`Escalation::cycle`] names the cycle a step belongs to,
    /// so a step of an old cycle can never be marked on a new one.
    pub(crate) cycle: u32,
    /// Start of the current cycle.
    pub(crate) started_at: Option<DateTime<Utc>>,
    /// When the target falls due, paused time included. While paused: the value at the pause.
    pub due_at: Option<DateTime<Utc>>,
    /// When it stopped (met if not after `due_at`).
    pub(crate) stopped_at: Option<DateTime<Utc>>,
    /// Set while paused (ticket pending).
    pub(crate) paused_since: Option<DateTime<Utc>>,
    /// Wall-clock seconds paused in this cycle (the shift for 24×7 priorities).
    pub(crate) paused_secs: i64,
    /// Business seconds paused in this cycle (the shift for business-hours priorities).
    pub(crate) paused_business_secs: i64,
    /// When each step of the ladder falls due.
    pub(crate) schedule: BTreeMap<Step, DateTime<Utc>>,
    /// Steps already fired in this cycle.
    pub(crate) fired: BTreeSet<Step>,
}

impl Clock {
    /// Where the clock stands.
    pub(crate) fn state(&self) -> ClockState {
        match (self.started_at, self.stopped_at, self.paused_since) {
            (None, _, _) => ClockState::Idle,
            (Some(_), Some(_), _) => ClockState::Stopped,
            (Some(_), None, Some(_)) => ClockState::Paused,
            (Some(_), None, None) => ClockState::Running,
        }
    }

    /// True when the target is missed: due before now (running), before the pause (paused) or
    /// before it stopped.
    pub(crate) fn is_breached(&self, now: DateTime<Utc>) -> bool {
        let Some(due) = self.due_at else {
            return false;
        };
        match self.state() {
            ClockState::Idle => false,
            ClockState::Running => now >= due,
            ClockState::Paused => self.paused_since.is_some_and(|p| p >= due),
            ClockState::Stopped => self.stopped_at.is_some_and(|s| s > due),
        }
    }

    /// Starts a new cycle at `now`; the schedule is computed by [`Clock::reschedule`].
    pub(super) fn restart(&mut self, now: DateTime<Utc>) {
        *self = Clock {
            cycle: self.cycle + 1,
            started_at: Some(now),
            ..Clock::default()
        };
    }

    /// Back to idle, keeping the cycle count so later cycles stay distinct.
    pub(super) fn clear(&mut self) {
        *self = Clock {
            cycle: self.cycle,
            ..Clock::default()
        };
    }

    pub(super) fn pause(&mut self, now: DateTime<Utc>) {
        if self.state() == ClockState::Running {
            self.paused_since = Some(now);
        }
    }

    /// Ends a pause, adding its length in both wall-clock and business time; true if paused.
    pub(super) fn resume(&mut self, now: DateTime<Utc>, cal: &Calendar) -> bool {
        let Some(since) = self.paused_since.take() else {
            return false;
        };
        self.paused_secs += (now - since).num_seconds().max(0);
        self.paused_business_secs += cal.business_between(since, now).num_seconds();
        true
    }

    pub(super) fn stop(&mut self, now: DateTime<Utc>, cal: &Calendar) {
        if matches!(self.state(), ClockState::Running | ClockState::Paused) {
            self.resume(now, cal);
            self.stopped_at = Some(now);
        }
    }

    /// Recomputes `due_at` and the schedule from `started_at` for `priority`, shifting by the
    /// paused time in the priority's kind of time. Fired steps are kept.
    pub(super) fn reschedule(
        &mut self,
        kind: ClockKind,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
    ) {
        let Some(start) = self.started_at else {
            return;
        };
        let t = sla.targets(priority);
        let target = match kind {
            ClockKind::FirstResponse => Some(t.respond),
            ClockKind::Resolution => Some(t.resolve),
            ClockKind::Update => t.update,
        };
        self.schedule.clear();
        let Some(target) = target else {
            self.due_at = None;
            return;
        };
        let business = t.business_hours;
        let add = |at: DateTime<Utc>, d: TimeDelta| {
            if business {
                cal.add_business(at, d)
            } else {
                at + d
            }
        };
        let paused = TimeDelta::seconds(if business {
            self.paused_business_secs
        } else {
            self.paused_secs
        });
        let base_due = target.after(start, business, cal);
        let due = add(base_due, paused);
        let escalate = sla.supervisor_delay.after(due, business, cal);
        if kind == ClockKind::Update {
            self.schedule.insert(Step::UpdateReminder, due);
        } else {
            let length = if business {
                cal.business_between(start, base_due)
            } else {
                base_due - start
            };
            let share =
                TimeDelta::seconds((length.num_seconds() as f64 * sla.warn_at).round() as i64);
            self.schedule
                .insert(Step::Warning, add(add(start, share), paused));
            self.schedule.insert(Step::Breach, due);
        }
        self.schedule.insert(Step::Supervisor, escalate);
        self.due_at = Some(due);
    }
}

/// A ladder step that is due: send it, then record it with [`Clocks::mark_fired`](crate::domain::sla::clocks::Clocks::mark_fired) in the same
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Escalation {
    pub(crate) clock: ClockKind,
    /// The clock's cycle it belongs to.
    pub(crate) cycle: u32,
    pub(crate) step: Step,
    /// When it fell due (may be earlier than the sweep that found it).
    pub(crate) at: DateTime<Utc>,
}
