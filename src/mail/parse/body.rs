//! The text of a mail: its text parts, or its HTML converted (with a cost bound, so hostile
//! HTML cannot take minutes), tidied.

use std::panic::catch_unwind;

use mail_parser::{Message, PartType};

/// Column html2text wraps HTML-only mail at.
pub(super) const HTML_WIDTH: usize = 100;

/// Larger HTML goes to mail-parser's linear converter: html2text takes about 0.2 s per MB (release
/// build), and real HTML that large is nearly all inline images.
pub(super) const MAX_HTML2TEXT_BYTES: usize = 4 * 1024 * 1024;

/// HTML costlier than this (see [`html_parse_cost`]; about 0.4 s in a release build) goes to
/// mail-parser's linear converter too. A 1 MB newsletter scores well under a million.
pub(super) const MAX_HTML2TEXT_COST: usize = 10_000_000;

/// The text of the mail and whether it came from HTML.
pub(super) fn body_text(msg: &Message<'_>) -> (String, bool) {
    // mail-parser lists HTML parts among the text bodies too (converting them crudely on access),
    // so pick the parts by type rather than by list.
    let plain: Vec<&str> = msg
        .text_bodies()
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    let html: Vec<&str> = msg
        .html_bodies()
        .filter_map(|part| match &part.body {
            PartType::Html(html) => Some(html.as_ref()),
            _ => None,
        })
        .collect();
    let plain = tidy_text(&plain.join("\n"));
    // A blank text/plain beside real HTML ("view this mail in a browser") is as good as none.
    if plain.is_empty() && !html.is_empty() {
        let converted: Vec<String> = html.into_iter().map(html_to_text).collect();
        // html2text keeps &nbsp; as U+00A0, which nothing downstream wants to match against.
        let converted = tidy_text(&converted.join("\n").replace('\u{a0}', " "));
        if !converted.is_empty() {
            return (converted, true);
        }
    }
    (plain, false)
}

pub(super) fn html_to_text(html: &str) -> String {
    if html.len() > MAX_HTML2TEXT_BYTES || html_parse_cost(html) > MAX_HTML2TEXT_COST {
        return mail_parser::decoders::html::html_to_text(html);
    }
    let converted =
        catch_unwind(|| html2text::config::plain().string_from_read(html.as_bytes(), HTML_WIDTH));
    match converted {
        Ok(Ok(text)) => text,
        // html2text gives up on very deep nesting (TooNarrow); mail-parser's crude converter
        // still gets the words out.
        _ => mail_parser::decoders::html::html_to_text(html),
    }
}

/// Rough cost of parsing `html` with html5ever: the sum, over start tags, of the nesting depth
/// they open at. Its scope checks walk the stack of open elements, so work grows with elements ×
/// depth: 200 KB of nested `<ul><li>` took html2text minutes, and 3 MB of paragraphs at depth 255
/// four seconds. Void elements and those whose end tag is optional (`<p>`, `<li>`, `<td>`, ...) are
/// counted but do not deepen: unclosed, they close themselves rather than nest.
pub(super) fn html_parse_cost(html: &str) -> usize {
    const NOT_NESTING: [&str; 21] = [
        "area", "base", "br", "col", "dd", "dt", "embed", "hr", "img", "input", "li", "link",
        "meta", "option", "p", "source", "td", "th", "tr", "track", "wbr",
    ];
    let (mut depth, mut cost) = (0usize, 0usize);
    for tag in html.split('<').skip(1) {
        let (closing, tag) = match tag.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let name_len = tag.bytes().take_while(u8::is_ascii_alphanumeric).count();
        let name = &tag[..name_len];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let nests = !NOT_NESTING.iter().any(|n| n.eq_ignore_ascii_case(name));
        match (closing, nests) {
            (true, true) => depth = depth.saturating_sub(1),
            (true, false) => {}
            (false, nests) => {
                depth += usize::from(nests);
                cost = cost.saturating_add(depth.max(1));
            }
        }
    }
    cost
}

/// LF line ends, no byte-order mark, no trailing whitespace.
pub(super) fn tidy_text(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim_end()
        .to_string()
}
