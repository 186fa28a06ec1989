//! Charsets as a mail client reads them: the declared charset when it fits the bytes, otherwise
//! evidence (UTF-8 validity, ISO-2022 escapes, then chardetng's CJK-aware detection, then the
//! charsets the mail's other parts declare), decoded by `encoding_rs`.
//!
//! Labels are resolved as WHATWG does (so `gb2312` is GBK, `iso-8859-1` is windows-1252, both
//! supersets), plus the Microsoft and Java names mail clients write that WHATWG lacks. UTF-7,
//! which `encoding_rs` refuses, goes to mail-parser's decoder.

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{Encoding, ISO_2022_JP, UTF_8, WINDOWS_1252};
use mail_parser::decoders::charsets::map::charset_decoder;

/// Text decoded from bytes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decoded {
    pub(super) text: String,
    /// Name of the charset used (`encoding_rs`'s, e.g. `GBK`); `US-ASCII` for 7-bit text,
    /// which every ASCII-compatible charset reads alike.
    pub(super) charset: String,
    /// True when the mail's declaration was used; false when the charset was guessed.
    pub(super) declared: bool,
}

/// The `encoding_rs` encoding for a charset label, with the aliases mail uses beyond WHATWG's.
pub(super) fn encoding_for(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches('"').to_ascii_lowercase();
    let alias = match label.as_str() {
        "cp936" | "ms936" | "windows-936" | "x-mac-chinesesimp" | "gb2312-80" => "gbk",
        "cp932" | "ms932" | "windows-31j" | "x-sjis" | "sjis" | "shift-jis" => "shift_jis",
        "cp949" | "ms949" | "uhc" | "ks_c_5601" | "ks_c_5601-1989" => "euc-kr",
        "cp950" | "ms950" | "big5-hkscs" | "big-5" | "x-x-big5" => "big5",
        "utf8" | "utf_8" => "utf-8",
        "ascii" | "ansi_x3.4-1968" | "us-ascii" | "iso646-us" => "windows-1252",
        other => other,
    };
    Encoding::for_label(alias.as_bytes()).filter(|e| *e != encoding_rs::REPLACEMENT)
}

/// Declared charsets that say nothing about 8-bit bytes: 8-bit text under them was mislabelled.
fn is_ascii_label(label: &str) -> bool {
    matches!(
        label.trim().trim_matches('"').to_ascii_lowercase().as_str(),
        "us-ascii" | "ascii" | "ansi_x3.4-1968" | "iso646-us" | "us_ascii"
    )
}

/// Whether `bytes` are 7-bit without ISO-2022 escapes, so any ASCII-compatible charset reads
/// them alike.
fn is_plain_ascii(bytes: &[u8]) -> bool {
    bytes.is_ascii() && !bytes.contains(&0x1b)
}

/// How much of an undeclared text the detector reads.
const DETECT_PREFIX: usize = 64 * 1024;

/// chardetng's guess for `bytes`, given the sender's top-level domain (`cn`, `jp`, ...) when
/// known. ISO-2022-JP is allowed: it is mail's Japanese charset.
pub(super) fn detect(bytes: &[u8], tld: Option<&str>) -> &'static Encoding {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    // A prefix decides as well as the whole (chardetng supports it: `last` stays false when
    // the text goes on), and a multi-megabyte part no longer costs a detector pass per byte.
    let prefix = &bytes[..bytes.len().min(DETECT_PREFIX)];
    detector.feed(prefix, prefix.len() == bytes.len());
    detector.guess(tld_hint(tld).as_deref(), Utf8Detection::Allow)
}

