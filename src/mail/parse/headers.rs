//! Headers: subjects, Message-IDs, addresses and dates, including the 8-bit GBK headers old
//! Chinese clients write without declaring a charset.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};
use mail_parser::parsers::MessageStream;
use mail_parser::{Addr, Address, HeaderName, HeaderValue, Message, MimeHeaders};

use crate::mail::mailbox::Mailbox;
use crate::mail::parse::charset::{HeaderCharset, decode_words};
use crate::mail::subject;

/// Every `name` header of the top-level part, raw (lossily decoded, unfolded, trimmed), in order.
/// For headers mail-parser does not type, and for checks that must see every occurrence.
pub(super) fn raw_values<'m>(
    msg: &'m Message<'m>,
    name: &'m str,
) -> impl Iterator<Item = String> + 'm {
    msg.headers()
        .iter()
        .filter(move |h| h.name.as_str().eq_ignore_ascii_case(name))
        .filter_map(|h| raw_bytes(msg, h.offset_start, h.offset_end))
        .map(|bytes| subject::collapse_whitespace(&String::from_utf8_lossy(bytes)))
}

pub(super) fn raw_bytes<'m>(msg: &'m Message<'m>, start: u32, end: u32) -> Option<&'m [u8]> {
    msg.raw_message.get(start as usize..end as usize)
}

/// The last `name` header transcoded to UTF-8, when its raw bytes are not UTF-8 already.
///
/// Old Chinese and Japanese clients put 8-bit GBK or Shift_JIS straight into headers, which
/// mail-parser decodes as lossy UTF-8 (all U+FFFD). Transcoding as [`HeaderCharset`] reads
/// them and letting mail-parser parse the result again recovers them; encoded-words in the
/// same header still work.
pub(super) fn transcode_8bit_header(
    msg: &Message<'_>,
    name: &HeaderName<'_>,
    charset: &HeaderCharset,
) -> Option<String> {
    let header = msg.headers().iter().rev().find(|h| h.name == *name)?;
    let bytes = raw_bytes(msg, header.offset_start, header.offset_end)?;
    if std::str::from_utf8(bytes).is_ok() {
        return None;
    }
    Some(charset.decode(bytes).0)
}

/// The raw bytes of every header field of the mail and its parts that has 8-bit bytes and is
/// not UTF-8: the evidence for [`HeaderCharset`].
pub(super) fn eight_bit_fields<'m>(msg: &'m Message<'m>) -> impl Iterator<Item = &'m [u8]> + 'm {
    msg.parts
        .iter()
        .flat_map(|p| p.headers.iter())
        .filter_map(|h| raw_bytes(msg, h.offset_start, h.offset_end))
        .filter(|b| !b.is_ascii() && std::str::from_utf8(b).is_err())
}

/// Charsets the mail's parts declare, in order.
pub(super) fn declared_charsets<'m>(msg: &'m Message<'m>) -> impl Iterator<Item = &'m str> + 'm {
    msg.parts
        .iter()
        .filter_map(|p| p.content_type()?.attribute("charset"))
}

/// The top-level domain of the From address, read from the raw header (a hint for charset
/// detection: `.jp` mail is likelier Shift_JIS than GBK).
pub(super) fn sender_tld(msg: &Message<'_>) -> Option<String> {
    let header = msg.headers().iter().find(|h| h.name == HeaderName::From)?;
    let raw = raw_bytes(msg, header.offset_start, header.offset_end)?;
    let at = raw.iter().rposition(|&b| b == b'@')?;
    let domain: Vec<u8> = raw[at + 1..]
        .iter()
        .copied()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
        .collect();
    let domain = String::from_utf8(domain).ok()?;
    let tld = domain.rsplit('.').next()?.to_ascii_lowercase();
    (!tld.is_empty() && domain.contains('.')).then_some(tld)
}

pub(super) fn subject_text(msg: &Message<'_>, charset: &HeaderCharset) -> String {
    let subject = match transcode_8bit_header(msg, &HeaderName::Subject, charset) {
        Some(text) => MessageStream::new(text.as_bytes())
            .parse_unstructured()
            .as_text()
            .map(subject::collapse_whitespace),
        None => msg.subject().map(subject::collapse_whitespace),
    }
    .unwrap_or_default();
    if !subject.contains('\u{fffd}') {
        return subject;
    }
    // Encoded-words that split a character or lie about their charset.
    let Some(raw) = last_raw_value(msg, &HeaderName::Subject, charset) else {
        return subject;
    };
    let again = subject::collapse_whitespace(&decode_words(&raw, charset, false));
    if again.matches('\u{fffd}').count() < subject.matches('\u{fffd}').count() {
        again
    } else {
        subject
    }
}

/// The last `name` header's raw value as text (8-bit bytes read as [`HeaderCharset`]).
fn last_raw_value(
    msg: &Message<'_>,
    name: &HeaderName<'_>,
    charset: &HeaderCharset,
) -> Option<String> {
    let header = msg.headers().iter().rev().find(|h| h.name == *name)?;
    let bytes = raw_bytes(msg, header.offset_start, header.offset_end)?;
    Some(charset.decode(bytes).0)
}

/// Message-ID without brackets or whitespace; `None` when absent or empty.
pub(super) fn message_id(msg: &Message<'_>) -> Option<String> {
    msg.message_id()
        .map(clean_id)
        .filter(|id| !id.is_empty())
        .or_else(|| {
            // Ids mail-parser could not read (no brackets, stray text): take the first `<…>`
            // token, or the whole value.
            let raw = raw_values(msg, "Message-ID").last()?;
            let id = bracketed(&raw).into_iter().next().unwrap_or(raw);
            Some(clean_id(&id)).filter(|id| !id.is_empty())
        })
}

