//! One linear pass over the raw mail before mail-parser sees it: it counts what the parse
//! budgets bound (header fields, MIME parts, nesting) and stops at the first one over, so a
//! hostile mail is refused before anything is allocated for its million parts; and it closes
//! inner multiparts that their sender never terminated.
//!
//! A bounce that wraps an unterminated `multipart/alternative` is the common case: mail-parser
//! then reads the rest of the mail, the delivery report and the returned message included, as
//! one undecoded text part. A delimiter line of an *outer* multipart ends every part inside it
//! (RFC 2046 §5.1.2 says as much for the encapsulation boundary), so the scan inserts the close
//! delimiters the sender left out right before it, and mail-parser parses the repaired copy.

use std::borrow::Cow;

use mail_parser::parsers::MessageStream;

use crate::mail::parse::limits::{Limits, OverBudget};

/// How deep mail-parser itself parses transfer-encoded attached messages.
const MAX_NESTED_ENCODED: usize = 3;

/// Longest Content-Type / Content-Transfer-Encoding value read; real ones are far shorter.
const MAX_FIELD_BYTES: usize = 4096;

/// What the scan found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// The mail with the missing close delimiters inserted, when any were missing.
    pub(super) repaired: Option<Vec<u8>>,
    /// How many inner multiparts were closed at an outer boundary.
    pub(super) closed: usize,
    /// Where the repair inserted text: (offset in the original, length), in order.
    pub(super) inserted: Vec<(usize, usize)>,
}

impl Scan {
    /// The original bytes a slice of the repaired copy stands for (attached messages are kept
    /// as sent, without the repair).
    pub(super) fn original<'r>(
        &self,
        raw: &'r [u8],
        repaired: &[u8],
        slice: &[u8],
    ) -> Option<&'r [u8]> {
        let base = repaired.as_ptr() as usize;
        let start = (slice.as_ptr() as usize).checked_sub(base)?;
        let end = start + slice.len();
        if end > repaired.len() {
            return None;
        }
        let map = |offset: usize| {
            let mut shift = 0;
            for &(at, len) in &self.inserted {
                let here = at + shift;
                if offset < here {
                    break;
                }
                if offset < here + len {
                    return at;
                }
                shift += len;
            }
            offset - shift
        };
        raw.get(map(start)..map(end))
    }
}

/// Counts what the budgets bound, and repairs unterminated inner multiparts.
pub(super) fn scan(raw: &[u8], limits: &Limits) -> Result<Scan, OverBudget> {
    let mut counts = Counts::default();
    let insertions = walk(raw, 0, 0, limits, &mut counts)?;
    let closed = insertions.len();
    let inserted = insertions
        .iter()
        .map(|(at, text)| (*at, text.len()))
        .collect();
    let repaired = (!insertions.is_empty()).then(|| {
        let extra: usize = insertions.iter().map(|(_, text)| text.len()).sum();
        let mut out = Vec::with_capacity(raw.len() + extra);
        let mut at = 0;
        for (offset, text) in insertions {
            out.extend_from_slice(&raw[at..offset]);
            out.extend_from_slice(&text);
            at = offset;
        }
        out.extend_from_slice(&raw[at..]);
        out
    });
    Ok(Scan {
        repaired,
        closed,
        inserted,
    })
}

#[derive(Debug, Default)]
struct Counts {
    header_fields: usize,
    parts: usize,
}

enum Frame {
    Multipart(Vec<u8>),
    Message,
}

/// The header being read: the two fields the structure depends on.
#[derive(Default)]
struct Header {
    content_type: Vec<u8>,
    transfer_encoding: Vec<u8>,
    /// Which of the two the last field line was (for continuation lines).
    current: Option<bool>,
}

impl Header {
    fn line(&mut self, line: &[u8]) {
        let continued = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if !continued {
            self.current = None;
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = line[..colon].trim_ascii();
                if name.eq_ignore_ascii_case(b"content-type") {
                    self.current = Some(true);
                    self.content_type.clear();
                } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
                    self.current = Some(false);
                    self.transfer_encoding.clear();
                } else {
                    return;
                }
                self.push(&line[colon + 1..]);
            }
            return;
        }
        self.push(line);
    }

    fn push(&mut self, value: &[u8]) {
        let target = match self.current {
            Some(true) => &mut self.content_type,
            Some(false) => &mut self.transfer_encoding,
            None => return,
        };
        let room = MAX_FIELD_BYTES.saturating_sub(target.len());
        let value = value.trim_ascii();
        target.push(b' ');
        target.extend_from_slice(&value[..value.len().min(room)]);
    }

    /// (`type/subtype` lower-cased, boundary).
    fn content_type(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        let value = self.content_type.trim_ascii();
        let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
        let ctype = value[..end].trim_ascii().to_ascii_lowercase();
        (ctype, parameter(value, b"boundary"))
    }

    fn encoded(&self) -> Option<bool> {
        let cte = self.transfer_encoding.trim_ascii();
        if cte.eq_ignore_ascii_case(b"base64") {
            Some(true)
        } else if cte.eq_ignore_ascii_case(b"quoted-printable") {
            Some(false)
        } else {
            None
        }
    }
}

