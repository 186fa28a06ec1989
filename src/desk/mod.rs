//! The desk core: what happens to the ticket state when a mail arrives.
//!
//! Plain functions over data. The shell hands in the current ticket (if threading chose one), the
//! parsed mail and *now*; the core returns the new ticket, the message record and the effects.
//! Nothing here touches the network, the disk or the clock, so the rules are tested in
//! microseconds and the shell decides how to make the result durable.

pub mod agent;
pub mod commands;
pub mod effect;
pub mod outbound;
pub mod report;
pub mod threading;

use chrono::{DateTime, Utc};

use std::collections::BTreeMap;

use crate::config::Config;
use crate::config::sections::AgentConfig;
use crate::config::sections::ClosedPolicy;
use crate::config::sections::Role;
use crate::desk::commands::CommandError;
use crate::desk::effect::Effect;
use crate::desk::outbound::compose::Draft;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::may_answer::refuse_auto_reply;
use crate::desk::outbound::wording::{lang_of_ticket, language, missing_information};
use crate::desk::threading::Match;
use crate::domain::outbox::Kind;
use crate::domain::outbox::OutboxItem;
use crate::domain::outbox::State;
use crate::domain::status::Status;
use crate::domain::ticket::{
    AttachmentMeta, EscalatedBy, Message, Satisfaction, Source, ThreadedBy, Ticket,
};
use crate::mail::parse::Inbound;
use crate::mail::subject;

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

    // A customer's answer to the satisfaction survey is recorded on the finished ticket, which
    // stays finished; anything else from them reopens it (or starts a new one, below).
    let survey = existing
        .as_ref()
        .filter(|t| {
            agent.is_none()
                && matched.ticket() == Some(t.id)
                && matches!(t.status, Status::Resolved | Status::Closed)
                && !inbound.machine.is_machine_generated()
        })
        .and_then(|_| crate::domain::sla::survey_answer(&inbound.reply_text));

    // A customer writing to a finished ticket: reopen it, or start a new one linked to it.
    let mut reject_notice = false;
    let mut reopened = false;
    let mut related_override = None;
    let existing = match existing {
        Some(t) if survey.is_some() => Some(t),
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
            let (priority, rule) = crate::domain::sla::classify(
                &inbound.subject,
                &inbound.reply_text,
                intake.vip,
                sup.default_priority,
                &config.sla,
            );
            t.priority = priority;
            t.priority_rule = rule;
            t.sla = crate::domain::sla::Clocks::start(&config.calendar, &config.sla, priority, now);
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

    if let Some((score, comment)) = &survey {
        effects.push(Effect::Log(format!(
            "ticket {}: satisfaction {score}/5 from the customer",
            ticket.id
        )));
        ticket.satisfaction = Some(Satisfaction {
            score: *score,
            comment: comment.clone(),
            at: now,
        });
    }
    // A follow-up asking for escalation (升级/投诉/escalate…) raises the level by one, up to the
    // supervisors; asking again after that tells them again instead of climbing further.
    let mut customer_escalation = None;
    let mut asked_again = false;
    if agent.is_none()
        && !created
        && survey.is_none()
        && !reject_notice
        && ticket.status.is_active()
        && !inbound.machine.is_machine_generated()
        && let Some(word) = crate::domain::sla::escalation_request(&inbound.reply_text, &config.sla)
    {
        if ticket.escalation >= SUPERVISOR_LEVEL {
            asked_again = true;
            effects.push(Effect::Log(format!(
                "ticket {}: the customer asks again to escalate (\"{word}\"); already at level {}",
                ticket.id, ticket.escalation
            )));
        } else {
            let level = ticket.escalation + 1;
            ticket.escalate_to(level, EscalatedBy::Customer, format!("\"{word}\""), now);
            effects.push(Effect::Log(format!(
                "ticket {} escalated to level {} at the customer's request (\"{word}\")",
                ticket.id, ticket.escalation
            )));
            customer_escalation = Some(ticket.escalation);
        }
    }

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
        } else if survey.is_some() {
            None
        } else if customer_escalation.is_some() {
            out.escalation_notice.then_some(Kind::Escalated)
        } else if created && out.acknowledge {
            Some(Kind::Ack)
        } else if !created && out.followup_notice {
            Some(Kind::Followup)
        } else {
            None
        };
        if let Some(kind) = kind {
            match refuse_auto_reply(config, inbound) {
                Some(why) => effects.push(Effect::Log(format!("no {kind:?} sent: {why}"))),
                None => {
                    let mut extra = BTreeMap::new();
                    if let Some(level) = customer_escalation {
                        extra.insert(
                            "escalation",
                            escalation_context(level, EscalatedBy::Customer),
                        );
                    }
                    if kind == Kind::Ack {
                        let identified = !customer.eq_ignore_ascii_case(sender);
                        extra.insert(
                            "missing",
                            minijinja::Value::from_serialize(missing_information(
                                inbound, identified,
                            )),
                        );
                    }
                    let draft = Draft {
                        kind,
                        ticket: &ticket,
                        inbound: Some(inbound),
                        lang: language(inbound, out.language),
                        extra,
                        cause: match customer_escalation {
                            Some(level) => format!("escalated:{}:{level}", ticket.id),
                            None => format!("{kind:?}:{}", inbound.message_id),
                        },
                    };
                    outgoing.push(mailer.write(config, &draft, now, &mut effects));
                }
            }
        }
        // Agents hear about every human customer mail but survey answers, of which only low
        // scores concern them (and the supervisors); machine mail on a ticket is only filed.
        let (headline, extra_role) = match (&survey, customer_escalation) {
            (Some((score, _)), _) if *score <= 2 => (
                Some(agent::Headline::LowScore(*score)),
                Some(Role::Supervisor),
            ),
            (Some(_), _) => (None, None),
            (None, Some(level)) => (
                Some(agent::Headline::CustomerEscalation(level)),
                Some(escalation_role(level)),
            ),
            (None, None) if asked_again => (
                Some(agent::Headline::CustomerAsksAgain),
                Some(Role::Supervisor),
            ),
            (None, None) => (None, None),
        };
        let quiet = survey.is_some() && headline.is_none();
        if !inbound.machine.is_machine_generated() && !reject_notice && !quiet {
            // Outside business hours a P1/P2 also wakes whoever is on call; a P3/P4 waits.
            let (on_call, wait_until) = crate::domain::sla::notification_route(
                ticket.priority,
                now,
                &config.calendar,
                &config.sla,
            );
            let mut to = agent::notify_targets(config, &ticket);
            let on_call = on_call
                .and_then(|n| config.agent_named(&n))
                .map(|a| vec![agent::agent_mailbox(a)]);
            let role = extra_role.map(|r| agent::agents_with_role(config, r));
            for m in on_call.into_iter().chain(role).flatten() {
                if !to
                    .iter()
                    .any(|t| t.address.eq_ignore_ascii_case(&m.address))
                {
                    to.push(m);
                }
            }
            if !to.is_empty() {
                match agent::notification(config, &ticket, inbound, headline.as_ref(), to, now) {
                    Ok(mut item) => {
                        if let Some(w) = wait_until {
                            item.hold_until(w);
                            effects.push(Effect::Log(format!(
                                "agent notification held until business hours ({w})"
                            )));
                        }
                        outgoing.push(item)
                    }
                    Err(e) => effects.push(Effect::Log(format!("no agent notification: {e}"))),
                }
            }
        }
    }
    // An agent resolved the ticket: ask the customer how it went.
    if let (Some(mailer), Some(out), Some(_)) = (mailer, &config.outbound, agent)
        && out.survey
        && before.status != Status::Resolved
        && ticket.status == Status::Resolved
    {
        let draft = survey_draft(&ticket, out.language);
        outgoing.push(mailer.write(config, &draft, now, &mut effects));
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

/// The top of the escalation ladder: the supervisors.
const SUPERVISOR_LEVEL: u32 = 2;

/// Who an escalation to `level` goes to: tier 2 first, supervisors from level 2.
fn escalation_role(level: u32) -> Role {
    if level >= SUPERVISOR_LEVEL {
        Role::Supervisor
    } else {
        Role::Tier2
    }
}

/// Template variables of an escalation notice to the customer.
fn escalation_context(level: u32, by: EscalatedBy) -> minijinja::Value {
    minijinja::context! { level => level, by => by }
}

/// The satisfaction survey for a ticket just resolved; one per resolution cycle, so a repeated
/// event cannot ask twice.
fn survey_draft(t: &Ticket, default: crate::config::sections::Language) -> Draft<'_> {
    Draft {
        kind: Kind::Survey,
        ticket: t,
        inbound: None,
        lang: lang_of_ticket(t, default),
        extra: BTreeMap::new(),
        cause: format!("survey:{}:{}", t.id, t.sla.resolution.cycle),
    }
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
        parsed.errors.push(CommandError::NoMergeTarget(n));
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
            parsed
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
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
        let level = ticket.escalation + 1;
        ticket.escalate_to(level, EscalatedBy::Agent, a.name.clone(), now);
        let to = agent::agents_with_role(config, escalation_role(ticket.escalation));
        effects.push(Effect::Log(format!(
            "ticket {} escalated to level {} by {}",
            ticket.id, ticket.escalation, a.name
        )));
        let headline = agent::Headline::AgentEscalation(a.name.clone(), ticket.escalation);
        if !to.is_empty()
            && let Ok(item) = agent::notification(config, ticket, inbound, Some(&headline), to, now)
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
    if let (Some(mailer), Some(out)) = (mailer, &config.outbound) {
        let draft = if status == Status::Resolved && out.survey {
            Some(survey_draft(&t, out.language))
        } else {
            out.progress.then(|| Draft {
                kind: Kind::Progress,
                ticket: &t,
                inbound: None,
                lang: lang_of_ticket(&t, out.language),
                extra: BTreeMap::new(),
                cause: format!("progress:{}:{}:{}", t.id, status, now.timestamp_micros()),
            })
        };
        if let Some(draft) = draft {
            let item = mailer.write(config, &draft, now, &mut effects);
            // An operator's status change the customer hears about is an update.
            if item.state == State::Pending {
                t.sla = t.sla.on_customer_visible_update(
                    &config.calendar,
                    &config.sla,
                    t.priority,
                    now,
                );
            }
            outgoing.push(item);
        }
    }
    Some((t, outgoing, effects))
}

