//! Where the new text sits: above the quote (top-posting), below it (bottom-posting) or between
//! quoted lines (inline answers), and where the unquoted history under a separator or header
//! block starts.
//!
//! A reply is read as blocks: quoted lines (with the attribution above them and the lines a
//! client's wrapping pushed out of the quote) and the sender's text between them. Everything
//! from the first boundary that is not `>`-quoted (a separator, a header block, an attribution
//! over unquoted text) is history, whatever follows.

use crate::mail::quote::lines::{Line, is_blank, lines};
use crate::mail::quote::markers::{
    FIELD_LOOKAHEAD, glued_rule, header_field, is_attribution, is_closing, is_disclaimer,
    is_forward_separator, is_lotus_title, is_rule, is_separator, is_title, is_titled_rule,
    is_wrapped_attribution,
};

/// How the sender placed their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// No quote at all.
    None,
    /// Above the quote.
    Top,
    /// Below the whole quote.
    Bottom,
    /// Between quoted lines.
    Inline,
    /// Nothing but quote.
    QuoteOnly,
}

/// A reply, split into the sender's new text and the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Split {
    /// The new text, with the quoted lines inline answers keep as context (`>`-marked); empty
    /// when the mail holds no new text.
    pub(crate) new_text: String,
    pub(crate) style: Style,
    /// The history that is not `>`-quoted (below a separator or header block), as its lines.
    pub(crate) unquoted_history: Vec<String>,
}

/// Lines per context paragraph an inline answer keeps.
const MAX_CONTEXT_LINES: usize = 10;

/// A wrapped quote line leaves at most this many lines unquoted before the quote resumes.
const MAX_WRAP_LINES: usize = 3;

/// Quoted lines at least this wide (a client wraps at 72 to 78 columns) may have had their end
/// pushed onto an unquoted line.
const WRAP_WIDTH: usize = 60;

/// Splits `text` into new text and history.
pub(crate) fn split(text: &str) -> Split {
    let lines = lines(text);
    let depth = effective_depths(&lines);
    let cut = boundary(&lines, &depth);
    let (end, extra, resume) = match &cut {
        Some(c) => (c.start, c.kept.clone(), c.resume),
        None => (lines.len(), None, None),
    };
    let (mut new_text, mut style) = region(&lines[..end], &depth[..end]);
    if let Some(extra) = extra {
        new_text = join_parts([new_text, extra]);
        style = if style == Style::None {
            Style::Top
        } else {
            style
        };
    }
    let mut unquoted_history = Vec::new();
    if let Some(c) = &cut {
        let stop = c.resume.unwrap_or(lines.len());
        unquoted_history = lines[c.start..stop]
            .iter()
            .map(|l| l.text.clone())
            .collect();
        if style == Style::None {
            style = if new_text.is_empty() {
                Style::QuoteOnly
            } else {
                Style::Top
            };
        }
    }
    if let Some(r) = resume {
        let (below, _) = region(&lines[r + 1..], &depth[r + 1..]);
        if !below.is_empty() {
            style = if new_text.is_empty() {
                Style::Bottom
            } else {
                Style::Inline
            };
            new_text = join_parts([new_text, below]);
        }
    }
    Split {
        new_text,
        style,
        unquoted_history,
    }
}

/// The quote depth of each line, with the lines a client's wrapping pushed out of a quoted line
/// counted as quoted: Outlook re-wraps `> `-prefixed text at 76 columns and leaves the tail of a
/// long quoted line unquoted (`> … 这一点为什么很重` / `要]` / `> …`).
fn effective_depths(lines: &[Line]) -> Vec<usize> {
    let mut depth: Vec<usize> = lines.iter().map(|l| l.depth).collect();
    let mut i = 1;
    while i < lines.len() {
        if depth[i] > 0 || lines[i].is_blank() || depth[i - 1] == 0 {
            i += 1;
            continue;
        }
        // An unquoted run right under a quoted line, with the quote resuming right under it.
        let run = (i..lines.len().min(i + MAX_WRAP_LINES))
            .take_while(|&j| depth[j] == 0 && !lines[j].is_blank())
            .count();
        let resumes = lines.get(i + run).is_some_and(|l| l.depth > 0);
        let wrapped = resumes && (i..i + run).all(|j| pushed_out(&lines[j - 1], &lines[j], j == i));
        if wrapped {
            for j in i..i + run {
                depth[j] = depth[i - 1];
            }
        }
        i += run.max(1);
    }
    depth
}

