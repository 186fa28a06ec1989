//! What one inbound mail does to its ticket: the ticket after it, the message record, the mails
//! it causes and the log lines, decided from the mail, what the shell looked up and *now*.
//!
//! [`accept`] reads the mail in named steps, in this order, each one recording what it found in
//! the [`Reading`] the later steps consult:
//! 1. [`survey_answer`]: a customer's score for a finished ticket is recorded; it reopens nothing;
//! 2. [`reopen`]: any other customer mail to a finished ticket reopens it, opens a new ticket
//!    linked to it, or is filed with a notice (`closed_policy = "reject"`);
//! 3. [`open_or_join`]: the ticket threading chose, or a new one (classified, clocks started);
//! 4. [`follow_up`]: a customer's mail adds its participants and moves a pending ticket on;
//! 5. [`customer_escalation`]: "升级/投诉/escalate" raises the level, up to the supervisors;
//! 6. the agent's reply ([`crate::desk::agent::reply`]): commands, note, relayed answer;
//! 7. the SLA clocks follow what changed;
//! 8. [`customer_notice`] and [`agent_notification`]: who hears of it;
//! 9. [`survey_request`]: an agent resolving the ticket asks the customer for a score.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::{AgentConfig, ClosedPolicy, Role};
use crate::desk::agent::assign::{SUPERVISOR_LEVEL, escalation_role};
use crate::desk::agent::assign::{agent_mailbox, agents_with_role, assign, notify_targets};
use crate::desk::agent::notification::{Headline, notification};
use crate::desk::agent::reply;
use crate::desk::authenticated::{FromAuth, from_authentication};
use crate::desk::effect::Effect;
use crate::desk::escalate::escalation_context;
use crate::desk::outbound::compose::Draft;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::may_answer::{refuse_auto_reply, spam_verdict};
use crate::desk::outbound::wording::{language, missing_information};
use crate::desk::participants;
use crate::desk::status::{survey_draft, sync_clocks};
use crate::desk::threading::Match;
use crate::domain::customer::Resolved;
use crate::domain::message::{Message, Source, ThreadedBy};
use crate::domain::outbox::{Kind, OutboxItem};
use crate::domain::sla::classify::classify;
use crate::domain::sla::classify::escalation_request;
use crate::domain::sla::clocks::Clocks;
use crate::domain::sla::routing::notification_route;
use crate::domain::status::Status;
use crate::domain::survey;
use crate::domain::ticket::{EscalatedBy, Joined, Satisfaction, Ticket};
use crate::mail::autoreply::out_of_office;
use crate::mail::inbound::Inbound;
use crate::mail::subject;

/// One inbound mail and the facts about it the shell looked up for the core.
#[derive(Debug, Clone)]
pub(crate) struct Intake<'a> {
    pub(crate) inbound: &'a Inbound,
    /// Threading's decision ([`crate::desk::threading::decide`]).
    pub(crate) matched: &'a Match,
    /// The ticket threading chose, as stored (`None` for a new ticket).
    pub(crate) existing: Option<Ticket>,
    /// The number a new ticket gets.
    pub(crate) next_id: u64,
    /// The mail's customer ([`crate::domain::customer::resolve`]).
    pub(crate) customer: &'a str,
    /// How it was found: a claim (an ID written in the mail) is told to the agents.
    pub(crate) resolved: Resolved,
    /// Where the mail was found on the server, recorded on the message.
    pub(crate) source: Option<Source>,
    /// The authenticated agent who wrote it, if any ([`crate::desk::agent::proof`]).
    pub(crate) agent: Option<&'a AgentConfig>,
    /// The customer's dedicated contact (agent name) from the directory.
    pub(crate) contact: Option<&'a str>,
    /// For an agent's `#merge N`: ticket N, if it exists.
    pub(crate) merge_target: Option<&'a Ticket>,
    /// For an agent's mail: the texts of the mails we sent the agents about the ticket, newest
    /// first, which their answer must not pass on ([`crate::desk::agent::answer::sent_texts`]).
    pub(crate) sent: &'a [String],
    /// The customer is a VIP (directory tier), which raises the priority one level.
    pub(crate) vip: bool,
    /// The queue a new ticket opens in, as stored ([`Config::stored_queue_name`]).
    pub(crate) queue: &'a str,
}

#[cfg(test)]
impl<'a> Intake<'a> {
    #[cfg(test)]
    /// A customer's mail that opens ticket 1, with nothing looked up; set the fields that apply.
    pub(crate) fn new(inbound: &'a Inbound, matched: &'a Match, customer: &'a str) -> Intake<'a> {
        Intake {
            inbound,
            matched,
            existing: None,
            next_id: 1,
            customer,
            resolved: Resolved::Sender,
            source: None,
            agent: None,
            contact: None,
            merge_target: None,
            sent: &[],
            vip: false,
            queue: "",
        }
    }
}

/// The result of accepting one inbound mail, committed by the shell in one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Accepted {
    /// The ticket after the mail (new or updated).
    pub(crate) ticket: Ticket,
    /// True when the mail opened the ticket.
    pub(crate) created: bool,
    /// The message record to store.
    pub(crate) message: Message,
    /// Log lines for the shell.
    pub(crate) effects: Vec<Effect>,
    /// Mails to enqueue in the same transaction.
    pub(crate) outgoing: Vec<OutboxItem>,
    /// Other tickets changed by the mail (a merge target), saved in the same transaction.
    pub(crate) extra_tickets: Vec<Ticket>,
    /// Addresses now known for a customer ID (address, ID), saved in the same transaction.
    pub(crate) learned: Vec<(String, String)>,
}

