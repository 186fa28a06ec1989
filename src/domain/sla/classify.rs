//! Reading a customer's words: the priority a new ticket gets (rules, declarations such as
//! `[P1]` or `紧急`, VIP), and whether a follow-up asks to escalate.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};

use crate::domain::priority::Priority;
use crate::domain::sla::policy::{Field, SlaPolicy};

/// `[P1]`, `【P2】`, `(P3)`, `（P4）` in a subject.
static DECLARED: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(r"[\[【(（]\s*P\s*([1-4])\s*[\]】)）]")
        .case_insensitive(true)
        .build()
        .expect("static regex")
});

/// How much of the reply text the rules read. A customer states the problem at the top; a
/// pasted multi-megabyte log must not cost one regex pass per rule.
const RULE_TEXT: usize = 64 * 1024;

/// Words that, right before an urgency word, negate it (`不紧急`, `not urgent`).
const NEGATIONS: [&str; 7] = ["不", "非", "无需", "无须", "not", "non", "no"];

/// Decides a new ticket's priority; returns it and a description of what decided it.
///
/// 1. Every rule is tried (configured, then built-in); the most urgent match wins.
/// 2. A priority the customer declares in the subject (`[P1]`, `【P2】`, or an urgency word such
///    as `紧急` for P1) is capped at `declared_ceiling`, then taken if it is more urgent than the
///    rules' result, or if no rule matched. A declaration can raise what the rules found but not
///    lower it: a customer's `[P3]` must not hide an outage the rules recognised.
/// 3. `default` (the shell passes `support.default_priority`) when nothing matched.
/// 4. A VIP customer's result is raised one level (P1 stays P1), after the ceiling.
///
/// Pass the reply text without quoted history as `body`, so old quotes do not classify; the
/// rules read its first [`RULE_TEXT`] bytes.
pub(crate) fn classify(
    subject: &str,
    body: &str,
    vip: bool,
    default: Priority,
    sla: &SlaPolicy,
) -> (Priority, String) {
    let body = &body[..body.floor_char_boundary(RULE_TEXT)];
    let mut best: Option<(Priority, String)> = None;
    for rule in &sla.rules {
        let hit = match rule.field {
            Field::Subject => rule.regex.find(subject),
            Field::Body => rule.regex.find(body),
            Field::Any => rule.regex.find(subject).or_else(|| rule.regex.find(body)),
        };
        if let Some(m) = hit
            && best.as_ref().is_none_or(|(p, _)| rule.priority < *p)
        {
            let text: String = m.as_str().trim().chars().take(40).collect();
            best = Some((
                rule.priority,
                format!("rule {} matched \"{text}\"", rule.name),
            ));
        }
    }
    if let Some((declared, what)) = declared_priority(subject, sla) {
        let capped = declared.max(sla.declared_ceiling);
        if best.as_ref().is_none_or(|(p, _)| capped < *p) {
            let why = if capped == declared {
                format!("declared {what}")
            } else {
                format!("declared {what} ({declared}), capped at {capped}")
            };
            best = Some((capped, why));
        }
    }
    let (p, why) = best.unwrap_or_else(|| (default, format!("default {default}")));
    if !vip {
        return (p, why);
    }
    let raised = match p {
        Priority::P1 | Priority::P2 => Priority::P1,
        Priority::P3 => Priority::P2,
        Priority::P4 => Priority::P3,
    };
    if raised == p {
        (p, format!("{why}; VIP (already {p})"))
    } else {
        (raised, format!("{why}; raised from {p} for VIP"))
    }
}

/// The most urgent priority declared in `subject`, with the text that declared it.
fn declared_priority(subject: &str, sla: &SlaPolicy) -> Option<(Priority, String)> {
    let mut best: Option<(Priority, String)> = None;
    let mut offer = |p: Priority, what: String| {
        if best.as_ref().is_none_or(|(b, _)| p < *b) {
            best = Some((p, what));
        }
    };
    for c in DECLARED.captures_iter(subject) {
        if let Ok(p) = format!("P{}", &c[1]).parse::<Priority>() {
            offer(p, c[0].to_owned());
        }
    }
    let lower = subject.to_lowercase();
    for word in &sla.urgent_words {
        if contains_word(&lower, word) {
            offer(Priority::P1, format!("\"{word}\""));
        }
    }
    best
}

/// True when lower-cased `text` contains `word` as a word and not negated before it.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = &text[..at];
        let after = &text[at + word.len()..];
        // ASCII words need word boundaries ("insurgent" is not urgent); Chinese has none.
        let bounded = !word.is_ascii()
            || (!before.ends_with(|c: char| c.is_ascii_alphanumeric())
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric()));
        bounded && !negated(before)
    })
}

/// The escalation word in a customer's (quote-stripped) follow-up, if it asks to escalate.
pub(crate) fn escalation_request(text: &str, sla: &SlaPolicy) -> Option<String> {
    let lower = text.to_lowercase();
    sla.escalation_words
        .iter()
        .find(|w| contains_word(&lower, w))
        .cloned()
}

/// True when `before` ends in a negation (`不`, `not `, `non-`).
fn negated(before: &str) -> bool {
    let b = before.trim_end_matches(|c: char| c.is_whitespace() || c == '-');
    NEGATIONS.iter().any(|n| {
        b.strip_suffix(n).is_some_and(|rest| {
            !n.is_ascii() || !rest.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
    })
}
