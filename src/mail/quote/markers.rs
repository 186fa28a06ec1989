//! The lines that tell quoted history from new text, as the clients our users have write them:
//! separators, rules over header blocks, the header blocks themselves, attribution lines, and
//! what closes a mail (sign-offs, signatures, disclaimers, a phone's footer).
//!
//! Each recogniser reads one line's words (quote markers already removed). A false positive loses
//! a customer's words, so the free-text forms need a date, a time or an address as real clients
//! always write one, and header fields count only as a block.

use std::sync::LazyLock;

use regex::Regex;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("quote marker {pattern:?}: {e}"))
}

/// Dashes as typed in any of the clients: ASCII, full-width, typographic and box drawing.
const DASH: &str = "[-－—–―─━‐]";

/// What a separator line names: the original of a reply, or a forwarded mail.
const TITLES: &str = "original message|original messages|original|replied message|原始邮件|原始郵件|\
邮件原件|郵件原件|原邮件|原郵件|回复的原邮件|原始信件|ursprüngliche nachricht|originalnachricht|\
original nachricht|message d'origine|mensaje original|messaggio originale|oorspronkelijk bericht|元のメッセージ|원본 메시지";

/// Separators of a forwarded mail: what follows is the forward the sender means to pass on.
const FORWARD_TITLES: &str = "forwarded message|forwarded|转发邮件信息|转发的邮件|转发邮件|轉寄的郵件|\
轉寄郵件|已转发邮件|weitergeleitete nachricht|message transféré|mensaje reenviado";

/// `-----Original Message-----`, `------------------ 原始邮件 ------------------`,
/// `---- 回复的原邮件 ----`, `----- 原始邮件 -----`, `-----Ursprüngliche Nachricht-----`.
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)^\s*{DASH}{{2,}}\s*(?:{TITLES})\s*{DASH}{{2,}}\s*$"
    ))
});

static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)^\s*{DASH}{{2,}}\s*(?:{FORWARD_TITLES})\s*{DASH}{{2,}}\s*$"
    ))
});

/// A title standing alone (QQ Mail's 2024 editor indents `原始邮件` over its header table):
/// a boundary only with a header block right under it.
static TITLE: LazyLock<Regex> = LazyLock::new(|| regex(&format!(r"(?i)^\s*(?:{TITLES})\s*$")));

/// A rule: Outlook's underscores, Alimail's 66 dashes, a box-drawn table border. A boundary
/// only with a header block right under it.
static RULE: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*[-_=－—–―─━┬┼┴┌┐└┘├┤]{10,}\s*$"));

/// A rule glued to the end of a footer (`来自钉钉专属商务邮箱-----…`).
static GLUED_RULE: LazyLock<Regex> = LazyLock::new(|| regex(r"\S[-_─]{20,}\s*$"));

/// Lotus Notes' `Name --- Subject ---` line above its header table.
static LOTUS: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*\S.* --- .+ ---\s*$"));

/// Labels that open a header block.
const FROM_LABELS: [&str; 14] = [
    "from",
    "发件人",
    "發件人",
    "寄件者",
    "寄件人",
    "发信人",
    "發信人",
    "von",
    "de",
    "van",
    "da",
    "от",
    "差出人",
    "보낸사람",
];

/// Labels that follow `From` in a header block (whitespace removed, lower-cased).
const FIELD_LABELS: [&str; 50] = [
    "sent",
    "date",
    "to",
    "cc",
    "bcc",
    "subject",
    "senttime",
    "sendtime",
    "reply-to",
    "importance",
    "发送时间",
    "发送日期",
    "日期",
    "时间",
    "收件人",
    "抄送",
    "抄送人",
    "密送",
    "主题",
    "寄件日期",
    "收件者",
    "收件人員",
    "副本",
    "主旨",
    "傳送時間",
    "发件时间",
    "gesendet",
    "an",
    "betreff",
    "datum",
    "kopie",
    "envoyé",
    "à",
    "objet",
    "enviado",
    "para",
    "asunto",
    "inviato",
    "a",
    "oggetto",
    "verzonden",
    "aan",
    "onderwerp",
    "送信日時",
    "宛先",
    "件名",
    "받는사람",
    "날짜",
    "제목",
    "참조",
];

