//! Mutations of real mails: what careless clients, broken gateways and attackers send.
//!
//! Each input is a corpus mail with one to three of these applied: byte flips, truncation,
//! splicing of another mail's header fields or MIME parts, a swapped charset label, and huge
//! repeats of a slice (nesting tags, References ids, header fields, boundaries). The generator is
//! a seeded xorshift, so a run is reproducible from its seed.

/// How a mutation changed its mail, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Kind {
    Flip,
    Truncate,
    SpliceHeaders,
    SpliceParts,
    Charset,
    Repeat,
    Hostile,
}

impl Kind {
    pub(crate) const ALL: [Kind; 7] = [
        Kind::Flip,
        Kind::Truncate,
        Kind::SpliceHeaders,
        Kind::SpliceParts,
        Kind::Charset,
        Kind::Repeat,
        Kind::Hostile,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Flip => "byte flips",
            Kind::Truncate => "truncation",
            Kind::SpliceHeaders => "header splicing",
            Kind::SpliceParts => "MIME part splicing",
            Kind::Charset => "charset label swap",
            Kind::Repeat => "huge repeat",
            Kind::Hostile => "known hostile shape",
        }
    }
}

/// A small, fast, seeded generator (xorshift64*); quality is beside the point.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        // splitmix64 of the seed, so seeds 0, 1, 2 give unrelated streams.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Charset labels real mail carries, plus broken ones.
const CHARSETS: &[&str] = &[
    "utf-8",
    "UTF8",
    "gb2312",
    "GBK",
    "gb18030",
    "big5",
    "big5-hkscs",
    "iso-2022-jp",
    "shift_jis",
    "euc-jp",
    "euc-kr",
    "iso-8859-1",
    "iso-8859-15",
    "windows-1252",
    "windows-1251",
    "koi8-r",
    "utf-7",
    "utf-16",
    "utf-16le",
    "utf-32",
    "x-unknown",
    "",
    "\"",
    "utf-8\"; charset=\"gbk",
    "=?utf-8?",
];

/// Slices that cost parsers dearly when repeated: the shapes of known attacks.
const HOSTILE: &[&str] = &[
    "<div></span>",
    "<div>",
    "<table><tr><td>",
    "<b><i><u>",
    "<!--",
    "<p>&amp;&#x4e2d;",
    "<a href=\"",
    " <r@x.example>",
    "\r\nReferences: <a@b>",
    "\r\nReceived: from x by y; Tue, 24 Nov 2026 10:00:00 +0800",
    "\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
    "\r\n--b\r\nContent-Type: text/plain\r\n\r\nx",
    "=?utf-8?B?5L2g5aW9?= ",
    "=?gbk?Q?=C4=E3?=",
    "> ",
    "\r\n> > > quoted",
    "\r\n-----Original Message-----\r\n",
    "\r\n在 2026年11月24日，张三 写道：\r\n",
    "=\r\n",
    "\u{feff}",
    "\r\n\t",
];

/// Largest input made by default (huge repeats stop here).
pub(crate) const MAX_INPUT: usize = 4 << 20;

/// `base` (a corpus mail) mutated by one to three mutations drawn with `rng`, using `other` (a
/// second corpus mail) for splicing, at most `max` bytes; returns the input and its first
/// mutation's kind.
pub(crate) fn mutate(rng: &mut Rng, base: &[u8], other: &[u8], max: usize) -> (Vec<u8>, Kind) {
    let mut data = base.to_vec();
    let rounds = 1 + rng.below(3);
    let mut first = None;
    for _ in 0..rounds {
        let kind = *rng.pick(&Kind::ALL);
        first.get_or_insert(kind);
        data = apply(rng, kind, data, other, max);
        data.truncate(max);
    }
    (data, first.unwrap_or(Kind::Flip))
}

fn apply(rng: &mut Rng, kind: Kind, mut data: Vec<u8>, other: &[u8], max: usize) -> Vec<u8> {
    match kind {
        Kind::Flip => {
            for _ in 0..1 + rng.below(16) {
                if data.is_empty() {
                    break;
                }
                let i = rng.below(data.len());
                data[i] = if rng.chance(2) {
                    data[i] ^ (1 << rng.below(8))
                } else {
                    // Bytes that mean something to a mail parser.
                    *rng.pick(b"\r\n:;=\"<>?-\t \0\x80\xff\x1b")
                };
            }
            data
        }
        Kind::Truncate => {
            let at = rng.below(data.len() + 1);
            data.truncate(at);
            data
        }
        Kind::SpliceHeaders => splice_headers(rng, data, other),
        Kind::SpliceParts => splice_parts(rng, data, other),
        Kind::Charset => swap_charset(rng, data),
        Kind::Repeat => {
            if data.is_empty() {
                return data;
            }
            let start = rng.below(data.len());
            let len = 1 + rng.below(200.min(data.len() - start));
            let slice = data[start..start + len].to_vec();
            let times = repeat_count(rng, slice.len(), max);
            let at = rng.below(data.len() + 1);
            insert_repeated(data, at, &slice, times)
        }
        Kind::Hostile => {
            let slice = rng.pick(HOSTILE).as_bytes();
            let times = repeat_count(rng, slice.len(), max);
            // In the header (References, Received) or the body, wherever it lands.
            let at = rng.below(data.len() + 1);
            insert_repeated(data, at, slice, times)
        }
    }
}

