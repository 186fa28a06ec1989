//! Reading a customer's answer to the satisfaction survey (`1`–`5`, `4分`, 满意/一般/不满意, …),
//! and telling it apart from a real follow-up that must reopen the ticket.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

/// A customer's answer to the satisfaction survey: a score on the first non-empty line, alone
/// or with a unit (`5`, `4分`, `3/5`, `5 stars`), or a word (满意, 一般, 不满意, …), with anything
/// after it as the comment. `None` when the mail is not an answer, e.g. "1 more problem", so a
/// real follow-up on a resolved ticket still reopens it.
pub(crate) fn answer(text: &str) -> Option<(u8, String)> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    let first = lines.next()?;
    let rest: Vec<&str> = lines.collect();
    let (score, tail) = survey_score(first)?;
    let comment = std::iter::once(tail)
        .chain(rest)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned();
    Some((score, comment))
}

static SURVEY_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(
        r"^([1-5])\s*(?:分|星|颗星|/\s*5|out of 5|stars?|points?)?\s*(?:$|\p{P}+\s*(.*)$)",
    )
    .case_insensitive(true)
    .build()
    .expect("valid regex")
});

/// Survey words, longest first so 不满意 wins over 满意.
const SURVEY_WORDS: [(&str, u8); 15] = [
    ("not satisfied", 1),
    ("unsatisfied", 1),
    ("非常不满意", 1),
    ("很不满意", 1),
    ("不太满意", 2),
    ("不满意", 1),
    ("非常满意", 5),
    ("很满意", 5),
    ("比较满意", 4),
    ("满意", 5),
    ("一般", 3),
    ("very satisfied", 5),
    ("very dissatisfied", 1),
    ("dissatisfied", 1),
    ("satisfied", 5),
];

fn survey_score(line: &str) -> Option<(u8, &str)> {
    let line = line.trim_start_matches(['[', '【', '(', '（']);
    if let Some(c) = SURVEY_NUMBER.captures(line) {
        let score = c[1].parse().ok()?;
        return Some((score, c.get(2).map_or("", |m| m.as_str())));
    }
    SURVEY_WORDS.iter().find_map(|(w, score)| {
        let head = line.get(..w.len())?;
        if !head.eq_ignore_ascii_case(w) {
            return None;
        }
        let rest = &line[w.len()..];
        // The word must end there: "满意，谢谢" is an answer, "满意度调查怎么填" is not.
        let ok = rest.is_empty() || rest.starts_with(is_punct_or_space);
        ok.then(|| (*score, rest.trim_start_matches(is_punct_or_space)))
    })
}

fn is_punct(c: char) -> bool {
    c.is_ascii_punctuation() || "，。！？、；：～…".contains(c)
}

fn is_punct_or_space(c: char) -> bool {
    c.is_whitespace() || is_punct(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survey_answers_parse_and_follow_ups_do_not() {
        let ok = |t: &str| answer(t);
        assert_eq!(ok("5"), Some((5, String::new())));
        assert_eq!(
            ok("\n  4分，处理很快\n\n谢谢"),
            Some((4, "处理很快\n\n谢谢".into()))
        );
        assert_eq!(ok("3/5"), Some((3, String::new())));
        assert_eq!(ok("5 stars!"), Some((5, String::new())));
        assert_eq!(ok("2 - slow answer"), Some((2, "slow answer".into())));
        assert_eq!(ok("满意"), Some((5, String::new())));
        assert_eq!(ok("一般。"), Some((3, String::new())));
        assert_eq!(ok("不满意，问题反复出现"), Some((1, "问题反复出现".into())));
        assert_eq!(ok("非常满意!"), Some((5, String::new())));
        assert_eq!(ok("Very satisfied, thanks"), Some((5, "thanks".into())));
        assert_eq!(ok("Not satisfied"), Some((1, String::new())));
        for follow_up in [
            "1 more problem: the site is down again",
            "6",
            "满意度调查怎么填？",
            "The site is down again",
            "",
            "10",
        ] {
            assert_eq!(ok(follow_up), None, "{follow_up}");
        }
    }
}
