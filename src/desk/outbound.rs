//! What we write to customers, and whether we may write at all.
//!
//! Pure functions: given a ticket, the mail that triggered the message, the templates and *now*,
//! build the complete RFC 5322 bytes of an outgoing mail (so a retry after a crash re-sends the
//! identical mail with the identical Message-ID), or explain why nothing may be sent: the mail
//! was machine-generated, came from ourselves, from a no-reply address, or the recipient has hit
//! the per-recipient cap. The anchors' loop bugs (Zammad #1131, osTicket #1041) all come from
//! answering something that should never be answered; every rule below is one of those lessons.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox as LMailbox, Message};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::config::sections::Language;
use crate::config::sections::OutboundConfig;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::mail::msgid;
use crate::mail::parse::Inbound;
use crate::mail::subject;

/// The kinds of mail we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Acknowledgement of a new ticket.
    Ack,
    /// "Your mail was added to ticket N".
    Followup,
    /// A customer-visible status change.
    Progress,
    /// An agent's reply relayed to the customer.
    Relay,
    /// A notification to agents (new ticket, customer follow-up).
    AgentNotify,
    /// An error report to an agent whose commands could not be carried out.
    AgentError,
    /// Notice to a customer that their ticket is closed.
    Closed,
    /// Notice to a customer that their ticket was escalated.
    Escalated,
    /// "Your ticket is resolved; how did we do?"
    Survey,
}

impl Kind {
    /// Template name.
    pub fn template(self) -> &'static str {
        match self {
            Kind::Ack => "ack",
            Kind::Followup => "followup",
            Kind::Progress => "progress",
            Kind::Closed => "closed",
            Kind::Escalated => "escalated",
            Kind::Survey => "survey",
            Kind::Relay | Kind::AgentNotify | Kind::AgentError => "",
        }
    }

    /// `Auto-Submitted` value (RFC 3834): replies to a mail are `auto-replied`, the rest
    /// `auto-generated`.
    fn auto_submitted(self) -> &'static str {
        match self {
            Kind::Ack | Kind::Followup | Kind::Closed => "auto-replied",
            Kind::Progress
            | Kind::Relay
            | Kind::AgentNotify
            | Kind::AgentError
            | Kind::Escalated
            | Kind::Survey => "auto-generated",
        }
    }
}

/// Where an outbox item stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting to be (re)tried.
    Pending,
    /// The server accepted it (250).
    Sent {
        /// When.
        at: DateTime<Utc>,
    },
    /// Given up after retries or a permanent refusal; retryable from the CLI.
    Dead {
        /// Why.
        reason: String,
    },
    /// Never sent on purpose (rate cap, invalid address); recorded on the ticket.
    Suppressed {
        /// Why.
        reason: String,
    },
}

/// One outgoing mail in the durable outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Sequential id, assigned by the store.
    pub id: u64,
    /// Ticket it belongs to.
    pub ticket: u64,
    /// What it is.
    pub kind: Kind,
    /// Our signed Message-ID (without brackets).
    pub message_id: String,
    /// SMTP envelope sender (our support address, so bounces come back to the mailbox).
    pub envelope_from: String,
    /// SMTP recipients.
    pub to: Vec<String>,
    /// Subject, for listings.
    pub subject: String,
    /// The complete message, exactly as it will be sent every time.
    pub raw: String,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// Earliest next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Attempts so far.
    pub attempts: u32,
    /// Current state.
    pub state: State,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// Held until then on purpose (e.g. a P3 escalation outside business hours): the retry
    /// deadline and the staleness alarm count from here, not from `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
}

impl OutboxItem {
    /// Holds the mail until `at`.
    pub fn hold_until(&mut self, at: DateTime<Utc>) {
        self.next_attempt_at = at;
        self.not_before = Some(at);
    }

    /// Since when the mail has been meant to go out: its creation, or the end of its hold.
    pub fn due_since(&self) -> DateTime<Utc> {
        self.not_before
            .map_or(self.created_at, |n| n.max(self.created_at))
    }
}

// ---- may we answer? ------------------------------------------------------------------------------

