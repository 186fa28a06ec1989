//! Reading one `Authentication-Results` header value (RFC 8601): who wrote it (the
//! authserv-id) and the method results it reports, e.g. `dkim=pass header.d=example.com`.
//! Comments (`(…)`, nested) and quoted strings are understood; anything unreadable is skipped,
//! never guessed.

/// One method result: `dkim=pass header.d=example.com header.i=@example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodResult {
    /// `dkim`, `spf`, `dmarc`, `auth`, … (lower-case, without a version).
    pub(crate) method: String,
    /// `pass`, `fail`, `none`, … (lower-case).
    pub(crate) result: String,
    /// `ptype.property` (lower-case) and value, e.g. (`header.d`, `example.com`).
    pub(crate) props: Vec<(String, String)>,
}

impl MethodResult {
    /// The value of property `name` (e.g. `header.d`), if given.
    pub(crate) fn prop(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthResults {
    /// Who wrote it (lower-case).
    pub(crate) authserv_id: String,
    pub(crate) results: Vec<MethodResult>,
}

/// Removes comments, keeping quoted strings intact; an unclosed comment ends the value.
fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let (mut depth, mut quoted, mut escaped) = (0usize, false, false);
    for c in value.chars() {
        if escaped {
            if depth == 0 {
                out.push(c);
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Splits on `sep` outside quoted strings.
fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            parts.push(String::new());
        } else if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    parts
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    v.replace("\\\"", "\"").to_ascii_lowercase()
}

/// Parses a header value; `None` when not even the authserv-id can be read.
pub(crate) fn parse(value: &str) -> Option<AuthResults> {
    let clean = strip_comments(value);
    let mut parts = split_outside_quotes(&clean, ';').into_iter();
    let authserv_id = parts
        .next()?
        .split_whitespace()
        .next()?
        .trim_matches('"')
        .to_ascii_lowercase();
    if authserv_id.is_empty() {
        return None;
    }
    let mut results = Vec::new();
    for part in parts {
        // `method = result` may carry spaces around `=`; join them before tokenising.
        let part = part.replace(" =", "=").replace("= ", "=");
        let tokens = split_outside_quotes(part.trim(), ' ');
        let mut tokens = tokens.iter().map(|t| t.trim()).filter(|t| !t.is_empty());
        let Some((method, result)) = tokens.next().and_then(|t| t.split_once('=')) else {
            continue;
        };
        let method = method.split('/').next().unwrap_or(method);
        let mut r = MethodResult {
            method: method.to_ascii_lowercase(),
            result: unquote(result),
            props: Vec::new(),
        };
        for t in tokens {
            if let Some((k, v)) = t.split_once('=')
                && k.contains('.')
            {
                r.props.push((k.to_ascii_lowercase(), unquote(v)));
            }
        }
        results.push(r);
    }
    Some(AuthResults {
        authserv_id,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_real_world_headers() {
        let h = parse(
            "mx.example.com; dkim=pass (2048-bit key; unprotected) header.d=Example.com \
             header.i=@example.com header.b=\"abc;def\"; spf=pass (mx.example.com: domain of \
             alice@example.com designates 192.0.2.1 as permitted sender) smtp.mailfrom=alice@example.com; \
             dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com",
        )
        .unwrap();
        assert_eq!(h.authserv_id, "mx.example.com");
        let m: Vec<(&str, &str)> = h
            .results
            .iter()
            .map(|r| (r.method.as_str(), r.result.as_str()))
            .collect();
        assert_eq!(m, [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]);
        assert_eq!(h.results[0].prop("header.d"), Some("example.com"));
        assert_eq!(h.results[0].prop("header.b"), Some("abc;def"));
        assert_eq!(
            h.results[1].prop("smtp.mailfrom"),
            Some("alice@example.com")
        );
        assert_eq!(h.results[2].prop("header.from"), Some("example.com"));
    }

    #[test]
    fn none_versions_and_garbage() {
        let h = parse("mx.example.com 1; none").unwrap();
        assert!(h.results.is_empty());
        let h = parse("mx.example.com; dkim/1 = fail header.d=x.com; ;;garbage").unwrap();
        assert_eq!(h.results.len(), 1);
        assert_eq!(
            (h.results[0].method.as_str(), h.results[0].result.as_str()),
            ("dkim", "fail")
        );
        assert!(parse("").is_none());
        assert!(parse("   ; dkim=pass").is_none());
        // An unclosed comment hides the rest instead of being read as results.
        let h = parse("mx.example.com; dkim=fail (comment; dkim=pass header.d=x").unwrap();
        assert_eq!(h.results.len(), 1);
        assert_eq!(h.results[0].result, "fail");
    }
}
