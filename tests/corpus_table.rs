//! The parser over every mail of the real-world corpus: each MIME leaf is accounted for (shown
//! as text or kept as an attachment) and nothing is decoded to U+FFFD where a correct decoding
//! exists, except the files listed in [`EXPECTED`] with the reason.
//!
//! The MIME structure is read here by a small walker of our own, independent of mail-parser, so
//! a part mail-parser loses shows up as a leaf nobody accounted for.
//!
//! Which corpus: always the copies under `tests/corpus/` (permissively licensed or already in
//! the project); also `../shared/corpus/` (or `$SUPPORTD_CORPUS`) when it is there, for the
//! folders whose licence keeps them out of the repository (Zammad, Kopano, OTOBO) and the
//! Chinese list archives. `SUPPORTD_CORPUS_REPORT=1` prints one line per file and the totals (the
//! README's figures).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use supportd::mail::inbound::Inbound;
use supportd::mail::parse::parse;

/// Files where the expected outcome differs from "every leaf accounted, no U+FFFD", and why.
/// Keyed by the path below the corpus root.
const EXPECTED: &[(&str, Expect, &str)] = &[
    (
        "cpython/msg_15.txt",
        Expect::Unaccounted,
        "the inner multipart reuses the outer boundary: the structure is ambiguous",
    ),
    (
        "cpython/msg_33.txt",
        Expect::Unaccounted,
        "multipart/signed whose boundary never appears: mail-parser keeps it as one text part",
    ),
    (
        "stalwart-mail-parser/malformed/017.eml",
        Expect::Unaccounted,
        "deliberately malformed nesting; mail-parser and the walker read it differently",
    ),
    (
        "sisimai/bsd/rfc3464-35.eml",
        Expect::Unaccounted,
        "a delimiter line indented by a space: mail-parser takes it as a delimiter, the walker not",
    ),
    (
        "otobo/EmailParser/UTF8Filename.box",
        Expect::Unaccounted,
        "the PDF's base64 has a `---SNIPS---` line: kept as sent, undecoded",
    ),
    (
        "stalwart-mail-parser/rfc/000.eml",
        Expect::Unaccounted,
        "placeholder text instead of base64 (RFC example): kept as sent, undecoded",
    ),
    (
        "zammad/mail062.box",
        Expect::Unaccounted,
        "truncated base64 in two video parts: the decoders stop at different bytes",
    ),
    (
        "otobo/EmailParser/PostMaster-Test17.box",
        Expect::Replacement,
        "the source itself holds U+FFFD (\"Some wront encoding\")",
    ),
    (
        "sisimai/bsd/lhost-postfix-64.eml",
        Expect::Unaccounted,
        "anonymised: the report's close delimiter is not its boundary, so the returned message ends \
         a line earlier here than in the walker",
    ),
    (
        "sisimai/bsd/rhost-franceptt-06.eml",
        Expect::Unaccounted,
        "anonymised: the report's close delimiter is not its boundary (as lhost-postfix-64)",
    ),
    (
        "sisimai/bsd/lhost-exchange2007-03.eml",
        Expect::Unaccounted,
        "the returned message holds quoted-printable MIME headers of a truncated mail; the two \
         readings end it at different lines",
    ),
    (
        "stalwart-mail-parser/thirdparty/015.eml",
        Expect::Unaccounted,
        "attached messages with unterminated inner multiparts whose boundaries carry trailing \
         spaces; the two readings end them at different lines",
    ),
    (
        "zammad/mail020.box",
        Expect::Unaccounted,
        "spam of random characters and entities: the word comparison cannot match (it is shown)",
    ),
    (
        "zammad/mail021.box",
        Expect::Unaccounted,
        "spam of random characters and entities, as mail020",
    ),
    (
        "otobo/EmailParser/EmptyEmail.eml",
        Expect::Unaccounted,
        "a one-byte attachment decoders read differently",
    ),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
enum Expect {
    /// U+FFFD is the right decoding: the bytes are broken in the source.
    Replacement,
    /// A leaf is not accounted for, for the reason given.
    Unaccounted,
    /// Both.
    Both,
}

// ---- a MIME walker of our own ---------------------------------------------------------------

#[derive(Debug, Clone)]
struct Leaf {
    /// `type/subtype`, lower case.
    ctype: String,
    charset: Option<String>,
    /// Transfer-decoded bytes.
    data: Vec<u8>,
    attachment_disposition: bool,
    /// Index of the multipart/alternative this leaf belongs to (directly or below), if any.
    alternative: Option<usize>,
}

struct Walker {
    leaves: Vec<Leaf>,
    alternatives: usize,
}

fn split_header(raw: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    loop {
        let line_end = raw[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |p| at + p + 1);
        let line = &raw[at..line_end];
        if line == b"\n" || line == b"\r\n" {
            return (&raw[..at], &raw[line_end..]);
        }
        if line_end >= raw.len() {
            return (raw, &[]);
        }
        at = line_end;
    }
}

/// Unfolded header fields as (lower-case name, value).
fn fields(header: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(header);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_lowercase(), value.trim().to_string()));
        }
    }
    out
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn param(value: &str, name: &str) -> Option<String> {
    for p in value.split(';').skip(1) {
        let Some((n, v)) = p.split_once('=') else {
            continue;
        };
        if n.trim().eq_ignore_ascii_case(name) {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

fn lines(body: &[u8]) -> Vec<&[u8]> {
    body.split_inclusive(|&b| b == b'\n').collect()
}

fn is_delimiter(line: &[u8], boundary: &str) -> Option<bool> {
    let line = line.trim_ascii_end();
    let rest = line
        .strip_prefix(b"--")?
        .strip_prefix(boundary.as_bytes())?;
    match rest {
        b"" => Some(false),
        b"--" => Some(true),
        _ => None,
    }
}

impl Walker {
    /// Walks the entity `raw`; returns how many bytes of `raw` it used (it stops at a delimiter
    /// line of one of `outer`).
    fn entity(&mut self, raw: &[u8], outer: &[String], alternative: Option<usize>, depth: usize) {
        if depth > 60 {
            return;
        }
        let (header, body) = split_header(raw);
        let fields = fields(header);
        let ctype_value = field(&fields, "content-type").unwrap_or("text/plain");
        let ctype = ctype_value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_lowercase();
        let ctype = if ctype.contains('/') {
            ctype
        } else {
            "text/plain".into()
        };
        if let (true, Some(boundary)) = (
            ctype.starts_with("multipart/"),
            param(ctype_value, "boundary"),
        ) {
            let alternative = if ctype == "multipart/alternative" {
                self.alternatives += 1;
                Some(self.alternatives)
            } else {
                alternative
            };
            let mut parts: Vec<Vec<u8>> = Vec::new();
            let mut current: Option<Vec<u8>> = None;
            'lines: for line in lines(body) {
                match is_delimiter(line, &boundary) {
                    Some(close) => {
                        if let Some(part) = current.take() {
                            parts.push(part);
                        }
                        if close {
                            break;
                        }
                        current = Some(Vec::new());
                        continue;
                    }
                    None => {
                        for o in outer {
                            if is_delimiter(line, o).is_some() {
                                break 'lines;
                            }
                        }
                    }
                }
                if let Some(part) = current.as_mut() {
                    part.extend_from_slice(line);
                }
            }
            if let Some(part) = current.take() {
                parts.push(part);
            }
            let mut outer = outer.to_vec();
            outer.push(boundary);
            for part in parts {
                self.entity(&part, &outer, alternative, depth + 1);
            }
            return;
        }
        let encoding = field(&fields, "content-transfer-encoding")
            .unwrap_or("")
            .to_lowercase();
        let data = match encoding.as_str() {
            "base64" => base64(body),
            "quoted-printable" => quoted_printable(body),
            _ => body.to_vec(),
        };
        let disposition = field(&fields, "content-disposition").unwrap_or("");
        self.leaves.push(Leaf {
            charset: param(ctype_value, "charset"),
            ctype,
            data,
            attachment_disposition: disposition
                .trim_start()
                .to_lowercase()
                .starts_with("attachment"),
            alternative,
        });
    }
}

fn base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'=' {
            let next = &body[i + 1..];
            if next.starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if next.starts_with(b"\n") {
                i += 2;
                continue;
            }
            if next.len() >= 2
                && let Ok(v) = u8::from_str_radix(&String::from_utf8_lossy(&next[..2]), 16)
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

fn leaves(raw: &[u8]) -> Vec<Leaf> {
    let mut w = Walker {
        leaves: Vec::new(),
        alternatives: 0,
    };
    w.entity(raw, &[], None, 0);
    w.leaves
}

// ---- accounting -----------------------------------------------------------------------------

/// Word tokens: runs of ASCII letters and digits, and each other alphabetic character alone (CJK
/// has no spaces).
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
            continue;
        }
        if word.len() > 1 {
            out.push(std::mem::take(&mut word));
        }
        word.clear();
        if c.is_alphabetic() && !c.is_ascii() && c as u32 >= 0x2E80 {
            out.push(c.to_string());
        }
    }
    if word.len() > 1 {
        out.push(word);
    }
    out
}

