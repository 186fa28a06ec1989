//! `supportd report`: SLA accountability per priority and per agent.
//!
//! Pure core: [`build`] takes the tickets and the current time and does no I/O, so every figure
//! can be tested with hand-made tickets; the shell ([`crate::service::views`]) reads the store and the
//! clock.
//!
//! # Definitions
//! - Counted tickets: created at or after `since` (all when absent), excluding tickets merged
//!   into another (they are duplicates; the surviving ticket is counted).
//! - A target is *measured* on a ticket when its clock has a target and either stopped (met when
//!   it stopped at or before the due time) or is still running/paused but already past due
//!   (missed: an unanswered ticket past due is a miss today, whatever happens later). A running
//!   clock not yet due is left out: its outcome is unknown.
//! - The resolution clock is measured in its current cycle, so a reopened ticket counts by its
//!   latest resolution. Resolving a ticket also stops its first-response clock, so a ticket
//!   resolved without a reply is measured by the time of resolution.
//! - Times are wall-clock seconds from the clock's start to its stop minus the time the ticket
//!   waited for the customer (pending). Only stopped clocks give a time.
//! - Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the value
//!   at rank ⌈p/100 · n⌉ (1-based). It is always an observed value; the median of an even count
//!   is the lower of the two middle values.
//! - Percentages and the average score are rounded to one decimal.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::Calendar;
use crate::domain::priority::Priority;
use crate::domain::sla::ladder::Clock;
use crate::domain::sla::ladder::ClockState;
use crate::domain::status::Status;
use crate::domain::ticket::{EscalatedBy, Ticket};

/// Name of the agent row for tickets nobody is assigned to.
pub(crate) const UNASSIGNED: &str = "(unassigned)";

/// Name of the overall row.
pub(crate) const OVERALL: &str = "all";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    /// Only tickets created at or after this instant; all tickets when absent.
    pub(crate) since: Option<DateTime<Utc>>,
    /// The time the figures were computed at (decides which running clocks are past due).
    pub(crate) as_of: DateTime<Utc>,
    /// Every counted ticket.
    pub(crate) overall: Group,
    /// P1 to P4, always all four.
    pub(crate) by_priority: Vec<Group>,
    /// Per assignee by name, [`UNASSIGNED`] last; only agents with tickets.
    pub(crate) by_agent: Vec<Group>,
    /// Per queue in configuration order, with several queues configured ([`with_queues`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) by_queue: Vec<Group>,
}

/// The figures of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Group {
    /// `all`, `P1`..`P4`, an agent's name or [`UNASSIGNED`].
    pub(crate) name: String,
    pub(crate) tickets: u64,
    /// Of these, still active (new, open, pending).
    pub(crate) open: u64,
    /// Of these, resolved or closed.
    pub(crate) resolved: u64,
    /// The first-response target.
    pub(crate) first_response: TargetStats,
    /// The resolution target.
    pub(crate) resolution: TargetStats,
    /// Tickets escalated at least once.
    pub(crate) escalated: u64,
    /// Escalation events in all.
    pub(crate) escalations: u64,
    /// Escalation events by who raised them.
    pub(crate) escalations_by: EscalationsBy,
    /// The customers' survey answers.
    pub(crate) satisfaction: SatisfactionStats,
}

/// How one SLA target fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TargetStats {
    /// Tickets whose outcome is known (stopped, or past due).
    pub(crate) measured: u64,
    /// Of these, met.
    pub(crate) met: u64,
    /// `met / measured` in percent; `null` when nothing was measured.
    pub(crate) met_pct: Option<f64>,
    /// Median time to the target's event in seconds, pending time excluded.
    pub(crate) median_secs: Option<i64>,
    /// 90th percentile of the same.
    pub(crate) p90_secs: Option<i64>,
}

/// Escalation events by who raised them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EscalationsBy {
    /// A missed SLA target (the ladder).
    pub(crate) sla: u64,
    /// An agent's `#escalate`.
    pub(crate) agent: u64,
    /// The customer asked.
    pub(crate) customer: u64,
}

