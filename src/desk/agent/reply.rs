//! What an authenticated agent's mail does to the ticket it is about: its commands
//! ([`crate::desk::commands`]), its internal note, and its reply, relayed to the customer.
//! An invalid mail, or one whose words cannot be told from the quote ([`answer`]), changes
//! nothing and tells the agent why; a mailbox's automatic answer changes nothing at all.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::AgentConfig;
use crate::desk::agent::answer::{self, Answer};
use crate::desk::agent::assign::agents_with_role;
use crate::desk::agent::assign::escalation_role;
use crate::desk::agent::notification::{Headline, notification};
use crate::desk::agent::relay::{
    attachments_line, error_reply, not_sent_notice, relay, unsure_reply,
};
use crate::desk::commands::{Changes, CommandError, apply_commands};
use crate::desk::effect::Effect;
use crate::desk::participants;
use crate::domain::outbox::OutboxItem;
use crate::domain::status::Status;
use crate::domain::ticket::{EscalatedBy, Joined, Ticket};
use crate::mail::inbound::Inbound;

/// What an agent's mail caused besides the change to its ticket.
#[derive(Debug, Default)]
pub(crate) struct AgentReply {
    /// The relayed reply, an escalation notice to tier 2 or the supervisors, or the error reply.
    pub(crate) outgoing: Vec<OutboxItem>,
    /// The ticket merged into (`#merge`), with the merged ticket's participants.
    pub(crate) extra_tickets: Vec<Ticket>,
    pub(crate) effects: Vec<Effect>,
    /// Addresses now known for a customer ID (`#customer`, `#merge`).
    pub(crate) learned: Vec<(String, String)>,
    /// The agent's own words as read, for the message record (quote and copies of our mail
    /// removed); `None` keeps the mail's reply text.
    pub(crate) words: Option<String>,
}

