//! The systemd notification protocol (`sd_notify(3)`), as a thin wrapper over `sd-notify`.
//!
//! Every function is a no-op when `$NOTIFY_SOCKET` is unset (not started by systemd with
//! `Type=notify`), so the daemon calls them unconditionally. A failed send is logged once at
//! `warn` and afterwards at `debug`: the manager going away must not flood the log every
//! watchdog tick, and it is never a reason to stop serving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{debug, warn};

/// Environment variable naming the manager's notification socket.
pub(crate) const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

static WARNED: AtomicBool = AtomicBool::new(false);

/// True when a service manager listens for notifications.
pub(crate) fn enabled() -> bool {
    std::env::var_os(NOTIFY_SOCKET).is_some_and(|s| !s.is_empty())
}

fn send(states: &[NotifyState<'_>]) {
    if !enabled() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        if WARNED.swap(true, Ordering::Relaxed) {
            debug!(error = %e, ?states, "sd_notify failed");
        } else {
            warn!(error = %e, ?states, "sd_notify failed (further failures are logged at debug)");
        }
    }
}

/// `READY=1` with a `STATUS=` line: start-up is complete.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(&one_line(status))]);
}

/// `WATCHDOG=1`: the keep-alive ping.
pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// `STOPPING=1` with a `STATUS=` line: shutdown has begun.
pub(crate) fn stopping(status: &str) {
    send(&[
        NotifyState::Stopping,
        NotifyState::Status(&one_line(status)),
    ]);
}

/// `STATUS=`: free text shown by `systemctl status`.
pub(crate) fn status(status: &str) {
    send(&[NotifyState::Status(&one_line(status))]);
}

/// The watchdog timeout systemd expects pings within (`$WATCHDOG_USEC`, honouring
/// `$WATCHDOG_PID`), or `None` when no watchdog is configured. Ping at half of it.
pub(crate) fn watchdog_timeout() -> Option<Duration> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero())
}

/// The protocol is newline-separated `KEY=value` lines; a newline inside a value would start a
/// bogus assignment.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The `STATUS=` line, sent only when its text changes (the daemon recomputes it every few
/// seconds; resending the same text would only be noise on the socket).
#[derive(Debug, Default)]
pub(crate) struct StatusLine {
    last: String,
}

impl StatusLine {
    /// Sends `text` unless it is what was sent last.
    pub(crate) fn set(&mut self, text: String) {
        if text != self.last {
            status(&text);
            self.last = text;
        }
    }

    /// Records `text` as sent by some other message (e.g. [`ready`]), so it is not repeated.
    pub(crate) fn sent(&mut self, text: String) {
        self.last = text;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_one_line() {
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
    }
}