fn decode(leaf: &Leaf) -> String {
    let declared = leaf
        .charset
        .as_deref()
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()));
    if let Some(enc) = declared {
        let (text, _, errors) = enc.decode(&leaf.data);
        if !errors || std::str::from_utf8(&leaf.data).is_err() {
            return text.into_owned();
        }
    }
    if leaf.data.is_ascii() && leaf.data.contains(&0x1b) {
        let (text, _, errors) = encoding_rs::ISO_2022_JP.decode(&leaf.data);
        if !errors {
            return text.into_owned();
        }
    }
    if let Ok(text) = std::str::from_utf8(&leaf.data) {
        return text.to_string();
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
    det.feed(&leaf.data, true);
    let enc = det.guess(None, chardetng::Utf8Detection::Allow);
    enc.decode(&leaf.data).0.into_owned()
}

/// Crude tag stripping for the HTML oracle: text outside tags, `<style>`/`<script>` skipped,
/// a few entities.
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        out.push(' ');
        let tail = &rest[lt..];
        let lower: String = tail.chars().take(8).collect::<String>().to_lowercase();
        let skip_to = if lower.starts_with("<style") {
            "</style"
        } else if lower.starts_with("<script") {
            "</script"
        } else if lower.starts_with("<!--") {
            "-->"
        } else {
            ">"
        };
        match tail.to_lowercase().find(skip_to) {
            Some(end) if tail.is_char_boundary(end) => {
                let after = &tail[end..];
                rest = after
                    .find('>')
                    .map_or("", |gt| &after[gt + 1..])
                    .get(..)
                    .unwrap_or("");
                if skip_to == "-->" {
                    rest = &after[3..];
                }
            }
            _ => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    // Entities become spaces: the words around them stay comparable however they decode.
    let mut cleaned = String::new();
    let mut rest = out.as_str();
    while let Some(amp) = rest.find('&') {
        cleaned.push_str(&rest[..amp]);
        let tail = &rest[amp + 1..];
        let name = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .unwrap_or(tail.len());
        if name > 0 && tail[name..].starts_with(';') {
            cleaned.push(' ');
            rest = &tail[name + 1..];
        } else {
            cleaned.push('&');
            rest = tail;
        }
    }
    cleaned.push_str(rest);
    cleaned
}

