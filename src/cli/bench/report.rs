//! The benchmark's figures as a markdown table.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::cli::bench::generator::Mix;
use crate::cli::bench::peak::PeakRss;
use crate::config::Config;
use crate::config::sections::Security;

#[derive(Default)]
pub(super) struct Report {
    pub(super) facts: Vec<String>,
    pub(super) caps: Option<crate::io::imap::Caps>,
    pub(super) mix: Option<(Mix, usize, u64)>,
    pub(super) held_bytes: usize,
    /// (phase key, what, result, peak RSS).
    pub(super) rows: Vec<(&'static str, String, String, PeakRss)>,
    pub(super) notes: Vec<String>,
}

impl Report {
    pub(super) fn facts(&mut self, cfg: &Config, work: &Path) {
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let mem = proc_meminfo_kib("MemTotal").map_or_else(
            || "? RAM".into(),
            |k| format!("{:.1} GiB RAM", k as f64 / 1024.0 / 1024.0),
        );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
            |_| std::env::consts::OS.into(),
            |k| format!("Linux {}", k.trim()),
        );
        let profile = if cfg!(debug_assertions) {
            "debug (unoptimised: use --release for real figures)"
        } else {
            "release"
        };
        // Other work on the machine skews every figure; say how busy it was.
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .map_or_else(String::new, |l| format!(", load average {l} at start"));
        self.facts.push(format!(
            "machine: {cpus} CPUs ({model}), {mem}, {kernel}{load}; supportd {} {profile} build",
            env!("CARGO_PKG_VERSION")
        ));
        self.facts.push(format!(
            "store: sled page cache {} MiB (`[store] cache_mib`)",
            cfg.store.cache_mib
        ));
        self.facts.push(format!(
            "IMAP server: {}:{} ({})",
            cfg.imap.host,
            cfg.imap_port(),
            match cfg.imap.security {
                Security::Tls => "TLS",
                Security::Starttls => "STARTTLS",
                Security::Plain => "plain, no TLS",
            }
        ));
        self.facts.push(format!(
            "temporary stores: {} on {}",
            work.display(),
            fs_type(work)
        ));
    }

    /// Adds a row; returns its index so the phase's peak RSS can be filled in later.
    pub(super) fn row(
        &mut self,
        key: &'static str,
        what: &str,
        result: String,
        rss: PeakRss,
    ) -> usize {
        self.rows.push((key, what.to_owned(), result, rss));
        self.rows.len() - 1
    }

    pub(super) fn peak_overall(&self) -> Option<u64> {
        self.rows.iter().filter_map(|r| r.3).map(|(k, _)| k).max()
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "\n## supportd bench\n");
        let mut facts = self.facts.clone();
        if let Some(c) = self.caps
            && let Some(f) = facts.get_mut(1)
        {
            let _ = write!(
                f,
                ", IDLE {}, MOVE {}, UIDPLUS {}",
                yes(c.idle),
                yes(c.mv),
                yes(c.uidplus)
            );
        }
        if let Some((mix, bytes, seed)) = &self.mix {
            facts.push(format!(
                "mails: {} ({}, avg {}, seed {seed}): {} new tickets, {} replies; {} Chinese \
                 ({} GBK, {} UTF-8); {} multipart/alternative, {} HTML-only, {} with an attachment",
                group(mix.total),
                mib(*bytes),
                kib(bytes / mix.total.max(1)),
                group(mix.new),
                group(mix.replies),
                group(mix.gbk + mix.zh_utf8),
                group(mix.gbk),
                group(mix.zh_utf8),
                group(mix.alternative),
                group(mix.html_only),
                group(mix.attachments),
            ));
        }
        for f in &facts {
            let _ = writeln!(out, "- {f}");
        }
        let cumulative = self.rows.iter().any(|r| matches!(r.3, Some((_, false))));
        let _ = writeln!(out, "\n| | measurement | result | peak RSS |");
        let _ = writeln!(out, "|---|---|---|---|");
        for (key, what, result, rss) in &self.rows {
            let rss = rss.map_or_else(String::new, |(k, _)| mib(k as usize * 1024));
            let _ = writeln!(out, "| {key} | {what} | {result} | {rss} |");
        }
        let _ = writeln!(out);
        if self.rows.iter().any(|r| r.3.is_some()) {
            let _ = writeln!(
                out,
                "- Peak RSS (`VmHWM`) is reset at the start of each phase, so a figure covers its \
                 row and the rows below it without one. The benchmark process holds the \
                 generated mails ({}) throughout.{}",
                mib(self.held_bytes),
                if cumulative {
                    " /proc/self/clear_refs was not writable: the figures are cumulative."
                } else {
                    ""
                }
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "- {n}");
        }
        out
    }
}

pub(super) fn proc_meminfo_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Name of the file system holding `path` (fsync costs nothing on tmpfs).
pub(super) fn fs_type(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return "?".into();
    };
    // SAFETY: statfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "?".into();
    }
    #[allow(clippy::unnecessary_cast)]
    match st.f_type as i64 {
        0xEF53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x0102_1994 => "tmpfs (fsync costs nothing: figures are optimistic)".into(),
        0x794C_7630 => "overlayfs".into(),
        0x2FC1_2FC1 => "zfs".into(),
        t => format!("file system 0x{t:x}"),
    }
}

pub(super) fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// `12,345`.
pub(super) fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub(super) fn kib(bytes: usize) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

pub(super) fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub(super) fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1000.0;
    if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// `n mails in t = x mails/s, y MiB/s`.
pub(super) fn rate(n: usize, bytes: usize, d: Duration) -> String {
    let s = d.as_secs_f64().max(1e-9);
    format!(
        "{} mails in {} = **{} mails/s**, {:.1} MiB/s",
        group(n),
        secs(d),
        group((n as f64 / s).round() as usize),
        bytes as f64 / s / (1024.0 * 1024.0)
    )
}

/// Nearest-rank percentile of sorted, non-empty `v`.
pub(super) fn pct(v: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(pct(&v, 50.0), Duration::from_millis(50));
        assert_eq!(pct(&v, 99.0), Duration::from_millis(99));
        assert_eq!(pct(&v[..1], 99.0), Duration::from_millis(1));
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
    }
}
