#!/usr/bin/env python3
"""Checks the reply corpus against expected.toml with Python's own `email` package.

For every row: the file parses; every text part decodes with its declared charset and transfer
encoding (built mails strictly, without parser defects); `first`, `last`, `contains` and
`context` occur in the decoded text where README.md says they must, in order; every `must_not`
string does occur somewhere in the mail (so asserting its absence from the reply text tests
something) but not between `first` and `last` of a top- or bottom-posted reply. Agent rows also
check outcome, attachments and auto-reply markers. Every file on disk has exactly one row.

Run: python3 check.py   (exit status 1 and a list of problems if anything is off)
"""

import email
import email.policy
import html.parser
import os
import re
import sys
import tomllib
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
STYLES = {"top", "bottom", "inline", "none"}
OUTCOMES = {"relay", "internal", "refuse", "attachment-only", "machine"}
FIDELITY = {"real", "reproduction", "approximation"}
QUOTED = re.compile(r"^[ \t]*(?:>|&gt;)")
MARKERS = re.compile(r"^[ \t]*(?:(?:>|&gt;)[ \t]?)+", re.M)


class Text(html.parser.HTMLParser):
    """A crude HTML-to-text: block elements end lines, head/style/script are dropped."""

    BLOCK = {"div", "p", "br", "tr", "li", "blockquote", "hr", "pre", "table", "h1", "h2", "h3",
             "h4", "h5", "h6", "article", "section"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("style", "script", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_text(markup):
    p = Text()
    p.feed(markup)
    p.close()
    return "".join(p.out).replace("\u00a0", " ")


def norm(text):
    """What the table's strings are matched against: LF line ends, `&nbsp;` and U+00A0 as spaces."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("&nbsp;", " ").replace("\u00a0", " ")


def unmarked(text):
    """`norm(text)` with leading quote markers removed from every line."""
    return MARKERS.sub("", norm(text))


def squeeze(text):
    return re.sub(r"\s+", "", text)


def on_unquoted_line(body, s):
    """Whether the first line of `s` occurs on a line of `body` that is not quoted."""
    head = s.split("\n", 1)[0]
    return any(head in line and not QUOTED.match(line) for line in body.split("\n"))


def decode_part(part, strict):
    payload = part.get_payload(decode=True) or b""
    cs = part.get_content_charset() or "us-ascii"
    try:
        return payload.decode(cs, "strict" if strict else "replace"), None
    except (LookupError, UnicodeDecodeError) as e:
        if strict:
            return payload.decode(cs if cs != "unknown-8bit" else "latin-1", "replace"), f"{cs}: {e}"
        return payload.decode("latin-1"), None


def check_row(row, problems, stats):
    f = row["file"]
    path = os.path.join(HERE, f)
    err = lambda msg: problems.append(f"{f}: {msg}")
    kind = row.get("kind")
    strict = kind != "real"
    for key in ("file", "kind", "client", "family", "style", "lang", "fidelity", "first", "last", "must_not"):
        if key not in row:
            err(f"missing field {key}")
    if row.get("style") not in STYLES:
        err(f"style {row.get('style')!r}")
    if row.get("fidelity") not in FIDELITY:
        err(f"fidelity {row.get('fidelity')!r}")
    if kind == "agent" and row.get("outcome") not in OUTCOMES:
        err(f"outcome {row.get('outcome')!r}")
    for key in ("first", "last", *[f"contains[{i}]" for i in range(len(row.get("contains", [])))]):
        v = row.get(key) if "[" not in key else row["contains"][int(key[9:-1])]
        if v and v != v.strip():
            err(f"{key} has surrounding whitespace: {v!r}")
    try:
        raw = open(path, "rb").read()
    except OSError as e:
        err(f"cannot read: {e}")
        return
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if strict:
        if msg.defects:
            err(f"parser defects {msg.defects}")
        head = raw.split(b"\r\n\r\n", 1)[0]
        if b"\n" in head.replace(b"\r\n", b""):
            err("bare LF in the header")
        try:
            head.decode("ascii")
        except UnicodeDecodeError:
            err("non-ASCII header bytes")
        for name in ("From", "To", "Subject", "Date", "Message-ID"):
            if msg[name] is None:
                err(f"no {name} header")
    plains, htmls, attachments = [], [], []
    for part in msg.walk():
        if part.is_multipart():
            if strict and part.defects:
                err(f"defects in {part.get_content_type()}: {part.defects}")
            continue
        cte = (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()
        if cte not in ("7bit", "8bit", "base64", "quoted-printable", "binary"):
            err(f"transfer encoding {cte!r}")
        if strict and part.defects:
            err(f"defects in {part.get_content_type()}: {part.defects}")
        fname = part.get_filename()
        if fname or part.get_content_maintype() not in ("text",):
            attachments.append(fname or part.get_content_type())
            continue
        text, problem = decode_part(part, strict)
        if problem:
            err(f"text part does not decode: {problem}")
        if strict and cte == "7bit" and any(ord(c) > 127 for c in text):
            err("7bit part with 8-bit content")
        if part.get_content_subtype() == "html":
            htmls.append(text)
        else:
            plains.append(text)
    stats["parts"][(bool(plains), bool(htmls))] += 1
    plain = norm("\n".join(plains))
    body = plain if plain.strip() else norm("\n".join(html_text(h) for h in htmls))
    full = norm("\n".join(plains + [html_text(h) for h in htmls] + htmls))
    verbatim = "\n".join(plains + htmls)
    view = unmarked(body)
    first, last = row.get("first", ""), row.get("last", "")

    # first / last / contains in the text the reply is taken from, in order
    pos = 0
    if first:
        pos = view.find(first)
        if pos < 0:
            err(f"first {first!r} not in the decoded text")
        elif strict and not on_unquoted_line(body, first):
            err(f"first {first!r} is not on an unquoted line")
    end = pos + len(first)
    if last:
        p = view.find(last, max(pos, 0))
        if p < 0:
            err(f"last {last!r} not in the decoded text after first")
        else:
            end = p + len(last)
    if last and strict and not on_unquoted_line(body, last):
        err(f"last {last!r} is not on an unquoted line")
    for c in row.get("contains", []):
        if c not in view:
            err(f"contains {c!r} not in the decoded text")
    for c in row.get("context", []):
        hit = [l for l in body.split("\n") if QUOTED.match(l) and c in unmarked(l)]
        if not hit:
            err(f"context {c!r} is not on a quoted line")
    if row.get("context") and row.get("style") != "inline":
        err("context given for a mail that is not inline")
    # the same strings in the HTML alternative, when there is one beside the plain part
    if plains and htmls and strict:
        h = squeeze(norm("\n".join(html_text(x) for x in htmls)))
        for s in [first, last, *row.get("contains", [])]:
            if s and squeeze(s) not in h:
                err(f"{s!r} missing from the HTML part")
    # must_not: present somewhere, absent from the new text of top/bottom mails
    region = view[max(pos, 0) : end] if first else ""
    for s in row.get("must_not", []):
        if s not in full and s not in verbatim:
            err(f"must_not {s!r} does not occur in the mail, so the test would prove nothing")
        if s.startswith("&"):
            # an entity: the reply text must not show it; the region above is entity-decoded
            continue
        if region and row.get("style") in ("top", "bottom", "none") and unmarked(s).strip() and unmarked(s).strip() in region:
            err(f"must_not {s!r} lies between first and last")
    if kind == "agent":
        outcome = row.get("outcome")
        for a in row.get("attachments", []):
            if a not in attachments:
                err(f"attachment {a!r} not found ({attachments})")
        if outcome == "attachment-only" and not row.get("attachments"):
            err("attachment-only without attachments")
        if outcome == "machine":
            auto = (msg.get("Auto-Submitted", "no").lower() != "no" or msg.get("X-Autoreply")
                    or re.match(r"(?i)(自动回复|自动答复|automatic reply|auto.?reply|out of office)", str(msg["Subject"])))
            if not auto:
                err("machine outcome without an auto-reply marker")
        for s in row.get("relay_must_not", []):
            if s not in full:
                err(f"relay_must_not {s!r} does not occur in the mail")
        for c in row.get("commands", []):
            if c not in view:
                err(f"command {c!r} not in the text")
        if row.get("relay_first") and row["relay_first"] not in view:
            err(f"relay_first {row['relay_first']!r} not in the text")


def main():
    with open(os.path.join(HERE, "expected.toml"), "rb") as fh:
        rows = tomllib.load(fh)["mail"]
    problems = []
    stats = {"parts": Counter()}
    seen = Counter(r["file"] for r in rows)
    for f, n in seen.items():
        if n > 1:
            problems.append(f"{f}: {n} rows")
    on_disk = set()
    for sub in ("real", "built", "agent"):
        for dirpath, _, files in os.walk(os.path.join(HERE, sub)):
            for name in files:
                if name.endswith(".txt"):
                    continue
                on_disk.add(os.path.relpath(os.path.join(dirpath, name), HERE))
    for f in sorted(on_disk - set(seen)):
        problems.append(f"{f}: on disk but not in expected.toml")
    for f in sorted(set(seen) - on_disk):
        problems.append(f"{f}: in expected.toml but not on disk")
    for row in rows:
        check_row(row, problems, stats)

    by_client = defaultdict(Counter)
    for r in rows:
        by_client[(r["family"], r["kind"])][r["style"]] += 1
    print(f"{len(rows)} mails: " + ", ".join(f"{k} {v}" for k, v in Counter(r["kind"] for r in rows).items()))
    print("styles: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["style"] for r in rows).items())))
    print("languages: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["lang"] for r in rows).items())))
    print("fidelity: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r["fidelity"] for r in rows).items())))
    outcomes = Counter(r.get("outcome") for r in rows if r["kind"] == "agent")
    print("agent outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    if "-v" in sys.argv:
        for (fam, kind), styles in sorted(by_client.items()):
            print(f"  {fam:22} {kind:5} " + " ".join(f"{s}={n}" for s, n in sorted(styles.items())))
    if problems:
        print(f"\n{len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
