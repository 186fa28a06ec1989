//! A whole help desk for one test: a private Dovecot, the SMTP relay into it, a `supportd.toml`
//! for both and the daemon running on it. The tests that work with mailboxes (customers', agents')
//! all need this same setup; building it in one place keeps their configuration and their ways of
//! waiting the same.

use std::path::{Path, PathBuf};

use serde_json::Value;
use supportd::mail::inbound::Inbound;
use supportd::mail::parse::parse;
use tempfile::TempDir;

use super::config::{AGENTS, base_config, write_config_raw};
use super::daemon::{Daemon, cli_json, settled_outbox};
use super::dovecot::{Dovecot, DovecotOptions};
use super::relay::{Smtp, smtp_config};
use super::wait::WAIT;

/// The outbound secret of every test desk (it signs reply addresses; no test reads it).
const SECRET: &str = "test-secret-0123456789abcdef";

/// What a test changes about the standard desk.
#[derive(Clone, Debug, Default)]
pub struct DeskOptions<'a> {
    /// Lines added to `[support]`, e.g. `reopen_window_days = 0`.
    pub support: &'a str,
    /// Lines added to `[outbound]`, e.g. `rate_limits = [[600, 5]]`.
    pub outbound: &'a str,
    /// With the test agents ([`AGENTS`]): new tickets then notify them too.
    pub agents: bool,
    /// Whole sections appended at the end, e.g. `[sla]` or `[http]`.
    pub extra: &'a str,
    /// Ingest only: no relay, and no `[smtp]`/`[outbound]`, so nothing is ever sent.
    pub no_relay: bool,
    /// For the Dovecot (e.g. hidden capabilities).
    pub dovecot: DovecotOptions,
    /// No `outbound.secret`: the daemon generates one and keeps it in the store.
    pub generated_secret: bool,
}

/// See the module docs. Dropping it kills the daemon and the servers and removes the temp dirs.
pub struct Desk {
    /// The daemon, if running (declared first: it is stopped before the servers go).
    pub daemon: Option<Daemon>,
    smtp: Option<Smtp>,
    /// The mail server of every test user.
    pub dovecot: Dovecot,
    /// `supportd.toml`; the store is `store/` and the daemon's log `daemon.log` next to it.
    pub config: PathBuf,
    dir: TempDir,
}

impl Desk {
    /// Starts the servers, writes the configuration and starts the daemon.
    pub fn start(opts: DeskOptions) -> Desk {
        let dovecot = Dovecot::start_with(opts.dovecot.clone());
        let smtp = (!opts.no_relay).then(|| Smtp::start(&dovecot));
        let dir = tempfile::tempdir().unwrap();
        let mut text = base_config(dir.path(), &dovecot);
        if !opts.support.is_empty() {
            text = text.replace(
                "tag_prefix = \"SUP\"\n",
                &format!("tag_prefix = \"SUP\"\n{}\n", opts.support),
            );
        }
        if let Some(smtp) = &smtp {
            let secret = if opts.generated_secret {
                String::new()
            } else {
                format!("secret = \"{SECRET}\"\n")
            };
            text.push_str(&format!(
                "\n{}\n[outbound]\n{secret}retry_initial_secs = 1\n{}\n",
                smtp_config(smtp),
                opts.outbound
            ));
        }
        if opts.agents {
            text.push_str(AGENTS);
        }
        text.push('\n');
        text.push_str(opts.extra);
        let config = write_config_raw(dir.path(), &format!("{}\n", text.trim_end()));
        let mut desk = Desk {
            daemon: None,
            smtp,
            dovecot,
            config,
            dir,
        };
        desk.start_daemon();
        desk
    }

    /// The directory holding the configuration, the store and the daemon's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The relay (panics for a [`DeskOptions::no_relay`] desk).
    pub fn smtp(&self) -> &Smtp {
        self.smtp.as_ref().expect("this desk has no SMTP relay")
    }

    /// The relay, to stop and start it.
    pub fn smtp_mut(&mut self) -> &mut Smtp {
        self.smtp.as_mut().expect("this desk has no SMTP relay")
    }

