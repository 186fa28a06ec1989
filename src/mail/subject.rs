//! Subject handling: the comparison form of a subject and the `[SUP-42]` ticket tag.
//!
//! mail-parser's `thread_name()` misses the prefixes Chinese clients send (`回复：` with a full-width
//! colon, `答复:`), so we keep our own explicit list instead of a "any two letters and a colon" rule,
//! which would also eat real subjects such as `PO: 123`.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// One leading reply/forward prefix, with an optional counter (`Re[2]:`, `AW(3):`, `Re^2:`) and an
/// ASCII or full-width colon. Only these words: a subject that merely starts with a word (`Reply
/// needed`, `PO: 123`) must survive.
static REPLY_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:re|fwd?|aw|wg|sv|vs|antw(?:ort)?|doorst|tr|rv|回复|答复|转发|回覆|轉寄|转寄)\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]",
    )
    .expect("reply prefix regex")
});

/// Leading `[list-name]` style tag (ASCII brackets only; `【…】` is often part of the real subject).
static LIST_TAG: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[[^\]]*\]").expect("list tag regex"));

/// Reduce a subject to the form used to compare two subjects of the same conversation.
///
/// Strips any nesting of leading reply/forward prefixes (`Re:`, `AW:`, `回复：`, `Re[2]:`, …) and
/// leading `[tag]`s, collapses whitespace and lower-cases the rest.
pub(crate) fn normalize(subject: &str) -> String {
    let mut rest = subject.trim_start();
    loop {
        let stripped = REPLY_PREFIX
            .find(rest)
            .or_else(|| LIST_TAG.find(rest))
            .map(|m| rest[m.end()..].trim_start());
        match stripped {
            Some(next) => rest = next,
            None => break,
        }
    }
    collapse_whitespace(rest).to_lowercase()
}

