//! Building the complete RFC 5322 bytes of an outgoing mail, so a retry after a crash re-sends
//! the identical mail with the identical Message-ID.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox as LMailbox, Message};

use crate::config::Config;
use crate::config::sections::{Language, OutboundConfig};
use crate::desk::authenticated::from_authentication;
use crate::desk::outbound::templates::{TemplateError, Templates};
use crate::desk::outbound::wording::{status_text, target_text};
use crate::domain::outbox::{Kind, OutboxItem, State};
use crate::domain::ticket::Ticket;
use crate::mail::header::sanitize_header;
use crate::mail::inbound::Inbound;
use crate::mail::mailbox::Mailbox;
use crate::mail::msgid;
use crate::mail::subject;

/// Why no mail could be written. The text is kept as the reason of the suppressed outbox item,
/// so the ticket shows what was not sent and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ComposeError {
    /// Outbound mail is not configured.
    #[error("no [outbound]")]
    NoOutbound,
    /// The template does not render.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A recipient's address cannot be written into a mail.
    #[error("cannot send to {address}: {why}")]
    Recipient {
        /// The address.
        address: String,
        /// lettre's objection.
        why: String,
    },
    /// `support.address` cannot be a From address.
    #[error("support.address: {0}")]
    SupportAddress(String),
    /// The Reply-To address cannot be written.
    #[error("bad Reply-To {address}: {why}")]
    ReplyTo {
        /// The address.
        address: String,
        /// lettre's objection.
        why: String,
    },
    /// Nobody to send to.
    #[error("no recipient")]
    NoRecipient,
    /// lettre could not assemble the message.
    #[error("cannot build mail: {0}")]
    Build(String),
    /// The assembled message is not 7-bit (lettre encodes everything, so this is a bug).
    #[error("built mail is not 7-bit clean")]
    Not7Bit,
}

/// Everything needed to write one automatic mail about a ticket.
#[derive(Debug, Clone)]
pub(crate) struct Draft<'a> {
    pub(crate) kind: Kind,
    /// The ticket, as it will be after the triggering change.
    pub(crate) ticket: &'a Ticket,
    /// The customer mail being answered (for threading and the summary), if any.
    pub(crate) inbound: Option<&'a Inbound>,
    pub(crate) lang: Language,
    /// Extra template variables (e.g. the checklist).
    pub(crate) extra: BTreeMap<&'static str, minijinja::Value>,
    /// What caused the mail, for a deterministic Message-ID.
    pub(crate) cause: String,
}

/// Builds the outbox item for `draft`. Returns `Err` with a reason when no valid mail can be
/// built (e.g. the customer's address is not deliverable); the caller records it as suppressed.
pub(crate) fn build(
    config: &Config,
    out: &OutboundConfig,
    templates: &Templates,
    draft: &Draft<'_>,
    now: DateTime<Utc>,
) -> Result<OutboxItem, ComposeError> {
    let t = draft.ticket;
    let tag = subject::tag(&config.support.tag_prefix, t.id);
    let targets = config.sla.targets(t.priority);
    let due = t.sla.first_response.due_at.unwrap_or_else(|| {
        targets
            .respond
            .after(t.created_at, targets.business_hours, &config.calendar)
    });
    let received = draft.inbound.map(|m| {
        minijinja::context! {
            subject => m.subject.clone(),
            attachments => m.attachments.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
            text => m.reply_text.clone(),
        }
    });
    let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
    ctx.insert(
        "ticket",
        minijinja::context! {
            id => t.id,
            tag => tag.clone(),
            subject => t.subject.clone(),
            priority => t.priority.to_string(),
            status => t.status.as_str(),
            status_text => status_text(t.status, draft.lang),
            customer => t.customer.clone(),
        },
    );
    ctx.insert(
        "customer_name",
        minijinja::Value::from(
            t.requester
                .name
                .clone()
                .unwrap_or_else(|| t.requester.address.clone()),
        ),
    );
    ctx.insert(
        "response_time",
        minijinja::Value::from(target_text(
            &targets.respond,
            targets.business_hours,
            draft.lang,
        )),
    );
    ctx.insert(
        "response_due",
        minijinja::Value::from(format!(
            "{} ({})",
            due.with_timezone(&config.calendar.tz())
                .format("%Y-%m-%d %H:%M"),
            config.calendar.tz()
        )),
    );
    ctx.insert("received", minijinja::Value::from_serialize(&received));
    ctx.insert(
        "support_name",
        minijinja::Value::from(config.support.name.clone()),
    );
    for (k, v) in &draft.extra {
        ctx.insert(k, v.clone());
    }
    let (subject_line, body) = templates.render(
        draft.lang,
        draft.kind.template(),
        minijinja::Value::from_serialize(&ctx),
    )?;
    // The tag keeps the customer's reply in the thread even if their client drops References.
    let subject_line = if subject_line.contains(&tag) {
        subject_line
    } else {
        format!("{tag} {subject_line}")
    };

    let recipient = draft
        .inbound
        .map(|m| answer_to(config, m))
        .unwrap_or_else(|| t.requester.clone());
    let signer = msgid::Signer {
        secret: &out.resolved_secret,
        instance: &out.instance,
    };
    let id = signer.sign(
        &config.message_id_domain(),
        t.id,
        &msgid::nonce(&draft.cause),
    );
    let parent = draft
        .inbound
        .map(|m| m.message_id.clone())
        .unwrap_or_else(|| t.last_customer_message_id.clone());
    let references = draft
        .inbound
        .map(|m| m.references.clone())
        .unwrap_or_default();
    compose(
        config,
        Compose {
            kind: draft.kind,
            ticket: t.id,
            from_name: config.support.name.clone(),
            to: vec![recipient],
            cc: Vec::new(),
            reply_to: config.support.address.clone(),
            subject: subject_line,
            body,
            message_id: id,
            parent,
            references,
            automatic: true,
            attachments: Vec::new(),
        },
        now,
    )
}

