//! Agents working tickets by ordinary email: who counts as an agent, what they are told, and
//! what their replies do.
//!
//! A From header proves nothing (RT's documented weakness), so a mail is an agent's only when its
//! From is a configured agent address *and* it carries proof: our signed per-ticket reply address
//! in To/Cc, a signed agent-notification Message-ID in In-Reply-To/References, or (when configured)
//! an `Authentication-Results` header from our own MX with DKIM or SPF passing for the agent's
//! domain. Anything else from an agent address is handled as a customer mail and counted as an
//! impersonation attempt.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::AgentConfig;
use crate::config::sections::Language;
use crate::config::sections::Role;
use crate::desk::commands::{self, Command, CommandError, Parsed};
use crate::desk::outbound::compose::{self, Compose};
use crate::desk::outbound::wording::status_text;
use crate::domain::outbox::Kind;
use crate::domain::outbox::OutboxItem;
use crate::domain::sla::ClockKind;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::mail::mailbox::Mailbox;
use crate::mail::msgid;
use crate::mail::parse::Inbound;
use crate::mail::subject;

/// The verdict on a mail's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Not from an agent address.
    NotAgent,
    /// An authenticated agent; `ticket` is the ticket the proof names, if it names one.
    Agent {
        /// Agent name.
        name: String,
        /// Ticket named by the proof.
        ticket: Option<u64>,
        /// Which proof was found.
        proof: &'static str,
    },
    /// From an agent address without proof.
    Impersonation {
        /// The agent address claimed.
        claimed: String,
    },
}

/// Decides whether `inbound` is an authenticated agent's mail.
pub fn authenticate(config: &Config, inbound: &Inbound) -> Auth {
    let Some(agent) = config.agent_by_address(&inbound.from.address) else {
        return Auth::NotAgent;
    };
    let Some(out) = &config.outbound else {
        return Auth::Impersonation {
            claimed: inbound.from.address.clone(),
        };
    };
    let secret = &out.resolved_secret;
    let agent_ok = |ticket, proof| Auth::Agent {
        name: agent.name.clone(),
        ticket,
        proof,
    };
    for m in inbound.to.iter().chain(&inbound.cc) {
        if let Some(t) = msgid::verify_reply_address(secret, &config.support.address, &m.address) {
            return agent_ok(Some(t), "signed reply address");
        }
    }
    for id in inbound.in_reply_to.iter().chain(&inbound.references) {
        if let Some(t) = msgid::verify_agent(secret, id) {
            return agent_ok(Some(t), "signed notification Message-ID");
        }
    }
    if let Some(authserv) = &config.support.trusted_authserv_id {
        let domain = inbound
            .from
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        if inbound
            .authentication_results
            .iter()
            .any(|h| authentication_passes(h, authserv, &domain))
        {
            return agent_ok(None, "Authentication-Results from our MX");
        }
    }
    Auth::Impersonation {
        claimed: inbound.from.address.clone(),
    }
}

/// True when an `Authentication-Results` value was written by `authserv` and reports DKIM
/// (`header.d`/`header.i`) or SPF (`smtp.mailfrom`) passing for `domain`.
pub fn authentication_passes(header: &str, authserv: &str, domain: &str) -> bool {
    let h = header.to_ascii_lowercase();
    let mut parts = h.split(';');
    let Some(first) = parts.next() else {
        return false;
    };
    if first.split_whitespace().next() != Some(&authserv.to_ascii_lowercase()) {
        return false;
    }
    parts.any(|p| {
        let p = p.trim();
        let pass = p.starts_with("dkim=pass") || p.starts_with("spf=pass");
        pass && p.split_whitespace().any(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                matches!(k, "header.d" | "header.i" | "smtp.mailfrom")
                    && (v.trim_matches('"').ends_with(&format!("@{domain}"))
                        || v.trim_matches('"') == domain)
            })
        })
    })
}

/// Removes a signature (`-- ` line and below) from an agent's reply.
pub fn strip_signature(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if line == "-- " || line == "--" {
            break;
        }
        out.push(line);
    }
    out.join("\n").trim_end().to_owned()
}

/// Who gets a new ticket: the customer's dedicated contact, else round-robin over on-duty
/// first-line agents (by ticket number, so it needs no state and survives restarts).
pub fn assign(config: &Config, contact: Option<&str>, ticket: u64) -> Option<String> {
    // The agent's own spelling, not the directory's: everything that later finds the assignee
    // (notifications, the ladder, the report's per-agent rows) sees one name per agent.
    if let Some(a) = contact.and_then(|c| config.agent_named(c)) {
        return Some(a.name.clone());
    }
    let pool: Vec<&AgentConfig> = config
        .agents
        .iter()
        .filter(|a| a.on_duty && a.role == Role::Agent)
        .collect();
    if pool.is_empty() {
        return None;
    }
    Some(pool[(ticket as usize - 1) % pool.len()].name.clone())
}

