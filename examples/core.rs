//! Phase (d) of the benchmark alone (parse + thread + store, no IMAP), for profiling:
//!
//! ```text
//! cargo run --release --example core -- 5000
//! perf record -g --call-graph dwarf target/release/examples/core 5000
//! ```

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5000);
    let dir = tempfile::Builder::new()
        .prefix("supportd-core-")
        .tempdir()?;
    let config = supportd::config::sample::scratch(&dir.path().join("store"), "")
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{}",
        supportd::cli::bench::core_only(&config, n, 1, dir.path())?
    );
    Ok(())
}
