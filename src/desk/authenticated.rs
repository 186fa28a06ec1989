//! Whether our own MX authenticated a mail's From address, read from its
//! `Authentication-Results` (RFC 8601) with `support.trusted_authserv_id`.
//!
//! The rules:
//! - only the leading headers count (the parser keeps only those, see `mail::parse`'s `trace`),
//!   and of them only the ones whose authserv-id is the trusted one;
//! - per method (`dkim`, `spf`, `dmarc`, `auth`) the topmost trusted header reporting it decides;
//!   a header further down cannot add or override a result for that method;
//! - a pass counts only when *aligned* with the From address's domain `D`:
//!   `dmarc=pass` with `header.from=D`; `dkim=pass` with `header.d` equal to `D` or a parent
//!   domain of it (at least two labels: relaxed alignment without a public-suffix list, safe
//!   because only a domain's owner can publish its DKIM keys); `spf=pass` with the domain of
//!   `smtp.mailfrom` aligned the same way; `auth=pass` with `smtp.auth` equal to the From address;
//! - a result that names a *user* (`header.i=bob@D`, `smtp.mailfrom=bob@D`) counts only when
//!   that user is the From address: a pass for another user of the domain proves nothing about
//!   this one;
//! - an aligned `dmarc=fail` is a failure whatever else passed (and the mail is treated as spam).
//!
//! What a pass proves is that the domain's authorised servers sent the mail. Anyone who may send
//! through them passes too, so a domain whose users can send as each other cannot tell its users
//! apart this way (see the README).

use crate::mail::auth_results::{self, MethodResult};
use crate::mail::inbound::Inbound;

/// The verdict on a mail's From address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FromAuth {
    /// No trusted result about it (or no trusted authserv-id configured).
    Unknown,
    /// Authenticated; the result that says so, for the log.
    Pass(String),
    /// Our MX says the From domain's DMARC policy failed.
    Fail(String),
}

impl FromAuth {
    pub(crate) fn passed(&self) -> bool {
        matches!(self, FromAuth::Pass(_))
    }
}

/// `d` is `domain` or a parent domain of it with at least two labels.
fn aligned(d: &str, domain: &str) -> bool {
    let d = d.trim_end_matches('.').trim_start_matches('@');
    let domain = domain.trim_end_matches('.');
    !d.is_empty()
        && (d.eq_ignore_ascii_case(domain)
            || (d.contains('.')
                && domain.len() > d.len()
                && domain[domain.len() - d.len()..].eq_ignore_ascii_case(d)
                && domain.as_bytes()[domain.len() - d.len() - 1] == b'.'))
}

/// A user identity (`local@domain`) in `value` matches `from`, or `value` names no user.
fn same_user_or_none(value: Option<&str>, from: &str) -> bool {
    match value.and_then(|v| v.rsplit_once('@')) {
        Some((local, _)) if !local.is_empty() => {
            value.is_some_and(|v| v.eq_ignore_ascii_case(from))
        }
        _ => true,
    }
}

fn domain_of(v: &str) -> &str {
    v.rsplit_once('@').map_or(v, |(_, d)| d)
}

/// Whether `r` (a pass) authenticates `from` (whose domain is `domain`).
fn pass_aligned(r: &MethodResult, from: &str, domain: &str) -> bool {
    match r.method.as_str() {
        "dmarc" => r
            .prop("header.from")
            .is_some_and(|d| d.eq_ignore_ascii_case(domain)),
        "dkim" => {
            r.prop("header.d").is_some_and(|d| aligned(d, domain))
                && same_user_or_none(r.prop("header.i"), from)
        }
        "spf" => {
            r.prop("smtp.mailfrom")
                .is_some_and(|m| aligned(domain_of(m), domain))
                && same_user_or_none(r.prop("smtp.mailfrom"), from)
        }
        "auth" => r
            .prop("smtp.auth")
            .is_some_and(|u| u.eq_ignore_ascii_case(from)),
        _ => false,
    }
}

