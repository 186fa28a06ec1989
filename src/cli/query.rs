//! Where a CLI request goes: to the running daemon over its control socket, or, when no daemon
//! runs, to the store opened directly. Both answer with [`crate::service::requests::answer`].

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::desk::outbound::templates::Templates;
use crate::io::store::{Store, StoreError};
use crate::service::control;
use crate::service::requests::{self, Request};

/// Where a request goes: the running daemon (already answered) or the store, opened directly.
pub(crate) enum Target {
    Daemon(serde_json::Value),
    Store(Store),
}

/// Sends `req` to the running daemon, or opens the store when no daemon runs. A daemon that is
/// starting holds the store lock a moment before its socket listens, so a locked store means:
/// wait for the socket.
pub(crate) fn reach(config: &Config, req: &Request) -> Result<Target> {
    let socket = config.control_socket();
    if let Some(v) = control::request(&socket, req)? {
        return Ok(Target::Daemon(v));
    }
    match Store::open(&config.store.path) {
        Ok(s) => Ok(Target::Store(s)),
        Err(StoreError::Locked(p)) => {
            for _ in 0..50 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if let Some(v) = control::request(&socket, req)? {
                    return Ok(Target::Daemon(v));
                }
            }
            bail!(
                "the store {} is held by a running daemon, but its control socket {} does not answer",
                p.display(),
                socket.display()
            )
        }
        Err(e) => Err(e).context("cannot open store"),
    }
}

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
        Target::Store(s) => s,
    };
    // What the daemon would sign with, should the request send mail (`ticket set-status`).
    let mut config = config.clone();
    store.complete_secret(&mut config)?;
    let config = &config;
    let templates = match &config.outbound {
        Some(out) if matches!(req, Request::SetStatus { .. }) => {
            Some(Templates::load(out.templates_dir.as_deref())?)
        }
        _ => None,
    };
    let ctx = requests::Context {
        config: Some(config),
        templates: templates.as_ref(),
        ..Default::default()
    };
    requests::answer(&store, ctx, req)
}
