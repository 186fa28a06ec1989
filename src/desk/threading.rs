//! Where a reply gets matched to a ticket.
//!
//! The decision is pure: the shell looks up the few candidate tickets in the store (by
//! referenced Message-ID, by subject tag, by subject + customer) and this module picks one, in
//! this order:
//! 1. In-Reply-To/References naming a message we stored or sent;
//! 2. the subject tag, but only from a participant of that ticket or an agent (a stranger quoting
//!    a tag must not be able to post into somebody else's ticket, as osTicket learned);
//! 3. the same normalised subject from the same customer among active tickets, inside a window
//!    (Foxmail and many webmail clients drop References on `回复：`).

use chrono::{DateTime, Duration, Utc};

use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;

/// Candidate tickets the shell found for one inbound mail.
#[derive(Debug, Clone, Default)]
pub(crate) struct Candidates {
    /// First referenced Message-ID we know, with its ticket.
    pub(crate) referenced: Option<(String, Ticket)>,
    /// Ticket number found in the subject tag.
    pub(crate) tag: Option<u64>,
    /// The ticket that number names, if it exists.
    pub(crate) tagged: Option<Ticket>,
    /// Latest ticket with the same customer and normalised subject.
    pub(crate) same_subject: Option<Ticket>,
}

/// The threading decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    /// Follow-up found by a referenced Message-ID.
    Reference {
        ticket: u64,
        /// The Message-ID that matched.
        message_id: String,
    },
    /// Follow-up found by subject tag.
    Tag { ticket: u64 },
    /// Follow-up found by subject and customer.
    Subject { ticket: u64 },
    /// A new ticket.
    New {
        /// A ticket the mail referred to but may not join (recorded as related).
        related: Option<u64>,
        /// Why an apparent match was refused, for the log.
        refused: Option<String>,
    },
}

impl Match {
    /// The existing ticket chosen, if any.
    pub(crate) fn ticket(&self) -> Option<u64> {
        match self {
            Match::Reference { ticket, .. } | Match::Tag { ticket } | Match::Subject { ticket } => {
                Some(*ticket)
            }
            Match::New { .. } => None,
        }
    }
}

