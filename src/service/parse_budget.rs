//! The CPU budget of one mail: parsing (MIME, charsets, HTML to text, quote detection) runs on a
//! thread of its own, off the async runtime, and the waiting ingest loop reads that thread's CPU
//! clock. A mail whose parse needs more than `support.max_parse_cpu_ms` is given up on: the loop
//! moves on (the mail is quarantined unparsed) while the thread finishes on its own, its result
//! dropped. CPU time, not wall time, so a busy machine cannot make an ordinary mail look hostile.
//!
//! A thread cannot be stopped from outside, so a given-up parse still burns its CPU until it
//! ends. The parser's own limits (`mail::parse`) keep that rare; [`abandoned`] counts the ones
//! still running, and ingest restarts the process when too many pile up
//! ([`MAX_ABANDONED`]), which is the one way to end them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::mail::inbound::Inbound;

/// Given-up parses still running before ingest asks for a restart.
pub(crate) const MAX_ABANDONED: usize = 4;
/// How often the waiting loop reads the parser's CPU clock.
const CHECK_EVERY: Duration = Duration::from_millis(10);

static ABANDONED: AtomicUsize = AtomicUsize::new(0);

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const GIVEN_UP: u8 = 2;

/// Given-up parses whose thread is still running.
pub(crate) fn abandoned() -> usize {
    ABANDONED.load(Ordering::Acquire)
}

/// What became of a parse.
// One value per mail, moved once: boxing the mail would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Parsed {
    /// The parser's verdict: the mail, or why it is no mail (for the quarantine).
    Done(Result<Inbound, String>),
    /// The parser used up the budget.
    OverBudget,
}

/// Runs `parse` over `raw` on its own thread and waits for it while it has used less than
/// `budget` of CPU time.
pub(crate) async fn parse_within(
    raw: Arc<Vec<u8>>,
    budget: Duration,
    parse: impl FnOnce(&[u8]) -> Result<Inbound, String> + Send + 'static,
) -> Result<Parsed> {
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let (clock_tx, clock_rx) = tokio::sync::oneshot::channel();
    // RUNNING until the thread finishes (FINISHED) or the waiter gives up (GIVEN_UP), whichever
    // comes first; the loser of that race knows who counts the thread in ABANDONED.
    let state = Arc::new(AtomicU8::new(RUNNING));
    let theirs = state.clone();
    std::thread::Builder::new()
        .name("supportd-parse".into())
        .spawn(move || {
            let _ = clock_tx.send(ThreadClock::current());
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(&raw)))
                .unwrap_or_else(|_| Err("the parser crashed on this mail".into()));
            drop(raw);
            let ended =
                theirs.compare_exchange(RUNNING, FINISHED, Ordering::AcqRel, Ordering::Acquire);
            if ended.is_err() {
                ABANDONED.fetch_sub(1, Ordering::AcqRel);
            }
            let _ = done_tx.send(result);
        })
        .context("cannot start a parser thread")?;
    let clock = clock_rx.await.ok().flatten();
    let started = Instant::now();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = &mut done_rx => {
                return Ok(Parsed::Done(r.unwrap_or_else(|_| Err("the parser thread died".into()))));
            }
            _ = tick.tick() => {
                // Without a CPU clock (it cannot be read here) wall time stands in.
                let used = clock.and_then(|c| c.used()).unwrap_or_else(|| started.elapsed());
                if used <= budget {
                    continue;
                }
                // Counted first, so the thread's decrement can never come before it.
                ABANDONED.fetch_add(1, Ordering::AcqRel);
                if state
                    .compare_exchange(RUNNING, GIVEN_UP, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    return Ok(Parsed::OverBudget);
                }
                // It finished meanwhile: its result is on the way.
                ABANDONED.fetch_sub(1, Ordering::AcqRel);
                let r = done_rx.await;
                return Ok(Parsed::Done(r.unwrap_or_else(|_| Err("the parser thread died".into()))));
            }
        }
    }
}

/// The CPU-time clock of one thread (`pthread_getcpuclockid`), readable from another thread
/// while it runs.
#[derive(Debug, Clone, Copy)]
struct ThreadClock(libc::clockid_t);

impl ThreadClock {
    /// The calling thread's clock.
    fn current() -> Option<ThreadClock> {
        let mut id: libc::clockid_t = 0;
        // SAFETY: pthread_self() is always valid for the calling thread; `id` is a valid out
        // pointer.
        let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut id) };
        (rc == 0).then_some(ThreadClock(id))
    }

    /// CPU time the thread has used; `None` once it has ended.
    fn used(self) -> Option<Duration> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out pointer; an invalid clock only makes the call fail.
        let rc = unsafe { libc::clock_gettime(self.0, &mut ts) };
        (rc == 0).then(|| Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick(_: &[u8]) -> Result<Inbound, String> {
        Err("no mail".into())
    }

    /// Spins for half a second of CPU time, however busy the machine.
    fn spin(_: &[u8]) -> Result<Inbound, String> {
        let clock = ThreadClock::current().unwrap();
        let mut x = 0u64;
        while clock.used().unwrap() < Duration::from_millis(500) {
            x = x.wrapping_mul(31).wrapping_add(1);
            std::hint::black_box(x);
        }
        Err("spun".into())
    }

    #[tokio::test]
    async fn a_parse_within_budget_answers_and_one_over_it_is_given_up() {
        let raw = Arc::new(b"x".to_vec());
        let r = parse_within(raw.clone(), Duration::from_secs(60), quick)
            .await
            .unwrap();
        assert!(
            matches!(r, Parsed::Done(Err(ref e)) if e == "no mail"),
            "{r:?}"
        );
        let r = parse_within(raw.clone(), Duration::from_millis(20), spin)
            .await
            .unwrap();
        assert!(matches!(r, Parsed::OverBudget), "{r:?}");
        // The given-up thread ends on its own and is no longer counted.
        let deadline = Instant::now() + Duration::from_secs(60);
        while abandoned() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(abandoned(), 0);
        let r = parse_within(raw, Duration::from_secs(60), spin)
            .await
            .unwrap();
        assert!(
            matches!(r, Parsed::Done(Err(ref e)) if e == "spun"),
            "{r:?}"
        );
    }
}