/// The satisfaction survey's answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SatisfactionStats {
    /// Tickets with an answer (scores outside 1..=5 are ignored).
    pub(crate) answers: u64,
    /// Mean score; `null` without answers.
    pub(crate) average: Option<f64>,
    /// Share of answers scoring 4 or 5, in percent; `null` without answers.
    pub(crate) satisfied_pct: Option<f64>,
    /// Answers per score, keys `1` to `5`, all present.
    pub(crate) scores: BTreeMap<u8, u64>,
}

/// Builds the report over `tickets` as of `now`.
pub(crate) fn build(
    tickets: &[Ticket],
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Report {
    let counted: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.merged_into.is_none())
        .filter(|t| since.is_none_or(|s| t.created_at >= s))
        .collect();
    let by_priority = [Priority::P1, Priority::P2, Priority::P3, Priority::P4]
        .into_iter()
        .map(|p| {
            let rows: Vec<&Ticket> = counted
                .iter()
                .copied()
                .filter(|t| t.priority == p)
                .collect();
            group(p.to_string(), &rows, now)
        })
        .collect();
    let mut agents: BTreeMap<&str, Vec<&Ticket>> = BTreeMap::new();
    let mut unassigned = Vec::new();
    for &t in &counted {
        match t.assignee.as_deref() {
            Some(a) if !a.is_empty() => agents.entry(a).or_default().push(t),
            _ => unassigned.push(t),
        }
    }
    let mut by_agent: Vec<Group> = agents
        .into_iter()
        .map(|(name, rows)| group(name.to_owned(), &rows, now))
        .collect();
    if !unassigned.is_empty() {
        by_agent.push(group(UNASSIGNED.to_owned(), &unassigned, now));
    }
    Report {
        since,
        as_of: now,
        overall: group(OVERALL.to_owned(), &counted, now),
        by_priority,
        by_agent,
        by_queue: Vec::new(),
    }
}

/// Adds the per-queue rows to `report` (built over `tickets`): one per name of `queues`, in
/// order, each ticket counted in the queue `queue_of` names (the totals are the overall row).
pub(crate) fn with_queues(
    mut report: Report,
    tickets: &[Ticket],
    queues: &[&str],
    queue_of: impl Fn(&Ticket) -> String,
) -> Report {
    let counted: Vec<&Ticket> = tickets
        .iter()
        .filter(|t| t.merged_into.is_none())
        .filter(|t| report.since.is_none_or(|s| t.created_at >= s))
        .collect();
    report.by_queue = queues
        .iter()
        .map(|q| {
            let rows: Vec<&Ticket> = counted
                .iter()
                .copied()
                .filter(|t| queue_of(t) == *q)
                .collect();
            group((*q).to_owned(), &rows, report.as_of)
        })
        .collect();
    report
}

fn group(name: String, tickets: &[&Ticket], now: DateTime<Utc>) -> Group {
    let count = |f: &dyn Fn(&Ticket) -> bool| tickets.iter().filter(|t| f(t)).count() as u64;
    let mut by = EscalationsBy::default();
    for e in tickets.iter().flat_map(|t| &t.escalations) {
        match e.by {
            EscalatedBy::Sla => by.sla += 1,
            EscalatedBy::Agent => by.agent += 1,
            EscalatedBy::Customer => by.customer += 1,
        }
    }
    Group {
        name,
        tickets: tickets.len() as u64,
        open: count(&|t| t.status.is_active()),
        resolved: count(&|t| matches!(t.status, Status::Resolved | Status::Closed)),
        first_response: target_stats(tickets.iter().map(|t| &t.sla.first_response), now),
        resolution: target_stats(tickets.iter().map(|t| &t.sla.resolution), now),
        // Tickets stored before escalation events were recorded have only the level.
        escalated: count(&|t| !t.escalations.is_empty() || t.escalation > 0),
        escalations: by.sla + by.agent + by.customer,
        escalations_by: by,
        satisfaction: satisfaction_stats(tickets),
    }
}

