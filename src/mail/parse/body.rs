//! The text of a mail: the text parts the MIME walk (`parts`) chose, in order, each after the
//! first marked, within the text budget.

use crate::mail::inbound::TextCharset;
use crate::mail::parse::charset::Decoded;

/// One piece of the text we show.
#[derive(Debug, Clone)]
pub(super) enum Segment {
    /// A text part (converted when it was HTML), with how it was decoded.
    Text {
        text: String,
        html: bool,
        decoded: Decoded,
    },
    /// An inline image between text parts.
    Image(String),
}

/// The text we show, whether its first part was HTML, and the charset of its text.
pub(super) fn assemble(
    segments: &[Segment],
    max_bytes: usize,
    notes: &mut Vec<String>,
) -> (String, bool, Option<TextCharset>) {
    let mut text = String::new();
    let mut from_html = None;
    let mut charset: Option<TextCharset> = None;
    let mut shown = 0;
    // Images wait for the text they stand before: one after the last text part is only an
    // attachment (a marker there would sit below the quoted history, and read as words
    // written after it); a mail that is only images shows their markers.
    let mut images: Vec<&str> = Vec::new();
    let put_images = |text: &mut String, images: &mut Vec<&str>| {
        for name in images.drain(..) {
            separate(text);
            text.push_str(&format!("[image: {name}]"));
        }
    };
    for segment in segments {
        match segment {
            Segment::Image(name) => images.push(name),
            Segment::Text {
                text: part,
                html,
                decoded,
            } => {
                if part.trim().is_empty() {
                    continue;
                }
                let after_image = !images.is_empty();
                put_images(&mut text, &mut images);
                shown += 1;
                from_html.get_or_insert(*html);
                let better = charset
                    .as_ref()
                    .is_none_or(|c| c.charset == "US-ASCII" && decoded.charset != "US-ASCII");
                if better {
                    charset = Some(TextCharset {
                        charset: decoded.charset.clone(),
                        declared: decoded.declared,
                    });
                }
                separate(&mut text);
                // An inline image between two text parts marks the second well enough.
                if shown > 1 && !after_image {
                    text.push_str(&format!("[part {shown}]\n\n"));
                }
                text.push_str(part);
            }
        }
    }
    if shown == 0 {
        put_images(&mut text, &mut images);
    }
    if text.len() > max_bytes {
        let mut cut = max_bytes;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("\n\n[text cut here: longer than parse.max_text_bytes]");
        notes.push(format!(
            "text cut at {max_bytes} bytes (parse.max_text_bytes)"
        ));
    }
    (tidy_text(&text), from_html.unwrap_or(false), charset)
}

fn separate(text: &mut String) {
    if !text.is_empty() {
        text.push_str("\n\n");
    }
}

/// LF line ends, no byte-order mark, no trailing whitespace.
pub(super) fn tidy_text(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .trim_end()
        .to_string()
}