/// In-Reply-To or References ids in header order, without brackets, duplicates dropped, at
/// most `max`: the first and the last `max - 1` (RFC 5537 §3.4.4 keeps those when it
/// shortens References). Also returns how many there were.
pub(super) fn message_ids(
    msg: &Message<'_>,
    name: HeaderName<'static>,
    max: usize,
) -> (Vec<String>, usize) {
    // Ids without brackets come back as one Text with spaces in it: split them.
    let split = |id: &str| id.split_whitespace().map(clean_id).collect::<Vec<_>>();
    let ids: Vec<String> = match msg.header(name.clone()) {
        Some(HeaderValue::Text(id)) => split(id),
        Some(HeaderValue::TextList(ids)) => ids.iter().flat_map(|id| split(id)).collect(),
        // Anything else (Empty for ids mail-parser could not read): salvage `<…>` tokens.
        _ => raw_values(msg, name.as_str())
            .last()
            .map(|raw| bracketed(&raw).iter().map(|id| clean_id(id)).collect())
            .unwrap_or_default(),
    };
    // A set, not `Vec::contains`: hostile References headers carry tens of thousands of ids.
    let mut seen = HashSet::new();
    let mut ids: Vec<String> = ids
        .into_iter()
        .filter(|id| !id.is_empty() && seen.insert(id.clone()))
        .collect();
    let found = ids.len();
    if ids.len() > max {
        let tail = ids.split_off(ids.len() - max.saturating_sub(1));
        ids.truncate(usize::from(max > 0));
        ids.extend(tail);
    }
    (ids, found)
}

/// The contents of every `<…>` in `raw`.
pub(super) fn bracketed(raw: &str) -> Vec<String> {
    raw.split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(id, _)| id.to_string()))
        .collect()
}

pub(super) fn clean_id(id: &str) -> String {
    id.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '<' | '>'))
        .collect()
}

/// All mailboxes of the last `name` header, groups flattened.
pub(super) fn mailboxes(
    msg: &Message<'_>,
    name: HeaderName<'static>,
    charset: &HeaderCharset,
) -> Vec<Mailbox> {
    let from_address = |address: &Address<'_>| address.iter().filter_map(mailbox).collect();
    let parse = |text: &str| {
        MessageStream::new(text.as_bytes())
            .parse_address()
            .as_address()
            .map(from_address)
    };
    let found: Vec<Mailbox> = match transcode_8bit_header(msg, &name, charset) {
        Some(text) => parse(&text),
        None => msg
            .header(name.clone())
            .and_then(HeaderValue::as_address)
            .map(from_address),
    }
    .unwrap_or_default();
    let garbled = |list: &[Mailbox]| {
        list.iter()
            .filter_map(|m| m.name.as_deref())
            .map(|n| n.matches('\u{fffd}').count())
            .sum::<usize>()
    };
    if garbled(&found) == 0 {
        return found;
    }
    // Display names in encoded-words that lie about their charset (Shift_JIS as ISO-2022-JP).
    let again = last_raw_value(msg, &name, charset)
        .map(|raw| decode_words(&raw, charset, true))
        .and_then(|text| parse(&text))
        .unwrap_or_default();
    if again.len() == found.len() && garbled(&again) < garbled(&found) {
        again
    } else {
        found
    }
}

pub(super) fn mailbox(addr: &Addr<'_>) -> Option<Mailbox> {
    let address = addr.address()?.trim().to_lowercase();
    if address.is_empty() {
        return None;
    }
    let name = addr
        .name()
        .map(subject::collapse_whitespace)
        .filter(|n| !n.is_empty());
    Some(Mailbox { name, address })
}

/// An address we could send an answer to.
pub(super) fn is_usable(address: &str) -> bool {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !address.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// The first usable address of From, then Sender, then Reply-To, then Return-Path.
pub(super) fn sender(msg: &Message<'_>, charset: &HeaderCharset) -> Option<Mailbox> {
    [HeaderName::From, HeaderName::Sender, HeaderName::ReplyTo]
        .into_iter()
        .flat_map(|name| mailboxes(msg, name, charset))
        .find(|m| is_usable(&m.address))
        .or_else(|| {
            raw_values(msg, "Return-Path")
                .map(|raw| {
                    let address = bracketed(&raw).into_iter().next().unwrap_or(raw);
                    address.trim().to_lowercase()
                })
                .find(|address| is_usable(address))
                .map(|address| Mailbox {
                    name: None,
                    address,
                })
        })
}

/// Date header to UTC; `None` for anything out of range (month 13, 31 February, year 99999).
pub(super) fn to_utc(date: &mail_parser::DateTime) -> Option<DateTime<Utc>> {
    if !date.is_valid() {
        return None;
    }
    let day = NaiveDate::from_ymd_opt(date.year.into(), date.month.into(), date.day.into())?;
    // A leap second (:60) is still that minute.
    let time = NaiveTime::from_hms_opt(
        date.hour.into(),
        date.minute.into(),
        date.second.min(59).into(),
    )?;
    let offset_secs = i32::from(date.tz_hour) * 3600 + i32::from(date.tz_minute) * 60;
    let offset = if date.tz_before_gmt {
        FixedOffset::west_opt(offset_secs)
    } else {
        FixedOffset::east_opt(offset_secs)
    }?;
    offset
        .from_local_datetime(&day.and_time(time))
        .single()
        .map(|local| local.with_timezone(&Utc))
}