/// The label of a header field line: `From:`, `发件人：`, `**From:**` (bold after HTML
/// rendering), `抄　送：` (padded with ideographic spaces), `| 发件人 | … |` (a rendered table),
/// `Von:   │…` (Lotus' box-drawn table). It is what the regex
/// `^[\s*|│]*([^\s:：|│*][^:：|│*]{0,24}?)[\s*]*(?:[:：]|\s*[|│])` captures, written out
/// because that regex, run on every line of every reply, was the largest single cost of quote
/// stripping (`supportd fuzz` profile); a test keeps the two equal.
fn field_label(s: &str) -> Option<&str> {
    let edge = |c: char| c.is_whitespace() || matches!(c, '*' | '|' | '│');
    let rest = s.trim_start_matches(edge);
    if rest.starts_with([':', '：']) {
        return None;
    }
    let end = rest.find([':', '：', '|', '│', '*'])?;
    let label = rest[..end].trim_end();
    let after = rest[end..].trim_start_matches(|c: char| c.is_whitespace() || c == '*');
    (!label.is_empty() && label.chars().count() <= 25 && after.starts_with([':', '：', '|', '│']))
        .then_some(label)
}

/// How many lines below `From` the next field may be (Outlook wraps a long `From`, Lotus draws
/// a border between fields).
pub(crate) const FIELD_LOOKAHEAD: usize = 3;

/// Attribution verbs, as the last word before the colon or after the date.
const VERBS: &str = "wrote|writes|schrieb|a écrit|escribió|ha scritto|napisał\\(a\\)|napisał|skrev|\
schreef|kirjoitti|написал\\(а\\)|написал|写道|寫道|작성|書きました";

/// `… wrote:`, `… 写道：`, `… 님이 작성:`: the verb ends the line.
static VERB_LAST: LazyLock<Regex> =
    LazyLock::new(|| regex(&format!(r"(?i)(?:{VERBS})\s*[:：]\s*$")));

/// `Am 07.05.2012 08:10, schrieb X:`, `Le …, X a écrit :`, `At …, "X" <a> said:`: the line
/// opens with the date's lead word. (`said:` only so: a bounce's `<a@b>: host x said:` is none.)
static LEAD_WORD: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)^\s*(?:on|am|le|el|il|em|op|den|w dniu|at|在)\b.*(?:{VERBS}|said).*[:：]\s*$"
    ))
});

/// Mutt's `* Name <a@b> [2025-04-29 11:32]:`.
static MUTT: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*\*\s.+\[[^\]]*\d[^\]]*\]\s*[:：]\s*$"));

/// Gmail ja and others: the date and `Name <a@b>:` with no verb at all.
static ADDRESS_COLON: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\d.*<[^<>\s]+@[^<>\s]+>\s*[:：]\s*$"));

/// What every real attribution carries: a time, an address, a year or a numeric date.
static DATED: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\d{1,2}:\d{2}|@|(?:19|20)\d{2}|\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}|\d{4}年")
});

/// Lines that end a sentence, which a client's wrapped attribution does not.
const SENTENCE_END: [char; 6] = ['.', '!', '?', '。', '！', '？'];

/// Attributions are one short line; prose is longer.
const MAX_ATTRIBUTION: usize = 300;

/// `-----Original Message-----` and the other separators of a reply's quoted original.
pub(crate) fn is_separator(s: &str) -> bool {
    SEPARATOR.is_match(s)
}

/// `---------- Forwarded message ---------` and its translations.
pub(crate) fn is_forward_separator(s: &str) -> bool {
    FORWARD.is_match(s)
}

/// A separator's title on its own line.
pub(crate) fn is_title(s: &str) -> bool {
    TITLE.is_match(s)
}

/// A horizontal rule (or a table border) of ten or more characters.
pub(crate) fn is_rule(s: &str) -> bool {
    RULE.is_match(s)
}

