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
use crate::desk::authenticated::from_authentication;
use crate::desk::commands::{Command, read_agent_mail};
use crate::desk::effect::Effect;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::templates::Templates;
use crate::desk::threading::{self, Candidates};
use crate::domain::customer::{self, Directory};
use crate::domain::message::{Message, Source};
use crate::domain::ticket::Ticket;
use crate::io::store::{QuarantineRecord, Released, Store, StoreError};
use crate::mail::inbound::Inbound;
use crate::mail::msgid;
use crate::mail::parse::{self, HeaderSummary};
use crate::mail::subject;
use crate::service::identity::bound;
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
    let env = IntakeEnv {
        config: &bound(config, store),
        store,
        directory,
        templates,
        mailbox_queues: &[],
    };
    let parsed = parse_mail(raw, &env.config.parse);
    ingest_parsed(&env, raw, parsed, source, now, false)
}

/// What intake works with besides the mail.
#[derive(Clone, Copy)]
pub(crate) struct IntakeEnv<'a> {
    pub(crate) config: &'a Config,
    pub(crate) store: &'a Store,
    pub(crate) directory: &'a Directory,
    /// Without them (no `[outbound]`) nothing is written to anyone.
    pub(crate) templates: Option<&'a Templates>,
    /// The queues of the mailbox the mail was fetched from ([`Config::route_within`]); empty
    /// for `[imap]`'s mailbox and mail not from IMAP.
    pub(crate) mailbox_queues: &'a [String],
}

/// Domain of the ids given to a different mail that reuses a stored mail's Message-ID.
const REUSED_ID_DOMAIN: &str = "reused.supportd.invalid";

/// True when `stored` and `inbound` are the same mail: the same bytes, or the same From, Date
/// and Subject (a re-delivery through another path adds trace headers, the mail stays the same).
fn same_mail(stored: &Message, inbound: &Inbound) -> bool {
    stored.raw_sha256 == inbound.raw_sha256
        || (stored.from.address == inbound.from.address
            && stored.subject == inbound.subject
            && stored.date == inbound.date
            && (stored.date.is_some() || stored.text == inbound.text))
}

/// `Some` when `inbound` was stored before (a re-delivery); otherwise gives a different mail
/// that reuses a stored Message-ID an id of its own and returns the id it carried.
fn redelivery(store: &Store, inbound: &mut Inbound) -> Result<(Option<Outcome>, Option<String>)> {
    let Some((ticket, seq)) = store.message_location(&inbound.message_id)? else {
        return Ok((None, None));
    };
    let duplicate = Some(Outcome::Duplicate {
        ticket: Some(ticket),
    });
    // Position 0 is one of our own outgoing mails: it came back.
    if seq == 0 {
        return Ok((duplicate, None));
    }
    if store
        .message_at(ticket, seq)?
        .is_none_or(|m| same_mail(&m, inbound))
    {
        return Ok((duplicate, None));
    }
    let synthetic = format!("{}@{REUSED_ID_DOMAIN}", inbound.raw_sha256);
    if let Some((t, _)) = store.message_location(&synthetic)? {
        return Ok((Some(Outcome::Duplicate { ticket: Some(t) }), None));
    }
    warn!(
        message_id = %inbound.message_id,
        stored_on = ticket,
        synthetic = %synthetic,
        "a different mail reuses the Message-ID of a stored one: stored as its own message"
    );
    let original = std::mem::replace(&mut inbound.message_id, synthetic);
    inbound.message_id_synthetic = true;
    Ok((None, Some(original)))
}

/// [`ingest_parsed`] with a panic in the desk or the store (a bug that this mail reproduces)
/// costing this mail, not the mailbox: the mail is quarantined with the panic's message, unless
/// it was stored before the panic.
pub(crate) fn ingest_caught(
    env: &IntakeEnv<'_>,
    raw: &[u8],
    parsed: Result<Inbound, String>,
    source: Option<Source>,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let message_id = parsed.as_ref().ok().map(|m| m.message_id.clone());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ingest_parsed(env, raw, parsed, source.clone(), now, false)
    }));
    match caught {
        Ok(r) => r,
        Err(payload) => {
            let why = crate::service::tasks::panic_message(payload);
            warn!(panic = %why, "handling this mail panicked");
            if let Some(id) = &message_id
                && let Some((ticket, _)) = env.store.message_location(id)?
            {
                return Ok(Outcome::Stored {
                    ticket,
                    created: false,
                });
            }
            let reason = format!("internal error while handling this mail (a bug): {why}");
            quarantine_whole(env.store, reason, raw, source)
        }
    }
}