/// Up to half of `max` bytes of repeats, mostly far fewer: a megabyte-sized input costs a
/// thousand small ones, and the small ones find most bugs.
fn repeat_count(rng: &mut Rng, slice_len: usize, max: usize) -> usize {
    let target = match rng.below(100) {
        0..70 => 1 << 10,
        70..95 => 64 << 10,
        95..99 => 512 << 10,
        _ => MAX_INPUT / 2,
    }
    .min(max / 2);
    (target / slice_len.max(1)).max(2)
}

fn insert_repeated(data: Vec<u8>, at: usize, slice: &[u8], times: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + slice.len() * times);
    out.extend_from_slice(&data[..at]);
    for _ in 0..times {
        out.extend_from_slice(slice);
    }
    out.extend_from_slice(&data[at..]);
    out
}

/// Where the header block ends (after the blank line), or the whole length.
fn header_end(data: &[u8]) -> usize {
    find(data, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| find(data, b"\n\n").map(|i| i + 2))
        .unwrap_or(data.len())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Header lines (with their folded continuations) of `data`'s header block.
fn header_fields(data: &[u8]) -> Vec<&[u8]> {
    let head = &data[..header_end(data)];
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < head.len() {
        if head[i] == b'\n' {
            let next = head.get(i + 1).copied();
            if !matches!(next, Some(b' ' | b'\t')) {
                fields.push(&head[start..=i]);
                start = i + 1;
            }
        }
        i += 1;
    }
    fields.retain(|f| f.len() > 2);
    fields
}

/// Another mail's header fields, some repeated, inserted into this one's header; or this header
/// over the other's body.
fn splice_headers(rng: &mut Rng, data: Vec<u8>, other: &[u8]) -> Vec<u8> {
    let theirs = header_fields(other);
    if theirs.is_empty() || rng.chance(4) {
        let mut out = data[..header_end(&data)].to_vec();
        out.extend_from_slice(&other[header_end(other)..]);
        return out;
    }
    let mut mine: Vec<Vec<u8>> = header_fields(&data).iter().map(|f| f.to_vec()).collect();
    let body = data[header_end(&data)..].to_vec();
    for _ in 0..1 + rng.below(8) {
        let f = rng.pick(&theirs).to_vec();
        let copies = if rng.chance(8) {
            1 + rng.below(5000)
        } else {
            1
        };
        let at = rng.below(mine.len() + 1);
        mine.splice(at..at, std::iter::repeat_n(f, copies));
    }
    let mut out: Vec<u8> = mine.concat();
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

/// Boundary delimiter lines (`--…`) of `data`, as (start, end) of each line.
fn delimiters(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in data.iter().enumerate() {
        if *b == b'\n' {
            if data[start..i].starts_with(b"--") {
                out.push((start, i + 1));
            }
            start = i + 1;
        }
    }
    out
}

/// MIME parts moved between mails: a part of `other` inserted at one of this mail's
/// delimiters, a part dropped, or the closing delimiter cut off.
fn splice_parts(rng: &mut Rng, mut data: Vec<u8>, other: &[u8]) -> Vec<u8> {
    let mine = delimiters(&data);
    let theirs = delimiters(other);
    match rng.below(3) {
        0 if theirs.len() >= 2 => {
            let k = rng.below(theirs.len() - 1);
            let part = other[theirs[k].0..theirs[k + 1].0].to_vec();
            let at = mine
                .get(rng.below(mine.len().max(1)))
                .map_or(data.len(), |d| d.0);
            let copies = if rng.chance(6) {
                1 + rng.below(2000)
            } else {
                1
            };
            insert_repeated(data, at, &part, copies)
        }
        1 if mine.len() >= 2 => {
            let k = rng.below(mine.len() - 1);
            data.drain(mine[k].0..mine[k + 1].0);
            data
        }
        _ => {
            if let Some(last) = mine.last() {
                data.truncate(last.0);
            }
            data
        }
    }
}

/// One `charset=` label (or an encoded word's charset) replaced by another.
fn swap_charset(rng: &mut Rng, data: Vec<u8>) -> Vec<u8> {
    let mut spots = Vec::new();
    let lower: Vec<u8> = data.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(i) = find(&lower[from..], b"charset=") {
        let start = from + i + 8;
        spots.push(start);
        from = start;
    }
    from = 0;
    while let Some(i) = find(&data[from..], b"=?") {
        spots.push(from + i + 2);
        from += i + 2;
    }
    if spots.is_empty() {
        return data;
    }
    let start = *rng.pick(&spots);
    let quoted = data.get(start) == Some(&b'"');
    let s = start + usize::from(quoted);
    let end = data[s..]
        .iter()
        .position(|b| matches!(b, b'"' | b';' | b'?' | b'\r' | b'\n' | b' '))
        .map_or(data.len(), |p| s + p);
    let mut out = data[..s].to_vec();
    out.extend_from_slice(rng.pick(CHARSETS).as_bytes());
    out.extend_from_slice(&data[end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: a@b\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=gbk\r\n\r\nhi\r\n--b--\r\n";

    #[test]
    fn mutations_are_reproducible_and_bounded() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..200)
                .map(|_| mutate(&mut rng, MAIL, MAIL, MAX_INPUT).0)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(9).iter().all(|m| m.len() <= MAX_INPUT));
    }

    #[test]
    fn charset_labels_and_parts_are_found() {
        let mut rng = Rng::new(1);
        let swapped = swap_charset(&mut rng, MAIL.to_vec());
        assert_ne!(swapped, MAIL);
        assert_eq!(delimiters(MAIL).len(), 2);
        assert_eq!(header_fields(MAIL).len(), 3);
    }
}
