//! Quoted history in a reply: what the sender wrote for this mail, above, below or between
//! the quoted lines, and what is history.
//!
//! [`lines`] reads the text as lines with their quote depth, [`markers`] knows the lines that
//! open history in every client our users have (separators, rules over header blocks, header
//! blocks with ASCII or full-width colons and padding, attribution lines, wrapped or not), and
//! [`layout`] finds the new text: above the quote, below it, or inline, where the quoted
//! paragraph each answer answers stays as `>`-marked context. [`sent`] removes, for agents'
//! mail, what is a copy of a mail we sent.
//!
//! The full text is always kept on the message; the reply text is derived from it.

pub(crate) mod layout;
pub(crate) mod lines;
pub(crate) mod markers;
pub(crate) mod sent;

pub(crate) use layout::split;

/// [`strip_split`], splitting `text` here.
#[cfg(test)]
pub(crate) fn strip(text: &str) -> String {
    strip_split(text, &split(text))
}

/// The new text of reply `text` (`split` is its [`split`], which a parsed mail keeps), trimmed;
/// for a mail that is nothing but quote (a bare forward) the whole text instead, so a
/// customer's mail never reads as empty. A `-- ` signature is left for the caller.
pub(crate) fn strip_split(text: &str, split: &layout::Split) -> String {
    let new = &split.new_text;
    if new.trim().is_empty() {
        tidy(
            &lines::lines(text)
                .into_iter()
                .map(|l| l.text)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    } else {
        tidy(new)
    }
}

/// Drop leading blank lines and trailing whitespace, keeping the indentation of the first line.
pub(crate) fn tidy(text: &str) -> String {
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if !lines::is_blank(line) {
            break;
        }
        start += line.len();
    }
    text[start..].trim_end().to_string()
}

#[cfg(test)]
mod tests;
