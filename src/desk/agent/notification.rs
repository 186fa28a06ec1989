//! What agents are told, in their language: a new ticket, a customer's follow-up (with why it
//! matters: an escalation, a low survey score), an SLA ladder step.
//!
//! Every mail to agents comes from the support name with Reply-To our signed per-ticket reply
//! address and a signed Message-ID ([`to_agents`]), so the agent's plain Reply proves itself.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::Language;
use crate::desk::outbound::compose::{self, Compose, ComposeError};
use crate::desk::outbound::wording::status_text;
use crate::desk::participants;
use crate::domain::outbox::{Kind, OutboxItem};
use crate::domain::sla::ladder::ClockKind;
use crate::domain::sla::ladder::Escalation;
use crate::domain::sla::ladder::Step;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;
use crate::mail::mailbox::Mailbox;
use crate::mail::msgid;
use crate::mail::subject;

/// Everything agent mail says, in the agents' language (their first `languages` entry).
pub(crate) struct Words {
    pub(crate) new_ticket: &'static str,
    pub(crate) follow_up: &'static str,
    pub(crate) customer: &'static str,
    pub(crate) from: &'static str,
    pub(crate) priority: &'static str,
    pub(crate) status: &'static str,
    pub(crate) assignee: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) nobody: &'static str,
    pub(crate) due: &'static str,
    pub(crate) clocks: [&'static str; 3],
    pub(crate) attachments_forwarded: &'static str,
    pub(crate) attachments_listed: &'static str,
    pub(crate) warning: [&'static str; 2],
    pub(crate) breach: [&'static str; 2],
    pub(crate) supervisor: [&'static str; 2],
    pub(crate) update_reminder: [&'static str; 2],
    pub(crate) on_call: &'static str,
    pub(crate) changed_nothing: &'static str,
    pub(crate) understood: &'static str,
    pub(crate) nothing: &'static str,
    pub(crate) command_error: &'static str,
    pub(crate) help: &'static str,
    pub(crate) participants: &'static str,
    /// The subject word and the body of the mail telling an agent their answer was not sent.
    pub(crate) not_sent: &'static str,
    pub(crate) not_sent_intro: &'static str,
    pub(crate) inside_quote: &'static str,
    pub(crate) pasted_copy: &'static str,
    pub(crate) nothing_found: &'static str,
    pub(crate) resend: &'static str,
    /// The line relayed with an answer that is only attachments.
    pub(crate) attachments_only: [&'static str; 2],
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
    help: "Reply to this mail to answer the customer, above or below the quoted text. Commands \
at the top of your answer, one per line: #status open|pending|resolved|closed, #priority P1..P4, \
#assign <agent>, #note (the whole mail stays internal), #escalate, #merge <ticket>, \
#customer <id>, #cc add|remove <address>.",
    participants: "Participants (receive your replies):",
    not_sent: "Not sent to the customer",
    not_sent_intro: "was not sent to the customer, and nothing was changed:",
    inside_quote: "your answer seems to be written inside the quoted notification, so it cannot be \
told apart from the quoted text.",
    pasted_copy: "it holds a copy of our notification that is not marked as a quote, so your \
answer cannot be told apart from it.",
    nothing_found: "it holds no answer, command or attachment.",
    resend: "Please reply again with your answer above or below the quoted text (not inside \
it), or delete the quoted text, and send it.",
    attachments_only: [
        "Please find the attached file.",
        "Please find the attached files.",
    ],
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
    help: "直接回复本邮件即可答复客户（写在引用内容的上方或下方）。命令写在答复的最前面，每行一条：\
#status open|pending|resolved|closed（状态），#priority P1..P4（优先级），#assign <客服>（转派），\
#note（整封邮件仅内部可见），#escalate（升级），#merge <工单号>（合并），#customer <客户ID>，\
#cc add|remove <地址>（增删抄送人）。",
    participants: "参与人（会收到您的回复）：",
    not_sent: "未发送给客户",
    not_sent_intro: "没有发送给客户，工单也没有任何更改：",
    inside_quote: "您的答复似乎写在了引用的通知中间，无法和引用内容区分开。",
    pasted_copy: "邮件里有一份没有标记为引用的通知副本，无法和您的答复区分开。",
    nothing_found: "邮件里没有找到答复、命令或附件。",
    resend: "请重新回复：把答复写在引用内容的上方或下方（不要写在引用内容中间），或者删除引用内容后再发送。",
    attachments_only: ["请查收附件。", "请查收附件。"],
};

/// The language of a mail to `to`: Chinese when every recipient agent who names languages puts
/// Chinese first (and at least one does), else English. A list address or agents without
/// `languages` do not change it.
pub(crate) fn agents_language(config: &Config, to: &[Mailbox]) -> Language {
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

pub(crate) fn words(lang: Language) -> &'static Words {
    match lang {
        Language::Zh => &ZH,
        Language::En => &EN,
    }
}

/// Why agents are told about a customer's mail, beyond "new ticket" or "follow-up".
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Headline {
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
    pub(crate) fn text(&self, lang: Language) -> String {
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
pub(crate) fn to_agents(
    config: &Config,
    ticket: &Ticket,
    to: Vec<Mailbox>,
    subject: String,
    body: String,
    cause: &str,
) -> Compose {
    let nonce = msgid::nonce(cause);
    let (reply_to, message_id) = match config.signer() {
        Some(signer) => (
            signer.reply_address(&config.support.address, ticket.id),
            signer.sign_agent(&config.message_id_domain(), ticket.id, &nonce),
        ),
        // No secret, no `[outbound]`: nothing is sent, and an unsigned id proves nothing.
        None => (
            config.support.address.clone(),
            format!(
                "unsigned.{}.{nonce}@{}",
                ticket.id,
                config.message_id_domain()
            ),
        ),
    };
    Compose {
        kind: Kind::AgentNotify,
        ticket: ticket.id,
        from_name: config.support.name.clone(),
        to,
        cc: Vec::new(),
        reply_to,
        subject,
        body,
        message_id,
        parent: String::new(),
        references: Vec::new(),
        automatic: true,
        attachments: Vec::new(),
    }
}

/// The notification to agents about a new ticket or a customer's follow-up. `headline` says
/// why when it is more than that (an escalation, a low satisfaction score); it also goes into
/// the subject and keeps the Message-ID apart from the plain notification's.
pub(crate) fn notification(
    config: &Config,
    ticket: &Ticket,
    inbound: &Inbound,
    headline: Option<&Headline>,
    to: Vec<Mailbox>,
    notes: &[String],
    now: DateTime<Utc>,
) -> Result<OutboxItem, ComposeError> {
    config.outbound.as_ref().ok_or(ComposeError::NoOutbound)?;
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
    for line in notes {
        body.push_str(&format!("!! {line}\n"));
    }
    body.push_str(w.participants);
    body.push('\n');
    for line in participants::listing(ticket, now) {
        body.push_str(&format!("  - {line}\n"));
    }
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
pub(crate) fn escalation_mail(
    config: &Config,
    ticket: &Ticket,
    esc: &Escalation,
    to: Vec<Mailbox>,
    on_call: bool,
    now: DateTime<Utc>,
) -> Result<OutboxItem, ComposeError> {
    config.outbound.as_ref().ok_or(ComposeError::NoOutbound)?;
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
    let mut body = body;
    body.push_str(&format!("\n{}\n", w.participants));
    for line in participants::listing(ticket, now) {
        body.push_str(&format!("  - {line}\n"));
    }
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

pub(crate) fn compose(config: &Config, c: Compose, now: DateTime<Utc>) -> OutboxItem {
    let ticket = c.ticket;
    let kind = c.kind;
    let to = c.to.iter().map(|m| m.address.clone()).collect();
    compose::compose(config, c, now).unwrap_or_else(|reason| {
        OutboxItem::suppressed(
            ticket,
            kind,
            &config.support.address,
            to,
            reason.to_string(),
            now,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::testing;

    /// Without a secret (no `[outbound]`, or the store's not yet read) nothing can be signed:
    /// a mail to agents gets an unsigned id and the plain support address, and no panic.
    #[test]
    fn mail_to_agents_without_a_secret_is_unsigned() {
        let mut config = testing::config();
        let ticket = testing::p1_ticket(&config, testing::tuesday_10am());
        let to = vec![Mailbox {
            name: None,
            address: "alice@example.com".into(),
        }];
        let signed = to_agents(&config, &ticket, to.clone(), "s".into(), "b".into(), "c");
        assert!(
            !signed.message_id.starts_with("unsigned."),
            "{}",
            signed.message_id
        );
        for out in [true, false] {
            if out {
                config.outbound.as_mut().unwrap().resolved_secret.clear();
            } else {
                config.outbound = None;
            }
            assert!(config.signer().is_none());
            let c = to_agents(&config, &ticket, to.clone(), "s".into(), "b".into(), "c");
            assert!(c.message_id.starts_with("unsigned."), "{}", c.message_id);
            assert_eq!(c.reply_to, config.support.address);
        }
    }
}
