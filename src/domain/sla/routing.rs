//! Who hears of a ladder rung or a notification: the assignee, tier 2, the supervisors, or
//! outside business hours whoever is on call; and when a business-hours priority waits for the
//! morning.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::Calendar;
use crate::domain::priority::Priority;
use crate::domain::sla::ladder::Step;
use crate::domain::sla::policy::SlaPolicy;

/// Who works the ticket, for [`recipients`]: agent names as in `[[agents]]`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Team<'a> {
    /// The ticket's assignee, if any.
    pub(crate) assignee: Option<&'a str>,
    /// Agents with role `tier2`.
    pub(crate) tier2: &'a [String],
    /// Agents with role `supervisor`.
    pub(crate) supervisors: &'a [String],
}

/// Where an escalation goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Recipients {
    /// Agent names, without duplicates; empty when nobody fits (the shell should log that).
    pub(crate) to: Vec<String>,
    /// Hold the mail until then (business-hours priorities outside business hours).
    pub(crate) wait_until: Option<DateTime<Utc>>,
    /// True when routed to the on-call rota instead of the usual people.
    pub(crate) on_call: bool,
}

/// Who receives `step` of a ticket of `priority` at `now`.
///
/// In business hours: a warning or update reminder goes to the assignee, a breach to tier 2 and
/// the assignee, the supervisor step to the supervisors; an unassigned ticket's assignee mail
/// goes to tier 2 instead.
///
/// Outside business hours, a 24×7 priority (P1/P2 by default) goes to whoever is on call instead:
/// the primary for a warning or reminder, primary and backup for a breach, and primary, backup
/// and the supervisors for the supervisor step (the last rung must still reach a supervisor).
/// With nobody on call it falls back to the business-hours people. A business-hours priority
/// (P3/P4) goes to the usual people but waits until the next business start.
pub(crate) fn recipients(
    step: Step,
    priority: Priority,
    now: DateTime<Utc>,
    cal: &Calendar,
    sla: &SlaPolicy,
    team: &Team<'_>,
) -> Recipients {
    let usual = || {
        let assignee: Vec<&str> = match team.assignee {
            Some(a) => vec![a],
            None => team.tier2.iter().map(String::as_str).collect(),
        };
        match step {
            Step::Warning | Step::UpdateReminder => assignee,
            Step::Breach => team
                .tier2
                .iter()
                .map(String::as_str)
                .chain(team.assignee)
                .collect(),
            Step::Supervisor => team.supervisors.iter().map(String::as_str).collect(),
        }
    };
    let business = sla.targets(priority).business_hours;
    let (names, wait_until, on_call) = if cal.is_business_time(now) {
        (usual(), None, false)
    } else if business {
        (usual(), Some(cal.next_business_start(now)), false)
    } else if let Some(o) = sla.on_call_at(now, cal) {
        let mut names = vec![o.primary.as_str()];
        if step != Step::Warning && step != Step::UpdateReminder {
            names.extend(o.backup.as_deref());
        }
        if step == Step::Supervisor {
            names.extend(team.supervisors.iter().map(String::as_str));
        }
        (names, None, true)
    } else {
        (usual(), None, false)
    };
    let mut to: Vec<String> = Vec::new();
    for n in names {
        if !to.iter().any(|t| t.eq_ignore_ascii_case(n)) {
            to.push(n.to_owned());
        }
    }
    Recipients {
        to,
        wait_until,
        on_call,
    }
}

/// How an ordinary notification (new ticket, customer follow-up) of a ticket of `priority` is
/// routed at `now`: outside business hours a 24×7 priority also goes to the on-call primary (the
/// name returned), and a business-hours priority waits until the next business start (the
/// instant returned), as the escalation ladder does.
pub(crate) fn notification_route(
    priority: Priority,
    now: DateTime<Utc>,
    cal: &Calendar,
    sla: &SlaPolicy,
) -> (Option<String>, Option<DateTime<Utc>>) {
    if cal.is_business_time(now) {
        (None, None)
    } else if sla.targets(priority).business_hours {
        (None, Some(cal.next_business_start(now)))
    } else {
        (sla.on_call_at(now, cal).map(|o| o.primary.clone()), None)
    }
}
