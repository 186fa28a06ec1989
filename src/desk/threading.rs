//! Where a reply gets matched to a ticket, and whether its sender may join it.
//!
//! The decision is pure: the shell looks up the few candidate tickets in the store and this
//! module picks one, in this order:
//! 1. a ticket named by one of this store's signed Message-IDs in In-Reply-To/References (or a
//!    bounce's report), or by an agent's proof: whoever writes it received our mail, so it may
//!    join (and, see [`crate::desk::participants`], widen) the ticket;
//! 2. a ticket holding another referenced Message-ID (the customer's own, say), but only for a
//!    participant of that ticket or an agent: such ids travel in forwards and quotes;
//! 3. the subject tag, again only for a participant or an agent (a stranger quoting a tag must
//!    not be able to post into somebody else's ticket, as osTicket learned);
//! 4. the same normalised subject among active tickets inside a window (Foxmail and many webmail
//!    clients drop References on `回复：`), looked up under the sender's address and under the
//!    mail's customer, once more only for a participant.
//!
//! A refusal opens a new ticket linked to the one it named (so an agent can `#merge` it), except
//! when the mail carries ids signed by another store: then its tag most likely names a ticket of
//! that store, and the new ticket is linked by nothing.

use chrono::{DateTime, Duration, Utc};

use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;

/// Candidate tickets the shell found for one inbound mail.
#[derive(Debug, Clone, Default)]
pub(crate) struct Candidates {
    /// The ticket one of our signed Message-IDs (or an agent's proof) names, with that id.
    pub(crate) signed: Option<(String, Ticket)>,
    /// The ticket holding the first other referenced Message-ID we know, with that id.
    pub(crate) referenced: Option<(String, Ticket)>,
    /// The mail references an id signed by another store (an earlier, lost one).
    pub(crate) other_store: bool,
    /// Ticket number found in the subject tag.
    pub(crate) tag: Option<u64>,
    /// The ticket that number names, if it exists.
    pub(crate) tagged: Option<Ticket>,
    /// Latest tickets with the same normalised subject, under the sender's address and under
    /// the mail's customer (at most one each, no duplicates).
    pub(crate) same_subject: Vec<Ticket>,
}