/// Applies agent `a`'s mail `inbound` to `ticket`; `sent` holds the texts of the mails we sent
/// the agents about it, newest first; `merge_target` is the ticket its `#merge` names, if that
/// exists.
pub(crate) fn apply(
    config: &Config,
    a: &AgentConfig,
    ticket: &mut Ticket,
    inbound: &Inbound,
    sent: &[String],
    merge_target: Option<&Ticket>,
    now: DateTime<Utc>,
) -> AgentReply {
    let mut out = AgentReply::default();
    let reading = match answer::read(inbound, sent) {
        Answer::Machine(why) => {
            out.effects.push(Effect::Log(format!(
                "automatic answer from agent {} ({why}): stored as internal, nothing done",
                a.name
            )));
            return out;
        }
        // An agent of another queue only: refused, whatever the mail says (an automatic answer
        // above stays silent, so two robots cannot loop).
        _ if config.agent_named(&a.name).is_none() => {
            let queue = config.queue(&ticket.queue).name.clone();
            out.effects.push(Effect::Log(format!(
                "agent {} is not an agent of queue {queue}: mail refused, nothing done",
                a.name
            )));
            let parsed = crate::desk::commands::Parsed {
                errors: vec![CommandError::OtherQueue(queue)],
                ..Default::default()
            };
            out.outgoing
                .push(error_reply(config, ticket, a, &parsed, inbound, now));
            return out;
        }
        Answer::Unsure(why, words) => {
            out.words = Some(words);
            out.effects.push(Effect::Log(format!(
                "agent {}'s answer cannot be told from the quote ({why:?}): nothing relayed or changed",
                a.name
            )));
            out.outgoing
                .push(unsure_reply(config, ticket, a, why, inbound, now));
            return out;
        }
        Answer::Read(r) => r,
    };
    out.words = Some(reading.words.clone());
    let mut parsed = reading.parsed;
    if reading.attachments_only && parsed.errors.is_empty() {
        parsed.reply = attachments_line(config, ticket, inbound.attachments.len()).to_owned();
    }
    let before = ticket.clone();
    let mut changes = Changes::default();
    if parsed.errors.is_empty() {
        match apply_commands(config, ticket, &parsed, &a.name, now) {
            Ok(c) => changes = c,
            Err(e) => parsed.errors.push(e),
        }
    }
    if let Some(n) = changes.merge_into
        && merge_target.is_none_or(|t| t.id != n)
    {
        parsed.errors.push(CommandError::NoMergeTarget(n));
    }
    // Merging changes the target too: only for an agent who works in its queue.
    if let (Some(_), Some(target)) = (changes.merge_into, merge_target) {
        let queue = config.in_queue(&target.queue);
        if queue.agent_named(&a.name).is_none() {
            let name = config.queue(&target.queue).name.clone();
            parsed
                .errors
                .push(CommandError::MergeOtherQueue(target.id, name));
        }
    }
    if !parsed.errors.is_empty() {
        // Nothing changes but the record of the mail itself.
        let (count, updated) = (ticket.message_count, ticket.updated_at);
        *ticket = before;
        ticket.message_count = count;
        ticket.updated_at = updated;
        out.effects.push(Effect::Log(format!(
            "agent {} sent invalid commands: {}",
            a.name,
            parsed
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )));
        out.outgoing
            .push(error_reply(config, ticket, a, &parsed, inbound, now));
        return out;
    }
    out.learned = std::mem::take(&mut changes.learned);
    if parsed.has_reply() {
        relay_answer(config, ticket, a, &parsed.reply, inbound, now, &mut out);
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
        let to = agents_with_role(config, escalation_role(ticket.escalation));
        out.effects.push(Effect::Log(format!(
            "ticket {} escalated to level {} by {}",
            ticket.id, ticket.escalation, a.name
        )));
        let headline = Headline::AgentEscalation(a.name.clone(), ticket.escalation);
        if !to.is_empty()
            && let Ok(item) = notification(config, ticket, inbound, Some(&headline), to, &[], now)
        {
            out.outgoing.push(item);
        }
    }
    if let (Some(n), Some(target)) = (changes.merge_into, merge_target) {
        let mut target = target.clone();
        for p in &ticket.participants {
            let by = Some(format!("ticket {}", ticket.id));
            if let Err(why) =
                participants::admit(config, &mut target, &p.address, Joined::Merged, by, now)
            {
                out.effects
                    .push(Effect::Log(format!("merge into {n}: {why}")));
            }
        }
        // The agent vouches: the merged ticket's requester belongs to the target's customer.
        if !target.customer.contains('@') && !ticket.requester.address.is_empty() {
            out.learned
                .push((ticket.requester.address.clone(), target.customer.clone()));
        }
        target.updated_at = now;
        ticket.merged_into = Some(n);
        ticket.status = Status::Closed;
        out.effects
            .push(Effect::Log(format!("ticket {} merged into {n}", ticket.id)));
        out.extra_tickets.push(target);
    }
    if let Some(note) = &parsed.note {
        out.effects.push(Effect::Log(format!(
            "internal note by {} ({} chars)",
            a.name,
            note.chars().count()
        )));
    }
    out
}

/// Relays the agent's answer; whoever it cannot reach (or everyone, when it cannot be sent at
/// all) is named to the agent in a notice.
fn relay_answer(
    config: &Config,
    ticket: &Ticket,
    a: &AgentConfig,
    reply: &str,
    inbound: &Inbound,
    now: DateTime<Utc>,
    out: &mut AgentReply,
) {
    match relay(config, ticket, a, reply, inbound, now) {
        Ok(item) => {
            if !item.dropped.is_empty() {
                // The agent must know who did not get their answer.
                out.effects.push(Effect::Log(format!(
                    "reply to ticket {} not sent to: {}",
                    ticket.id,
                    item.dropped.join("; ")
                )));
                out.outgoing.push(not_sent_notice(
                    config,
                    ticket,
                    a,
                    &item.dropped,
                    inbound,
                    now,
                ));
            }
            out.outgoing.push(item)
        }
        Err(e) => {
            out.effects
                .push(Effect::Log(format!("reply not relayed: {e}")));
            out.outgoing.push(not_sent_notice(
                config,
                ticket,
                a,
                &[e.to_string()],
                inbound,
                now,
            ));
        }
    }
}
