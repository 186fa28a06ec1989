//! A store reopened in a fresh process: start-up time, the latency of what operators run every
//! day (`tickets`, `ticket show`, `report`) and the resident memory of an idle daemon's store,
//! free of what the benchmark itself holds.
//!
//! The benchmark runs its own executable again with [`PROBE_ENV`] naming the store; that process
//! answers with one JSON line on stdout and exits (see [`probe_from_env`]).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::cli::bench::peak::proc_status_kib;
use crate::domain::status::Status;
use crate::io::store::Store;
use crate::service::requests::ACTIVE;
use crate::service::views;

/// Names the store the child process probes.
pub(super) const PROBE_ENV: &str = "SUPPORTD_BENCH_PROBE";
/// The `[store] cache_mib` it opens the store with.
const PROBE_CACHE_ENV: &str = "SUPPORTD_BENCH_PROBE_CACHE_MIB";
/// Set: the child only opens the store with sled alone (no records read, no indexes) and
/// reports the time and VmRSS.
const PROBE_SLED_ENV: &str = "SUPPORTD_BENCH_PROBE_SLED_ONLY";
/// A file of generated mails it then ingests through the core step, before measuring again
/// (see [`write_burst`]).
const PROBE_BURST_ENV: &str = "SUPPORTD_BENCH_PROBE_BURST_FILE";

/// Mails the probe reads from the burst file at a time: one ingest batch, which is what the
/// daemon holds.
const BURST_BATCH: usize = 64;

/// Tickets in the period `report --since` is measured over.
pub(super) const PERIOD: u64 = 1_000;

/// What the probe measured.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Probe {
    pub(super) tickets: usize,
    pub(super) messages: usize,
    /// Store::open: recovery and the migration check.
    pub(super) open: Duration,
    /// `tickets` (the active ones) and how many it listed.
    pub(super) list: Duration,
    pub(super) listed: usize,
    /// `tickets --status resolved` and how many it listed.
    pub(super) list_resolved: Duration,
    pub(super) resolved: usize,
    pub(super) show: Duration,
    /// `ticket show` of the same ticket again after `tickets` and `report` of all tickets
    /// pulled the store through the cache.
    #[serde(default)]
    pub(super) show_after: Duration,
    /// `report --since` a period holding the newest [`PERIOD`] tickets, and how many it counted.
    pub(super) report: Duration,
    pub(super) reported: usize,
    /// `report` over every ticket.
    pub(super) report_all: Duration,
    /// VmRSS right after open, and after the three commands (KiB).
    pub(super) rss_open_kib: u64,
    pub(super) rss_after_kib: u64,
    /// VmRSS after the commands once the freed heap was released (KiB, `io::heap`).
    #[serde(default)]
    pub(super) rss_after_trimmed_kib: u64,
    /// VmRSS of the process before it opened the store (KiB).
    pub(super) rss_base_kib: u64,
    /// VmRSS after open once the freed heap was released (KiB).
    pub(super) rss_trimmed_kib: u64,
    /// Mails of the burst, and VmRSS a second after it (KiB), before and after the freed heap
    /// is released as ingest releases it when a backlog is done.
    pub(super) burst: usize,
    pub(super) rss_burst_kib: u64,
    pub(super) rss_burst_released_kib: u64,
    /// The same store opened by sled alone in another fresh process: time and VmRSS (KiB).
    #[serde(default)]
    pub(super) sled_open: Duration,
    #[serde(default)]
    pub(super) rss_sled_kib: u64,
}

/// What sled alone costs to open the store.
#[derive(Debug, Serialize, Deserialize)]
struct SledOnly {
    open: Duration,
    rss_kib: u64,
}