/// The threading decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Match {
    /// Follow-up found by a referenced Message-ID.
    Reference {
        ticket: u64,
        /// The Message-ID that matched.
        message_id: String,
        /// It is one of our signed ids for the ticket: the sender received our mail.
        proven: bool,
    },
    /// Follow-up found by subject tag.
    Tag { ticket: u64 },
    /// Follow-up found by subject.
    Subject { ticket: u64 },
    /// A new ticket.
    New {
        /// A ticket the mail referred to but may not join (recorded as related).
        related: Option<u64>,
        /// Why an apparent match was refused, for the log and the agents.
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

    /// True when the mail proves its sender received our mail about the ticket.
    pub(crate) fn proven(&self) -> bool {
        matches!(self, Match::Reference { proven: true, .. })
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

/// Picks the ticket for `inbound` (see the module docs). `sender_is_agent` is an authenticated
/// agent; `window` bounds subject threading by the candidate's last update.
pub(crate) fn decide(
    inbound: &Inbound,
    candidates: &Candidates,
    sender_is_agent: bool,
    window: Duration,
    now: DateTime<Utc>,
) -> Match {
    let sender = &inbound.from.address;
    let on = |t: &Ticket| sender_is_agent || t.is_participant(sender);
    if let Some((message_id, t)) = &candidates.signed {
        return Match::Reference {
            ticket: t.id,
            message_id: message_id.clone(),
            proven: true,
        };
    }
    // The first refusal and the ticket it names.
    let mut refusal: Option<(Option<u64>, String)> = None;
    let refuse = |refusal: &mut Option<(Option<u64>, String)>, t: Option<&Ticket>, why: String| {
        if refusal.is_none() {
            *refusal = Some((t.map(|t| t.id), why));
        }
    };
    if let Some((message_id, t)) = &candidates.referenced {
        if on(t) {
            return Match::Reference {
                ticket: t.id,
                message_id: message_id.clone(),
                proven: false,
            };
        }
        refuse(
            &mut refusal,
            Some(t),
            format!(
                "it refers to a mail of ticket {} ({message_id}), but {sender} is not one of its participants",
                t.id
            ),
        );
    }
    if let Some(n) = candidates.tag {
        match &candidates.tagged {
            Some(t) if on(t) && refusal.is_none() => return Match::Tag { ticket: t.id },
            Some(t) => refuse(
                &mut refusal,
                Some(t),
                format!(
                    "its subject tag names ticket {}, but {sender} is not one of its participants",
                    t.id
                ),
            ),
            None => refuse(
                &mut refusal,
                None,
                format!("its subject tag names ticket {n}, which does not exist"),
            ),
        }
    }
    if refusal.is_none() {
        let live: Vec<&Ticket> = candidates
            .same_subject
            .iter()
            .filter(|t| {
                !t.normalized_subject.is_empty()
                    && t.status.is_active()
                    && now.signed_duration_since(t.updated_at) <= window
            })
            .collect();
        if let Some(t) = live.iter().find(|t| on(t)) {
            return Match::Subject { ticket: t.id };
        }
        if let Some(t) = live.first() {
            refuse(
                &mut refusal,
                Some(t),
                format!(
                    "it has the subject of ticket {} (customer {}), but {sender} is not one of its participants",
                    t.id, t.customer
                ),
            );
        }
    }
    let (mut related, mut refused) = match refusal {
        Some((t, why)) => (t, Some(why)),
        None => (None, None),
    };
    if candidates.other_store {
        related = None;
        refused = Some(format!(
            "it answers mail signed by another store (an earlier one, lost or replaced?){}",
            refused.map(|r| format!("; {r}")).unwrap_or_default()
        ));
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
    fn our_signed_reference_wins_over_everything_for_anyone() {
        let c = Candidates {
            signed: Some(("a@x".into(), ticket(7, "z@z", Status::Closed, now()))),
            tag: Some(3),
            tagged: Some(ticket(3, "a@b", Status::Open, now())),
            ..Default::default()
        };
        let m = decide(&inbound("stranger@b"), &c, false, Duration::days(30), now());
        assert_eq!(m.ticket(), Some(7));
        assert!(m.proven());
    }

    /// A customer's own Message-ID (seen in a forward, say) lets a participant in, nobody else.
    #[test]
    fn another_reference_only_for_participants() {
        let c = Candidates {
            referenced: Some((
                "c1@a.com".into(),
                ticket(7, "cust@a.com", Status::Open, now()),
            )),
            ..Default::default()
        };
        let w = Duration::days(30);
        let m = decide(&inbound("cust@a.com"), &c, false, w, now());
        assert_eq!(m.ticket(), Some(7));
        assert!(!m.proven());
        let m = decide(&inbound("evil@x.com"), &c, false, w, now());
        assert!(
            matches!(
                m,
                Match::New {
                    related: Some(7),
                    refused: Some(_)
                }
            ),
            "{m:?}"
        );
        assert_eq!(
            decide(&inbound("agent@us"), &c, true, w, now()).ticket(),
            Some(7)
        );
    }

    /// The stranger who writes the same subject and the customer's ID: a new ticket, linked.
    #[test]
    fn subject_only_for_participants_whichever_key_found_it() {
        let w = Duration::days(30);
        let c = Candidates {
            same_subject: vec![ticket(4, "cust@a.com", Status::Open, now())],
            ..Default::default()
        };
        assert_eq!(
            decide(&inbound("cust@a.com"), &c, false, w, now()),
            Match::Subject { ticket: 4 }
        );
        let m = decide(&inbound("stranger@x.com"), &c, false, w, now());
        assert!(
            matches!(
                m,
                Match::New {
                    related: Some(4),
                    ..
                }
            ),
            "{m:?}"
        );
        // With two candidates, the one the sender is on.
        let c = Candidates {
            same_subject: vec![
                ticket(4, "other@a.com", Status::Open, now()),
                ticket(5, "cust@a.com", Status::Open, now()),
            ],
            ..Default::default()
        };
        assert_eq!(
            decide(&inbound("cust@a.com"), &c, false, w, now()),
            Match::Subject { ticket: 5 }
        );
    }

    /// The lost store: a reply to an earlier store's mail carries its tag, which names some
    /// other customer's ticket here. A new ticket, linked to nothing.
    #[test]
    fn mail_for_another_store_is_linked_to_nothing() {
        let c = Candidates {
            other_store: true,
            tag: Some(1),
            tagged: Some(ticket(1, "someone@else.com", Status::Open, now())),
            ..Default::default()
        };
        let m = decide(&inbound("cust@a.com"), &c, false, Duration::days(30), now());
        assert!(
            matches!(
                m,
                Match::New {
                    related: None,
                    refused: Some(_)
                }
            ),
            "{m:?}"
        );
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
            same_subject: vec![ticket(3, "cust@a.com", Status::Open, now())],
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
            same_subject: vec![ticket(5, "c@a", status, updated)],
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
