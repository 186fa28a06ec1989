//! What one fuzz input goes through: everything a mail meets between the IMAP server and the
//! store, without the store. Parse (headers, MIME, charsets, HTML to text, quoted history), the
//! header summary ingest reads first, subject prefixes and tags, the customer ID patterns,
//! threading's references and decision, the agent proof and commands, and the desk's `accept`
//! three times (a new ticket, a customer's follow-up, an agent's reply), which composes every
//! mail it causes (acknowledgement, notifications, relays).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::desk::accept::{Intake, accept};
use crate::desk::agent::proof::authenticate;
use crate::desk::commands::read_agent_mail;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::templates::Templates;
use crate::desk::threading::{self, Candidates};
use crate::domain::customer::{self, Directory};
use crate::mail::parse::{self, ParseError};
use crate::mail::{quote, subject};

/// What the pipeline works with besides the input.
pub(crate) struct Desk {
    pub(crate) config: Config,
    pub(crate) directory: Directory,
    pub(crate) templates: Templates,
    pub(crate) now: DateTime<Utc>,
}

impl Desk {
    /// The sample configuration (agents, outbound mail on), built-in templates.
    pub(crate) fn new() -> anyhow::Result<Desk> {
        let config = crate::config::sample::scratch(std::path::Path::new("/nonexistent"), "")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Desk {
            config,
            directory: Directory::default(),
            templates: Templates::load(None)?,
            now: DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
        })
    }
}

/// How far an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reached {
    /// The parser refused it (a quarantine reason).
    Rejected,
    /// It went all the way through the desk.
    Accepted,
    /// The parser reported that it crashed (a panic it caught).
    ParserCrashed,
}

/// Runs `raw` through the pipeline. Panics are the caller's to catch: every one is a bug.
pub(crate) fn run(desk: &Desk, raw: &[u8]) -> Reached {
    let config = &desk.config;
    let _ = parse::header_summary(raw);
    let inbound = match parse::parse_with(raw, &config.parse) {
        Ok(m) => m,
        Err(ParseError::Internal) => return Reached::ParserCrashed,
        Err(_) => return Reached::Rejected,
    };
    let prefix = &config.support.tag_prefix;
    let _ = quote::strip(&inbound.text);
    let normalized = subject::normalize(&subject::strip_tag(&inbound.subject, prefix));
    let tag = subject::find_tag(&inbound.subject, prefix);
    let identity = customer::resolve(
        &config.support.customer_id_regexes,
        &desk.directory,
        None,
        &inbound.subject,
        &inbound.reply_text,
        &inbound.from.address,
    );
    if let Some(signer) = config.signer() {
        for id in threading::reference_ids(&inbound)
            .into_iter()
            .chain(inbound.reported_ids.iter().map(String::as_str))
        {
            let _ = signer.verify(id);
            let _ = signer.verify_agent(id);
        }
    }
    let _ = authenticate(config, &inbound);
    let _ = read_agent_mail(&inbound);
    let history = HashMap::new();
    let mailer = Mailer {
        templates: &desk.templates,
        history: &history,
    };
    let window = Duration::days(config.support.thread_window_days as i64);
    // A new ticket.
    let mut candidates = Candidates {
        tag,
        ..Candidates::default()
    };
    let matched = threading::decide(&inbound, &candidates, false, window, desk.now);
    let opened = accept(
        config,
        intake(&inbound, &matched, &identity, None, None),
        Some(mailer),
        desk.now,
    );
    let mut ticket = opened.ticket;
    if ticket.normalized_subject.is_empty() {
        ticket.normalized_subject = normalized;
    }
    // The customer writes again, by reference.
    candidates.referenced = Some((inbound.message_id.clone(), ticket.clone()));
    let matched = threading::decide(&inbound, &candidates, false, window, desk.now);
    let later = desk.now + Duration::hours(1);
    let followed = accept(
        config,
        intake(&inbound, &matched, &identity, Some(ticket.clone()), None),
        Some(mailer),
        later,
    );
    // An agent answers with the same text (commands, relay to the customer).
    let agent = config.agents.first();
    let matched = threading::decide(&inbound, &candidates, true, window, later);
    accept(
        config,
        intake(&inbound, &matched, &identity, Some(followed.ticket), agent),
        Some(mailer),
        later + Duration::minutes(5),
    );
    Reached::Accepted
}

fn intake<'a>(
    inbound: &'a crate::mail::inbound::Inbound,
    matched: &'a threading::Match,
    identity: &'a customer::Identity,
    existing: Option<crate::domain::ticket::Ticket>,
    agent: Option<&'a crate::config::sections::AgentConfig>,
) -> Intake<'a> {
    Intake {
        inbound,
        matched,
        next_id: existing.as_ref().map_or(1, |t| t.id + 1),
        existing,
        customer: &identity.customer,
        resolved: identity.how,
        sent: &[],
        source: None,
        agent,
        contact: None,
        merge_target: None,
        vip: false,
        queue: "",
    }
}
