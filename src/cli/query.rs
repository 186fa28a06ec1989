//! Where a CLI request goes: to the running daemon over its control socket, or, when no daemon
//! runs, to the store opened directly. Both answer with [`crate::service::requests::answer`].

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::io::store::{Store, StoreError};
use crate::service::control;
use crate::service::requests::{self, Request};

/// Where a request goes: the running daemon (already answered) or the store, opened directly.
pub(crate) enum Target {
    Daemon(serde_json::Value),
    Store(Box<Store>),
}

/// Sends `req` to the running daemon, or opens the store when no daemon runs. A locked store
/// means another process holds it: a daemon starting (its socket listens a moment after it
/// opened the store) or another command reading it directly; both go away soon, so the store
/// and the socket are tried in turn for a while.
pub(crate) fn reach(config: &Config, req: &Request) -> Result<Target> {
    let socket = config.control_socket();
    let deadline = std::time::Instant::now() + LOCKED_WAIT;
    loop {
        if let Some(v) = control::request(&socket, req)? {
            return Ok(Target::Daemon(v));
        }
        match Store::open_with_cache(&config.store.path, config.store.cache_bytes()) {
            Ok(s) => return Ok(Target::Store(Box::new(s))),
            Err(StoreError::Locked(p)) if std::time::Instant::now() >= deadline => bail!(
                "the store {} is in use by another process, and no daemon answers on {}: \
                 another supportd command, or a daemon that cannot serve its control socket",
                p.display(),
                socket.display()
            ),
            Err(StoreError::Locked(_)) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => return Err(e).context("cannot open store"),
        }
    }
}

/// How long a command waits for a store another process holds.
const LOCKED_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Asks the running daemon, or reads the store directly when no daemon runs.
pub(crate) fn query(config: &Config, req: &Request) -> Result<serde_json::Value> {
    if !matches!(req, Request::Import { .. }) && !config.store.path.join("db").exists() {
        bail!(
            "no store at {} yet (has `supportd run` ever run with this config?)",
            config.store.path.display()
        );
    }
    let store = match reach(config, req)? {
        Target::Daemon(v) => return Ok(v),
        Target::Store(s) => *s,
    };
    // What the daemon would sign with, should the request send mail (`ticket set-status`).
    let mut config = config.clone();
    store.complete_secret(&mut config)?;
    let config = &config;
    let templates = match &config.outbound {
        Some(_)
            if matches!(
                req,
                Request::SetStatus { .. } | Request::QuarantineRelease { .. }
            ) =>
        {
            Templates::load_for(config)?
        }
        _ => None,
    };
    let directory = match &config.support.customer_directory {
        Some(p) if matches!(req, Request::QuarantineRelease { .. }) => Directory::load(p)?,
        _ => Directory::default(),
    };
    let ctx = requests::Context {
        config: Some(config),
        templates: templates.as_ref(),
        directory: Some(&directory),
        ..Default::default()
    };
    requests::answer(&store, ctx, req)
}
