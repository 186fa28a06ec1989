//! Attachments: their decoded bytes and a safe file name, RFC 2231 continuations (long
//! GB18030 names) reassembled from the raw header.

use mail_parser::{HeaderName, MessagePart};

use crate::mail::parse::charset::{HeaderCharset, decode_exact, decode_words, encoding_for};
use crate::mail::subject;

/// Longest attachment name kept, in characters; names come from the sender and can be huge.
pub(super) const MAX_NAME_CHARS: usize = 200;

/// The part's file name: Content-Disposition `filename`, else Content-Type `name`, read from the
/// raw header: RFC 2231 values (`filename*0*=GB18030''%B7%A2; filename*1*=...`, which
/// mail-parser decodes one segment at a time) are joined before decoding; raw 8-bit names are
/// read as the mail's other raw headers are ([`HeaderCharset`]); encoded-words are decoded.
pub(super) fn attachment_file_name(
    raw: &[u8],
    part: &MessagePart<'_>,
    charset: &HeaderCharset,
) -> Option<String> {
    [
        (HeaderName::ContentDisposition, "filename"),
        (HeaderName::ContentType, "name"),
    ]
    .into_iter()
    .find_map(|(name, param)| {
        let header = part.headers.iter().rev().find(|h| h.name == name)?;
        let value = raw.get(header.offset_start as usize..header.offset_end as usize)?;
        if let Some((declared, bytes)) = rfc2231_bytes(value, param) {
            let declared = declared.as_deref().and_then(encoding_for);
            return Some(match declared.and_then(|e| decode_exact(&bytes, e)) {
                Some(text) => text,
                None => charset.decode(&bytes).0,
            });
        }
        let (_, bytes) = mime_parameters(value)
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(param))?;
        if bytes.windows(2).any(|w| w == b"=?") {
            // Encoded-words inside a quoted parameter: not allowed, written by everyone.
            return Some(decode_words(&charset.decode(&bytes).0, charset, false));
        }
        Some(charset.decode(&bytes).0)
    })
}

/// The RFC 2231 value of parameter `wanted` (`wanted*=`, `wanted*0*=`, `wanted*1=`, ...) in a raw
/// MIME header value, as (declared charset, bytes); `None` when the parameter only appears in
/// plain `wanted=` form.
pub(super) fn rfc2231_bytes(
    header_value: &[u8],
    wanted: &str,
) -> Option<(Option<String>, Vec<u8>)> {
    // (segment number, percent-encoded?, value)
    let mut segments: Vec<(u32, bool, Vec<u8>)> = Vec::new();
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
            bytes.extend_from_slice(value);
            continue;
        }
        let mut value = value.as_slice();
        // Only the first segment carries `charset'language'`.
        if position == 0
            && let Some(first) = value.iter().position(|&b| b == b'\'')
            && let Some(second) = value[first + 1..].iter().position(|&b| b == b'\'')
        {
            let declared = String::from_utf8_lossy(&value[..first]).trim().to_string();
            charset = (!declared.is_empty()).then_some(declared);
            value = &value[first + second + 2..];
        }
        bytes.extend(percent_decode(value));
    }
    Some((charset, bytes))
}

/// [`rfc2231_bytes`] decoded with the declared charset (UTF-8 when none), for tests and
/// callers without a mail around the value.
#[cfg(test)]
pub(super) fn rfc2231_param(header_value: &str, wanted: &str) -> Option<String> {
    let (charset, bytes) = rfc2231_bytes(header_value.as_bytes(), wanted)?;
    Some(
        charset
            .as_deref()
            .and_then(encoding_for)
            .map(|e| e.decode_without_bom_handling(&bytes).0.into_owned())
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
    )
}

/// The `name=value` parameters of a raw MIME header value (everything after the first `;`),
/// unfolded, with quoted values unquoted; values stay bytes (raw 8-bit names are decoded later).
pub(super) fn mime_parameters(header_value: &[u8]) -> Vec<(String, Vec<u8>)> {
    let unfolded: Vec<u8> = header_value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let mut parameters = Vec::new();
    let Some(semicolon) = unfolded.iter().position(|&b| b == b';') else {
        return parameters;
    };
    let mut rest = &unfolded[semicolon + 1..];
    loop {
        let skip = rest
            .iter()
            .position(|&b| !(b.is_ascii_whitespace() || b == b';'))
            .unwrap_or(rest.len());
        rest = &rest[skip..];
        let Some(eq) = rest.iter().position(|&b| b == b'=' || b == b';') else {
            break;
        };
        if rest[eq] == b';' {
            // A bare token without a value: skip it.
            rest = &rest[eq..];
            continue;
        }
        let name = String::from_utf8_lossy(rest[..eq].trim_ascii()).into_owned();
        let after = rest[eq + 1..].trim_ascii_start();
        let (value, remaining) = match after.strip_prefix(b"\"") {
            Some(quoted) => unquote(quoted),
            None => {
                let end = after.iter().position(|&b| b == b';').unwrap_or(after.len());
                (after[..end].trim_ascii().to_vec(), &after[end..])
            }
        };
        parameters.push((name, value));
        rest = remaining;
    }
    parameters
}

/// The contents of a quoted string (after its opening quote) and what follows its closing quote.
pub(super) fn unquote(quoted: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut value = Vec::new();
    let mut escaped = false;
    for (at, &c) in quoted.iter().enumerate() {
        match c {
            _ if escaped => {
                value.push(c);
                escaped = false;
            }
            b'\\' => escaped = true,
            b'"' => return (value, &quoted[at + 1..]),
            _ => value.push(c),
        }
    }
    (value, b"")
}

