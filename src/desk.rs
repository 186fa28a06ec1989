//! The desk core: what happens to the ticket state when a mail arrives.
//!
//! Plain functions over data. The shell hands in the current ticket (if threading chose one), the
//! parsed mail and *now*; the core returns the new ticket, the message record and the effects.
//! Nothing here touches the network, the disk or the clock, so the rules are tested in
//! microseconds and the shell decides how to make the result durable.

use chrono::{DateTime, Utc};

use std::collections::{BTreeMap, HashMap};

use crate::config::Config;
use crate::outbound::{self, Draft, Kind, OutboxItem, State, Templates};
use crate::parse::Inbound;
use crate::subject;
use crate::thread::Match;
use crate::ticket::{AttachmentMeta, Message, Source, Status, ThreadedBy, Ticket};

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
    now: DateTime<Utc>,
) -> Accepted {
    let mut effects = Vec::new();
    let sender = &inbound.from.address;
    let is_agent = config.agent_by_address(sender).is_some();
    let (mut ticket, created, threaded_by) = match (existing, matched) {
        (Some(t), m) if m.ticket() == Some(t.id) => {
            let by = match m {
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
            };
            let t = Ticket {
                id: next_id,
                status: Status::New,
                priority: config.support.default_priority,
                customer: customer.to_owned(),
                subject: inbound.subject.clone(),
                normalized_subject: subject::normalize(&subject::strip_tag(
                    &inbound.subject,
                    &config.support.tag_prefix,
                )),
                requester: inbound.from.clone(),
                participants: Vec::new(),
                message_count: 0,
                created_at: now,
                updated_at: now,
                last_customer_message_id: String::new(),
                related,
            };
            (t, true, ThreadedBy::New)
        }
    };

    // Colleagues the customer copies in may follow up by tag; our own and agents' addresses are
    // never customers.
    if !is_agent && !config.is_own_address(sender) {
        let others = inbound.to.iter().chain(&inbound.cc).map(|m| &m.address);
        for addr in std::iter::once(sender).chain(others) {
            if !config.is_own_address(addr)
                && config.agent_by_address(addr).is_none()
                && !ticket.is_participant(addr)
            {
                ticket.participants.push(addr.clone());
            }
        }
        ticket.last_customer_message_id = inbound.message_id.clone();
    }
    ticket.message_count += 1;
    ticket.updated_at = now;

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
    let mut outgoing = Vec::new();
    if let (Some(mailer), Some(out)) = (mailer, &config.outbound) {
        let kind = if created && out.acknowledge {
            Some(Kind::Ack)
        } else if !created && out.followup_notice && !is_agent {
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
    }
    Accepted {
        ticket,
        created,
        message,
        effects,
        outgoing,
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
