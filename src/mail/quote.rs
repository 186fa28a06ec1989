//! Removing quoted history from a reply so only the new text reaches the ticket.
//!
//! Clients mark the start of the quoted original in a handful of ways; the ones our users send
//! (Outlook en/zh, Foxmail/QQ, NetEase 163, Gmail en/zh, Apple Mail, plain `>` quoting) are listed
//! in the tables below. We cut at the first marker; a false positive loses customer text, so every
//! marker is anchored to a whole line and the free-text ones also need a date or address in them.

use std::sync::LazyLock;

use regex::Regex;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("quote marker {pattern:?}: {e}"))
}

/// Dashes as typed in any of the clients, including full-width and typographic ones.
const DASH: &str = "[-－—–―]";

/// Lines that on their own open the quoted original.
static SEPARATORS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // Outlook `-----Original Message-----` / `-----原始邮件-----`, Foxmail/QQ
        // `------------------ 原始邮件 ------------------` and `------------------ Original ---…`,
        // NetEase `--- 原始邮件 ---` and `---- 回复的原邮件 ----`.
        regex(&format!(
            r"(?i)^\s*{DASH}{{2,}}\s*(?:original message|original|原始邮件|原始郵件|原邮件|回复的原邮件|原始信件)\s*{DASH}{{2,}}\s*$"
        )),
    ]
});

/// "Someone wrote:" attribution lines (possibly `>`-quoted themselves). Each needs a digit or an `@`,
/// since real clients always include the date or the address, while prose such as "On that, Bob
/// wrote:" does not.
static ATTRIBUTIONS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    vec![
        // Gmail `On Mon, 23 Nov 2026 at 10:00, Zhang San <z@x.com> wrote:`,
        // Apple Mail `On 23 Nov 2026, at 10:00, Name <x@y> wrote:`, Thunderbird `On 11/23/26 …`.
        regex(r"(?i)^\s*(?:>\s*)*On\s.*[\d@].*\bwrote\s*:\s*$"),
        // Foxmail/NetEase/Thunderbird zh `在 2026年11月23日 10:00，张三 <z@x.com> 写道：`.
        regex(r"^\s*(?:>\s*)*在.*[\d@].*[写寫]道\s*[:：]\s*$"),
        // Gmail zh `张三 <z@x.com> 于2026年11月23日周一 10:00写道：`.
        regex(r"^\s*(?:>\s*)*.+于\s*\d.*[写寫]道\s*[:：]\s*$"),
    ]
});

/// The last line of an attribution that a client wrapped over two lines.
static ATTRIBUTION_END: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)(?:\bwrote\s*:|[写寫]道\s*[:：])\s*$"));

/// The first line of an Outlook header block (`**From:**` once html2text has rendered bold).
static HEADER_FROM: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^[\s*>]*(?:from|发件人|寄件者|寄件人)[\s*]*[:：]"));

/// Fields that follow `From:` in an Outlook header block.
static HEADER_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^[\s*>]*(?:sent|date|to|cc|subject|发送时间|日期|时间|收件人|抄送|主题|寄件日期|收件者|副本|主旨)[\s*]*[:：]",
    )
});

/// Outlook's horizontal rule above the header block.
static UNDERSCORE_RULE: LazyLock<Regex> = LazyLock::new(|| regex(r"^\s*_{20,}\s*$"));

/// How many lines after `From:` the next header field may appear (Outlook wraps long `From:` lines).
const HEADER_LOOKAHEAD: usize = 3;

/// Return only the new text of a reply: everything from the first quote marker on is dropped, then
/// a trailing block of `>` lines (with its attribution line) is dropped.
///
/// If that would leave nothing, the whole text is returned instead, so a mail that is all quote (a
/// bare forward) never becomes empty. Either way leading blank lines and trailing whitespace are
/// trimmed. A trailing `-- ` signature is left for the caller.
pub(crate) fn strip(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut end = first_marker(&lines).unwrap_or(lines.len());
    end = trailing_quote_start(&lines[..end]);
    let kept = tidy(&lines[..end].join("\n"));
    if kept.is_empty() {
        tidy(&lines.join("\n"))
    } else {
        kept
    }
}

/// Drop leading blank lines and trailing whitespace, keeping the indentation of the first line.
fn tidy(text: &str) -> String {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if !line.trim().is_empty() {
            break;
        }
        start += line.len();
    }
    text[start..].trim_end().to_string()
}

/// Turn the `&nbsp;` entities Foxmail leaves in its separator into spaces. (U+00A0 and U+3000
/// need nothing: the markers' `\s` is Unicode-aware.)
fn clean(line: &str) -> String {
    line.replace("&nbsp;", " ")
}

