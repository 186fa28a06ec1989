//! The desk core: what happens to the ticket state when a mail arrives.
//!
//! Plain functions over data. The shell hands in the current ticket (if threading chose one), the
//! parsed mail and *now*; the core returns the new ticket, the message record and the effects.
//! Nothing here touches the network, the disk or the clock, so the rules are tested in
//! microseconds and the shell decides how to make the result durable.

use chrono::{DateTime, Utc};

use std::collections::{BTreeMap, HashMap};

use crate::agent;
use crate::config::{AgentConfig, ClosedPolicy, Config, Role};
use crate::outbound::{self, Draft, Kind, OutboxItem, State, Templates};
use crate::parse::Inbound;
use crate::subject;
use crate::thread::Match;
use crate::ticket::{
    AttachmentMeta, EscalatedBy, EscalationEvent, Message, Source, Status, ThreadedBy, Ticket,
};

/// Something the shell must do as a consequence of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// A line for the operator's log.
    Log(String),
}

/// The result of accepting one inbound mail.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The ticket after the mail (new or updated).
    pub ticket: Ticket,
    /// True when the mail opened the ticket.
    pub created: bool,
    /// The message record to store.
    pub message: Message,
    /// What the shell must do next.
    pub effects: Vec<Effect>,
    /// Mails to enqueue in the same transaction.
    pub outgoing: Vec<OutboxItem>,
    /// Other tickets changed by the mail (a merge target), saved in the same transaction.
    pub extra_tickets: Vec<Ticket>,
}

/// What the desk needs to write mail: the templates and, per recipient address (lower-case),
/// the times of automatic mails already sent to it.
#[derive(Debug, Clone, Copy)]
pub struct Mailer<'a> {
    /// Templates.
    pub templates: &'a Templates,
    /// Rate history by recipient.
    pub history: &'a HashMap<String, Vec<DateTime<Utc>>>,
}

/// Facts about an inbound mail that the shell looked up for the core.
#[derive(Debug, Clone, Copy, Default)]
pub struct Intake<'a> {
    /// The authenticated agent who wrote it, if any.
    pub agent: Option<&'a AgentConfig>,
    /// The customer's dedicated contact (agent name) from the directory.
    pub contact: Option<&'a str>,
    /// For an agent's `#merge N`: ticket N, if it exists.
    pub merge_target: Option<&'a Ticket>,
    /// The customer is a VIP (directory tier), which raises the priority one level.
    pub vip: bool,
}