/// [`ingest_raw_with`] for a mail already parsed (or found to be no mail, with the reason);
/// `released` when the operator released it from the quarantine.
pub(crate) fn ingest_parsed(
    env: &IntakeEnv<'_>,
    raw: &[u8],
    parsed: Result<Inbound, String>,
    source: Option<Source>,
    now: DateTime<Utc>,
    released: bool,
) -> Result<Outcome> {
    let IntakeEnv {
        config,
        store,
        directory,
        ..
    } = *env;
    let mut inbound = match parsed {
        Ok(m) => m,
        Err(reason) => return quarantine_whole(store, reason, raw, source),
    };
    // Not `write_lock`: intake reads through an open ingest batch and stages into it.
    let _writer = store.intake_lock();
    let (dup, reused) = redelivery(store, &mut inbound)?;
    if let Some(dup) = dup {
        return Ok(dup);
    }
    let sup = &config.support;
    let learned = store.learned_customer(&inbound.from.address)?;
    let identity = customer::resolve(
        &sup.customer_id_regexes,
        directory,
        learned.as_deref(),
        &inbound.subject,
        &inbound.reply_text,
        &inbound.from.address,
    );
    let mut candidates = Candidates::default();
    let mut reads = Reads::new(store);
    let agent = sender_agent(config, &mut reads, &inbound, &mut candidates)?;
    find_candidates(
        config,
        &mut reads,
        &inbound,
        &identity.customer,
        &mut candidates,
    )?;
    let window = chrono::Duration::days(sup.thread_window_days as i64);
    let matched = threading::decide(&inbound, &candidates, agent.is_some(), window, now);
    let existing = match matched.ticket() {
        Some(id) => reads.ticket(id)?,
        None => None,
    };
    if existing.is_none()
        && inbound.machine.is_machine_generated()
        && !sup.machine_mail_tickets
        && !released
    {
        // An out-of-office, a bounce or a list mail that belongs to no ticket must not open one
        // (and so can never start a mail loop); it stays visible in the quarantine.
        let reason = format!(
            "machine-generated mail that matches no ticket ({}); set support.machine_mail_tickets to open tickets for it",
            inbound.machine.reasons().join("; ")
        );
        return quarantine_whole(store, reason, raw, source);
    }
    // A follow-up stays in its ticket's queue whatever address it was sent to; a new ticket
    // goes to the queue of the address the mail was delivered to.
    let queue = match &existing {
        Some(t) => config.queue(&t.queue).name.clone(),
        None => config
            .route_within(&inbound, env.mailbox_queues)
            .name
            .clone(),
    };
    let stored_queue = config.stored_queue_name(&queue);
    let view = config.in_queue(&queue);
    let config = &*view;
    let next_id = store.next_ticket_id()?;
    let history = match env.templates {
        Some(_) => store.rate_histories(
            inbound
                .reply_to
                .iter()
                .chain([&inbound.from])
                .map(|m| m.address.as_str()),
        )?,
        None => HashMap::new(),
    };
    let mailer = env.templates.map(|templates| Mailer {
        templates,
        history: &history,
    });
    let listed = directory.lookup(&inbound.from.address);
    let contact = listed.and_then(|c| c.contact.clone());
    // Without an authenticated From a VIP's address is one anybody can write.
    let vip = listed
        .and_then(|c| c.tier.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("vip"))
        && (sup.trusted_authserv_id.is_none()
            || from_authentication(sup.trusted_authserv_id.as_deref(), &inbound).passed());
    let merge_target = match agent {
        Some(_) => merge_target(&mut reads, &inbound)?,
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
        customer: &identity.customer,
        resolved: identity.how,
        source,
        agent,
        contact: contact.as_deref(),
        merge_target: merge_target.as_ref(),
        sent: &sent,
        vip,
        queue: &stored_queue,
    };
    let mut accepted = accept(config, intake, mailer, now);
    if let Some(original) = reused {
        if accepted.ticket.last_customer_message_id == inbound.message_id {
            accepted.ticket.last_customer_message_id = original.clone();
        }
        accepted.message.reused_message_id = Some(original);
    }
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

/// Re-ingests quarantined mail `id` (`supportd quarantine release`): the operator says it is
/// mail for a ticket, so machine-generated mail opens one too. The record stays, marked
/// released with the ticket it went to.
pub(crate) fn release_quarantined(
    config: &Config,
    store: &Store,
    directory: &Directory,
    templates: Option<&Templates>,
    id: u64,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    let Some(mut rec) = store.quarantine_record(id)? else {
        anyhow::bail!("no quarantined mail {id}");
    };
    if let Some(r) = &rec.released {
        anyhow::bail!(
            "quarantined mail {id} was released at {}{}",
            r.at,
            r.ticket
                .map(|t| format!(" to ticket {t}"))
                .unwrap_or_default()
        );
    }
    if rec.header_only {
        anyhow::bail!(
            "only the header of quarantined mail {id} was kept ({}); it cannot be released",
            rec.reason
        );
    }
    let Some(raw) = store.quarantined_bytes(&rec)? else {
        anyhow::bail!("nothing of quarantined mail {id} was kept; it cannot be released");
    };
    let env = IntakeEnv {
        config: &bound(config, store),
        store,
        directory,
        templates,
        mailbox_queues: &[],
    };
    let parsed = parse_mail(&raw, &env.config.parse);
    let outcome = ingest_parsed(&env, &raw, parsed, rec.source.clone(), now, true)?;
    let ticket = match &outcome {
        Outcome::Stored { ticket, .. } => Some(*ticket),
        Outcome::Duplicate { ticket } => *ticket,
        Outcome::Quarantined { reason, .. } => {
            anyhow::bail!("quarantined mail {id} still cannot become a ticket: {reason}")
        }
    };
    rec.released = Some(Released { at: now, ticket });
    store.update_quarantine(&rec)?;
    Ok(outcome)
}

/// The parsed mail, or why it cannot be one (for the quarantine).
pub(crate) fn parse_mail(raw: &[u8], limits: &parse::Limits) -> Result<Inbound, String> {
    // mail-parser is robust, but a panic on hostile input must cost one mail, not the daemon.
    match std::panic::catch_unwind(|| parse::parse_with(raw, limits)) {
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
    reads: &mut Reads<'_>,
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
                && let Some(ticket) = reads.ticket(t)?
            {
                candidates.signed = Some((format!("agent proof for ticket {t}"), ticket));
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

/// Referenced ids looked at, at most: hostile References carry thousands.
const MAX_REFERENCES: usize = 100;

/// The tickets threading chooses from: the ticket one of this store's signed Message-IDs names
/// (a bounce's reported ids too), the ticket of the first other referenced id we stored, the
/// subject tag's ticket, and the latest active tickets with this subject under the sender's
/// address and under the mail's customer. Merged tickets are followed to the ticket they live
/// on in.
fn find_candidates(
    config: &Config,
    reads: &mut Reads<'_>,
    inbound: &Inbound,
    customer: &str,
    candidates: &mut Candidates,
) -> Result<()> {
    let sup = &config.support;
    let signer = config.signer();
    // A bounce names the mail that bounced inside its report, not in its headers.
    let ids = threading::reference_ids(inbound)
        .into_iter()
        .chain(inbound.reported_ids.iter().map(String::as_str))
        .take(MAX_REFERENCES);
    for id in ids {
        if candidates.signed.is_some() {
            break;
        }
        match signer.map(|s| s.verify(id)) {
            Some(msgid::Verdict::Ours(t)) => {
                if let Some(ticket) = reads.ticket(t)? {
                    candidates.signed = Some((id.to_owned(), ticket));
                }
                continue;
            }
            Some(msgid::Verdict::Forged) => {
                warn!(
                    reference = id,
                    "reference looks like ours but its signature is wrong"
                );
                continue;
            }
            Some(msgid::Verdict::OtherStore) => {
                warn!(
                    reference = id,
                    "reference was signed by another store (an earlier one, lost or replaced?); it names none of this store's tickets"
                );
                candidates.other_store = true;
                continue;
            }
            _ => {}
        }
        if candidates.referenced.is_none()
            && let Some((t, _)) = reads.store.message_location(id)?
            && let Some(ticket) = reads.ticket(t)?
        {
            candidates.referenced = Some((id.to_owned(), ticket));
        }
    }
    candidates.tag = subject::find_tag(&inbound.subject, &sup.tag_prefix);
    if let Some(n) = candidates.tag {
        candidates.tagged = reads.ticket(n)?;
    }
    let normalized = subject::normalize(&subject::strip_tag(&inbound.subject, &sup.tag_prefix));
    for key in [inbound.from.address.as_str(), customer] {
        if let Some(n) = reads.store.ticket_id_by_subject(key, &normalized)?
            && let Some(t) = reads.ticket(n)?
            && !candidates.same_subject.iter().any(|c| c.id == t.id)
        {
            candidates.same_subject.push(t);
        }
    }
    // Mail for a merged ticket goes to the ticket it was merged into.
    for slot in [&mut candidates.signed, &mut candidates.referenced] {
        if let Some((id, t)) = slot.take() {
            *slot = Some((id, follow_merges(reads, t)?));
        }
    }
    if let Some(t) = candidates.tagged.take() {
        candidates.tagged = Some(follow_merges(reads, t)?);
    }
    let same = std::mem::take(&mut candidates.same_subject);
    for t in same {
        let t = follow_merges(reads, t)?;
        if !candidates.same_subject.iter().any(|c| c.id == t.id) {
            candidates.same_subject.push(t);
        }
    }
    Ok(())
}

/// The ticket an agent's `#merge N` names, if it exists.
fn merge_target(reads: &mut Reads<'_>, inbound: &Inbound) -> Result<Option<Ticket>> {
    let n = read_agent_mail(inbound)
        .commands
        .iter()
        .find_map(|c| match c {
            Command::Merge(n) => Some(*n),
            _ => None,
        });
    Ok(n.map(|n| reads.ticket(n)).transpose()?.flatten())
}

/// Quarantines the whole raw mail with `reason`, described by what its header says.
pub(crate) fn quarantine_whole(
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
        released: None,
    };
    let rec = store.add_quarantine(rec, kept)?;
    Ok(Outcome::Quarantined {
        id: rec.id,
        reason: rec.reason,
    })
}

/// Follows `merged_into` links to the ticket that lives on.
fn follow_merges(reads: &mut Reads<'_>, mut t: Ticket) -> Result<Ticket> {
    for _ in 0..16 {
        match t
            .merged_into
            .map(|n| reads.ticket(n))
            .transpose()?
            .flatten()
        {
            Some(next) => t = next,
            None => break,
        }
    }
    Ok(t)
}

/// The tickets one mail's intake has read, by number. Threading meets the ticket a reply
/// belongs to through its proof, its references, its tag and its subject, and then takes it as
/// the ticket the mail joins; each read from the store decodes the record again (a zstd frame
/// and its JSON), a copy from here does not. All reads are under the intake lock, so a copy
/// is what the store holds.
struct Reads<'s> {
    store: &'s Store,
    /// At most one entry per ticket looked at: bounded by [`MAX_REFERENCES`] and the few other
    /// candidates.
    seen: Vec<(u64, Option<Ticket>)>,
}

impl<'s> Reads<'s> {
    fn new(store: &'s Store) -> Reads<'s> {
        Reads {
            store,
            seen: Vec::new(),
        }
    }

    fn ticket(&mut self, id: u64) -> Result<Option<Ticket>> {
        if let Some((_, t)) = self.seen.iter().find(|(n, _)| *n == id) {
            return Ok(t.clone());
        }
        let t = self.store.ticket(id)?;
        self.seen.push((id, t.clone()));
        Ok(t)
    }
}

#[cfg(test)]
#[path = "intake_batch.rs"]
mod batch_tests;
