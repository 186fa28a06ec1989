//! The requests the CLI makes (over the control socket while the daemon runs, or directly on
//! the store when it does not), and the one place that answers them: reads are built from
//! [`crate::service::views`], writes are [`crate::service::actions`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::domain::status::Status;
use crate::io::store::{QuarantineRecord, Store};
use crate::service::actions;
use crate::service::intake::Outcome;
use crate::service::views::{self, OutboxView, TicketSummary};

/// What `tickets` lists by default: the tickets someone still has to work on.
pub(crate) const ACTIVE: [Status; 3] = [Status::New, Status::Open, Status::Pending];

/// A request to the daemon (or answered locally).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub(crate) enum Request {
    /// List tickets.
    Tickets {
        /// Only this status (neither this nor `all`: the active tickets, new, open and pending).
        status: Option<Status>,
        /// Only this queue.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<String>,
        /// Every ticket, whatever its status.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        all: bool,
    },
    /// One ticket with its messages.
    Ticket { id: u64 },
    /// Quarantine records.
    Quarantine,
    /// Ingest a quarantined mail after all.
    QuarantineRelease { id: u64 },
    /// Daemon status.
    Status,
    /// Outbox items.
    Outbox,
    /// Put a dead outbox item back in the queue.
    OutboxRetry { id: u64 },
    /// Stream a full export (JSON lines) back on the connection.
    Export,
    /// Import an export file (read by the daemon) into the empty store.
    Import {
        /// Absolute path of the file.
        path: std::path::PathBuf,
    },
    /// SLA accountability per priority and per agent ([`crate::desk::report`]).
    Report {
        /// Only tickets created at or after this instant.
        since: Option<DateTime<Utc>>,
    },
    /// Change a ticket's status (sends the customer a progress mail when configured).
    SetStatus { id: u64, status: Status },
}

/// What [`answer`] may use besides the store.
#[derive(Clone, Copy, Default)]
pub(crate) struct Context<'a> {
    /// The configuration (needed for writes that send mail).
    pub(crate) config: Option<&'a Config>,
    /// Templates for progress mail.
    pub(crate) templates: Option<&'a Templates>,
    /// The customer directory (for a released mail).
    pub(crate) directory: Option<&'a Directory>,
    /// Live daemon status, when answering from the daemon.
    pub(crate) status: Option<&'a serde_json::Value>,
    /// Wakes the outbox sender after an enqueue.
    pub(crate) wake: Option<&'a tokio::sync::Notify>,
}

/// Answers `req` from the store, performing it for the writing requests.
pub(crate) fn answer(
    store: &Store,
    ctx: Context<'_>,
    req: &Request,
) -> anyhow::Result<serde_json::Value> {
    Ok(match req {
        Request::Outbox => {
            let mut list: Vec<OutboxView> = Vec::new();
            store.outbox_each(|i| list.push(views::outbox_view(&i)))?;
            serde_json::to_value(list)?
        }
        Request::Export => anyhow::bail!("export is streamed, not answered"),
        Request::Import { path } => {
            let n = actions::import(store, path)?;
            serde_json::json!({ "records": n })
        }
        Request::OutboxRetry { id } => {
            let requeued = actions::retry_outbox(store, *id)?;
            if let Some(w) = ctx.wake {
                w.notify_one();
            }
            serde_json::json!({ "id": id, "requeued": requeued })
        }
        Request::SetStatus { id, status } => {
            let config = ctx
                .config
                .ok_or_else(|| anyhow::anyhow!("no configuration to act with"))?;
            let changed = actions::set_status(store, config, ctx.templates, *id, *status)?;
            if changed && let Some(w) = ctx.wake {
                w.notify_one();
            }
            serde_json::json!({ "id": id, "status": status, "changed": changed })
        }
        Request::Tickets { status, queue, all } => {
            let wanted = match (queue, ctx.config) {
                (Some(q), Some(c)) => match c.queue_named(q) {
                    Some(q) => Some(q.name.clone()),
                    None => anyhow::bail!(
                        "no queue named `{q}` (known: {})",
                        c.queues
                            .iter()
                            .map(|q| q.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
                (q, _) => q.clone(),
            };
            let in_queue = |name: &str| match (&wanted, ctx.config) {
                (None, _) => true,
                (Some(q), Some(c)) => c.queue(name).name == *q,
                (Some(q), None) => name.eq_ignore_ascii_case(q),
            };
            // The stored queue names that are the wanted queue (a removed queue's tickets count
            // in the first), so only their tickets are read.
            let queues: Option<Vec<String>> = match wanted {
                None => None,
                Some(_) => Some(
                    store
                        .stored_queue_names()?
                        .into_iter()
                        .filter(|n| in_queue(n))
                        .collect(),
                ),
            };
            let tickets = match (status, all) {
                (Some(s), _) => store.tickets_with(&[*s], queues.as_deref())?,
                (None, true) => store
                    .tickets(None)?
                    .into_iter()
                    .filter(|t| in_queue(&t.queue))
                    .collect(),
                (None, false) => store.tickets_with(&ACTIVE, queues.as_deref())?,
            };
            let list: Vec<TicketSummary> = tickets.iter().map(views::summary).collect();
            serde_json::to_value(list)?
        }
        Request::Ticket { id } => match views::detail(store, *id)? {
            Some(d) => serde_json::to_value(d)?,
            None => anyhow::bail!("no ticket {id}"),
        },
        Request::Report { since } => {
            // A period reads only its tickets (through the store's index by creation time).
            let tickets = match since {
                Some(s) => store.tickets_created_since(*s)?,
                None => store.tickets(None)?,
            };
            let mut report = crate::desk::report::build(&tickets, *since, Utc::now());
            if let Some(c) = ctx.config.filter(|c| c.queues.len() > 1) {
                let names: Vec<&str> = c.queues.iter().map(|q| q.name.as_str()).collect();
                report = crate::desk::report::with_queues(report, &tickets, &names, |t| {
                    c.queue(&t.queue).name.clone()
                });
            }
            serde_json::to_value(report)?
        }
        Request::QuarantineRelease { id } => {
            let config = ctx
                .config
                .ok_or_else(|| anyhow::anyhow!("no configuration to act with"))?;
            let empty = Directory::default();
            let directory = ctx.directory.unwrap_or(&empty);
            let outcome = actions::release(store, config, directory, ctx.templates, *id)?;
            if let Some(w) = ctx.wake {
                w.notify_one();
            }
            match outcome {
                Outcome::Stored { ticket, created } => {
                    serde_json::json!({ "id": id, "ticket": ticket, "created": created })
                }
                Outcome::Duplicate { ticket } => {
                    serde_json::json!({ "id": id, "ticket": ticket, "created": false, "duplicate": true })
                }
                Outcome::Quarantined { reason, .. } => anyhow::bail!("{reason}"),
            }
        }
        Request::Quarantine => {
            let list: Vec<QuarantineRecord> = store.quarantine_list()?;
            serde_json::to_value(list)?
        }
        Request::Status => views::status(store, ctx.config, ctx.status)?,
    })
}
