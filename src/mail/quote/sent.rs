//! Copies of mails we sent, found in a reply by matching its lines against what was sent rather
//! than by markers alone: an agent's client may quote our notification with no marker at all, an
//! agent may paste it, or type their answer inside it.
//!
//! Lines are compared without whitespace or quote markers (a client re-wraps and re-indents what
//! it quotes, and HTML rendering adds `**`), as substrings of the sent text, so a re-wrapped line
//! still matches.

use crate::mail::quote::lines::{Line, lines};
use crate::mail::quote::markers::{
    header_field, is_attribution, is_closing, is_rule, is_separator, is_titled_rule,
};

/// How much of what we sent is compared, at most: a ticket's recent notifications, not a
/// hostile mass of them.
const MAX_SENT_BYTES: usize = 512 * 1024;

/// How much of one sent mail is compared: its start, where a notification's fields are.
const MAX_MAIL_BYTES: usize = 64 * 1024;

/// Lines of a reply compared at most; the rest of a huge mail is taken as it is.
const MAX_LINES: usize = 2000;

/// A line this short says too little to be called a copy.
const MIN_LINE: usize = 4;

/// A lone unquoted line is taken out only when it is a whole sent line at least this long, and
/// not a sign-off any agent writes too.
const MIN_LONE_LINE: usize = 12;

/// History is a copy of a sent mail when at least this share of its lines was sent.
const COPY_SHARE: f64 = 0.5;

/// What we sent, ready to be matched against.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Each mail's text without whitespace.
    texts: Vec<String>,
    /// Each mail's lines without whitespace.
    lines: std::collections::HashSet<String>,
}

impl Sent {
    /// The texts of the mails we sent, newest first (older ones beyond the budget are left out).
    pub(crate) fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Sent {
        let mut sent = Sent::default();
        let mut budget = MAX_SENT_BYTES;
        for text in texts {
            if budget == 0 {
                break;
            }
            let allotment = MAX_MAIL_BYTES.min(budget);
            // Charged whole when cut, so a cut at a character boundary cannot leave a budget
            // of a few bytes that every further mail is compared against.
            budget -= allotment.min(text.len());
            let text = prefix(text, allotment);
            let lines = lines(text);
            let squeezed: Vec<String> = lines.iter().map(|l| squeeze(l.content())).collect();
            let whole: String = squeezed.concat();
            sent.lines
                .extend(squeezed.into_iter().filter(|l| !l.is_empty()));
            sent.texts.push(whole);
        }
        sent
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Whether the words of `line` appear in a mail we sent.
    fn holds(&self, line: &str) -> bool {
        let s = squeeze(line);
        s.chars().count() >= MIN_LINE && self.texts.iter().any(|t| t.contains(&s))
    }

    /// Whether `line`, too short to be compared as words, is a whole line of a mail we sent.
    fn holds_short_line(&self, line: &str) -> bool {
        let s = squeeze(line);
        !s.is_empty() && s.chars().count() < MIN_LINE && self.lines.contains(&s)
    }

    /// Whether `line` is a whole line of a mail we sent, long enough to be no coincidence.
    fn holds_line(&self, line: &str) -> bool {
        let s = squeeze(line);
        s.chars().count() >= MIN_LONE_LINE && self.lines.contains(&s)
    }
}

/// A reply's new text with the copies of what we sent taken out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cleaned {
    pub(crate) text: String,
    /// Unquoted lines in a row that are a copy of what we sent: a pasted notification, which
    /// cannot be told from the answer with confidence.
    pub(crate) pasted: bool,
}

/// Takes the copies of what we sent out of `new_text`: every quoted line (inline context) whose
/// words we sent, unless `keep_context` (the agent's words as stored for agents, where the
/// customer's lines they answer stay readable), and every unquoted line that is a whole line we
/// sent. Two or more unquoted lines in a row that we sent are a pasted copy: they go, and mark the
/// text as `pasted`.
pub(crate) fn remove_copies(new_text: &str, sent: &Sent, keep_context: bool) -> Cleaned {
    let lines = lines(new_text);
    let mut keep = vec![true; lines.len()];
    // The unquoted lines in a row whose words we sent.
    let mut run: Vec<usize> = Vec::new();
    let mut counted = 0;
    let mut pasted = false;
    for (i, line) in lines.iter().enumerate().take(MAX_LINES) {
        if line.is_blank() {
            continue;
        }
        let from_sent = sent.holds(line.content());
        if line.depth > 0 {
            keep[i] = (keep_context || !from_sent) && !line.is_empty_quote();
            continue;
        }
        if from_sent {
            run.push(i);
            counted += 1;
        } else if sent.holds_short_line(line.content()) {
            // Too short to tell (`你好，`): it neither starts nor ends a copy, but goes with one.
            run.push(i);
        } else {
            run.clear();
            counted = 0;
        }
        if from_sent && counted >= 2 {
            // A pasted copy: all of it goes, its short field lines too.
            pasted = true;
            for &j in &run {
                keep[j] = false;
            }
        }
        if sent.holds_line(line.content()) && !is_closing(line.content()) {
            keep[i] = false;
        }
    }
    let text = lines
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(l, _)| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Cleaned {
        text: collapse_blank_runs(&text),
        pasted,
    }
}

