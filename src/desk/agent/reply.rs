//! What an authenticated agent's mail does to the ticket it is about: its commands
//! ([`crate::desk::commands`]), its internal note, and its reply, relayed to the customer.
//! An invalid mail changes nothing and tells the agent why.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::AgentConfig;
use crate::desk::agent::assign::agents_with_role;
use crate::desk::agent::assign::escalation_role;
use crate::desk::agent::notification::{Headline, notification};
use crate::desk::agent::relay::{error_reply, not_sent_notice, relay};
use crate::desk::commands::{Changes, CommandError, apply_commands, read_agent_mail};
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
}

/// Applies agent `a`'s mail `inbound` to `ticket`; `merge_target` is the ticket its `#merge`
/// names, if that exists.
pub(crate) fn apply(
    config: &Config,
    a: &AgentConfig,
    ticket: &mut Ticket,
    inbound: &Inbound,
    merge_target: Option<&Ticket>,
    now: DateTime<Utc>,
) -> AgentReply {
    let mut out = AgentReply::default();
    let mut parsed = read_agent_mail(inbound);
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
        match relay(config, ticket, a, &parsed.reply, inbound, now) {
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