fn is_text(leaf: &Leaf) -> bool {
    (leaf.ctype == "text/plain" || leaf.ctype == "text/html") && !leaf.attachment_disposition
}

/// Whether the attachment `a` (of type `a_type`) holds the bytes of `leaf`.
fn same_data(a_type: &str, a: &[u8], leaf: &Leaf) -> bool {
    let (leaf_type, leaf) = (leaf.ctype.as_str(), leaf.data.as_slice());
    if a == leaf || a.trim_ascii_end() == leaf.trim_ascii_end() {
        return true;
    }
    if a_type != leaf_type {
        return false;
    }
    // Line ends may differ (a nested message, a text part) and decoders trim differently.
    let norm = |d: &[u8]| -> Vec<u8> {
        d.iter()
            .copied()
            .filter(|&b| b != b'\r' && b != b'\n')
            .collect()
    };
    let (a, leaf) = (norm(a), norm(leaf));
    a == leaf || (leaf.len() > 64 && a.len().abs_diff(leaf.len()) <= 4)
}

#[derive(Debug, Default)]
struct Figures {
    files: usize,
    parsed: usize,
    refused: usize,
    leaves: usize,
    accounted: usize,
    attachment_leaves: usize,
    attachments_accounted: usize,
    files_all_accounted: usize,
    files_with_replacement: usize,
}

