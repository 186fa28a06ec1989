//! The operator's TOML configuration.
//!
//! Loading never stops at the first mistake: every section is deserialised on its own and every
//! semantic check runs, so `supportd check-config` can list *all* problems, each naming its key.
//! Unknown keys are errors (a typo such as `procesed_mailbox` would otherwise silently fall back
//! to a default and the operator would never know).

pub mod sample;

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::priority::Priority;
use crate::domain::problem::Problem;

/// Environment variable that can carry the IMAP password instead of the file.
pub const IMAP_PASSWORD_ENV: &str = "SUPPORTD_IMAP_PASSWORD";
/// Environment variable that can carry the SMTP password instead of the file.
pub const SMTP_PASSWORD_ENV: &str = "SUPPORTD_SMTP_PASSWORD";

/// All problems found in a configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read.
    pub path: PathBuf,
    /// Every problem found, in file order where known.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} problem(s) in the configuration",
            self.path.display(),
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS before login.
    Starttls,
    /// No encryption; only accepted for loopback hosts.
    Plain,
}

/// `[imap]`: the support mailbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Server host name or address.
    pub host: String,
    /// Port; defaults to 993 for `tls`, 143 otherwise.
    pub port: Option<u16>,
    /// Transport security.
    #[serde(default = "default_security")]
    pub security: Security,
    /// Login name.
    pub username: String,
    /// Password given inline (prefer `password_file`).
    #[serde(default)]
    pub password: Option<String>,
    /// File holding the password; relative names are looked up in systemd's
    /// `$CREDENTIALS_DIRECTORY` first, then next to the configuration file.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Mailbox to ingest.
    #[serde(default = "default_inbox")]
    pub mailbox: String,
    /// Where ingested mail is moved once durably stored.
    #[serde(default = "default_processed")]
    pub processed_mailbox: String,
    /// Where rejected mail is moved.
    #[serde(default = "default_quarantine")]
    pub quarantine_mailbox: String,
    /// Poll interval when the server lacks IDLE (or `idle = false`).
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    /// Use IMAP IDLE when the server offers it.
    #[serde(default = "default_true")]
    pub idle: bool,
    /// How long one IDLE lasts before it is re-issued; RFC 2177 servers may drop idlers after 30 min.
    #[serde(default = "default_idle_renew")]
    pub idle_renew_secs: u64,
    /// Timeout for every single network operation.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// PEM file with a private CA to trust instead of the public web roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The password, resolved from `password`, `password_file` or the environment.
    #[serde(skip)]
    pub resolved_password: String,
}

/// `[smtp]`: the outgoing relay (used by the outbound path).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name or address.
    pub host: String,
    /// Port; defaults to 465 for `tls`, 587 for `starttls`, 25 for `plain`.
    pub port: Option<u16>,
    /// Transport security.
    #[serde(default = "default_security")]
    pub security: Security,
    /// Login name; no AUTH when absent.
    #[serde(default)]
    pub username: Option<String>,
    /// Password given inline.
    #[serde(default)]
    pub password: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Timeout for every single network operation.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// PEM file with a private CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The password, resolved.
    #[serde(skip)]
    pub resolved_password: Option<String>,
}

/// Language of mail we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Language {
    /// Directory name of the language's templates.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }
}

/// `[outbound]`: acknowledgements, progress mail and the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// Secret for signing our Message-IDs (at least 16 bytes); prefer `secret_file`.
    #[serde(default)]
    pub secret: Option<String>,
    /// File holding the secret (same lookup rules as `imap.password_file`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Domain of our Message-IDs; defaults to the support address's domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Language when the customer's mail does not tell.
    #[serde(default = "default_language")]
    pub language: Language,
    /// Directory overriding the built-in templates (`<dir>/<lang>/<name>.txt`).
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Acknowledge new tickets.
    #[serde(default = "default_true")]
    pub acknowledge: bool,
    /// Tell the customer when a follow-up was added to their ticket.
    #[serde(default)]
    pub followup_notice: bool,
    /// Mail the customer on status changes.
    #[serde(default = "default_true")]
    pub progress: bool,
    /// On resolution, ask the customer to score the support (1–5 or 满意/一般/不满意).
    #[serde(default = "default_true")]
    pub survey: bool,
    /// Tell the customer when their ticket is escalated (by the SLA or at their request).
    #[serde(default = "default_true")]
    pub escalation_notice: bool,
    /// How long the outbox keeps retrying a mail before marking it dead.
    #[serde(default = "default_retry_hours")]
    pub retry_hours: u64,
    /// First retry delay; it doubles per failure up to one hour.
    #[serde(default = "default_retry_initial")]
    pub retry_initial_secs: u64,
    /// Per-recipient caps on automatic mail: `[window_seconds, max_mails]` pairs.
    #[serde(default = "default_rate_limits")]
    pub rate_limits: Vec<[u64; 2]>,
    /// The secret, resolved.
    #[serde(skip)]
    pub resolved_secret: Vec<u8>,
}

