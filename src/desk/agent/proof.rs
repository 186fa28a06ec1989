//! Whether a mail is an agent's.
//!
//! A From header proves nothing (RT's documented weakness), so a mail is an agent's only when its
//! From is a configured agent address *and* it carries proof: our signed per-ticket reply address
//! in To/Cc, a signed agent-notification Message-ID in In-Reply-To/References (both bound to this
//! store), or (when configured) our own MX's `Authentication-Results` with a pass aligned with the
//! agent's address ([`crate::desk::authenticated`]). Anything else from an agent address is
//! handled as a customer mail and counted as an impersonation attempt.

use crate::config::Config;
use crate::desk::authenticated::from_authentication;
use crate::mail::inbound::Inbound;

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
    let Some(signer) = config.signer() else {
        return Auth::Impersonation {
            claimed: inbound.from.address.clone(),
        };
    };
    let agent_ok = |ticket, proof| Auth::Agent {
        name: agent.name.clone(),
        ticket,
        proof,
    };
    for m in inbound.to.iter().chain(&inbound.cc) {
        // Each queue's notifications carry its own address's signed reply address.
        if let Some(t) = config
            .reply_bases()
            .find_map(|base| signer.verify_reply_address(base, &m.address))
        {
            return agent_ok(Some(t), "signed reply address");
        }
    }
    for id in inbound.in_reply_to.iter().chain(&inbound.references) {
        if let Some(t) = signer.verify_agent(id) {
            return agent_ok(Some(t), "signed notification Message-ID");
        }
    }
    if from_authentication(config.support.trusted_authserv_id.as_deref(), inbound).passed() {
        return agent_ok(None, "Authentication-Results from our MX");
    }
    Auth::Impersonation {
        claimed: inbound.from.address.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::testing::config_with;

    fn agent_mail(ar: &[&str]) -> Inbound {
        Inbound {
            authentication_results: ar.iter().map(|s| s.to_string()).collect(),
            ..Inbound::sample("alice@example.com", "Re: [SUP-1] x", "#status closed")
        }
    }

    /// With `trusted_authserv_id`, only our MX's aligned pass for the agent herself proves her:
    /// not a forged header below the real one, not a pass for another user of her domain.
    #[test]
    fn authentication_results_prove_an_agent_only_from_our_mx_and_aligned() {
        let c = config_with("");
        let mut c2 = c.clone();
        c2.support.trusted_authserv_id = Some("mx.example.com".into());
        let ok = agent_mail(&["mx.example.com; dkim=pass header.d=example.com"]);
        assert!(matches!(authenticate(&c2, &ok), Auth::Agent { .. }));
        assert!(
            matches!(authenticate(&c, &ok), Auth::Impersonation { .. }),
            "not trusted unless configured"
        );
        for ar in [
            vec![
                "mx.example.com; dkim=fail header.d=example.com",
                "mx.example.com; dkim=pass header.d=example.com",
            ],
            vec!["mx.example.com; spf=pass smtp.mailfrom=bob@example.com"],
            vec!["mx.example.com; dkim=pass header.d=example.com header.i=bob@example.com"],
            vec!["mx.other.com; dkim=pass header.d=example.com"],
            vec!["mx.example.com; dkim=pass header.d=evil.com"],
        ] {
            assert!(
                matches!(
                    authenticate(&c2, &agent_mail(&ar)),
                    Auth::Impersonation { .. }
                ),
                "{ar:?}"
            );
        }
    }
}
