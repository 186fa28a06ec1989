//! Waiting, the one way tests do it: poll for a condition with a deadline, never sleep a fixed
//! time and hope. A fixed sleep is too short on a loaded CI machine and wasted on a fast one; a
//! condition read from the store or a mailbox holds at any speed.

use std::time::{Duration, Instant};

/// The deadline for whatever a test waits for. Generous on purpose: it only runs out when the
/// test fails anyway, and a loaded 2-core CI machine running two tests at a time is slow.
pub const WAIT: Duration = Duration::from_secs(90);

/// Polls `check` every 100 ms until it returns `Some`; `None` once `timeout` has passed (the
/// caller panics with its own diagnostics). Tests wait for a condition this way, never for a
/// fixed time.
pub async fn wait_until<T>(
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