fn default_language() -> Language {
    Language::En
}
fn default_retry_hours() -> u64 {
    72
}
fn default_retry_initial() -> u64 {
    30
}
fn default_rate_limits() -> Vec<[u64; 2]> {
    // Zammad's 10 per 10 minutes and Znuny's 40 per day.
    vec![[600, 10], [86_400, 40]]
}

/// `[store]`: where tickets live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the sled database.
    pub path: PathBuf,
}

/// `[support]`: who we are and how we read mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportConfig {
    /// The support address customers write to.
    pub address: String,
    /// Further addresses that are ours (aliases); never treated as customers.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Display name on outgoing mail.
    #[serde(default = "default_name")]
    pub name: String,
    /// Subject tag prefix: `SUP` gives `[SUP-123]`.
    #[serde(default = "default_tag_prefix")]
    pub tag_prefix: String,
    /// Regexes whose first capture group is a customer ID, tried over subject then body.
    #[serde(default = "default_customer_patterns")]
    pub customer_id_patterns: Vec<String>,
    /// TOML file mapping addresses and domains to customer IDs.
    #[serde(default)]
    pub customer_directory: Option<PathBuf>,
    /// Mail larger than this is quarantined without being downloaded.
    #[serde(default = "default_max_size")]
    pub max_message_bytes: u64,
    /// How long an open ticket may be joined by subject + customer.
    #[serde(default = "default_window")]
    pub thread_window_days: u64,
    /// Priority of a new ticket until classification says otherwise.
    #[serde(default = "default_priority")]
    pub default_priority: Priority,
    /// Open tickets for machine-generated mail (monitoring alerts, auto-replies) that matches no
    /// ticket. Off by default: such mail is quarantined, so an out-of-office or a bounce never
    /// becomes a ticket.
    #[serde(default)]
    pub machine_mail_tickets: bool,
    /// Address notified about tickets nobody is assigned to (e.g. an agents' list).
    #[serde(default)]
    pub agents_list: Option<String>,
    /// A customer reply to a resolved ticket reopens it within this many days; later it opens a
    /// new ticket linked to the old one.
    #[serde(default = "default_reopen_days")]
    pub reopen_window_days: u64,
    /// What a reply to a closed ticket does.
    #[serde(default = "default_closed_policy")]
    pub closed_policy: ClosedPolicy,
    /// `authserv-id` of our own MX: an `Authentication-Results` header from it showing DKIM or
    /// SPF pass for an agent's domain counts as proof. Off when unset (headers from anybody else
    /// are forgeable).
    #[serde(default)]
    pub trusted_authserv_id: Option<String>,
    /// Attachments up to this total size are forwarded to agents; larger ones are listed.
    #[serde(default = "default_attach_limit")]
    pub notify_attachment_limit_bytes: u64,
    /// Compiled `customer_id_patterns`.
    #[serde(skip)]
    pub customer_id_regexes: Vec<Regex>,
}

/// Role of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// First-line agent.
    Agent,
    /// Second line, receives escalations.
    Tier2,
    /// Receives the last escalation step.
    Supervisor,
}

/// `[[agents]]`: one support agent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Short name used in commands (`#assign alice`).
    pub name: String,
    /// The agent's addresses.
    pub addresses: Vec<String>,
    /// Role.
    #[serde(default = "default_role")]
    pub role: Role,
    /// Languages the agent works in.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Takes part in round-robin assignment of new tickets.
    #[serde(default = "default_true")]
    pub on_duty: bool,
}

/// What a customer's mail to a closed ticket does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedPolicy {
    /// Reopen the ticket.
    Reopen,
    /// Open a new ticket linked to the closed one.
    NewTicket,
    /// Keep the mail on the closed ticket and tell the customer to write a new request.
    Reject,
}

fn default_closed_policy() -> ClosedPolicy {
    ClosedPolicy::NewTicket
}
fn default_reopen_days() -> u64 {
    7
}
fn default_attach_limit() -> u64 {
    5 * 1024 * 1024
}