/// Where an automatic answer to `inbound` goes: its From. Reply-To only when it is in From's
/// domain or our MX authenticated From; otherwise anybody could have us mail a victim by
/// writing them into Reply-To (backscatter).
pub(crate) fn answer_to(config: &Config, inbound: &Inbound) -> Mailbox {
    let domain = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    let authenticated =
        || from_authentication(config.support.trusted_authserv_id.as_deref(), inbound).passed();
    inbound
        .reply_to
        .first()
        .filter(|r| !config.is_own_address(&r.address))
        .filter(|r| {
            domain(&r.address).is_some() && domain(&r.address) == domain(&inbound.from.address)
                || authenticated()
        })
        .cloned()
        .unwrap_or_else(|| inbound.from.clone())
}

/// Everything about one outgoing mail except how its text was made.
#[derive(Debug, Clone)]
pub(crate) struct Compose {
    pub(crate) kind: Kind,
    pub(crate) ticket: u64,
    /// Display name on From (the address is always the support address).
    pub(crate) from_name: String,
    pub(crate) to: Vec<crate::mail::mailbox::Mailbox>,
    pub(crate) cc: Vec<crate::mail::mailbox::Mailbox>,
    pub(crate) reply_to: String,
    pub(crate) subject: String,
    pub(crate) body: String,
    /// Our Message-ID (without brackets).
    pub(crate) message_id: String,
    /// Message-ID we answer (empty for none).
    pub(crate) parent: String,
    /// References of the mail we answer.
    pub(crate) references: Vec<String>,
    /// Automatic mail (acks, notices) carries the RFC 3834 and loop headers; a relayed human
    /// reply does not.
    pub(crate) automatic: bool,
    /// Attachments: name, MIME type, bytes.
    pub(crate) attachments: Vec<(String, String, Vec<u8>)>,
}

/// Longest Message-ID we echo in In-Reply-To/References: a longer one is not a real client's,
/// and echoing it could make our mail undeliverable (RFC 5322 allows 998 octets a line).
pub(crate) const MAX_ECHOED_ID: usize = 250;

/// Longest line we write (RFC 5322 §2.1.1 recommends 78).
const FOLD_AT: usize = 78;

/// The `Name <address>` of one mailbox, the name quoted or RFC 2047-encoded as needed.
fn encode_mailbox(m: &LMailbox) -> String {
    use email_encoding::headers::writer::EmailWriter;
    let mut out = String::new();
    if let Some(name) = m.name.as_deref().filter(|n| !n.trim().is_empty()) {
        {
            let mut w = EmailWriter::new(&mut out, 0, 0, false);
            // Writing into a String cannot fail.
            let _ = email_encoding::headers::quoted_string::encode(name.trim(), &mut w);
        }
        out.push_str(&format!(" <{}>", m.email));
    } else {
        out.push_str(m.email.as_ref());
    }
    out
}