struct FileResult {
    unaccounted: Vec<String>,
    replacement: Vec<&'static str>,
}

fn check(raw: &[u8], inbound: &Inbound, figures: &mut Figures) -> FileResult {
    let leaves = leaves(raw);
    let text_tokens: std::collections::HashSet<String> = tokens(&inbound.text)
        .into_iter()
        .chain(
            inbound
                .attachments
                .iter()
                .filter(|a| a.content_type.starts_with("text/"))
                .flat_map(|a| tokens(&String::from_utf8_lossy(&a.data))),
        )
        .collect();
    let mut used = vec![false; inbound.attachments.len()];
    let mut accounted = vec![false; leaves.len()];
    // Attachments first (exact bytes), then text.
    for (i, leaf) in leaves.iter().enumerate() {
        if let Some(j) = inbound
            .attachments
            .iter()
            .enumerate()
            .position(|(j, a)| !used[j] && same_data(&a.content_type, &a.data, leaf))
        {
            used[j] = true;
            accounted[i] = true;
        }
    }
    for (i, leaf) in leaves.iter().enumerate() {
        if accounted[i] || !leaf.ctype.starts_with("text/") {
            continue;
        }
        let text = decode(leaf);
        let text = if leaf.ctype == "text/html" {
            strip_tags(&text)
        } else {
            text
        };
        let words: std::collections::HashSet<String> = tokens(&text).into_iter().collect();
        let found = words.iter().filter(|w| text_tokens.contains(*w)).count();
        // Empty parts have nothing to lose; otherwise most of the words must be there.
        accounted[i] = words.is_empty() || found * 10 >= words.len() * 8;
    }
    // An alternative is accounted for when one of its text versions is shown.
    let mut shown_alternatives = std::collections::HashSet::new();
    for (i, leaf) in leaves.iter().enumerate() {
        if accounted[i]
            && is_text(leaf)
            && let Some(a) = leaf.alternative
        {
            shown_alternatives.insert(a);
        }
    }
    let mut unaccounted = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let ok = accounted[i]
            || (is_text(leaf)
                && leaf
                    .alternative
                    .is_some_and(|a| shown_alternatives.contains(&a)));
        figures.leaves += 1;
        let attachment_like = !is_text(leaf);
        if attachment_like {
            figures.attachment_leaves += 1;
        }
        if ok {
            figures.accounted += 1;
            if attachment_like {
                figures.attachments_accounted += 1;
            }
        } else {
            unaccounted.push(format!("{} ({} bytes)", leaf.ctype, leaf.data.len()));
        }
    }
    let mut replacement = Vec::new();
    let names: Vec<&str> = inbound
        .attachments
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    for (what, text) in [
        ("subject", inbound.subject.as_str()),
        ("from", inbound.from.name.as_deref().unwrap_or("")),
        ("text", inbound.text.as_str()),
        ("attachment name", &names.join("/")),
    ] {
        if text.contains('\u{fffd}') {
            replacement.push(what);
        }
    }
    FileResult {
        unaccounted,
        replacement,
    }
}

// ---- the corpus -----------------------------------------------------------------------------

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("md" | "tsv" | "json" | "yml" | "toml" | "py")
        ) {
            out.push(path);
        }
    }
}