/// Applies one inbound mail to `existing` (the ticket threading chose, or `None` for a new
/// ticket numbered `next_id`). `customer` is the identified customer ID.
#[allow(clippy::too_many_arguments)]
pub fn accept(
    config: &Config,
    existing: Option<Ticket>,
    next_id: u64,
    matched: &Match,
    inbound: &Inbound,
    customer: &str,
    source: Option<Source>,
    mailer: Option<Mailer<'_>>,
    intake: Intake<'_>,
    now: DateTime<Utc>,
) -> Accepted {
    let mut effects = Vec::new();
    let mut outgoing = Vec::new();
    let mut extra_tickets = Vec::new();
    let sender = &inbound.from.address;
    let agent = intake.agent;
    let sup = &config.support;

    // A customer writing to a finished ticket: reopen it, or start a new one linked to it.
    let mut reject_notice = false;
    let mut reopened = false;
    let mut related_override = None;
    let existing = match existing {
        Some(t) if agent.is_none() && matched.ticket() == Some(t.id) => {
            let window = chrono::Duration::days(sup.reopen_window_days as i64);
            match t.status {
                Status::Resolved
                    if now.signed_duration_since(t.resolved_at.unwrap_or(t.updated_at))
                        <= window =>
                {
                    reopened = true;
                    Some(t)
                }
                Status::Resolved => {
                    effects.push(Effect::Log(format!(
                        "ticket {} was resolved more than {} days ago: new ticket",
                        t.id, sup.reopen_window_days
                    )));
                    related_override = Some(t.id);
                    None
                }
                Status::Closed => match sup.closed_policy {
                    ClosedPolicy::Reopen => {
                        reopened = true;
                        Some(t)
                    }
                    ClosedPolicy::NewTicket => {
                        related_override = Some(t.id);
                        None
                    }
                    ClosedPolicy::Reject => {
                        reject_notice = true;
                        Some(t)
                    }
                },
                _ => Some(t),
            }
        }
        other => other,
    };

    let (mut ticket, created, threaded_by) = match (existing, matched) {
        (Some(t), m) if m.ticket() == Some(t.id) => {
            let by = match m {
                _ if agent.is_some() => ThreadedBy::Agent,
                Match::Reference { .. } => ThreadedBy::Reference,
                Match::Tag { .. } => ThreadedBy::Tag,
                _ => ThreadedBy::Subject,
            };
            (t, false, by)
        }
        _ => {
            let related = match matched {
                Match::New { related, refused } => {
                    if let Some(why) = refused {
                        effects.push(Effect::Log(format!(
                            "new ticket instead of follow-up: {why}"
                        )));
                    }
                    *related
                }
                _ => None,
            }
            .or(related_override);
            let t = Ticket {
                id: next_id,
                status: Status::New,
                priority: sup.default_priority,
                customer: customer.to_owned(),
                subject: inbound.subject.clone(),
                normalized_subject: subject::normalize(&subject::strip_tag(
                    &inbound.subject,
                    &sup.tag_prefix,
                )),
                requester: inbound.from.clone(),
                participants: Vec::new(),
                message_count: 0,
                created_at: now,
                updated_at: now,
                last_customer_message_id: String::new(),
                related,
                assignee: agent::assign(config, intake.contact, next_id),
                first_response_at: None,
                resolved_at: None,
                merged_into: None,
                escalation: 0,
                priority_rule: String::new(),
                sla: Default::default(),
                escalations: Vec::new(),
                satisfaction: None,
            };
            let mut t = t;
            let (priority, rule) = crate::sla::classify(
                &inbound.subject,
                &inbound.reply_text,
                intake.vip,
                sup.default_priority,
                &config.sla,
            );
            t.priority = priority;
            t.priority_rule = rule;
            t.sla = crate::sla::Clocks::start(&config.calendar, &config.sla, priority, now);
            (t, true, ThreadedBy::New)
        }
    };

    let before = ticket.clone();
    // Colleagues the customer copies in may follow up by tag; our own and agents' addresses are
    // never customers.
    if agent.is_none() && !config.is_own_address(sender) {
        let others = inbound.to.iter().chain(&inbound.cc).map(|m| &m.address);
        for addr in std::iter::once(sender).chain(others) {
            if !config.is_own_address(addr)
                && config.agent_by_address(addr).is_none()
                && !is_reply_address(config, addr)
                && !ticket.is_participant(addr)
            {
                ticket.participants.push(addr.clone());
            }
        }
        ticket.last_customer_message_id = inbound.message_id.clone();
        if reopened || (!created && ticket.status == Status::Pending) {
            effects.push(Effect::Log(format!(
                "ticket {} {} by the customer's mail",
                ticket.id,
                if reopened { "reopened" } else { "back to open" }
            )));
            ticket.status = Status::Open;
        }
    }
    ticket.message_count += 1;
    ticket.updated_at = now;

    let mut internal = false;
    if let (Some(a), false) = (agent, created) {
        internal = true;
        agent_mail(
            config,
            a,
            &mut ticket,
            inbound,
            intake.merge_target,
            now,
            &mut outgoing,
            &mut extra_tickets,
            &mut effects,
        );
    }

    let agent_replied = outgoing.iter().any(|o| o.kind == Kind::Relay);
    if !created {
        sync_clocks(config, &before, &mut ticket, agent_replied, now);
    }

    let message = Message {
        ticket: ticket.id,
        seq: ticket.message_count,
        message_id: inbound.message_id.clone(),
        message_id_synthetic: inbound.message_id_synthetic,
        from: inbound.from.clone(),
        to: inbound.to.clone(),
        cc: inbound.cc.clone(),
        date: inbound.date,
        received_at: now,
        subject: inbound.subject.clone(),
        text: inbound.text.clone(),
        reply_text: inbound.reply_text.clone(),
        from_html: inbound.from_html,
        attachments: inbound
            .attachments
            .iter()
            .map(|a| AttachmentMeta {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
            })
            .collect(),
        machine: inbound.machine.clone(),
        threaded_by,
        raw_sha256: inbound.raw_sha256.clone(),
        size: inbound.size,
        source,
        internal,
        from_agent: agent.is_some(),
    };
    effects.push(Effect::Log(if created {
        format!(
            "opened ticket {} for customer {}",
            ticket.id, ticket.customer
        )
    } else {
        format!(
            "added message {} to ticket {} (by {threaded_by:?})",
            message.seq, ticket.id
        )
    }));

    if let (Some(mailer), Some(out)) = (mailer, &config.outbound)
        && agent.is_none()
    {
        let kind = if reject_notice {
            Some(Kind::Closed)
        } else if created && out.acknowledge {
            Some(Kind::Ack)
        } else if !created && out.followup_notice {
            Some(Kind::Followup)
        } else {
            None
        };
        if let Some(kind) = kind {
            match outbound::refuse_auto_reply(config, inbound) {
                Some(why) => effects.push(Effect::Log(format!("no {kind:?} sent: {why}"))),
                None => {
                    let mut extra = BTreeMap::new();
                    if kind == Kind::Ack {
                        let identified = !customer.eq_ignore_ascii_case(sender);
                        extra.insert(
                            "missing",
                            minijinja::Value::from_serialize(outbound::missing_information(
                                inbound, identified,
                            )),
                        );
                    }
                    let draft = Draft {
                        kind,
                        ticket: &ticket,
                        inbound: Some(inbound),
                        lang: outbound::language(inbound, out.language),
                        extra,
                        cause: format!("{kind:?}:{}", inbound.message_id),
                    };
                    outgoing.push(finish(config, mailer, &draft, now, &mut effects));
                }
            }
        }
        // Agents hear about every human customer mail; machine mail on a ticket is only filed.
        if !inbound.machine.is_machine_generated() && !reject_notice {
            let to = agent::notify_targets(config, &ticket);
            if !to.is_empty() {
                match agent::notification(config, &ticket, inbound, to, now) {
                    Ok(item) => outgoing.push(item),
                    Err(e) => effects.push(Effect::Log(format!("no agent notification: {e}"))),
                }
            }
        }
    }
    Accepted {
        ticket,
        created,
        message,
        effects,
        outgoing,
        extra_tickets,
    }
}