/// What every step needs, and what they produce besides the ticket.
struct Ctx<'a> {
    config: &'a Config,
    inbound: &'a Inbound,
    /// The authenticated agent who wrote the mail; `None` for a customer's (or a stranger's).
    agent: Option<&'a AgentConfig>,
    mailer: Option<Mailer<'a>>,
    now: DateTime<Utc>,
    effects: Vec<Effect>,
    outgoing: Vec<OutboxItem>,
    /// What the agents' notification must point out (a claim, a refusal, spam).
    notes: Vec<String>,
    /// Addresses learned for a customer ID.
    learned: Vec<(String, String)>,
    /// Why the receiving side judged the mail spam, if it did.
    spam: Option<String>,
}

impl Ctx<'_> {
    fn log(&mut self, line: String) {
        self.effects.push(Effect::Log(line));
    }

    /// True for a customer's mail that a person wrote (not an agent's, not a machine's, not
    /// spam).
    fn is_human_customer_mail(&self) -> bool {
        self.agent.is_none() && !self.inbound.machine.is_machine_generated() && self.spam.is_none()
    }
}

/// What the steps found out about the mail.
#[derive(Debug, Default)]
struct Reading {
    /// A survey score and comment.
    survey: Option<(u8, String)>,
    /// It reopened a finished ticket.
    reopened: bool,
    /// It went to a closed ticket under `closed_policy = "reject"`: filed, the customer told.
    rejected: bool,
    /// It opened the ticket.
    created: bool,
    /// The customer asked to escalate.
    escalation: CustomerEscalation,
}

/// A customer's request to escalate and what came of it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum CustomerEscalation {
    /// None asked for.
    #[default]
    None,
    /// The level was raised to this.
    Raised(u32),
    /// Asked again with the supervisors already on it: they are told again.
    AskedAgain,
}

/// Applies one inbound mail: the ticket threading chose in `intake` (or a new one), with the
/// mails it causes when `mailer` is given (with `[outbound]` configured).
pub(crate) fn accept(
    config: &Config,
    mut intake: Intake<'_>,
    mailer: Option<Mailer<'_>>,
    now: DateTime<Utc>,
) -> Accepted {
    let mut ctx = Ctx {
        config,
        inbound: intake.inbound,
        agent: intake.agent,
        mailer,
        now,
        effects: Vec::new(),
        outgoing: Vec::new(),
        notes: Vec::new(),
        learned: Vec::new(),
        spam: spam_verdict(config, intake.inbound),
    };
    if let Some(why) = &ctx.spam {
        ctx.notes.push(format!(
            "Flagged as spam by the receiving side ({why}): stored, not acknowledged."
        ));
    }
    let mut reading = Reading {
        survey: survey_answer(&ctx, intake.existing.as_ref(), intake.matched),
        ..Reading::default()
    };
    let existing = intake.existing.take();
    let (existing, related) = reopen(&mut ctx, existing, intake.matched, &mut reading);
    let (mut ticket, threaded_by) = open_or_join(&mut ctx, existing, &intake, related);
    reading.created = threaded_by == ThreadedBy::New;
    let before = ticket.clone();
    if reading.created {
        claim_note(&mut ctx, &ticket, &intake);
    }
    follow_up(&mut ctx, &mut ticket, intake.matched, &reading);
    if let Some((score, comment)) = &reading.survey {
        ctx.log(format!(
            "ticket {}: satisfaction {score}/5 from the customer",
            ticket.id
        ));
        ticket.satisfaction = Some(Satisfaction {
            score: *score,
            comment: comment.clone(),
            at: now,
        });
    }
    reading.escalation = customer_escalation(&mut ctx, &mut ticket, &reading);
    let mut extra_tickets = Vec::new();
    let mut agent_words = None;
    if let (Some(a), false) = (ctx.agent, reading.created) {
        let r = reply::apply(
            config,
            a,
            &mut ticket,
            ctx.inbound,
            intake.sent,
            intake.merge_target,
            now,
        );
        agent_words = r.words;
        ctx.effects.extend(r.effects);
        ctx.outgoing.extend(r.outgoing);
        ctx.learned.extend(r.learned);
        extra_tickets = r.extra_tickets;
        if ticket.queue != before.queue {
            moved(&mut ctx, &before, &mut ticket);
        }
    }
    if !reading.created {
        let agent_replied = ctx.outgoing.iter().any(|o| o.kind == Kind::Relay);
        sync_clocks(config, &before, &mut ticket, agent_replied, now);
    }
    let mut message = Message::received(
        ctx.inbound,
        ticket.id,
        ticket.message_count,
        threaded_by,
        intake.source,
        now,
    );
    message.internal = ctx.agent.is_some() && !reading.created;
    message.from_agent = ctx.agent.is_some();
    message.spam = ctx.spam.clone();
    if let Some(words) = agent_words {
        message.reply_text = words;
    }
    ctx.log(if reading.created {
        format!(
            "opened ticket {} for customer {}",
            ticket.id, ticket.customer
        )
    } else {
        format!(
            "added message {} to ticket {} (by {threaded_by:?})",
            message.seq, ticket.id
        )
    });
    if ctx.mailer.is_some() && config.outbound.is_some() && ctx.agent.is_none() {
        customer_notice(&mut ctx, &ticket, intake.customer, &reading);
        agent_notification(&mut ctx, &ticket, &reading);
    }
    survey_request(&mut ctx, &before, &ticket);
    Accepted {
        ticket,
        created: reading.created,
        message,
        effects: ctx.effects,
        outgoing: ctx.outgoing,
        extra_tickets,
        learned: ctx.learned,
    }
}

