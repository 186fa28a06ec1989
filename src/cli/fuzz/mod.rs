//! `supportd fuzz`: the mail pipeline over mutated real mails, on stable Rust (cargo-fuzz needs
//! nightly, which CI must not need).
//!
//! ```text
//! supportd fuzz --inputs 10000000 --jobs 2 --max-input 65536 --save fuzz-out   # the documented long run
//! supportd fuzz --inputs 2000 --max-input 65536               # the CI smoke (tests/fuzz.rs)
//! ```
//!
//! Every input is a mail from the corpus directories (`tests/mail` and `tests/corpus` by
//! default) with one to three [`mutate`] mutations, run through [`pipeline::run`] (parse, quote,
//! subject, customer, threading, the desk's accept with everything it composes). It reports
//! inputs per second, panics (each input that panicked is saved, with its message) and the
//! slowest input with its CPU time (saved too), counts inputs over `--hang-ms` of CPU as hangs,
//! and exits non-zero after any panic or hang. A panic the parser catches itself
//! (`ParseError::Internal`) counts as one: it is a bug all the same.
//!
//! An input that never finishes would otherwise be found only in the stuck process's memory
//! (the first long run's hang was dug out with gdb): a watch saves any input a job has been on
//! for [`STUCK`] as `stuck-<job>.eml` while the run goes on.

mod mutate;
mod pipeline;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use self::mutate::{Kind, Rng};
use self::pipeline::{Desk, Reached};

/// Options of `supportd fuzz`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Args {
    /// Inputs to run (over all jobs).
    #[arg(long, default_value_t = 100_000)]
    inputs: u64,
    /// Stop after this many seconds even if fewer inputs ran.
    #[arg(long)]
    seconds: Option<u64>,
    /// Seed of the mutations: the same seed, corpus and job count give the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Threads fuzzing at once.
    #[arg(long, default_value_t = 1)]
    jobs: u64,
    /// Directories of mails to mutate (searched recursively).
    #[arg(long = "corpus", default_values = ["tests/mail", "tests/corpus"])]
    corpus: Vec<PathBuf>,
    /// Where to save inputs that panicked and the slowest input.
    #[arg(long)]
    save: Option<PathBuf>,
    /// CPU time (milliseconds) above which an input counts as a hang: the issue's bound for
    /// one mail is about 2 s.
    #[arg(long, default_value_t = 2000)]
    hang_ms: u64,
    /// Largest input made, in bytes (huge repeats are cut here).
    #[arg(long, default_value_t = mutate::MAX_INPUT)]
    max_input: usize,
    /// Print progress every this many seconds (0: never).
    #[arg(long, default_value_t = 60)]
    progress: u64,
    /// Instead of fuzzing, run these files (saved findings) through the pipeline once each and
    /// print the CPU time of every stage.
    #[arg(long, num_args = 1..)]
    replay: Vec<PathBuf>,
}

/// Panicking inputs kept per job (each can be megabytes).
const KEPT_PANICS: usize = 50;

/// Wall time on one input after which the watch saves it: far over the CPU bound of a hang,
/// so a loaded machine does not trip it.
const STUCK: Duration = Duration::from_secs(60);

/// Since when a job has been on which input.
type OnInput = (Instant, Arc<Vec<u8>>);

/// What every job shares with the thread that reports progress.
#[derive(Default)]
struct Shared {
    done: AtomicU64,
    panics: AtomicU64,
    hangs: AtomicU64,
    /// Per job: since when it has been on which input.
    current: Vec<Mutex<Option<OnInput>>>,
}