/// Whether `line` is the tail a client's wrapping cut off `above`: `above` is long and stops
/// mid-sentence, or (Outlook, after a bare `>>>>>` marker) is only markers and `line` is one
/// unbroken token.
fn pushed_out(above: &Line, line: &Line, first: bool) -> bool {
    let stops = above.content().trim_end().ends_with([
        '.', ';', ':', '!', '?', '{', '}', '。', '；', '：', '！', '？', ',', '，',
    ]);
    let long = above.width() >= WRAP_WIDTH && !stops;
    let bare_marker = first && above.is_empty_quote() && !line.content().trim().contains(' ');
    long || bare_marker
}

/// Where the history that is not `>`-quoted starts.
struct Cut {
    start: usize,
    /// Words before a rule glued to the line the history starts on (DingTalk's footer).
    kept: Option<String>,
    /// A line of `>` marks the sender put under unquoted history to show where their answer
    /// starts (seen with Alimail): the answer below it is new text.
    resume: Option<usize>,
}

fn boundary(lines: &[Line], depth: &[usize]) -> Option<Cut> {
    let unquoted = |i: usize| depth[i] == 0;
    let next_nonblank = |from: usize, within: usize| {
        (from..lines.len().min(from + within)).find(|&j| !lines[j].is_blank())
    };
    for i in 0..lines.len() {
        if !unquoted(i) || lines[i].is_blank() {
            continue;
        }
        let s = lines[i].content();
        let mut cut = None;
        let titled_block = || {
            is_title(s) && next_nonblank(i + 1, 4).is_some_and(|j| header_block(lines, depth, j))
        };
        if is_separator(s) || titled_block() {
            cut = Some((i, None));
        } else if is_rule(s) || glued_rule(s).is_some() {
            if next_nonblank(i + 1, 3).is_some_and(|j| header_block(lines, depth, j)) {
                let kept = glued_rule(s)
                    .filter(|_| !is_rule(s))
                    .map(|at| s[..at].trim_end().to_owned());
                let start = if kept.is_some() {
                    i
                } else {
                    rule_above(lines, depth, i)
                };
                cut = Some((start, kept));
            }
        } else if header_block(lines, depth, i) {
            let first = first_field(lines, depth, i);
            if !pasted(lines, first) && !forwarded(lines, first) {
                cut = Some((rule_above(lines, depth, first), None));
            }
        } else if is_attribution(s) || next_attribution_half(lines, depth, i) {
            let end = if is_attribution(s) { i } else { i + 1 };
            let over_quote = next_nonblank(end + 1, 3).is_some_and(|j| depth[j] > 0);
            if !over_quote {
                cut = Some((i, None));
            }
        }
        if let Some((start, kept)) = cut {
            return Some(Cut {
                start,
                kept,
                resume: resume_marker(lines, start),
            });
        }
    }
    None
}

/// Whether line `i` and the next form a wrapped attribution.
fn next_attribution_half(lines: &[Line], depth: &[usize], i: usize) -> bool {
    i + 1 < lines.len()
        && depth[i + 1] == 0
        && is_wrapped_attribution(lines[i].content(), lines[i + 1].content())
}

/// A `From` field at `i` with another header field a few lines under it.
fn header_block(lines: &[Line], depth: &[usize], i: usize) -> bool {
    depth[i] == 0
        && header_field(lines[i].content()) == Some(true)
        && (i + 1..lines.len().min(i + 1 + FIELD_LOOKAHEAD))
            .any(|j| depth[j] == 0 && header_field(lines[j].content()) == Some(false))
}

