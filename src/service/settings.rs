//! The reloadable part of the daemon's state: configuration, customer directory and templates.
//!
//! SIGHUP builds a complete new [`Settings`] from the files; only if *everything* loads is it
//! published on a `watch` channel, so a broken file keeps the old settings running. Readers take
//! a cheap `Arc` snapshot per mail, so a reload never tears a mail's processing in half and never
//! touches the IMAP session. Connection settings (`[imap]`, `[smtp]`, `[store]`, `[control]`,
//! `[http]`) are read once at start; a change to them is reported as needing a restart.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::io::store::Store;

/// One consistent set of reloadable settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) config: Arc<Config>,
    /// Customer directory (empty when none is configured).
    pub(crate) directory: Arc<Directory>,
    /// Templates, when outbound mail is configured.
    pub(crate) templates: Option<Arc<Templates>>,
}

impl Settings {
    /// Loads everything that depends on `config`.
    pub(crate) fn from_config(config: Arc<Config>) -> Result<Settings> {
        let directory = match &config.support.customer_directory {
            Some(p) => Directory::load(p)?,
            None => Directory::default(),
        };
        let templates = Templates::load_for(&config)?.map(Arc::new);
        Ok(Settings {
            config,
            directory: Arc::new(directory),
            templates,
        })
    }

    /// Re-reads the configuration file and everything it names. Returns the new settings and
    /// the changes that only take effect after a restart.
    pub(crate) fn reload(&self, path: &Path, store: &Store) -> Result<(Settings, Vec<String>)> {
        let mut config = Config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
        // A secret removed from the configuration falls back to the store's, as at start.
        store.complete_secret(&mut config)?;
        // The store did not change: keep signing for it.
        if let Some(out) = &self.config.outbound {
            config.bind(&out.instance);
        }
        let new = Settings::from_config(Arc::new(config)).context("reload")?;
        let old = &self.config;
        let c = &new.config;
        let mut restart = Vec::new();
        let same = |a: String, b: String| a == b;
        if !same(format!("{:?}", old.imap), format!("{:?}", c.imap)) {
            restart.push("[imap]".to_owned());
        }
        let accounts = |c: &Config| {
            c.ingest_accounts()
                .into_iter()
                .skip(1)
                .map(|a| format!("{:?} {:?}", a.imap, a.route_queues))
                .collect::<Vec<_>>()
        };
        if accounts(old) != accounts(c) {
            restart.push("the queues' mailboxes and IMAP accounts".to_owned());
        }
        if !same(format!("{:?}", old.smtp), format!("{:?}", c.smtp)) {
            restart.push("[smtp]".to_owned());
        }
        if old.store.path != c.store.path {
            restart.push("[store]".to_owned());
        }
        if old.control_socket() != c.control_socket() {
            restart.push("[control]".to_owned());
        }
        Ok((new, restart))
    }
}

impl Settings {
    /// These settings with the store's secret and identity, if they differ from those in use:
    /// after an import brought the exported store's identity and generated secret, so the
    /// tickets' reply addresses and Message-IDs from before the export still verify.
    pub(crate) fn with_store_secret(&self, store: &Store) -> Result<Option<Settings>> {
        let mut config = (*self.config).clone();
        store.complete_secret(&mut config)?;
        // An import brings its store's identity too: sign for that store from now on.
        config.bind(&store.identity().instance());
        let signing = |c: &Config| {
            c.outbound
                .as_ref()
                .map(|o| (o.resolved_secret.clone(), o.instance.clone()))
        };
        if signing(&config) == signing(&self.config) {
            return Ok(None);
        }
        Ok(Some(Settings {
            config: Arc::new(config),
            ..self.clone()
        }))
    }
}

/// The channel settings are published on.
pub(crate) type Live = tokio::sync::watch::Receiver<Arc<Settings>>;