/// What one clock says about its target: `None` when not measured, else met or not and the time
/// taken when stopped.
fn outcome(c: &Clock, now: DateTime<Utc>) -> Option<(bool, Option<i64>)> {
    c.due_at?;
    match c.state() {
        ClockState::Stopped => {
            let (start, stop) = (c.started_at?, c.stopped_at?);
            let secs = ((stop - start).num_seconds() - c.paused_secs).max(0);
            Some((!c.is_breached(now), Some(secs)))
        }
        ClockState::Running | ClockState::Paused if c.is_breached(now) => Some((false, None)),
        _ => None,
    }
}

fn target_stats<'a>(clocks: impl Iterator<Item = &'a Clock>, now: DateTime<Utc>) -> TargetStats {
    let (mut measured, mut met, mut times) = (0u64, 0u64, Vec::new());
    for (ok, secs) in clocks.filter_map(|c| outcome(c, now)) {
        measured += 1;
        met += u64::from(ok);
        times.extend(secs);
    }
    times.sort_unstable();
    TargetStats {
        measured,
        met,
        met_pct: pct(met, measured),
        median_secs: percentile(&times, 50),
        p90_secs: percentile(&times, 90),
    }
}

fn satisfaction_stats(tickets: &[&Ticket]) -> SatisfactionStats {
    let mut scores: BTreeMap<u8, u64> = (1..=5).map(|s| (s, 0)).collect();
    for s in tickets.iter().filter_map(|t| t.satisfaction.as_ref()) {
        if let Some(n) = scores.get_mut(&s.score) {
            *n += 1;
        }
    }
    let answers: u64 = scores.values().sum();
    let total: u64 = scores.iter().map(|(s, n)| u64::from(*s) * n).sum();
    let satisfied = scores[&4] + scores[&5];
    SatisfactionStats {
        answers,
        average: (answers > 0).then(|| round1(total as f64 / answers as f64)),
        satisfied_pct: pct(satisfied, answers),
        scores,
    }
}

/// The `p`-th percentile (nearest rank) of ascending `sorted`; `None` when empty.
pub(crate) fn percentile(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    // ⌈p·n/100⌉ in integers, at least rank 1.
    let rank = (p as usize * n).div_ceil(100).clamp(1, n);
    Some(sorted[rank - 1])
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| round1(part as f64 * 100.0 / whole as f64))
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Reads `--since`: a date `YYYY-MM-DD` (its midnight in the calendar's time zone, the zone the
/// desk works in) or an RFC 3339 timestamp.
pub(crate) fn parse_since(s: &str, cal: &Calendar) -> Result<DateTime<Utc>, BadSince> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(cal.start_of_day(d));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| BadSince(s.to_owned()))
}

/// A `--since` that is neither a date nor a time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is neither a date (YYYY-MM-DD) nor an RFC 3339 time (2026-01-02T09:00:00+08:00)")]
pub(crate) struct BadSince(String);

