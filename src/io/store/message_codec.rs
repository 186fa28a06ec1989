//! How a [`Message`] is kept in `messages` (schema 3): JSON as before, but a text that is already
//! stored is not stored again. The full text is most often the raw mail's body verbatim (a
//! plain 7- or 8-bit part, its CRLF line ends read as LF), and the reply text most often a piece
//! of the full text, so each is kept as a byte range into what holds it whenever it occurs there
//! exactly, and in full otherwise. Reading gives back exactly the message that was written.
//!
//! Still a self-describing map: fields other branches add with `#[serde(default)]` decode as
//! before, and a schema-2 record (full texts, no ranges) decodes unchanged.

use serde::{Deserialize, Serialize};

use crate::domain::message::Message;

/// `[start, len]` in bytes.
type Span = [u64; 2];

#[derive(Serialize)]
struct Out<'a> {
    #[serde(flatten)]
    message: &'a Message,
    /// The full text is `raw[start..start + len]`, with CRLF read as LF when `text_crlf`;
    /// `text` is then stored empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    text_in_raw: Option<Span>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    text_crlf: bool,
    /// The reply text is `text[start..start + len]`; `reply_text` is then stored empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_in_text: Option<Span>,
}

#[derive(Deserialize)]
struct In {
    #[serde(flatten)]
    message: Message,
    #[serde(default)]
    text_in_raw: Option<Span>,
    #[serde(default)]
    text_crlf: bool,
    #[serde(default)]
    reply_in_text: Option<Span>,
}

/// Where `needle` occurs in `hay` (linear time, whatever the input), if it is not empty.
fn find(hay: &[u8], needle: &[u8]) -> Option<Span> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(hay, needle).map(|at| [at as u64, needle.len() as u64])
}

/// The stored bytes of `m`, whose raw mail is `raw`.
pub(super) fn encode(m: &Message, raw: &[u8]) -> serde_json::Result<Vec<u8>> {
    let (mut text_in_raw, mut text_crlf) = (find(raw, m.text.as_bytes()), false);
    // A text without CR whose lines end in CRLF in the mail: reading CRLF as LF gives it back
    // exactly.
    if text_in_raw.is_none() && m.text.contains('\n') && !m.text.contains('\r') {
        text_in_raw = find(raw, m.text.replace('\n', "\r\n").as_bytes());
        text_crlf = text_in_raw.is_some();
    }
    let reply_in_text = find(m.text.as_bytes(), m.reply_text.as_bytes());
    if text_in_raw.is_none() && reply_in_text.is_none() {
        return serde_json::to_vec(&Out {
            message: m,
            text_in_raw,
            text_crlf,
            reply_in_text,
        });
    }
    let mut slim = m.clone();
    if text_in_raw.is_some() {
        slim.text = String::new();
    }
    if reply_in_text.is_some() {
        slim.reply_text = String::new();
    }
    serde_json::to_vec(&Out {
        message: &slim,
        text_in_raw,
        text_crlf,
        reply_in_text,
    })
}

/// Why a stored message cannot be read back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("message {ticket}/{seq}: {what}")]
    Range {
        ticket: u64,
        seq: u32,
        what: &'static str,
    },
}

/// True when the stored bytes need the raw mail to be read (so a reader fetches it only then).
pub(super) fn needs_raw(v: &[u8]) -> bool {
    memchr::memmem::find(v, b"\"text_in_raw\"").is_some()
}

/// The message stored as `v`; `raw` is its raw mail, needed when [`needs_raw`].
pub(super) fn decode(v: &[u8], raw: Option<&[u8]>) -> Result<Message, DecodeError> {
    let In {
        mut message,
        text_in_raw,
        text_crlf,
        reply_in_text,
    } = serde_json::from_slice(v)?;
    let range = |what| DecodeError::Range {
        ticket: message.ticket,
        seq: message.seq,
        what,
    };
    if let Some(span) = text_in_raw {
        let raw = raw.ok_or_else(|| range("its raw mail is missing"))?;
        let text = slice(raw, span).ok_or_else(|| range("its text lies outside its raw mail"))?;
        message.text = if text_crlf {
            text.replace("\r\n", "\n")
        } else {
            text.to_owned()
        };
    }
    if let Some(span) = reply_in_text {
        message.reply_text = slice(message.text.as_bytes(), span)
            .ok_or_else(|| range("its reply text lies outside its text"))?
            .to_owned();
    }
    Ok(message)
}

