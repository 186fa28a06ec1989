//! Mail as tests write it (simple RFC 5322 builders) and read it back (Message-IDs, and a
//! mailbox counted the way at-least-once delivery allows).

/// A simple valid RFC 5322 message (CRLF line endings, UTF-8 text/plain,
/// 8bit). Non-ASCII subjects are RFC 2047 B-encoded. `message_id` may be
/// given with or without `<>`; an empty `message_id` omits the header.
pub fn mail(from: &str, to: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    mail_with(from, to, subject, message_id, &[], body)
}

/// Like [`mail`] plus extra headers (values verbatim, e.g.
/// `("In-Reply-To", "<a@b>")`). An extra header whose name matches a default
/// header (From, To, Subject, Message-ID, Date, MIME-Version, Content-Type,
/// Content-Transfer-Encoding; case-insensitive) replaces it in place.
pub fn mail_with(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    extra_headers: &[(&str, &str)],
    body: &str,
) -> Vec<u8> {
    let mut headers: Vec<(String, String)> = vec![
        ("From".into(), from.into()),
        ("To".into(), to.into()),
        ("Subject".into(), encode_subject(subject)),
    ];
    if !message_id.is_empty() {
        let id = if message_id.starts_with('<') {
            message_id.to_string()
        } else {
            format!("<{message_id}>")
        };
        headers.push(("Message-ID".into(), id));
    }
    headers.extend([
        ("Date".into(), chrono::Utc::now().to_rfc2822()),
        ("MIME-Version".into(), "1.0".into()),
        ("Content-Type".into(), "text/plain; charset=utf-8".into()),
        ("Content-Transfer-Encoding".into(), "8bit".into()),
    ]);
    for (name, value) in extra_headers {
        match headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(h) => h.1 = value.to_string(),
            None => headers.push((name.to_string(), value.to_string())),
        }
    }
    let mut out = String::new();
    for (n, v) in &headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&crlf(body));
    out.into_bytes()
}

/// Normalize line endings to CRLF.
pub fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// RFC 2047 `=?UTF-8?B?...?=` encoding if `s` is not plain ASCII; split into
/// several folded encoded-words (each <= 64 chars, so `Subject: ` + word
/// stays under 78) on char boundaries.
pub fn encode_subject(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 39 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// A mailbox as the product promises it: SMTP is at-least-once, so the one mail in flight when
/// the daemon is SIGKILLed (the server has said 250, the "sent" mark is not yet fsynced) arrives
/// again after the restart, with the same Message-ID. Tests count distinct Message-IDs and bound
/// the copies by the kills, never count raw mails.
#[derive(Debug, Default)]
pub struct Received {
    /// The first copy of each distinct Message-ID, in arrival order.
    pub mails: Vec<Vec<u8>>,
    /// The Message-ID of every further copy.
    pub resent: Vec<String>,
}

impl Received {
    /// Splits raw mails (in arrival order) into first copies and re-sent ones. A mail without a
    /// Message-ID counts as distinct.
    pub fn of(raws: Vec<Vec<u8>>) -> Received {
        let mut seen = std::collections::HashSet::new();
        let mut out = Received::default();
        for raw in raws {
            match message_id(&raw) {
                Some(id) if !seen.insert(id.clone()) => out.resent.push(id),
                _ => out.mails.push(raw),
            }
        }
        out
    }

    /// Subjects of the distinct mails, in arrival order.
    pub fn subjects(&self) -> Vec<String> {
        self.mails
            .iter()
            .map(|raw| {
                mail_parser::MessageParser::default()
                    .parse(raw)
                    .and_then(|m| m.subject().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// The Message-ID of `raw` (without `<>`), if it has one.
pub fn message_id(raw: &[u8]) -> Option<String> {
    mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_owned))
}