/// `#queue` moved the ticket: its clocks follow the new queue's targets and calendar, its
/// assignee stays only when they work in the new queue (else round-robin there), and the
/// customer hears of it only when the promised first response changed.
fn moved(ctx: &mut Ctx<'_>, before: &Ticket, ticket: &mut Ticket) {
    let view = ctx.config.in_queue(&ticket.queue);
    let cfg = &*view;
    let name = cfg.queue(&ticket.queue).name.clone();
    ticket.sla = ticket
        .sla
        .on_priority_change(&cfg.calendar, &cfg.sla, ticket.priority, ctx.now);
    if ticket
        .assignee
        .as_deref()
        .is_none_or(|a| cfg.agent_named(a).is_none())
    {
        ticket.assignee = assign(cfg, None, ticket.id);
    }
    ctx.log(format!(
        "ticket {} moved to queue {name} (assignee {})",
        ticket.id,
        ticket.assignee.as_deref().unwrap_or("none")
    ));
    let promised = |t: &Ticket| {
        t.first_response_at
            .is_none()
            .then_some(t.sla.first_response.due_at)
            .flatten()
    };
    let due = promised(ticket);
    if due.is_none() || due == promised(before) {
        return;
    }
    let (Some(mailer), Some(out)) = (ctx.mailer, &cfg.outbound) else {
        return;
    };
    let draft = Draft {
        kind: Kind::Moved,
        ticket,
        inbound: None,
        lang: crate::desk::outbound::wording::lang_of_ticket(ticket, out.language),
        extra: BTreeMap::new(),
        cause: format!("moved:{}:{name}:{}", ticket.id, ticket.message_count),
    };
    let item = mailer.write(cfg, &draft, ctx.now, &mut ctx.effects);
    ctx.outgoing.push(item);
}

/// A customer's answer to the satisfaction survey on the finished ticket it names, if the mail
/// is one. It is recorded on the ticket, which stays finished.
fn survey_answer(
    ctx: &Ctx<'_>,
    existing: Option<&Ticket>,
    matched: &Match,
) -> Option<(u8, String)> {
    existing
        .filter(|t| {
            ctx.is_human_customer_mail()
                && matched.ticket() == Some(t.id)
                && matches!(t.status, Status::Resolved | Status::Closed)
        })
        .and_then(|_| survey::answer(&ctx.inbound.reply_text))
}

/// A customer writing to a finished ticket: reopen it (resolved within
/// `support.reopen_window_days`, or closed with `closed_policy = "reopen"`), file the mail on it
/// and tell the customer (`"reject"`), or start a new ticket linked to it (returned as the
/// ticket to relate to, with `None` as the ticket to join).
fn reopen(
    ctx: &mut Ctx<'_>,
    existing: Option<Ticket>,
    matched: &Match,
    reading: &mut Reading,
) -> (Option<Ticket>, Option<u64>) {
    let sup = &ctx.config.support;
    let t = match existing {
        Some(t)
            if reading.survey.is_none()
                && ctx.agent.is_none()
                && matched.ticket() == Some(t.id) =>
        {
            t
        }
        other => return (other, None),
    };
    let window = chrono::Duration::days(sup.reopen_window_days as i64);
    match t.status {
        Status::Resolved
            if ctx
                .now
                .signed_duration_since(t.resolved_at.unwrap_or(t.updated_at))
                <= window =>
        {
            reading.reopened = true;
            (Some(t), None)
        }
        Status::Resolved => {
            let line = format!(
                "ticket {} was resolved more than {} days ago: new ticket",
                t.id, sup.reopen_window_days
            );
            ctx.log(line);
            (None, Some(t.id))
        }
        Status::Closed => match sup.closed_policy {
            ClosedPolicy::Reopen => {
                reading.reopened = true;
                (Some(t), None)
            }
            ClosedPolicy::NewTicket => (None, Some(t.id)),
            ClosedPolicy::Reject => {
                reading.rejected = true;
                (Some(t), None)
            }
        },
        _ => (Some(t), None),
    }
}