/// Index of the first line that starts quoted history.
fn first_marker(lines: &[&str]) -> Option<usize> {
    let cleaned: Vec<String> = lines.iter().map(|l| clean(l)).collect();
    (0..cleaned.len()).find(|&i| starts_quote(&cleaned, i))
}

fn starts_quote(lines: &[String], i: usize) -> bool {
    let line = lines[i].as_str();
    if SEPARATORS.iter().any(|re| re.is_match(line)) || is_attribution(line) {
        return true;
    }
    // A wrapped attribution: the first half does not end a sentence, the second half ends in
    // "wrote:" without being an attribution on its own.
    if let Some(next) = lines.get(i + 1)
        && !line.trim_end().ends_with(['.', '!', '?', '。', '！', '？'])
        && !is_attribution(next)
        && ATTRIBUTION_END.is_match(next)
        && is_attribution(&format!("{line} {next}"))
    {
        return true;
    }
    if HEADER_FROM.is_match(line) && is_header_block(lines, i) {
        return true;
    }
    // Outlook's rule line, then (after at most one blank line) the header block.
    if UNDERSCORE_RULE.is_match(line) {
        let from = lines
            .iter()
            .enumerate()
            .skip(i + 1)
            .take(2)
            .find(|(_, l)| !l.trim().is_empty());
        if let Some((j, l)) = from {
            return HEADER_FROM.is_match(l) && is_header_block(lines, j);
        }
    }
    false
}

fn is_attribution(line: &str) -> bool {
    ATTRIBUTIONS.iter().any(|re| re.is_match(line))
}

/// Whether the `From:` line at `i` is followed closely by another header field.
fn is_header_block(lines: &[String], i: usize) -> bool {
    lines
        .iter()
        .skip(i + 1)
        .take(HEADER_LOOKAHEAD)
        .any(|l| HEADER_FIELD.is_match(l))
}