/// Message-IDs to look up, most specific first: In-Reply-To, then References newest first, each
/// once. Linear in the number of ids (a hostile References header may carry many thousands).
pub(crate) fn reference_ids(inbound: &Inbound) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    inbound
        .in_reply_to
        .iter()
        .chain(inbound.references.iter().rev())
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// Picks the ticket for `inbound`. `sender_is_agent` comes from configuration; `window` bounds
/// subject threading by the candidate's last update.
pub(crate) fn decide(
    inbound: &Inbound,
    candidates: &Candidates,
    sender_is_agent: bool,
    window: Duration,
    now: DateTime<Utc>,
) -> Match {
    if let Some((message_id, t)) = &candidates.referenced {
        return Match::Reference {
            ticket: t.id,
            message_id: message_id.clone(),
        };
    }
    let mut refused = None;
    let mut related = None;
    if let Some(n) = candidates.tag {
        match &candidates.tagged {
            Some(t) if sender_is_agent || t.is_participant(&inbound.from.address) => {
                return Match::Tag { ticket: t.id };
            }
            Some(t) => {
                related = Some(t.id);
                refused = Some(format!(
                    "subject tag names ticket {} but {} is not one of its participants",
                    t.id, inbound.from.address
                ));
            }
            None => {
                refused = Some(format!(
                    "subject tag names ticket {n}, which does not exist"
                ))
            }
        }
    }
    if refused.is_none()
        && let Some(t) = &candidates.same_subject
        && !t.normalized_subject.is_empty()
        && t.status.is_active()
        && now.signed_duration_since(t.updated_at) <= window
    {
        return Match::Subject { ticket: t.id };
    }
    Match::New { related, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::status::Status;
    use crate::mail::mailbox::Mailbox;

    fn inbound(from: &str) -> Inbound {
        Inbound {
            in_reply_to: vec!["a@x".into()],
            references: vec!["r1@x".into(), "r2@x".into(), "a@x".into()],
            ..Inbound::sample(from, "Re: help", "")
        }
    }

    fn ticket(id: u64, participant: &str, status: Status, updated: DateTime<Utc>) -> Ticket {
        let requester = Mailbox {
            name: None,
            address: participant.into(),
        };
        let mut t = Ticket::new(
            id,
            "c".into(),
            requester,
            "help".into(),
            "help".into(),
            updated,
        );
        t.status = status;
        t.participants = vec![participant.into()];
        t.message_count = 1;
        t
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn reference_order_is_in_reply_to_then_newest_reference() {
        assert_eq!(reference_ids(&inbound("a@b")), ["a@x", "r2@x", "r1@x"]);
    }

    #[test]
    fn a_hundred_thousand_references_are_deduplicated_in_order() {
        let mut m = inbound("a@b");
        m.in_reply_to = vec!["x@x".into(), "x@x".into()];
        m.references = (0..100_000).map(|i| format!("r{}@x", i % 50_000)).collect();
        m.references.push("x@x".into());
        let ids = reference_ids(&m);
        assert_eq!(ids.len(), 50_001);
        assert_eq!(&ids[..3], ["x@x", "r49999@x", "r49998@x"]);
    }

    #[test]
    fn reference_wins_over_everything() {
        let c = Candidates {
            referenced: Some(("a@x".into(), ticket(7, "z@z", Status::Closed, now()))),
            tag: Some(3),
            tagged: Some(ticket(3, "a@b", Status::Open, now())),
            same_subject: None,
        };
        let m = decide(&inbound("a@b"), &c, false, Duration::days(30), now());
        assert_eq!(m.ticket(), Some(7));
    }

    #[test]
    fn tag_only_from_participant_or_agent() {
        let c = Candidates {
            tag: Some(3),
            tagged: Some(ticket(3, "cust@a.com", Status::Open, now())),
            ..Default::default()
        };
        let w = Duration::days(30);
        assert_eq!(
            decide(&inbound("CUST@a.com"), &c, false, w, now()),
            Match::Tag { ticket: 3 }
        );
        assert_eq!(
            decide(&inbound("agent@us.com"), &c, true, w, now()),
            Match::Tag { ticket: 3 }
        );
        let m = decide(&inbound("evil@x.com"), &c, false, w, now());
        assert!(
            matches!(
                m,
                Match::New {
                    related: Some(3),
                    refused: Some(_)
                }
            ),
            "{m:?}"
        );
    }

    #[test]
    fn refused_tag_does_not_fall_through_to_subject() {
        let c = Candidates {
            tag: Some(3),
            tagged: Some(ticket(3, "cust@a.com", Status::Open, now())),
            same_subject: Some(ticket(3, "cust@a.com", Status::Open, now())),
            ..Default::default()
        };
        let m = decide(&inbound("evil@x.com"), &c, false, Duration::days(30), now());
        assert!(matches!(m, Match::New { .. }));
    }

    #[test]
    fn subject_only_active_and_inside_window() {
        let w = Duration::days(30);
        let recent = now() - Duration::days(2);
        let c = |status, updated| Candidates {
            same_subject: Some(ticket(5, "c@a", status, updated)),
            ..Default::default()
        };
        assert_eq!(
            decide(&inbound("c@a"), &c(Status::Open, recent), false, w, now()),
            Match::Subject { ticket: 5 }
        );
        assert!(matches!(
            decide(
                &inbound("c@a"),
                &c(Status::Resolved, recent),
                false,
                w,
                now()
            ),
            Match::New { .. }
        ));
        assert!(matches!(
            decide(
                &inbound("c@a"),
                &c(Status::Open, now() - Duration::days(31)),
                false,
                w,
                now()
            ),
            Match::New { .. }
        ));
    }
}
