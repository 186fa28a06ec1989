//! What the receiving side wrote on top of the mail: the `Authentication-Results` of our MX and
//! the spam filter's verdict.
//!
//! An MTA adds its trace fields *above* the message it received, so our MX's
//! `Authentication-Results` are at the top; a sender can write the same header (with our
//! authserv-id) into the mail, but only below. RFC 8601 §5 asks the MX to remove such copies;
//! we do not rely on it and read only the *leading* ones: after the delivery fields the mail
//! store and the MX put first (`Return-Path`, `Delivered-To`, `X-Original-To`, `Envelope-To`,
//! `Received`, `Received-SPF`, `ARC-*`, `X-Spam-*`, `X-Rspamd-*`, `X-Virus-*`), the consecutive
//! `Authentication-Results` headers; the first other field ends them. The MX's own `Received`
//! line therefore separates its result from anything the sender wrote.

use mail_parser::Message;

use crate::mail::parse::headers::raw_bytes;

/// Delivery fields that may precede our MX's `Authentication-Results`.
fn is_leading_trace(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "return-path"
            | "delivered-to"
            | "x-original-to"
            | "envelope-to"
            | "received"
            | "received-spf"
    ) || ["arc-", "x-spam-", "x-rspamd-", "x-virus-"]
        .iter()
        .any(|p| n.starts_with(p))
}

fn value(msg: &Message<'_>, h: &mail_parser::Header<'_>) -> Option<String> {
    raw_bytes(msg, h.offset_start, h.offset_end)
        .map(|b| crate::mail::subject::collapse_whitespace(&String::from_utf8_lossy(b)))
}

/// The leading `Authentication-Results` values, topmost first (see the module docs).
pub(super) fn leading_authentication_results(msg: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for h in msg.headers() {
        let name = h.name.as_str();
        if name.eq_ignore_ascii_case("Authentication-Results") {
            out.extend(value(msg, h));
        } else if !out.is_empty() || !is_leading_trace(name) {
            break;
        }
    }
    out
}

/// Most delivery addresses kept: a mail passes few servers; a hostile one may carry thousands.
const MAX_DELIVERED_TO: usize = 8;

/// The `Delivered-To`/`X-Original-To` addresses among the leading delivery fields, topmost
/// first. Only the block our servers write on top counts: the first field that is no trace
/// field ends it, so such a header written by the sender among their own headers is never
/// read; one they put above their MTA's `Received` is, but below ours.
pub(super) fn delivered_to(msg: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for h in msg.headers() {
        let name = h.name.as_str();
        if !is_leading_trace(name) && !name.eq_ignore_ascii_case("Authentication-Results") {
            break;
        }
        if (name.eq_ignore_ascii_case("Delivered-To") || name.eq_ignore_ascii_case("X-Original-To"))
            && let Some(v) = value(msg, h)
        {
            let a = v
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim();
            if !a.is_empty() && a.len() <= 320 && out.len() < MAX_DELIVERED_TO {
                out.push(a.to_lowercase());
            }
        }
    }
    out
}

/// The spam filter's verdicts that say spam: `X-Spam-Flag: YES`, `X-Spam-Status: Yes, …`.
pub(super) fn spam_flags(msg: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for h in msg.headers() {
        let name = h.name.as_str();
        let Some(v) = value(msg, h) else { continue };
        let yes = |v: &str| v.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("yes"));
        if (name.eq_ignore_ascii_case("X-Spam-Flag") || name.eq_ignore_ascii_case("X-Spam-Status"))
            && yes(&v)
        {
            let short: String = v.chars().take(80).collect();
            out.push(format!("{name}: {short}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mail_parser::MessageParser;

    use super::*;

    fn leading(raw: &str) -> Vec<String> {
        let raw = raw.replace('\n', "\r\n");
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        leading_authentication_results(&msg)
    }

    #[test]
    fn only_the_leading_results_count() {
        // Dovecot's and the MX's trace lines, then the MX's result, then what the sender wrote.
        let raw = "Return-Path: <a@x.com>\nDelivered-To: support@example.com\n\
Received: from mx by imap with LMTP\n\
Authentication-Results: mx.example.com; dkim=fail header.d=example.com\n\
Received: from evil by mx.example.com\n\
Authentication-Results: mx.example.com; dkim=pass header.d=example.com\n\
From: alice@example.com\nSubject: x\n\nbody\n";
        assert_eq!(
            leading(raw),
            ["mx.example.com; dkim=fail header.d=example.com"]
        );
        // A forged header at the very top of a mail that our MX did not mark stays below the
        // MX's Received line only if the MX writes one; here the mail begins with the sender's.
        let raw = "From: alice@example.com\n\
Authentication-Results: mx.example.com; dkim=pass header.d=example.com\nSubject: x\n\nb\n";
        assert!(leading(raw).is_empty());
        // Several filters of the MX, adjacent.
        let raw = "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=a@x.com\n\
Authentication-Results: mx.example.com; dkim=pass header.d=x.com\n\
Received: by mx\nFrom: a@x.com\n\nb\n";
        assert_eq!(leading(raw).len(), 2);
    }

    #[test]
    fn delivery_addresses_are_read_from_the_top_only() {
        let parse = |raw: &str| {
            let raw = raw.replace('\n', "\r\n");
            let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
            delivered_to(&msg)
        };
        // Ours first (prepended last), then one further down; one among the sender's own
        // headers is never read.
        let raw = "Delivered-To: Billing@Example.com\nX-Original-To: <invoices@example.com>\n\
Received: by mx\nDelivered-To: support@example.com\n\
From: a@x.com\nDelivered-To: abuse@example.com\nSubject: x\n\nb\n";
        assert_eq!(
            parse(raw),
            [
                "billing@example.com",
                "invoices@example.com",
                "support@example.com"
            ]
        );
        assert!(parse("From: a@x.com\nDelivered-To: b@example.com\n\nb\n").is_empty());
        // Thousands of them keep a handful; an empty or absurd value none.
        let many = "Delivered-To: a@example.com\n".repeat(5000);
        assert_eq!(parse(&format!("{many}From: a@x.com\n\nb\n")).len(), 8);
        let long = format!(
            "Delivered-To: <>\nDelivered-To: {}@x.com\nFrom: a@x.com\n\nb\n",
            "a".repeat(400)
        );
        assert!(parse(&long).is_empty());
    }

    #[test]
    fn spam_verdicts() {
        let raw = "X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=9.1\r\nFrom: a@x.com\r\n\r\nb\r\n";
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert_eq!(spam_flags(&msg).len(), 2);
        let raw = "X-Spam-Flag: NO\r\nX-Spam-Status: No, score=0.1\r\nFrom: a@x.com\r\n\r\nb\r\n";
        let msg = MessageParser::default().parse(raw.as_bytes()).unwrap();
        assert!(spam_flags(&msg).is_empty());
    }
}
