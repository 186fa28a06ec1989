//! Every MIME leaf accounted for: walking mail-parser's part tree, each leaf becomes text we
//! show or an attachment, nothing disappears.
//!
//! - `multipart/alternative`: the richest faithful version, plain text when it carries the
//!   words of the HTML, the HTML otherwise; whatever else the versions hold (the images of a
//!   `multipart/related`, a calendar invitation) is kept as attachments.
//! - `multipart/related`: its root (the `start` parameter, else the first part) is the body,
//!   the rest attachments marked inline, their Content-IDs kept so `cid:` images make sense.
//! - `multipart/mixed` and everything else (`report`, `signed`, `digest`, unknown): every text
//!   part shown in order, each after the first marked `[part N]`; inline images in between
//!   shown as `[image: name]` and kept as attachments; other parts attachments.
//!
//! mail-parser stays the parser of record for the structure; text bytes are decoded here
//! ([`charset`](super::charset)) so a missing or wrong charset declaration can be corrected.

use std::borrow::Cow;
use std::collections::HashMap;

use mail_parser::parsers::MessageStream;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};

use crate::mail::inbound::Attachment;
use crate::mail::parse::attachments::{attachment_file_name, clean_file_name, unique, unnamed};
use crate::mail::parse::body::{Segment, tidy_text};
use crate::mail::parse::charset::{Decoded, HeaderCharset, decode_text};
use crate::mail::parse::headers::subject_text;
use crate::mail::parse::html::{OverWork, html_to_text};
use crate::mail::parse::limits::Limits;
use crate::mail::parse::scan::Scan;

/// What the walk found.
#[derive(Debug, Default)]
pub(super) struct Walked {
    pub(super) segments: Vec<Segment>,
    pub(super) attachments: Vec<Attachment>,
    /// Things the parser degraded on, for the message's notes.
    pub(super) notes: Vec<String>,
}

pub(super) struct Walker<'a, 'm> {
    msg: &'a Message<'m>,
    /// The mail as received, and the scan that may have repaired the copy `msg` was parsed from.
    original: &'a [u8],
    scan: &'a Scan,
    limits: &'a Limits,
    charset: &'a HeaderCharset,
    tld: Option<&'a str>,
    /// HTML rendering work left for this mail.
    html_work: u64,
    /// Content-ID → attachment name, for `[image: name]` of `cid:` images.
    images: HashMap<String, String>,
    /// Boundaries of the multiparts around the part being walked.
    boundaries: Vec<String>,
    /// Parts already walked. mail-parser can give a mutated structure a multipart whose
    /// children include itself or its parent (its release build skips the `debug_assert!` that
    /// catches this), and walking that graph as a tree is exponential: a 42 KB digest found by
    /// `supportd fuzz` ran for hours under the depth limit. Each part is walked once.
    walked: Vec<bool>,
    out: Walked,
}

/// The part's `type/subtype`, lower-cased; text/plain when it has none (RFC 2045 §5.2), except
/// inside multipart/digest, where it is message/rfc822.
fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_lowercase(),
            None if ct.ctype().eq_ignore_ascii_case("text") => "text/plain".into(),
            None => format!("{}/octet-stream", ct.ctype()).to_lowercase(),
        },
        None if part.is_message() => "message/rfc822".into(),
        None => "text/plain".into(),
    }
}

fn is_attachment_disposition(part: &MessagePart<'_>) -> bool {
    part.content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
}

fn content_id(part: &MessagePart<'_>) -> Option<String> {
    part.content_id()
        .map(|id| id.trim().trim_matches(['<', '>']).trim().to_string())
        .filter(|id| !id.is_empty())
}

