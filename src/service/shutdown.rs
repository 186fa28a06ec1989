//! One shutdown signal for every task of the daemon, in the manner of mini-redis's `Shutdown`.
//!
//! The daemon holds the [`Trigger`]; each task holds a [`Shutdown`] and asks it either "has
//! shutdown begun?" ([`Shutdown::is_shutdown`], between two units of work, so the unit in hand is
//! finished) or waits for it ([`Shutdown::recv`], as one branch of a `select!` around a sleep, an
//! IDLE or an `accept`). Dropping the trigger counts as shutdown, so a task can never wait
//! forever on a daemon that is gone.

use tokio::sync::watch;

/// The sending half: [`Trigger::fire`] begins shutdown for every [`Shutdown`] made from it.
#[derive(Debug)]
pub(crate) struct Trigger(watch::Sender<bool>);

/// A task's view of the shutdown signal; cheap to clone, one per task.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Trigger {
    /// A new signal, not yet fired, and the first [`Shutdown`] listening to it.
    pub(crate) fn new() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Shutdown(rx))
    }

    /// Begins shutdown; every waiting [`Shutdown::recv`] returns.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// True once shutdown has begun (or the trigger is gone).
    pub(crate) fn is_shutdown(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Waits until shutdown begins; returns at once if it already has. Cancel-safe, so it can be
    /// a branch of `select!` in a loop.
    pub(crate) async fn recv(&mut self) {
        // `wait_for` checks the current value first, and fails only when the trigger is gone.
        let _ = self.0.wait_for(|&stop| stop).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn recv_returns_after_fire_and_at_once_after_that() {
        let (trigger, mut a) = Trigger::new();
        let mut b = a.clone();
        assert!(!a.is_shutdown());
        let waiting = tokio::spawn(async move {
            a.recv().await;
            a.is_shutdown()
        });
        trigger.fire();
        assert!(waiting.await.unwrap());
        b.recv().await;
        b.recv().await;
        assert!(b.is_shutdown());
    }

    #[tokio::test]
    async fn a_dropped_trigger_is_a_shutdown() {
        let (trigger, mut s) = Trigger::new();
        drop(trigger);
        assert!(s.is_shutdown());
        s.recv().await;
    }
}