/// Where a rule glued to the end of the line's text starts, if one is.
pub(crate) fn glued_rule(s: &str) -> Option<usize> {
    GLUED_RULE
        .find(s)
        .map(|m| m.start() + s[m.start()..].chars().next().map_or(1, char::len_utf8))
}

/// Any short title between dashes (`----- Original Nachricht ----`): a boundary only right over
/// a header block.
pub(crate) fn is_titled_rule(s: &str) -> bool {
    static TITLED: LazyLock<Regex> = LazyLock::new(|| {
        regex(&format!(
            r"^\s*{DASH}{{2,}}\s*[\p{{L}}' ]{{1,40}}\s*{DASH}{{2,}}\s*$"
        ))
    });
    TITLED.is_match(s)
}

/// Lotus Notes' line above its header table.
pub(crate) fn is_lotus_title(s: &str) -> bool {
    LOTUS.is_match(s)
}

/// Which kind of header field the line is: `Some(true)` for a `From` field, `Some(false)` for
/// another field of a header block, `None` for anything else.
pub(crate) fn header_field(s: &str) -> Option<bool> {
    // Every field ends its label with a colon or a bar; most lines have neither, and the
    // captures below were the largest single cost of quote stripping (`supportd fuzz` profile).
    if !s.contains([':', '：', '|', '│']) {
        return None;
    }
    let label: String = field_label(s)?
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '*')
        .flat_map(char::to_lowercase)
        .collect();
    if FROM_LABELS.contains(&label.as_str()) {
        Some(true)
    } else if FIELD_LABELS.contains(&label.as_str()) {
        Some(false)
    } else {
        None
    }
}

/// An attribution line: `On … wrote:`, `在 … 写道：`, `X 于 … 写道：`, `Am … schrieb X:`, Mutt's
/// `* X <a> [date]:`, `date, X <a>:`. It needs a date, time or address as clients write one.
pub(crate) fn is_attribution(s: &str) -> bool {
    static IPV4: LazyLock<Regex> = LazyLock::new(|| regex(r"\d{1,3}(?:\.\d{1,3}){3}"));
    let s = s.trim();
    // Every form ends in a colon: most lines are refused before a regex runs.
    if !s.ends_with([':', '：'])
        || s.chars().count() > MAX_ATTRIBUTION
        || !DATED.is_match(&IPV4.replace_all(s, ""))
    {
        return false;
    }
    VERB_LAST.is_match(s) || LEAD_WORD.is_match(s) || MUTT.is_match(s) || ADDRESS_COLON.is_match(s)
}

/// An attribution a client wrapped over two lines: the first does not end a sentence or like an
/// attribution, the second ends like one, and together they are one.
pub(crate) fn is_wrapped_attribution(first: &str, second: &str) -> bool {
    let first = first.trim_end();
    // Each ending below needs a colon last (cheap, so it goes first).
    second.trim_end().ends_with([':', '：'])
        && !first.is_empty()
        && !first.ends_with(SENTENCE_END)
        && !VERB_LAST.is_match(first)
        && !complete_attribution(second)
        && (VERB_LAST.is_match(second) || ADDRESS_COLON.is_match(second) || second.ends_with(':'))
        && (is_attribution(&format!("{first} {second}"))
            || is_attribution(&format!("{first}{}", second.trim_start())))
}

/// An attribution that needs nothing from the line above: it opens with the date's lead word,
/// or names both the date and the address (so `陈伟` over `在 2025-04-29 …，X <a> 写道：` stays
/// the sender's signature).
fn complete_attribution(s: &str) -> bool {
    static TIME_OR_YEAR: LazyLock<Regex> = LazyLock::new(|| regex(r"\d{1,2}:\d{2}|(?:19|20)\d{2}"));
    LEAD_WORD.is_match(s)
        || MUTT.is_match(s)
        || (is_attribution(s) && s.contains('@') && TIME_OR_YEAR.is_match(s))
}