/// An address-list header value folded at [`FOLD_AT`] columns between its addresses (lettre
/// writes the whole list on one line, which a relay refuses past 998 octets).
pub(crate) fn folded_address_list(name: &str, list: &[LMailbox]) -> String {
    let mut out = String::new();
    let mut col = name.len() + 2;
    for (i, m) in list.iter().enumerate() {
        let mut word = encode_mailbox(m);
        if i + 1 < list.len() {
            word.push(',');
        }
        let first_line = word.split("\r\n").next().unwrap_or_default().len();
        if i > 0 {
            if col + 1 + first_line > FOLD_AT {
                out.push_str("\r\n ");
                col = 1;
            } else {
                out.push(' ');
                col += 1;
            }
        }
        out.push_str(&word);
        col = match word.rsplit_once("\r\n") {
            Some((_, last)) => last.len(),
            None => col + word.len(),
        };
    }
    out
}

/// Builds the RFC 5322 bytes of `c` into a pending outbox item. A recipient that cannot be
/// written into a mail is left out (and listed in [`OutboxItem::dropped`]) instead of failing the
/// mail for everyone; only a mail left without any recipient is an error.
pub(crate) fn compose(
    config: &Config,
    c: Compose,
    now: DateTime<Utc>,
) -> Result<OutboxItem, ComposeError> {
    let mut dropped = Vec::new();
    let mut mailboxes = |list: &[Mailbox]| -> Vec<LMailbox> {
        let mut out: Vec<LMailbox> = Vec::new();
        for m in list {
            match m.address.parse::<lettre::Address>() {
                Ok(addr) if !out.iter().any(|o| o.email == addr) => {
                    out.push(LMailbox::new(m.name.as_deref().map(sanitize_header), addr))
                }
                Ok(_) => {}
                Err(e) => dropped.push(format!("{}: {e}", sanitize_header(&m.address))),
            }
        }
        out
    };
    let mut to = mailboxes(&c.to);
    let mut cc = mailboxes(&c.cc);
    cc.retain(|m| !to.iter().any(|t| t.email == m.email));
    if to.is_empty() && !cc.is_empty() {
        to.push(cc.remove(0));
    }
    if to.is_empty() {
        return Err(match (c.to.first(), dropped.first()) {
            (Some(m), Some(why)) => ComposeError::Recipient {
                address: m.address.clone(),
                why: why.clone(),
            },
            _ => ComposeError::NoRecipient,
        });
    }
    let support = config
        .support
        .address
        .parse::<lettre::Address>()
        .map_err(|e| ComposeError::SupportAddress(e.to_string()))?;
    let reply_to = c
        .reply_to
        .parse::<lettre::Address>()
        .map_err(|e| ComposeError::ReplyTo {
            address: c.reply_to.clone(),
            why: e.to_string(),
        })?;
    let from = LMailbox::new(Some(sanitize_header(&c.from_name)), support.clone());
    let subject = sanitize_header(&c.subject);
    let rcpts: Vec<lettre::Address> = to.iter().chain(&cc).map(|m| m.email.clone()).collect();
    let envelope = lettre::address::Envelope::new(Some(support.clone()), rcpts.clone())
        .map_err(|e| ComposeError::Build(e.to_string()))?;
    let mut builder = Message::builder()
        .from(from)
        .reply_to(LMailbox::new(
            Some(sanitize_header(&config.support.name)),
            reply_to,
        ))
        .subject(subject.clone())
        .message_id(Some(format!("<{}>", c.message_id)))
        .date(now.into())
        .envelope(envelope);
    for (name, list) in [("To", &to), ("Cc", &cc)] {
        if list.is_empty() {
            continue;
        }
        let raw = list
            .iter()
            .map(encode_mailbox)
            .collect::<Vec<_>>()
            .join(", ");
        builder = builder.raw_header(HeaderValue::dangerous_new_pre_encoded(
            HeaderName::new_from_ascii_str(name),
            raw,
            folded_address_list(name, list),
        ));
    }
    let rcpts: Vec<String> = rcpts.iter().map(ToString::to_string).collect();
    // Thread under the mail we answer, keeping its References (first + last few, as RT does, so
    // the header stays bounded); ids nobody's client writes are not echoed.
    let echo = |id: &String| !id.is_empty() && id.len() <= MAX_ECHOED_ID && id.is_ascii();
    if echo(&c.parent) {
        let mut refs: Vec<String> = c.references.iter().filter(|r| echo(r)).cloned().collect();
        if refs.len() > 10 {
            let tail = refs.split_off(refs.len() - 6);
            refs.truncate(4);
            refs.extend(tail);
        }
        refs.retain(|r| r != &c.parent);
        refs.push(c.parent.clone());
        builder = builder.in_reply_to(format!("<{}>", c.parent)).references(
            refs.iter()
                .map(|r| format!("<{r}>"))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    let mut headers = vec![
        ("X-Loop", config.support.address.to_lowercase()),
        ("X-Supportd-Ticket", c.ticket.to_string()),
    ];
    if c.automatic {
        headers.push(("Auto-Submitted", c.kind.auto_submitted().to_owned()));
        headers.push(("X-Auto-Response-Suppress", "All".to_owned()));
        headers.push(("Precedence", "bulk".to_owned()));
    }
    for (name, value) in headers {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value,
        ));
    }
    let body = crlf_line_endings(&c.body);
    let message = if c.attachments.is_empty() {
        builder.header(ContentType::TEXT_PLAIN).body(body)
    } else {
        use lettre::message::{Attachment, MultiPart, SinglePart};
        let mut mp = MultiPart::mixed().singlepart(SinglePart::plain(body));
        for (name, ctype, data) in c.attachments {
            let ct = ContentType::parse(&ctype)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
            mp = mp.singlepart(Attachment::new(sanitize_header(&name)).body(data, ct));
        }
        builder.multipart(mp)
    }
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    let raw = String::from_utf8(message.formatted()).map_err(|_| ComposeError::Not7Bit)?;
    if let Some(line) = raw.split("\r\n").find(|l| l.len() > 998) {
        return Err(ComposeError::Build(format!(
            "a line of {} octets (at most 998)",
            line.len()
        )));
    }
    Ok(OutboxItem {
        id: 0,
        ticket: c.ticket,
        kind: c.kind,
        message_id: c.message_id,
        envelope_from: support.to_string(),
        to: rcpts,
        subject,
        raw,
        created_at: now,
        next_attempt_at: now,
        attempts: 0,
        state: State::Pending,
        last_error: None,
        not_before: None,
        dropped,
        delivered: Vec::new(),
        refused: Vec::new(),
    })
}

