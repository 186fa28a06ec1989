//! Secrets never reach the log, at any level.
//!
//! Two guards. async-imap writes its whole wire conversation at trace level through the `log`
//! crate, the LOGIN line with the password included (and every fetched mail), and the
//! tracing-log bridge would forward it: [`quiet_wire_traces`] turns that target off, whatever
//! `RUST_LOG` says. And every line the daemon writes passes [`Redacting`], which replaces the
//! configured passwords and the signing secret, in every form a log line could carry them
//! (as written, IMAP-quoted, `{:?}`- and JSON-escaped, base64 as in SMTP AUTH), with
//! `[redacted]`, so a library or a future log line that quotes one cannot leak it either.

use std::io::Write;
use std::sync::{Arc, RwLock};

use base64::Engine;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::Config;

/// What a secret is replaced with.
const REDACTED: &[u8] = b"[redacted]";
/// Shorter secrets are not searched for: they would blank out ordinary words. Passwords that
/// short are not worth protecting anyway.
const MIN_LEN: usize = 8;

/// The secrets to hide, shared by every writer (and replaced on SIGHUP, see [`Secrets::learn`]).
#[derive(Clone, Default)]
pub(crate) struct Secrets(Arc<RwLock<Pattern>>);

#[derive(Default)]
struct Pattern {
    forms: Vec<Vec<u8>>,
    regex: Option<regex::bytes::Regex>,
}

impl Secrets {
    /// Adds the passwords and the signing secret of `config` (the old ones stay hidden too: a
    /// line about the old session may still be written).
    pub(crate) fn learn(&self, config: &Config) {
        let mut raw: Vec<(String, Option<&str>)> = vec![(
            config.imap.resolved_password.clone(),
            Some(config.imap.username.as_str()),
        )];
        // Every queue's own account too: its password is as secret as `[imap]`'s.
        for a in config.queues.iter().filter_map(|q| q.account.as_ref()) {
            raw.push((a.resolved_password.clone(), Some(a.username.as_str())));
        }
        if let Some(smtp) = &config.smtp
            && let Some(p) = &smtp.resolved_password
        {
            raw.push((p.clone(), smtp.username.as_deref()));
        }
        if let Some(out) = &config.outbound {
            raw.push((
                String::from_utf8_lossy(&out.resolved_secret).into_owned(),
                None,
            ));
        }
        let mut p = self.0.write().unwrap_or_else(|e| e.into_inner());
        for (secret, user) in raw {
            for form in forms(&secret, user) {
                if form.len() >= MIN_LEN && !p.forms.contains(&form) {
                    p.forms.push(form);
                }
            }
        }
        // Longest first: of two forms starting at the same place the whole one is replaced.
        p.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        let alternatives: Vec<String> = p
            .forms
            .iter()
            .map(|f| regex::escape(&String::from_utf8_lossy(f)))
            .collect();
        p.regex = (!alternatives.is_empty())
            .then(|| regex::bytes::Regex::new(&alternatives.join("|")).ok())
            .flatten();
    }

    /// `line` with every secret replaced.
    pub(crate) fn redact<'a>(&self, line: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let p = self.0.read().unwrap_or_else(|e| e.into_inner());
        match &p.regex {
            Some(r) => match r.replace_all(line, REDACTED) {
                std::borrow::Cow::Borrowed(_) => std::borrow::Cow::Borrowed(line),
                std::borrow::Cow::Owned(o) => std::borrow::Cow::Owned(o),
            },
            None => std::borrow::Cow::Borrowed(line),
        }
    }
}

