//! Peak resident memory per phase (`VmHWM`, reset through `/proc/self/clear_refs`).

/// KiB, and whether the peak was reset at the start of the phase.
pub(super) type PeakRss = Option<(u64, bool)>;

/// Peak RSS of one phase: `VmHWM` after resetting it (Linux ≥ 4.0, `clear_refs` value 5).
pub(super) struct Peak {
    pub(super) reset: bool,
}

impl Peak {
    pub(super) fn start() -> Peak {
        Peak {
            reset: std::fs::write("/proc/self/clear_refs", "5").is_ok(),
        }
    }

    /// KiB; cumulative since process start when the reset was not possible.
    pub(super) fn end(self) -> PeakRss {
        proc_status_kib("VmHWM").map(|k| (k, self.reset))
    }
}

pub(super) fn proc_status_kib(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}