/// A duration for people: `45s`, `25m`, `3h10m`, `2d4h` (two units at most, rounded down).
pub(crate) fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sla::clocks::Clocks;
    use crate::domain::ticket::{EscalationEvent, Satisfaction};
    use crate::mail::mailbox::Mailbox;
    use chrono::TimeDelta;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn mins(m: i64) -> TimeDelta {
        TimeDelta::minutes(m)
    }

    /// A clock started at `start` with target `target` minutes; stopped after `stop` minutes
    /// (wall clock, pauses included) with `paused` minutes pending, or running when `stop` is
    /// `None`.
    fn clock(start: DateTime<Utc>, target: i64, stop: Option<i64>, paused: i64) -> Clock {
        Clock {
            cycle: 1,
            started_at: Some(start),
            due_at: Some(start + mins(target + paused)),
            stopped_at: stop.map(|s| start + mins(s)),
            paused_secs: paused * 60,
            ..Clock::default()
        }
    }

    fn ticket(id: u64, priority: Priority, created: &str, assignee: Option<&str>) -> Ticket {
        let created = at(created);
        Ticket {
            id,
            status: Status::Open,
            priority,
            customer: "c".into(),
            subject: "s".into(),
            normalized_subject: "s".into(),
            requester: Mailbox {
                name: None,
                address: "c@example.org".into(),
            },
            participants: vec![],
            message_count: 1,
            created_at: created,
            updated_at: created,
            last_customer_message_id: "m@example.org".into(),
            related: None,
            assignee: assignee.map(str::to_owned),
            first_response_at: None,
            resolved_at: None,
            merged_into: None,
            escalation: 0,
            priority_rule: String::new(),
            sla: Clocks {
                first_response: clock(created, 30, None, 0),
                update: Clock::default(),
                resolution: clock(created, 120, None, 0),
            },
            escalations: vec![],
            satisfaction: None,
            queue: String::new(),
        }
    }

    fn row<'a>(rows: &'a [Group], name: &str) -> &'a Group {
        rows.iter()
            .find(|g| g.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    }

    const T0: &str = "2026-03-02T08:00:00Z";

    #[test]
    fn empty_input_has_all_four_priorities_with_zeros_and_nulls() {
        let r = build(&[], None, at(T0));
        let names: Vec<&str> = r.by_priority.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["P1", "P2", "P3", "P4"]);
        assert!(r.by_agent.is_empty());
        for g in r.by_priority.iter().chain([&r.overall]) {
            assert_eq!((g.tickets, g.open, g.resolved), (0, 0, 0));
            for s in [&g.first_response, &g.resolution] {
                assert_eq!((s.measured, s.met), (0, 0));
                assert_eq!((s.met_pct, s.median_secs, s.p90_secs), (None, None, None));
            }
            assert_eq!((g.escalated, g.escalations), (0, 0));
            assert_eq!(g.satisfaction.answers, 0);
            assert_eq!(g.satisfaction.average, None);
            assert_eq!(g.satisfaction.satisfied_pct, None);
            assert_eq!(g.satisfaction.scores.len(), 5);
        }
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["overall"]["first_response"]["met_pct"].is_null());
        assert_eq!(json["overall"]["satisfaction"]["scores"]["5"], 0);
    }

    #[test]
    fn met_missed_and_not_yet_due() {
        let now = at("2026-03-02T09:00:00Z");
        let start = at(T0);
        let mut met = ticket(1, Priority::P1, T0, Some("alice"));
        met.sla.first_response = clock(start, 30, Some(20), 0);
        let mut late = ticket(2, Priority::P1, T0, Some("alice"));
        late.sla.first_response = clock(start, 30, Some(40), 0);
        // Unanswered and 60 minutes past a 30-minute target: a miss already, without a time.
        let mut overdue = ticket(3, Priority::P1, T0, Some("alice"));
        overdue.sla.first_response = clock(start, 30, None, 0);
        // Unanswered, due in 60 minutes: unknown yet.
        let mut running = ticket(4, Priority::P1, T0, Some("alice"));
        running.sla.first_response = clock(start, 120, None, 0);
        // Stopped exactly at the due time: met.
        let mut on_time = ticket(5, Priority::P1, T0, Some("alice"));
        on_time.sla.first_response = clock(start, 30, Some(30), 0);
        // No target for this clock: never measured.
        let mut no_target = ticket(6, Priority::P1, T0, Some("alice"));
        no_target.sla.first_response.due_at = None;
        no_target.sla.first_response.stopped_at = Some(start + mins(5));

        let r = build(
            &[met, late, overdue, running, on_time, no_target],
            None,
            now,
        );
        let fr = &r.by_priority[0].first_response;
        assert_eq!((fr.measured, fr.met), (4, 2));
        assert_eq!(fr.met_pct, Some(50.0));
        // Times 20, 30, 40 minutes: median rank ⌈1.5⌉ = 2, p90 rank ⌈2.7⌉ = 3.
        assert_eq!(fr.median_secs, Some(30 * 60));
        assert_eq!(fr.p90_secs, Some(40 * 60));
        // Resolution clocks (120 min from 08:00) are still running and not due at 09:00.
        assert_eq!(r.overall.resolution.measured, 0);
        assert_eq!(r.overall.resolution.met_pct, None);
        assert_eq!(
            r.overall,
            Group {
                name: OVERALL.into(),
                ..r.by_priority[0].clone()
            }
        );
    }

    #[test]
    fn pending_time_is_excluded_from_times_and_from_the_target() {
        let start = at(T0);
        let mut t = ticket(1, Priority::P2, T0, Some("bob"));
        // 90 minutes wall clock, 70 of them waiting for the customer, target 30: met in 20.
        t.sla.first_response = clock(start, 30, Some(90), 70);
        t.status = Status::Resolved;
        t.sla.resolution = clock(start, 120, Some(300), 200);
        // Paused before its due time: not past due, so not measured.
        let mut p = ticket(2, Priority::P2, T0, Some("bob"));
        p.status = Status::Pending;
        p.sla.first_response = clock(start, 30, None, 0);
        p.sla.first_response.paused_since = Some(start + mins(10));
        p.sla.resolution.paused_since = Some(start + mins(10));
        // Paused after its due time: a miss.
        let mut q = ticket(3, Priority::P2, T0, Some("bob"));
        q.status = Status::Pending;
        q.sla.first_response = clock(start, 30, None, 0);
        q.sla.first_response.paused_since = Some(start + mins(45));
        q.sla.resolution.paused_since = Some(start + mins(45));

        let r = build(&[t, p, q], None, at("2026-03-05T00:00:00Z"));
        let g = row(&r.by_agent, "bob");
        assert_eq!((g.tickets, g.open, g.resolved), (3, 2, 1));
        assert_eq!((g.first_response.measured, g.first_response.met), (2, 1));
        assert_eq!(g.first_response.median_secs, Some(20 * 60));
        assert_eq!(g.first_response.p90_secs, Some(20 * 60));
        // Only the resolved ticket: the others paused before their resolution was due.
        assert_eq!((g.resolution.measured, g.resolution.met), (1, 1));
        assert_eq!(g.resolution.median_secs, Some(100 * 60));
        assert_eq!(g.resolution.met_pct, Some(100.0));
    }

    #[test]
    fn a_reopened_ticket_is_measured_by_its_latest_resolution_cycle() {
        let mut t = ticket(1, Priority::P1, T0, None);
        let reopened = at(T0) + TimeDelta::days(1);
        t.sla.resolution = clock(reopened, 120, Some(30), 0);
        t.sla.resolution.cycle = 2;
        let r = build(&[t], None, at("2026-03-10T00:00:00Z"));
        assert_eq!(r.overall.resolution.median_secs, Some(30 * 60));
        assert_eq!(r.overall.resolution.met, 1);
    }

    #[test]
    fn since_keeps_tickets_created_at_or_after_it() {
        let tickets = [
            ticket(1, Priority::P3, "2026-01-01T23:59:59Z", None),
            ticket(2, Priority::P3, "2026-01-02T00:00:00Z", None),
            ticket(3, Priority::P4, "2026-01-03T00:00:00Z", None),
        ];
        let now = at("2026-01-04T00:00:00Z");
        let r = build(&tickets, Some(at("2026-01-02T00:00:00Z")), now);
        assert_eq!(r.overall.tickets, 2);
        assert_eq!(r.by_priority[2].tickets, 1);
        assert_eq!(r.by_priority[3].tickets, 1);
        assert_eq!(r.since, Some(at("2026-01-02T00:00:00Z")));
        assert_eq!(r.as_of, now);
        assert_eq!(build(&tickets, None, now).overall.tickets, 3);
    }

    #[test]
    fn merged_tickets_are_left_out() {
        let mut dup = ticket(2, Priority::P1, T0, Some("alice"));
        dup.merged_into = Some(1);
        dup.escalations.push(EscalationEvent {
            at: at(T0),
            level: 1,
            by: EscalatedBy::Customer,
            detail: String::new(),
        });
        let r = build(
            &[ticket(1, Priority::P1, T0, Some("alice")), dup],
            None,
            at(T0),
        );
        assert_eq!(r.overall.tickets, 1);
        assert_eq!(r.overall.escalations, 0);
        assert_eq!(row(&r.by_agent, "alice").tickets, 1);
    }

    #[test]
    fn agents_by_name_with_the_unassigned_row_last() {
        let tickets = [
            ticket(1, Priority::P1, T0, Some("zoe")),
            ticket(2, Priority::P2, T0, None),
            ticket(3, Priority::P3, T0, Some("alice")),
            ticket(4, Priority::P4, T0, Some("zoe")),
            ticket(5, Priority::P4, T0, Some("")),
        ];
        let r = build(&tickets, None, at(T0));
        let names: Vec<(&str, u64)> = r
            .by_agent
            .iter()
            .map(|g| (g.name.as_str(), g.tickets))
            .collect();
        assert_eq!(names, [("alice", 1), ("zoe", 2), (UNASSIGNED, 2)]);
    }

    #[test]
    fn escalations_and_satisfaction() {
        let ev = |by| EscalationEvent {
            at: at(T0),
            level: 1,
            by,
            detail: String::new(),
        };
        let answer = |score| {
            Some(Satisfaction {
                score,
                comment: String::new(),
                at: at(T0),
            })
        };
        let mut a = ticket(1, Priority::P1, T0, Some("alice"));
        a.escalations = vec![ev(EscalatedBy::Sla), ev(EscalatedBy::Agent)];
        a.satisfaction = answer(5);
        let mut b = ticket(2, Priority::P1, T0, Some("alice"));
        b.escalations = vec![ev(EscalatedBy::Customer)];
        b.satisfaction = answer(2);
        let mut c = ticket(3, Priority::P1, T0, Some("alice"));
        c.satisfaction = answer(4);
        // A level without events (stored before events were kept) still counts as escalated.
        let mut legacy = ticket(4, Priority::P1, T0, Some("alice"));
        legacy.escalation = 1;
        // Out of range: ignored rather than skewing the average.
        legacy.satisfaction = answer(9);

        let r = build(&[a, b, c, legacy], None, at(T0));
        let g = &r.overall;
        assert_eq!((g.escalated, g.escalations), (3, 3));
        assert_eq!(
            g.escalations_by,
            EscalationsBy {
                sla: 1,
                agent: 1,
                customer: 1
            }
        );
        let s = &g.satisfaction;
        assert_eq!(s.answers, 3);
        assert_eq!(s.average, Some(3.7));
        assert_eq!(s.satisfied_pct, Some(66.7));
        assert_eq!(
            s.scores.values().copied().collect::<Vec<_>>(),
            [0, 1, 0, 1, 1]
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 50), Some(7));
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2], 50), Some(1));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 50), Some(5));
        assert_eq!(percentile(&ten, 90), Some(9));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(percentile(&eleven, 50), Some(6));
        assert_eq!(percentile(&eleven, 90), Some(10));
    }

    #[test]
    fn since_reads_a_local_date_or_an_rfc3339_time() {
        let cal = Calendar::default(); // Asia/Shanghai
        assert_eq!(
            parse_since("2026-01-02", &cal),
            Ok(at("2026-01-01T16:00:00Z"))
        );
        assert_eq!(
            parse_since("2026-01-02T09:00:00+08:00", &cal),
            Ok(at("2026-01-02T01:00:00Z"))
        );
        let e = parse_since("yesterday", &cal).unwrap_err().to_string();
        assert!(e.contains("`yesterday`") && e.contains("YYYY-MM-DD"), "{e}");
        assert!(parse_since("2026-02-30", &cal).is_err());
    }

    #[test]
    fn human_durations() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (25 * 60 + 59, "25m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 10 * 60, "3h10m"),
            (86_400, "1d"),
            (2 * 86_400 + 4 * 3600 + 59 * 60, "2d4h"),
            (-5, "0s"),
        ];
        for (secs, text) in cases {
            assert_eq!(human_duration(secs), text, "{secs}");
        }
    }
}