/// (root, path below it) of every corpus file: the project's copies, then the shared folders the
/// project has no copy of.
fn corpus() -> Vec<(PathBuf, String)> {
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files = Vec::new();
    let mut own_folders = Vec::new();
    let mut list = Vec::new();
    walk(&own, &mut list);
    for path in list {
        let rel = path
            .strip_prefix(&own)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        own_folders.push(rel.split('/').next().unwrap_or("").to_string());
        files.push((path, rel));
    }
    // The project's copies of `cpython-test-email/` are in `cpython/`.
    own_folders.push("cpython-test-email".into());
    let shared = std::env::var_os("SUPPORTD_CORPUS")
        .map(PathBuf::from)
        .or_else(|| {
            ["../shared/corpus", "../../shared/corpus"]
                .iter()
                .map(|p| Path::new(env!("CARGO_MANIFEST_DIR")).join(p))
                .find(|p| p.is_dir())
        });
    if let Some(shared) = shared {
        let mut list = Vec::new();
        walk(&shared, &mut list);
        for path in list {
            let rel = path
                .strip_prefix(&shared)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let folder = rel.split('/').next().unwrap_or("");
            if !rel.contains('/') || own_folders.iter().any(|f| f == folder) {
                continue;
            }
            files.push((path, rel));
        }
    }
    files
}

#[test]
fn every_corpus_mail_arrives_whole() {
    let report = std::env::var_os("SUPPORTD_CORPUS_REPORT").is_some();
    // `SUPPORTD_CORPUS_SHOW=zammad/mail078.box` prints what one file parsed to.
    let show = std::env::var("SUPPORTD_CORPUS_SHOW").ok();
    let expected: HashMap<&str, (Expect, &str)> = EXPECTED
        .iter()
        .map(|(p, e, why)| (*p, (*e, *why)))
        .collect();
    let mut figures = Figures::default();
    let mut failures = Vec::new();
    for (path, rel) in corpus() {
        let raw = std::fs::read(&path).unwrap();
        figures.files += 1;
        let inbound = match parse(&raw) {
            Ok(inbound) => inbound,
            Err(e) => {
                figures.refused += 1;
                if report {
                    println!("{rel}\trefused\t{e}");
                }
                continue;
            }
        };
        figures.parsed += 1;
        if show.as_deref() == Some(rel.as_str()) {
            println!(
                "---- {rel}\nsubject: {}\nfrom: {:?}\ncharset: {:?}, header charset {:?}\nnotes: {:?}\ntext:\n{}\n----",
                inbound.subject,
                inbound.from,
                inbound.charset,
                inbound.header_charset,
                inbound.parse_notes,
                inbound.text
            );
            for a in &inbound.attachments {
                let tail = &a.data[a.data.len().saturating_sub(80)..];
                println!(
                    "attachment {:?} {} {} bytes cid {:?} inline {} ends {:?}",
                    a.name,
                    a.content_type,
                    a.size,
                    a.content_id,
                    a.inline,
                    String::from_utf8_lossy(tail)
                );
            }
            for l in leaves(&raw) {
                println!(
                    "leaf {} {} bytes charset {:?}",
                    l.ctype,
                    l.data.len(),
                    l.charset
                );
            }
        }
        let result = check(&raw, &inbound, &mut figures);
        if result.unaccounted.is_empty() {
            figures.files_all_accounted += 1;
        }
        if !result.replacement.is_empty() {
            figures.files_with_replacement += 1;
        }
        if report && (!result.unaccounted.is_empty() || !result.replacement.is_empty()) {
            println!(
                "{rel}\tunaccounted: {}\tU+FFFD in: {}",
                result.unaccounted.join(", "),
                result.replacement.join(", ")
            );
        }
        let expect = expected.get(rel.as_str()).map(|(e, _)| *e);
        let replacement_ok = matches!(expect, Some(Expect::Replacement | Expect::Both));
        let unaccounted_ok = matches!(expect, Some(Expect::Unaccounted | Expect::Both));
        if !result.replacement.is_empty() && !replacement_ok {
            failures.push(format!(
                "{rel}: U+FFFD in {}",
                result.replacement.join(", ")
            ));
        }
        if !result.unaccounted.is_empty() && !unaccounted_ok {
            failures.push(format!(
                "{rel}: not accounted for: {}",
                result.unaccounted.join(", ")
            ));
        }
    }
    if report {
        println!("{figures:#?}");
    }
    assert!(figures.files >= 100, "corpus not found: {figures:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
