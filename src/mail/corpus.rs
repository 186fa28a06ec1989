//! The reply text of every mail in `tests/mail/replies/` against the ground truth in its
//! `expected.toml` (the rules are in that folder's README): the figure the project README states.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::mail::parse::parse;

/// Where the corpus lives, relative to the crate root (the working directory of unit tests).
pub(crate) const DIR: &str = "tests/mail/replies";

#[derive(Deserialize)]
pub(crate) struct Table {
    pub(crate) mail: Vec<Row>,
}

/// One row of `expected.toml` (its README describes the fields).
#[derive(Deserialize, Debug, Clone)]
pub(crate) struct Row {
    pub(crate) file: String,
    pub(crate) kind: String,
    pub(crate) client: String,
    pub(crate) family: String,
    pub(crate) style: String,
    pub(crate) lang: String,
    pub(crate) fidelity: String,
    pub(crate) first: String,
    pub(crate) last: String,
    pub(crate) must_not: Vec<String>,
    #[serde(default)]
    pub(crate) contains: Vec<String>,
    #[serde(default)]
    pub(crate) context: Vec<String>,
    #[serde(default)]
    pub(crate) outcome: Option<String>,
    #[serde(default)]
    pub(crate) also_ok: Vec<String>,
    #[serde(default)]
    pub(crate) commands: Vec<String>,
    #[serde(default)]
    pub(crate) relay_first: Option<String>,
    #[serde(default)]
    pub(crate) relay_must_not: Vec<String>,
    #[serde(default)]
    pub(crate) attachments: Vec<String>,
}

/// The rows of `expected.toml`.
pub(crate) fn table() -> Vec<Row> {
    let text = String::from_utf8(crate::fixtures::read(&format!("{DIR}/expected.toml")))
        .expect("expected.toml is UTF-8");
    toml::from_str::<Table>(&text)
        .expect("expected.toml matches its README")
        .mail
}

/// The raw bytes of a row's mail.
pub(crate) fn raw(row: &Row) -> Vec<u8> {
    crate::fixtures::read(&format!("{DIR}/{}", row.file))
}

/// `text` with the leading quote markers (`>` and `&gt;`, nested, each with one following space)
/// removed from every line: the README's `V`.
fn unmarked(text: &str) -> String {
    text.lines()
        .map(|line| {
            let mut rest = line.trim_start_matches([' ', '\t']);
            loop {
                let next = if let Some(r) = rest.strip_prefix('>') {
                    r
                } else if let Some(r) = rest.strip_prefix("&gt;") {
                    r
                } else {
                    break;
                };
                rest = next.strip_prefix([' ', '\t']).unwrap_or(next);
                rest = rest.trim_start_matches([' ', '\t']);
            }
            rest
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_quoted(line: &str) -> bool {
    let l = line.trim_start_matches([' ', '\t']);
    l.starts_with('>') || l.starts_with("&gt;")
}

/// What is wrong with reply text `r` for `row`, by the README's rules; empty when it is right.
pub(crate) fn problems(row: &Row, r: &str) -> Vec<String> {
    let mut out = Vec::new();
    let v = unmarked(r);
    if row.style == "inline" {
        let first_new = r.lines().find(|l| !l.trim().is_empty() && !is_quoted(l));
        if !row.first.is_empty()
            && !first_new.is_some_and(|l| l.trim_start().starts_with(&row.first))
        {
            out.push(format!(
                "first new line is {first_new:?}, not {:?}",
                row.first
            ));
        }
        for c in &row.context {
            if !r
                .lines()
                .any(|l| is_quoted(l) && unmarked(l).contains(c.as_str()))
            {
                out.push(format!("context {c:?} is not on a quoted line"));
            }
        }
    } else if !row.first.is_empty() && !v.trim_start().starts_with(&row.first) {
        out.push(format!("does not start with {:?}", row.first));
    }
    if !row.last.is_empty() && !v.trim_end().ends_with(&row.last) {
        out.push(format!("does not end with {:?}", row.last));
    }
    for c in &row.contains {
        if !v.contains(c.as_str()) {
            out.push(format!("lacks {c:?}"));
        }
    }
    for m in &row.must_not {
        if r.contains(m.as_str()) {
            out.push(format!("holds {m:?}"));
        }
    }
    out
}

/// Rows whose mail is HTML only and whose quote today's HTML rendering (`src/mail/parse`, being
/// replaced under issue 18) does not present as text we can see; none at the moment.
const NEEDS_RENDERER: [&str; 0] = [];

/// Rows where the reply text deliberately differs from the row, with why.
const DEVIATIONS: [(&str, &str); 1] = [(
    "built/mailmaster-top-zh.eml",
    "the row ends the text above MailMaster's signature card, but the corpus README keeps the \
     card (the sender's name and mailbox) as new text, as we do; only its empty `| |` cells go",
)];

#[test]
fn reply_text_of_every_corpus_mail() {
    let rows = table();
    let mut failures = Vec::new();
    let (mut real_ok, mut real, mut clients) = (0, 0, BTreeSet::new());
    // Agents' rows need what we sent to be read: `desk::agent::corpus` checks them.
    let rows: Vec<&Row> = rows.iter().filter(|r| r.kind != "agent").collect();
    for &row in &rows {
        let inbound = parse(&raw(row)).unwrap_or_else(|e| panic!("{}: {e}", row.file));
        let p = problems(row, &inbound.reply_text);
        if row.kind == "real" {
            real += 1;
            clients.insert(row.family.as_str());
            real_ok += usize::from(p.is_empty());
        }
        let excused = NEEDS_RENDERER.contains(&row.file.as_str())
            || DEVIATIONS.iter().any(|(f, _)| *f == row.file);
        if !p.is_empty() && !excused {
            failures.push(format!(
                "{} ({}, {}, {}): {}\n----\n{}\n----",
                row.file,
                row.client,
                row.style,
                row.fidelity,
                p.join("; "),
                inbound.reply_text
            ));
        }
    }
    println!(
        "reply text right on {real_ok} of {real} real mails from {} clients; {} of {} rows in all",
        clients.len(),
        rows.len() - failures.len(),
        rows.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} rows fail:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