/// The SLA ladder steps due on `ticket` at `now`, as mails to the agents they concern, plus a
/// short notice to the customer whenever the escalation level rises (so nobody waits in
/// silence; needs `mailer`). Each step is marked fired on the returned ticket, so committing
/// ticket and mails in one transaction makes every step happen exactly once, across restarts.
/// Steps for business-hours priorities that fall outside business hours are queued until the
/// next business start. `None` when nothing is due.
pub fn escalate(
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
    let team = crate::domain::sla::Team {
        assignee: ticket.assignee.as_deref(),
        tier2: &tier2,
        supervisors: &supervisors,
    };
    let mut t = ticket.clone();
    let mut outgoing = Vec::new();
    let mut effects = Vec::new();
    for esc in &due {
        let r = crate::domain::sla::recipients(
            esc.step,
            t.priority,
            now,
            &config.calendar,
            &config.sla,
            &team,
        );
        let to: Vec<crate::mail::mailbox::Mailbox> =
            r.to.iter()
                .filter_map(|n| config.agent_named(n))
                .map(agent::agent_mailbox)
                .collect();
        let level = match esc.step {
            crate::domain::sla::Step::Breach => 1,
            crate::domain::sla::Step::Supervisor => 2,
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
            && let Ok(mut item) = agent::escalation_mail(config, &t, esc, to, r.on_call, now)
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
    use crate::desk::outbound::templates::Templates;
    use crate::domain::priority::Priority;
    use crate::mail::mailbox::Mailbox;
    use std::collections::HashMap;

    fn config() -> Config {
        config_with("")
    }

    fn config_with(extra: &str) -> Config {
        crate::config::sample::scratch(std::path::Path::new("/tmp/x"), extra).unwrap()
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
            sla: crate::domain::sla::Clocks::start(
                &config.calendar,
                &config.sla,
                Priority::P1,
                created,
            ),
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
        let t0 = Utc::now();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Resolved;
        assert!(escalate(&config, None, &t, t0 + chrono::Duration::hours(5)).is_none());
    }

    /// Built-in templates and an empty rate history, for tests that send mail.
    fn mailer() -> Mailer<'static> {
        static TEMPLATES: std::sync::LazyLock<Templates> =
            std::sync::LazyLock::new(Templates::builtin);
        static HISTORY: std::sync::LazyLock<HashMap<String, Vec<DateTime<Utc>>>> =
            std::sync::LazyLock::new(HashMap::new);
        Mailer {
            templates: &TEMPLATES,
            history: &HISTORY,
        }
    }

    fn mail(from: &str, subject: &str, body: &str, id: &str) -> Inbound {
        Inbound {
            message_id: id.into(),
            message_id_synthetic: false,
            in_reply_to: vec![],
            references: vec![],
            from: Mailbox {
                name: None,
                address: from.into(),
            },
            reply_to: vec![],
            to: vec![Mailbox {
                name: None,
                address: "support@example.com".into(),
            }],
            cc: vec![],
            date: None,
            subject: subject.into(),
            text: body.into(),
            reply_text: body.into(),
            from_html: false,
            attachments: vec![],
            machine: Default::default(),
            raw_sha256: String::new(),
            size: 0,
            reported_ids: vec![],
            authentication_results: vec![],
        }
    }

    fn follow_up(config: &Config, t: &Ticket, body: &str, n: u32, now: DateTime<Utc>) -> Accepted {
        let mailer = mailer();
        let m = mail(
            "c@example.org",
            "Re: [SUP-1] site down",
            body,
            &format!("f{n}@example.org"),
        );
        accept(
            config,
            Some(t.clone()),
            2,
            &Match::Tag { ticket: t.id },
            &m,
            "c",
            None,
            Some(mailer),
            Intake::default(),
            now,
        )
    }

    fn kinds(a: &Accepted) -> Vec<(Kind, Vec<String>)> {
        a.outgoing.iter().map(|o| (o.kind, o.to.clone())).collect()
    }

    #[test]
    fn a_customer_asking_to_escalate_gets_tier2_then_the_supervisor() {
        let config = config();
        let t0 = Utc::now();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Open;

        let a = follow_up(&config, &t, "三天了还没解决，我要投诉", 1, t0);
        assert_eq!(a.ticket.escalation, 1);
        assert_eq!(a.ticket.escalations[0].by, EscalatedBy::Customer);
        let k = kinds(&a);
        assert_eq!(k[0], (Kind::Escalated, vec!["c@example.org".to_owned()]));
        assert!(
            a.outgoing[0].raw.contains("Subject:"),
            "{}",
            a.outgoing[0].raw
        );
        assert_eq!(k[1].0, Kind::AgentNotify);
        assert_eq!(k[1].1, ["alice@example.com", "tess@example.com"]);
        assert!(
            a.outgoing[1]
                .subject
                .contains("Escalated by the customer to level 1")
        );

        let a = follow_up(
            &config,
            &a.ticket,
            "Please escalate to your supervisor.",
            2,
            t0,
        );
        assert_eq!(a.ticket.escalation, 2);
        assert_eq!(kinds(&a)[1].1, ["alice@example.com", "sue@example.com"]);

        // An upgrade question is not an escalation.
        let a = follow_up(&config, &a.ticket, "PHP 升级后还是打不开", 3, t0);
        assert_eq!(a.ticket.escalation, 2);
        assert_eq!(kinds(&a).len(), 1, "only the usual notification");

        // Asking again at the top tells the supervisors again, without climbing or re-notifying
        // the customer.
        let a = follow_up(&config, &a.ticket, "我要投诉！！", 4, t0);
        assert_eq!(a.ticket.escalation, 2);
        assert_eq!(a.ticket.escalations.len(), 2);
        let k = kinds(&a);
        assert_eq!(k.len(), 1, "{k:?}");
        assert_eq!(k[0].1, ["alice@example.com", "sue@example.com"]);
        assert!(a.outgoing[0].subject.contains("asks again"));
    }

    #[test]
    fn survey_answers_are_recorded_without_reopening() {
        let config = config();
        let t0 = Utc::now();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Resolved;
        t.resolved_at = Some(t0);

        let a = follow_up(&config, &t, "满意\n谢谢，处理很快", 1, t0);
        assert_eq!(a.ticket.status, Status::Resolved);
        let s = a.ticket.satisfaction.as_ref().unwrap();
        assert_eq!((s.score, s.comment.as_str()), (5, "谢谢，处理很快"));
        assert!(a.outgoing.is_empty(), "a good score mails nobody");

        let a = follow_up(&config, &a.ticket, "2 - took far too long", 2, t0);
        assert_eq!(a.ticket.satisfaction.as_ref().unwrap().score, 2);
        assert_eq!(a.ticket.status, Status::Resolved);
        let k = kinds(&a);
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].1, ["alice@example.com", "sue@example.com"]);

        let a = follow_up(&config, &a.ticket, "The site is down again!", 3, t0);
        assert_eq!(a.ticket.status, Status::Open, "a real follow-up reopens");
    }

    #[test]
    fn resolving_asks_for_a_score_once() {
        let config = config();
        let mailer = mailer();
        let t0 = Utc::now();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Open;
        let (t1, mails, _) = set_status(&config, Some(mailer), &t, Status::Resolved, t0).unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].kind, Kind::Survey);
        assert!(
            mails[0].raw.contains("1 (very unhappy) to 5"),
            "{}",
            mails[0].raw
        );
        let again = set_status(&config, Some(mailer), &t, Status::Resolved, t0).unwrap();
        assert_eq!(
            again.1[0].message_id, mails[0].message_id,
            "same cycle, same mail"
        );
        assert!(set_status(&config, Some(mailer), &t1, Status::Resolved, t0).is_none());
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

    #[test]
    fn at_night_p1_wakes_the_on_call_agent_and_p3_waits_for_the_morning() {
        let config = config_with(
            "\n[[sla.oncall]]\nfrom = \"2026-11-01\"\nto = \"2026-11-30\"\nprimary = \"tess\"\n",
        );
        let mailer = mailer();
        // Saturday 23:00 in Shanghai.
        let night = DateTime::parse_from_rfc3339("2026-11-28T23:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let monday = DateTime::parse_from_rfc3339("2026-11-30T09:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let new_ticket = |subject: &str, body: &str| {
            accept(
                &config,
                None,
                7,
                &Match::New {
                    related: None,
                    refused: None,
                },
                &mail("c@example.org", subject, body, "n@example.org"),
                "c",
                None,
                Some(mailer),
                Intake::default(),
                night,
            )
        };
        let a = new_ticket("Website down", "The whole site is down, 502.");
        assert_eq!(a.ticket.priority, crate::domain::priority::Priority::P1);
        let notify = a
            .outgoing
            .iter()
            .find(|o| o.kind == Kind::AgentNotify)
            .unwrap();
        assert_eq!(notify.to.len(), 2, "assignee and on call: {:?}", notify.to);
        assert!(notify.to.contains(&"tess@example.com".to_owned()));
        assert_eq!(notify.next_attempt_at, night, "sent at once");

        let a = new_ticket("Question about invoices", "How do I download an invoice?");
        assert!(a.ticket.priority >= crate::domain::priority::Priority::P3);
        let notify = a
            .outgoing
            .iter()
            .find(|o| o.kind == Kind::AgentNotify)
            .unwrap();
        assert!(!notify.to.contains(&"tess@example.com".to_owned()));
        assert_eq!(notify.next_attempt_at, monday, "held until business hours");
        assert_eq!(notify.due_since(), monday, "not overdue while held");
        let ack = a.outgoing.iter().find(|o| o.kind == Kind::Ack).unwrap();
        assert_eq!(
            ack.next_attempt_at, night,
            "the customer's ack is never held"
        );
    }

    #[test]
    fn agents_who_work_in_chinese_get_chinese_notifications() {
        let mut config = config();
        config.agents[0].languages = vec!["zh-CN".into(), "en".into()];
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let t = p1_ticket(&config, t0);
        let (_, mails, _) =
            escalate(&config, None, &t, t0 + chrono::Duration::minutes(25)).unwrap();
        assert!(
            mails[0].subject.contains("SLA 预警 (首次响应)"),
            "{}",
            mails[0].subject
        );
        let a = follow_up(&config, &t, "请尽快处理", 1, t0);
        let n = a
            .outgoing
            .iter()
            .find(|o| o.kind == Kind::AgentNotify)
            .unwrap();
        let text = crate::mail::parse::parse(n.raw.as_bytes()).unwrap().text;
        assert!(text.contains("客户追加回复"), "{text}");
        assert!(text.contains("处理人：alice"), "{text}");
        assert!(text.contains("直接回复本邮件"), "{text}");
        // An English-first agent on the same mail keeps it English.
        config.agents[1].languages = vec!["en".into()];
        let (_, mails, _) =
            escalate(&config, None, &t, t0 + chrono::Duration::minutes(31)).unwrap();
        assert!(
            mails[0].subject.contains("SLA BREACHED"),
            "{}",
            mails[0].subject
        );
    }
}