/// The ticket the mail joins, or a new one: numbered `intake.next_id`, related to the ticket
/// threading refused (or `related`, a finished ticket it follows), assigned, classified and with
/// its clocks started.
fn open_or_join(
    ctx: &mut Ctx<'_>,
    existing: Option<Ticket>,
    intake: &Intake<'_>,
    related: Option<u64>,
) -> (Ticket, ThreadedBy) {
    let matched = intake.matched;
    if let Some(t) = existing
        && matched.ticket() == Some(t.id)
    {
        let by = match matched {
            _ if ctx.agent.is_some() => ThreadedBy::Agent,
            Match::Reference { .. } => ThreadedBy::Reference,
            Match::Tag { .. } => ThreadedBy::Tag,
            _ => ThreadedBy::Subject,
        };
        return (t, by);
    }
    let related = match matched {
        Match::New { related, refused } => {
            if let Some(why) = refused {
                ctx.log(format!("new ticket instead of follow-up: {why}"));
                ctx.notes.push(match related {
                    Some(n) => format!(
                        "Not added to ticket {n}: {why}. If the sender belongs there: #merge {n}"
                    ),
                    None => format!("A new ticket: {why}."),
                });
            }
            *related
        }
        _ => None,
    }
    .or(related);
    let (config, inbound) = (ctx.config, ctx.inbound);
    let sup = &config.support;
    // Another ticket's tag does not belong to this one (and must not reach its mail).
    let own_subject = subject::strip_tag(&inbound.subject, &sup.tag_prefix);
    let mut t = Ticket::new(
        intake.next_id,
        intake.customer.to_owned(),
        inbound.from.clone(),
        own_subject.clone(),
        subject::normalize(&own_subject),
        ctx.now,
    );
    t.related = related;
    t.queue = intake.queue.to_owned();
    t.assignee = assign(config, intake.contact, intake.next_id);
    let (priority, rule) = classify(
        &inbound.subject,
        &inbound.reply_text,
        intake.vip,
        sup.default_priority,
        &config.sla,
    );
    t.priority = priority;
    t.priority_rule = rule;
    t.sla = Clocks::start(&config.calendar, &config.sla, priority, ctx.now);
    (t, ThreadedBy::New)
}

/// The customer's side of any mail on the ticket: who is on it now
/// ([`crate::desk::participants`]), our answers thread under their latest mail, and a pending
/// (or reopened) ticket is open again. Every mail counts and updates it.
fn follow_up(ctx: &mut Ctx<'_>, ticket: &mut Ticket, matched: &Match, reading: &Reading) {
    let (config, inbound) = (ctx.config, ctx.inbound);
    let sender = &inbound.from.address;
    if ctx.agent.is_none() && !config.is_own_address(sender) {
        let copied: Vec<&String> = inbound
            .to
            .iter()
            .chain(&inbound.cc)
            .map(|m| &m.address)
            .collect();
        if reading.created {
            admit(ctx, ticket, sender, Joined::Requester, None);
            for a in copied {
                admit(ctx, ticket, a, Joined::OpeningMail, None);
            }
        } else {
            let authenticated = matches!(
                from_authentication(config.support.trusted_authserv_id.as_deref(), inbound),
                FromAuth::Pass(_)
            );
            let proven = matched.proven() && ctx.spam.is_none();
            if proven && !ticket.is_participant(sender) {
                admit(ctx, ticket, sender, Joined::RepliedToOurMail, None);
            }
            let how = if proven {
                Some(Joined::CcOfReply)
            } else if authenticated && ctx.spam.is_none() {
                Some(Joined::CcOfAuthenticated)
            } else {
                None
            };
            for a in copied {
                match how {
                    Some(how) => admit(ctx, ticket, a, how, None),
                    None if !ticket.is_participant(a)
                        && participants::never(config, a).is_none() =>
                    {
                        ctx.notes.push(format!(
                            "Not added: {a} (copied by a mail that does not prove its sender received our mail). To add: #cc add {a}"
                        ));
                    }
                    None => {}
                }
            }
            if (proven || authenticated)
                && ticket.is_participant(sender)
                && !ticket.customer.contains('@')
                && !ticket.customer.eq_ignore_ascii_case(sender)
            {
                ctx.learned.push((sender.clone(), ticket.customer.clone()));
            }
        }
        // An out-of-office is no answer: it moves nothing, and our next mail does not thread
        // under it.
        let answer = !out_of_office(inbound);
        if answer {
            ticket.last_customer_message_id = inbound.message_id.clone();
        }
        if answer && (reading.reopened || (!reading.created && ticket.status == Status::Pending)) {
            ctx.log(format!(
                "ticket {} {} by the customer's mail",
                ticket.id,
                if reading.reopened {
                    "reopened"
                } else {
                    "back to open"
                }
            ));
            ticket.status = Status::Open;
        }
    }
    ticket.message_count += 1;
    ticket.updated_at = ctx.now;
}

