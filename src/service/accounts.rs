//! The status of every ingested account and mailbox (one ingest task each, see
//! [`crate::config::Config::ingest_accounts`]), and their sum for what reads ingest as one.
//!
//! Each task writes only its own [`IngestStatus`]; a failing account never touches another's,
//! so status, `/healthz` and `/metrics` can name exactly the one that is broken.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::config::Config;
use crate::config::queues::IngestAccount;

use crate::service::metrics::{IngestStatus, label};

/// One account's live status.
#[derive(Debug, Clone)]
pub(crate) struct AccountStatus {
    /// `user@host/mailbox` (never the password).
    pub(crate) name: String,
    /// The queues fetching their mail there.
    pub(crate) queues: Vec<String>,
    /// How long its mailbox may go unsynced before `/healthz` complains (its own polling).
    pub(crate) max_sync_secs: u64,
    pub(crate) status: Arc<Mutex<IngestStatus>>,
}

/// Every account's status, `[imap]`'s first.
#[derive(Debug, Clone, Default)]
pub(crate) struct IngestStatuses(Arc<Vec<AccountStatus>>);

impl IngestStatuses {
    /// The status slots of `accounts`, in their order.
    pub(crate) fn new(config: &Config, accounts: &[IngestAccount]) -> IngestStatuses {
        IngestStatuses(Arc::new(
            accounts
                .iter()
                .map(|a| AccountStatus {
                    name: a.name.clone(),
                    queues: a.queues.clone(),
                    max_sync_secs: config.sync_max_age_of(&a.imap),
                    status: Arc::default(),
                })
                .collect(),
        ))
    }

    /// Each account with a snapshot of its status.
    pub(crate) fn each(&self) -> Vec<(&AccountStatus, IngestStatus)> {
        self.0
            .iter()
            .map(|a| (a, a.status.lock().unwrap().clone()))
            .collect()
    }

    /// The slot of the `i`th account.
    pub(crate) fn slot(&self, i: usize) -> Arc<Mutex<IngestStatus>> {
        self.0[i].status.clone()
    }

    /// True when several accounts are ingested (names then prefix their errors).
    pub(crate) fn several(&self) -> bool {
        self.0.len() > 1
    }

    /// All accounts as one: connected and idle only when every one is, the oldest last sync,
    /// counters summed, the first error named by its account (when there are several).
    pub(crate) fn total(&self) -> IngestStatus {
        let each = self.each();
        let several = each.len() > 1;
        let mut t = IngestStatus {
            connected: !each.is_empty(),
            idle: !each.is_empty(),
            ..IngestStatus::default()
        };
        let mut synced = Vec::new();
        for (a, s) in &each {
            t.connected &= s.connected;
            t.idle &= s.idle;
            synced.push(s.last_sync);
            t.stored += s.stored;
            t.duplicates += s.duplicates;
            t.quarantined += s.quarantined;
            t.reconnects += s.reconnects;
            if t.last_error.is_none()
                && let Some(e) = &s.last_error
            {
                t.last_error = Some(if several {
                    format!("{}: {e}", a.name)
                } else {
                    e.clone()
                });
            }
            t.retry_in_secs = t.retry_in_secs.max(s.retry_in_secs);
            t.stuck.extend(s.stuck.iter().cloned());
            t.abandoned_parses = t.abandoned_parses.max(s.abandoned_parses);
        }
        t.last_sync = synced
            .iter()
            .copied()
            .collect::<Option<Vec<_>>>()
            .and_then(|v| v.into_iter().min());
        t
    }

    /// True when at least one account is logged in: the daemon works (and tells systemd it is
    /// ready) while another account is still failing.
    pub(crate) fn any_connected(&self) -> bool {
        self.each().iter().any(|(_, s)| s.connected)
    }

    /// The accounts for `status --json` and `/healthz`.
    pub(crate) fn json(&self) -> serde_json::Value {
        self.each()
            .into_iter()
            .map(|(a, s)| {
                json!({
                    "account": a.name,
                    "queues": a.queues,
                    "connected": s.connected,
                    "idle": s.idle,
                    "last_sync": s.last_sync,
                    "last_error": s.last_error,
                    "retry_in_seconds": s.retry_in_secs,
                    "reconnects": s.reconnects,
                    "stored": s.stored,
                    "duplicates": s.duplicates,
                    "quarantined": s.quarantined,
                })
            })
            .collect()
    }
}

/// The per-account series, labelled `account="user@host/mailbox"` and `queues="a,b"`; the
/// unlabelled series of [`crate::service::metrics::render`] stay the sums over all accounts.
pub(crate) fn render_metrics(out: &mut String, accounts: &[(&AccountStatus, IngestStatus)]) {
    type Value = fn(&IngestStatus) -> f64;
    let series: [(&str, &str, &str, Value); 6] = [
        (
            "supportd_account_connected",
            "gauge",
            "1 while the account's IMAP session is logged in.",
            |s| f64::from(u8::from(s.connected)),
        ),
        (
            "supportd_account_mails_stored_total",
            "counter",
            "Mails from the account stored on a ticket since start.",
            |s| s.stored as f64,
        ),
        (
            "supportd_account_mails_duplicate_total",
            "counter",
            "Re-delivered mails of the account ignored since start.",
            |s| s.duplicates as f64,
        ),
        (
            "supportd_account_mails_quarantined_total",
            "counter",
            "Mails of the account quarantined since start.",
            |s| s.quarantined as f64,
        ),
        (
            "supportd_account_reconnects_total",
            "counter",
            "The account's IMAP sessions that ended in an error since start.",
            |s| s.reconnects as f64,
        ),
        (
            "supportd_account_last_sync_timestamp_seconds",
            "gauge",
            "Unix time of the account's last full mailbox sync (0 before the first).",
            |s| {
                s.last_sync
                    .map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0)
            },
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (a, s) in accounts {
            let _ = writeln!(
                out,
                "{name}{{account=\"{}\",queues=\"{}\"}} {}",
                label(&a.name),
                label(&a.queues.join(",")),
                value(s)
            );
        }
    }
}
