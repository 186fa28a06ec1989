//! A mail's text as lines the quote rules can read: entities decoded where a client left them,
//! every line's quote depth (`>`, `> >`, `>>`, `&gt;`) and the words after the markers.

use unicode_width::UnicodeWidthStr;

/// One line of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// The line as shown in the reply text: entities decoded, `&gt;` markers as `>`.
    pub(crate) text: String,
    /// How many quote markers lead it.
    pub(crate) depth: usize,
    /// Where in `text` the words after the markers begin and end (trimmed at the end): offsets,
    /// not a second string, because every line of a reply is read three times per agent mail.
    content: (usize, usize),
}

impl Line {
    /// The words after the markers and the blanks after them, trimmed at the end.
    pub(crate) fn content(&self) -> &str {
        &self.text[self.content.0..self.content.1]
    }

    pub(crate) fn is_blank(&self) -> bool {
        self.depth == 0 && is_blank(self.content())
    }

    /// A quoted line without words: `>` or `> >`.
    pub(crate) fn is_empty_quote(&self) -> bool {
        self.depth > 0 && is_blank(self.content())
    }

    /// Columns the line takes in a fixed-width view (CJK characters count two), which is what
    /// a client wraps at.
    pub(crate) fn width(&self) -> usize {
        self.text.width()
    }
}

/// Whitespace only, the ideographic and em spaces Chinese clients pad with included.
pub(crate) fn is_blank(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// The lines of `text`, with CRLF, `&nbsp;` and U+00A0 read as what they stand for, and, when the
/// text is HTML escaped as QQ and 126 leave their plain parts (`&gt;` quoting, `&nbsp;`), the
/// common entities decoded.
pub(crate) fn lines(text: &str) -> Vec<Line> {
    let escaped =
        text.contains("&nbsp;") || text.lines().any(|l| l.trim_start().starts_with("&gt;"));
    text.lines()
        .map(|raw| {
            let mut s = if raw.contains('\u{a0}') || raw.contains("&nbsp;") {
                raw.replace('\u{a0}', " ").replace("&nbsp;", " ")
            } else {
                raw.to_owned()
            };
            if escaped {
                s = unescape(&s);
            }
            let (depth, content) = markers(&s);
            let start = content.as_ptr() as usize - s.as_ptr() as usize;
            let content = (start, start + content.trim_end().len());
            Line {
                depth,
                content,
                text: s,
            }
        })
        .collect()
}

/// The entities a careless HTML-to-text leaves behind. `&amp;` goes last, so `&amp;gt;` stays
/// the text `&gt;` its writer meant.
fn unescape(s: &str) -> String {
    s.replace("&gt;", ">")
        .replace("&lt;", "<")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Quote depth and the words after the markers: leading blanks, then `>` marks, each optionally
/// followed by blanks (`> > x`, `>> x`, `>x`).
fn markers(line: &str) -> (usize, &str) {
    let mut rest = line.trim_start_matches([' ', '\t']);
    let mut depth = 0;
    while let Some(r) = rest.strip_prefix('>') {
        depth += 1;
        rest = r.trim_start_matches([' ', '\t']);
    }
    if depth == 0 {
        return (0, line);
    }
    (depth, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Line {
        lines(s).remove(0)
    }

    #[test]
    fn depth_and_content() {
        assert_eq!((one("> a").depth, one("> a").content()), (1, "a"));
        assert_eq!(one("> > >  a").depth, 3);
        assert_eq!(one(">>a").content(), "a");
        assert_eq!(one("  >\tx").content(), "x");
        assert_eq!(one("plain > not").depth, 0);
        assert!(one(">").is_empty_quote() && one("> >  ").is_empty_quote());
        assert!(one("\u{3000} ").is_blank());
    }

    #[test]
    fn entities_only_where_a_client_left_them() {
        let l = lines("&gt; q &lt;a@b&gt;\n&nbsp;x&amp;y");
        assert_eq!((l[0].depth, l[0].content()), (1, "q <a@b>"));
        assert_eq!(l[0].text, "> q <a@b>");
        assert_eq!(l[1].text, " x&y");
        // Code that merely contains `&gt;` keeps it.
        assert_eq!(one("if (a &gt; b)").text, "if (a &gt; b)");
        assert_eq!(one("a\u{a0}b").text, "a b");
    }
}