static NO_REPLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(mailer-daemon|postmaster|abuse|root|noreply|no-reply|no_reply|donotreply|do-not-reply|do_not_reply|bounces?|daemon)([+._-].*)?@",
    )
    .expect("valid regex")
});

/// Why `inbound` must not get an automatic answer, or `None` when it may.
pub fn refuse_auto_reply(config: &Config, inbound: &Inbound) -> Option<String> {
    if inbound.machine.is_machine_generated() {
        return Some(format!(
            "machine-generated ({})",
            inbound.machine.reasons().join("; ")
        ));
    }
    let sender = &inbound.from.address;
    if config.is_own_address(sender) {
        return Some("sent from our own address".into());
    }
    if config.agent_by_address(sender).is_some() {
        return Some("sent by an agent".into());
    }
    if NO_REPLY.is_match(sender) {
        return Some(format!("{sender} is a no-reply/system address"));
    }
    if let Some(out) = &config.outbound
        && msgid::verify(&out.resolved_secret, &inbound.message_id) != msgid::Verdict::Foreign
    {
        return Some("our own mail came back".into());
    }
    None
}

/// Checks the per-recipient caps. `history` holds the times of automatic mails already sent to
/// the recipient; `None` means the mail may go.
pub fn rate_limited(
    limits: &[[u64; 2]],
    history: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Option<String> {
    for [window, max] in limits {
        let since = now - Duration::seconds(*window as i64);
        let n = history.iter().filter(|t| **t > since).count() as u64;
        if n >= *max {
            return Some(format!(
                "rate limit: {n} automatic mails to this recipient in the last {window} s (max {max})"
            ));
        }
    }
    None
}

/// Drops history entries older than the longest window.
pub fn prune_history(limits: &[[u64; 2]], history: &mut Vec<DateTime<Utc>>, now: DateTime<Utc>) {
    let longest = limits.iter().map(|l| l[0]).max().unwrap_or(0);
    let since = now - Duration::seconds(longest as i64);
    history.retain(|t| *t > since);
}

// ---- what to say -------------------------------------------------------------------------------

static HAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\p{Han}").expect("valid regex"));

/// Chinese when the customer wrote Chinese, else the configured default.
pub fn language(inbound: &Inbound, default: Language) -> Language {
    let han = HAN.find_iter(&inbound.subject).count()
        + HAN.find_iter(&inbound.reply_text).take(8).count();
    if han >= 2 { Language::Zh } else { default }
}

static ERROR_MSG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(error|exception|fatal|traceback|denied|refused|timed? ?out|warning:|\b[45]\d\d\b|错误|报错|异常|提示|代码)",
    )
    .expect("valid regex")
});
static STARTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(since|started|began|yesterday|today|this morning|last night|ago\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}\s*(am|pm)\b|\d{4}-\d{1,2}-\d{1,2}|今天|昨天|前天|早上|上午|中午|下午|晚上|凌晨|刚才|开始|\d+\s*点|\d+月\d+日)",
    )
    .expect("valid regex")
});
static TRIED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(tried|restart|reboot|cleared|clear(ed)? (the )?cache|reinstall|attempted|checked|试过|尝试|重启|清除|清理|清空|检查过|重新)",
    )
    .expect("valid regex")
});
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[^\s@<>]+@[^\s@<>]+").expect("valid regex"));
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(https?://\S+|\b[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.(com|net|org|cn|io|co|info|biz|top|xyz|site|online|shop|vip|cc|me|tv|app|dev|hk|tw|jp|uk|de)\b)",
    )
    .expect("valid regex")
});

/// The items of the missing-information checklist, in the order we ask for them.
pub const CHECKLIST: [&str; 6] = [
    "error_message",
    "started_at",
    "tried",
    "screenshots",
    "url",
    "customer_id",
];