/// Puts `address` on the ticket; a refusal worth an agent's attention becomes a note (our own
/// addresses and agents are left out silently: they are on every reply-all).
fn admit(ctx: &mut Ctx<'_>, ticket: &mut Ticket, address: &str, how: Joined, by: Option<String>) {
    match participants::admit(ctx.config, ticket, address, how, by, ctx.now) {
        Ok(_) => {}
        Err(participants::Refused::Own(_) | participants::Refused::Agent(_)) => {}
        Err(why) => {
            ctx.log(format!("ticket {}: {why}", ticket.id));
            ctx.notes.push(format!("Not added: {why}."));
        }
    }
}

/// A new ticket labelled with an ID the sender wrote, not one the directory or a proven mail
/// gave them: the agents are told it is a claim, and how to accept it.
fn claim_note(ctx: &mut Ctx<'_>, ticket: &Ticket, intake: &Intake<'_>) {
    if intake.resolved != Resolved::Claimed || ctx.agent.is_some() {
        return;
    }
    let c = intake.customer;
    let sender = &ctx.inbound.from.address;
    let mut line = format!(
        "{sender} claims customer {c} (written in the mail) and is not known for it. If they belong to it: #customer {c}"
    );
    if let Some(n) = ticket.related {
        line.push_str(&format!(" (or #merge {n} to join ticket {n})"));
    }
    ctx.log(format!(
        "ticket {}: {sender} claims customer {c}",
        ticket.id
    ));
    ctx.notes.push(line);
}

/// A follow-up asking for escalation (升级/投诉/escalate…) raises the level by one, up to the
/// supervisors; asking again after that tells them again instead of climbing further.
fn customer_escalation(
    ctx: &mut Ctx<'_>,
    ticket: &mut Ticket,
    reading: &Reading,
) -> CustomerEscalation {
    if !ctx.is_human_customer_mail()
        || reading.created
        || reading.survey.is_some()
        || reading.rejected
        || !ticket.status.is_active()
    {
        return CustomerEscalation::None;
    }
    let Some(word) = escalation_request(&ctx.inbound.reply_text, &ctx.config.sla) else {
        return CustomerEscalation::None;
    };
    if ticket.escalation >= SUPERVISOR_LEVEL {
        ctx.log(format!(
            "ticket {}: the customer asks again to escalate (\"{word}\"); already at level {}",
            ticket.id, ticket.escalation
        ));
        return CustomerEscalation::AskedAgain;
    }
    let level = ticket.escalation + 1;
    ticket.escalate_to(level, EscalatedBy::Customer, format!("\"{word}\""), ctx.now);
    ctx.log(format!(
        "ticket {} escalated to level {} at the customer's request (\"{word}\")",
        ticket.id, ticket.escalation
    ));
    CustomerEscalation::Raised(ticket.escalation)
}

/// The automatic mail to the customer, if any: the closed-ticket notice, the escalation notice,
/// the acknowledgement (with the checklist of what they have not told us) or the follow-up
/// notice; never to a survey answer, and never to mail that must not be answered.
fn customer_notice(ctx: &mut Ctx<'_>, ticket: &Ticket, customer: &str, reading: &Reading) {
    let (Some(mailer), Some(out)) = (ctx.mailer, &ctx.config.outbound) else {
        return;
    };
    let raised = match reading.escalation {
        CustomerEscalation::Raised(level) => Some(level),
        _ => None,
    };
    let kind = if reading.rejected {
        Kind::Closed
    } else if reading.survey.is_some() {
        return;
    } else if raised.is_some() {
        if !out.escalation_notice {
            return;
        }
        Kind::Escalated
    } else if reading.created && out.acknowledge {
        Kind::Ack
    } else if !reading.created && out.followup_notice {
        Kind::Followup
    } else {
        return;
    };
    let inbound = ctx.inbound;
    if let Some(why) = refuse_auto_reply(ctx.config, inbound) {
        ctx.log(format!("no {kind:?} sent: {why}"));
        return;
    }
    let mut extra = BTreeMap::new();
    if let Some(level) = raised {
        extra.insert(
            "escalation",
            escalation_context(level, EscalatedBy::Customer),
        );
    }
    if kind == Kind::Ack {
        let identified = !customer.eq_ignore_ascii_case(&inbound.from.address);
        extra.insert(
            "missing",
            minijinja::Value::from_serialize(missing_information(inbound, identified)),
        );
    }
    let draft = Draft {
        kind,
        ticket,
        inbound: Some(inbound),
        lang: language(inbound, out.language),
        extra,
        cause: match raised {
            Some(level) => format!("escalated:{}:{level}", ticket.id),
            None => format!("{kind:?}:{}", inbound.message_id),
        },
    };
    let item = mailer.write(ctx.config, &draft, ctx.now, &mut ctx.effects);
    ctx.outgoing.push(item);
}

