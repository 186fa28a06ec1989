//! The daemon's long-running tasks, under supervision: each has a name, and however it ends
//! (returned, failed, panicked) the daemon hears of it.
//!
//! Every task runs until shutdown. One that ends earlier is reported as it happens; a panic ends
//! the daemon with an error, so its exit status is non-zero and systemd's `Restart=on-failure`
//! starts a fresh process, whose start-up re-reads everything from the durable store.

use std::collections::HashMap;
use std::future::Future;

use anyhow::Result;
use tokio::task::{Id, JoinSet};

/// How a task ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// It returned.
    Done,
    /// It returned an error.
    Failed(anyhow::Error),
    /// It panicked; the panic's message.
    Panicked(String),
}

/// The running tasks.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    set: JoinSet<Result<()>>,
    names: HashMap<Id, &'static str>,
}

impl Tasks {
    /// Starts `task` under `name` (e.g. `ingest`, used in the log).
    pub(crate) fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<()>> + Send + 'static,
    {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits for the next task to end: its name and how. `None` when none is left.
    pub(crate) async fn next(&mut self) -> Option<(&'static str, Ended)> {
        let (id, ended) = match self.set.join_next_with_id().await? {
            Ok((id, Ok(()))) => (id, Ended::Done),
            Ok((id, Err(e))) => (id, Ended::Failed(e)),
            Err(e) => {
                let id = e.id();
                let why = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "cancelled".to_owned()
                };
                (id, Ended::Panicked(why))
            }
        };
        Some((self.names.remove(&id).unwrap_or("task"), ended))
    }

    #[cfg(test)]
    /// True when no task is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// The text of a panic payload (`panic!("…")` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast_ref::<&str>()
            .map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_ending_is_named() {
        let mut tasks = Tasks::default();
        tasks.spawn("fine", async { Ok(()) });
        tasks.spawn("fails", async { anyhow::bail!("no") });
        tasks.spawn("panics", async { panic!("boom") });
        let mut seen = Vec::new();
        while let Some((name, ended)) = tasks.next().await {
            seen.push(match ended {
                Ended::Done => format!("{name}: done"),
                Ended::Failed(e) => format!("{name}: {e}"),
                Ended::Panicked(m) => format!("{name}: panicked: {m}"),
            });
        }
        seen.sort();
        assert_eq!(seen, ["fails: no", "fine: done", "panics: panicked: boom"]);
        assert!(tasks.is_empty());
    }
}