/// The value of parameter `name` in a raw Content-Type value, unquoted.
fn parameter(value: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut rest = value;
    while let Some(semicolon) = rest.iter().position(|&b| b == b';') {
        rest = rest[semicolon + 1..].trim_ascii_start();
        let eq = rest.iter().position(|&b| b == b'=')?;
        if !rest[..eq].trim_ascii().eq_ignore_ascii_case(name) {
            continue;
        }
        let after = rest[eq + 1..].trim_ascii_start();
        let found = match after.strip_prefix(b"\"") {
            Some(quoted) => {
                let end = quoted
                    .iter()
                    .position(|&b| b == b'"')
                    .unwrap_or(quoted.len());
                &quoted[..end]
            }
            None => {
                let end = after
                    .iter()
                    .position(|&b| b == b';' || b.is_ascii_whitespace())
                    .unwrap_or(after.len());
                &after[..end]
            }
        };
        return (!found.is_empty()).then(|| found.to_vec());
    }
    None
}

/// What a `--` line is to the open multiparts: (index of the frame, close delimiter?).
fn delimiter(line: &[u8], frames: &[Frame]) -> Option<(usize, bool)> {
    let rest = line.strip_prefix(b"--")?;
    let innermost = frames
        .iter()
        .rposition(|f| matches!(f, Frame::Multipart(_)))?;
    for (index, frame) in frames.iter().enumerate().rev() {
        let Frame::Multipart(boundary) = frame else {
            continue;
        };
        let Some(after) = rest.strip_prefix(boundary.as_slice()) else {
            continue;
        };
        let close = after.starts_with(b"--");
        // The innermost multipart's boundary is matched as mail-parser matches it (a prefix);
        // an outer one only by an exact delimiter line, as it closes what is open inside it.
        let tail = if close { &after[2..] } else { after };
        if index == innermost || tail.trim_ascii().is_empty() {
            return Some((index, close));
        }
    }
    None
}

/// Walks one entity (the mail, or a decoded attached message at `level`), counting into
/// `counts`; returns where close delimiters must be inserted (offset, text) in `raw`.
fn walk(
    raw: &[u8],
    level: usize,
    base_depth: usize,
    limits: &Limits,
    counts: &mut Counts,
) -> Result<Vec<(usize, Vec<u8>)>, OverBudget> {
    let mut insertions = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut in_header = true;
    let mut header = Header::default();
    // Start of the body of a transfer-encoded attached message being skipped over.
    let mut encoded_message: Option<(usize, bool)> = None;
    counts.parts += 1;
    let mut at = 0;
    while at < raw.len() {
        let end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| at + p + 1);
        let line = &raw[at..end];
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        let crlf = line.ends_with(b"\r\n");
        if let Some((index, close)) = delimiter(content, &frames) {
            if let Some((start, base64)) = encoded_message.take() {
                nested(
                    &raw[start..at],
                    base64,
                    level,
                    base_depth + frames.len(),
                    limits,
                    counts,
                )?;
            }
            while frames.len() > index + 1 {
                if let Some(Frame::Multipart(boundary)) = frames.pop() {
                    let mut text = b"--".to_vec();
                    text.extend_from_slice(&boundary);
                    text.extend_from_slice(if crlf { b"--\r\n" } else { b"--\n" });
                    insertions.push((at, text));
                }
            }
            if close {
                frames.pop();
                in_header = false;
            } else {
                counts.parts += 1;
                if counts.parts > limits.max_mime_parts {
                    return Err(limits.mime_parts(counts.parts));
                }
                in_header = true;
                header = Header::default();
            }
        } else if in_header {
            if content.is_empty() {
                in_header = false;
                let (ctype, boundary) = header.content_type();
                match (ctype.as_slice(), boundary) {
                    (t, Some(boundary)) if t.starts_with(b"multipart/") => {
                        frames.push(Frame::Multipart(boundary));
                    }
                    (b"message/rfc822" | b"message/global", _) => match header.encoded() {
                        Some(base64) => encoded_message = Some((end, base64)),
                        None => {
                            // The attached message's own header follows at once.
                            frames.push(Frame::Message);
                            counts.parts += 1;
                            in_header = true;
                        }
                    },
                    _ => {}
                }
                if base_depth + frames.len() > limits.max_mime_depth {
                    return Err(limits.mime_depth(base_depth + frames.len()));
                }
                header = Header::default();
            } else {
                if !content.starts_with(b" ") && !content.starts_with(b"\t") {
                    counts.header_fields += 1;
                    if counts.header_fields > limits.max_header_fields {
                        return Err(limits.header_fields(counts.header_fields));
                    }
                }
                header.line(content);
            }
        }
        at = end;
    }
    if let Some((start, base64)) = encoded_message {
        nested(
            &raw[start..],
            base64,
            level,
            base_depth + frames.len(),
            limits,
            counts,
        )?;
    }
    Ok(insertions)
}

/// Counts inside a transfer-encoded attached message, which mail-parser decodes and parses too.
fn nested(
    body: &[u8],
    base64: bool,
    level: usize,
    depth: usize,
    limits: &Limits,
    counts: &mut Counts,
) -> Result<(), OverBudget> {
    if level + 1 > MAX_NESTED_ENCODED {
        return Ok(());
    }
    let mut stream = MessageStream::new(body);
    let (end, decoded): (usize, Cow<'_, [u8]>) = if base64 {
        stream.decode_base64_mime(b"")
    } else {
        stream.decode_quoted_printable_mime(b"")
    };
    if end == usize::MAX {
        return Ok(());
    }
    walk(&decoded, level + 1, depth + 1, limits, counts).map(|_| ())
}
