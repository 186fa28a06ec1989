//! The command line's shape: subcommands, their arguments and their help texts (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::cli::{bench, fuzz, sweep_bench};
use crate::domain::status::Status;

#[derive(Parser)]
#[command(
    version,
    about = "Turns a support mailbox into a helpdesk",
    long_about = "Turns a support mailbox into a helpdesk: reads the mailbox over IMAP, makes \
                  every mail a ticket or threads it into one, answers the customer and the \
                  agents through the SMTP relay, and escalates by SLA. While the daemon runs, \
                  the other commands ask it over its control socket; otherwise they open the \
                  store themselves."
)]
pub(crate) struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        env = "SUPPORTD_CONFIG",
        default_value = "/etc/supportd/supportd.toml"
    )]
    pub(crate) config: PathBuf,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Run the daemon: ingest the mailbox until SIGTERM.
    Run,
    /// Validate the configuration and list every problem.
    CheckConfig,
    /// List the tickets still being worked on (new, open, pending), or those of `--status`, or
    /// `--all`.
    Tickets {
        /// Only tickets with this status (new, open, pending, resolved, closed).
        #[arg(long, conflicts_with = "all")]
        status: Option<Status>,
        /// Every ticket, resolved and closed ones too (reads the whole store).
        #[arg(long)]
        all: bool,
        /// Only tickets of this queue (`[[queues]] name`).
        #[arg(long)]
        queue: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with one ticket.
    Ticket {
        #[command(subcommand)]
        cmd: TicketCmd,
    },
    /// Mail that could not become a ticket.
    Quarantine {
        #[command(subcommand)]
        cmd: QuarantineCmd,
    },
    /// Outgoing mail.
    Outbox {
        #[command(subcommand)]
        cmd: OutboxCmd,
    },
    /// SLA accountability per priority and per agent: targets met, median and p90 times,
    /// escalations, satisfaction.
    Report {
        /// Only tickets created at or after this: YYYY-MM-DD (midnight in the calendar's time
        /// zone) or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summary of the store and, when running, the daemon.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a complete JSON-lines export of the store to standard output (through the daemon
    /// when it runs).
    Export,
    /// Load an export into an empty store (through the daemon when it runs).
    Import {
        /// The export file.
        file: PathBuf,
    },
    /// Rewrite the store to reclaim space (daemon must be stopped); keeps the old copy.
    Compact,
    /// Measure ingest throughput and latency against the configured IMAP server.
    Bench(bench::Args),
    /// Measure the SLA scheduler with many open tickets, in a scratch store (no server needed).
    BenchSweep(sweep_bench::Args),
    /// Run the mail pipeline over mutated corpus mails and report panics and the slowest
    /// input (a development tool; no configuration needed).
    Fuzz(fuzz::Args),
    /// Write the man pages and shell completions into DIR (for packaging).
    #[command(hide = true)]
    GenerateAssets {
        /// Output directory (`man/` and `completions/` are created in it).
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum OutboxCmd {
    /// List outgoing mail and its delivery state.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put a dead mail back in the queue.
    Retry {
        /// Outbox item id.
        id: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum TicketCmd {
    /// Show a ticket with its messages.
    Show {
        /// Ticket number.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a ticket's status; the customer gets a progress mail when configured.
    SetStatus {
        /// Ticket number.
        id: u64,
        /// new, open, pending, resolved or closed.
        status: Status,
    },
}

#[derive(Subcommand)]
pub(crate) enum QuarantineCmd {
    /// List quarantined mail with the reason.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ingest a quarantined mail after all (through the daemon when it runs): it threads or
    /// opens a ticket as if it had just arrived, also when a machine wrote it.
    Release {
        /// Quarantine record id (from `quarantine list`).
        id: u64,
    },
}