/// Moves the SLA clocks along with what changed between `before` and `after`: an agent's reply
/// stops the first-response clock and restarts the update clock, a priority change recomputes
/// the due times, a status change pauses (pending), resumes or stops them.
fn sync_clocks(
    config: &Config,
    before: &Ticket,
    after: &mut Ticket,
    agent_replied: bool,
    now: DateTime<Utc>,
) {
    let (cal, sla) = (&config.calendar, &config.sla);
    let mut clocks = after.sla.clone();
    if agent_replied {
        clocks = clocks.on_agent_reply(cal, sla, after.priority, now);
    }
    if after.priority != before.priority {
        clocks = clocks.on_priority_change(cal, sla, after.priority, now);
    }
    if after.status != before.status {
        clocks = clocks.on_status(cal, sla, after.priority, after.status, now);
    }
    after.sla = clocks;
}

fn is_reply_address(config: &Config, addr: &str) -> bool {
    let (local, domain) = config.support.address.split_once('@').unwrap_or_default();
    addr.rsplit_once('@')
        .is_some_and(|(l, d)| d.eq_ignore_ascii_case(domain) && l.starts_with(&format!("{local}+")))
}

/// An authenticated agent's mail on an existing ticket: commands, internal note, relayed reply.
/// An invalid mail changes nothing and tells the agent why.
#[allow(clippy::too_many_arguments)]
fn agent_mail(
    config: &Config,
    a: &AgentConfig,
    ticket: &mut Ticket,
    inbound: &Inbound,
    merge_target: Option<&Ticket>,
    now: DateTime<Utc>,
    outgoing: &mut Vec<OutboxItem>,
    extra_tickets: &mut Vec<Ticket>,
    effects: &mut Vec<Effect>,
) {
    let mut parsed = agent::parse_mail(inbound);
    let before = ticket.clone();
    let mut changes = agent::Changes::default();
    if parsed.errors.is_empty() {
        match agent::apply_commands(config, ticket, &parsed) {
            Ok(c) => changes = c,
            Err(e) => parsed.errors.push(e),
        }
    }
    if let Some(n) = changes.merge_into
        && merge_target.is_none_or(|t| t.id != n)
    {
        parsed
            .errors
            .push(format!("#merge: there is no ticket {n}"));
    }
    if !parsed.errors.is_empty() {
        // Nothing changes but the record of the mail itself.
        let (count, updated) = (ticket.message_count, ticket.updated_at);
        *ticket = before;
        ticket.message_count = count;
        ticket.updated_at = updated;
        effects.push(Effect::Log(format!(
            "agent {} sent invalid commands: {}",
            a.name,
            parsed.errors.join("; ")
        )));
        outgoing.push(agent::error_reply(config, ticket, a, &parsed, inbound, now));
        return;
    }
    if parsed.has_reply() {
        match agent::relay(config, ticket, a, &parsed.reply, inbound, now) {
            Ok(item) => outgoing.push(item),
            Err(e) => effects.push(Effect::Log(format!("reply not relayed: {e}"))),
        }
        ticket.first_response_at.get_or_insert(now);
    }
    let status = changes.status.or(if parsed.has_reply() {
        Some(Status::Pending)
    } else if ticket.status == Status::New {
        Some(Status::Open)
    } else {
        None
    });
    if let Some(s) = status {
        ticket.status = s;
        if s == Status::Resolved {
            ticket.resolved_at = Some(now);
        }
    }
    if changes.escalate {
        ticket.escalation += 1;
        ticket.escalations.push(EscalationEvent {
            at: now,
            level: ticket.escalation,
            by: EscalatedBy::Agent,
            detail: a.name.clone(),
        });
        let role = if ticket.escalation >= 2 {
            Role::Supervisor
        } else {
            Role::Tier2
        };
        let to = agent::agents_with_role(config, role);
        effects.push(Effect::Log(format!(
            "ticket {} escalated to level {} by {}",
            ticket.id, ticket.escalation, a.name
        )));
        if !to.is_empty()
            && let Ok(item) = agent::notification(config, ticket, inbound, to, now)
        {
            outgoing.push(item);
        }
    }
    if let (Some(n), Some(target)) = (changes.merge_into, merge_target) {
        let mut target = target.clone();
        for p in &ticket.participants {
            if !target.is_participant(p) {
                target.participants.push(p.clone());
            }
        }
        target.updated_at = now;
        ticket.merged_into = Some(n);
        ticket.status = Status::Closed;
        effects.push(Effect::Log(format!("ticket {} merged into {n}", ticket.id)));
        extra_tickets.push(target);
    }
    if let Some(note) = &parsed.note {
        effects.push(Effect::Log(format!(
            "internal note by {} ({} chars)",
            a.name,
            note.chars().count()
        )));
    }
}

