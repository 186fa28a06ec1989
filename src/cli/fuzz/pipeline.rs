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
use crate::mail::subject;

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
/// `stage` is told the name of each stage as it ends (`--replay` times them).
pub(crate) fn run(desk: &Desk, raw: &[u8], stage: &mut dyn FnMut(&'static str)) -> Reached {
    let config = &desk.config;
    let _ = parse::header_summary(raw);
    stage("header summary");
    let inbound = match parse::parse_with(raw, &config.parse) {
        Ok(m) => m,
        Err(ParseError::Internal) => return Reached::ParserCrashed,
        Err(_) => return Reached::Rejected,
    };
    // Quote stripping ran inside the parse (`reply_text` is `quote::strip` of `text`); doing it
    // again here on the same text added about a tenth of each input's cost and nothing else.
    stage("parse (with its quote split)");
    let prefix = &config.support.tag_prefix;
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
    stage("subject and customer");
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
    stage("references, agent proof and commands");
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
    stage("accept: new ticket");
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
    stage("accept: follow-up");
    // An agent answers with the same text (commands, relay to the customer).
    let agent = config.agents.first();
    let matched = threading::decide(&inbound, &candidates, true, window, later);
    accept(
        config,
        intake(&inbound, &matched, &identity, Some(followed.ticket), agent),
        Some(mailer),
        later + Duration::minutes(5),
    );
    stage("accept: agent reply");
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain mail with `body` (CRLF lines) and `head` extra header fields.
    fn mail(head: &str, content_type: &str, body: &str) -> Vec<u8> {
        format!(
            "From: Zhang <zhang@customer.example>\r\nTo: support@example.com\r\n\
             Subject: help\r\nDate: Tue, 24 Nov 2026 10:00:00 +0800\r\n\
             Message-ID: <h@customer.example>\r\n{head}MIME-Version: 1.0\r\n\
             Content-Type: {content_type}\r\n\r\n{body}"
        )
        .into_bytes()
    }

    /// The shapes of the nine fuzz hangs (1.5–2.6 MB inputs, up to 13.3 s of CPU each), at
    /// 256 KiB: each made a body of hundreds of thousands of short lines, and every mail the
    /// desk composed from it went through lettre's quadratic LF-to-CRLF insertion.
    fn hangs() -> Vec<(&'static str, Vec<u8>)> {
        const SIZE: usize = 256 << 10;
        let rep = |s: &str| s.repeat(SIZE / s.len());
        let text = "text/plain; charset=utf-8";
        vec![
            (
                "\\t\\r\\n repeated",
                mail("", text, &format!("hi\r\n{}bye\r\n", rep("\t\r\n"))),
            ),
            (
                "-----Original Message----- repeated",
                mail(
                    "",
                    text,
                    &format!("hi\r\n{}", rep("\r\n-----Original Message-----\r\n")),
                ),
            ),
            (
                "在 … 写道： repeated",
                mail(
                    "",
                    text,
                    &format!("hi\r\n{}", rep("\r\n在 2026年11月24日，张三 写道：\r\n")),
                ),
            ),
            (
                "=\\r\\n soft breaks, not QP",
                mail("", text, &format!("hi{}x\r\n", rep("=\r\n"))),
            ),
            (
                "=\\r\\n soft breaks, QP",
                mail(
                    "Content-Transfer-Encoding: quoted-printable\r\n",
                    text,
                    &format!("hi{}x\r\n", rep("=\r\n")),
                ),
            ),
            (
                "folded empty header lines",
                mail(&format!("X-A: a{}\r\n", rep("\r\n\t")), text, "hi\r\n"),
            ),
            (
                "Received: lines in the body",
                mail(
                    "",
                    text,
                    &format!(
                        "hi{}",
                        rep("\r\nReceived: from x by y; Tue, 24 Nov 2026 10:00:00 +0800")
                    ),
                ),
            ),
            (
                "> > > quoted lines",
                mail("", text, &format!("answer\r\n{}", rep("\r\n> > > quoted"))),
            ),
        ]
    }

    #[test]
    fn the_shapes_of_the_fuzz_hangs_go_through_the_whole_desk() {
        let desk = Desk::new().unwrap();
        for (name, raw) in hangs() {
            assert_eq!(run(&desk, &raw, &mut |_| ()), Reached::Accepted, "{name}");
            let m = parse::parse_with(&raw, &desk.config.parse).unwrap();
            assert!(
                m.text.starts_with("hi") || m.text.starts_with("answer"),
                "{name}"
            );
            assert!(!m.reply_text.trim().is_empty(), "{name}");
        }
    }

    /// Found by the long run: a digest whose parts mail-parser links into a cycle (part 1's
    /// children are its parent, itself and 245 more). It ran for hours; each part is now walked
    /// once and the mail is a ticket like any other.
    #[test]
    fn a_digest_whose_parts_form_a_cycle_is_walked_once() {
        let desk = Desk::new().unwrap();
        let raw = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz-found/digest-shared-parts.eml"
        ))
        .unwrap();
        assert_eq!(run(&desk, &raw, &mut |_| ()), Reached::Accepted);
        let m = parse::parse_with(&raw, &desk.config.parse).unwrap();
        assert!(m.attachments.len() < 300, "{}", m.attachments.len());
    }

    #[test]
    fn a_digest_nested_1600_deep_and_37000_received_fields_are_refused_by_budget() {
        let desk = Desk::new().unwrap();
        let nested = "\r\n--b\r\nContent-Type: multipart/digest; boundary=b\r\n\r\n".repeat(1600);
        let digest = mail(
            "",
            "multipart/digest; boundary=b",
            &format!("{nested}\r\n--b--\r\n"),
        );
        let received = "Received: from x by y; Tue, 24 Nov 2026 10:00:00 +0800\r\n".repeat(37_000);
        let received = mail(&received, "text/plain", "hi\r\n");
        for raw in [digest, received] {
            assert_eq!(run(&desk, &raw, &mut |_| ()), Reached::Rejected);
            assert!(matches!(
                parse::parse_with(&raw, &desk.config.parse),
                Err(ParseError::OverBudget(_))
            ));
        }
    }
}