/// A top-level domain in the form chardetng accepts (it panics on anything else).
fn tld_hint(tld: Option<&str>) -> Option<Vec<u8>> {
    let tld = tld?.trim().to_ascii_lowercase();
    (!tld.is_empty()
        && tld
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then(|| tld.into_bytes())
}

/// `bytes` decoded with `encoding`, or `None` when they do not fit it (malformed sequences).
pub(super) fn decode_exact(bytes: &[u8], encoding: &'static Encoding) -> Option<String> {
    let (text, errors) = encoding.decode_without_bom_handling(bytes);
    (!errors).then(|| text.into_owned())
}

/// The guess for text nothing declares: plain ASCII, valid UTF-8, then the detector.
pub(super) fn sniff(bytes: &[u8], tld: Option<&str>) -> Decoded {
    let bytes = strip_utf8_bom(bytes);
    if is_plain_ascii(bytes) {
        return ascii(bytes);
    }
    if bytes.is_ascii() {
        // 7-bit with escapes: ISO-2022-JP is the one ISO-2022 charset mail still uses.
        if let Some(text) = decode_exact(bytes, ISO_2022_JP) {
            return guessed(text, ISO_2022_JP);
        }
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        return guessed(text.to_string(), UTF_8);
    }
    let encoding = detect(bytes, tld);
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    guessed(text.into_owned(), encoding)
}

fn strip_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)
}

fn ascii(bytes: &[u8]) -> Decoded {
    Decoded {
        text: String::from_utf8_lossy(bytes).into_owned(),
        charset: "US-ASCII".into(),
        declared: false,
    }
}

fn guessed(text: String, encoding: &'static Encoding) -> Decoded {
    Decoded {
        text,
        charset: encoding.name().into(),
        declared: false,
    }
}

/// A text part's bytes, read as its declared charset when that fits, else sniffed.
///
/// The declaration loses when the bytes are malformed under it and another reading is clean
/// (a GBK body declared UTF-8), when it is US-ASCII over 8-bit bytes, and when it is a
/// single-byte charset over bytes that are valid multi-byte UTF-8 (clients that label
/// everything ISO-8859-1). An unknown label is as good as none.
pub(super) fn decode_text(bytes: &[u8], declared: Option<&str>, tld: Option<&str>) -> Decoded {
    let Some(label) = declared.filter(|l| !l.trim().is_empty()) else {
        return sniff(bytes, tld);
    };
    if is_plain_ascii(bytes) {
        return Decoded {
            declared: true,
            ..ascii(bytes)
        };
    }
    let Some(encoding) = encoding_for(label) else {
        // UTF-7 and other labels only mail-parser knows.
        if let Some(decode) = charset_decoder(label.trim().as_bytes()) {
            return Decoded {
                text: decode(bytes),
                charset: label.trim().to_ascii_uppercase(),
                declared: true,
            };
        }
        return sniff(bytes, tld);
    };
    if is_ascii_label(label) {
        return sniff(bytes, tld);
    }
    let (text, used, errors) = encoding.decode(bytes);
    let single_byte = used.is_single_byte();
    let valid_utf8 = std::str::from_utf8(strip_utf8_bom(bytes)).is_ok();
    if !(errors || single_byte && valid_utf8) {
        return Decoded {
            text: text.into_owned(),
            charset: used.name().into(),
            declared: true,
        };
    }
    if used == UTF_8 && mostly_utf8(bytes) {
        // Mostly UTF-8 with stray 8-bit bytes (a footer added in Latin-1): each read as what
        // it is.
        return Decoded {
            text: utf8_with_fallback(bytes, WINDOWS_1252),
            charset: used.name().into(),
            declared: true,
        };
    }
    let alternative = sniff(bytes, tld);
    let clean = !alternative.text.contains('\u{fffd}');
    let is_utf8 = alternative.charset == UTF_8.name();
    // A single-byte guess reads anything; it does not overrule a CJK declaration.
    let weaker = !is_utf8
        && !single_byte
        && used != UTF_8
        && encoding_for(&alternative.charset).is_some_and(|e| e.is_single_byte());
    if clean && (is_utf8 || errors && !weaker) {
        return alternative;
    }
    Decoded {
        text: text.into_owned(),
        charset: used.name().into(),
        declared: true,
    }
}