/// `[control]`: the local socket the CLI uses while the daemon holds the store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Unix socket path; defaults to `control.sock` in the store directory.
    #[serde(default)]
    pub socket: Option<PathBuf>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable; without colours when not on a terminal (journald-friendly).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Output format.
    #[serde(default)]
    pub format: LogFormat,
    /// `tracing` filter directive used when `RUST_LOG` is unset.
    #[serde(default)]
    pub level: Option<String>,
}

/// `[http]`: the `/healthz` and `/metrics` listener; off when the section is absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `ip:port` to listen on.
    #[serde(default = "default_http_listen", deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// Allow a non-loopback `listen` address. The endpoints have no authentication and
    /// `/metrics` reveals ticket counts, so this is off unless asked for.
    #[serde(default)]
    pub allow_remote: bool,
    /// `/healthz` reports unhealthy when the oldest pending outbox mail is older than this.
    #[serde(default = "default_outbox_max_age")]
    pub outbox_max_age_secs: u64,
    /// `/healthz` reports unhealthy when the inbox was last synced longer ago than this; the
    /// default is twice `imap.idle_renew_secs` (or `imap.poll_interval_secs` without IDLE)
    /// plus a minute, since an idle mailbox is re-synced once per IDLE renewal.
    #[serde(default)]
    pub sync_max_age_secs: Option<u64>,
}

fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9180))
}
fn default_outbox_max_age() -> u64 {
    30 * 60
}

fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "`{s}` is not an IP address and port such as \"127.0.0.1:9180\" or \"[::1]:9180\""
        ))
    })
}

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[imap]`.
    pub imap: ImapConfig,
    /// `[smtp]`, optional until outbound mail is configured.
    pub smtp: Option<SmtpConfig>,
    /// `[outbound]`; present (with defaults) whenever `[smtp]` is.
    pub outbound: Option<OutboundConfig>,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[support]`.
    pub support: SupportConfig,
    /// `[[agents]]`.
    pub agents: Vec<AgentConfig>,
    /// `[control]`.
    pub control: ControlConfig,
    /// `[log]`.
    pub log: LogConfig,
    /// `[http]`; `None` disables the health and metrics listener.
    pub http: Option<HttpConfig>,
    /// `[calendar]`: business hours, holidays, make-up days (defaults when absent).
    pub calendar: crate::domain::calendar::Calendar,
    /// `[sla]`: targets, classification, escalation and on-call (defaults when absent).
    pub sla: crate::domain::sla::SlaPolicy,
}

const SECTIONS: &[&str] = &[
    "imap", "smtp", "outbound", "store", "support", "agents", "control", "log", "http", "calendar",
    "sla",
];

fn default_security() -> Security {
    Security::Tls
}
fn default_inbox() -> String {
    "INBOX".into()
}
fn default_processed() -> String {
    "Processed".into()
}
fn default_quarantine() -> String {
    "Quarantine".into()
}
fn default_poll() -> u64 {
    60
}
fn default_true() -> bool {
    true
}
fn default_idle_renew() -> u64 {
    25 * 60
}
fn default_timeout() -> u64 {
    60
}
fn default_name() -> String {
    "Support".into()
}
fn default_tag_prefix() -> String {
    "SUP".into()
}
fn default_customer_patterns() -> Vec<String> {
    vec![
        r"(?:客户ID|客户编号|客户号)\s*[:：]\s*([A-Za-z0-9_-]+)".into(),
        r"(?i)customer\s*(?:id|no\.?|number)\s*[:：#]\s*([A-Za-z0-9_-]+)".into(),
    ]
}
fn default_max_size() -> u64 {
    25 * 1024 * 1024
}
fn default_window() -> u64 {
    30
}
fn default_priority() -> Priority {
    Priority::P3
}
fn default_role() -> Role {
    Role::Agent
}