/// Agents hear about every human customer mail but survey answers, of which only low scores
/// concern them (and the supervisors); an escalation also reaches tier 2 or the supervisors.
/// Machine mail on a ticket is only filed. Outside business hours a P1/P2 also wakes whoever is
/// on call; a P3/P4 notification waits for business hours.
fn agent_notification(ctx: &mut Ctx<'_>, ticket: &Ticket, reading: &Reading) {
    let (headline, extra_role) = match (&reading.survey, reading.escalation) {
        (Some((score, _)), _) if *score <= 2 => {
            (Some(Headline::LowScore(*score)), Some(Role::Supervisor))
        }
        (Some(_), _) => return,
        (None, CustomerEscalation::Raised(level)) => (
            Some(Headline::CustomerEscalation(level)),
            Some(escalation_role(level)),
        ),
        (None, CustomerEscalation::AskedAgain) => {
            (Some(Headline::CustomerAsksAgain), Some(Role::Supervisor))
        }
        (None, CustomerEscalation::None) => (None, None),
    };
    if ctx.inbound.machine.is_machine_generated() || reading.rejected {
        return;
    }
    let config = ctx.config;
    let (on_call, wait_until) =
        notification_route(ticket.priority, ctx.now, &config.calendar, &config.sla);
    let mut to = notify_targets(config, ticket);
    let on_call = on_call
        .and_then(|n| config.agent_named(&n))
        .map(|a| vec![agent_mailbox(a)]);
    let role = extra_role.map(|r| agents_with_role(config, r));
    for m in on_call.into_iter().chain(role).flatten() {
        if !to
            .iter()
            .any(|t| t.address.eq_ignore_ascii_case(&m.address))
        {
            to.push(m);
        }
    }
    if to.is_empty() {
        return;
    }
    match notification(
        config,
        ticket,
        ctx.inbound,
        headline.as_ref(),
        to,
        &ctx.notes,
        ctx.now,
    ) {
        Ok(mut item) => {
            if let Some(w) = wait_until {
                item.hold_until(w);
                ctx.log(format!(
                    "agent notification held until business hours ({w})"
                ));
            }
            ctx.outgoing.push(item)
        }
        Err(e) => ctx.log(format!("no agent notification: {e}")),
    }
}