/// Tokens for comparing two versions of a text: ASCII words and single CJK characters, with
/// link targets and image placeholders left out (plain versions often drop them).
fn words(text: &str) -> std::collections::HashSet<String> {
    let mut out = std::collections::HashSet::new();
    let mut word = String::new();
    let mut skip = 0usize;
    for c in text.chars() {
        match c {
            '<' => skip += 1,
            '>' => skip = skip.saturating_sub(1),
            _ => {}
        }
        if skip > 0 {
            continue;
        }
        if c.is_alphanumeric() && (c.is_ascii() || (c as u32) < 0x2E80) {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            out.insert(std::mem::take(&mut word));
        }
        if c.is_alphanumeric() {
            out.insert(c.to_string());
        }
    }
    if !word.is_empty() {
        out.insert(word);
    }
    out.remove("image");
    out
}

/// Whether `plain` carries the words of `rich` (at least 90 % of them).
fn faithful(plain: &str, rich: &str) -> bool {
    let (plain, rich) = (words(plain), words(rich));
    if rich.is_empty() {
        return true;
    }
    let found = rich.iter().filter(|w| plain.contains(*w)).count();
    found * 10 >= rich.len() * 9
}

fn segments_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text { text, .. } => text.as_str(),
            Segment::Image(_) => "",
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl<'a, 'm> Walker<'a, 'm> {
    pub(super) fn new(
        msg: &'a Message<'m>,
        original: &'a [u8],
        scan: &'a Scan,
        limits: &'a Limits,
        charset: &'a HeaderCharset,
        tld: Option<&'a str>,
    ) -> Walker<'a, 'm> {
        Walker {
            msg,
            original,
            scan,
            limits,
            charset,
            tld,
            html_work: limits.max_html_work,
            images: HashMap::new(),
            boundaries: Vec::new(),
            walked: vec![false; msg.parts.len()],
            out: Walked::default(),
        }
    }

    pub(super) fn walk(mut self) -> Walked {
        self.collect_image_names();
        if !self.msg.parts.is_empty() {
            self.part(0, Context::Mixed, 0);
        }
        self.out
    }

    /// Content-ID → name of every part that has one, before any HTML is rendered.
    fn collect_image_names(&mut self) {
        let mut taken = Vec::new();
        for part in &self.msg.parts {
            if let Some(id) = content_id(part) {
                let name = self.name_of(part, &content_type(part), &mut taken);
                self.images.insert(id, name);
            }
        }
    }

    fn part(&mut self, id: usize, context: Context, depth: usize) {
        let Some(part) = self.msg.parts.get(id) else {
            return;
        };
        if std::mem::replace(&mut self.walked[id], true) {
            return;
        }
        let ctype = content_type(part);
        match &part.body {
            PartType::Multipart(children) if depth <= self.limits.max_mime_depth => {
                let children: Vec<usize> = children.iter().map(|&c| c as usize).collect();
                let subtype = ctype.split_once('/').map_or("", |(_, s)| s).to_string();
                let boundary = part
                    .content_type()
                    .and_then(|ct| ct.attribute("boundary"))
                    .unwrap_or("")
                    .to_string();
                self.boundaries.push(boundary);
                match subtype.as_str() {
                    "alternative" => self.alternative(&children, depth),
                    "related" => self.related(part, &children, depth),
                    _ => {
                        for child in children {
                            self.part(child, Context::Mixed, depth + 1);
                        }
                    }
                }
                self.boundaries.pop();
            }
            PartType::Multipart(_) => {}
            PartType::Text(_) | PartType::Html(_)
                if matches!(ctype.as_str(), "text/plain" | "text/html")
                    && !is_attachment_disposition(part)
                    && (context != Context::Resource)
                    && (self.out.segments.is_empty() || !self.has_file_name(part)) =>
            {
                self.text_part(part, ctype == "text/html");
            }
            _ => {
                let inline = context == Context::Resource
                    || (!is_attachment_disposition(part)
                        && (ctype.starts_with("image/") || content_id(part).is_some()));
                let attachment = self.attachment(part, &ctype, inline);
                if inline && context == Context::Mixed && ctype.starts_with("image/") {
                    self.out
                        .segments
                        .push(Segment::Image(attachment.name.clone()));
                }
                self.out.attachments.push(attachment);
            }
        }
    }

    fn has_file_name(&self, part: &MessagePart<'_>) -> bool {
        part.attachment_name().is_some_and(|n| !n.trim().is_empty())
    }

    fn alternative(&mut self, children: &[usize], depth: usize) {
        // Each version walked on its own, then one chosen; attachments of all are kept.
        let mut versions: Vec<(usize, Walked)> = Vec::new();
        for &child in children {
            let saved = std::mem::take(&mut self.out);
            self.part(child, Context::Mixed, depth + 1);
            let walked = std::mem::replace(&mut self.out, saved);
            versions.push((child, walked));
        }
        let has_text = |w: &Walked| {
            w.segments
                .iter()
                .any(|s| matches!(s, Segment::Text { text, .. } if !text.trim().is_empty()))
        };
        let is_html = |w: &Walked| {
            w.segments
                .iter()
                .any(|s| matches!(s, Segment::Text { html: true, .. }))
        };
        let plain = versions
            .iter()
            .position(|(_, w)| has_text(w) && !is_html(w));
        let rich = versions
            .iter()
            .rposition(|(_, w)| has_text(w) && is_html(w));
        let chosen = match (plain, rich) {
            (Some(p), Some(r)) => {
                let plain_text = segments_text(&versions[p].1.segments);
                let rich_text = segments_text(&versions[r].1.segments);
                if faithful(&plain_text, &rich_text) {
                    p
                } else {
                    r
                }
            }
            (Some(p), None) => p,
            (None, Some(r)) => r,
            (None, None) => versions.iter().rposition(|(_, w)| has_text(w)).unwrap_or(0),
        };
        for (index, (_, walked)) in versions.into_iter().enumerate() {
            if index == chosen {
                self.out.segments.extend(walked.segments);
            }
            self.out.attachments.extend(walked.attachments);
            self.out.notes.extend(walked.notes);
        }
    }

    fn related(&mut self, part: &MessagePart<'_>, children: &[usize], depth: usize) {
        let start = part
            .content_type()
            .and_then(|ct| ct.attribute("start"))
            .map(|s| s.trim().trim_matches(['<', '>']).to_string());
        let root = start
            .and_then(|start| {
                children.iter().position(|&c| {
                    self.msg
                        .parts
                        .get(c)
                        .and_then(content_id)
                        .is_some_and(|id| id == start)
                })
            })
            .unwrap_or(0);
        for (index, &child) in children.iter().enumerate() {
            let context = if index == root {
                Context::Mixed
            } else {
                Context::Resource
            };
            self.part(child, context, depth + 1);
        }
    }

    /// The transfer-decoded bytes of a leaf.
    fn bytes(&self, part: &'a MessagePart<'m>) -> Cow<'a, [u8]> {
        let raw = self.msg.raw_message.as_ref();
        let body = raw
            .get(part.offset_body as usize..part.offset_end as usize)
            .filter(|_| !part.is_encoding_problem);
        let decoded = body.and_then(|body| {
            let mut stream = MessageStream::new(body);
            let (end, bytes) = match part.encoding {
                Encoding::Base64 => stream.decode_base64_mime(b""),
                Encoding::QuotedPrintable => stream.decode_quoted_printable_mime(b""),
                Encoding::None => return Some(Cow::Borrowed(body)),
            };
            (end != usize::MAX).then(|| Cow::Owned(bytes.into_owned()))
        });
        decoded.unwrap_or_else(|| Cow::Borrowed(part.contents()))
    }

    fn text_part(&mut self, part: &'a MessagePart<'m>, html: bool) {
        let bytes = self.bytes(part);
        let declared = part
            .content_type()
            .and_then(|ct| ct.attribute("charset"))
            .map(str::to_string)
            .or_else(|| html.then(|| meta_charset(&bytes)).flatten());
        let decoded = decode_text(&bytes, declared.as_deref(), self.tld);
        let text = if html {
            match html_to_text(
                &decoded.text,
                &self.images,
                self.html_work,
                self.limits.max_text_bytes,
            ) {
                Ok((text, work)) => {
                    self.html_work = self.html_work.saturating_sub(work);
                    text
                }
                Err(OverWork) => {
                    self.html_work = 0;
                    self.out.notes.push(
                        "HTML shown tag-stripped: rendering it would cost more than parse.max_html_work"
                            .into(),
                    );
                    mail_parser::decoders::html::html_to_text(&decoded.text)
                }
            }
        } else {
            decoded.text.clone()
        };
        let text = tidy_text(&text.replace('\u{a0}', " "));
        self.out.segments.push(Segment::Text {
            text,
            html,
            decoded: Decoded {
                text: String::new(),
                ..decoded
            },
        });
    }

    fn name_of(&self, part: &MessagePart<'_>, ctype: &str, taken: &mut Vec<String>) -> String {
        let raw = self.msg.raw_message.as_ref();
        let given = attachment_file_name(raw, part, self.charset)
            .as_deref()
            .map(clean_file_name)
            .filter(|n| !n.is_empty());
        let name = given.unwrap_or_else(|| {
            let subject = part
                .message()
                .map(|m| subject_text(m, self.charset))
                .filter(|s| !s.is_empty());
            let description = part.content_description();
            unique(unnamed(ctype, description, subject.as_deref()), taken)
        });
        taken.push(name.clone());
        name
    }

    fn attachment(&mut self, part: &'a MessagePart<'m>, ctype: &str, inline: bool) -> Attachment {
        let mut taken: Vec<String> = self
            .out
            .attachments
            .iter()
            .map(|a| a.name.clone())
            .collect();
        let id = content_id(part);
        let name = match id.as_ref().and_then(|id| self.images.get(id)) {
            Some(name) => name.clone(),
            None => self.name_of(part, ctype, &mut taken),
        };
        // For a nested message this is its raw RFC 5322 bytes, which is what a user wants to
        // open; for text, the bytes as sent (a CSV stays in its charset).
        let data = match &part.body {
            PartType::Message(_) => {
                let data = cut_at_boundary(part.contents(), &self.boundaries);
                let as_sent = self
                    .scan
                    .repaired
                    .as_deref()
                    .and_then(|repaired| self.scan.original(self.original, repaired, data));
                as_sent.unwrap_or(data).to_vec()
            }
            _ => self.bytes(part).into_owned(),
        };
        Attachment {
            name,
            content_type: ctype.to_string(),
            size: data.len() as u64,
            data,
            content_id: id,
            inline,
        }
    }
}