thread_local! {
    /// The message of the last panic on this thread (set by the hook, even when caught).
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// What one job found.
#[derive(Default)]
struct Found {
    inputs: u64,
    accepted: u64,
    /// Every panic counted; the first [`KEPT_PANICS`] kept with their input.
    panic_count: u64,
    panics: Vec<(String, Vec<u8>)>,
    /// Inputs over the hang bound; the first [`KEPT_PANICS`] kept.
    hang_count: u64,
    hangs: Vec<(Duration, Arc<Vec<u8>>)>,
    slowest: Option<(Duration, Kind, Arc<Vec<u8>>)>,
    by_kind: std::collections::BTreeMap<Kind, (u64, Duration)>,
}

/// Runs the fuzzer and prints its report.
pub(crate) fn run(args: Args) -> Result<std::process::ExitCode> {
    if !args.replay.is_empty() {
        return replay(&args.replay, Duration::from_millis(args.hang_ms));
    }
    let corpus = Arc::new(load_corpus(&args.corpus)?);
    let desk = Arc::new(Desk::new()?);
    std::panic::set_hook(Box::new(|info| {
        let msg = match (
            info.payload().downcast_ref::<&str>(),
            info.payload().downcast_ref::<String>(),
        ) {
            (Some(s), _) => (*s).to_owned(),
            (_, Some(s)) => s.clone(),
            _ => "(no message)".to_owned(),
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        PANIC.with(|p| *p.borrow_mut() = Some(format!("{msg}{at}")));
    }));
    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs(s));
    let jobs = args.jobs.max(1);
    let shared = Arc::new(Shared {
        current: (0..jobs).map(|_| Mutex::new(None)).collect(),
        ..Default::default()
    });
    let hang = Duration::from_millis(args.hang_ms);
    let max_input = args.max_input.max(1);
    eprintln!(
        "fuzz: {} corpus mails, {} inputs, {jobs} job(s), seed {}",
        corpus.len(),
        args.inputs,
        args.seed
    );
    let handles: Vec<_> = (0..jobs)
        .map(|j| {
            let (corpus, desk, shared) = (corpus.clone(), desk.clone(), shared.clone());
            let share = args.inputs / jobs + u64::from(j < args.inputs % jobs);
            let seed = args.seed.wrapping_mul(1_000_003).wrapping_add(j);
            std::thread::Builder::new()
                .name(format!("fuzz-{j}"))
                .stack_size(64 << 20)
                .spawn(move || {
                    let limits = Limits {
                        inputs: share,
                        deadline,
                        hang,
                        max_input,
                    };
                    job(&corpus, &desk, seed, &limits, &shared, j as usize)
                })
        })
        .collect::<std::io::Result<_>>()?;
    let progress = (args.progress > 0).then(|| Duration::from_secs(args.progress));
    let mut last = Instant::now();
    let mut saved_stuck: Vec<Option<Instant>> = vec![None; shared.current.len()];
    while !handles.iter().all(|h| h.is_finished()) {
        std::thread::sleep(Duration::from_millis(200));
        watch_stuck(&shared, &mut saved_stuck, args.save.as_deref());
        if let Some(every) = progress
            && last.elapsed() >= every
        {
            last = Instant::now();
            let n = shared.done.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "fuzz: {n} inputs in {secs:.0} s ({:.0}/s), {} panics, {} hangs",
                n as f64 / secs,
                shared.panics.load(Ordering::Relaxed),
                shared.hangs.load(Ordering::Relaxed)
            );
        }
    }
    let mut all = Found::default();
    for h in handles {
        let f = h.join().map_err(|_| anyhow::anyhow!("a fuzz job died"))?;
        all.inputs += f.inputs;
        all.accepted += f.accepted;
        all.panic_count += f.panic_count;
        all.panics.extend(f.panics);
        all.hang_count += f.hang_count;
        all.hangs.extend(f.hangs);
        for (k, (n, t)) in f.by_kind {
            let e = all.by_kind.entry(k).or_default();
            e.0 += n;
            e.1 = e.1.max(t);
        }
        if f.slowest.as_ref().map(|s| s.0) > all.slowest.as_ref().map(|s| s.0) {
            all.slowest = f.slowest;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    report(&all, secs, args.save.as_deref())?;
    Ok(if all.panic_count == 0 && all.hang_count == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// Saves (once) each input a job has been on for longer than [`STUCK`].
fn watch_stuck(shared: &Shared, saved: &mut [Option<Instant>], dir: Option<&Path>) {
    for (j, slot) in shared.current.iter().enumerate() {
        let Some((since, input)) = slot.lock().unwrap_or_else(|e| e.into_inner()).clone() else {
            continue;
        };
        if since.elapsed() < STUCK || saved[j] == Some(since) {
            continue;
        }
        saved[j] = Some(since);
        let mut line = format!(
            "fuzz: job {j} has been on one input ({} bytes) for {:.0} s",
            input.len(),
            since.elapsed().as_secs_f64()
        );
        if let Some(dir) = dir {
            let path = dir.join(format!("stuck-{j}.eml"));
            match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &*input)) {
                Ok(()) => line.push_str(&format!(", saved as {}", path.display())),
                Err(e) => line.push_str(&format!(", not saved: {e}")),
            }
        }
        eprintln!("{line}");
    }
}

/// How much one job runs, and what counts as a hang.
struct Limits {
    inputs: u64,
    deadline: Option<Instant>,
    hang: Duration,
    max_input: usize,
}

fn job(
    corpus: &[Vec<u8>],
    desk: &Desk,
    seed: u64,
    limits: &Limits,
    shared: &Shared,
    me: usize,
) -> Found {
    let (inputs, deadline) = (limits.inputs, limits.deadline);
    let mut rng = Rng::new(seed);
    let mut found = Found::default();
    for i in 0..inputs {
        if i % 64 == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let base = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let (input, kind) = mutate::mutate(&mut rng, base, other, limits.max_input);
        let input = Arc::new(input);
        let slot = &shared.current[me];
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), input.clone()));
        PANIC.with(|p| p.borrow_mut().take());
        let t = thread_cpu();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline::run(desk, &input, &mut |_| ())
        }));
        let took = thread_cpu().saturating_sub(t);
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let panicked = PANIC.with(|p| p.borrow_mut().take());
        let failure = match (result, panicked) {
            (Ok(Reached::Accepted), None) => {
                found.accepted += 1;
                None
            }
            (Ok(Reached::Rejected), None) => None,
            (_, Some(msg)) => Some(msg),
            (Ok(Reached::ParserCrashed), None) | (Err(_), None) => {
                Some("(panic without a message)".to_owned())
            }
        };
        if let Some(msg) = failure {
            found.panic_count += 1;
            shared.panics.fetch_add(1, Ordering::Relaxed);
            if found.panics.len() < KEPT_PANICS {
                found.panics.push((msg, input.to_vec()));
            }
        }
        if took > limits.hang {
            found.hang_count += 1;
            shared.hangs.fetch_add(1, Ordering::Relaxed);
            if found.hangs.len() < KEPT_PANICS {
                found.hangs.push((took, input.clone()));
            }
        }
        let e = found.by_kind.entry(kind).or_default();
        e.0 += 1;
        e.1 = e.1.max(took);
        if found.slowest.as_ref().is_none_or(|s| took > s.0) {
            found.slowest = Some((took, kind, input));
        }
        found.inputs += 1;
        shared.done.fetch_add(1, Ordering::Relaxed);
    }
    found
}

