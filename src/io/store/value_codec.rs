//! How the large values are kept in sled (schema 4): the raw mail, tickets and messages are
//! zstd-compressed (level 1), the records with a dictionary of their own JSON, because sled's
//! log holds every value at least twice and the store was 3.8× the raw mail it held.
//!
//! A stored value is `TAG`, a kind byte, the plain length (u32, little-endian) and then the
//! payload: a zstd frame, or the plain bytes themselves when compression would not shrink them.
//! The plain bytes are what schema 3 stored (JSON records, the mail verbatim), so the export,
//! which writes plain values, is unchanged. A ticket or message that is still plain JSON (it
//! starts with `{`, which `TAG` never is) reads as before: a store half-way through its upgrade
//! reads right, and the upgrade can run again after a crash.
//!
//! Decoding never trusts the record: a length above [`MAX_PLAIN`], a frame that does not end
//! exactly at the declared length (truncated, or a bomb that would inflate further) or an
//! unknown kind is an error, and the output buffer is never larger than the declared length.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

/// First byte of every encoded value (not `{`, so plain JSON records stay recognisable).
const TAG: u8 = 0xC4;
/// Header: tag, kind, plain length.
const HEADER: usize = 6;
/// The largest value kept compressed; larger ones are stored plain (no allocation on reading
/// them beyond the value itself). Far above `support.max_message_bytes`' default of 25 MiB.
pub(super) const MAX_PLAIN: usize = 256 * 1024 * 1024;
/// zstd level: on the benchmark's values level 1 compressed within 1 % of level 3 (raw mail
/// 0.616 vs 0.612 of its size, tickets 0.079 vs 0.075, messages 0.147 vs 0.141) and level 6
/// gained 1–2 % more at several times the CPU; the store writes on the ingest path, so the
/// fastest.
const LEVEL: i32 = 1;

/// What a value is, which picks its dictionary. The numbers are on disk: never reuse one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Raw mail: no dictionary (one trained on our generated mail would flatter the benchmark,
    /// not real mail).
    Raw,
    /// A ticket's JSON, with `dict/ticket.zdict`.
    Ticket,
    /// A message's JSON ([`super::message_codec`]), with `dict/message.zdict`.
    Message,
}

/// Payload stored plain.
const STORED: u8 = 0;

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Raw => 1,
            Kind::Ticket => 2,
            Kind::Message => 3,
        }
    }

    /// The dictionary: trained once (`zstd::dict::from_samples`, 16 KiB) on 4,000 records of a
    /// benchmark store with seed 7 (synthetic mail). Frozen: a record written with it can only
    /// be read with exactly these bytes, so a better one would be a new kind.
    fn dictionary(self) -> &'static [u8] {
        match self {
            Kind::Raw => &[],
            Kind::Ticket => include_bytes!("dict/ticket.zdict"),
            Kind::Message => include_bytes!("dict/message.zdict"),
        }
    }

    fn index(self) -> usize {
        self.byte() as usize - 1
    }

    /// True when a plain JSON record of schema 3 or before may still be met.
    fn may_be_plain_json(self) -> bool {
        self != Kind::Raw
    }
}

/// Why a stored value does not decode.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("not an encoded value (first byte {0:#04x})")]
    NotEncoded(u8),
    #[error("shorter than its header")]
    Short,
    #[error("kind {found} where {expected} was expected")]
    Kind { found: u8, expected: u8 },
    #[error("declares {0} bytes, more than the {MAX_PLAIN} a value may hold")]
    TooLarge(usize),
    #[error("declares {declared} bytes but holds {found}")]
    Length { declared: usize, found: usize },
    #[error("compressed data: {0}")]
    Zstd(String),
}