/// Judges `inbound`'s From by the trusted `Authentication-Results` (see the module docs).
pub(crate) fn from_authentication(trusted: Option<&str>, inbound: &Inbound) -> FromAuth {
    let Some(trusted) = trusted else {
        return FromAuth::Unknown;
    };
    let from = inbound.from.address.as_str();
    let Some((_, domain)) = from.rsplit_once('@') else {
        return FromAuth::Unknown;
    };
    let mut decided: Vec<String> = Vec::new();
    let mut pass = None;
    for header in &inbound.authentication_results {
        let Some(ar) = auth_results::parse(header) else {
            continue;
        };
        if !ar.authserv_id.eq_ignore_ascii_case(trusted) {
            continue;
        }
        let methods: Vec<String> = ar.results.iter().map(|r| r.method.clone()).collect();
        for r in &ar.results {
            if decided.contains(&r.method) {
                continue;
            }
            if r.method == "dmarc"
                && r.result == "fail"
                && r.prop("header.from")
                    .is_none_or(|d| d.eq_ignore_ascii_case(domain))
            {
                return FromAuth::Fail(format!("{trusted}: dmarc=fail header.from={domain}"));
            }
            if pass.is_none() && r.result == "pass" && pass_aligned(r, from, domain) {
                let props: Vec<String> = r.props.iter().map(|(k, v)| format!("{k}={v}")).collect();
                pass = Some(format!("{trusted}: {}=pass {}", r.method, props.join(" ")));
            }
        }
        decided.extend(methods);
    }
    match pass {
        Some(p) => FromAuth::Pass(p),
        None => FromAuth::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(from: &str, ar: &[&str]) -> Inbound {
        Inbound {
            authentication_results: ar.iter().map(|s| s.to_string()).collect(),
            ..Inbound::sample(from, "s", "b")
        }
    }

    fn judge(from: &str, ar: &[&str]) -> FromAuth {
        from_authentication(Some("mx.example.com"), &mail(from, ar))
    }

    #[test]
    fn aligned_passes_from_our_mx_authenticate() {
        for h in [
            "mx.example.com; dmarc=pass header.from=example.com",
            "mx.example.com; dkim=pass header.d=example.com header.i=@example.com",
            "mx.example.com; dkim=pass header.d=example.com header.i=alice@example.com",
            "mx.example.com; spf=pass smtp.mailfrom=alice@example.com",
            "mx.example.com; auth=pass smtp.auth=alice@example.com",
            "MX.Example.COM; dkim=pass header.d=Example.com",
        ] {
            assert!(judge("alice@example.com", &[h]).passed(), "{h}");
        }
        // Relaxed: a parent domain signs for a subdomain.
        assert!(
            judge(
                "alice@cn.example.com",
                &["mx.example.com; dkim=pass header.d=example.com"]
            )
            .passed()
        );
    }

    #[test]
    fn nothing_else_does() {
        for h in [
            // Somebody else's authserv-id.
            "mx.evil.com; dmarc=pass header.from=example.com",
            // Not aligned.
            "mx.example.com; dkim=pass header.d=evil.com",
            "mx.example.com; dkim=pass header.d=com",
            "mx.example.com; dkim=pass header.d=ample.com",
            "mx.example.com; spf=pass smtp.mailfrom=bounce@evil.com",
            "mx.example.com; dmarc=pass header.from=evil.com",
            // Another user of the agent's domain.
            "mx.example.com; dkim=pass header.d=example.com header.i=bob@example.com",
            "mx.example.com; spf=pass smtp.mailfrom=bob@example.com",
            "mx.example.com; auth=pass smtp.auth=bob@example.com",
            // Not a pass.
            "mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com",
            "mx.example.com; none",
        ] {
            assert_eq!(judge("alice@example.com", &[h]), FromAuth::Unknown, "{h}");
        }
        assert_eq!(
            from_authentication(
                None,
                &mail(
                    "alice@example.com",
                    &["mx.example.com; dmarc=pass header.from=example.com"]
                )
            ),
            FromAuth::Unknown,
            "without trusted_authserv_id nothing is trusted"
        );
    }

    /// A forged header with our authserv-id right below the real one (adjacent, so the parser
    /// kept both): the real, topmost one decides each method it reports.
    #[test]
    fn a_forged_header_below_the_real_one_changes_nothing() {
        let real = "mx.example.com; dkim=fail header.d=example.com; spf=fail smtp.mailfrom=alice@example.com";
        let forged = "mx.example.com; dkim=pass header.d=example.com; spf=pass smtp.mailfrom=alice@example.com";
        assert_eq!(
            judge("alice@example.com", &[real, forged]),
            FromAuth::Unknown
        );
        let real = "mx.example.com; dmarc=fail header.from=example.com";
        let v = judge("alice@example.com", &[real, forged]);
        assert!(matches!(v, FromAuth::Fail(_)), "{v:?}");
        // The forged one on top of the real one would be the sender's only if the parser kept
        // it; it keeps only leading headers, which the sender cannot write.
    }

    #[test]
    fn dmarc_fail_vetoes() {
        let v = judge(
            "alice@example.com",
            &["mx.example.com; dkim=pass header.d=example.com; dmarc=fail header.from=example.com"],
        );
        assert!(matches!(v, FromAuth::Fail(_)), "{v:?}");
    }
}