fn report(found: &Found, secs: f64, save: Option<&Path>) -> Result<()> {
    println!("| measurement | figure |");
    println!("|---|---|");
    println!(
        "| inputs | {} in {secs:.1} s ({:.0}/s), {} went through the whole desk |",
        found.inputs,
        found.inputs as f64 / secs.max(1e-9),
        found.accepted
    );
    println!("| panics | {} |", found.panic_count);
    println!("| hangs (over the CPU bound) | {} |", found.hang_count);
    if let Some((t, kind, input)) = &found.slowest {
        println!(
            "| slowest input | {:.1} ms CPU ({}, {} bytes) |",
            t.as_secs_f64() * 1000.0,
            kind.name(),
            input.len()
        );
    }
    for (kind, (n, t)) in &found.by_kind {
        println!(
            "| {} | {n} inputs, slowest {:.1} ms |",
            kind.name(),
            t.as_secs_f64() * 1000.0
        );
    }
    for (msg, _) in found.panics.iter().take(20) {
        println!("panic: {msg}");
    }
    if let Some(dir) = save {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (i, (msg, input)) in found.panics.iter().enumerate() {
            std::fs::write(dir.join(format!("panic-{i}.eml")), input)?;
            std::fs::write(dir.join(format!("panic-{i}.txt")), msg)?;
        }
        for (i, (_, input)) in found.hangs.iter().enumerate() {
            std::fs::write(dir.join(format!("hang-{i}.eml")), input.as_slice())?;
        }
        if let Some((_, _, input)) = &found.slowest {
            std::fs::write(dir.join("slowest.eml"), input.as_slice())?;
        }
        eprintln!("fuzz: inputs saved in {}", dir.display());
    }
    Ok(())
}

