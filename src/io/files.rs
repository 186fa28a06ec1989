//! Reading the operator's files: the configuration (and the facts its validation asks for), the
//! message templates and the customer directory. The core types only know text; this is where
//! the text comes from.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::facts::Facts;
use crate::config::{Config, ConfigError};
use crate::desk::outbound::templates::Templates;
use crate::domain::customer::Directory;
use crate::domain::problem::Problem;

/// The real machine: its file system and this process's environment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Machine;

impl Facts for Machine {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn exists(&self, path: &Path) -> std::io::Result<()> {
        std::fs::metadata(path).map(|_| ())
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn mode(&self, path: &Path) -> Option<u32> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o7777)
    }
}

impl Config {
    /// Reads and validates the file at `path` against this machine; the error lists every
    /// problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_owned(),
            problems: vec![Problem {
                key: "(file)".into(),
                message: format!("cannot read: {e}"),
            }],
        })?;
        Config::parse(&text, path, &Machine)
    }
}

impl Templates {
    /// The templates, with the operator's `<dir>/<lang>/<name>.txt` files overriding the
    /// built-in ones where present.
    pub fn load(dir: Option<&Path>) -> Result<Templates> {
        let mut overrides = BTreeMap::new();
        if let Some(dir) = dir {
            for name in Templates::names() {
                let p = dir.join(format!("{name}.txt"));
                if p.exists() {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("cannot read template {}", p.display()))?;
                    overrides.insert(name.to_owned(), text);
                }
            }
        }
        Ok(Templates::with_overrides(&overrides)?)
    }

    /// The templates of `[outbound]` and of every queue with a `templates_dir` of its own.
    pub(crate) fn load_for(config: &Config) -> Result<Option<Templates>> {
        let Some(out) = &config.outbound else {
            return Ok(None);
        };
        let mut t = Templates::load(out.templates_dir.as_deref())?;
        for q in &config.queues {
            if let Some(dir) = q
                .overrides
                .as_ref()
                .and_then(|o| o.templates_dir.as_deref())
            {
                t.add_queue(&q.name, Templates::load(Some(dir))?);
            }
        }
        Ok(Some(t))
    }
}

impl Directory {
    /// Reads the customer directory file at `path`.
    pub fn load(path: &Path) -> Result<Directory> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Directory::parse(&text, &path.display().to_string())?)
    }
}