/// The first field of the header block whose `From` is at `i`: GMX and Outlook for Mac put
/// `Gesendet:`/`Date:` above it.
fn first_field(lines: &[Line], depth: &[usize], i: usize) -> usize {
    let mut first = i;
    while first > 0
        && i - first < FIELD_LOOKAHEAD
        && depth[first - 1] == 0
        && header_field(lines[first - 1].content()) == Some(false)
    {
        first -= 1;
    }
    first
}

/// A header block the sender pasted into their own text: the line above it introduces it
/// (`下面是我们系统里记下的邮件头：`).
fn pasted(lines: &[Line], i: usize) -> bool {
    let above = lines[..i].iter().rev().take(2).find(|l| !l.is_blank());
    above.is_some_and(|l| {
        let s = l.content().trim_end();
        (s.ends_with(':') || s.ends_with('：'))
            && !is_attribution(s)
            && !is_separator(s)
            && header_field(s).is_none()
    })
}

/// A header block right under a forward separator: the forwarded mail, which the sender means
/// to pass on.
fn forwarded(lines: &[Line], i: usize) -> bool {
    lines[..i]
        .iter()
        .rev()
        .take(3)
        .find(|l| !l.is_blank())
        .is_some_and(|l| is_forward_separator(l.content()))
}

/// The first line of the history a header block at `i` opens: a rule, a table border or Lotus'
/// title line right above it belongs to it.
fn rule_above(lines: &[Line], depth: &[usize], i: usize) -> usize {
    let mut start = i;
    let mut j = i;
    while j > 0 && i - j < 6 {
        j -= 1;
        let l = &lines[j];
        if depth[j] > 0 {
            break;
        }
        if l.is_blank() {
            continue;
        }
        if is_rule(l.content())
            || is_lotus_title(l.content())
            || is_title(l.content())
            || is_titled_rule(l.content())
        {
            start = j;
        } else {
            break;
        }
    }
    start
}

/// A bare line of three or more `>` under unquoted history with the sender's answer below it.
fn resume_marker(lines: &[Line], start: usize) -> Option<usize> {
    let r = (start + 1..lines.len()).find(|&j| lines[j].depth > 0)?;
    let marker = lines[r].text.trim();
    let answer_below = lines[r + 1..]
        .iter()
        .find(|l| !l.is_blank())
        .is_some_and(|l| l.depth == 0);
    (marker.len() >= 3 && marker.chars().all(|c| c == '>') && answer_below).then_some(r)
}

/// A run of lines of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    quoted: bool,
    start: usize,
    /// One past the last line of the block (trailing blank lines excluded).
    end: usize,
}

/// The new text of lines free of unquoted history, and how it was placed.
fn region(lines: &[Line], depth: &[usize]) -> (String, Style) {
    let raw = blocks(lines, depth);
    let mut blocks = raw.clone();
    attach_attributions(lines, &mut blocks);
    let texts: Vec<usize> = (0..blocks.len()).filter(|&b| !blocks[b].quoted).collect();
    let (Some(&first), Some(&last)) = (texts.first(), texts.last()) else {
        if let Some(own) = quoted_own_text(lines, depth, &raw) {
            return (own, Style::Top);
        }
        let style = if blocks.is_empty() {
            Style::None
        } else {
            Style::QuoteOnly
        };
        return (String::new(), style);
    };
    let style = match (first > 0, last + 1 < blocks.len()) {
        _ if blocks.len() == 1 => Style::None,
        (false, _) if texts.len() == 1 => Style::Top,
        (true, false) if texts.len() == 1 => Style::Bottom,
        _ => Style::Inline,
    };
    if style != Style::Inline {
        let b = blocks[first];
        return (render(lines, depth, b.start, b.end), style);
    }
    // A closing under the last quote (a sign-off, a signature) answers nothing: the quote above
    // it is history, not context. A disclaimer the sender's server put there is not even theirs.
    let closing = texts.len() >= 2 && closing_block(lines, blocks[last]);
    let disclaimer = closing && disclaimer_block(lines, blocks[last]);
    let tail = closing.then_some(last);
    if disclaimer && texts.len() == 2 && first == 0 {
        let b = blocks[first];
        return (render(lines, depth, b.start, b.end), Style::Top);
    }
    let mut out = String::new();
    let mut at = None;
    for (b, block) in blocks.iter().enumerate() {
        if block.quoted || (disclaimer && Some(b) == tail) {
            continue;
        }
        if b > 0
            && Some(b) != tail
            && let Some((start, text)) = context(lines, depth, blocks[b - 1])
        {
            append(&mut out, &mut at, start, blocks[b - 1].end, &text);
        }
        let text = render(lines, depth, block.start, block.end);
        append(&mut out, &mut at, block.start, block.end, &text);
    }
    (out, style)
}

