//! The mail use case: one raw mail in, a durable-to-be ticket change out. Parse it (or
//! quarantine it), drop a re-delivery, identify the customer and the sender, look up the
//! candidate tickets for threading, let the desk decide, and commit the result with the mails it
//! causes in one transaction. The IMAP loop ([`crate::service::ingest`]) calls it for every mail;
//! the benchmark and tests call it directly.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::config::Config;
use crate::config::sections::AgentConfig;
use crate::desk::accept::{Intake, accept};
use crate::desk::agent::answer::{SENT_MAILS, sent_texts};
use crate::desk::agent::proof::{Auth, authenticate};
use crate::desk::commands::{Command, read_agent_mail};
use crate::desk::effect::Effect;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::templates::Templates;
use crate::desk::threading::{self, Candidates};
use crate::domain::customer::{self, Directory};
use crate::domain::message::Source;
use crate::domain::ticket::Ticket;
use crate::io::store::{QuarantineRecord, Store, StoreError};
use crate::mail::inbound::Inbound;
use crate::mail::msgid;
use crate::mail::parse::{self, HeaderSummary};
use crate::mail::subject;
use crate::service::metrics;

/// How many of the newest outbox items are looked through for the mails sent about an agent's
/// ticket: what an answer quotes is recent, and a large outbox is not read whole per mail.
const OUTBOX_SCAN: usize = 20_000;

/// What happened to one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored on a ticket.
    Stored {
        /// Ticket number.
        ticket: u64,
        /// True when it opened the ticket.
        created: bool,
    },
    /// Already stored before (re-delivery).
    Duplicate {
        /// Ticket number, when known.
        ticket: Option<u64>,
    },
    /// Not turned into a ticket.
    Quarantined {
        /// Quarantine record id.
        id: u64,
        /// Why.
        reason: String,
    },
}

/// Parses, dedupes, threads, decides and stores one raw mail with the mails it causes (not yet
/// durable: the caller syncs). Without `templates` (no `[outbound]`) nothing is written to anyone.
pub fn ingest_raw_with(
    config: &Config,
    store: &Store,
    directory: &Directory,
    templates: Option<&Templates>,
    raw: &[u8],
    source: Option<Source>,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let inbound = match parse_mail(raw) {
        Ok(m) => m,
        Err(reason) => return quarantine_whole(store, reason, raw, source),
    };
    if let Some((ticket, _)) = store.message_location(&inbound.message_id)? {
        return Ok(Outcome::Duplicate {
            ticket: Some(ticket),
        });
    }
    let sup = &config.support;
    let customer = customer::identify(
        &sup.customer_id_regexes,
        directory,
        &inbound.subject,
        &inbound.reply_text,
        &inbound.from.address,
    );
    let _writer = store.write_lock();
    let mut candidates = Candidates::default();
    let agent = sender_agent(config, store, &inbound, &mut candidates)?;
    find_candidates(config, store, &inbound, &customer, &mut candidates)?;
    let window = chrono::Duration::days(sup.thread_window_days as i64);
    let matched = threading::decide(&inbound, &candidates, agent.is_some(), window, now);
    let existing = match matched.ticket() {
        Some(id) => store.ticket(id)?,
        None => None,
    };
    if existing.is_none() && inbound.machine.is_machine_generated() && !sup.machine_mail_tickets {
        // An out-of-office, a bounce or a list mail that belongs to no ticket must not open one
        // (and so can never start a mail loop); it stays visible in the quarantine.
        let reason = format!(
            "machine-generated mail that matches no ticket ({}); set support.machine_mail_tickets to open tickets for it",
            inbound.machine.reasons().join("; ")
        );
        return quarantine_whole(store, reason, raw, source);
    }
    let next_id = store.next_ticket_id()?;
    let history = match templates {
        Some(_) => store.rate_histories(
            inbound
                .reply_to
                .iter()
                .chain([&inbound.from])
                .map(|m| m.address.as_str()),
        )?,
        None => HashMap::new(),
    };
    let mailer = templates.map(|templates| Mailer {
        templates,
        history: &history,
    });
    let listed = directory.lookup(&inbound.from.address);
    let contact = listed.and_then(|c| c.contact.clone());
    let vip = listed
        .and_then(|c| c.tier.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("vip"));
    let merge_target = match agent {
        Some(_) => merge_target(store, &inbound)?,
        None => None,
    };
    // What an agent's answer must not pass on: the mails we sent the agents about the ticket.
    let sent = match (&agent, &existing) {
        (Some(_), Some(t)) => {
            sent_texts(&store.recent_outbox_for_ticket(t.id, 4 * SENT_MAILS, OUTBOX_SCAN)?)
        }
        _ => Vec::new(),
    };
    let before = existing.as_ref().map(|t| (t.id, t.escalations.len()));
    let intake = Intake {
        inbound: &inbound,
        matched: &matched,
        existing,
        next_id,
        customer: &customer,
        source,
        agent,
        contact: contact.as_deref(),
        merge_target: merge_target.as_ref(),
        sent: &sent,
        vip,
    };
    let accepted = accept(config, intake, mailer, now);
    for Effect::Log(line) in &accepted.effects {
        debug!(ticket = accepted.ticket.id, "{line}");
    }
    match store.commit_inbound(&accepted, raw) {
        Ok(()) => {
            metrics::ESCALATIONS.record_new(&accepted.ticket, before);
            Ok(Outcome::Stored {
                ticket: accepted.ticket.id,
                created: accepted.created,
            })
        }
        Err(StoreError::Duplicate(_)) => Ok(Outcome::Duplicate { ticket: None }),
        Err(e) => Err(e).context("cannot store mail"),
    }
}