/// Builds the mail for `draft` and applies the per-recipient caps: a capped or unbuildable mail
/// is kept as a suppressed outbox item so the ticket shows what was not sent and why.
fn finish(
    config: &Config,
    mailer: Mailer<'_>,
    draft: &Draft<'_>,
    now: DateTime<Utc>,
    effects: &mut Vec<Effect>,
) -> OutboxItem {
    let out = config
        .outbound
        .as_ref()
        .expect("only called with outbound configured");
    match outbound::build(config, out, mailer.templates, draft, now) {
        Ok(mut item) => {
            for r in &item.to {
                let empty = Vec::new();
                let h = mailer.history.get(&r.to_lowercase()).unwrap_or(&empty);
                if let Some(why) = outbound::rate_limited(&out.rate_limits, h, now) {
                    effects.push(Effect::Log(format!(
                        "{:?} to {r} suppressed: {why}",
                        draft.kind
                    )));
                    item.state = State::Suppressed { reason: why };
                    break;
                }
            }
            item
        }
        Err(why) => {
            effects.push(Effect::Log(format!("{:?} not built: {why}", draft.kind)));
            OutboxItem {
                id: 0,
                ticket: draft.ticket.id,
                kind: draft.kind,
                message_id: String::new(),
                envelope_from: config.support.address.clone(),
                to: vec![draft.ticket.requester.address.clone()],
                subject: String::new(),
                raw: String::new(),
                created_at: now,
                next_attempt_at: now,
                attempts: 0,
                state: State::Suppressed { reason: why },
                last_error: None,
            }
        }
    }
}

