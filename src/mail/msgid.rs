//! Our own Message-IDs and agents' reply addresses, signed so a reply can be matched to its
//! ticket without a store lookup and a forged one is recognised (the osTicket idea, with a full
//! HMAC instead of 5 bytes), and bound to one store, so mail signed by an earlier store (lost,
//! moved away, replaced) never threads into a ticket of a later one that reuses its numbers.
//!
//! Formats (`<tag>` is the first 8 hex digits of the store's instance id, `<mac>` is
//! HMAC-SHA256 keyed with the outbound secret over the kind, the *whole* instance id, the ticket
//! and the nonce, 16 bytes in hex):
//! - customer mail: `sup.<tag>.<ticket>.<nonce>.<mac>@<domain>`;
//! - agent mail: `supa.<tag>.<ticket>.<nonce>.<mac>@<domain>` (separately keyed: customers see
//!   our `sup.` ids on every acknowledgement, so only these may serve as an agent's proof);
//! - reply address: `<support local>+<ticket>.<tag>.<mac, 8 bytes>@<support domain>`.
//!
//! The formats before instance binding (`sup.<ticket>.<nonce>.<mac>`, `supa.…`,
//! `support+<ticket>.<mac>`) are accepted only by a store that was upgraded from that version
//! ([`Instance::legacy_until`]), and only for the tickets it held then.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Length of the hex MAC in a Message-ID.
const MAC_HEX: usize = 32;
/// Length of the hex MAC in a reply address.
const REPLY_MAC_HEX: usize = 16;
/// Hex digits of the instance id written into ids and addresses.
pub(crate) const TAG_HEX: usize = 8;

/// The store a signature is bound to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Instance {
    /// The store's random instance id (hex).
    pub(crate) id: String,
    /// Set on a store upgraded from before instance ids: ids in the old format are its own for
    /// tickets up to this number.
    pub(crate) legacy_until: Option<u64>,
}

impl Instance {
    /// The short form written into ids and addresses (zeros for an unbound configuration,
    /// which only unit tests use: the shell binds every configuration to its store).
    pub(crate) fn tag(&self) -> &str {
        match self.id.get(..TAG_HEX) {
            Some(t) => t,
            None => "00000000",
        }
    }
}

/// The outbound secret together with the store it signs for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signer<'a> {
    pub(crate) secret: &'a [u8],
    pub(crate) instance: &'a Instance,
}

/// What a Message-ID says about its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Not in our format: somebody else's id.
    Foreign,
    /// Ours, for this ticket.
    Ours(u64),
    /// Looks like ours but the MAC is wrong: forged.
    Forged,
    /// Ours in form, but signed for another store (an earlier, lost or replaced one): it names
    /// a ticket of that store, not of this one.
    OtherStore,
}

impl Verdict {
    /// True for anything in our format (ours, forged or another store's).
    pub(crate) fn looks_like_ours(self) -> bool {
        self != Verdict::Foreign
    }
}

fn hmac_hex(secret: &[u8], input: &str, hex_len: usize) -> String {
    // An empty key is public: anything signed or verified with it could be forged. The shell
    // fills in the store's generated secret before any mail is handled, so this is a bug.
    assert!(!secret.is_empty(), "signing with an empty secret");
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    m.update(input.as_bytes());
    hex::encode(&m.finalize().into_bytes()[..hex_len / 2])
}

/// The MAC before instance binding (kept to verify what an upgraded store signed).
fn legacy_mac(secret: &[u8], ticket: u64, nonce: &str) -> String {
    hmac_hex(secret, &format!("{ticket}.{nonce}"), MAC_HEX)
}

/// A deterministic nonce for the mail caused by `cause` (e.g. the inbound Message-ID and the
/// kind of mail): rebuilding the same effect gives the same id.
pub(crate) fn nonce(cause: &str) -> String {
    hex::encode(&Sha256::digest(cause.as_bytes())[..6])
}

