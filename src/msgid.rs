//! Our own Message-IDs, signed so a reply can be matched to its ticket without a store lookup
//! and a forged one is recognised (the osTicket idea, with a full HMAC instead of 5 bytes).
//!
//! Format: `sup.<ticket>.<nonce>.<mac>@<domain>`, where `mac` is the first 16 bytes (hex) of
//! HMAC-SHA256(secret, "<ticket>.<nonce>"). The nonce makes every outgoing mail's id unique.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Length of the hex MAC in a Message-ID.
const MAC_HEX: usize = 32;

fn mac(secret: &[u8], ticket: u64, nonce: &str) -> String {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(format!("{ticket}.{nonce}").as_bytes());
    hex::encode(&m.finalize().into_bytes()[..MAC_HEX / 2])
}

/// A deterministic nonce for the mail caused by `cause` (e.g. the inbound Message-ID and the
/// kind of mail): rebuilding the same effect gives the same id.
pub fn nonce(cause: &str) -> String {
    hex::encode(&Sha256::digest(cause.as_bytes())[..6])
}

/// Builds a signed Message-ID (without angle brackets).
pub fn sign(secret: &[u8], domain: &str, ticket: u64, nonce: &str) -> String {
    format!(
        "sup.{ticket}.{nonce}.{}@{domain}",
        mac(secret, ticket, nonce)
    )
}

/// What a Message-ID says about its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not in our format: somebody else's id.
    Foreign,
    /// Ours, for this ticket.
    Ours(u64),
    /// Looks like ours but the MAC is wrong: forged or from another installation.
    Forged,
}

/// Checks a Message-ID (with or without angle brackets) against our secret.
pub fn verify(secret: &[u8], id: &str) -> Verdict {
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
    let expected = mac(secret, ticket, nonce);
    // Constant-time comparison: the MAC is the only secret-derived value an attacker can probe.
    let same = expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Verdict::Ours(ticket)
    } else {
        Verdict::Forged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