/// Collapse every run of whitespace (including folding CR/LF and tabs) to one space, and trim.
pub(crate) fn collapse_whitespace(s: &str) -> String {
    // One pass into one buffer: this runs on every raw header value, up to the header budget.
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Find the ticket number of a `[<prefix>-<digits>]` tag anywhere in `subject`.
///
/// The prefix is matched case-insensitively, spaces are allowed inside the brackets and around the
/// dash, and full-width `［…］` and `【…】` brackets (which Chinese input methods produce) are accepted.
/// When the subject carries several tags the last one wins, since clients prepend while quoting.
/// Numbers that do not fit a `u64` are ignored.
pub(crate) fn find_tag(subject: &str, prefix: &str) -> Option<u64> {
    tags(subject, prefix).last().map(|(_, id)| id)
}

/// Every ticket tag in `subject`, in order: its byte range (brackets included) and its number.
///
/// Only the innermost opening bracket before each closing one can start a tag (an outer one would
/// have the inner bracket in its prefix), which keeps this linear on hostile subjects full of `[`.
fn tags<'s>(subject: &'s str, prefix: &'s str) -> impl Iterator<Item = (Range<usize>, u64)> + 's {
    const PAIRS: [(char, char); 3] = [('[', ']'), ('［', '］'), ('【', '】')];
    let mut open_at: [Option<usize>; PAIRS.len()] = [None; PAIRS.len()];
    subject.char_indices().filter_map(move |(at, c)| {
        if let Some(kind) = PAIRS.iter().position(|&(open, _)| open == c) {
            open_at[kind] = Some(at + c.len_utf8());
            return None;
        }
        let kind = PAIRS.iter().position(|&(_, close)| close == c)?;
        let inner_start = open_at[kind].take()?;
        let id = tag_number(&subject[inner_start..at], prefix)?;
        let open_len = PAIRS[kind].0.len_utf8();
        Some((inner_start - open_len..at + c.len_utf8(), id))
    })
}

/// The number in the inside of one bracket pair, if it reads `<prefix>-<digits>`.
fn tag_number(inside: &str, prefix: &str) -> Option<u64> {
    let (name, digits) = inside.rsplit_once(['-', '－'])?;
    let (name, digits) = (name.trim(), digits.trim());
    // `str::parse::<u64>` would also accept a leading `+`.
    if !name.eq_ignore_ascii_case(prefix.trim())
        || digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// The tag to put in outgoing subjects, e.g. `tag("SUP", 42)` → `[SUP-42]`.
pub(crate) fn tag(prefix: &str, id: u64) -> String {
    format!("[{prefix}-{id}]")
}

/// Removes every `[<prefix>-<n>]` ticket tag from a subject, so a tagged reply and the untagged
/// original normalise alike. Recognises exactly the tags [`find_tag`] does.
pub(crate) fn strip_tag(subject: &str, prefix: &str) -> String {
    let mut kept = String::with_capacity(subject.len());
    let mut from = 0;
    for (range, _) in tags(subject, prefix) {
        kept.push_str(&subject[from..range.start]);
        kept.push(' ');
        from = range.end;
    }
    kept.push_str(&subject[from..]);
    collapse_whitespace(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_latin_prefixes_and_counters() {
        for (input, want) in [
            ("Re: Printer broken", "printer broken"),
            ("RE: RE: Fwd: Printer   broken ", "printer broken"),
            ("re:Printer broken", "printer broken"),
            ("FW: Printer broken", "printer broken"),
            ("Fwd: Printer broken", "printer broken"),
            ("FWD: Printer broken", "printer broken"),
            ("AW: WG: Drucker kaputt", "drucker kaputt"),
            ("SV: VS: Skrivare", "skrivare"),
            ("Antw: Antwort: Printer", "printer"),
            ("Doorst: printer", "printer"),
            ("TR: RV: imprimante", "imprimante"),
            ("Re[2]: Printer broken", "printer broken"),
            ("Re(3): Printer broken", "printer broken"),
            ("Re^2: Printer broken", "printer broken"),
            ("RE : Printer broken", "printer broken"),
            ("Re [2] : Printer broken", "printer broken"),
        ] {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn strips_chinese_prefixes_with_either_colon() {
        for (input, want) in [
            ("回复：打印机坏了", "打印机坏了"),
            ("回复: 打印机坏了", "打印机坏了"),
            ("答复: 打印机坏了", "打印机坏了"),
            ("转发：回复：打印机坏了", "打印机坏了"),
            ("回覆：印表機壞了", "印表機壞了"),
            ("轉寄: 印表機壞了", "印表機壞了"),
            ("转寄：打印机坏了", "打印机坏了"),
            ("Re: 回复：答复: 打印机坏了", "打印机坏了"),
            ("回复 ：打印机坏了", "打印机坏了"),
        ] {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn strips_leading_list_tags_but_keeps_lenticular_brackets() {
        assert_eq!(normalize("[users] Re: [SUP-42] Printer"), "printer");
        assert_eq!(normalize("Re: [users] Printer"), "printer");
        assert_eq!(normalize("【紧急】打印机坏了"), "【紧急】打印机坏了");
        assert_eq!(normalize("回复：【紧急】打印机坏了"), "【紧急】打印机坏了");
        // A tag later in the subject is content, not a list tag.
        assert_eq!(normalize("Printer [floor 2]"), "printer [floor 2]");
    }

    #[test]
    fn keeps_words_that_are_not_prefixes() {
        assert_eq!(normalize("Reply needed"), "reply needed");
        assert_eq!(normalize("PO: 123"), "po: 123");
        assert_eq!(normalize("Rev: 2 of the spec"), "rev: 2 of the spec");
        assert_eq!(normalize("Transfer: done"), "transfer: done");
        assert_eq!(normalize("Re"), "re");
        assert_eq!(normalize("回复"), "回复");
        assert_eq!(normalize("Re: "), "");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn collapses_folding_whitespace() {
        assert_eq!(
            normalize("Re: Printer\r\n\tbroken  again"),
            "printer broken again"
        );
        assert_eq!(collapse_whitespace("  a \r\n\t b  "), "a b");
    }

    #[test]
    fn finds_tags() {
        assert_eq!(find_tag("Re: [SUP-42] Printer", "SUP"), Some(42));
        assert_eq!(find_tag("Re: [sup-42] Printer", "SUP"), Some(42));
        assert_eq!(find_tag("Printer [ SUP - 42 ]", "sup"), Some(42));
        assert_eq!(find_tag("回复：［SUP-7］打印机", "SUP"), Some(7));
        assert_eq!(find_tag("回复：【SUP-8】打印机", "SUP"), Some(8));
        assert_eq!(find_tag("Re: [Re: [SUP-9]]", "SUP"), Some(9));
        assert_eq!(find_tag("[SUP-1] Re: [SUP-2] merged", "SUP"), Some(2));
        assert_eq!(find_tag("[ACME-SUP-5] x", "ACME-SUP"), Some(5));
    }

    #[test]
    fn rejects_non_tags() {
        assert_eq!(find_tag("Printer broken", "SUP"), None);
        assert_eq!(find_tag("SUP-42 without brackets", "SUP"), None);
        assert_eq!(find_tag("[OPS-42]", "SUP"), None);
        assert_eq!(find_tag("[SUP-]", "SUP"), None);
        assert_eq!(find_tag("[SUP-+4]", "SUP"), None);
        assert_eq!(find_tag("[SUP-4a]", "SUP"), None);
        assert_eq!(find_tag("[XSUP-4]", "SUP"), None);
        assert_eq!(find_tag("[SUP-42", "SUP"), None);
        assert_eq!(find_tag("[SUP-42】", "SUP"), None);
        assert_eq!(find_tag("[SUP-99999999999999999999999]", "SUP"), None);
        assert_eq!(
            find_tag("[SUP-99999999999999999999999] [SUP-3]", "SUP"),
            Some(3)
        );
        assert_eq!(
            find_tag(&format!("[SUP-{}]", u64::MAX), "SUP"),
            Some(u64::MAX)
        );
    }

    #[test]
    fn strips_tags_like_find_tag_sees_them() {
        assert_eq!(strip_tag("Re: [SUP-42] Printer", "SUP"), "Re: Printer");
        assert_eq!(
            strip_tag("[sup-1]Printer[ SUP - 2 ]broken", "SUP"),
            "Printer broken"
        );
        assert_eq!(strip_tag("回复：【SUP-8】打印机", "SUP"), "回复： 打印机");
        assert_eq!(strip_tag("Re: [Re: [SUP-9]]", "SUP"), "Re: [Re: ]");
        assert_eq!(
            strip_tag("[OPS-1] [SUP-x] [SUP-3", "SUP"),
            "[OPS-1] [SUP-x] [SUP-3"
        );
        assert_eq!(
            normalize(&strip_tag("回复：[SUP-42] 打印机坏了", "SUP")),
            normalize("打印机坏了")
        );
    }

    #[test]
    fn hostile_subjects_stay_linear() {
        let many_open = "[".repeat(200_000) + "SUP-1]";
        assert_eq!(find_tag(&many_open, "SUP"), Some(1));
        assert_eq!(strip_tag(&many_open, "SUP"), "[".repeat(199_999));
        let many_tags = "[SUP-7]".repeat(50_000);
        assert_eq!(find_tag(&many_tags, "SUP"), Some(7));
        assert_eq!(strip_tag(&many_tags, "SUP"), "");
        assert_eq!(normalize(&"Re: ".repeat(50_000)), "");
    }

    #[test]
    fn tag_round_trips() {
        assert_eq!(tag("SUP", 42), "[SUP-42]");
        assert_eq!(
            find_tag(&format!("Re: {} hi", tag("SUP", 42)), "SUP"),
            Some(42)
        );
    }
}