/// Appends the text of lines `start..end` to `out`, which ends at line `at`: right under it
/// when they were adjacent, else after one blank line.
fn append(out: &mut String, at: &mut Option<usize>, start: usize, end: usize, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    if let Some(prev) = *at {
        out.push_str(if prev == start { "\n" } else { "\n\n" });
    }
    out.push_str(text.trim_end());
    *at = Some(end);
}

/// The blocks of `lines`. A quoted run keeps the blank lines inside it; quoted runs without a
/// word (`>` alone) are blank.
fn blocks(lines: &[Line], depth: &[usize]) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_blank() {
            continue;
        }
        let quoted = depth[i] > 0;
        match out.last_mut() {
            Some(b) if b.quoted == quoted => b.end = i + 1,
            _ => out.push(Block {
                quoted,
                start: i,
                end: i + 1,
            }),
        }
    }
    out.retain(|b| !b.quoted || (b.start..b.end).any(|i| !is_blank(lines[i].content())));
    merge(out)
}

/// Adjacent blocks of one kind as one.
fn merge(blocks: Vec<Block>) -> Vec<Block> {
    let mut out: Vec<Block> = Vec::new();
    for b in blocks {
        match out.last_mut() {
            Some(last) if last.quoted == b.quoted => last.end = b.end,
            _ => out.push(b),
        }
    }
    out
}

/// Moves the attribution line(s) at the end of a text block into the quote under it: one that
/// reads as an attribution, or, above the mail's last quote, any short line ending in a colon
/// (`Bob said:`).
fn attach_attributions(lines: &[Line], blocks: &mut Vec<Block>) {
    for b in 1..blocks.len() {
        if !blocks[b].quoted || blocks[b - 1].quoted {
            continue;
        }
        let text = blocks[b - 1];
        let gap = blocks[b].start - text.end;
        if gap > 3 {
            continue;
        }
        let last = text.end - 1;
        let s = lines[last].content().trim_end();
        let last_quote = b + 1 == blocks.len();
        let introduces = last_quote
            && (s.ends_with(':') || s.ends_with('：'))
            && s.chars().count() <= 200
            && header_field(s).is_none();
        let cut = if last > text.start && is_wrapped_attribution(lines[last - 1].content(), s) {
            Some(last - 1)
        } else if is_attribution(s) || introduces {
            Some(last)
        } else {
            None
        };
        if let Some(at) = cut {
            let end = (text.start..at)
                .rev()
                .find(|&i| !lines[i].is_blank())
                .map_or(text.start, |i| i + 1);
            blocks[b - 1].end = end;
            blocks[b].start = at;
        }
    }
    blocks.retain(|b| b.start < b.end);
    let kept = std::mem::take(blocks);
    *blocks = merge(kept);
}

