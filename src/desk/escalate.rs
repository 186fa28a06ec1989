//! A ticket's SLA ladder step fell due ([`crate::domain::sla`] says which): the agents it
//! concerns are told, the escalation level rises at a breach and at the supervisor step, and the
//! customer hears of each rise. Also who an escalation goes to, for the customer's and agents'
//! escalations.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::Role;
use crate::desk::agent::assign::agent_mailbox;
use crate::desk::agent::notification::escalation_mail;
use crate::desk::effect::Effect;
use crate::desk::outbound::compose::Draft;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::wording::lang_of_ticket;
use crate::domain::outbox::{Kind, OutboxItem};
use crate::domain::sla::ladder::Step;
use crate::domain::sla::routing::Team;
use crate::domain::sla::routing::recipients;
use crate::domain::ticket::{EscalatedBy, Ticket};
use crate::mail::mailbox::Mailbox;

/// Template variables of an escalation notice to the customer.
pub(crate) fn escalation_context(level: u32, by: EscalatedBy) -> minijinja::Value {
    minijinja::context! { level => level, by => by }
}

/// The SLA ladder steps due on `ticket` at `now`, as mails to the agents they concern, plus a
/// short notice to the customer whenever the escalation level rises (so nobody waits in
/// silence; needs `mailer`). Each step is marked fired on the returned ticket, so committing
/// ticket and mails in one transaction makes every step happen exactly once, across restarts.
/// Steps for business-hours priorities that fall outside business hours are queued until the
/// next business start. `None` when nothing is due.
pub(crate) fn escalate(
    config: &Config,
    mailer: Option<Mailer<'_>>,
    ticket: &Ticket,
    now: DateTime<Utc>,
) -> Option<(Ticket, Vec<OutboxItem>, Vec<Effect>)> {
    let due = ticket.sla.due_steps(now);
    if due.is_empty() || !ticket.status.is_active() {
        return None;
    }
    let names = |role| -> Vec<String> {
        config
            .agents
            .iter()
            .filter(|a| a.role == role)
            .map(|a| a.name.clone())
            .collect()
    };
    let (tier2, supervisors) = (names(Role::Tier2), names(Role::Supervisor));
    let team = Team {
        assignee: ticket.assignee.as_deref(),
        tier2: &tier2,
        supervisors: &supervisors,
    };
    let mut t = ticket.clone();
    let mut outgoing = Vec::new();
    let mut effects = Vec::new();
    for esc in &due {
        let r = recipients(
            esc.step,
            t.priority,
            now,
            &config.calendar,
            &config.sla,
            &team,
        );
        let to: Vec<Mailbox> =
            r.to.iter()
                .filter_map(|n| config.agent_named(n))
                .map(agent_mailbox)
                .collect();
        let level = match esc.step {
            Step::Breach => 1,
            Step::Supervisor => 2,
            _ => 0,
        };
        let raised = level > t.escalation;
        if raised {
            let detail = format!("{} {}", esc.clock, esc.step);
            t.escalate_to(level, EscalatedBy::Sla, detail, now);
        }
        effects.push(Effect::Log(format!(
            "ticket {}: SLA {} {:?} due at {} -> {}{}",
            t.id,
            esc.clock,
            esc.step,
            esc.at,
            if r.to.is_empty() {
                "nobody (configure tier2/supervisor agents)".to_owned()
            } else {
                r.to.join(", ")
            },
            if r.on_call { " (on call)" } else { "" }
        )));
        if !to.is_empty()
            && config.outbound.is_some()
            && let Ok(mut item) = escalation_mail(config, &t, esc, to, r.on_call, now)
        {
            if let Some(w) = r.wait_until {
                item.hold_until(w);
            }
            outgoing.push(item);
        }
        if let (true, Some(mailer), Some(out)) = (raised, mailer, &config.outbound)
            && out.escalation_notice
        {
            let mut extra = BTreeMap::new();
            extra.insert("escalation", escalation_context(level, EscalatedBy::Sla));
            let draft = Draft {
                kind: Kind::Escalated,
                ticket: &t,
                inbound: None,
                lang: lang_of_ticket(&t, out.language),
                extra,
                cause: format!("escalated:{}:{level}", t.id),
            };
            let mut item = mailer.write(config, &draft, now, &mut effects);
            if let Some(w) = r.wait_until {
                item.hold_until(w);
            }
            outgoing.push(item);
        }
        t.sla = t.sla.mark_fired(esc);
    }
    Some((t, outgoing, effects))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::testing::{config, mailer, p1_ticket, recipients, tuesday_10am};
    use crate::domain::status::Status;

    #[test]
    fn the_ladder_fires_each_step_once_to_the_right_people_across_restarts() {
        let config = config();
        // A Tuesday 10:00 in Shanghai: business hours, so no on-call routing.
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let at = |m: i64| t0 + chrono::Duration::minutes(m);
        let mut t = p1_ticket(&config, t0);
        assert!(
            escalate(&config, None, &t, at(20)).is_none(),
            "nothing due before 80 %"
        );

        let (t1, mails, _) =
            escalate(&config, None, &t, at(25)).expect("warning at 80 % of 30 min");
        assert_eq!(recipients(&mails), ["alice@example.com"]);
        assert!(
            mails[0].subject.contains("SLA warning"),
            "{}",
            mails[0].subject
        );
        t = t1;
        assert!(
            escalate(&config, None, &t, at(26)).is_none(),
            "the warning fires once"
        );

        // A restart: the ticket comes back from the store as JSON.
        t = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        let (t2, mails, _) = escalate(&config, None, &t, at(31)).expect("breach");
        let mut to = recipients(&mails);
        to.sort();
        assert_eq!(to, ["alice@example.com", "tess@example.com"]);
        assert_eq!(t2.escalation, 1);
        t = t2;
        assert!(
            escalate(&config, None, &t, at(40)).is_none(),
            "the breach fires once"
        );

        // Resolution (2 h) warns at 96 min; the supervisor hears 30 min after the breach.
        let mut seen = Vec::new();
        for m in 41..=200 {
            if let Some((next, mails, _)) = escalate(&config, None, &t, at(m)) {
                for i in &mails {
                    seen.push((m, i.subject.clone(), recipients(std::slice::from_ref(i))));
                }
                t = next;
            }
        }
        let supervisor: Vec<_> = seen
            .iter()
            .filter(|(_, _, to)| to.contains(&"sue@example.com".to_owned()))
            .collect();
        assert!(!supervisor.is_empty(), "{seen:#?}");
        assert_eq!(supervisor[0].0, 60, "breach + 30 min: {seen:#?}");
        assert_eq!(t.escalation, 2);
        // Every (clock, step) appears once.
        let mut subjects: Vec<&String> = seen.iter().map(|s| &s.1).collect();
        let n = subjects.len();
        subjects.sort();
        subjects.dedup();
        assert_eq!(subjects.len(), n, "{seen:#?}");
    }

    #[test]
    fn a_resolved_ticket_escalates_nothing() {
        let config = config();
        let t0 = tuesday_10am();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Resolved;
        assert!(escalate(&config, None, &t, t0 + chrono::Duration::hours(5)).is_none());
    }

    #[test]
    fn the_customer_hears_of_each_sla_escalation_once() {
        let config = config();
        let mailer = mailer();
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let mut t = p1_ticket(&config, t0);
        let mut notices = Vec::new();
        for m in 1..=200 {
            if let Some((next, mails, _)) =
                escalate(&config, Some(mailer), &t, t0 + chrono::Duration::minutes(m))
            {
                for i in mails.iter().filter(|i| i.kind == Kind::Escalated) {
                    notices.push((m, i.to.clone(), i.raw.clone()));
                }
                t = next;
            }
        }
        assert_eq!(notices.len(), 2, "breach and supervisor");
        assert_eq!((notices[0].0, notices[1].0), (30, 60));
        assert!(notices.iter().all(|n| n.1 == ["c@example.org"]));
        assert!(notices[1].2.contains("supervisor"));
        assert_eq!(t.escalations.len(), 2);
    }
}