impl Config {
    /// Reads and validates the file; the error lists every problem found.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let fail = |key: &str, message: String| ConfigError {
            path: path.to_owned(),
            problems: vec![Problem {
                key: key.into(),
                message,
            }],
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail("(file)", format!("cannot read: {e}")))?;
        Self::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` anchors relative file names.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                return Err(ConfigError {
                    path: path.to_owned(),
                    problems: vec![Problem {
                        key: "(syntax)".into(),
                        message: e.to_string().trim().replace('\n', " "),
                    }],
                });
            }
        };
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                problems.push(Problem {
                    key: key.clone(),
                    message: format!("unknown section; expected one of {}", SECTIONS.join(", ")),
                });
            }
        }
        let imap: Option<ImapConfig> = section(&table, "imap", true, &mut problems);
        let smtp: Option<SmtpConfig> = section(&table, "smtp", false, &mut problems);
        let outbound: Option<OutboundConfig> = section(&table, "outbound", false, &mut problems);
        let store: Option<StoreConfig> = section(&table, "store", true, &mut problems);
        let support: Option<SupportConfig> = section(&table, "support", true, &mut problems);
        let control: Option<ControlConfig> = section(&table, "control", false, &mut problems);
        let log: Option<LogConfig> = section(&table, "log", false, &mut problems);
        let http: Option<HttpConfig> = section(&table, "http", false, &mut problems);
        let calendar = match section::<crate::domain::calendar::CalendarConfig>(
            &table,
            "calendar",
            false,
            &mut problems,
        ) {
            Some(c) => c.build("calendar").unwrap_or_else(|p| {
                problems.extend(p);
                Default::default()
            }),
            None if table.contains_key("calendar") => Default::default(),
            None => crate::domain::calendar::CalendarConfig::default()
                .build("calendar")
                .unwrap_or_default(),
        };
        let sla =
            match section::<crate::domain::sla::SlaConfig>(&table, "sla", false, &mut problems) {
                Some(c) => c.build("sla").unwrap_or_else(|p| {
                    problems.extend(p);
                    Default::default()
                }),
                None => Default::default(),
            };
        if let Some(h) = &http {
            if !h.allow_remote && !h.listen.ip().is_loopback() {
                problems.push(Problem {
                    key: "http.listen".into(),
                    message: format!(
                        "`{}` is not a loopback address; /healthz and /metrics have no authentication, so set http.allow_remote = true to expose them",
                        h.listen
                    ),
                });
            }
            if h.outbox_max_age_secs == 0 {
                problems.push(Problem {
                    key: "http.outbox_max_age_secs".into(),
                    message: "must be at least 1".into(),
                });
            }
            if h.sync_max_age_secs == Some(0) {
                problems.push(Problem {
                    key: "http.sync_max_age_secs".into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        let agents: Vec<AgentConfig> = match table.get("agents") {
            None => Vec::new(),
            Some(v) => typed(v, "agents").unwrap_or_else(|p| {
                problems.push(p);
                Vec::new()
            }),
        };
        let base = path.parent().unwrap_or(Path::new("."));

        let mut imap = imap;
        if let Some(imap) = imap.as_mut() {
            check_endpoint(
                "imap",
                &imap.host,
                imap.security,
                imap.timeout_secs,
                &mut problems,
            );
            check_mailbox("imap.mailbox", &imap.mailbox, &mut problems);
            check_mailbox(
                "imap.processed_mailbox",
                &imap.processed_mailbox,
                &mut problems,
            );
            check_mailbox(
                "imap.quarantine_mailbox",
                &imap.quarantine_mailbox,
                &mut problems,
            );
            let names = [
                &imap.mailbox,
                &imap.processed_mailbox,
                &imap.quarantine_mailbox,
            ];
            if names.iter().collect::<BTreeSet<_>>().len() != names.len() {
                problems.push(Problem {
                    key: "imap.processed_mailbox".into(),
                    message: "mailbox, processed_mailbox and quarantine_mailbox must all differ"
                        .into(),
                });
            }
            if imap.username.trim().is_empty() {
                problems.push(Problem {
                    key: "imap.username".into(),
                    message: "must not be empty".into(),
                });
            }
            if imap.poll_interval_secs == 0 {
                problems.push(Problem {
                    key: "imap.poll_interval_secs".into(),
                    message: "must be at least 1".into(),
                });
            }
            if !(10..=29 * 60).contains(&imap.idle_renew_secs) {
                problems.push(Problem {
                    key: "imap.idle_renew_secs".into(),
                    message: "must be between 10 and 1740 (servers drop IDLE after 30 minutes)"
                        .into(),
                });
            }
            check_ca(base, "imap.ca_file", &imap.ca_file, &mut problems);
            match resolve_password(
                base,
                "imap",
                imap.password.as_deref(),
                imap.password_file.as_deref(),
                IMAP_PASSWORD_ENV,
            ) {
                Ok(Some(p)) => imap.resolved_password = p,
                Ok(None) => problems.push(Problem {
                    key: "imap.password".into(),
                    message: format!(
                        "no password: set imap.password, imap.password_file or ${IMAP_PASSWORD_ENV}"
                    ),
                }),
                Err(p) => problems.push(p),
            }
        }
        let mut smtp = smtp;
        if let Some(smtp) = smtp.as_mut() {
            check_endpoint(
                "smtp",
                &smtp.host,
                smtp.security,
                smtp.timeout_secs,
                &mut problems,
            );
            check_ca(base, "smtp.ca_file", &smtp.ca_file, &mut problems);
            match resolve_password(
                base,
                "smtp",
                smtp.password.as_deref(),
                smtp.password_file.as_deref(),
                SMTP_PASSWORD_ENV,
            ) {
                Ok(p) => smtp.resolved_password = p,
                Err(p) => problems.push(p),
            }
            if smtp.username.is_some() && smtp.resolved_password.is_none() {
                problems.push(Problem {
                    key: "smtp.password".into(),
                    message: format!(
                        "smtp.username is set but no password: set smtp.password, smtp.password_file or ${SMTP_PASSWORD_ENV}"
                    ),
                });
            }
        }
        let mut outbound = outbound;
        if outbound.is_some() && smtp.is_none() && table.get("smtp").is_none() {
            problems.push(Problem {
                key: "outbound".into(),
                message: "needs an [smtp] section to send through".into(),
            });
        }
        if smtp.is_some() && outbound.is_none() && table.get("outbound").is_none() {
            outbound = typed(&toml::Value::Table(Default::default()), "outbound").ok();
        }
        if let Some(out) = outbound.as_mut() {
            match resolve_password(
                base,
                "outbound",
                out.secret.as_deref(),
                out.secret_file.as_deref(),
                "SUPPORTD_SECRET",
            ) {
                Ok(Some(s)) if s.len() >= 16 => out.resolved_secret = s.into_bytes(),
                Ok(Some(_)) => problems.push(Problem {
                    key: "outbound.secret".into(),
                    message: "must be at least 16 characters (e.g. `openssl rand -hex 32`)".into(),
                }),
                Ok(None) => problems.push(Problem {
                    key: "outbound.secret".into(),
                    message: "no secret for signing Message-IDs: set outbound.secret, outbound.secret_file or $SUPPORTD_SECRET".into(),
                }),
                Err(mut p) => {
                    p.key = p.key.replace("password", "secret");
                    p.message = p.message.replace("password", "secret");
                    problems.push(p)
                }
            }
            if let Some(dir) = out.templates_dir.as_mut() {
                *dir = relative_to(base, dir);
                if !dir.is_dir() {
                    problems.push(Problem {
                        key: "outbound.templates_dir".into(),
                        message: format!("{} is not a directory", dir.display()),
                    });
                }
            }
            for (i, [window, max]) in out.rate_limits.iter().enumerate() {
                if *window == 0 || *max == 0 {
                    problems.push(Problem {
                        key: format!("outbound.rate_limits[{i}]"),
                        message: "window and maximum must both be at least 1".into(),
                    });
                }
            }
            if out.retry_hours == 0 {
                problems.push(Problem {
                    key: "outbound.retry_hours".into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        if let Some(store) = &store
            && store.path.as_os_str().is_empty()
        {
            problems.push(Problem {
                key: "store.path".into(),
                message: "must not be empty".into(),
            });
        }
        let mut support = support;
        if let Some(support) = support.as_mut() {
            if !looks_like_address(&support.address) {
                problems.push(Problem {
                    key: "support.address".into(),
                    message: format!("`{}` is not a mail address", support.address),
                });
            }
            for (i, a) in support.aliases.iter().enumerate() {
                if !looks_like_address(a) {
                    problems.push(Problem {
                        key: format!("support.aliases[{i}]"),
                        message: format!("`{a}` is not a mail address"),
                    });
                }
            }
            if support.tag_prefix.is_empty()
                || !support
                    .tag_prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                problems.push(Problem {
                    key: "support.tag_prefix".into(),
                    message: "must be non-empty ASCII letters, digits or `_`".into(),
                });
            }
            for (i, p) in support.customer_id_patterns.iter().enumerate() {
                match Regex::new(p) {
                    Ok(r) if r.captures_len() >= 2 => support.customer_id_regexes.push(r),
                    Ok(_) => problems.push(Problem {
                        key: format!("support.customer_id_patterns[{i}]"),
                        message: "needs a capture group `( … )` around the customer ID".into(),
                    }),
                    Err(e) => problems.push(Problem {
                        key: format!("support.customer_id_patterns[{i}]"),
                        message: format!("invalid regex: {e}"),
                    }),
                }
            }
            if let Some(dir) = support.customer_directory.as_mut() {
                *dir = relative_to(base, dir);
                if let Err(e) = crate::domain::customer::Directory::load(dir) {
                    problems.push(Problem {
                        key: "support.customer_directory".into(),
                        message: e.to_string(),
                    });
                }
            }
            if support.max_message_bytes < 1024 {
                problems.push(Problem {
                    key: "support.max_message_bytes".into(),
                    message: "must be at least 1024".into(),
                });
            }
        }
        let mut seen = BTreeSet::new();
        for (i, a) in agents.iter().enumerate() {
            if !seen.insert(a.name.to_lowercase()) {
                problems.push(Problem {
                    key: format!("agents[{i}].name"),
                    message: format!("duplicate agent name `{}`", a.name),
                });
            }
            if a.addresses.is_empty() {
                problems.push(Problem {
                    key: format!("agents[{i}].addresses"),
                    message: "needs at least one address".into(),
                });
            }
            for (j, addr) in a.addresses.iter().enumerate() {
                if !looks_like_address(addr) {
                    problems.push(Problem {
                        key: format!("agents[{i}].addresses[{j}]"),
                        message: format!("`{addr}` is not a mail address"),
                    });
                }
            }
        }

        problems.extend(sla.check_agents(
            |name| agents.iter().any(|a| a.name.eq_ignore_ascii_case(name)),
            "sla",
        ));
        if !problems.is_empty() {
            return Err(ConfigError {
                path: path.to_owned(),
                problems,
            });
        }
        // Every `None` here pushed a problem above, so reaching this point means all are present.
        let (Some(imap), Some(store), Some(support)) = (imap, store, support) else {
            unreachable!("missing required sections are reported as problems")
        };
        let mut store = store;
        store.path = relative_to(base, &store.path);
        let mut control = control.unwrap_or_default();
        if let Some(s) = control.socket.as_mut() {
            *s = relative_to(base, s);
        }
        Ok(Config {
            path: path.to_owned(),
            imap,
            smtp,
            outbound,
            store,
            support,
            agents,
            control,
            log: log.unwrap_or_default(),
            http,
            calendar,
            sla,
        })
    }

    /// Path of the control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.control
            .socket
            .clone()
            .unwrap_or_else(|| self.store.path.join("control.sock"))
    }

    /// IMAP port, defaulted by security mode.
    pub fn imap_port(&self) -> u16 {
        self.imap.port.unwrap_or(match self.imap.security {
            Security::Tls => 993,
            _ => 143,
        })
    }

    /// True when `address` (any case) is one of ours: the support address or an alias.
    pub fn is_own_address(&self, address: &str) -> bool {
        let a = address.to_ascii_lowercase();
        self.support.address.eq_ignore_ascii_case(&a)
            || self
                .support
                .aliases
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&a))
    }

    /// Domain of our Message-IDs.
    pub fn message_id_domain(&self) -> String {
        self.outbound
            .as_ref()
            .and_then(|o| o.domain.clone())
            .unwrap_or_else(|| {
                self.support
                    .address
                    .rsplit_once('@')
                    .map(|(_, d)| d.to_owned())
                    .unwrap_or_else(|| "localhost".into())
            })
    }

    /// How long the inbox may go unsynced before `/healthz` complains (see
    /// [`HttpConfig::sync_max_age_secs`]).
    pub fn sync_max_age_secs(&self) -> u64 {
        if let Some(s) = self.http.as_ref().and_then(|h| h.sync_max_age_secs) {
            return s;
        }
        let cycle = if self.imap.idle {
            self.imap.idle_renew_secs.max(self.imap.poll_interval_secs)
        } else {
            self.imap.poll_interval_secs
        };
        cycle.saturating_mul(2).saturating_add(60)
    }

    /// The agent called `name` (as in `[[agents]] name`), if any.
    pub fn agent_by_name(&self, name: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| a.name == name)
    }

    /// The agent owning `address`, if any.
    pub fn agent_by_address(&self, address: &str) -> Option<&AgentConfig> {
        self.agents
            .iter()
            .find(|ag| ag.addresses.iter().any(|x| x.eq_ignore_ascii_case(address)))
    }
}

fn section<T: DeserializeOwned>(
    table: &toml::Table,
    name: &str,
    required: bool,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    match table.get(name) {
        None if required => {
            problems.push(Problem {
                key: name.into(),
                message: "missing required section".into(),
            });
            None
        }
        None => None,
        Some(v) => match typed::<T>(v, name) {
            Ok(t) => Some(t),
            Err(p) => {
                problems.push(p);
                None
            }
        },
    }
}

/// Deserialises `v`, naming the exact offending key (`imap.port`) on failure.
fn typed<T: DeserializeOwned>(v: &toml::Value, name: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim().replace('\n', " ");
        // A missing field is reported at its parent; name the field itself.
        let field = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| message.strip_prefix(p))
            .and_then(|rest| rest.split('`').next());
        let mut key = name.to_owned();
        if path != "." {
            key = format!(
                "{key}{}{path}",
                if path.starts_with('[') { "" } else { "." }
            );
        }
        if let Some(f) = field
            && !key.ends_with(&format!(".{f}"))
        {
            key = format!("{key}.{f}");
        }
        Problem { key, message }
    })
}