/// Which checklist items the mail does not already answer. `customer_identified` is false when
/// the customer ID fell back to the sender address.
pub fn missing_information(inbound: &Inbound, customer_identified: bool) -> Vec<&'static str> {
    let text = format!("{}\n{}", inbound.subject, inbound.reply_text);
    let without_addresses = EMAIL.replace_all(&text, " ");
    let mut missing = Vec::new();
    if !ERROR_MSG.is_match(&text) {
        missing.push("error_message");
    }
    if !STARTED.is_match(&text) {
        missing.push("started_at");
    }
    if !TRIED.is_match(&text) {
        missing.push("tried");
    }
    if inbound.attachments.is_empty() {
        missing.push("screenshots");
    }
    if !URL.is_match(&without_addresses) {
        missing.push("url");
    }
    if !customer_identified {
        missing.push("customer_id");
    }
    missing
}

/// An SLA target in the customer's words: "4 business hours", "30 minutes", "1 个工作日".
pub fn target_text(t: &crate::domain::sla::Target, business: bool, lang: Language) -> String {
    let mut parts = Vec::new();
    let (h, m) = (t.minutes / 60, t.minutes % 60);
    let unit = |n: u32, en: &str, zh_b: &str, zh: &str| match lang {
        Language::En => {
            let plural = if n == 1 { "" } else { "s" };
            if business {
                format!("{n} business {en}{plural}")
            } else {
                format!("{n} {en}{plural}")
            }
        }
        Language::Zh => format!("{n} {}", if business { zh_b } else { zh }),
    };
    if t.days > 0 {
        parts.push(unit(t.days, "day", "个工作日", "天"));
    }
    if h > 0 {
        parts.push(unit(h, "hour", "个工作小时", "小时"));
    }
    if m > 0 || (parts.is_empty() && t.seconds == 0) {
        parts.push(unit(m, "minute", "个工作分钟", "分钟"));
    }
    if t.seconds > 0 {
        parts.push(unit(t.seconds, "second", "个工作秒", "秒"));
    }
    parts.join(match lang {
        Language::En => " ",
        Language::Zh => "",
    })
}

/// Status in the customer's words.
pub fn status_text(status: Status, lang: Language) -> &'static str {
    match (lang, status) {
        (Language::En, Status::New) => "received",
        (Language::En, Status::Open) => "in progress",
        (Language::En, Status::Pending) => "waiting for your reply",
        (Language::En, Status::Resolved) => "resolved",
        (Language::En, Status::Closed) => "closed",
        (Language::Zh, Status::New) => "已受理",
        (Language::Zh, Status::Open) => "处理中",
        (Language::Zh, Status::Pending) => "等待您的回复",
        (Language::Zh, Status::Resolved) => "已解决",
        (Language::Zh, Status::Closed) => "已关闭",
    }
}

// ---- templates -----------------------------------------------------------------------------------