/// Where a part sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// Shown in order (multipart/mixed, a related root, the mail itself).
    Mixed,
    /// A resource of a multipart/related: an attachment, inline.
    Resource,
}

/// The charset an HTML document declares in `<meta>` (within its first 2 KB).
fn meta_charset(bytes: &[u8]) -> Option<String> {
    let head = &bytes[..bytes.len().min(2048)];
    let lower = head.to_ascii_lowercase();
    let at = lower.windows(8).position(|w| w == b"charset=")?;
    let value: Vec<u8> = lower[at + 8..]
        .iter()
        .copied()
        .skip_while(|&b| b == b'"' || b == b'\'' || b == b' ')
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        .collect();
    (!value.is_empty()).then(|| String::from_utf8_lossy(&value).into_owned())
}

/// `data` up to the first delimiter line of one of `boundaries`. mail-parser ends an attached
/// message that is the last part of its multipart after the multipart's close delimiter, so
/// the `.eml` would carry the enclosing boundaries.
fn cut_at_boundary<'d>(data: &'d [u8], boundaries: &[String]) -> &'d [u8] {
    let mut at = 0;
    while at < data.len() {
        let end = data[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |p| at + p + 1);
        let line = &data[at..end];
        let is_delimiter = line.strip_prefix(b"--").is_some_and(|rest| {
            boundaries
                .iter()
                .any(|b| !b.is_empty() && rest.starts_with(b.as_bytes()))
        });
        if is_delimiter {
            let before = &data[..at];
            let before = before.strip_suffix(b"\n").unwrap_or(before);
            return before.strip_suffix(b"\r").unwrap_or(before);
        }
        at = end;
    }
    data
}