/// Where a trailing run of `>` lines (and blank lines among them) starts, including one attribution
/// line ending in a colon just above it; `lines.len()` when the text does not end in a quote.
fn trailing_quote_start(lines: &[&str]) -> usize {
    let is_blank = |l: &str| l.trim().is_empty();
    let is_quoted = |l: &str| l.trim_start().starts_with('>');
    let mut start = lines.len();
    while start > 0 && is_blank(lines[start - 1]) {
        start -= 1;
    }
    if start == 0 || !is_quoted(lines[start - 1]) {
        return lines.len();
    }
    while start > 0 && (is_quoted(lines[start - 1]) || is_blank(lines[start - 1])) {
        start -= 1;
    }
    let above = lines[..start].iter().rposition(|l| !is_blank(l));
    if let Some(j) = above {
        let line = lines[j].trim_end();
        if line.ends_with(':') || line.ends_with('：') {
            return j;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, want: &str) {
        assert_eq!(strip(input), want, "input:\n{input}");
    }

    #[test]
    fn outlook_english() {
        check(
            "Still broken.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\n\nold",
            "Still broken.",
        );
        check(
            "Still broken.\n\nFrom: Support <support@example.com>\nSent: Monday, November 23, 2026 10:00 AM\nTo: Zhang San\nSubject: RE: x\n\nold",
            "Still broken.",
        );
        check(
            "Still broken.\n\n________________________________\nFrom: Support <support@example.com>\nSent: Monday\nTo: me\n\nold",
            "Still broken.",
        );
        check(
            "Still broken.\n\n________________________________\n\n**From:** Support\n**Sent:** Monday\n\nold",
            "Still broken.",
        );
        // A long From: line wrapped by the client.
        check(
            "ok\nFrom: Support Team of a very long name\n<support@example.com>\nDate: today\nold",
            "ok",
        );
    }

    #[test]
    fn outlook_chinese() {
        check(
            "还是不行。\n\n-----原始邮件-----\n发件人: 客服\n发送时间: 2026年11月23日\n旧内容",
            "还是不行。",
        );
        check("还是不行。\n\n----- 原始邮件 -----\n旧内容", "还是不行。");
        check(
            "还是不行。\n\n－－－－－原始邮件－－－－－\n旧内容",
            "还是不行。",
        );
        check("还是不行。\n\n—————原始郵件—————\n旧内容", "还是不行。");
        check(
            "还是不行。\n\n发件人: 客服 <support@example.com>\n发送时间: 2026年11月23日 10:00\n收件人: 张三\n主题: 回复: 打印机\n\n旧内容",
            "还是不行。",
        );
        check(
            "还是不行。\n\n发件人：客服\n日期：2026年11月23日\n旧内容",
            "还是不行。",
        );
        check(
            "还是不行。\n\n发件人：客服\n\n\n时间：2026年11月23日\n旧内容",
            "还是不行。",
        );
    }

    #[test]
    fn foxmail_and_qq() {
        check(
            "收到，谢谢\n\n\n------------------ 原始邮件 ------------------\n发件人: \"客服\"<support@example.com>;\n旧内容",
            "收到，谢谢",
        );
        check(
            "ok\n------------------ Original ------------------\nFrom: x\nold",
            "ok",
        );
        check(
            "ok\n------------------&nbsp;原始邮件&nbsp;------------------\nold",
            "ok",
        );
        check("ok\n---\u{a0}原始邮件\u{a0}---\nold", "ok");
    }

    #[test]
    fn netease() {
        check(
            "好的\n\n在 2026-11-23 10:00:00，\"张三\" <z@163.com> 写道：\n> 旧内容",
            "好的",
        );
        check("好的\n--- 原始邮件 ---\n旧内容", "好的");
        check("好的\n---- 回复的原邮件 ----\n旧内容", "好的");
    }

    #[test]
    fn gmail_and_apple_english() {
        check(
            "Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Zhang San <z@x.com> wrote:\n> old",
            "Thanks!",
        );
        check(
            "Thanks!\n\nOn Mon, 23 Nov 2026 at 10:00, Zhang San <z@x.com>\nwrote:\n\n> old",
            "Thanks!",
        );
        check(
            "Thanks!\n\nOn 23 Nov 2026, at 10:00, Name <x@y> wrote:\n\nold unquoted",
            "Thanks!",
        );
        check(
            "Thanks!\n> On 23 Nov 2026, Name wrote:\n> > old\n",
            "Thanks!",
        );
    }

    #[test]
    fn chinese_attributions() {
        check(
            "好的\n\n在 2026年11月23日 10:00，张三 <z@x.com> 写道：\n旧内容",
            "好的",
        );
        check(
            "好的\n\n在 2026年11月23日 10:00, 张三 <z@x.com> 写道:\n旧内容",
            "好的",
        );
        check(
            "好的\n\n在 2026年11月23日 10:00，张三 <z@x.com>\n写道：\n旧内容",
            "好的",
        );
        check(
            "好的\n\n张三 <z@x.com> 于2026年11月23日 周一 10:00写道：\n旧内容",
            "好的",
        );
        check(
            "好的\n\n张三 <z@x.com> 于2026年11月23日周一\n10:00写道：\n旧内容",
            "好的",
        );
    }

    #[test]
    fn trailing_angle_quote_block() {
        check(
            "Fine now.\n\nBob said:\n> it broke\n> again\n\n",
            "Fine now.",
        );
        check("Fine now.\n\n> it broke\n>\n> again", "Fine now.");
        // Inline replies keep their quoted context; only the trailing block goes.
        check(
            "> question one\nanswer one\n> question two\nanswer two",
            "> question one\nanswer one\n> question two\nanswer two",
        );
        check(
            "> question one\nanswer one\n\n> rest of the mail\n> more",
            "> question one\nanswer one",
        );
    }

    #[test]
    fn first_marker_wins_and_trailing_quote_after_it_is_irrelevant() {
        check(
            "new\n-----Original Message-----\nFrom: a\nSent: b\n> older\n",
            "new",
        );
        check("new\n> quoted\n-----Original Message-----\nold", "new");
    }

    #[test]
    fn all_quote_returns_original_trimmed() {
        check(
            "\n\n-----Original Message-----\nold\n  \n",
            "-----Original Message-----\nold",
        );
        check("> only a quote\n> here\n", "> only a quote\n> here");
        check("", "");
        check("  \n\n", "");
    }

    #[test]
    fn keeps_ordinary_text() {
        for text in [
            "On Monday the printer broke.\nIt still does.",
            "On that point, my boss wrote:\nwe need it fixed",
            "From: the second floor.\nPlease help.",
            "鲁迅写道：\n人生得一知己足矣",
            "在我看来，他写道：\n这是问题",
            "The attachment is from: accounting\nThanks",
            "---\nnot a marker\n---",
            "-- \nZhang San\nACME",
            "  indented first line\nsecond",
            "On 5 machines the app crashes.\nMy colleague wrote:\nit is the driver",
        ] {
            check(text, text);
        }
    }

    #[test]
    fn trims_and_normalises_line_ends() {
        check("\n\nhello  \r\nworld\r\n\r\n", "hello  \nworld");
        check("\r\n\u{3000}\r\nhello\r\n", "hello");
    }
}