/// Every built-in template, in both languages.
macro_rules! builtin {
    ($($name:literal),*) => {
        &[$(
            (concat!("en/", $name), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates/en/", $name, ".txt"))),
            (concat!("zh/", $name), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates/zh/", $name, ".txt"))),
        )*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin!(
    "ack",
    "followup",
    "progress",
    "closed",
    "escalated",
    "survey"
);

/// Why a template cannot be used. The messages name the template (`zh/ack`), for the log and for
/// the outbox item that records what was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// It does not compile or does not render.
    #[error("template {name}: {message}")]
    Invalid {
        /// `<lang>/<name>`.
        name: String,
        /// minijinja's explanation.
        message: String,
    },
    /// Its first line is not `Subject: …`.
    #[error("template {0}: first line must be `Subject: …`")]
    NoSubject(String),
}

/// The message templates: built in, each overridable by `<templates_dir>/<lang>/<name>.txt`.
#[derive(Debug, Clone)]
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    /// The names of every template, `<lang>/<name>` (e.g. `zh/ack`): what an operator's
    /// `templates_dir` may override, as `<dir>/<lang>/<name>.txt`.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// The built-in templates.
    pub fn builtin() -> Templates {
        Templates::with_overrides(&BTreeMap::new()).expect("the built-in templates compile")
    }

    /// The built-in templates, each replaced by the operator's text in `overrides` (keyed by
    /// [`Templates::names`]) when present; every template is compiled now so a broken override
    /// is reported at load, not at send.
    pub fn with_overrides(
        overrides: &BTreeMap<String, String>,
    ) -> Result<Templates, TemplateError> {
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(true);
        for (name, builtin) in BUILTIN {
            let source = overrides
                .get(*name)
                .cloned()
                .unwrap_or_else(|| (*builtin).to_owned());
            env.add_template_owned(*name, source)
                .map_err(|e| TemplateError::Invalid {
                    name: (*name).to_owned(),
                    message: e.to_string(),
                })?;
        }
        Ok(Templates { env })
    }

    /// Renders `<lang>/<name>`; the first line must be `Subject: …`, then a blank line, then the
    /// body.
    pub fn render(
        &self,
        lang: Language,
        name: &str,
        ctx: minijinja::Value,
    ) -> Result<(String, String), TemplateError> {
        let full = format!("{}/{name}", lang.as_str());
        let text = self
            .env
            .get_template(&full)
            .and_then(|t| t.render(ctx))
            .map_err(|e| TemplateError::Invalid {
                name: full.clone(),
                message: e.to_string(),
            })?;
        let text = text.replace("\r\n", "\n");
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| TemplateError::NoSubject(full.clone()))?;
        Ok((
            sanitize_header(subject),
            body.trim_start_matches('\n').trim_end().to_owned() + "\n",
        ))
    }
}

/// Makes a value safe for a header: control characters (CR/LF above all, which would start a
/// new header) become spaces, runs of whitespace collapse, and it is cut at 200 characters.
pub fn sanitize_header(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let collapsed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(200).collect()
}

// ---- building the mail ---------------------------------------------------------------------------

/// Everything needed to write one automatic mail about a ticket.
#[derive(Debug, Clone)]
pub struct Draft<'a> {
    /// The kind.
    pub kind: Kind,
    /// The ticket, as it will be after the triggering change.
    pub ticket: &'a Ticket,
    /// The customer mail being answered (for threading and the summary), if any.
    pub inbound: Option<&'a Inbound>,
    /// Language.
    pub lang: Language,
    /// Extra template variables (e.g. the checklist).
    pub extra: BTreeMap<&'static str, minijinja::Value>,
    /// What caused the mail, for a deterministic Message-ID.
    pub cause: String,
}

/// Builds the outbox item for `draft`. Returns `Err` with a reason when no valid mail can be
/// built (e.g. the customer's address is not deliverable); the caller records it as suppressed.
pub fn build(
    config: &Config,
    out: &OutboundConfig,
    templates: &Templates,
    draft: &Draft<'_>,
    now: DateTime<Utc>,
) -> Result<OutboxItem, String> {
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
    let (subject_line, body) = templates
        .render(
            draft.lang,
            draft.kind.template(),
            minijinja::Value::from_serialize(&ctx),
        )
        .map_err(|e| e.to_string())?;
    // The tag keeps the customer's reply in the thread even if their client drops References.
    let subject_line = if subject_line.contains(&tag) {
        subject_line
    } else {
        format!("{tag} {subject_line}")
    };

    let recipient = draft
        .inbound
        .and_then(|m| m.reply_to.first().cloned())
        .filter(|r| !config.is_own_address(&r.address))
        .unwrap_or_else(|| t.requester.clone());
    let id = msgid::sign(
        &out.resolved_secret,
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

/// Everything about one outgoing mail except how its text was made.
#[derive(Debug, Clone)]
pub struct Compose {
    /// Kind.
    pub kind: Kind,
    /// Ticket.
    pub ticket: u64,
    /// Display name on From (the address is always the support address).
    pub from_name: String,
    /// Recipients.
    pub to: Vec<crate::mail::mailbox::Mailbox>,
    /// Copy recipients.
    pub cc: Vec<crate::mail::mailbox::Mailbox>,
    /// Reply-To address.
    pub reply_to: String,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Our Message-ID (without brackets).
    pub message_id: String,
    /// Message-ID we answer (empty for none).
    pub parent: String,
    /// References of the mail we answer.
    pub references: Vec<String>,
    /// Automatic mail (acks, notices) carries the RFC 3834 and loop headers; a relayed human
    /// reply does not.
    pub automatic: bool,
    /// Attachments: name, MIME type, bytes.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// Builds the RFC 5322 bytes of `c` into a pending outbox item.
pub fn compose(config: &Config, c: Compose, now: DateTime<Utc>) -> Result<OutboxItem, String> {
    let mailbox = |m: &crate::mail::mailbox::Mailbox| -> Result<LMailbox, String> {
        let addr: lettre::Address = m
            .address
            .parse()
            .map_err(|e| format!("cannot send to {}: {e}", m.address))?;
        Ok(LMailbox::new(m.name.as_deref().map(sanitize_header), addr))
    };
    let support: lettre::Address = config
        .support
        .address
        .parse()
        .map_err(|e| format!("support.address: {e}"))?;
    let reply_to: lettre::Address = c
        .reply_to
        .parse()
        .map_err(|e| format!("bad Reply-To {}: {e}", c.reply_to))?;
    let from = LMailbox::new(Some(sanitize_header(&c.from_name)), support.clone());
    let subject = sanitize_header(&c.subject);
    let mut builder = Message::builder()
        .from(from)
        .reply_to(LMailbox::new(
            Some(sanitize_header(&config.support.name)),
            reply_to,
        ))
        .subject(subject.clone())
        .message_id(Some(format!("<{}>", c.message_id)))
        .date(now.into());
    let mut rcpts = Vec::new();
    for m in &c.to {
        let mb = mailbox(m)?;
        rcpts.push(mb.email.to_string());
        builder = builder.to(mb);
    }
    for m in &c.cc {
        let mb = mailbox(m)?;
        rcpts.push(mb.email.to_string());
        builder = builder.cc(mb);
    }
    if rcpts.is_empty() {
        return Err("no recipient".into());
    }
    // Thread under the mail we answer, keeping its References (first + last few, as RT does, so
    // the header stays bounded).
    if !c.parent.is_empty() {
        let mut refs = c.references.clone();
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
    let message = if c.attachments.is_empty() {
        builder.header(ContentType::TEXT_PLAIN).body(c.body)
    } else {
        use lettre::message::{Attachment, MultiPart, SinglePart};
        let mut mp = MultiPart::mixed().singlepart(SinglePart::plain(c.body));
        for (name, ctype, data) in c.attachments {
            let ct = ContentType::parse(&ctype)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("valid"));
            mp = mp.singlepart(Attachment::new(sanitize_header(&name)).body(data, ct));
        }
        builder.multipart(mp)
    }
    .map_err(|e| format!("cannot build mail: {e}"))?;
    let raw = String::from_utf8(message.formatted())
        .map_err(|_| "built mail is not 7-bit clean".to_owned())?;
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
    })
}

/// Retry delay after `attempts` earlier failures: `initial` seconds doubling, at most one hour.
pub fn backoff(initial: u64, attempts: u32) -> Duration {
    let secs = initial.max(1).saturating_mul(1u64 << attempts.min(12));
    Duration::seconds(secs.min(3600) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::mailbox::Mailbox;
    use crate::mail::parse::{Attachment, MachineFlags};

    fn inbound(subject: &str, body: &str) -> Inbound {
        Inbound {
            message_id: "m1@customer.example".into(),
            message_id_synthetic: false,
            in_reply_to: vec![],
            references: vec![],
            from: Mailbox {
                name: Some("张三".into()),
                address: "zhang@customer.example".into(),
            },
            reply_to: vec![],
            to: vec![],
            cc: vec![],
            date: None,
            subject: subject.into(),
            text: body.into(),
            reply_text: body.into(),
            from_html: false,
            attachments: vec![],
            machine: MachineFlags::default(),
            raw_sha256: String::new(),
            size: 0,
            reported_ids: vec![],
            authentication_results: vec![],
        }
    }

    #[test]
    fn checklist_lists_only_what_is_missing() {
        let m = inbound("网站打不开", "你好");
        assert_eq!(missing_information(&m, false), CHECKLIST);
        let mut m = inbound(
            "example.com 502 error",
            "Since 9:30 today the site shows 502 Bad Gateway. We already restarted nginx.",
        );
        m.attachments.push(Attachment {
            name: "shot.png".into(),
            content_type: "image/png".into(),
            size: 1,
            data: vec![],
        });
        assert!(missing_information(&m, true).is_empty());
        // An address in a signature is not "the affected domain".
        let m = inbound("help", "thanks\n-- \nbob@company.com");
        assert!(missing_information(&m, true).contains(&"url"));
        let m = inbound(
            "后台报错",
            "从今天早上开始，www.shop.cn 后台提示数据库错误，已经重启过。",
        );
        assert_eq!(
            missing_information(&m, false),
            ["screenshots", "customer_id"]
        );
    }

    #[test]
    fn language_follows_the_customer() {
        assert_eq!(
            language(&inbound("网站打不开", ""), Language::En),
            Language::Zh
        );
        assert_eq!(
            language(&inbound("help", "hello"), Language::Zh),
            Language::Zh
        );
        assert_eq!(
            language(&inbound("help", "hello"), Language::En),
            Language::En
        );
    }

    #[test]
    fn rate_limit_counts_inside_each_window() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let limits = [[600, 3], [86_400, 5]];
        let recent: Vec<_> = (0..3).map(|i| now - Duration::seconds(i * 60)).collect();
        assert!(rate_limited(&limits, &recent, now).is_some());
        assert!(rate_limited(&limits, &recent[..2], now).is_none());
        let old: Vec<_> = (0..5).map(|i| now - Duration::hours(i + 1)).collect();
        assert!(rate_limited(&limits, &old, now).is_some());
        let mut h = old.clone();
        h.push(now - Duration::days(2));
        prune_history(&limits, &mut h, now);
        assert_eq!(h.len(), 5);
    }

    #[test]
    fn every_built_in_template_renders_in_both_languages() {
        let templates = Templates::builtin();
        let ctx = minijinja::context! {
            ticket => minijinja::context! { id => 1, tag => "[SUP-1]", subject => "s",
                priority => "P1", status => "open", status_text => "in progress" },
            customer_name => "c", response_time => "30 minutes", response_due => "today",
            received => minijinja::context! { subject => "s", attachments => Vec::<String>::new() },
            support_name => "Support", missing => vec!["url"],
            escalation => minijinja::context! { level => 2, by => "sla" },
        };
        for (name, _) in BUILTIN {
            let (lang, kind) = name.split_once('/').unwrap();
            let lang = if lang == "zh" {
                Language::Zh
            } else {
                Language::En
            };
            let (subject, body) = templates.render(lang, kind, ctx.clone()).unwrap();
            assert!(subject.contains("[SUP-1]"), "{name}: {subject}");
            assert!(body.len() > 40, "{name}: {body}");
        }
    }

    #[test]
    fn header_values_cannot_carry_new_headers() {
        assert_eq!(sanitize_header("a\r\nBcc: x@y\n"), "a Bcc: x@y");
    }

    #[test]
    fn targets_read_naturally() {
        use crate::domain::sla::Target;
        let t = |d, m| Target {
            days: d,
            minutes: m,
            seconds: 0,
        };
        assert_eq!(target_text(&t(0, 30), false, Language::En), "30 minutes");
        assert_eq!(target_text(&t(0, 60), false, Language::En), "1 hour");
        assert_eq!(
            target_text(&t(0, 240), true, Language::En),
            "4 business hours"
        );
        assert_eq!(target_text(&t(0, 240), true, Language::Zh), "4 个工作小时");
        assert_eq!(target_text(&t(1, 0), true, Language::Zh), "1 个工作日");
        assert_eq!(
            target_text(&t(1, 90), false, Language::En),
            "1 day 1 hour 30 minutes"
        );
        let drill = Target::parse("1m5s").unwrap();
        assert_eq!(
            target_text(&drill, false, Language::En),
            "1 minute 5 seconds"
        );
        assert_eq!(
            target_text(&Target::parse("20s").unwrap(), false, Language::Zh),
            "20 秒"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(30, 0), Duration::seconds(30));
        assert_eq!(backoff(30, 1), Duration::seconds(60));
        assert_eq!(backoff(30, 20), Duration::seconds(3600));
        assert_eq!(backoff(1, 2), Duration::seconds(4));
    }
}