/// Each file through the pipeline once, with the CPU time of each stage; exits 1 when one
/// panics or takes more than `hang` in all.
fn replay(files: &[PathBuf], hang: Duration) -> Result<std::process::ExitCode> {
    let desk = Desk::new()?;
    let mut failed = false;
    for path in files {
        let input =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let started = thread_cpu();
        let mut last = started;
        let mut stages = Vec::new();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline::run(&desk, &input, &mut |name| {
                let now = thread_cpu();
                stages.push((name, now.saturating_sub(last)));
                last = now;
            })
        }));
        let total = thread_cpu().saturating_sub(started);
        let outcome = match result {
            Ok(Reached::Accepted) => "accepted",
            Ok(Reached::Rejected) => "rejected by the parser",
            Ok(Reached::ParserCrashed) | Err(_) => "PANIC",
        };
        failed |= outcome == "PANIC" || total > hang;
        println!(
            "{}: {} bytes, {outcome}, {:.1} ms CPU",
            path.display(),
            input.len(),
            total.as_secs_f64() * 1000.0
        );
        for (name, t) in stages {
            println!("  {name}: {:.1} ms", t.as_secs_f64() * 1000.0);
        }
    }
    Ok(if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Every file below `dirs`, read whole.
fn load_corpus(dirs: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(p) = stack.pop() {
        let meta = std::fs::metadata(&p).with_context(|| format!("corpus {}", p.display()))?;
        if meta.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        } else {
            out.push(std::fs::read(&p)?);
        }
    }
    out.sort();
    if out.is_empty() {
        bail!("no mails in the corpus ({dirs:?})");
    }
    Ok(out)
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out pointer; CLOCK_THREAD_CPUTIME_ID always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_a_job_is_stuck_on_is_saved_once_while_the_run_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let since = Instant::now().checked_sub(STUCK * 2).unwrap();
        let shared = Shared {
            current: vec![
                Mutex::new(None),
                Mutex::new(Some((since, Arc::new(b"stuck".to_vec())))),
                Mutex::new(Some((Instant::now(), Arc::new(b"fresh".to_vec())))),
            ],
            ..Default::default()
        };
        let mut saved = vec![None; 3];
        watch_stuck(&shared, &mut saved, Some(dir.path()));
        let stuck = dir.path().join("stuck-1.eml");
        assert_eq!(std::fs::read(&stuck).unwrap(), b"stuck");
        assert!(!dir.path().join("stuck-2.eml").exists());
        // The same input is not written again on the next look.
        std::fs::remove_file(&stuck).unwrap();
        watch_stuck(&shared, &mut saved, Some(dir.path()));
        assert!(!stuck.exists());
    }
}
