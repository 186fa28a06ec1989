//! The facts about the machine that validating a configuration needs, handed in by the shell.
//!
//! A configuration names files (passwords, the signing secret, a CA, templates, the customer
//! directory) and may take passwords from the environment. Whether those exist and what they
//! hold is a fact about the machine, not about the text; [`Config::parse`] asks for them through
//! [`Facts`], so it stays a pure function that the tests drive with [`Empty`] and the daemon with
//! the real file system ([`crate::io::files::Machine`]).
//!
//! [`Config::parse`]: crate::config::Config::parse

use std::ffi::OsString;
use std::io;
use std::path::Path;

/// What the machine says about the files and variables a configuration names. The errors are
/// the system's (`No such file or directory (os error 2)`), quoted in the problem's message.
pub(crate) trait Facts {
    /// The text of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Whether the file at `path` can be opened at all (its metadata can be read).
    fn exists(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` is a directory.
    fn is_dir(&self, path: &Path) -> bool;
    /// An environment variable (`None` when unset).
    fn var(&self, name: &str) -> Option<OsString>;
    /// The permission bits of the file at `path` (`0o640`), when they can be read.
    fn mode(&self, _path: &Path) -> Option<u32> {
        None
    }
}

/// A machine with no files and an empty environment: a configuration that names nothing
/// outside itself validates the same as on any machine.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Empty;

impl Facts for Empty {
    fn read(&self, _: &Path) -> io::Result<String> {
        Err(io::ErrorKind::NotFound.into())
    }

    fn exists(&self, _: &Path) -> io::Result<()> {
        Err(io::ErrorKind::NotFound.into())
    }

    fn is_dir(&self, _: &Path) -> bool {
        false
    }

    fn var(&self, _: &str) -> Option<OsString> {
        None
    }
}