/// Every form `secret` can take in a log line.
fn forms(secret: &str, user: Option<&str>) -> Vec<Vec<u8>> {
    if secret.is_empty() {
        return Vec::new();
    }
    // IMAP quoted string (RFC 3501): `\` and `"` escaped.
    let quoted = secret.replace('\\', "\\\\").replace('"', "\\\"");
    let mut texts = vec![secret.to_owned(), quoted];
    // Escaped once or twice (`{:?}` of a line holding the quoted form, then JSON around it).
    for _ in 0..2 {
        let mut next = Vec::new();
        for t in &texts {
            next.push(t.escape_debug().to_string());
            let json = serde_json::to_string(t).unwrap_or_default();
            next.push(json[1..json.len().saturating_sub(1).max(1)].to_owned());
        }
        texts.extend(next);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out: Vec<Vec<u8>> = texts.into_iter().map(String::into_bytes).collect();
    // SMTP AUTH LOGIN sends the password base64'd, AUTH PLAIN `\0user\0password`.
    out.push(b64.encode(secret).into_bytes());
    if let Some(user) = user {
        out.push(b64.encode(format!("\0{user}\0{secret}")).into_bytes());
    }
    out.sort();
    out.dedup();
    out
}

/// Turns off async-imap's wire trace (the LOGIN line with the password, whole mails), also when
/// `RUST_LOG` asks for trace.
pub(crate) fn quiet_wire_traces(filter: EnvFilter) -> EnvFilter {
    filter.add_directive("async_imap=off".parse().expect("a valid directive"))
}

/// A [`MakeWriter`] whose writers pass every line through [`Secrets::redact`]. The formatter
/// writes each event with one `write` call, so a secret is never split across two.
#[derive(Clone)]
pub(crate) struct Redacting<M> {
    pub(crate) inner: M,
    pub(crate) secrets: Secrets,
}

/// One event's writer.
pub(crate) struct RedactingWriter<W> {
    inner: W,
    secrets: Secrets,
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            secrets: self.secrets.clone(),
        }
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_all(&self.secrets.redact(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(password: &str) -> Secrets {
        let mut config =
            crate::config::sample::scratch(std::path::Path::new("/tmp/store"), "").unwrap();
        config.imap.resolved_password = password.to_owned();
        let s = Secrets::default();
        s.learn(&config);
        s
    }

    #[test]
    fn every_form_of_the_password_is_replaced() {
        let pw = r#"Pw"q\x-7f3a"#;
        let s = secrets(pw);
        let quoted = r#"Pw\"q\\x-7f3a"#;
        let login = format!("a1 LOGIN \"support\" \"{quoted}\"\r\n");
        let lines = [
            pw.to_owned(),
            login.clone(),
            format!("{:?}", login),
            format!("{:?}", Ok::<&str, ()>(&login)),
            serde_json::to_string(&login).unwrap(),
            serde_json::to_string(&format!("{login:?}")).unwrap(),
            base64::engine::general_purpose::STANDARD.encode(format!("\0support\0{pw}")),
        ];
        for line in lines {
            let out = String::from_utf8(s.redact(line.as_bytes()).into_owned()).unwrap();
            assert!(out.contains("[redacted]"), "{line} -> {out}");
            assert!(!out.contains("7f3a"), "{line} -> {out}");
        }
        assert_eq!(&*s.redact(b"nothing to hide"), b"nothing to hide");
    }

    #[test]
    fn a_queue_account_password_is_hidden_like_imap_s() {
        let config = crate::config::sample::scratch(
            std::path::Path::new("/tmp/store"),
            "[[queues]]\nname = \"b\"\naddresses = [\"b@example.com\"]\n[queues.imap]\nhost = \"imap.example.com\"\nusername = \"billing\"\npassword = \"queue-pw-9d2e\"\n",
        )
        .unwrap();
        let s = Secrets::default();
        s.learn(&config);
        let out = s.redact(b"a1 LOGIN \"billing\" \"queue-pw-9d2e\"");
        assert!(!String::from_utf8_lossy(&out).contains("9d2e"), "{out:?}");
    }

    #[test]
    fn the_signing_secret_is_hidden_too_but_not_tiny_passwords() {
        let s = secrets("pw");
        assert_eq!(&*s.redact(b"pw and pwned"), b"pw and pwned");
        let out = s.redact(b"secret=bench-secret-0123456789abcdef.");
        assert_eq!(&*out, b"secret=[redacted].");
    }
}