thread_local! {
    static COMPRESSORS: RefCell<[Option<zstd::bulk::Compressor<'static>>; 3]> =
        const { RefCell::new([None, None, None]) };
    static DECOMPRESSORS: RefCell<[Option<zstd::bulk::Decompressor<'static>>; 3]> =
        const { RefCell::new([None, None, None]) };
}

/// The prepared dictionaries, parsed once per process.
fn encoder_dict(kind: Kind) -> &'static zstd::dict::EncoderDictionary<'static> {
    static D: OnceLock<[zstd::dict::EncoderDictionary<'static>; 3]> = OnceLock::new();
    let all = D.get_or_init(|| {
        [Kind::Raw, Kind::Ticket, Kind::Message]
            .map(|k| zstd::dict::EncoderDictionary::copy(k.dictionary(), LEVEL))
    });
    &all[kind.index()]
}

fn decoder_dict(kind: Kind) -> &'static zstd::dict::DecoderDictionary<'static> {
    static D: OnceLock<[zstd::dict::DecoderDictionary<'static>; 3]> = OnceLock::new();
    let all = D.get_or_init(|| {
        [Kind::Raw, Kind::Ticket, Kind::Message]
            .map(|k| zstd::dict::DecoderDictionary::copy(k.dictionary()))
    });
    &all[kind.index()]
}

fn header(kind: u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + len / 2);
    out.push(TAG);
    out.push(kind);
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

/// The stored bytes of `plain`, a value of `kind`.
pub(super) fn encode(kind: Kind, plain: &[u8]) -> Vec<u8> {
    let stored = || {
        let mut out = header(STORED, plain.len());
        out.extend_from_slice(plain);
        out
    };
    if plain.len() > MAX_PLAIN {
        // Stored plain, with the length it really has (a u32 cannot say more than 4 GiB, and
        // reading a stored payload trusts the value's own size, not the header).
        let mut out = header(STORED, 0);
        out.extend_from_slice(plain);
        return out;
    }
    let frame = COMPRESSORS.with(|c| {
        let mut c = c.borrow_mut();
        let slot = &mut c[kind.index()];
        if slot.is_none() {
            *slot = zstd::bulk::Compressor::with_prepared_dictionary(encoder_dict(kind)).ok();
        }
        slot.as_mut()?.compress(plain).ok()
    });
    match frame {
        Some(frame) if frame.len() < plain.len() => {
            let mut out = header(kind.byte(), plain.len());
            out.extend_from_slice(&frame);
            out
        }
        _ => stored(),
    }
}

/// True when `v` is already in this encoding (the upgrade skips it).
pub(super) fn is_encoded(v: &[u8]) -> bool {
    v.first() == Some(&TAG)
}

/// The plain bytes of a stored value of `kind`.
pub(super) fn decode(kind: Kind, v: &[u8]) -> Result<Cow<'_, [u8]>, CodecError> {
    match v.first() {
        None => return Err(CodecError::Short),
        Some(b'{') if kind.may_be_plain_json() => return Ok(Cow::Borrowed(v)),
        Some(&TAG) => {}
        Some(&b) => return Err(CodecError::NotEncoded(b)),
    }
    if v.len() < HEADER {
        return Err(CodecError::Short);
    }
    let declared = u32::from_le_bytes([v[2], v[3], v[4], v[5]]) as usize;
    let payload = &v[HEADER..];
    match v[1] {
        STORED => {
            if declared != payload.len() && !(declared == 0 && payload.len() > MAX_PLAIN) {
                return Err(CodecError::Length {
                    declared,
                    found: payload.len(),
                });
            }
            Ok(Cow::Borrowed(payload))
        }
        b if b == kind.byte() => {
            if declared > MAX_PLAIN {
                return Err(CodecError::TooLarge(declared));
            }
            let out = DECOMPRESSORS.with(|d| {
                let mut d = d.borrow_mut();
                let slot = &mut d[kind.index()];
                if slot.is_none() {
                    *slot = Some(
                        zstd::bulk::Decompressor::with_prepared_dictionary(decoder_dict(kind))
                            .map_err(|e| CodecError::Zstd(e.to_string()))?,
                    );
                }
                let Some(d) = slot.as_mut() else {
                    return Err(CodecError::Zstd("no decompressor".into()));
                };
                // At most `declared` bytes are ever allocated: a frame that would inflate
                // further fails here instead of growing the buffer.
                d.decompress(payload, declared)
                    .map_err(|e| CodecError::Zstd(e.to_string()))
            })?;
            if out.len() != declared {
                return Err(CodecError::Length {
                    declared,
                    found: out.len(),
                });
            }
            Ok(Cow::Owned(out))
        }
        found => Err(CodecError::Kind {
            found,
            expected: kind.byte(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind round-trips every corpus mail and odd sizes (empty, one byte, incompressible).
    #[test]
    fn round_trips() {
        let mut values: Vec<Vec<u8>> = crate::fixtures::files("tests/mail")
            .into_iter()
            .map(|(_, raw)| raw)
            .collect();
        values.push(Vec::new());
        values.push(b"x".to_vec());
        values.push(b"{\"id\":1}".to_vec());
        values.push(
            (0..70_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        );
        values.push(b"log line\r\n".repeat(100_000));
        for kind in [Kind::Raw, Kind::Ticket, Kind::Message] {
            for v in &values {
                let e = encode(kind, v);
                assert!(is_encoded(&e));
                assert!(
                    e.len() <= v.len() + HEADER,
                    "{kind:?}: {} > {}",
                    e.len(),
                    v.len()
                );
                assert_eq!(decode(kind, &e).unwrap().as_ref(), v.as_slice());
            }
        }
        let big = b"log line\r\n".repeat(100_000);
        assert!(encode(Kind::Raw, &big).len() < big.len() / 20);
    }

    /// Plain JSON of schema 3 reads for records, never for raw mail; a value of another kind
    /// is refused (a dictionary mix-up would otherwise decode to garbage).
    #[test]
    fn plain_records_and_kinds() {
        let json = br#"{"id":7,"status":"new"}"#;
        assert_eq!(decode(Kind::Ticket, json).unwrap().as_ref(), json);
        assert_eq!(decode(Kind::Message, json).unwrap().as_ref(), json);
        assert!(matches!(
            decode(Kind::Raw, b"{From: x"),
            Err(CodecError::NotEncoded(b'{'))
        ));
        let t = encode(Kind::Ticket, &json.repeat(20));
        assert!(matches!(
            decode(Kind::Message, &t),
            Err(CodecError::Kind { .. })
        ));
    }

    /// Truncated, bit-flipped, lying and bomb values are errors, never a panic or an
    /// allocation beyond the declared (capped) length.
    #[test]
    fn hostile_values_are_errors() {
        let plain = b"Subject: the printer is down again\r\n\r\n".repeat(200);
        let good = encode(Kind::Raw, &plain);
        assert!(good.len() < plain.len() / 4);
        for cut in [0, 1, 5, 6, 7, good.len() / 2, good.len() - 1] {
            assert!(decode(Kind::Raw, &good[..cut]).is_err(), "cut at {cut}");
        }
        for i in HEADER..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x5A;
            // Never a panic; a flip zstd's checks miss still cannot change the length.
            if let Ok(v) = decode(Kind::Raw, &bad) {
                assert_eq!(v.len(), plain.len());
            }
        }
        // Declares less than the frame inflates to: a bomb stops at the declared size.
        let mut bomb = encode(Kind::Raw, &vec![b'a'; 50 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        bomb[2..6].copy_from_slice(&1024u32.to_le_bytes());
        assert!(decode(Kind::Raw, &bomb).is_err());
        // Declares more than any value may hold.
        bomb[2..6].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode(Kind::Raw, &bomb),
            Err(CodecError::TooLarge(_))
        ));
        // Declares more than the frame holds.
        let mut long = good.clone();
        long[2..6].copy_from_slice(&((plain.len() + 1) as u32).to_le_bytes());
        assert!(decode(Kind::Raw, &long).is_err());
        // A stored payload whose length disagrees with its header.
        let mut stored = encode(Kind::Raw, b"x");
        assert_eq!(stored[1], STORED);
        stored.push(b'y');
        assert!(matches!(
            decode(Kind::Raw, &stored),
            Err(CodecError::Length { .. })
        ));
        assert!(matches!(
            decode(Kind::Raw, &[TAG, 9, 0, 0, 0, 0]),
            Err(CodecError::Kind { .. })
        ));
        assert!(matches!(decode(Kind::Raw, &[]), Err(CodecError::Short)));
    }
}