/// Lines of unquoted history that are not in what we sent, between lines that are, when the
/// history is otherwise a copy of a mail we sent: an answer typed inside an unmarked quote
/// (Outlook's "see my answers in red below"). What a server adds above or below the copy (a
/// safety banner, a disclaimer) is no insertion. Empty when the history is no copy of ours.
pub(crate) fn insertions(history: &[String], sent: &Sent) -> Vec<String> {
    if sent.is_empty() {
        return Vec::new();
    }
    let words: Vec<Line> = history
        .iter()
        .take(MAX_LINES)
        .flat_map(|h| lines(h))
        .filter(|l| checkable(l.content()))
        .collect();
    let ours: Vec<bool> = words.iter().map(|l| sent.holds(l.content())).collect();
    let count = ours.iter().filter(|o| **o).count();
    let (Some(first), Some(last)) = (ours.iter().position(|o| *o), ours.iter().rposition(|o| *o))
    else {
        return Vec::new();
    };
    if (count as f64) < COPY_SHARE * words.len() as f64 {
        return Vec::new();
    }
    (first..=last)
        .filter(|&i| !ours[i])
        .map(|i| words[i].content().to_owned())
        .collect()
}

/// A history line that says something of its own: not a header field, separator, rule,
/// attribution or link footnote, and not too short.
fn checkable(s: &str) -> bool {
    let t = s.trim();
    squeeze(t).chars().count() >= MIN_LINE
        && header_field(t).is_none()
        && !is_separator(t)
        && !is_rule(t)
        && !is_titled_rule(t)
        && !is_attribution(t)
        && !(t.starts_with('[') && t.contains("]: "))
}

/// At most the first `max` bytes of `text`, cut at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The words of a line without whitespace and HTML-rendering emphasis.
fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '*')
        .collect()
}

/// At most one blank line in a row, none at the ends.
fn collapse_blank_runs(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines() {
        let blank = line.trim().is_empty();
        if blank && out.last().is_none_or(|l| l.trim().is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "新工单 [SUP-8]\n\n客户：C1008 (zhao.liu@customer.example)\n优先级：P2\n处理人：lina\n\n----\n你好，\n\n登录后就显示 502 Bad Gateway，前台页面正常。\n----\n\n直接回复本邮件即可答复客户。";

    #[test]
    fn quoted_copies_go_and_lone_words_stay() {
        let sent = Sent::new([NOTE]);
        let c = remove_copies(
            "> 登录后就显示 502 Bad Gateway，\n> 前台页面正常。\n\n原因是 PHP 内存上限太低。\n\n你好，\nAlice",
            &sent,
            false,
        );
        assert_eq!(c.text, "原因是 PHP 内存上限太低。\n\n你好，\nAlice");
        assert!(!c.pasted);
    }

    #[test]
    fn a_pasted_copy_is_found() {
        let sent = Sent::new([NOTE]);
        let c = remove_copies(
            "好的，我来处理。\n\n客户：C1008 (zhao.liu@customer.example)\n优先级：P2\n处理人：lina",
            &sent,
            false,
        );
        assert!(c.pasted);
        assert_eq!(c.text, "好的，我来处理。");
    }

    #[test]
    fn answers_typed_inside_an_unmarked_copy_are_found() {
        let sent = Sent::new([NOTE]);
        let history: Vec<String> = "发件人: Example Support <support@example.com>\n新工单 [SUP-8]\n客户：C1008 (zhao.liu@customer.example)\n登录后就显示 502 Bad Gateway，前台页面正常。\n这个是 PHP 内存不够，我已经调到 512M 了。\n直接回复本邮件即可答复客户。"
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(
            insertions(&history, &sent),
            ["这个是 PHP 内存不够，我已经调到 512M 了。"]
        );
        // History that is no copy of ours has no insertions, whatever it says.
        let other: Vec<String> = vec!["someone else's mail".into(), "with their words".into()];
        assert!(insertions(&other, &sent).is_empty());
        assert!(insertions(&history, &Sent::new([])).is_empty());
    }

    #[test]
    fn rewrapped_and_bold_lines_still_match() {
        let sent = Sent::new([
            "Since last night our admin panel at https://x.example/admin returns 502 Bad Gateway right after login.",
        ]);
        let c = remove_copies(
            "> Since last night our admin panel at\n> **https://x.example/admin** returns 502\n\nFixed.",
            &sent,
            false,
        );
        assert_eq!(c.text, "Fixed.");
    }

    #[test]
    fn the_budget_bounds_what_is_compared() {
        let big = format!("{NOTE}\n{}", "长".repeat(MAX_MAIL_BYTES));
        let sent = Sent::new(std::iter::repeat_n(big.as_str(), 20).chain([NOTE]));
        assert_eq!(sent.texts.len(), MAX_SENT_BYTES / MAX_MAIL_BYTES);
        assert!(sent.texts.iter().all(|t| t.len() <= MAX_MAIL_BYTES));
        assert!(
            sent.holds("处理人：lina"),
            "the start of a long mail is compared"
        );
        assert!(Sent::new([]).is_empty());
    }
}