/// Changes a ticket's status. Returns `None` when nothing changes; otherwise the new ticket and
/// the progress mail to the customer (when configured).
pub fn set_status(
    config: &Config,
    mailer: Option<Mailer<'_>>,
    ticket: &Ticket,
    status: Status,
    now: DateTime<Utc>,
) -> Option<(Ticket, Vec<OutboxItem>, Vec<Effect>)> {
    if ticket.status == status {
        return None;
    }
    let mut t = ticket.clone();
    t.status = status;
    t.updated_at = now;
    if status == Status::Resolved {
        t.resolved_at = Some(now);
    }
    sync_clocks(config, ticket, &mut t, false, now);
    let mut effects = vec![Effect::Log(format!(
        "ticket {} status {} -> {}",
        t.id, ticket.status, status
    ))];
    let mut outgoing = Vec::new();
    if let (Some(mailer), Some(out)) = (mailer, &config.outbound)
        && out.progress
    {
        let draft = Draft {
            kind: Kind::Progress,
            ticket: &t,
            inbound: None,
            lang: lang_of_ticket(&t, out.language),
            extra: BTreeMap::new(),
            cause: format!("progress:{}:{}:{}", t.id, status, now.timestamp_micros()),
        };
        outgoing.push(finish(config, mailer, &draft, now, &mut effects));
    }
    Some((t, outgoing, effects))
}

