//! Our own Message-IDs, signed so a reply can be matched to its ticket without a store lookup
//! and a forged one is recognised (the osTicket idea, with a full HMAC instead of 5 bytes).
//!
//! Format: `sup.<ticket>.<nonce>.<mac>@<domain>`, where `mac` is the first 16 bytes (hex) of
//! `HMAC-SHA256(secret, "<ticket>.<nonce>")`. The nonce makes every outgoing mail's id unique.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Length of the hex MAC in a Message-ID.
const MAC_HEX: usize = 32;

fn mac(secret: &[u8], ticket: u64, nonce: &str) -> String {
    // An empty key is public: anything signed or verified with it could be forged. The shell
    // fills in the store's generated secret before any mail is handled, so this is a bug.
    assert!(!secret.is_empty(), "signing with an empty secret");
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(format!("{ticket}.{nonce}").as_bytes());
    hex::encode(&m.finalize().into_bytes()[..MAC_HEX / 2])
}

/// A deterministic nonce for the mail caused by `cause` (e.g. the inbound Message-ID and the
/// kind of mail): rebuilding the same effect gives the same id.
pub(crate) fn nonce(cause: &str) -> String {
    hex::encode(&Sha256::digest(cause.as_bytes())[..6])
}

/// Builds a signed Message-ID (without angle brackets).
pub(crate) fn sign(secret: &[u8], domain: &str, ticket: u64, nonce: &str) -> String {
    format!(
        "sup.{ticket}.{nonce}.{}@{domain}",
        mac(secret, ticket, nonce)
    )
}

/// What a Message-ID says about its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not in our format: somebody else's id.
    Foreign,
    /// Ours, for this ticket.
    Ours(u64),
    /// Looks like ours but the MAC is wrong: forged or from another installation.
    Forged,
}

/// Checks a Message-ID (with or without angle brackets) against our secret.
pub(crate) fn verify(secret: &[u8], id: &str) -> Verdict {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let Some(local) = id.split('@').next() else {
        return Verdict::Foreign;
    };
    let parts: Vec<&str> = local.split('.').collect();
    let [prefix, ticket, nonce, given] = parts[..] else {
        return Verdict::Foreign;
    };
    if prefix != "sup" {
        return Verdict::Foreign;
    }
    let Ok(ticket) = ticket.parse::<u64>() else {
        return Verdict::Foreign;
    };
    if constant_time_eq(&mac(secret, ticket, nonce), given) {
        Verdict::Ours(ticket)
    } else {
        Verdict::Forged
    }
}

/// A Message-ID for mail to *agents* (`supa.` prefix, separately keyed MAC). Customers receive
/// our `sup.` ids on every acknowledgement, so only these may serve as an agent's proof.
pub(crate) fn sign_agent(secret: &[u8], domain: &str, ticket: u64, nonce: &str) -> String {
    let n = format!("agent-{nonce}");
    format!("supa.{ticket}.{nonce}.{}@{domain}", mac(secret, ticket, &n))
}

/// The ticket an agent-notification Message-ID names, if it is genuinely ours.
pub(crate) fn verify_agent(secret: &[u8], id: &str) -> Option<u64> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    let local = id.split('@').next()?;
    let parts: Vec<&str> = local.split('.').collect();
    let ["supa", ticket, nonce, given] = parts[..] else {
        return None;
    };
    let ticket: u64 = ticket.parse().ok()?;
    let expected = mac(secret, ticket, &format!("agent-{nonce}"));
    constant_time_eq(&expected, given).then_some(ticket)
}

/// The per-ticket reply address given to agents: `support+<ticket>.<mac>@domain`.
pub(crate) fn reply_address(secret: &[u8], support: &str, ticket: u64) -> String {
    let (local, domain) = support.split_once('@').unwrap_or((support, "localhost"));
    let m = &mac(secret, ticket, "reply")[..16];
    format!("{local}+{ticket}.{m}@{domain}")
}

/// The ticket a reply address names, if its MAC is right and it belongs to `support`.
pub(crate) fn verify_reply_address(secret: &[u8], support: &str, address: &str) -> Option<u64> {
    let (local, domain) = support.split_once('@')?;
    let (alocal, adomain) = address.rsplit_once('@')?;
    if !adomain.eq_ignore_ascii_case(domain) {
        return None;
    }
    let rest = alocal.strip_prefix(local)?.strip_prefix('+')?;
    let (ticket, given) = rest.split_once('.')?;
    let ticket: u64 = ticket.parse().ok()?;
    constant_time_eq(
        &mac(secret, ticket, "reply")[..16],
        &given.to_ascii_lowercase(),
    )
    .then_some(ticket)
}

/// Compares without an early exit: the MAC is the one secret-derived value an attacker can probe.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_and_reply_addresses() {
        let id = sign_agent(b"k", "example.com", 7, "n1");
        assert_eq!(verify_agent(b"k", &id), Some(7));
        assert_eq!(verify_agent(b"x", &id), None);
        // A customer-facing id is never an agent proof, and vice versa.
        let customer_id = sign(b"k", "example.com", 7, "n1");
        assert_eq!(verify_agent(b"k", &customer_id), None);
        assert_eq!(verify(b"k", &id), Verdict::Foreign);
        let addr = reply_address(b"k", "support@example.com", 42);
        assert!(addr.starts_with("support+42."), "{addr}");
        assert_eq!(
            verify_reply_address(b"k", "support@example.com", &addr),
            Some(42)
        );
        assert_eq!(
            verify_reply_address(
                b"k",
                "support@example.com",
                &addr
                    .to_uppercase()
                    .replace("SUPPORT", "support")
                    .replace("EXAMPLE.COM", "example.com")
            ),
            Some(42)
        );
        let forged = addr.replacen("+42.", "+43.", 1);
        assert_eq!(
            verify_reply_address(b"k", "support@example.com", &forged),
            None
        );
        assert_eq!(
            verify_reply_address(b"k", "support@example.com", "support@example.com"),
            None
        );
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let id = sign(b"k", "example.com", 42, &nonce("a"));
        assert!(id.starts_with("sup.42."), "{id}");
        assert_eq!(verify(b"k", &id), Verdict::Ours(42));
        assert_eq!(verify(b"k", &format!("<{id}>")), Verdict::Ours(42));
        assert_eq!(verify(b"other", &id), Verdict::Forged);
        let tampered = id.replacen("sup.42.", "sup.43.", 1);
        assert_eq!(verify(b"k", &tampered), Verdict::Forged);
        assert_eq!(verify(b"k", "CAF00@mail.gmail.com"), Verdict::Foreign);
        assert_eq!(verify(b"k", "sup.x.y.z@a"), Verdict::Foreign);
        assert_ne!(nonce("a"), nonce("b"));
    }
}
