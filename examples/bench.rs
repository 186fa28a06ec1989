//! `supportd bench` against a private, throw-away Dovecot: no mail server or config needed.
//!
//! ```text
//! cargo run --release --example bench -- --mails 10000
//! cargo run --release --example bench -- --help
//! ```
//!
//! Starts a Dovecot with the integration-test harness (`tests/common`: runs as root, needs
//! `dovecot-imapd` and a `vmail` user, see `.ci/run`), writes its standard test configuration
//! and runs exactly the code of `supportd --config FILE bench` (see `src/bench.rs` for what is
//! measured). The report, a markdown table, goes to stdout; progress to stderr.
//!
//! The harness Dovecot keeps mail in sdbox with `mail_fsync = never`, on loopback without TLS, so
//! the IMAP figures are an upper bound for a real server; the store's fsyncs are real.

#[path = "../tests/common/mod.rs"]
mod common;

use anyhow::{Result, anyhow};
use clap::Parser;
use supportd::config::Config;

/// Benchmark supportd against a private Dovecot.
#[derive(Parser)]
#[command(about)]
struct Cli {
    #[command(flatten)]
    bench: supportd::cli::bench::Args,
}

fn main() -> Result<()> {
    // The benchmark's fresh-process store probe runs this executable again.
    if supportd::cli::bench::probe_from_env() {
        return Ok(());
    }
    let cli = Cli::parse();
    // From the main thread: Dovecot is tied to the thread that starts it (PR_SET_PDEATHSIG).
    let dovecot = common::Dovecot::start();
    let dir = tempfile::Builder::new()
        .prefix("supportd-bench-example-")
        .tempdir()?;
    let path = common::write_config(dir.path(), &dovecot, "");
    let config = Config::load(&path).map_err(|e| anyhow!("{e}"))?;
    let version = std::process::Command::new("dovecot")
        .arg("--version")
        .output()
        .ok()
        .map(|o| format!("Dovecot {}", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| "Dovecot".into());
    eprintln!(
        "bench: private {version} on 127.0.0.1:{} (sdbox, mail_fsync = never)",
        dovecot.imap_port
    );
    let rt = tokio::runtime::Runtime::new()?;
    let result = rt.block_on(supportd::cli::bench::run(config, cli.bench));
    println!(
        "- Server: private {version} from the test harness (sdbox, `mail_fsync = never`, \
         loopback, no TLS)."
    );
    drop(rt);
    drop(dovecot);
    result
}
