//! Whether a mail is an agent's.
//!
//! A From header proves nothing (RT's documented weakness), so a mail is an agent's only when its
//! From is a configured agent address *and* it carries proof: our signed per-ticket reply address
//! in To/Cc, a signed agent-notification Message-ID in In-Reply-To/References, or (when configured)
//! an `Authentication-Results` header from our own MX with DKIM or SPF passing for the agent's
//! domain. Anything else from an agent address is handled as a customer mail and counted as an
//! impersonation attempt.

use crate::config::Config;
use crate::mail::inbound::Inbound;
use crate::mail::msgid;

/// The verdict on a mail's sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Not from an agent address.
    NotAgent,
    /// An authenticated agent; `ticket` is the ticket the proof names, if it names one.
    Agent {
        /// Agent name.
        name: String,
        /// Ticket named by the proof.
        ticket: Option<u64>,
        /// Which proof was found.
        proof: &'static str,
    },
    /// From an agent address without proof.
    Impersonation {
        /// The agent address claimed.
        claimed: String,
    },
}

/// Decides whether `inbound` is an authenticated agent's mail.
pub(crate) fn authenticate(config: &Config, inbound: &Inbound) -> Auth {
    let Some(agent) = config.agent_by_address(&inbound.from.address) else {
        return Auth::NotAgent;
    };
    let Some(out) = &config.outbound else {
        return Auth::Impersonation {
            claimed: inbound.from.address.clone(),
        };
    };
    let secret = &out.resolved_secret;
    let agent_ok = |ticket, proof| Auth::Agent {
        name: agent.name.clone(),
        ticket,
        proof,
    };
    for m in inbound.to.iter().chain(&inbound.cc) {
        if let Some(t) = msgid::verify_reply_address(secret, &config.support.address, &m.address) {
            return agent_ok(Some(t), "signed reply address");
        }
    }
    for id in inbound.in_reply_to.iter().chain(&inbound.references) {
        if let Some(t) = msgid::verify_agent(secret, id) {
            return agent_ok(Some(t), "signed notification Message-ID");
        }
    }
    if let Some(authserv) = &config.support.trusted_authserv_id {
        let domain = inbound
            .from
            .address
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        if inbound
            .authentication_results
            .iter()
            .any(|h| authentication_passes(h, authserv, &domain))
        {
            return agent_ok(None, "Authentication-Results from our MX");
        }
    }
    Auth::Impersonation {
        claimed: inbound.from.address.clone(),
    }
}

/// True when an `Authentication-Results` value was written by `authserv` and reports DKIM
/// (`header.d`/`header.i`) or SPF (`smtp.mailfrom`) passing for `domain`.
pub(crate) fn authentication_passes(header: &str, authserv: &str, domain: &str) -> bool {
    let h = header.to_ascii_lowercase();
    let mut parts = h.split(';');
    let Some(first) = parts.next() else {
        return false;
    };
    if first.split_whitespace().next() != Some(&authserv.to_ascii_lowercase()) {
        return false;
    }
    parts.any(|p| {
        let p = p.trim();
        let pass = p.starts_with("dkim=pass") || p.starts_with("spf=pass");
        pass && p.split_whitespace().any(|kv| {
            kv.split_once('=').is_some_and(|(k, v)| {
                matches!(k, "header.d" | "header.i" | "smtp.mailfrom")
                    && (v.trim_matches('"').ends_with(&format!("@{domain}"))
                        || v.trim_matches('"') == domain)
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_results_from_our_mx_only() {
        let h = "mx.example.com; dkim=pass header.d=example.com header.s=s1; spf=pass smtp.mailfrom=alice@example.com";
        assert!(authentication_passes(h, "mx.example.com", "example.com"));
        assert!(!authentication_passes(h, "mx.other.com", "example.com"));
        assert!(!authentication_passes(h, "mx.example.com", "evil.com"));
        let fail = "mx.example.com; dkim=fail header.d=example.com; spf=softfail smtp.mailfrom=example.com";
        assert!(!authentication_passes(
            fail,
            "mx.example.com",
            "example.com"
        ));
    }
}
