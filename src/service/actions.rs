//! What the CLI's writing requests do: load an export, put a dead outbox item back in the queue,
//! change a ticket's status (the desk decides what follows; this makes it durable). Each holds the
//! store's writer lock and fsyncs before it answers.

use std::path::Path;

use chrono::Utc;

use crate::config::Config;
use crate::desk::effect::Effect;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::templates::Templates;
use crate::desk::status;
use crate::domain::customer::Directory;
use crate::domain::outbox::State;
use crate::domain::status::Status;
use crate::io::store::Store;
use crate::service::intake::{Outcome, release_quarantined};

/// Loads the export file at `path` into the (empty) store; returns how many records it held.
pub(crate) fn import(store: &Store, path: &Path) -> anyhow::Result<u64> {
    let _w = store.write_lock();
    let f = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    Ok(store.import(std::io::BufReader::new(f))?)
}

/// Ingests quarantined mail `id` after all (`supportd quarantine release`), durably.
pub(crate) fn release(
    store: &Store,
    config: &Config,
    directory: &Directory,
    templates: Option<&Templates>,
    id: u64,
) -> anyhow::Result<Outcome> {
    let outcome = release_quarantined(config, store, directory, templates, id, Utc::now())?;
    store.sync_blocking()?;
    tracing::info!(quarantine = id, ?outcome, "released from the quarantine");
    Ok(outcome)
}

/// Puts a dead item back in the queue (from the CLI). Returns false when it was not dead.
pub(crate) fn retry_outbox(store: &Store, id: u64) -> anyhow::Result<bool> {
    let _w = store.write_lock();
    let Some(mut item) = store.outbox_item(id)? else {
        anyhow::bail!("no outbox item {id}");
    };
    if !matches!(item.state, State::Dead { .. }) {
        return Ok(false);
    }
    item.state = State::Pending;
    item.attempts = 0;
    // The refused recipients are the ones to try again; who has it keeps it once.
    item.refused.clear();
    item.created_at = Utc::now();
    item.next_attempt_at = Utc::now();
    store.outbox_update(&item)?;
    store.sync_blocking()?;
    Ok(true)
}

/// Sets ticket `id` to `status` (with the progress mail or survey when `templates` are given).
/// Returns false when it already had that status.
pub(crate) fn set_status(
    store: &Store,
    config: &Config,
    templates: Option<&Templates>,
    id: u64,
    status: Status,
) -> anyhow::Result<bool> {
    let config = &*crate::service::identity::bound(config, store);
    let _w = store.write_lock();
    let Some(t) = store.ticket(id)? else {
        anyhow::bail!("no ticket {id}");
    };
    let now = Utc::now();
    let view = config.in_queue(&t.queue);
    let config = &*view;
    let history = store.rate_histories([t.requester.address.as_str()])?;
    let mailer = templates.map(|templates| Mailer {
        templates,
        history: &history,
    });
    let Some((t, outgoing, effects)) = status::set_status(config, mailer, &t, status, now) else {
        return Ok(false);
    };
    store.commit_ticket(&t, &outgoing)?;
    store.sync_blocking()?;
    for Effect::Log(l) in effects {
        tracing::info!(ticket = t.id, "{l}");
    }
    Ok(true)
}