fn check_endpoint(
    section: &str,
    host: &str,
    security: Security,
    timeout: u64,
    problems: &mut Vec<Problem>,
) {
    if host.trim().is_empty() {
        problems.push(Problem {
            key: format!("{section}.host"),
            message: "must not be empty".into(),
        });
    } else if security == Security::Plain && !is_loopback(host) {
        problems.push(Problem {
            key: format!("{section}.security"),
            message: format!(
                "\"plain\" sends the password unencrypted and is only allowed to a loopback host, not `{host}`; use \"tls\" or \"starttls\""
            ),
        });
    }
    if timeout == 0 {
        problems.push(Problem {
            key: format!("{section}.timeout_secs"),
            message: "must be at least 1".into(),
        });
    }
}

fn check_mailbox(key: &str, name: &str, problems: &mut Vec<Problem>) {
    if name.trim().is_empty() || name.contains(['\r', '\n', '"', '\\']) {
        problems.push(Problem {
            key: key.into(),
            message: format!("`{name}` is not a usable mailbox name"),
        });
    }
}

fn check_ca(base: &Path, key: &str, ca: &Option<PathBuf>, problems: &mut Vec<Problem>) {
    if let Some(ca) = ca {
        let p = relative_to(base, ca);
        if let Err(e) = std::fs::metadata(&p) {
            problems.push(Problem {
                key: key.into(),
                message: format!("cannot read {}: {e}", p.display()),
            });
        }
    }
}