/// The parsed mail, or why it cannot be one (for the quarantine).
fn parse_mail(raw: &[u8]) -> Result<Inbound, String> {
    // mail-parser is robust, but a panic on hostile input must cost one mail, not the daemon.
    match std::panic::catch_unwind(|| parse::parse(raw)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the parser crashed on this mail".to_owned()),
    }
}

/// The authenticated agent who wrote `inbound`, if any; the ticket their proof names becomes the
/// referenced candidate. Mail from an agent address without proof is counted and handled as a
/// customer's.
fn sender_agent<'c>(
    config: &'c Config,
    store: &Store,
    inbound: &Inbound,
    candidates: &mut Candidates,
) -> Result<Option<&'c AgentConfig>> {
    Ok(match authenticate(config, inbound) {
        Auth::Agent {
            name,
            ticket,
            proof,
        } => {
            debug!(agent = %name, proof, "authenticated agent mail");
            if let Some(t) = ticket
                && let Some(ticket) = store.ticket(t)?
            {
                candidates.referenced = Some((format!("agent proof for ticket {t}"), ticket));
            }
            config.agent_named(&name)
        }
        Auth::Impersonation { claimed } => {
            metrics::IMPERSONATIONS.fetch_add(1, Ordering::Relaxed);
            warn!(
                claimed = %claimed,
                "mail from an agent address without proof (signed reply address, notification Message-ID or trusted Authentication-Results); handled as a customer mail"
            );
            None
        }
        Auth::NotAgent => None,
    })
}

/// The tickets threading chooses from: the first referenced Message-ID we know (ours by
/// signature, or stored; a bounce's reported IDs too), else the subject tag's ticket and the
/// latest ticket of this customer with this subject. Merged tickets are followed to the ticket
/// they live on in.
fn find_candidates(
    config: &Config,
    store: &Store,
    inbound: &Inbound,
    customer: &str,
    candidates: &mut Candidates,
) -> Result<()> {
    let sup = &config.support;
    let secret = config
        .outbound
        .as_ref()
        .map(|o| o.resolved_secret.as_slice());
    // A bounce names the mail that bounced inside its report, not in its headers.
    let ids: Vec<&str> = if candidates.referenced.is_some() {
        Vec::new()
    } else {
        threading::reference_ids(inbound)
    }
    .into_iter()
    .chain(inbound.reported_ids.iter().map(String::as_str))
    .collect();
    for id in ids {
        let by_signature = match secret.map(|s| msgid::verify(s, id)) {
            Some(msgid::Verdict::Ours(t)) => Some(t),
            Some(msgid::Verdict::Forged) => {
                warn!(
                    reference = id,
                    "reference looks like ours but its signature is wrong"
                );
                None
            }
            _ => None,
        };
        let t = match by_signature {
            Some(t) => Some(t),
            None => store.message_location(id)?.map(|(t, _)| t),
        };
        if let Some(t) = t
            && let Some(ticket) = store.ticket(t)?
        {
            candidates.referenced = Some((id.to_owned(), ticket));
            break;
        }
    }
    if candidates.referenced.is_none() {
        candidates.tag = subject::find_tag(&inbound.subject, &sup.tag_prefix);
        if let Some(n) = candidates.tag {
            candidates.tagged = store.ticket(n)?;
        }
        let normalized = subject::normalize(&subject::strip_tag(&inbound.subject, &sup.tag_prefix));
        candidates.same_subject = store.ticket_by_subject(customer, &normalized)?;
    }
    // Mail for a merged ticket goes to the ticket it was merged into.
    if let Some((id, t)) = candidates.referenced.take() {
        candidates.referenced = Some((id, follow_merges(store, t)?));
    }
    if let Some(t) = candidates.tagged.take() {
        candidates.tagged = Some(follow_merges(store, t)?);
    }
    Ok(())
}

/// The ticket an agent's `#merge N` names, if it exists.
fn merge_target(store: &Store, inbound: &Inbound) -> Result<Option<Ticket>> {
    let n = read_agent_mail(inbound)
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Merge(n) => Some(*n),
            _ => None,
        });
    Ok(n.map(|n| store.ticket(n)).transpose()?.flatten())
}

/// Quarantines the whole raw mail with `reason`, described by what its header says.
fn quarantine_whole(
    store: &Store,
    reason: String,
    raw: &[u8],
    source: Option<Source>,
) -> Result<Outcome> {
    let summary = parse::header_summary(raw);
    store_quarantined(
        store,
        reason,
        &summary,
        raw.len() as u64,
        raw,
        false,
        source,
    )
}

/// Stores `kept` (the raw mail, its header, or nothing) in the quarantine with `reason`.
pub(crate) fn store_quarantined(
    store: &Store,
    reason: String,
    summary: &HeaderSummary,
    size: u64,
    kept: &[u8],
    header_only: bool,
    source: Option<Source>,
) -> Result<Outcome> {
    let rec = QuarantineRecord {
        id: 0,
        at: Utc::now(),
        reason,
        message_id: summary.message_id.clone(),
        from: summary.from.clone(),
        subject: summary.subject.clone(),
        size,
        // Nothing kept, nothing to index: two unreadable mails are two records, not one.
        raw_sha256: (!kept.is_empty()).then(|| hex::encode(Sha256::digest(kept))),
        header_only,
        source,
    };
    let rec = store.add_quarantine(rec, kept)?;
    Ok(Outcome::Quarantined {
        id: rec.id,
        reason: rec.reason,
    })
}

/// Follows `merged_into` links to the ticket that lives on.
fn follow_merges(store: &Store, mut t: Ticket) -> Result<Ticket> {
    for _ in 0..16 {
        match t
            .merged_into
            .map(|n| store.ticket(n))
            .transpose()?
            .flatten()
        {
            Some(next) => t = next,
            None => break,
        }
    }
    Ok(t)
}