/// `text` with every line ending CRLF. lettre does the same, but by one `String::insert` per
/// bare LF, which is quadratic: a quoted mail of a million short lines took seconds per mail it
/// composed. Given CRLF already, lettre finds nothing to insert.
fn crlf_line_endings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Not `desk::testing`, which builds on this module.
    fn config() -> Config {
        crate::config::sample::scratch(std::path::Path::new("/tmp/x"), "").unwrap()
    }

    fn config_with(extra: &str) -> Config {
        crate::config::sample::scratch(std::path::Path::new("/tmp/x"), extra).unwrap()
    }

    fn tuesday_10am() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_485_600, 0).unwrap()
    }

    fn mb(address: &str, name: Option<&str>) -> Mailbox {
        Mailbox {
            name: name.map(str::to_owned),
            address: address.into(),
        }
    }

    fn relay_to(cc: Vec<Mailbox>, parent: &str, references: Vec<String>) -> Compose {
        Compose {
            kind: Kind::Relay,
            ticket: 1,
            from_name: "alice (Example Support)".into(),
            to: vec![mb("c@example.org", Some("张三"))],
            cc,
            reply_to: "support@example.com".into(),
            subject: "[SUP-1] Re: help".into(),
            body: "hi\n".into(),
            message_id: "sup.00000000.1.n.m@example.com".into(),
            parent: parent.into(),
            references,
            automatic: false,
            attachments: Vec::new(),
        }
    }

    /// lettre writes an address list on one line; 50 names make 2,000 octets, which a relay
    /// refuses (`500 Line too long`). Ours are folded at 78 columns.
    #[test]
    fn address_lists_are_folded_and_bad_recipients_dropped() {
        let mut cc: Vec<Mailbox> = (0..50)
            .map(|i| {
                mb(
                    &format!("colleague{i}@example.net"),
                    Some(&format!("同事 Number {i}")),
                )
            })
            .collect();
        cc.push(mb("bob", Some("Bob")));
        let item = compose(&config(), relay_to(cc, "p@x", vec![]), tuesday_10am()).unwrap();
        let head = item.raw.split("\r\n\r\n").next().unwrap();
        let mut list = false;
        for line in head.split("\r\n") {
            if !line.starts_with(' ') {
                list = line.starts_with("To:") || line.starts_with("Cc:");
            }
            assert!(!list || line.len() <= 78, "{line}");
            assert!(line.len() <= 998);
        }
        assert_eq!(item.to.len(), 51, "the requester and 50 colleagues");
        assert_eq!(item.dropped.len(), 1, "{:?}", item.dropped);
        assert!(item.dropped[0].starts_with("bob:"), "{:?}", item.dropped);
        let parsed = crate::mail::parse::parse(item.raw.as_bytes()).unwrap();
        assert_eq!(parsed.cc.len(), 50);
        assert_eq!(parsed.cc[7].name.as_deref(), Some("同事 Number 7"));
        assert_eq!(parsed.to[0].name.as_deref(), Some("张三"));
    }

    /// Fuzz finding: `\t\r\n` repeated 700,000 times (a 2 MB mail of blank lines) cost 8.7 s
    /// per composed mail in lettre's LF-to-CRLF insertion. The body keeps every line, CRLF.
    #[test]
    fn a_body_of_a_million_lines_is_composed_line_for_line() {
        let mut c = relay_to(vec![], "p@x", vec![]);
        c.body = "\t\n".repeat(1_000_000) + "end\r\nx\n\n";
        let item = compose(&config(), c, tuesday_10am()).unwrap();
        let body = item.raw.split_once("\r\n\r\n").unwrap().1;
        assert!(
            !body.replace("\r\n", "").contains('\n'),
            "only CRLF line ends"
        );
        assert_eq!(body.matches("\r\n").count(), 1_000_003);
        assert_eq!(crlf_line_endings("a\nb\r\n\n"), "a\r\nb\r\n\r\n");
    }

    #[test]
    fn long_message_ids_are_not_echoed() {
        let huge = format!("{}@example.org", "x".repeat(300));
        let item = compose(
            &config(),
            relay_to(vec![], &huge, vec!["a@x".into(), huge.clone()]),
            tuesday_10am(),
        )
        .unwrap();
        assert!(!item.raw.contains("In-Reply-To"), "{}", item.raw);
        let item = compose(
            &config(),
            relay_to(vec![], "p@x", vec!["a@x".into(), huge]),
            tuesday_10am(),
        )
        .unwrap();
        let parsed = crate::mail::parse::parse(item.raw.as_bytes()).unwrap();
        assert_eq!(parsed.references, ["a@x", "p@x"]);
    }

    #[test]
    fn nobody_to_send_to_is_an_error() {
        let mut c = relay_to(vec![], "", vec![]);
        c.to = vec![mb("not an address", None)];
        assert!(compose(&config(), c, tuesday_10am()).is_err());
    }

    /// Backscatter: Reply-To is followed only within From's domain or for an authenticated From.
    #[test]
    fn acknowledgements_go_to_reply_to_only_when_safe() {
        let c = config_with("");
        let mut m = Inbound::sample("alice@shop.example", "help", "x");
        m.reply_to = vec![mb("orders@shop.example", None)];
        assert_eq!(answer_to(&c, &m).address, "orders@shop.example");
        m.reply_to = vec![mb("victim@else.example", None)];
        assert_eq!(answer_to(&c, &m).address, "alice@shop.example");
        let mut c2 = c.clone();
        c2.support.trusted_authserv_id = Some("mx.example.com".into());
        m.authentication_results =
            vec!["mx.example.com; dmarc=pass header.from=shop.example".into()];
        assert_eq!(answer_to(&c2, &m).address, "victim@else.example");
        m.reply_to = vec![mb("support@example.com", None)];
        assert_eq!(answer_to(&c2, &m).address, "alice@shop.example");
    }
}
