//! The try-out behind `scripts/try`: a ticket's whole life on this machine, with throw-away mail
//! servers, in well under a minute.
//!
//! ```text
//! scripts/try              # as root: installs Dovecot and aiosmtpd if missing, builds, runs this
//! scripts/try --no-wait    # exits after the walk-through (what CI runs)
//! ```
//!
//! Starts the integration-test harness's private Dovecot (IMAP + LMTP) and SMTP relay
//! (`tests/common`, `tests/smtp/relay.py`) on 127.0.0.1 in temporary directories, writes a
//! configuration with nothing but the servers, the store, the support address and two agents
//! (no secret: the daemon makes one), runs the real `supportd` binary on it, and walks one
//! ticket through, printing what each mailbox received:
//!
//! 1. a Chinese customer's mail becomes ticket 1 and gets an acknowledgement; the agent gets a
//!    notification;
//! 2. the agent presses Reply: the customer receives the answer from the support address;
//! 3. the agent sends `#status resolved`: the customer is asked for a score;
//! 4. the customer answers `5分`: recorded on the ticket.
//!
//! Every step is checked (exit status 1 with the logs if one does not happen). Then everything
//! keeps running, with the commands to look around printed, until Ctrl-C; on exit the daemon is
//! stopped, the servers are killed and the directories removed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use serde_json::Value;
use supportd::mail::inbound::Inbound;

/// A ticket's whole life on throw-away mail servers.
#[derive(Parser)]
#[command(about)]
struct Args {
    /// Exit after the walk-through instead of waiting for Ctrl-C (for CI).
    #[arg(long)]
    no_wait: bool,
    /// The supportd binary; default: the one built next to this example.
    #[arg(long)]
    supportd: Option<PathBuf>,
}

const CUSTOMER: &str = "张伟 <customer@example.com>";
const ALICE: &str = "Alice <agent1@example.com>";