/// The mailbox an agent is written to: their first address.
pub fn agent_mailbox(a: &AgentConfig) -> Mailbox {
    Mailbox {
        name: Some(a.name.clone()),
        address: a.addresses[0].clone(),
    }
}

/// Who is told about a ticket: its assignee, else the agents' list address.
pub fn notify_targets(config: &Config, ticket: &Ticket) -> Vec<Mailbox> {
    if let Some(a) = ticket
        .assignee
        .as_deref()
        .and_then(|n| config.agent_named(n))
    {
        return vec![agent_mailbox(a)];
    }
    config
        .support
        .agents_list
        .iter()
        .map(|l| Mailbox {
            name: None,
            address: l.clone(),
        })
        .collect()
}

/// Agents with `role`.
pub fn agents_with_role(config: &Config, role: Role) -> Vec<Mailbox> {
    config
        .agents
        .iter()
        .filter(|a| a.role == role)
        .map(agent_mailbox)
        .collect()
}

/// Everything agent mail says, in the agents' language (their first `languages` entry).
struct Words {
    new_ticket: &'static str,
    follow_up: &'static str,
    customer: &'static str,
    from: &'static str,
    priority: &'static str,
    status: &'static str,
    assignee: &'static str,
    subject: &'static str,
    nobody: &'static str,
    due: &'static str,
    clocks: [&'static str; 3],
    attachments_forwarded: &'static str,
    attachments_listed: &'static str,
    warning: [&'static str; 2],
    breach: [&'static str; 2],
    supervisor: [&'static str; 2],
    update_reminder: [&'static str; 2],
    on_call: &'static str,
    changed_nothing: &'static str,
    understood: &'static str,
    nothing: &'static str,
    command_error: &'static str,
    help: &'static str,
}

const EN: Words = Words {
    new_ticket: "New ticket",
    follow_up: "Customer follow-up",
    customer: "Customer:  ",
    from: "From:      ",
    priority: "Priority:  ",
    status: "Status:    ",
    assignee: "Assignee:  ",
    subject: "Subject:   ",
    nobody: "(nobody)",
    due: "Due:       ",
    clocks: ["First response due: ", "Update due: ", "Resolution due: "],
    attachments_forwarded: "Attachments (forwarded):",
    attachments_listed: "Attachments (too large to forward; see `supportd ticket show`):",
    warning: ["SLA warning", "The target is close; please act now."],
    breach: ["SLA BREACHED", "The target has passed; tier 2 is informed."],
    supervisor: [
        "SLA breached, supervisor informed",
        "The target passed a while ago and the ticket is still open.",
    ],
    update_reminder: [
        "Progress update due",
        "Please send the customer a progress update now.",
    ],
    on_call: "You are on call.",
    changed_nothing: "changed nothing and nothing was sent to the customer:",
    understood: "Understood:",
    nothing: "(nothing)",
    command_error: "Command error",
    help: "Reply to this mail to answer the customer. Commands at the top, one per line: \
#status open|pending|resolved|closed, #priority P1..P4, #assign <agent>, #note (the rest stays \
internal), #escalate, #merge <ticket>, #customer <id>.",
};

const ZH: Words = Words {
    new_ticket: "新工单",
    follow_up: "客户追加回复",
    customer: "客户：",
    from: "发件人：",
    priority: "优先级：",
    status: "状态：",
    assignee: "处理人：",
    subject: "主题：",
    nobody: "（无）",
    due: "到期：",
    clocks: ["首次响应到期：", "进度更新到期：", "解决到期："],
    attachments_forwarded: "附件（已随本邮件转发）：",
    attachments_listed: "附件（过大未转发，见 `supportd ticket show`）：",
    warning: ["SLA 预警", "即将超出时限，请尽快处理。"],
    breach: ["SLA 已超时", "已超出时限，已通知二线。"],
    supervisor: ["SLA 超时，已通知主管", "超时已久，工单仍未解决。"],
    update_reminder: ["需要向客户通报进度", "请现在给客户发送一次进度更新。"],
    on_call: "您正在值班。",
    changed_nothing: "未做任何更改，也没有发送给客户：",
    understood: "已识别的命令：",
    nothing: "（无）",
    command_error: "命令错误",
    help: "直接回复本邮件即可答复客户。命令写在正文最前面，每行一条：\
#status open|pending|resolved|closed（状态），#priority P1..P4（优先级），#assign <客服>（转派），\
#note（其后内容仅内部可见），#escalate（升级），#merge <工单号>（合并），#customer <客户ID>。",
};

/// The language of a mail to `to`: Chinese when every recipient agent who names languages puts
/// Chinese first (and at least one does), else English. A list address or agents without
/// `languages` do not change it.
pub fn agents_language(config: &Config, to: &[Mailbox]) -> Language {
    let firsts: Vec<&str> = to
        .iter()
        .filter_map(|m| config.agent_by_address(&m.address))
        .filter_map(|a| a.languages.first().map(String::as_str))
        .collect();
    if !firsts.is_empty()
        && firsts
            .iter()
            .all(|l| l.to_ascii_lowercase().starts_with("zh"))
    {
        Language::Zh
    } else {
        Language::En
    }
}

fn words(lang: Language) -> &'static Words {
    match lang {
        Language::Zh => &ZH,
        Language::En => &EN,
    }
}

/// Why agents are told about a customer's mail, beyond "new ticket" or "follow-up".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Headline {
    /// The customer asked to escalate; the level reached.
    CustomerEscalation(u32),
    /// The customer asked again while the supervisors already have it.
    CustomerAsksAgain,
    /// A low satisfaction score.
    LowScore(u8),
    /// An agent's `#escalate`: who, and the level reached.
    AgentEscalation(String, u32),
}

impl Headline {
    /// The headline in `lang`.
    pub fn text(&self, lang: Language) -> String {
        match (self, lang) {
            (Headline::CustomerEscalation(l), Language::En) => {
                format!("Escalated by the customer to level {l}")
            }
            (Headline::CustomerEscalation(l), Language::Zh) => format!("客户要求升级（第 {l} 级）"),
            (Headline::CustomerAsksAgain, Language::En) => {
                "The customer asks again to escalate".to_owned()
            }
            (Headline::CustomerAsksAgain, Language::Zh) => "客户再次要求升级".to_owned(),
            (Headline::LowScore(s), Language::En) => format!("Low satisfaction score {s}/5"),
            (Headline::LowScore(s), Language::Zh) => format!("客户满意度评分偏低（{s}/5）"),
            (Headline::AgentEscalation(a, l), Language::En) => {
                format!("Escalated by {a} to level {l}")
            }
            (Headline::AgentEscalation(a, l), Language::Zh) => {
                format!("{a} 将工单升级（第 {l} 级）")
            }
        }
    }
}

/// A status in the agents' language.
fn status_word(status: Status, lang: Language) -> &'static str {
    match lang {
        Language::En => status.as_str(),
        Language::Zh => status_text(status, lang),
    }
}

/// A mail to agents about `ticket`: from the support name, Reply-To the signed per-ticket reply
/// address and with a signed agent Message-ID, so the agent's plain Reply authenticates itself.
/// `cause` makes the Message-ID deterministic.
fn to_agents(
    config: &Config,
    ticket: &Ticket,
    to: Vec<Mailbox>,
    subject: String,
    body: String,
    cause: &str,
) -> Compose {
    let secret = config
        .outbound
        .as_ref()
        .map(|o| o.resolved_secret.clone())
        .unwrap_or_default();
    Compose {
        kind: Kind::AgentNotify,
        ticket: ticket.id,
        from_name: config.support.name.clone(),
        to,
        cc: Vec::new(),
        reply_to: msgid::reply_address(&secret, &config.support.address, ticket.id),
        subject,
        body,
        message_id: msgid::sign_agent(
            &secret,
            &config.message_id_domain(),
            ticket.id,
            &msgid::nonce(cause),
        ),
        parent: String::new(),
        references: Vec::new(),
        automatic: true,
        attachments: Vec::new(),
    }
}

/// The notification to agents about a new ticket or a customer's follow-up. `headline` says
/// why when it is more than that (an escalation, a low satisfaction score); it also goes into
/// the subject and keeps the Message-ID apart from the plain notification's.
pub fn notification(
    config: &Config,
    ticket: &Ticket,
    inbound: &Inbound,
    headline: Option<&Headline>,
    to: Vec<Mailbox>,
    now: DateTime<Utc>,
) -> Result<OutboxItem, String> {
    config.outbound.as_ref().ok_or("no [outbound]")?;
    let lang = agents_language(config, &to);
    let w = words(lang);
    let tag = subject::tag(&config.support.tag_prefix, ticket.id);
    let headline = headline.map(|h| h.text(lang));
    let what = match &headline {
        Some(h) => h.as_str(),
        None if ticket.message_count <= 1 => w.new_ticket,
        None => w.follow_up,
    };
    let mut body = format!(
        "{what} {tag}\n\n{}{} ({})\n{}{}\n{}{}\n{}{}\n{}{}\n{}{}\n",
        w.customer,
        ticket.customer,
        ticket.requester.address,
        w.from,
        inbound.from,
        w.priority,
        ticket.priority,
        w.status,
        status_word(ticket.status, lang),
        w.assignee,
        ticket.assignee.as_deref().unwrap_or(w.nobody),
        w.subject,
        inbound.subject,
    );
    let tz = config.calendar.tz();
    for (name, clock) in w.clocks.iter().zip([
        &ticket.sla.first_response,
        &ticket.sla.update,
        &ticket.sla.resolution,
    ]) {
        if let (Some(due), None) = (clock.due_at, clock.stopped_at) {
            body.push_str(&format!(
                "{name}{} ({tz})\n",
                due.with_timezone(&tz).format("%Y-%m-%d %H:%M")
            ));
        }
    }
    let limit = config.support.notify_attachment_limit_bytes;
    let total: u64 = inbound.attachments.iter().map(|a| a.size).sum();
    let forward = total <= limit;
    if !inbound.attachments.is_empty() {
        body.push_str(if forward {
            w.attachments_forwarded
        } else {
            w.attachments_listed
        });
        body.push('\n');
        for a in &inbound.attachments {
            body.push_str(&format!(
                "  - {} ({}, {} bytes)\n",
                a.name, a.content_type, a.size
            ));
        }
    }
    body.push_str(&format!(
        "\n----------------------------------------\n{}\n----------------------------------------\n\n{}\n",
        inbound.reply_text, w.help
    ));
    let mut c = to_agents(
        config,
        ticket,
        to,
        match &headline {
            Some(h) => format!("{tag} [{}] {h}: {}", ticket.priority, inbound.subject),
            None => format!("{tag} [{}] {}", ticket.priority, inbound.subject),
        },
        body,
        &match &headline {
            Some(h) => format!("notify:{h}:{}", inbound.message_id),
            None => format!("notify:{}", inbound.message_id),
        },
    );
    if forward {
        c.attachments = inbound
            .attachments
            .iter()
            .map(|a| (a.name.clone(), a.content_type.clone(), a.data.clone()))
            .collect();
    }
    Ok(compose(config, c, now))
}

/// An SLA ladder step, told to the agents it concerns.
pub fn escalation_mail(
    config: &Config,
    ticket: &Ticket,
    esc: &crate::domain::sla::Escalation,
    to: Vec<Mailbox>,
    on_call: bool,
    now: DateTime<Utc>,
) -> Result<OutboxItem, String> {
    use crate::domain::sla::Step;
    config.outbound.as_ref().ok_or("no [outbound]")?;
    let lang = agents_language(config, &to);
    let w = words(lang);
    let tag = subject::tag(&config.support.tag_prefix, ticket.id);
    let tz = config.calendar.tz();
    let due = ticket
        .sla
        .clock(esc.clock)
        .due_at
        .map(|d| format!("{} ({tz})", d.with_timezone(&tz).format("%Y-%m-%d %H:%M")))
        .unwrap_or_default();
    let [what, ask] = match esc.step {
        Step::Warning => w.warning,
        Step::Breach => w.breach,
        Step::Supervisor => w.supervisor,
        Step::UpdateReminder => w.update_reminder,
    };
    let clock = match (lang, esc.clock) {
        (Language::En, c) => c.as_str().replace('_', " "),
        (Language::Zh, ClockKind::FirstResponse) => "首次响应".to_owned(),
        (Language::Zh, ClockKind::Update) => "进度更新".to_owned(),
        (Language::Zh, ClockKind::Resolution) => "解决".to_owned(),
    };
    let body = format!(
        "{what}: {tag} ({clock})\n\n{}{due}\n{}{}\n{}{} ({})\n{}{}\n{}{}\n{}\n{ask}\n\n{}\n",
        w.due,
        w.priority,
        ticket.priority,
        w.customer,
        ticket.customer,
        ticket.requester.address,
        w.assignee,
        ticket.assignee.as_deref().unwrap_or(w.nobody),
        w.subject,
        ticket.subject,
        if on_call { w.on_call } else { "" },
        w.help,
    );
    let subject = format!(
        "{tag} [{}] {what} ({clock}): {}",
        ticket.priority, ticket.subject
    );
    let cause = format!(
        "sla:{}:{}:{}:{:?}",
        ticket.id, esc.clock, esc.cycle, esc.step
    );
    compose::compose(
        config,
        to_agents(config, ticket, to, subject, body, &cause),
        now,
    )
}

fn compose(config: &Config, c: Compose, now: DateTime<Utc>) -> OutboxItem {
    let ticket = c.ticket;
    let kind = c.kind;
    let to = c.to.iter().map(|m| m.address.clone()).collect();
    compose::compose(config, c, now).unwrap_or_else(|reason| {
        OutboxItem::suppressed(ticket, kind, &config.support.address, to, reason, now)
    })
}

/// The agent's reply, relayed to the customer from the support address.
pub fn relay(
    config: &Config,
    ticket: &Ticket,
    agent: &AgentConfig,
    reply: &str,
    agent_mail: &Inbound,
    now: DateTime<Utc>,
) -> Result<OutboxItem, String> {
    let out = config.outbound.as_ref().ok_or("no [outbound]")?;
    let tag = subject::tag(&config.support.tag_prefix, ticket.id);
    let base = subject::strip_tag(&ticket.subject, &config.support.tag_prefix);
    let cc: Vec<Mailbox> = ticket
        .participants
        .iter()
        .filter(|p| !p.eq_ignore_ascii_case(&ticket.requester.address))
        .map(|p| Mailbox {
            name: None,
            address: p.clone(),
        })
        .collect();
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
            message_id: msgid::sign(
                &out.resolved_secret,
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
pub fn error_reply(
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
    let body = format!(
        "{intro}{}\n\n{}\n\n{}\n{}\n\n{}\n",
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
    let subject = format!(
        "{} {}: {}",
        subject::tag(&config.support.tag_prefix, ticket.id),
        w.command_error,
        agent_mail.subject
    );
    let mut c = to_agents(
        config,
        ticket,
        to,
        subject,
        body,
        &format!("error:{}", agent_mail.message_id),
    );
    c.kind = Kind::AgentError;
    c.parent = agent_mail.message_id.clone();
    c.references = agent_mail.references.clone();
    compose(config, c, now)
}

/// What an agent's valid mail does to the ticket (besides relaying the reply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// New status, if any.
    pub status: Option<Status>,
    /// Escalate one level.
    pub escalate: bool,
    /// Merge into this ticket.
    pub merge_into: Option<u64>,
}

/// Applies the commands of a valid `parsed` mail to `t`. Returns an error naming the first
/// command that cannot be carried out (an unknown agent, merging into itself).
pub fn apply_commands(
    config: &Config,
    t: &mut Ticket,
    parsed: &Parsed,
) -> Result<Changes, CommandError> {
    let mut changes = Changes::default();
    for c in &parsed.commands {
        match c {
            Command::Status(s) => changes.status = Some(*s),
            Command::Priority(p) => t.priority = *p,
            Command::Assign(name) => {
                let a = config
                    .agent_named(name)
                    .ok_or_else(|| CommandError::NoSuchAgent(name.clone()))?;
                t.assignee = Some(a.name.clone());
            }
            Command::Note => {}
            Command::Escalate => changes.escalate = true,
            Command::Merge(n) if *n == t.id => {
                return Err(CommandError::MergeIntoItself);
            }
            Command::Merge(n) => changes.merge_into = Some(*n),
            Command::Customer(id) => t.customer = id.clone(),
        }
    }
    Ok(changes)
}

/// Parses an agent's mail: quoted history is already gone; the signature goes too.
pub fn parse_mail(inbound: &Inbound) -> Parsed {
    commands::parse(&strip_signature(&inbound.reply_text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_results_from_our_mx_only() {
        let h = "mx.example.com; dkim=pass header.d=example.com header.s=s1; spf=pass smtp.mailfrom=alice@example.com";
        assert!(authentication_passes(h, "mx.example.com", "example.com"));
        assert!(!authentication_passes(h, "mx.other.com", "example.com"));
        assert!(!authentication_passes(h, "mx.example.com", "evil.com"));
        let fail = "mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com";
        assert!(!authentication_passes(
            fail,
            "mx.example.com",
            "example.com"
        ));
    }

    #[test]
    fn signatures_are_stripped() {
        assert_eq!(strip_signature("Hi\nthere\n-- \nAlice\nACME"), "Hi\nthere");
    }
}