/// The SLA ladder steps due on `ticket` at `now`, as mails to the agents they concern. Each step
/// is marked fired on the returned ticket, so committing ticket and mails in one transaction makes
/// every step happen exactly once, across restarts. Steps for business-hours priorities that fall
/// outside business hours are queued until the next business start. `None` when nothing is due.
pub fn escalate(
    config: &Config,
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
    let team = crate::sla::Team {
        assignee: ticket.assignee.as_deref(),
        tier2: &tier2,
        supervisors: &supervisors,
    };
    let mut t = ticket.clone();
    let mut outgoing = Vec::new();
    let mut effects = Vec::new();
    for esc in &due {
        let r = crate::sla::recipients(
            esc.step,
            t.priority,
            now,
            &config.calendar,
            &config.sla,
            &team,
        );
        let to: Vec<crate::parse::Mailbox> =
            r.to.iter()
                .filter_map(|n| config.agents.iter().find(|a| &a.name == n))
                .map(|a| crate::parse::Mailbox {
                    name: Some(a.name.clone()),
                    address: a.addresses[0].clone(),
                })
                .collect();
        let level = match esc.step {
            crate::sla::Step::Breach => 1,
            crate::sla::Step::Supervisor => 2,
            _ => 0,
        };
        if level > t.escalation {
            t.escalation = level;
            t.escalations.push(EscalationEvent {
                at: now,
                level,
                by: EscalatedBy::Sla,
                detail: format!("{} {}", esc.clock, esc.step),
            });
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
            && let Ok(mut item) = agent::escalation_mail(config, &t, esc, to, r.on_call, now)
        {
            if let Some(w) = r.wait_until {
                item.next_attempt_at = w;
            }
            outgoing.push(item);
        }
        t.sla = t.sla.mark_fired(esc);
    }
    Some((t, outgoing, effects))
}

/// The ticket's language, judged from its subject when no mail is at hand.
fn lang_of_ticket(t: &Ticket, default: crate::config::Language) -> crate::config::Language {
    if t.subject
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count()
        >= 2
    {
        crate::config::Language::Zh
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Mailbox;
    use crate::ticket::Priority;

    fn config() -> Config {
        Config::parse(
            r#"
[imap]
host = "127.0.0.1"
security = "plain"
username = "support"
password = "x"
[smtp]
host = "127.0.0.1"
security = "plain"
[outbound]
secret = "0123456789abcdef0123"
[store]
path = "/tmp/x"
[support]
address = "support@example.com"
[[agents]]
name = "alice"
addresses = ["alice@example.com"]
[[agents]]
name = "tess"
addresses = ["tess@example.com"]
role = "tier2"
[[agents]]
name = "sue"
addresses = ["sue@example.com"]
role = "supervisor"
"#,
            std::path::Path::new("/etc/supportd/supportd.toml"),
        )
        .unwrap()
    }

    fn p1_ticket(config: &Config, created: DateTime<Utc>) -> Ticket {
        Ticket {
            id: 1,
            status: Status::New,
            priority: Priority::P1,
            customer: "c".into(),
            subject: "site down".into(),
            normalized_subject: "site down".into(),
            requester: Mailbox {
                name: None,
                address: "c@example.org".into(),
            },
            participants: vec!["c@example.org".into()],
            message_count: 1,
            created_at: created,
            updated_at: created,
            last_customer_message_id: "m@example.org".into(),
            related: None,
            assignee: Some("alice".into()),
            first_response_at: None,
            resolved_at: None,
            merged_into: None,
            escalation: 0,
            priority_rule: "test".into(),
            sla: crate::sla::Clocks::start(&config.calendar, &config.sla, Priority::P1, created),
            escalations: Vec::new(),
            satisfaction: None,
        }
    }

    fn recipients(items: &[OutboxItem]) -> Vec<String> {
        items.iter().flat_map(|i| i.to.clone()).collect()
    }

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
            escalate(&config, &t, at(20)).is_none(),
            "nothing due before 80 %"
        );

        let (t1, mails, _) = escalate(&config, &t, at(25)).expect("warning at 80 % of 30 min");
        assert_eq!(recipients(&mails), ["alice@example.com"]);
        assert!(
            mails[0].subject.contains("SLA warning"),
            "{}",
            mails[0].subject
        );
        t = t1;
        assert!(
            escalate(&config, &t, at(26)).is_none(),
            "the warning fires once"
        );

        // A restart: the ticket comes back from the store as JSON.
        t = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        let (t2, mails, _) = escalate(&config, &t, at(31)).expect("breach");
        let mut to = recipients(&mails);
        to.sort();
        assert_eq!(to, ["alice@example.com", "tess@example.com"]);
        assert_eq!(t2.escalation, 1);
        t = t2;
        assert!(
            escalate(&config, &t, at(40)).is_none(),
            "the breach fires once"
        );

        // Resolution (2 h) warns at 96 min; the supervisor hears 30 min after the breach.
        let mut seen = Vec::new();
        for m in 41..=200 {
            if let Some((next, mails, _)) = escalate(&config, &t, at(m)) {
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
        let t0 = Utc::now();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Resolved;
        assert!(escalate(&config, &t, t0 + chrono::Duration::hours(5)).is_none());
    }
}