/// Whether the 8-bit bytes of `bytes` are mostly valid multi-byte UTF-8, with a few stray bytes
/// (a footer in Latin-1). GBK text also holds byte pairs that happen to be UTF-8, but most of
/// its 8-bit bytes are not.
fn mostly_utf8(bytes: &[u8]) -> bool {
    let (mut valid, mut invalid) = (0usize, 0usize);
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                valid += text.bytes().filter(|b| !b.is_ascii()).count();
                break;
            }
            Err(e) => {
                let ok = &rest[..e.valid_up_to()];
                valid += ok.iter().filter(|b| !b.is_ascii()).count();
                let len = e.error_len().unwrap_or(rest.len() - e.valid_up_to());
                invalid += len;
                rest = &rest[e.valid_up_to() + len..];
            }
        }
    }
    valid > 0 && invalid * 2 <= valid
}

/// Whether every 8-bit byte of `bytes` stands between 7-bit ones: accented letters of a
/// single-byte charset (`März`), not the byte pairs of a CJK one.
fn isolated_8bit(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .all(|pair| pair[0].is_ascii() || pair[1].is_ascii())
}

/// `bytes` as UTF-8 where they are, the invalid bytes read as `fallback`.
fn utf8_with_fallback(bytes: &[u8], fallback: &'static Encoding) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let len = e.error_len().unwrap_or(after.len());
                out.push_str(&fallback.decode_without_bom_handling(&after[..len]).0);
                rest = &after[len..];
            }
        }
    }
}

/// Below this many 8-bit header bytes a declared multi-byte charset outranks the detector.
const FEW_8BIT_BYTES: usize = 32;

/// How a mail's raw 8-bit header bytes are read: evidence gathered once per mail.
#[derive(Debug, Clone)]
pub(super) struct HeaderCharset {
    /// chardetng's guess over all of the mail's 8-bit header bytes together.
    detected: &'static Encoding,
    /// Charsets the mail's parts declare, other than ASCII and UTF-8, in order.
    declared: Vec<&'static Encoding>,
    tld: Option<String>,
    /// 8-bit bytes the guess was made from: a few CJK characters (a file name) are too few
    /// for the detector to tell GBK from Big5 or EUC-KR, and the declared charset knows better.
    evidence: usize,
}

impl HeaderCharset {
    /// From every raw header line of the mail (its own and its parts') that has 8-bit bytes
    /// and is not UTF-8, the charsets its parts declare, and the sender's top-level domain.
    pub(super) fn new<'a>(
        eight_bit: impl Iterator<Item = &'a [u8]>,
        declared: impl Iterator<Item = &'a str>,
        tld: Option<&str>,
    ) -> HeaderCharset {
        let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
        // Lines read as single-byte anyway (see `decode`) would only blur the CJK guess.
        let mut evidence = 0;
        for line in eight_bit.filter(|line| !isolated_8bit(line)) {
            evidence += line.iter().filter(|b| !b.is_ascii()).count();
            detector.feed(line, false);
            detector.feed(b"\n", false);
        }
        detector.feed(b"", true);
        let hint = tld_hint(tld);
        let mut declared_encodings: Vec<&'static Encoding> = Vec::new();
        for label in declared {
            if let Some(e) = encoding_for(label)
                && e != UTF_8
                && !is_ascii_label(label)
                && !declared_encodings.contains(&e)
            {
                declared_encodings.push(e);
            }
        }
        HeaderCharset {
            detected: detector.guess(hint.as_deref(), Utf8Detection::Allow),
            declared: declared_encodings,
            tld: tld.map(str::to_string),
            evidence,
        }
    }

    /// Raw header bytes as text: UTF-8 when valid, else the first reading without malformed
    /// sequences of: the mail-wide guess, the declared charsets, a guess over these bytes
    /// alone. A single-byte guess (which never fails) yields to a declared multi-byte charset
    /// that reads the bytes cleanly: CJK clients declare their charset on the body and write it
    /// raw into the header too.
    pub(super) fn decode(&self, bytes: &[u8]) -> (String, &'static Encoding) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return (text.to_string(), UTF_8);
        }
        let own = detect(bytes, self.tld.as_deref());
        if isolated_8bit(bytes) {
            let single = if own.is_single_byte() {
                own
            } else {
                WINDOWS_1252
            };
            if let Some(text) = decode_exact(bytes, single) {
                return (text, single);
            }
        }
        let mut candidates: Vec<&'static Encoding> = Vec::new();
        if self.detected.is_single_byte() || self.evidence < FEW_8BIT_BYTES {
            candidates.extend(self.declared.iter().filter(|e| !e.is_single_byte()));
            if !own.is_single_byte() {
                candidates.push(own);
            }
        }
        candidates.push(self.detected);
        candidates.extend(&self.declared);
        candidates.push(own);
        for encoding in candidates {
            if encoding == UTF_8 {
                continue;
            }
            if let Some(text) = decode_exact(bytes, encoding) {
                return (text, encoding);
            }
        }
        let fallback = if self.detected == UTF_8 {
            WINDOWS_1252
        } else {
            self.detected
        };
        let (text, _) = fallback.decode_without_bom_handling(bytes);
        (text.into_owned(), fallback)
    }
}