fn strip(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>')
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Signer<'_> {
    fn mac(&self, kind: &str, ticket: u64, nonce: &str, hex_len: usize) -> String {
        let input = format!("v2|{kind}|{}|{ticket}|{nonce}", self.instance.id);
        hmac_hex(self.secret, &input, hex_len)
    }

    fn legacy_ok(&self, ticket: u64) -> bool {
        self.instance.legacy_until.is_some_and(|n| ticket <= n)
    }

    /// Builds a signed Message-ID for mail to customers (without angle brackets).
    pub(crate) fn sign(&self, domain: &str, ticket: u64, nonce: &str) -> String {
        let mac = self.mac("sup", ticket, nonce, MAC_HEX);
        format!(
            "sup.{}.{ticket}.{nonce}.{mac}@{domain}",
            self.instance.tag()
        )
    }

    /// Checks a Message-ID (with or without angle brackets).
    pub(crate) fn verify(&self, id: &str) -> Verdict {
        self.verify_kind("sup", id)
    }

    fn verify_kind(&self, kind: &str, id: &str) -> Verdict {
        let id = strip(id);
        let local = id.split('@').next().unwrap_or_default();
        let parts: Vec<&str> = local.split('.').collect();
        match parts[..] {
            [prefix, tag, ticket, nonce, given] if prefix == kind && is_hex(tag) => {
                let Ok(ticket) = ticket.parse::<u64>() else {
                    return Verdict::Foreign;
                };
                if !tag.eq_ignore_ascii_case(self.instance.tag()) {
                    return Verdict::OtherStore;
                }
                if constant_time_eq(
                    &self.mac(kind, ticket, nonce, MAC_HEX),
                    &given.to_ascii_lowercase(),
                ) {
                    Verdict::Ours(ticket)
                } else {
                    Verdict::Forged
                }
            }
            [prefix, ticket, nonce, given] if prefix == kind => {
                let Ok(ticket) = ticket.parse::<u64>() else {
                    return Verdict::Foreign;
                };
                let n = if kind == "supa" {
                    format!("agent-{nonce}")
                } else {
                    nonce.to_owned()
                };
                if !constant_time_eq(&legacy_mac(self.secret, ticket, &n), given) {
                    Verdict::Forged
                } else if self.legacy_ok(ticket) {
                    Verdict::Ours(ticket)
                } else {
                    Verdict::OtherStore
                }
            }
            _ => Verdict::Foreign,
        }
    }

    /// A Message-ID for mail to *agents*.
    pub(crate) fn sign_agent(&self, domain: &str, ticket: u64, nonce: &str) -> String {
        let mac = self.mac("supa", ticket, nonce, MAC_HEX);
        format!(
            "supa.{}.{ticket}.{nonce}.{mac}@{domain}",
            self.instance.tag()
        )
    }

    /// The ticket an agent-notification Message-ID names, if it is genuinely this store's.
    pub(crate) fn verify_agent(&self, id: &str) -> Option<u64> {
        match self.verify_kind("supa", id) {
            Verdict::Ours(t) => Some(t),
            _ => None,
        }
    }

    /// The per-ticket reply address given to agents.
    pub(crate) fn reply_address(&self, support: &str, ticket: u64) -> String {
        let (local, domain) = support.split_once('@').unwrap_or((support, "localhost"));
        let m = self.mac("reply", ticket, "", REPLY_MAC_HEX);
        format!("{local}+{ticket}.{}.{m}@{domain}", self.instance.tag())
    }

    /// The ticket a reply address names, if its MAC is right, it belongs to `support` and it
    /// was given out by this store.
    pub(crate) fn verify_reply_address(&self, support: &str, address: &str) -> Option<u64> {
        let (local, domain) = support.split_once('@')?;
        let (alocal, adomain) = address.rsplit_once('@')?;
        if !adomain.eq_ignore_ascii_case(domain) {
            return None;
        }
        let rest = alocal.strip_prefix(local)?.strip_prefix('+')?;
        let parts: Vec<&str> = rest.split('.').collect();
        match parts[..] {
            [ticket, tag, given] => {
                let ticket: u64 = ticket.parse().ok()?;
                (tag.eq_ignore_ascii_case(self.instance.tag())
                    && constant_time_eq(
                        &self.mac("reply", ticket, "", REPLY_MAC_HEX),
                        &given.to_ascii_lowercase(),
                    ))
                .then_some(ticket)
            }
            [ticket, given] => {
                let ticket: u64 = ticket.parse().ok()?;
                let legacy = &legacy_mac(self.secret, ticket, "reply")[..16];
                (self.legacy_ok(ticket) && constant_time_eq(legacy, &given.to_ascii_lowercase()))
                    .then_some(ticket)
            }
            _ => None,
        }
    }
}

/// True for one of our per-ticket reply addresses (`support+…@`), whoever signed it: never a
/// participant, never a customer.
pub(crate) fn is_reply_address(support: &str, address: &str) -> bool {
    let (local, domain) = support.split_once('@').unwrap_or_default();
    address.rsplit_once('@').is_some_and(|(l, d)| {
        d.eq_ignore_ascii_case(domain)
            && l.len() > local.len() + 1
            && l.get(..local.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(local))
            && l.as_bytes().get(local.len()) == Some(&b'+')
    })
}