/// `%XX` escapes to bytes; anything else (including a malformed escape) is kept as is.
pub(super) fn percent_decode(bytes: &[u8]) -> Vec<u8> {
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

/// A name for a part its sender did not name: the attached message's subject, the part's
/// Content-Description, else one from its type (`image.gif`, `delivery-status.txt`,
/// `message.eml`).
pub(super) fn unnamed(
    content_type: &str,
    description: Option<&str>,
    subject: Option<&str>,
) -> String {
    let extension = extension(content_type);
    if let Some(subject) = subject.map(clean_file_name).filter(|s| !s.is_empty()) {
        return format!("{subject}.{extension}");
    }
    if let Some(description) = description.map(clean_file_name).filter(|d| !d.is_empty()) {
        let has_extension = description.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
        });
        return if has_extension {
            description
        } else {
            format!("{description}.{extension}")
        };
    }
    let (major, minor) = content_type.split_once('/').unwrap_or((content_type, ""));
    let stem = match (major, minor) {
        ("message", "delivery-status" | "global-delivery-status") => "delivery-status",
        ("message", "disposition-notification" | "global-disposition-notification") => {
            "disposition-notification"
        }
        ("message", "feedback-report") => "feedback-report",
        ("text", "rfc822-headers" | "global-headers") => "rfc822-headers",
        ("message", _) => "message",
        ("application", "pgp-signature") => "signature",
        ("application", "pkcs7-signature" | "x-pkcs7-signature") => "smime",
        ("text", "calendar") => "invite",
        ("text", "html") => "message",
        ("image" | "audio" | "video" | "text", _) => major,
        _ => "attachment",
    };
    format!("{stem}.{extension}")
}

/// The usual file extension for a MIME type.
pub(super) fn extension(content_type: &str) -> &'static str {
    let (major, minor) = content_type.split_once('/').unwrap_or((content_type, ""));
    match (major, minor) {
        ("message", "rfc822" | "partial" | "external-body") => "eml",
        ("message", "global") => "u8msg",
        ("message", _) | ("text", "rfc822-headers" | "global-headers" | "plain") => "txt",
        ("text", "html") => "html",
        ("text", "csv") => "csv",
        ("text", "calendar") => "ics",
        ("text", "vcard" | "x-vcard") | ("application", "vcard") => "vcf",
        ("text", "xml") | ("application", "xml") => "xml",
        ("text", _) => "txt",
        ("image", "jpeg" | "jpg" | "pjpeg") => "jpg",
        ("image", "png") => "png",
        ("image", "gif") => "gif",
        ("image", "bmp" | "x-ms-bmp") => "bmp",
        ("image", "tiff") => "tif",
        ("image", "webp") => "webp",
        ("image", "svg+xml") => "svg",
        ("image", "heic") => "heic",
        ("image", _) => "img",
        ("audio", "mpeg") => "mp3",
        ("audio", "wav" | "x-wav") => "wav",
        ("audio", _) => "audio",
        ("video", "mp4") => "mp4",
        ("video", "quicktime") => "mov",
        ("video", _) => "video",
        ("application", "pdf") => "pdf",
        ("application", "zip" | "x-zip-compressed") => "zip",
        ("application", "gzip" | "x-gzip") => "gz",
        ("application", "x-rar-compressed" | "vnd.rar") => "rar",
        ("application", "x-7z-compressed") => "7z",
        ("application", "msword") => "doc",
        ("application", "vnd.ms-excel") => "xls",
        ("application", "vnd.ms-powerpoint") => "ppt",
        ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document") => "docx",
        ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet") => "xlsx",
        ("application", "vnd.openxmlformats-officedocument.presentationml.presentation") => "pptx",
        ("application", "json") => "json",
        ("application", "pgp-signature") => "asc",
        ("application", "pgp-encrypted") => "pgp",
        ("application", "pkcs7-signature" | "x-pkcs7-signature") => "p7s",
        ("application", "pkcs7-mime" | "x-pkcs7-mime") => "p7m",
        ("application", "ics") => "ics",
        _ => "bin",
    }
}

/// Makes `name` unique among `taken` (`image.gif`, `image-2.gif`, ...). Linear in `taken`: a
/// fuzz input of 1,000 parts of one name cost 400 ms when each candidate was searched for in
/// the list (cubic).
pub(super) fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    let taken: std::collections::HashSet<&str> = taken.iter().map(String::as_str).collect();
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    (2..)
        .map(|n| format!("{stem}-{n}{ext}"))
        .find(|candidate| !taken.contains(candidate.as_str()))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::unique;

    #[test]
    fn a_thousand_parts_of_one_name_get_a_thousand_names() {
        let mut taken: Vec<String> = Vec::new();
        for _ in 0..1000 {
            let name = unique("image.gif".to_owned(), &taken);
            taken.push(name);
        }
        assert_eq!(taken[0], "image.gif");
        assert_eq!(taken[1], "image-2.gif");
        assert_eq!(taken[999], "image-1000.gif");
        let distinct: std::collections::HashSet<&String> = taken.iter().collect();
        assert_eq!(distinct.len(), 1000);
        assert_eq!(unique("notes".to_owned(), &["notes".to_owned()]), "notes-2");
    }
}