/// When this process was started as a probe: runs it, prints its JSON line, and returns true
/// (the caller exits). Called first thing by `supportd` and by `examples/bench.rs`.
pub fn probe_from_env() -> bool {
    let Some(path) = std::env::var_os(PROBE_ENV) else {
        return false;
    };
    if std::env::var_os(PROBE_SLED_ENV).is_some() {
        let t = Instant::now();
        match crate::io::store::open_sled_only(Path::new(&path), cache_mib() * 1024 * 1024) {
            Ok(db) => {
                let s = SledOnly {
                    open: t.elapsed(),
                    rss_kib: proc_status_kib("VmRSS").unwrap_or(0),
                };
                std::hint::black_box(&db);
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            }
            Err(e) => {
                eprintln!("bench probe: {e}");
                std::process::exit(1);
            }
        }
        return true;
    }
    match probe(Path::new(&path)) {
        Ok(p) => println!("{}", serde_json::to_string(&p).unwrap_or_default()),
        Err(e) => {
            eprintln!("bench probe: {e:#}");
            std::process::exit(1);
        }
    }
    true
}

fn probe(path: &Path) -> Result<Probe> {
    let rss_base_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let t = Instant::now();
    let cache_mib = cache_mib();
    let store =
        Store::open_with_cache(path, cache_mib * 1024 * 1024).context("cannot open the store")?;
    let open = t.elapsed();
    let rss_open_kib = proc_status_kib("VmRSS").unwrap_or(0);
    // What the allocator keeps of the memory recovery freed.
    crate::io::heap::release_free_memory();
    let rss_trimmed_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let tickets = store.ticket_count();
    let messages = store.message_count();

    // As the control socket answers them (`service::requests`).
    let id = tickets as u64 / 2 + 1;
    let t = Instant::now();
    let detail = views::detail(&store, id)?;
    let show = t.elapsed();
    if tickets > 0 && detail.is_none() {
        bail!("ticket {id} missing");
    }
    let t = Instant::now();
    let list: Vec<views::TicketSummary> = store
        .tickets_with(&ACTIVE, None)?
        .iter()
        .map(views::summary)
        .collect();
    let list_took = t.elapsed();
    let t = Instant::now();
    let resolved: Vec<views::TicketSummary> = store
        .tickets_with(&[Status::Resolved], None)?
        .iter()
        .map(views::summary)
        .collect();
    let list_resolved = t.elapsed();
    let since = store
        .ticket((tickets as u64).saturating_sub(PERIOD - 1).max(1))?
        .map(|t| t.created_at);
    let t = Instant::now();
    let period = match since {
        Some(s) => store.tickets_created_since(s)?,
        None => Vec::new(),
    };
    let report = crate::desk::report::build(&period, since, Utc::now());
    let report_took = t.elapsed();
    let t = Instant::now();
    let report_all = crate::desk::report::build(&store.tickets(None)?, None, Utc::now());
    let report_all_took = t.elapsed();
    let t = Instant::now();
    std::hint::black_box(views::detail(&store, id)?);
    let show_after = t.elapsed();
    std::hint::black_box((&list, &resolved, &detail, &report, &report_all));
    let (listed, resolved_n, reported) = (list.len(), resolved.len(), period.len());
    drop((list, resolved, detail, report, report_all, period));
    let rss_after_kib = proc_status_kib("VmRSS").unwrap_or(0);
    crate::io::heap::release_free_memory();
    let rss_after_trimmed_kib = proc_status_kib("VmRSS").unwrap_or(0);
    let (mut burst, mut rss_burst_kib, mut rss_burst_released_kib) = (0, 0, 0);
    if let Some(file) = std::env::var_os(PROBE_BURST_ENV) {
        let mut cfg =
            crate::config::sample::scratch(path, "").map_err(|e| anyhow::anyhow!("{e}"))?;
        cfg.store.cache_mib = cache_mib;
        let mut reader = std::io::BufReader::new(
            std::fs::File::open(&file).context("cannot open the burst's mails")?,
        );
        let mut failed = None;
        let batches = std::iter::from_fn(|| {
            let mut batch = Vec::with_capacity(BURST_BATCH);
            while batch.len() < BURST_BATCH {
                match read_mail(&mut reader) {
                    Ok(Some(raw)) => batch.push(raw),
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            burst += batch.len();
            (!batch.is_empty()).then_some(batch)
        });
        crate::cli::bench::core::ingest_chunks(&cfg, &store, batches)?;
        if let Some(e) = failed {
            return Err(e).context("cannot read the burst's mails");
        }
        std::thread::sleep(Duration::from_secs(1));
        rss_burst_kib = proc_status_kib("VmRSS").unwrap_or(0);
        crate::io::heap::release_free_memory();
        rss_burst_released_kib = proc_status_kib("VmRSS").unwrap_or(0);
    }
    Ok(Probe {
        tickets,
        messages,
        open,
        list: list_took,
        listed,
        list_resolved,
        resolved: resolved_n,
        show,
        show_after,
        report: report_took,
        reported,
        report_all: report_all_took,
        rss_open_kib,
        rss_after_kib,
        rss_after_trimmed_kib,
        rss_base_kib,
        rss_trimmed_kib,
        burst,
        rss_burst_kib,
        rss_burst_released_kib,
        sled_open: Duration::ZERO,
        rss_sled_kib: 0,
    })
}

fn cache_mib() -> u64 {
    std::env::var(PROBE_CACHE_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(crate::config::sections::DEFAULT_CACHE_MIB)
}

/// Runs the probe in a fresh process of this executable over the (closed) store at `path`.
pub(super) fn run_probe(path: &Path, cache_mib: u64, burst: usize) -> Result<Probe> {
    let sled: SledOnly = run_child(path, cache_mib, None, true)?;
    let file = match burst {
        0 => None,
        n => Some(write_burst(path, n)?),
    };
    let p = run_child(path, cache_mib, file.as_deref(), false);
    if let Some(f) = &file {
        let _ = std::fs::remove_file(f);
    }
    let mut p: Probe = p?;
    (p.sled_open, p.rss_sled_kib) = (sled.open, sled.rss_kib);
    Ok(p)
}

/// Writes `n` generated mails for the probe's burst beside the store at `path`, each as its
/// length (u32, little-endian) and its bytes: generated here, not in the probe, whose idle RSS
/// would otherwise hold the generator's history of every mail it wrote (the threads it
/// continues), which no daemon has.
fn write_burst(path: &Path, n: usize) -> Result<std::path::PathBuf> {
    use std::io::Write as _;
    let cfg = crate::config::sample::scratch(path, "").map_err(|e| anyhow::anyhow!("{e}"))?;
    let file = path.with_extension("burst");
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&file).context("cannot write the burst's mails")?,
    );
    // Another seed: other Message-IDs than the mails already stored.
    let mut generator =
        crate::cli::bench::generator::Generator::new(0xB0B5, &cfg.support.address, n);
    for _ in 0..n {
        let m = generator.next_mail();
        out.write_all(&(m.raw.len() as u32).to_le_bytes())?;
        out.write_all(&m.raw)?;
    }
    out.flush()?;
    Ok(file)
}

/// The next mail of a burst file, `None` at its end.
fn read_mail(r: &mut impl std::io::Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut raw = vec![0; u32::from_le_bytes(len) as usize];
    r.read_exact(&mut raw)?;
    Ok(Some(raw))
}

fn run_child<T: serde::de::DeserializeOwned>(
    path: &Path,
    cache_mib: u64,
    burst: Option<&Path>,
    sled_only: bool,
) -> Result<T> {
    let exe = std::env::current_exe().context("cannot find the benchmark's executable")?;
    let mut cmd = std::process::Command::new(exe);
    if sled_only {
        cmd.env(PROBE_SLED_ENV, "1");
    }
    if let Some(file) = burst {
        cmd.env(PROBE_BURST_ENV, file);
    }
    let out = cmd
        .env(PROBE_ENV, path)
        .env(PROBE_CACHE_ENV, cache_mib.to_string())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run the probe")?;
    if !out.status.success() {
        bail!("the probe failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("probe said {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The burst file gives back the generated mails, whole and in order, and then ends.
    #[test]
    fn a_burst_file_reads_back_mail_by_mail() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_burst(&dir.path().join("store"), 70).unwrap();
        let cfg = crate::config::sample::scratch(&dir.path().join("store"), "").unwrap();
        let mut generator =
            crate::cli::bench::generator::Generator::new(0xB0B5, &cfg.support.address, 70);
        let mut r = std::io::BufReader::new(std::fs::File::open(&file).unwrap());
        for _ in 0..70 {
            assert_eq!(read_mail(&mut r).unwrap(), Some(generator.next_mail().raw));
        }
        assert_eq!(read_mail(&mut r).unwrap(), None);
    }
}