/// The first line of a closing: a sign-off (`Thanks,`, `Best regards`, `谢谢`, `此致`), a
/// signature separator or a company disclaimer.
pub(crate) fn is_closing(s: &str) -> bool {
    static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r"(?i)^\s*(?:thanks|thank you|thx|many thanks|regards|best|best regards|kind regards|warm regards|cheers|sincerely|yours|br|b\.r\.?|mfg|gruß|grüße|viele grüße|liebe grüße|beste grüße|cordialement|saludos|谢谢|多谢|感谢|此致|祝好|顺祝|顺颂|敬礼|祝商祺|谢谢您|謝謝)\b?[\s,，.!！。~～]*(?:\S.{0,24})?$",
        )
    });
    let t = s.trim();
    t == "--" || t == "-- " || s == "-- " || SIGN_OFF.is_match(t) || is_disclaimer(t)
}

/// A company disclaimer, as mail servers append them.
pub(crate) fn is_disclaimer(s: &str) -> bool {
    static DISCLAIMER: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r"(?i)confidential|intended (?:only )?for the|intended recipient|disclaimer|保密|机密|免责|仅限于|錯收|错收|vertraulich",
        )
    });
    DISCLAIMER.is_match(s)
}

/// A footer a mail client writes under the sender's text: `Sent from my iPhone`,
/// `发自我的iPhone`, `来自: 华为手机`, `获取 Outlook for iOS`, `从 Windows 版邮件发送`.
pub(crate) fn is_client_footer(s: &str) -> bool {
    static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
        regex(
            r"(?i)^\s*(?:sent from (?:my |mail for |outlook|yahoo|samsung)|sent with |get outlook for |发自我的|发自 我的|发自网易邮箱|发自(?:手机|iPad|iPhone)|来自[:：]?\s*\S*(?:手机|iPhone|iPad|邮箱)|获取 outlook|從我的|从 windows 版邮件发送|寄自我的|来自钉钉|来自企业微信|来自手机)",
        )
    });
    s.chars().count() <= 80 && FOOTER.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators() {
        for s in [
            "-----Original Message-----",
            "-----原始邮件-----",
            "-----邮件原件-----",
            "-----原始郵件-----",
            "------------------ 原始邮件 ------------------",
            "---- 回复的原邮件 ----",
            "---- Replied Message ----",
            "-----Original Messages-----",
            "－－－－－原始邮件－－－－－",
            "—————原始郵件—————",
            "-----Ursprüngliche Nachricht-----",
            "-------- 原始邮件 --------",
        ] {
            assert!(is_separator(s), "{s}");
        }
        assert!(!is_separator("--- not one ---"));
        assert!(is_titled_rule("----- Original Nachricht ----"));
        assert!(is_forward_separator(
            "---------- Forwarded message ---------"
        ));
        assert!(is_title("         原始邮件"));
        assert!(is_rule("________________________________"));
        assert!(is_rule(&"-".repeat(66)));
        assert!(!is_rule("-- "));
        let glued = "来自钉钉专属商务邮箱------------------------------------------------------------------";
        assert_eq!(&glued[..glued_rule(glued).unwrap()], "来自钉钉专属商务邮箱");
    }

    #[test]
    fn field_label_is_the_regex_it_replaced() {
        let re = regex(r"^[\s*|│]*([^\s:：|│*][^:：|│*]{0,24}?)[\s*]*(?:[:：]|\s*[|│])");
        let pieces = [
            "",
            " ",
            "\t",
            "\u{3000}",
            "*",
            "**",
            "|",
            "│",
            ":",
            "：",
            "From",
            "发件人",
            "抄\u{3000}送",
            "a",
            "x y",
            "Sent Time",
            "0123456789012345678901234",
            "e",
            "\n",
        ];
        let mut seen = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in ["", " ", "*", ":", "|", "x"] {
                        let s = format!("{a}{b}{c}{d}");
                        let want = re.captures(&s).map(|c| c.get(1).map_or("", |m| m.as_str()));
                        assert_eq!(field_label(&s), want, "{s:?}");
                        seen += usize::from(want.is_some());
                    }
                }
            }
        }
        assert!(seen > 1000, "{seen}");
    }

    #[test]
    fn header_fields() {
        assert_eq!(header_field("From: Support <s@x>"), Some(true));
        assert_eq!(header_field("**发件人:** 客服"), Some(true));
        assert_eq!(header_field("| 发件人 | Example<s@x> |"), Some(true));
        assert_eq!(header_field("Von:   │\"M\" <s@x>"), Some(true));
        assert_eq!(header_field("发件人：Example"), Some(true));
        assert_eq!(header_field("抄\u{3000}送：王芳"), Some(false));
        assert_eq!(header_field("主\u{3000}题：Re: x"), Some(false));
        assert_eq!(header_field("Betreff│Installation"), Some(false));
        assert_eq!(header_field("Sent Time:2025-04-29"), Some(false));
        assert_eq!(header_field("日　期：2025年04月29日"), Some(false));
        assert_eq!(header_field("Priority:  P2"), None);
        assert_eq!(header_field("The attachment is from: accounting"), None);
        assert_eq!(header_field("From Support"), None);
    }

    #[test]
    fn attributions() {
        for s in [
            "On Tue, Apr 29, 2025 at 11:32 AM Example Support <support@example.com> wrote:",
            "On 2019/7/18 11:15, ZHOU wrote:",
            "在 2025/4/29 11:32, Example 技术支持 写道:",
            "在 2025-04-29 11:32:10，\"Example 技术支持\" <support@example.com> 写道：",
            "Gao Xiang <hsiangkao@linux.alibaba.com> 于2026年5月18日周一 12:18写道：",
            "Am 07.05.2012 08:10, schrieb Martin Edenhofer via Znuny Team:",
            "At 14:56 02.06.2003 -0400, you wrote:",
            "At 2024-10-17 11:39:53, \"Gao Xiang\" <hsiangkao@linux.alibaba.com> wrote:",
            "* Example Support <support@example.com> [2025-04-29 11:32]:",
            "2025年4月29日(火) 11:32 Example Support <support@example.com>:",
            "2025년 4월 29일 (화) 오전 11:32, Example <s@x.com>님이 작성:",
            "Le 29 avr. 2025 à 11:32, Example <s@x.com> a écrit :",
            "在 2025-04-29星期二的 11:32 +0800，Example 技术支持写道：",
        ] {
            assert!(is_attribution(s), "{s}");
        }
        for s in [
            "在 4 月 29 日的邮件里，您写道：",
            "On that point, my boss wrote:",
            "鲁迅写道：",
            "在我看来，他写道：",
            "My colleague wrote:",
            "<bounce@example.com>: host aspmx.l.example.com[108.177.96.26] said:",
        ] {
            assert!(!is_attribution(s), "{s}");
        }
        assert!(is_wrapped_attribution(
            "Example Hosting Cloud Services 技术支持中心（7×24 小时值班） <support@example.com> 于2025年4月29日周二",
            "11:32写道：",
        ));
        assert!(is_wrapped_attribution(
            "On Tue, Apr 29, 2025 at 11:32 AM Example Support <support@example.com>",
            "wrote:",
        ));
        assert!(!is_wrapped_attribution(
            "On 5 machines the app crashes.",
            "My colleague wrote:"
        ));
    }

    #[test]
    fn closings_and_footers() {
        for s in [
            "Thanks,",
            "Best regards,",
            "谢谢！",
            "-- ",
            "B.R",
            "Mfg eike",
        ] {
            assert!(is_closing(s), "{s}");
        }
        assert!(!is_closing(
            "Thanks to your fix the site works again, but the cart is empty."
        ));
        assert!(is_client_footer("Sent from my iPhone"));
        assert!(is_client_footer("发自我的iPhone"));
        assert!(is_client_footer("来自: 华为手机"));
        assert!(is_client_footer("获取 Outlook for iOS"));
        assert!(!is_client_footer("I sent from my office"));
    }
}
