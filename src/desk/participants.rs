//! Who may be on a ticket: the addresses that receive its replies and may follow up.
//!
//! Joining and widening a ticket are the two ways a stranger could read another customer's
//! mail, so the rules are strict:
//! - the requester and the To/Cc of the mail that opened the ticket are on it;
//! - To/Cc of a later mail are added only when that mail proves its sender received our mail
//!   (it references one of this store's signed Message-IDs for the ticket) or our MX
//!   authenticated its From ([`crate::desk::authenticated`]); the sender of such a reply is
//!   added too; an agent adds and removes with `#cc add|remove ADDR`;
//! - never: our own addresses and reply addresses, agents, machine senders (MAILER-DAEMON,
//!   postmaster, no-reply, …), addresses that do not parse or cannot be sent to;
//! - at most `support.max_participants` addresses, the requester included.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::desk::outbound::may_answer::is_system_address;
use crate::domain::ticket::{Joined, Participant, Ticket};
use crate::mail::msgid;

/// Why an address was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("{0} is one of our own addresses")]
    Own(String),
    #[error("{0} is an agent")]
    Agent(String),
    #[error("{0} is a machine's address")]
    Machine(String),
    #[error("`{0}` is not an address mail can be sent to")]
    Unsendable(String),
    #[error("{0} not added: the ticket already has {1} participants (support.max_participants)")]
    Full(String, usize),
}

/// `address` is one mail can be sent to: `local@domain` as lettre reads it, the domain with a
/// dot or `localhost`-style single label excluded.
pub(crate) fn sendable(address: &str) -> bool {
    address.parse::<lettre::Address>().is_ok_and(|a| {
        let d = a.domain();
        d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
    })
}

/// Why `address` may never be on a ticket, if it may not.
pub(crate) fn never(config: &Config, address: &str) -> Option<Refused> {
    let a = address.to_lowercase();
    if config.is_own_address(&a)
        || config
            .reply_bases()
            .any(|base| msgid::is_reply_address(base, &a))
    {
        Some(Refused::Own(a))
    } else if config.agent_by_address(&a).is_some() {
        Some(Refused::Agent(a))
    } else if !sendable(&a) {
        Some(Refused::Unsendable(a))
    } else if is_system_address(&a) {
        Some(Refused::Machine(a))
    } else {
        None
    }
}

/// Adds `address` to `ticket`. `Ok(true)` when added, `Ok(false)` when it was already on it.
pub(crate) fn admit(
    config: &Config,
    ticket: &mut Ticket,
    address: &str,
    how: Joined,
    by: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, Refused> {
    let a = address.to_lowercase();
    if ticket.is_participant(&a) {
        return Ok(false);
    }
    if let Some(why) = never(config, &a) {
        return Err(why);
    }
    let max = config.support.max_participants;
    if ticket.participants.len() >= max {
        return Err(Refused::Full(a, max));
    }
    ticket.participants.push(Participant {
        address: a,
        how,
        by,
        at: Some(now),
    });
    Ok(true)
}

/// Removes `address`; the requester stays (the replies are addressed to them).
pub(crate) fn remove(ticket: &mut Ticket, address: &str) -> Result<(), String> {
    if ticket.requester.address.eq_ignore_ascii_case(address) {
        return Err(format!("{address} opened the ticket and stays on it"));
    }
    let before = ticket.participants.len();
    ticket
        .participants
        .retain(|p| !p.address.eq_ignore_ascii_case(address));
    if ticket.participants.len() == before {
        return Err(format!("{address} is not on the ticket"));
    }
    Ok(())
}

/// One line per participant for agents: address, how and when, `(new)` for those added at `now`.
pub(crate) fn listing(ticket: &Ticket, now: DateTime<Utc>) -> Vec<String> {
    ticket
        .participants
        .iter()
        .map(|p| {
            let how = match p.how {
                Joined::Requester => "requester".to_owned(),
                Joined::OpeningMail => "copied on the first mail".to_owned(),
                Joined::RepliedToOurMail => "replied to our mail".to_owned(),
                Joined::CcOfReply => "copied on a reply to our mail".to_owned(),
                Joined::CcOfAuthenticated => "copied on an authenticated mail".to_owned(),
                Joined::Agent => format!("added by {}", p.by.as_deref().unwrap_or("an agent")),
                Joined::Merged => format!("from {}", p.by.as_deref().unwrap_or("a merged ticket")),
                Joined::Earlier => "earlier".to_owned(),
            };
            let new = if p.at == Some(now) { " (new)" } else { "" };
            format!("{}{new} - {how}", p.address)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::testing::{config, config_with, p1_ticket, tuesday_10am};

    #[test]
    fn the_never_rules() {
        let c = config();
        let t0 = tuesday_10am();
        let mut t = p1_ticket(&c, t0);
        for (addr, ok) in [
            ("colleague@example.org", true),
            ("COLLEAGUE@example.org", true),
            ("support@example.com", false),
            ("support+1.abcd.0123@example.com", false),
            ("alice@example.com", false),
            ("MAILER-DAEMON@mx.example.org", false),
            ("postmaster@example.org", false),
            ("no-reply@example.org", false),
            ("bob", false),
            ("bob@", false),
            ("bob@localhost", false),
            ("bob smith@example.org", false),
        ] {
            let r = admit(&c, &mut t, addr, Joined::CcOfReply, None, t0);
            assert_eq!(r.is_ok(), ok, "{addr}: {r:?}");
        }
        assert_eq!(
            t.participants.len(),
            2,
            "the requester and the colleague, once"
        );
        assert_eq!(t.participants[1].address, "colleague@example.org");
        assert_eq!(t.participants[1].at, Some(t0));
    }

    #[test]
    fn the_cap_and_removal() {
        let c = config_with("");
        let t0 = tuesday_10am();
        let mut t = p1_ticket(&c, t0);
        let mut added = 0;
        for i in 0..50 {
            if admit(
                &c,
                &mut t,
                &format!("cc{i}@example.org"),
                Joined::OpeningMail,
                None,
                t0,
            )
            .is_ok()
            {
                added += 1;
            }
        }
        assert_eq!(added, c.support.max_participants - 1);
        assert_eq!(t.participants.len(), c.support.max_participants);
        assert!(remove(&mut t, "cc0@example.org").is_ok());
        assert!(remove(&mut t, "cc0@example.org").is_err());
        assert!(
            remove(&mut t, "c@example.org").is_err(),
            "the requester stays"
        );
        let lines = listing(&t, t0);
        assert!(lines[1].contains("(new)"), "{lines:?}");
    }
}