fn main() -> ExitCode {
    let args = Args::parse();
    let bin = match supportd_binary(args.supportd.as_deref()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("try: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // The harness runs `supportd` from PATH (examples get no CARGO_BIN_EXE_*).
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(bin.parent().unwrap().to_path_buf())
        .chain(std::env::split_paths(&path))
        .collect::<Vec<_>>();
    // SAFETY: single-threaded here; nothing reads the environment concurrently.
    unsafe { std::env::set_var("PATH", std::env::join_paths(dirs).unwrap()) };

    let t0 = Instant::now();
    banner("Starting throw-away mail servers on 127.0.0.1");
    // From the main thread: the servers and the daemon die with the thread that started them.
    let dovecot = common::Dovecot::start();
    let smtp = common::Smtp::start(&dovecot);
    println!(
        "  Dovecot  IMAP 127.0.0.1:{}  LMTP 127.0.0.1:{}   ({})",
        dovecot.imap_port,
        dovecot.lmtp_port,
        dovecot.dir().display()
    );
    println!(
        "  SMTP relay 127.0.0.1:{} (aiosmtpd, delivers into Dovecot over LMTP)",
        smtp.port
    );
    println!(
        "  mailboxes: support, customer (张伟), agent1 (alice), agent2 (bob); password \"{}\"",
        common::PASSWORD
    );
    let dir = match tempfile::Builder::new().prefix("supportd-try-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("try: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = write_config(dir.path(), &dovecot, &smtp);
    println!(
        "  configuration {} (no outbound secret: the daemon generates one)",
        config.display()
    );
    let mut daemon = common::Daemon::start(&config);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcome = rt.block_on(async {
        let tour = Tour {
            dovecot: &dovecot,
            config: &config,
        };
        tokio::select! {
            r = tour.walk(&daemon) => r,
            _ = interrupted() => Err(anyhow!("interrupted")),
        }
    });
    let ok = match outcome {
        Ok(()) => {
            println!(
                "\nThe whole life of ticket 1 took {:.1} s (servers included).",
                t0.elapsed().as_secs_f64()
            );
            if !args.no_wait {
                look_around(&bin, &config, &dovecot, dir.path());
                rt.block_on(interrupted());
                println!();
            }
            true
        }
        Err(e) => {
            eprintln!(
                "\ntry: {e:#}\n--- daemon.log ---\n{}\n--- relay ---\n{}",
                daemon.log(),
                smtp.log()
            );
            false
        }
    };
    banner("Cleaning up");
    let status = daemon.terminate();
    drop(smtp);
    drop(dovecot);
    let removed = dir.path().display().to_string();
    drop(dir);
    println!(
        "  daemon stopped ({status}), servers stopped, {removed} and the servers' directories removed"
    );
    if ok && status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `--supportd`, or `supportd` next to this example (`target/<profile>/examples/try` →
/// `target/<profile>/supportd`).
fn supportd_binary(given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .and_then(Path::parent)
            .context("where is this example?")?
            .join("supportd"),
    };
    let path = std::fs::canonicalize(&path)
        .with_context(|| format!("no supportd binary at {} (cargo build)", path.display()))?;
    Ok(path)
}

/// The configuration a newcomer would write: the two servers, the store, the support address,
/// two agents. Business hours around the clock, so nothing waits for the morning.
fn write_config(dir: &Path, dovecot: &common::Dovecot, smtp: &common::Smtp) -> PathBuf {
    let mut text = common::base_config(dir, dovecot);
    text.push_str(&format!(
        "\n{}\n[outbound]\nretry_initial_secs = 1\n\n\
         [[agents]]\nname = \"alice\"\naddresses = [\"agent1@example.com\"]\n\n\
         [[agents]]\nname = \"bob\"\naddresses = [\"agent2@example.com\"]\n",
        common::smtp_config(smtp)
    ));
    common::write_config_raw(dir, &text)
}

async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

struct Tour<'a> {
    dovecot: &'a common::Dovecot,
    config: &'a Path,
}

impl Tour<'_> {
    async fn walk(&self, daemon: &common::Daemon) -> Result<()> {
        daemon.wait_ready().await;
        println!(
            "  supportd running (its log: {})",
            daemon.log_path().display()
        );

        // 1. The customer writes.
        let step = Instant::now();
        banner("1. A customer writes to support@example.com, in Chinese");
        let first = common::mail(
            CUSTOMER,
            "support@example.com",
            "网站打不开了",
            "<try-1@customer.example>",
            "你好，\n\n从今天早上九点开始，我们的网站 www.shop.cn 打不开了，浏览器显示 502 Bad \
             Gateway。\n我们已经重启过浏览器。\n\n张伟",
        );
        show("support's INBOX", &first);
        self.dovecot.append("support", "INBOX", &first).await;
        let ack = self.wait_mail("customer", 1).await?;
        let notification = self.wait_mail("agent1", 1).await?;
        let ticket = self.ticket().await?;
        println!(
            "\n  => ticket {} ({}, {}; priority by {}), in {:.1} s",
            ticket["id"],
            ticket["priority"].as_str().unwrap_or("?"),
            ticket["status"].as_str().unwrap_or("?"),
            ticket["priority_rule"].as_str().unwrap_or("default"),
            step.elapsed().as_secs_f64()
        );
        show_parsed("customer's INBOX: the acknowledgement", &ack);
        show_parsed("alice's INBOX (agent1): the notification", &notification);
        if !ack.subject.contains("[SUP-1]") || !notification.subject.contains("[SUP-1]") {
            bail!(
                "unexpected subjects: {:?} / {:?}",
                ack.subject,
                notification.subject
            );
        }

        // 2. The agent replies.
        let step = Instant::now();
        banner("2. Alice presses Reply on the notification");
        let reply = reply_to(
            &notification,
            "<try-2@agent.example>",
            "您好，\n\n我们已经重启了您的 Web 服务器，网站已经恢复。请刷新页面再试一下。\n\n\
             -- \nAlice\n\n> (quoted notification)",
        );
        show(
            &format!(
                "to {} (the signed reply address)",
                notification.reply_to[0].address
            ),
            &reply,
        );
        self.dovecot.append("support", "INBOX", &reply).await;
        let relayed = self.wait_mail("customer", 2).await?;
        self.wait_ticket(|t| t["status"] == "pending").await?;
        println!(
            "\n  => relayed to the customer, ticket pending (waiting for the customer), in {:.1} s",
            step.elapsed().as_secs_f64()
        );
        show_parsed(
            "customer's INBOX: alice's answer, from the support address",
            &relayed,
        );

        // 3. The agent resolves it.
        let step = Instant::now();
        banner("3. Alice resolves the ticket with a command");
        let resolve = reply_to(&notification, "<try-3@agent.example>", "#status resolved");
        show("to the signed reply address", &resolve);
        self.dovecot.append("support", "INBOX", &resolve).await;
        let survey = self.wait_mail("customer", 3).await?;
        self.wait_ticket(|t| t["status"] == "resolved").await?;
        println!(
            "\n  => ticket resolved, the customer is asked for a score, in {:.1} s",
            step.elapsed().as_secs_f64()
        );
        show_parsed("customer's INBOX: the satisfaction survey", &survey);

        // 4. The customer answers the survey.
        let step = Instant::now();
        banner("4. The customer answers the survey");
        let answer = common::mail_with(
            CUSTOMER,
            "support@example.com",
            &format!("回复：{}", survey.subject),
            "<try-4@customer.example>",
            &[("In-Reply-To", &format!("<{}>", survey.message_id))],
            "5分，谢谢你们这么快！",
        );
        show("support's INBOX", &answer);
        self.dovecot.append("support", "INBOX", &answer).await;
        let t = self
            .wait_ticket(|t| t["satisfaction"]["score"] == 5)
            .await?;
        common::settled_outbox(self.config).await;
        println!(
            "\n  => recorded: score {}, comment \"{}\"; the ticket stays {}, in {:.1} s",
            t["satisfaction"]["score"],
            t["satisfaction"]["comment"].as_str().unwrap_or(""),
            t["status"].as_str().unwrap_or("?"),
            step.elapsed().as_secs_f64()
        );
        let n = self.dovecot.count("customer", "INBOX").await;
        if n != 3 {
            bail!("the customer should have 3 mails (ack, answer, survey), has {n}");
        }

        banner(&format!(
            "supportd --config {} ticket show 1",
            self.config.display()
        ));
        let out = common::cli_ok(self.config, &["ticket", "show", "1"]);
        println!("{}", indent(&out, usize::MAX));
        Ok(())
    }

    /// Waits until `user`'s INBOX holds `n` mails; returns the newest, parsed.
    async fn wait_mail(&self, user: &str, n: usize) -> Result<Inbound> {
        if !self
            .dovecot
            .wait_count(user, "INBOX", n, common::WAIT)
            .await
        {
            bail!(
                "{user}'s INBOX has {} mails, expected {n}",
                self.dovecot.count(user, "INBOX").await
            );
        }
        let all = self.dovecot.fetch_all(user, "INBOX").await;
        let raw = &all.last().context("empty INBOX")?.1;
        supportd::mail::parse::parse(raw).map_err(|e| anyhow!("cannot parse {user}'s mail: {e}"))
    }

    async fn ticket(&self) -> Result<Value> {
        self.wait_ticket(|_| true).await
    }

    /// Waits until ticket 1 exists and `cond` holds for its `ticket show --json`.
    async fn wait_ticket(&self, cond: impl Fn(&Value) -> bool) -> Result<Value> {
        let mut last = Value::Null;
        let found = common::wait_until(common::WAIT, async || {
            let out = common::cli(self.config, &["ticket", "show", "1", "--json"]);
            if !out.status.success() {
                return None;
            }
            let t: Value = serde_json::from_slice(&out.stdout).ok()?;
            if cond(&t) {
                return Some(t);
            }
            last = t;
            None
        })
        .await;
        found.ok_or_else(|| anyhow!("ticket 1 did not get there; last seen:\n{last:#}"))
    }
}

/// Alice's reply to the notification, as her mail client writes it.
fn reply_to(notification: &Inbound, id: &str, body: &str) -> Vec<u8> {
    common::mail_with(
        ALICE,
        &notification.reply_to[0].address,
        &format!("Re: {}", notification.subject),
        id,
        &[
            ("In-Reply-To", &format!("<{}>", notification.message_id)),
            ("References", &format!("<{}>", notification.message_id)),
        ],
        body,
    )
}

fn banner(title: &str) {
    println!("\n== {title}");
}

/// A mail we are about to deliver.
fn show(where_: &str, raw: &[u8]) {
    match supportd::mail::parse::parse(raw) {
        Ok(m) => show_parsed(where_, &m),
        Err(e) => println!("  ({where_}: unparsable: {e})"),
    }
}

fn show_parsed(where_: &str, m: &Inbound) {
    let to: Vec<&str> = m.to.iter().map(|a| a.address.as_str()).collect();
    println!("\n  -- {where_}");
    println!("  From:    {}", display(&m.from));
    println!("  To:      {}", to.join(", "));
    println!("  Subject: {}", m.subject);
    println!("{}", indent(m.text.trim_end(), 14));
}

fn display(a: &supportd::mail::mailbox::Mailbox) -> String {
    match &a.name {
        Some(n) => format!("{n} <{}>", a.address),
        None => a.address.clone(),
    }
}

/// `text` indented, at most `max` lines.
fn indent(text: &str, max: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().take(max).map(|l| format!("  | {l}")).collect();
    if lines.len() > max {
        out.push(format!("  | … ({} more lines)", lines.len() - max));
    }
    out.join("\n")
}

fn look_around(bin: &Path, config: &Path, dovecot: &common::Dovecot, dir: &Path) {
    let sd = format!("{} --config {}", bin.display(), config.display());
    banner("Everything keeps running. Look around (in another terminal):");
    println!("  {sd} tickets");
    println!("  {sd} ticket show 1");
    println!("  {sd} status");
    println!("  {sd} outbox list");
    println!(
        "  doveadm -c {} fetch -u customer 'hdr.from.utf8 hdr.subject.utf8 body.snippet' \
         mailbox INBOX all",
        dovecot.conf_path().display()
    );
    println!(
        "      (users customer, agent1, support; support's mail is filed in Processed once stored)"
    );
    println!(
        "  or any mail client: IMAP 127.0.0.1:{}, plain, user customer, password {}",
        dovecot.imap_port,
        common::PASSWORD
    );
    println!("  the daemon's log: {}", dir.join("daemon.log").display());
    println!("\nCtrl-C stops everything and removes it.");
}