/// In a mail of nothing but quotes, the quoted lines above the first unquoted attribution: the
/// sender's own text, which some clients (a Thunderbird HTML reply turned to plain text) mark
/// like a quote. What stands above the first quote boundary is new text.
fn quoted_own_text(lines: &[Line], depth: &[usize], blocks: &[Block]) -> Option<String> {
    let [own, attribution, _, ..] = blocks else {
        return None;
    };
    let at = attribution.start;
    let reads = if attribution.end - at == 1 {
        is_attribution(lines[at].content())
    } else {
        attribution.end - at == 2
            && is_wrapped_attribution(lines[at].content(), lines[at + 1].content())
    };
    (own.quoted && !attribution.quoted && reads).then(|| render(lines, depth, own.start, own.end))
}

/// A text block that only closes the mail: a signature, a short sign-off, a sign-off over a
/// disclaimer, or a disclaimer alone.
fn closing_block(lines: &[Line], block: Block) -> bool {
    let words: Vec<&Line> = lines[block.start..block.end]
        .iter()
        .filter(|l| !l.is_blank())
        .collect();
    let Some(first) = words.first() else {
        return false;
    };
    let signature = first.text.trim_end() == "--";
    let sign_off = is_closing(first.content());
    signature
        || (sign_off && words.len() <= 4)
        || (sign_off && words.iter().any(|l| is_disclaimer(l.content())))
        || disclaimer_block(lines, block)
}

/// A text block of nothing but a company disclaimer (and the rule or company name over it).
fn disclaimer_block(lines: &[Line], block: Block) -> bool {
    let words: Vec<&Line> = lines[block.start..block.end]
        .iter()
        .filter(|l| !l.is_blank())
        .collect();
    words.iter().any(|l| is_disclaimer(l.content()))
        && words.iter().all(|l| {
            is_disclaimer(l.content())
                || is_rule(l.content())
                || (l.content().chars().count() < 20 && !is_closing(l.content()))
        })
}

/// The quoted paragraph an inline answer under `block` answers: its last paragraph, without
/// attribution or header lines, at most [`MAX_CONTEXT_LINES`].
fn context(lines: &[Line], depth: &[usize], block: Block) -> Option<(usize, String)> {
    let mut start = block.start;
    for i in (block.start..block.end).rev() {
        if is_blank(lines[i].content()) && (i + 1..block.end).any(|j| !is_blank(lines[j].content()))
        {
            start = i + 1;
            break;
        }
    }
    let keep: Vec<usize> = (start..block.end)
        .filter(|&i| {
            let s = lines[i].content();
            !is_blank(s) && !is_attribution(s) && !is_separator(s) && header_field(s).is_none()
        })
        .collect();
    let from = keep.len().saturating_sub(MAX_CONTEXT_LINES);
    let first = *keep.get(from)?;
    let text = keep[from..]
        .iter()
        .map(|&i| quoted_text(&lines[i], depth[i]))
        .collect::<Vec<_>>()
        .join("\n");
    Some((first, text))
}

/// A quoted line as the reply text shows it: with its markers (a wrapped tail gets its line's).
fn quoted_text(line: &Line, depth: usize) -> String {
    if line.depth > 0 {
        line.text.clone()
    } else {
        format!("{} {}", ">".repeat(depth.max(1)), line.content().trim())
    }
}

/// Lines `start..end` as text; pipe-only lines (a rendered table's empty cells) are left out.
fn render(lines: &[Line], depth: &[usize], start: usize, end: usize) -> String {
    lines[start..end]
        .iter()
        .zip(&depth[start..end])
        .filter(|(l, _)| {
            l.is_blank() || !l.content().chars().all(|c| c == '|' || c.is_whitespace())
        })
        .map(|(l, &d)| {
            if d > 0 {
                quoted_text(l, d)
            } else {
                l.text.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Non-empty parts, a blank line between them.
fn join_parts(parts: impl IntoIterator<Item = String>) -> String {
    parts
        .into_iter()
        .map(|p| p.trim_matches('\n').trim_end().to_owned())
        .filter(|p| !is_blank(p))
        .collect::<Vec<_>>()
        .join("\n\n")
}
