//! `supportd bench`: throughput and latency figures (filled in below).

/// Benchmark options.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Number of mails to append.
    #[arg(long, default_value_t = 10_000)]
    pub mails: usize,
}

/// Runs the benchmark.
pub async fn run(_config: crate::config::Config, _args: Args) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