/// An agent's mail resolved the ticket: ask the customer how it went (once per resolution).
fn survey_request(ctx: &mut Ctx<'_>, before: &Ticket, ticket: &Ticket) {
    if let (Some(mailer), Some(out), Some(_)) = (ctx.mailer, &ctx.config.outbound, ctx.agent)
        && out.survey
        && before.status != Status::Resolved
        && ticket.status == Status::Resolved
    {
        let draft = survey_draft(ticket, out.language);
        let item = mailer.write(ctx.config, &draft, ctx.now, &mut ctx.effects);
        ctx.outgoing.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::escalate::escalate;
    use crate::desk::testing::{config, config_with, mail, mailer, p1_ticket, tuesday_10am};
    use crate::domain::priority::Priority;

    fn follow_up(config: &Config, t: &Ticket, body: &str, n: u32, now: DateTime<Utc>) -> Accepted {
        let m = mail(
            "c@example.org",
            "Re: [SUP-1] site down",
            body,
            &format!("f{n}@example.org"),
        );
        let matched = Match::Tag { ticket: t.id };
        let intake = Intake {
            existing: Some(t.clone()),
            next_id: 2,
            ..Intake::new(&m, &matched, "c")
        };
        accept(config, intake, Some(mailer()), now)
    }

    const QUEUES: &str = r#"
[[agents]]
name = "bill"
addresses = ["bill@example.com"]
[[queues]]
name = "support"
addresses = ["support@example.com"]
agents = ["alice"]
[[queues]]
name = "billing"
addresses = ["billing@example.com"]
agents = ["bill"]
[queues.sla.targets.P3]
respond = "1h"
[[queues]]
name = "abuse"
addresses = ["abuse@example.com"]
agents = ["alice", "bill"]
"#;

    /// Agent `from`'s mail with `body` on ticket `t`, handled with `t`'s queue's view.
    fn agent_mail(
        config: &Config,
        t: &Ticket,
        from: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Accepted {
        let m = mail(from, "Re: [SUP-1] site down", body, "a1@example.org");
        let matched = Match::Tag { ticket: t.id };
        let view = config.in_queue(&t.queue);
        let intake = Intake {
            existing: Some(t.clone()),
            next_id: 2,
            agent: config.agent_by_address(from),
            ..Intake::new(&m, &matched, "c")
        };
        accept(&view, intake, Some(mailer()), now)
    }

    #[test]
    fn queue_moves_follow_the_new_targets_and_tell_the_customer_only_a_new_promise() {
        let config = config_with(QUEUES);
        let t0 = tuesday_10am();
        let billing = config.in_queue("billing");
        let mut t = p1_ticket(&billing, t0);
        t.priority = Priority::P3;
        t.assignee = Some("bill".into());
        t.queue = "billing".into();
        t.sla = Clocks::start(&billing.calendar, &billing.sla, Priority::P3, t0);
        let due = t.sla.first_response.due_at;
        // A support agent on a billing ticket: refused, nothing changed or sent to the customer.
        let a = agent_mail(&config, &t, "alice@example.com", "#status closed", t0);
        assert_eq!(a.ticket.status, t.status);
        assert_eq!(
            kinds(&a),
            [(Kind::AgentError, vec!["alice@example.com".to_owned()])]
        );
        // Bill moves it to support (4h instead of 1h): alice gets it, the customer a notice.
        let a = agent_mail(&config, &t, "bill@example.com", "#queue Support", t0);
        assert_eq!(a.ticket.queue, "");
        assert_eq!(a.ticket.assignee.as_deref(), Some("alice"));
        assert_ne!(a.ticket.sla.first_response.due_at, due);
        let moved: Vec<_> = a
            .outgoing
            .iter()
            .filter(|o| o.kind == Kind::Moved)
            .collect();
        assert_eq!(moved.len(), 1, "{:?}", kinds(&a));
        assert_eq!(moved[0].to, ["c@example.org"]);
        // From support to abuse (the same targets): no notice; alice works there too.
        let a = agent_mail(&config, &a.ticket, "alice@example.com", "#queue abuse", t0);
        assert_eq!(a.ticket.queue, "abuse");
        assert_eq!(a.ticket.assignee.as_deref(), Some("alice"));
        assert!(
            a.outgoing.iter().all(|o| o.kind != Kind::Moved),
            "{:?}",
            kinds(&a)
        );
        // An unknown queue changes nothing and names the known ones.
        let b = agent_mail(&config, &a.ticket, "alice@example.com", "#queue sales", t0);
        assert_eq!(b.ticket.queue, "abuse");
        assert_eq!(kinds(&b)[0].0, Kind::AgentError);
        // Nor may alice merge it into a billing ticket, which she does not work on.
        let mut other = t.clone();
        other.id = 7;
        let m = mail(
            "alice@example.com",
            "Re: [SUP-1] site down",
            "#merge 7",
            "a9@x",
        );
        let matched = Match::Tag { ticket: 1 };
        let intake = Intake {
            existing: Some(a.ticket.clone()),
            next_id: 8,
            agent: config.agent_by_address("alice@example.com"),
            merge_target: Some(&other),
            ..Intake::new(&m, &matched, "c")
        };
        let c = accept(&config.in_queue("abuse"), intake, Some(mailer()), t0);
        assert!(c.extra_tickets.is_empty() && c.ticket.merged_into.is_none());
        assert_eq!(kinds(&c)[0].0, Kind::AgentError);
    }

    fn kinds(a: &Accepted) -> Vec<(Kind, Vec<String>)> {
        a.outgoing.iter().map(|o| (o.kind, o.to.clone())).collect()
    }

    #[test]
    fn a_customer_asking_to_escalate_gets_tier2_then_the_supervisor() {
        let config = config();
        let t0 = tuesday_10am();
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
        let t0 = tuesday_10am();
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
        let matched = Match::New {
            related: None,
            refused: None,
        };
        let new_ticket = |subject: &str, body: &str| {
            let m = mail("c@example.org", subject, body, "n@example.org");
            let intake = Intake {
                next_id: 7,
                ..Intake::new(&m, &matched, "c")
            };
            accept(&config, intake, Some(mailer), night)
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

    /// The directory names the dedicated contact `Alice`; the agent is configured as `alice`.
    /// Every lookup by name ignores case, so the ticket is hers under her own spelling and she
    /// hears of it (before, the case-sensitive lookup found nobody and nobody was told).
    #[test]
    fn a_dedicated_contact_is_found_whatever_the_case() {
        let config = config();
        let t0 = tuesday_10am();
        let m = mail(
            "c@example.org",
            "Invoice question",
            "Where is my invoice?",
            "n@x",
        );
        let matched = Match::New {
            related: None,
            refused: None,
        };
        let intake = Intake {
            contact: Some("Alice"),
            ..Intake::new(&m, &matched, "c")
        };
        let a = accept(&config, intake, Some(mailer()), t0);
        assert_eq!(a.ticket.assignee.as_deref(), Some("alice"));
        let notify = kinds(&a)
            .into_iter()
            .find(|(k, _)| *k == Kind::AgentNotify)
            .expect("the contact is notified");
        assert_eq!(notify.1, ["alice@example.com"]);

        // A ticket stored under the directory's spelling (before this was fixed) still reaches
        // her on the customer's follow-up.
        let mut t = p1_ticket(&config, t0);
        t.assignee = Some("Alice".into());
        let a = follow_up(&config, &t, "Any news?", 1, t0);
        let k = kinds(&a);
        let notify = k.iter().find(|(k, _)| *k == Kind::AgentNotify).unwrap();
        assert_eq!(notify.1, ["alice@example.com"]);
    }

    fn cc(addrs: &[&str]) -> Vec<crate::mail::mailbox::Mailbox> {
        addrs
            .iter()
            .map(|a| crate::mail::mailbox::Mailbox {
                name: None,
                address: a.to_string(),
            })
            .collect()
    }

    fn notification_text(a: &Accepted) -> String {
        let n = a
            .outgoing
            .iter()
            .find(|o| o.kind == Kind::AgentNotify)
            .expect("agents are told");
        crate::mail::parse::parse(n.raw.as_bytes()).unwrap().text
    }

    #[test]
    fn the_opening_mail_brings_its_copies_within_the_rules() {
        let config = config();
        let t0 = tuesday_10am();
        let mut m = mail("c@example.org", "Invoice", "Where is it?", "o1@example.org");
        let mut many: Vec<String> = (0..50).map(|i| format!("cc{i}@example.org")).collect();
        many.splice(
            0..0,
            ["bob".to_owned(), "mailer-daemon@example.org".to_owned()],
        );
        m.cc = cc(&many.iter().map(String::as_str).collect::<Vec<_>>());
        let matched = Match::New {
            related: None,
            refused: None,
        };
        let a = accept(
            &config,
            Intake::new(&m, &matched, "c@example.org"),
            Some(mailer()),
            t0,
        );
        let t = &a.ticket;
        assert_eq!(t.participants.len(), config.support.max_participants);
        assert_eq!(t.participants[0].how, Joined::Requester);
        assert!(!t.is_participant("bob") && !t.is_participant("mailer-daemon@example.org"));
        let text = notification_text(&a);
        assert!(text.contains("`bob` is not an address"), "{text}");
        assert!(text.contains("max_participants"), "{text}");
        assert!(text.contains("cc0@example.org (new)"), "{text}");
    }

    /// `From:` the requester (forged), `Cc:` a stranger, the tag: the mail is filed, the
    /// stranger is not added, and the agents see both the Cc and why it was not added.
    #[test]
    fn a_joining_mail_widens_the_ticket_only_with_proof() {
        let config = config();
        let t0 = tuesday_10am();
        let t = p1_ticket(&config, t0);
        let mut m = mail(
            "c@example.org",
            "Re: [SUP-1] site down",
            "me too",
            "j1@evil.example",
        );
        m.cc = cc(&["stranger@evil.example"]);
        let matched = Match::Tag { ticket: 1 };
        let intake = Intake {
            existing: Some(t.clone()),
            ..Intake::new(&m, &matched, "c")
        };
        let a = accept(&config, intake, Some(mailer()), t0);
        assert!(!a.ticket.is_participant("stranger@evil.example"));
        let text = notification_text(&a);
        assert!(text.contains("Not added: stranger@evil.example"), "{text}");
        assert!(text.contains("#cc add stranger@evil.example"), "{text}");

        // The same reply-all to our acknowledgement (our signed id): the colleague is added.
        let mut m = mail(
            "c@example.org",
            "Re: [SUP-1] site down",
            "adding Li",
            "j2@example.org",
        );
        m.cc = cc(&["li@example.org", "support@example.com"]);
        let matched = Match::Reference {
            ticket: 1,
            message_id: "sup.x@example.com".into(),
            proven: true,
        };
        let intake = Intake {
            existing: Some(t.clone()),
            ..Intake::new(&m, &matched, "c")
        };
        let a = accept(&config, intake, Some(mailer()), t0);
        let li = a
            .ticket
            .participants
            .iter()
            .find(|p| p.address == "li@example.org");
        assert_eq!(li.map(|p| p.how), Some(Joined::CcOfReply));
        assert!(!a.ticket.is_participant("support@example.com"));
        assert_eq!(a.learned, [("c@example.org".to_owned(), "c".to_owned())]);
    }

    #[test]
    fn a_claimed_customer_is_told_to_the_agents() {
        let config = config();
        let t0 = tuesday_10am();
        let m = mail(
            "x@else.example",
            "网站打不开",
            "客户ID：C1001",
            "k1@else.example",
        );
        let matched = Match::New {
            related: Some(1),
            refused: Some("it has the subject of ticket 1".into()),
        };
        let intake = Intake {
            resolved: Resolved::Claimed,
            ..Intake::new(&m, &matched, "C1001")
        };
        let a = accept(&config, intake, Some(mailer()), t0);
        assert_eq!(a.ticket.customer, "C1001");
        assert_eq!(a.ticket.related, Some(1));
        let text = notification_text(&a);
        assert!(
            text.contains("claims customer C1001 (written in the mail) and is not known for it"),
            "{text}"
        );
        assert!(text.contains("#merge 1"), "{text}");
    }

    #[test]
    fn spam_is_stored_flagged_and_not_answered() {
        let config = config();
        let t0 = tuesday_10am();
        let mut m = mail("c@example.org", "cheap pills", "buy", "s1@example.org");
        m.spam_flags = vec!["X-Spam-Flag: YES".into()];
        let matched = Match::New {
            related: None,
            refused: None,
        };
        let a = accept(&config, Intake::new(&m, &matched, "c"), Some(mailer()), t0);
        assert!(a.message.spam.is_some());
        assert!(
            a.outgoing.iter().all(|o| o.kind != Kind::Ack),
            "no acknowledgement"
        );
        assert!(notification_text(&a).contains("Flagged as spam"));
    }
}
