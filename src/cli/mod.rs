//! The `supportd` command line: the daemon (`run`), the operator's commands over the control
//! socket or the store, and the benchmarks.

pub(crate) mod args;
pub(crate) mod assets;
pub mod bench;
pub(crate) mod commands;
pub(crate) mod fuzz;
pub(crate) mod print;
pub(crate) mod query;
pub(crate) mod sweep_bench;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::args::Cli;

/// Runs the command line: parses the arguments and runs the subcommand.
pub fn main() -> ExitCode {
    // Before anything is created: the store, the control socket and spool files hold customer
    // mail, so they are private to the service user whatever umask started us.
    crate::io::store::private_umask();
    if bench::probe_from_env() {
        return ExitCode::SUCCESS;
    }
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("supportd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