/// True for `localhost` and loopback IP literals.
pub fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn looks_like_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')
}

/// Resolves a path given in the config against `base` (the config file's directory).
pub fn relative_to(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

fn resolve_password(
    base: &Path,
    section: &str,
    inline: Option<&str>,
    file: Option<&Path>,
    env: &str,
) -> Result<Option<String>, Problem> {
    if inline.is_some() && file.is_some() {
        return Err(Problem {
            key: format!("{section}.password_file"),
            message: "set either password or password_file, not both".into(),
        });
    }
    if let Some(p) = inline {
        return Ok(Some(p.to_owned()));
    }
    if let Some(f) = file {
        // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY; a bare file name
        // there lets the unit and the config agree without hard-coding the runtime path.
        let candidates: Vec<PathBuf> = if f.is_absolute() {
            vec![f.to_owned()]
        } else {
            std::env::var_os("CREDENTIALS_DIRECTORY")
                .map(|d| PathBuf::from(d).join(f))
                .into_iter()
                .chain([base.join(f)])
                .collect()
        };
        let mut last_err = None;
        for c in &candidates {
            match std::fs::read_to_string(c) {
                Ok(s) => return Ok(Some(s.trim_end_matches(['\r', '\n']).to_owned())),
                Err(e) => last_err = Some(format!("cannot read {}: {e}", c.display())),
            }
        }
        return Err(Problem {
            key: format!("{section}.password_file"),
            message: last_err.unwrap_or_default(),
        });
    }
    Ok(std::env::var(env).ok().filter(|s| !s.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[imap]
host = "127.0.0.1"
port = 1143
security = "plain"
username = "support"
password = "secret"

[store]
path = "store"

[support]
address = "support@example.com"
"#;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new("/etc/supportd/supportd.toml"))
    }

    #[test]
    fn good_config_gets_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.imap.mailbox, "INBOX");
        assert_eq!(c.imap.processed_mailbox, "Processed");
        assert_eq!(c.imap.quarantine_mailbox, "Quarantine");
        assert_eq!(c.imap.resolved_password, "secret");
        assert_eq!(c.store.path, Path::new("/etc/supportd/store"));
        assert_eq!(c.support.max_message_bytes, 25 * 1024 * 1024);
        assert_eq!(c.support.customer_id_regexes.len(), 2);
        assert_eq!(
            c.control_socket(),
            Path::new("/etc/supportd/store/control.sock")
        );
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let bad = r#"
[imap]
hots = "mail.example.com"
host = "mail.example.com"
security = "plain"
username = "support"
password = "x"

[store]
path = "/tmp/x"

[support]
address = "not-an-address"
customer_id_patterns = ["no group", "(unclosed"]

[bogus]
"#;
        let e = parse(bad).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"bogus"), "{keys:?}");
        assert!(keys.contains(&"imap.hots"), "{keys:?}");
        assert!(keys.contains(&"support.address"), "{keys:?}");
        assert!(
            keys.contains(&"support.customer_id_patterns[0]"),
            "{keys:?}"
        );
        assert!(
            keys.contains(&"support.customer_id_patterns[1]"),
            "{keys:?}"
        );
    }

    #[test]
    fn plain_only_to_loopback() {
        let e = parse(&GOOD.replace("127.0.0.1", "mail.example.com")).unwrap_err();
        assert_eq!(e.problems[0].key, "imap.security");
        assert!(parse(&GOOD.replace("127.0.0.1", "localhost")).is_ok());
        assert!(parse(&GOOD.replace("127.0.0.1", "::1")).is_ok());
    }

    #[test]
    fn missing_sections_and_password() {
        let e = parse("[store]\npath='x'\n").unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["imap", "support"]);
        let e = parse(&GOOD.replace("password = \"secret\"", "")).unwrap_err();
        assert!(e.problems.iter().any(|p| p.key == "imap.password"), "{e}");
    }

    #[test]
    fn http_section() {
        assert!(parse(GOOD).unwrap().http.is_none());
        let c = parse(&format!("{GOOD}\n[http]\n")).unwrap();
        let h = c.http.unwrap();
        assert_eq!(h.listen.to_string(), "127.0.0.1:9180");
        assert!(!h.allow_remote);
        let c = parse(&format!("{GOOD}\n[http]\nlisten = \"[::1]:9999\"\n")).unwrap();
        assert_eq!(c.http.unwrap().listen.port(), 9999);
        let e = parse(&format!("{GOOD}\n[http]\nlisten = \"0.0.0.0:9180\"\n")).unwrap_err();
        assert_eq!(e.problems[0].key, "http.listen", "{e}");
        let c = parse(&format!(
            "{GOOD}\n[http]\nlisten = \"0.0.0.0:9180\"\nallow_remote = true\n"
        ))
        .unwrap();
        assert!(c.http.unwrap().allow_remote);
        let e = parse(&format!("{GOOD}\n[http]\nlisten = \"localhost:80\"\n")).unwrap_err();
        assert_eq!(e.problems[0].key, "http.listen", "{e}");
        let e = parse(&format!("{GOOD}\n[http]\nport = 1\n")).unwrap_err();
        assert_eq!(e.problems[0].key, "http.port", "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse(&GOOD.replace("port = 1143", "port = \"x\"")).unwrap_err();
        assert_eq!(e.problems[0].key, "imap.port", "{e}");
        let e = parse(&format!("{GOOD}\n[[agents]]\nname='a'\naddresses=[1]\n")).unwrap_err();
        assert_eq!(e.problems[0].key, "agents[0].addresses[0]", "{e}");
    }

    #[test]
    fn the_readme_sla_example_is_valid() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let start = readme
            .find("A complete example")
            .expect("README has the SLA example");
        let block = &readme[start..];
        let block = &block[block.find("```toml\n").unwrap() + 8..];
        let block = &block[..block.find("```").unwrap()];
        let text = format!(
            "[imap]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nusername = \"s\"\npassword = \"x\"\n\
             [store]\npath = \"/tmp/x\"\n[support]\naddress = \"support@example.com\"\n\
             [[agents]]\nname = \"bob\"\naddresses = [\"bob@example.com\"]\n{block}"
        );
        let config = Config::parse(&text, Path::new("/etc/supportd/supportd.toml"))
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(config.sla.oncall().len(), 1);
        assert_eq!(config.sla.rules()[0].name, "payments down");
    }
}
