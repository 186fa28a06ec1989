//! Whether we may answer a mail automatically at all, and whether a recipient has had enough.
//!
//! The anchors' loop bugs (Zammad #1131, osTicket #1041) all come from answering something that
//! should never be answered: a machine's mail, our own mail coming back, a no-reply address, or
//! a recipient who has already had their share. Every rule here is one of those lessons.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use crate::config::Config;
use crate::desk::authenticated::{FromAuth, from_authentication};
use crate::mail::inbound::Inbound;

static NO_REPLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(mailer-daemon|postmaster|abuse|root|noreply|no-reply|no_reply|donotreply|do-not-reply|do_not_reply|bounces?|daemon)([+._-].*)?@",
    )
    .expect("valid regex")
});

/// A no-reply, mailer-daemon, postmaster, abuse, root or bounce address: never answered, never
/// a participant.
pub(crate) fn is_system_address(address: &str) -> bool {
    NO_REPLY.is_match(address)
}

/// Why the receiving side judged `inbound` spam, if it did: its spam filter's verdict, or our
/// MX's DMARC failure for the From domain. Such mail is stored and shown flagged, not answered.
pub(crate) fn spam_verdict(config: &Config, inbound: &Inbound) -> Option<String> {
    if let FromAuth::Fail(why) =
        from_authentication(config.support.trusted_authserv_id.as_deref(), inbound)
    {
        return Some(why);
    }
    (!inbound.spam_flags.is_empty()).then(|| inbound.spam_flags.join("; "))
}

/// Why `inbound` must not get an automatic answer, or `None` when it may.
pub(crate) fn refuse_auto_reply(config: &Config, inbound: &Inbound) -> Option<String> {
    if let Some(why) = spam_verdict(config, inbound) {
        return Some(format!("flagged as spam ({why})"));
    }
    if inbound.machine.is_machine_generated() {
        return Some(format!(
            "machine-generated ({})",
            inbound.machine.reasons().join("; ")
        ));
    }
    let sender = &inbound.from.address;
    if config.is_own_address(sender) {
        return Some("sent from our own address".into());
    }
    if config.agent_by_address(sender).is_some() {
        return Some("sent by an agent".into());
    }
    if NO_REPLY.is_match(sender) {
        return Some(format!("{sender} is a no-reply/system address"));
    }
    if let Some(signer) = config.signer()
        && signer.verify(&inbound.message_id).looks_like_ours()
    {
        return Some("our own mail came back".into());
    }
    None
}

/// When the next automatic mail to customers may go under the global cap of `max` per hour,
/// given the times such mails were sent (`None`: now).
pub(crate) fn global_cap(
    max: u64,
    sent: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let since = now - Duration::hours(1);
    let mut recent: Vec<&DateTime<Utc>> = sent.iter().filter(|t| **t > since).collect();
    if (recent.len() as u64) < max {
        return None;
    }
    recent.sort();
    // The mail may go when enough of the window's mails have aged out of it.
    let k = recent.len() - max as usize;
    Some(*recent[k] + Duration::hours(1))
}

/// Checks the per-recipient caps. `history` holds the times of automatic mails already sent to
/// the recipient; `None` means the mail may go.
pub(crate) fn rate_limited(
    limits: &[[u64; 2]],
    history: &[DateTime<Utc>],
    now: DateTime<Utc>,
) -> Option<String> {
    for [window, max] in limits {
        let since = now - Duration::seconds(*window as i64);
        let n = history.iter().filter(|t| **t > since).count() as u64;
        if n >= *max {
            return Some(format!(
                "rate limit: {n} automatic mails to this recipient in the last {window} s (max {max})"
            ));
        }
    }
    None
}

#[cfg(test)]
/// Drops history entries older than the longest window.
pub(crate) fn prune_history(
    limits: &[[u64; 2]],
    history: &mut Vec<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let longest = limits.iter().map(|l| l[0]).max().unwrap_or(0);
    let since = now - Duration::seconds(longest as i64);
    history.retain(|t| *t > since);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_counts_inside_each_window() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let limits = [[600, 3], [86_400, 5]];
        let recent: Vec<_> = (0..3).map(|i| now - Duration::seconds(i * 60)).collect();
        assert!(rate_limited(&limits, &recent, now).is_some());
        assert!(rate_limited(&limits, &recent[..2], now).is_none());
        let old: Vec<_> = (0..5).map(|i| now - Duration::hours(i + 1)).collect();
        assert!(rate_limited(&limits, &old, now).is_some());
        let mut h = old.clone();
        h.push(now - Duration::days(2));
        prune_history(&limits, &mut h, now);
        assert_eq!(h.len(), 5);
    }

    #[test]
    fn the_global_cap_lets_mail_wait_until_the_hour_frees_a_place() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let sent: Vec<_> = (0..3)
            .map(|i| now - Duration::minutes(50 - i * 10))
            .collect();
        assert_eq!(global_cap(4, &sent, now), None);
        assert_eq!(
            global_cap(3, &sent, now),
            Some(now + Duration::minutes(10)),
            "when the oldest of the hour is an hour old"
        );
        assert_eq!(global_cap(2, &sent, now), Some(now + Duration::minutes(20)));
        let old = [now - Duration::hours(2)];
        assert_eq!(global_cap(1, &old, now), None);
    }
}
