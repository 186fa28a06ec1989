//! Attachments: their decoded bytes and a safe file name, RFC 2231 continuations (long
//! GB18030 names) reassembled from the raw header.

use std::collections::HashSet;

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{HeaderName, Message, MessagePart, MimeHeaders};

use crate::mail::inbound::Attachment;
use crate::mail::parse::headers::raw_bytes;
use crate::mail::subject;

/// Longest attachment name kept, in characters; names come from the sender and can be huge.
pub(super) const MAX_NAME_CHARS: usize = 200;

pub(super) fn attachments(msg: &Message<'_>) -> Vec<Attachment> {
    let bodies: HashSet<u32> = msg
        .text_body
        .iter()
        .chain(&msg.html_body)
        .copied()
        .collect();
    // mail-parser lists an inline image of a multipart/mixed (iPhone Mail's "photo in the
    // text") among the body parts too: only text parts are body, an image is an attachment.
    msg.attachments
        .iter()
        .filter_map(|&id| Some((id, msg.parts.get(id as usize)?)))
        .filter(|(id, part)| !(bodies.contains(id) && part.is_text()))
        .map(|(_, part)| part)
        .enumerate()
        .map(|(index, part)| attachment(msg, part, index + 1))
        .collect()
}

/// One attachment; `number` (1-based) names it when the sender gave no name.
pub(super) fn attachment(msg: &Message<'_>, part: &MessagePart<'_>, number: usize) -> Attachment {
    let content_type = part
        .content_type()
        .and_then(|ct| Some(format!("{}/{}", ct.ctype(), ct.subtype()?).to_lowercase()))
        .unwrap_or_else(|| {
            // Parts without Content-Type inside multipart/digest are messages.
            if part.is_message() {
                "message/rfc822"
            } else {
                "application/octet-stream"
            }
            .to_string()
        });
    let is_message = part.is_message() || content_type == "message/rfc822";
    let name = attachment_file_name(msg, part)
        .as_deref()
        .map(clean_file_name)
        .filter(|n| !n.is_empty())
        .or_else(|| {
            let subject = part.message()?.subject().map(clean_file_name)?;
            (!subject.is_empty()).then(|| format!("{subject}.eml"))
        })
        .unwrap_or_else(|| {
            let extension = if is_message { "eml" } else { "bin" };
            format!("attachment-{number}.{extension}")
        });
    // For a nested message this is its raw RFC 5322 bytes, which is what a user wants to open.
    let data = part.contents().to_vec();
    Attachment {
        name,
        content_type,
        size: data.len() as u64,
        data,
    }
}

/// The part's file name: Content-Disposition `filename`, else Content-Type `name`.
///
/// mail-parser decodes RFC 2231 continuations (`filename*0*=GB18030''%B7%A2; filename*1*=...`) one
/// segment at a time and applies the charset to the first segment only, which garbles long CJK
/// names and any character split across segments. Those are reassembled from the raw header here;
/// plain and encoded-word names are left to mail-parser.
pub(super) fn attachment_file_name(msg: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    [
        (HeaderName::ContentDisposition, "filename"),
        (HeaderName::ContentType, "name"),
    ]
    .into_iter()
    .find_map(|(name, param)| {
        let header = part.headers.iter().rev().find(|h| h.name == name)?;
        raw_bytes(msg, header.offset_start, header.offset_end)
            .and_then(|raw| rfc2231_param(&String::from_utf8_lossy(raw), param))
            .or_else(|| {
                let value = header.value.as_content_type()?.attribute(param)?;
                Some(value.to_string())
            })
    })
}

/// The RFC 2231 value of parameter `wanted` (`wanted*=`, `wanted*0*=`, `wanted*1=`, ...) in a raw
/// MIME header value; `None` when the parameter only appears in plain `wanted=` form.
pub(super) fn rfc2231_param(header_value: &str, wanted: &str) -> Option<String> {
    // (segment number, percent-encoded?, value)
    let mut segments: Vec<(u32, bool, String)> = Vec::new();
    for (name, value) in mime_parameters(header_value) {
        let Some(suffix) = name
            .get(..wanted.len())
            .filter(|head| head.eq_ignore_ascii_case(wanted))
            .and_then(|_| name[wanted.len()..].strip_prefix('*'))
        else {
            continue;
        };
        let (number, encoded) = match suffix.strip_suffix('*') {
            Some(number) => (number, true),
            None => (suffix, false),
        };
        let number = if number.is_empty() {
            Some(0)
        } else {
            number.parse().ok()
        };
        if let Some(number) = number {
            segments.push((number, encoded || suffix.is_empty(), value));
        }
    }
    if segments.is_empty() {
        return None;
    }
    segments.sort_by_key(|(number, ..)| *number);

    let mut charset = None;
    let mut bytes = Vec::new();
    for (position, (_, encoded, value)) in segments.iter().enumerate() {
        if !*encoded {
            bytes.extend_from_slice(value.as_bytes());
            continue;
        }
        let mut value = value.as_str();
        // Only the first segment carries `charset'language'`.
        if position == 0
            && let Some((declared, rest)) = value.split_once('\'')
            && let Some((_language, rest)) = rest.split_once('\'')
        {
            charset = Some(declared);
            value = rest;
        }
        bytes.extend(percent_decode(value));
    }
    let decoded = charset
        .and_then(|c| charset_decoder(c.as_bytes()))
        .map(|decode| decode(&bytes))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    Some(decoded)
}

/// The `name=value` parameters of a raw MIME header value (everything after the first `;`),
/// unfolded, with quoted values unquoted.
pub(super) fn mime_parameters(header_value: &str) -> Vec<(String, String)> {
    let unfolded = header_value.replace(['\r', '\n'], "");
    let mut parameters = Vec::new();
    let Some((_, mut rest)) = unfolded.split_once(';') else {
        return parameters;
    };
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        let Some(eq) = rest.find(['=', ';']) else {
            break;
        };
        if rest[eq..].starts_with(';') {
            // A bare token without a value: skip it.
            rest = &rest[eq..];
            continue;
        }
        let name = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.find(';').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            }
        };
        parameters.push((name, value));
        rest = remaining;
    }
    parameters
}

/// The contents of a quoted string (after its opening quote) and what follows its closing quote.
pub(super) fn unquote(quoted: &str) -> (String, &str) {
    let mut value = String::new();
    let mut escaped = false;
    for (at, c) in quoted.char_indices() {
        match c {
            _ if escaped => {
                value.push(c);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => return (value, &quoted[at + 1..]),
            _ => value.push(c),
        }
    }
    (value, "")
}

/// `%XX` escapes to bytes; anything else (including a malformed escape) is kept as is.
pub(super) fn percent_decode(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .filter(|hex| hex.iter().all(u8::is_ascii_hexdigit))
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// A sender-chosen file name made safe to show and to store: no path separators or control
/// characters, bounded length, and nothing that is only dots.
pub(super) fn clean_file_name(name: &str) -> String {
    let cleaned: String = subject::collapse_whitespace(name)
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\') {
                '_'
            } else {
                c
            }
        })
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().all(|c| c == '.') {
        String::new()
    } else {
        cleaned.to_string()
    }
}