/// `bytes[start..start + len]` when that is inside and is text.
fn slice(bytes: &[u8], [start, len]: Span) -> Option<&str> {
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    std::str::from_utf8(bytes.get(start..end)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::ThreadedBy;

    fn message(raw: &[u8]) -> Message {
        let inbound = crate::mail::parse::parse(raw).unwrap();
        Message::received(&inbound, 7, 2, ThreadedBy::New, None, chrono::Utc::now())
    }

    fn round_trip(raw: &[u8], m: &Message) -> Vec<u8> {
        let v = encode(m, raw).unwrap();
        let back = decode(&v, needs_raw(&v).then_some(raw)).unwrap();
        assert_eq!(&back, m);
        v
    }

    /// Every mail of the test corpus (GBK, Big5, ISO-2022-JP, HTML only, quoted replies, a DSN)
    /// reads back exactly; a plain 8-bit mail keeps neither text twice.
    #[test]
    fn every_corpus_mail_reads_back_exactly() {
        let mut slim = 0;
        for (path, raw) in crate::fixtures::files("tests/mail") {
            let m = message(&raw);
            let v = round_trip(&raw, &m);
            let plain = serde_json::to_vec(&m).unwrap();
            assert!(v.len() <= plain.len() + 64, "{}", path.display());
            slim += usize::from(v.len() < plain.len());
        }
        assert!(slim > 0, "no corpus mail was kept slimmer");
        let raw = b"From: a@example.com\r\nTo: s@example.com\r\nSubject: hi\r\n\
            Message-ID: <x@example.com>\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: 8bit\r\n\r\n\xe4\xbd\xa0\xe5\xa5\xbd, the printer is down again.\r\n\
            \r\nOn Monday someone wrote:\r\n> old text\r\n";
        let m = message(raw);
        let v = round_trip(raw, &m);
        let stored: serde_json::Value = serde_json::from_slice(&v).unwrap();
        assert!(!m.text.is_empty() && !m.reply_text.is_empty());
        assert_eq!(stored["text"], "", "{stored}");
        assert_eq!(stored["reply_text"], "", "{stored}");
    }

    /// Texts that occur nowhere (edited after parsing), are empty, or occur many times are
    /// kept right; a schema-2 record (full texts, no ranges) and a record with a field this
    /// version does not know decode.
    #[test]
    fn odd_texts_and_old_records() {
        let raw = b"From: a@example.com\r\nSubject: x\r\n\r\nabc abc abc\r\n".as_slice();
        let mut m = message(raw);
        for (text, reply) in [
            ("abc", "abc"),
            ("", ""),
            ("not in the mail", "in the"),
            ("abc abc", "nowhere"),
            ("x\u{0}y", ""),
            ("abc\nabc", "c\na"),
            ("abc\r\nabc", ""),
            ("abc\r\n\nabc", ""),
        ] {
            m.text = text.into();
            m.reply_text = reply.into();
            round_trip(raw, &m);
        }
        let old = serde_json::to_vec(&m).unwrap();
        assert_eq!(decode(&old, None).unwrap(), m);
        let mut v: serde_json::Value = serde_json::from_slice(&old).unwrap();
        v["queue"] = "billing".into();
        assert_eq!(decode(&serde_json::to_vec(&v).unwrap(), None).unwrap(), m);
    }

    /// A megabyte of text, of many short lines, in the mail or not: kept right either way.
    #[test]
    fn huge_texts() {
        let body = "line of a long log\r\n".repeat(50_000);
        let raw = format!("From: a@example.com\r\nSubject: x\r\n\r\n{body}");
        let mut m = message(raw.as_bytes());
        m.text = body.replace("\r\n", "\n");
        m.reply_text = m.text[..1000].to_owned();
        let v = round_trip(raw.as_bytes(), &m);
        assert!(v.len() < 4096);
        m.text.push('!');
        round_trip(raw.as_bytes(), &m);
    }

    /// A forged or damaged record (ranges outside the mail, across a UTF-8 sequence, of absurd
    /// size, or without the raw mail) is an error naming the message, never a panic.
    #[test]
    fn forged_ranges_are_errors() {
        let raw = "From: a@example.com\r\nSubject: x\r\n\r\n你好 there\r\n".as_bytes();
        let m = message(raw);
        let v = encode(&m, raw).unwrap();
        let mut rec: serde_json::Value = serde_json::from_slice(&v).unwrap();
        let body = raw.len() as u64 - 14;
        for span in [
            serde_json::json!([0, raw.len() + 1]),
            serde_json::json!([u64::MAX, 2]),
            serde_json::json!([1, u64::MAX]),
            serde_json::json!([body + 1, 2]),
        ] {
            rec["text_in_raw"] = span.clone();
            let bytes = serde_json::to_vec(&rec).unwrap();
            let e = decode(&bytes, Some(raw)).unwrap_err().to_string();
            assert!(e.contains("7/2"), "{span}: {e}");
        }
        rec["text_in_raw"] = serde_json::json!([0, 1]);
        let e = decode(&serde_json::to_vec(&rec).unwrap(), None).unwrap_err();
        assert!(e.to_string().contains("raw mail is missing"), "{e}");
        rec["text_in_raw"] = "nonsense".into();
        assert!(decode(&serde_json::to_vec(&rec).unwrap(), Some(raw)).is_err());
    }
}
