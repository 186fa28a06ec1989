//! Whether we may answer a mail automatically at all, and whether a recipient has had enough.
//!
//! The anchors' loop bugs (Zammad #1131, osTicket #1041) all come from answering something that
//! should never be answered: a machine's mail, our own mail coming back, a no-reply address, or
//! a recipient who has already had their share. Every rule here is one of those lessons.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use crate::config::Config;
use crate::mail::inbound::Inbound;
use crate::mail::msgid;

static NO_REPLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(mailer-daemon|postmaster|abuse|root|noreply|no-reply|no_reply|donotreply|do-not-reply|do_not_reply|bounces?|daemon)([+._-].*)?@",
    )
    .expect("valid regex")
});

/// Why `inbound` must not get an automatic answer, or `None` when it may.
pub(crate) fn refuse_auto_reply(config: &Config, inbound: &Inbound) -> Option<String> {
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
    if let Some(out) = &config.outbound
        && msgid::verify(&out.resolved_secret, &inbound.message_id) != msgid::Verdict::Foreign
    {
        return Some("our own mail came back".into());
    }
    None
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
}
