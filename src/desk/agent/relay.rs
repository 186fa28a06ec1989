//! Mail an agent's mail causes: their reply, relayed to the customer from the support address,
//! or, when their mail changes nothing (bad commands, or words that cannot be told from the
//! quote), the reply that tells them why.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::{AgentConfig, Language};
use crate::desk::agent::answer::Unsure;
use crate::desk::agent::assign::agent_mailbox;
use crate::desk::agent::notification::{agents_language, compose, to_agents, words};
use crate::desk::commands::Parsed;
use crate::desk::outbound::compose::{Compose, ComposeError};
use crate::domain::outbox::{Kind, OutboxItem};
use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;
use crate::mail::mailbox::Mailbox;
use crate::mail::msgid;
use crate::mail::subject;

/// The agent's reply, relayed to the customer from the support address.
pub(crate) fn relay(
    config: &Config,
    ticket: &Ticket,
    agent: &AgentConfig,
    reply: &str,
    agent_mail: &Inbound,
    now: DateTime<Utc>,
) -> Result<OutboxItem, ComposeError> {
    let out = config.outbound.as_ref().ok_or(ComposeError::NoOutbound)?;
    let tag = subject::tag(&config.support.tag_prefix, ticket.id);
    let base = subject::strip_tag(&ticket.subject, &config.support.tag_prefix);
    // Bounded by support.max_participants: the fan-out of one reply.
    let cc: Vec<Mailbox> = ticket
        .participants
        .iter()
        .filter(|p| !p.address.eq_ignore_ascii_case(&ticket.requester.address))
        .map(|p| Mailbox {
            name: None,
            address: p.address.clone(),
        })
        .collect();
    let signer = msgid::Signer {
        secret: &out.resolved_secret,
        instance: &out.instance,
    };
    Ok(compose(
        config,
        Compose {
            kind: Kind::Relay,
            ticket: ticket.id,
            from_name: format!("{} ({})", agent.name, config.support.name),
            to: vec![ticket.requester.clone()],
            cc,
            reply_to: config.support.address.clone(),
            subject: format!("{tag} Re: {base}"),
            body: format!("{reply}\n"),
            message_id: signer.sign(
                &config.message_id_domain(),
                ticket.id,
                &msgid::nonce(&format!("relay:{}", agent_mail.message_id)),
            ),
            parent: ticket.last_customer_message_id.clone(),
            references: Vec::new(),
            automatic: false,
            attachments: agent_mail
                .attachments
                .iter()
                .map(|a| (a.name.clone(), a.content_type.clone(), a.data.clone()))
                .collect(),
        },
        now,
    ))
}

/// Tells an agent that their mail changed nothing, and why.
pub(crate) fn error_reply(
    config: &Config,
    ticket: &Ticket,
    agent: &AgentConfig,
    parsed: &Parsed,
    agent_mail: &Inbound,
    now: DateTime<Utc>,
) -> OutboxItem {
    let understood: Vec<String> = parsed
        .commands
        .iter()
        .map(|c| format!("  - {c:?}"))
        .collect();
    let to = vec![agent_mailbox(agent)];
    let lang = agents_language(config, &to);
    let w = words(lang);
    let intro = match lang {
        Language::En => format!("Your mail about ticket {}", ticket.id),
        Language::Zh => format!("您关于工单 {} 的邮件", ticket.id),
    };
    let sep = if lang == Language::En { " " } else { "" };
    let body = format!(
        "{intro}{sep}{}\n\n{}\n\n{}\n{}\n\n{}\n",
        w.changed_nothing,
        parsed
            .errors
            .iter()
            .map(|e| format!("  - {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
        w.understood,
        if understood.is_empty() {
            format!("  {}", w.nothing)
        } else {
            understood.join("\n")
        },
        w.help,
    );
    let c = about_their_mail(
        config,
        ticket,
        to,
        w.command_error,
        body,
        "error",
        agent_mail,
    );
    compose(config, c, now)
}

/// A mail to the agent about their mail `agent_mail`, threaded under it: `word` after the
/// ticket's tag in the subject; `cause` keeps its Message-ID the same when that mail is
/// handled again.
fn about_their_mail(
    config: &Config,
    ticket: &Ticket,
    to: Vec<Mailbox>,
    word: &str,
    body: String,
    cause: &str,
    agent_mail: &Inbound,
) -> Compose {
    let subject = format!(
        "{} {word}: {}",
        subject::tag(&config.support.tag_prefix, ticket.id),
        agent_mail.subject
    );
    let mut c = to_agents(
        config,
        ticket,
        to,
        subject,
        body,
        &format!("{cause}:{}", agent_mail.message_id),
    );
    c.kind = Kind::AgentError;
    c.parent = agent_mail.message_id.clone();
    c.references = agent_mail.references.clone();
    c
}

/// Tells an agent that their reply did not reach some (or all) of its recipients, and why.
pub(crate) fn not_sent_notice(
    config: &Config,
    ticket: &Ticket,
    agent: &AgentConfig,
    problems: &[String],
    agent_mail: &Inbound,
    now: DateTime<Utc>,
) -> OutboxItem {
    let to = vec![agent_mailbox(agent)];
    let lang = agents_language(config, &to);
    let (intro, subject) = match lang {
        Language::En => (
            format!("Your reply on ticket {} was not sent to:", ticket.id),
            "Reply not delivered to everyone",
        ),
        Language::Zh => (
            format!("您在工单 {} 的回复未发送给：", ticket.id),
            "回复未送达所有收件人",
        ),
    };
    let body = format!(
        "{intro}\n\n{}\n\n{}\n",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n"),
        words(lang).help
    );
    let c = about_their_mail(config, ticket, to, subject, body, "not-sent", agent_mail);
    compose(config, c, now)
}

/// The one neutral line relayed with an answer that is only attachments, in the customer's
/// language (Chinese when the ticket's subject is, else the configured default).
pub(crate) fn attachments_line(config: &Config, ticket: &Ticket, count: usize) -> &'static str {
    let han = ticket
        .subject
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    let lang = match (han >= 2, &config.outbound) {
        (true, _) => Language::Zh,
        (false, Some(out)) => out.language,
        (false, None) => Language::En,
    };
    words(lang).attachments_only[usize::from(count > 1)]
}

/// Tells an agent that nothing of their mail was sent or done because their words cannot be told
/// from the quote, and what to do.
pub(crate) fn unsure_reply(
    config: &Config,
    ticket: &Ticket,
    agent: &AgentConfig,
    why: Unsure,
    agent_mail: &Inbound,
    now: DateTime<Utc>,
) -> OutboxItem {
    let to = vec![agent_mailbox(agent)];
    let lang = agents_language(config, &to);
    let w = words(lang);
    let intro = match lang {
        Language::En => format!("Your mail about ticket {}", ticket.id),
        Language::Zh => format!("您关于工单 {} 的邮件", ticket.id),
    };
    let reason = match why {
        Unsure::InsideQuote => w.inside_quote,
        Unsure::PastedCopy => w.pasted_copy,
        Unsure::Nothing => w.nothing_found,
    };
    let sep = if lang == Language::En { " " } else { "" };
    let body = format!(
        "{intro}{sep}{}{sep}{reason}\n\n{}\n\n{}\n",
        w.not_sent_intro, w.resend, w.help
    );
    let c = about_their_mail(config, ticket, to, w.not_sent, body, "unsure", agent_mail);
    compose(config, c, now)
}