    /// The running daemon (panics if stopped).
    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("the daemon is stopped")
    }

    /// The daemon's log (all its runs) and the relay's.
    pub fn log(&self) -> String {
        let daemon = super::read_lossy(&self.dir().join("daemon.log"));
        match &self.smtp {
            Some(smtp) => format!("--- daemon ---\n{daemon}\n--- smtp ---\n{}", smtp.log()),
            None => daemon,
        }
    }

    /// Starts the daemon (see [`Daemon::start`]); panics if one runs.
    pub fn start_daemon(&mut self) {
        assert!(self.daemon.is_none(), "the daemon is already running");
        self.daemon = Some(Daemon::start(&self.config));
    }

    /// Stops the daemon with SIGTERM and checks it exited cleanly. No-op if stopped.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let st = d.terminate();
            assert!(st.success(), "daemon exit {st:?}\n{}", d.log());
        }
    }

    /// [`Desk::stop`], then [`Desk::start_daemon`].
    pub fn restart(&mut self) {
        self.stop();
        self.start_daemon();
    }

    /// SIGKILLs the daemon (a crash). No-op if stopped.
    pub fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            d.kill();
        }
    }

    /// A mail arrives in the support inbox.
    pub async fn deliver(&self, raw: &[u8]) {
        self.dovecot.append("support", "INBOX", raw).await;
    }

    /// Waits until `n` mails have left the inbox for Processed.
    pub async fn wait_processed(&self, n: usize) {
        self.wait_moved("Processed", n).await;
    }

    /// Waits until `n` mails are in Quarantine.
    pub async fn wait_quarantined(&self, n: usize) {
        self.wait_moved("Quarantine", n).await;
    }

    async fn wait_moved(&self, mailbox: &str, n: usize) {
        if !self.dovecot.wait_count("support", mailbox, n, WAIT).await {
            panic!(
                "expected {n} mails in {mailbox}, have {}; inbox {}\n{}",
                self.dovecot.count("support", mailbox).await,
                self.dovecot.count("support", "INBOX").await,
                self.log()
            );
        }
    }

    /// Waits until the daemon has finished whatever the deliveries so far caused: every mail has
    /// left the inbox (its effects are durable before it is moved) and nothing is pending in the
    /// outbox (everything it queued has reached its mailbox).
    pub async fn settle(&self) {
        let empty = self.dovecot.wait_count("support", "INBOX", 0, WAIT).await;
        assert!(empty, "inbox not worked off\n{}", self.log());
        if self.smtp.is_some() {
            settled_outbox(&self.config).await;
        }
    }

    /// Waits until `user`'s INBOX holds exactly `n` mails and returns them, raw and parsed.
    pub async fn inbox(&self, user: &str, n: usize) -> Vec<(Vec<u8>, Inbound)> {
        let ok = self.dovecot.wait_count(user, "INBOX", n, WAIT).await;
        let mails = self.inbox_now(user).await;
        assert!(
            ok,
            "{user} should have {n} mails, has {}: {:?}\n{}",
            mails.len(),
            mails.iter().map(|m| &m.1.subject).collect::<Vec<_>>(),
            self.log()
        );
        mails
    }

    /// `user`'s INBOX as it is now, raw and parsed, without waiting.
    pub async fn inbox_now(&self, user: &str) -> Vec<(Vec<u8>, Inbound)> {
        if self.dovecot.count(user, "INBOX").await == 0 {
            return Vec::new();
        }
        self.dovecot
            .fetch_all(user, "INBOX")
            .await
            .into_iter()
            .map(|(_, raw, _)| {
                let p = parse(&raw).unwrap();
                (raw, p)
            })
            .collect()
    }

    /// [`Desk::inbox`], parsed only.
    pub async fn mailbox(&self, user: &str, n: usize) -> Vec<Inbound> {
        self.inbox(user, n).await.into_iter().map(|m| m.1).collect()
    }

    /// `ticket show <id> --json`.
    pub fn ticket(&self, id: u64) -> Value {
        cli_json(&self.config, &["ticket", "show", &id.to_string(), "--json"])
    }

    /// `tickets --json`.
    pub fn tickets(&self) -> Vec<Value> {
        self.list(&["tickets", "--all", "--json"])
    }

    /// `outbox list --json`.
    pub fn outbox(&self) -> Vec<Value> {
        self.list(&["outbox", "list", "--json"])
    }

    /// `quarantine list --json`.
    pub fn quarantine(&self) -> Vec<Value> {
        self.list(&["quarantine", "list", "--json"])
    }

    fn list(&self, args: &[&str]) -> Vec<Value> {
        match cli_json(&self.config, args) {
            Value::Array(items) => items,
            other => panic!("{args:?}: not a list: {other:#}"),
        }
    }
}