/// RFC 2047 encoded-words in `value` decoded the way mail clients do when the sender broke the
/// rules: adjacent words of one charset are joined before decoding (a character split across
/// two words), and a word whose bytes do not fit its declared charset is read as
/// [`HeaderCharset`] reads raw bytes. `quote` wraps decoded text that holds address specials in
/// quotes, for address headers. Used when mail-parser's own decoding left U+FFFD.
pub(super) fn decode_words(value: &str, charset: &HeaderCharset, quote: bool) -> String {
    static WORD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"=\?([^?\s]{1,64})\?([BbQq])\?([^?\s]*)\?=").expect("valid regex")
    });
    let mut out = String::new();
    let mut last_end = 0;
    // The run of adjacent words being joined: (charset label, encoding, bytes).
    let mut run: Option<(String, char, Vec<u8>)> = None;
    let flush = |run: &mut Option<(String, char, Vec<u8>)>, out: &mut String| {
        if let Some((label, _, bytes)) = run.take() {
            let label = label.split('*').next().unwrap_or("").to_string();
            let text = encoding_for(&label)
                .and_then(|e| decode_exact(&bytes, e))
                .or_else(|| {
                    (encoding_for(&label).is_none())
                        .then(|| charset_decoder(label.as_bytes()).map(|d| d(&bytes)))
                        .flatten()
                })
                .unwrap_or_else(|| charset.decode(&bytes).0);
            let specials = text.contains([',', ';', '<', '>', '@', ':', '"', '(', ')', '[', ']']);
            if quote && specials {
                out.push('"');
                out.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                out.push('"');
            } else {
                out.push_str(&text);
            }
        }
    };
    for captures in WORD.captures_iter(value) {
        let whole = captures.get(0).expect("match");
        let between = &value[last_end..whole.start()];
        let label = captures[1].to_ascii_lowercase();
        let encoding = captures[2]
            .to_ascii_uppercase()
            .chars()
            .next()
            .unwrap_or('B');
        let bytes = decode_word(&captures[3], encoding);
        let joins = between.trim().is_empty()
            && run
                .as_ref()
                .is_some_and(|(l, e, _)| *l == label && *e == encoding);
        if joins {
            if let Some((_, _, run_bytes)) = run.as_mut() {
                run_bytes.extend(bytes);
            }
        } else {
            flush(&mut run, &mut out);
            // Whitespace between two encoded-words is not text (RFC 2047 §6.2).
            if !(between.trim().is_empty() && last_end > 0) {
                out.push_str(between);
            }
            run = Some((label, encoding, bytes));
        }
        last_end = whole.end();
    }
    flush(&mut run, &mut out);
    out.push_str(&value[last_end..]);
    out
}

/// The bytes of one encoded-word's payload.
fn decode_word(payload: &str, encoding: char) -> Vec<u8> {
    if encoding == 'B' {
        use base64::Engine;
        let trimmed = payload.trim_end_matches('=');
        return base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(trimmed)
            .unwrap_or_default();
    }
    let bytes = payload.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' if i + 2 < bytes.len() + 1
                && bytes
                    .get(i + 1..i + 3)
                    .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
            {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}
