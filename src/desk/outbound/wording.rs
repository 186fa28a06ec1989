//! What our mail says in the customer's words: which language to write in, what the customer
//! has not told us yet (the acknowledgement's checklist), SLA targets and statuses as phrases.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::sections::Language;
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;

static HAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\p{Han}").expect("valid regex"));

/// Chinese when the customer wrote Chinese, else the configured default.
pub(crate) fn language(inbound: &Inbound, default: Language) -> Language {
    let han = HAN.find_iter(&inbound.subject).count()
        + HAN.find_iter(&inbound.reply_text).take(8).count();
    if han >= 2 { Language::Zh } else { default }
}

// Word boundaries are ASCII ones (`(?-u:\b)`): the engine's fast matcher cannot do Unicode
// ones on Chinese text, and next to Han characters, which Unicode counts as a word, only the
// ASCII kind finds `返回404了` or `访问example.com没反应`.
static ERROR_MSG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(error|exception|fatal|traceback|denied|refused|timed? ?out|warning:|(?-u:\b)[45]\d\d(?-u:\b)|错误|报错|异常|提示|代码)",
    )
    .expect("valid regex")
});
static STARTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(since|started|began|yesterday|today|this morning|last night|ago(?-u:\b)|(?-u:\b)\d{1,2}:\d{2}(?-u:\b)|(?-u:\b)\d{1,2}\s*(am|pm)(?-u:\b)|\d{4}-\d{1,2}-\d{1,2}|今天|昨天|前天|早上|上午|中午|下午|晚上|凌晨|刚才|开始|\d+\s*点|\d+月\d+日)",
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
        r"(?i)(https?://\S+|(?-u:\b)[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)*\.(com|net|org|cn|io|co|info|biz|top|xyz|site|online|shop|vip|cc|me|tv|app|dev|hk|tw|jp|uk|de)(?-u:\b))",
    )
    .expect("valid regex")
});

#[cfg(test)]
/// The items of the missing-information checklist, in the order we ask for them.
pub(crate) const CHECKLIST: [&str; 6] = [
    "error_message",
    "started_at",
    "tried",
    "screenshots",
    "url",
    "customer_id",
];

/// How much of the subject and of the reply text the checklist reads: what a customer says
/// about their problem is at the start, and the patterns' word boundaries make the regex engine
/// fall back to its slow matcher, which on a megabyte of text costs a good part of a second.
const MAX_CHECKED_BYTES: usize = 64 * 1024;

/// Which checklist items the mail does not already answer. `customer_identified` is false when
/// the customer ID fell back to the sender address.
pub(crate) fn missing_information(
    inbound: &Inbound,
    customer_identified: bool,
) -> Vec<&'static str> {
    let text = format!(
        "{}\n{}",
        &inbound.subject[..inbound.subject.floor_char_boundary(MAX_CHECKED_BYTES)],
        &inbound.reply_text[..inbound.reply_text.floor_char_boundary(MAX_CHECKED_BYTES)]
    );
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
pub(crate) fn target_text(
    t: &crate::domain::sla::targets::Target,
    business: bool,
    lang: Language,
) -> String {
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
pub(crate) fn status_text(status: Status, lang: Language) -> &'static str {
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

/// The ticket's language, judged from its subject when no mail is at hand (a status change, an
/// SLA step).
pub(crate) fn lang_of_ticket(t: &Ticket, default: Language) -> Language {
    if t.subject
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count()
        >= 2
    {
        Language::Zh
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::inbound::Attachment;
    use crate::mail::mailbox::Mailbox;

    fn inbound(subject: &str, body: &str) -> Inbound {
        Inbound {
            message_id: "m1@customer.example".into(),
            from: Mailbox {
                name: Some("张三".into()),
                address: "zhang@customer.example".into(),
            },
            ..Inbound::sample("zhang@customer.example", subject, body)
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
            content_id: None,
            inline: false,
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
        // Next to Han characters, with no space: ASCII word boundaries.
        let m = inbound("求助", "网站返回404了，访问example.com没反应，昨天重启过");
        assert_eq!(
            missing_information(&m, false),
            ["screenshots", "customer_id"]
        );
        // Only the start of a huge mail is read (what the customer says comes first).
        let m = inbound("help", &("x ".repeat(40_000) + "error"));
        assert!(missing_information(&m, true).contains(&"error_message"));
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
    fn targets_read_naturally() {
        use crate::domain::sla::targets::Target;
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
}