/// Compares without an early exit: the MAC is the one secret-derived value an attacker can probe.
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Ids written by the code before instance binding, for tests of upgraded stores.
#[cfg(test)]
pub(crate) fn legacy_sign(secret: &[u8], domain: &str, ticket: u64, nonce: &str) -> String {
    format!(
        "sup.{ticket}.{nonce}.{}@{domain}",
        legacy_mac(secret, ticket, nonce)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(id: &str, legacy: Option<u64>) -> Instance {
        Instance {
            id: id.into(),
            legacy_until: legacy,
        }
    }

    #[test]
    fn agent_ids_and_reply_addresses() {
        let i = inst("0123456789abcdef0123456789abcdef", None);
        let s = Signer {
            secret: b"k",
            instance: &i,
        };
        let id = s.sign_agent("example.com", 7, "n1");
        assert_eq!(s.verify_agent(&id), Some(7));
        let other = Signer {
            secret: b"x",
            instance: &i,
        };
        assert_eq!(other.verify_agent(&id), None);
        // A customer-facing id is never an agent proof, and vice versa.
        let customer_id = s.sign("example.com", 7, "n1");
        assert_eq!(s.verify_agent(&customer_id), None);
        assert_eq!(s.verify(&id), Verdict::Foreign);
        let addr = s.reply_address("support@example.com", 42);
        assert!(addr.starts_with("support+42.01234567."), "{addr}");
        assert_eq!(
            s.verify_reply_address("support@example.com", &addr),
            Some(42)
        );
        assert_eq!(
            s.verify_reply_address("support@example.com", &addr.to_uppercase()),
            None,
            "the support address's local part is compared as configured"
        );
        let forged = addr.replacen("+42.", "+43.", 1);
        assert_eq!(s.verify_reply_address("support@example.com", &forged), None);
        assert_eq!(
            s.verify_reply_address("support@example.com", "support@example.com"),
            None
        );
        assert!(is_reply_address("support@example.com", &addr));
        assert!(!is_reply_address(
            "support@example.com",
            "support@example.com"
        ));
        assert!(!is_reply_address(
            "support@example.com",
            "supportx@example.com"
        ));
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let i = inst("aaaabbbbccccddddeeeeffff00001111", None);
        let s = Signer {
            secret: b"k",
            instance: &i,
        };
        let id = s.sign("example.com", 42, &nonce("a"));
        assert!(id.starts_with("sup.aaaabbbb.42."), "{id}");
        assert_eq!(s.verify(&id), Verdict::Ours(42));
        assert_eq!(s.verify(&format!("<{id}>")), Verdict::Ours(42));
        let other_key = Signer {
            secret: b"other",
            instance: &i,
        };
        assert_eq!(other_key.verify(&id), Verdict::Forged);
        let tampered = id.replacen(".42.", ".43.", 1);
        assert_eq!(s.verify(&tampered), Verdict::Forged);
        assert_eq!(s.verify("CAF00@mail.gmail.com"), Verdict::Foreign);
        assert_eq!(s.verify("sup.x.y.z@a"), Verdict::Foreign);
        assert_ne!(nonce("a"), nonce("b"));
    }

    /// The lost-store case: a new store with the same secret reuses ticket numbers, but what an
    /// earlier store signed names that store's tickets.
    #[test]
    fn ids_of_another_store_are_not_ours() {
        let old = inst("11111111aaaaaaaaaaaaaaaaaaaaaaaa", None);
        let new = inst("22222222bbbbbbbbbbbbbbbbbbbbbbbb", None);
        let old_s = Signer {
            secret: b"k",
            instance: &old,
        };
        let new_s = Signer {
            secret: b"k",
            instance: &new,
        };
        let id = old_s.sign("example.com", 1, "n");
        assert_eq!(new_s.verify(&id), Verdict::OtherStore);
        // Same tag, different instance: the MAC covers the whole id.
        let twin = inst("11111111bbbbbbbbbbbbbbbbbbbbbbbb", None);
        let twin_s = Signer {
            secret: b"k",
            instance: &twin,
        };
        assert_eq!(twin_s.verify(&id), Verdict::Forged);
        let addr = old_s.reply_address("support@example.com", 1);
        assert_eq!(
            new_s.verify_reply_address("support@example.com", &addr),
            None
        );
        let agent = old_s.sign_agent("example.com", 1, "n");
        assert_eq!(new_s.verify_agent(&agent), None);
    }

    #[test]
    fn an_upgraded_store_keeps_its_old_ids_for_its_old_tickets() {
        let legacy_id = legacy_sign(b"k", "example.com", 3, "n");
        let legacy_addr = format!(
            "support+3.{}@example.com",
            &legacy_mac(b"k", 3, "reply")[..16]
        );
        let legacy_agent = format!("supa.3.n.{}@example.com", legacy_mac(b"k", 3, "agent-n"));
        let upgraded = inst("33333333cccccccccccccccccccccccc", Some(5));
        let s = Signer {
            secret: b"k",
            instance: &upgraded,
        };
        assert_eq!(s.verify(&legacy_id), Verdict::Ours(3));
        assert_eq!(
            s.verify_reply_address("support@example.com", &legacy_addr),
            Some(3)
        );
        assert_eq!(s.verify_agent(&legacy_agent), Some(3));
        // Not for tickets it did not have at the upgrade.
        let late = legacy_sign(b"k", "example.com", 6, "n");
        assert_eq!(s.verify(&late), Verdict::OtherStore);
        // A store created after the change accepts none of them.
        let fresh = inst("44444444dddddddddddddddddddddddd", None);
        let f = Signer {
            secret: b"k",
            instance: &fresh,
        };
        assert_eq!(f.verify(&legacy_id), Verdict::OtherStore);
        assert_eq!(
            f.verify_reply_address("support@example.com", &legacy_addr),
            None
        );
        assert_eq!(f.verify_agent(&legacy_agent), None);
        // A legacy-looking id with a bad MAC is forged either way.
        let bad = legacy_id.replacen("sup.3.", "sup.4.", 1);
        assert_eq!(s.verify(&bad), Verdict::Forged);
    }
}
