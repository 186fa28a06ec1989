//! The sections of `supportd.toml` as the operator writes them, with their defaults.
//!
//! Each type is deserialised on its own (so one broken section does not hide the problems of the
//! others) and refuses unknown keys. Validation across keys and of the facts they name (files,
//! the environment) happens in [`crate::config::parse`].

use std::net::SocketAddr;
use std::path::PathBuf;

use regex::Regex;
use serde::Deserialize;

use crate::domain::calendar::{Calendar, CalendarConfig};
use crate::domain::priority::Priority;
use crate::domain::sla::policy::{SlaConfig, SlaPolicy};

/// How a connection to a mail server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Security {
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
pub(crate) struct ImapConfig {
    /// Server host name or address.
    pub(crate) host: String,
    /// Port; defaults to 993 for `tls`, 143 otherwise.
    pub(crate) port: Option<u16>,
    #[serde(default = "default_security")]
    pub(crate) security: Security,
    pub(crate) username: String,
    /// Password given inline (prefer `password_file`).
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// File holding the password; relative names are looked up in systemd's
    /// `$CREDENTIALS_DIRECTORY` first, then next to the configuration file.
    #[serde(default)]
    pub(crate) password_file: Option<PathBuf>,
    /// Mailbox to ingest.
    #[serde(default = "default_inbox")]
    pub(crate) mailbox: String,
    /// Where ingested mail is moved once durably stored.
    #[serde(default = "default_processed")]
    pub(crate) processed_mailbox: String,
    /// Where rejected mail is moved.
    #[serde(default = "default_quarantine")]
    pub(crate) quarantine_mailbox: String,
    /// Poll interval when the server lacks IDLE (or `idle = false`).
    #[serde(default = "default_poll")]
    pub(crate) poll_interval_secs: u64,
    /// Use IMAP IDLE when the server offers it.
    #[serde(default = "default_true")]
    pub(crate) idle: bool,
    /// How long one IDLE lasts before it is re-issued; RFC 2177 servers may drop idlers after 30 min.
    #[serde(default = "default_idle_renew")]
    pub(crate) idle_renew_secs: u64,
    /// Timeout for every single network operation.
    #[serde(default = "default_timeout")]
    pub(crate) timeout_secs: u64,
    /// PEM file with a private CA to trust instead of the public web roots.
    #[serde(default)]
    pub(crate) ca_file: Option<PathBuf>,
    /// The password, resolved from `password`, `password_file` or the environment.
    #[serde(skip)]
    pub(crate) resolved_password: String,
}

impl ImapConfig {
    /// Port, defaulted by security mode.
    pub(crate) fn port(&self) -> u16 {
        self.port.unwrap_or(match self.security {
            Security::Tls => 993,
            _ => 143,
        })
    }
}

/// `[smtp]`: the outgoing relay (used by the outbound path).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmtpConfig {
    /// Server host name or address.
    pub(crate) host: String,
    /// Port; defaults to 465 for `tls`, 587 for `starttls`, 25 for `plain`.
    pub(crate) port: Option<u16>,
    #[serde(default = "default_security")]
    pub(crate) security: Security,
    /// Login name; no AUTH when absent.
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// Password given inline.
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// File holding the password.
    #[serde(default)]
    pub(crate) password_file: Option<PathBuf>,
    /// Timeout for every single network operation.
    #[serde(default = "default_timeout")]
    pub(crate) timeout_secs: u64,
    /// PEM file with a private CA.
    #[serde(default)]
    pub(crate) ca_file: Option<PathBuf>,
    /// The password, resolved.
    #[serde(skip)]
    pub(crate) resolved_password: Option<String>,
}

/// Language of mail we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Language {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Language {
    /// Directory name of the language's templates.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
        }
    }
}

/// `[outbound]`: acknowledgements, progress mail and the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboundConfig {
    /// Secret for signing our Message-IDs (at least 16 bytes); prefer `secret_file`.
    #[serde(default)]
    pub(crate) secret: Option<String>,
    /// File holding the secret (same lookup rules as `imap.password_file`).
    #[serde(default)]
    pub(crate) secret_file: Option<PathBuf>,
    /// Domain of our Message-IDs; defaults to the support address's domain.
    #[serde(default)]
    pub(crate) domain: Option<String>,
    /// Language when the customer's mail does not tell.
    #[serde(default = "default_language")]
    pub(crate) language: Language,
    /// Directory overriding the built-in templates (`<dir>/<lang>/<name>.txt`).
    #[serde(default)]
    pub(crate) templates_dir: Option<PathBuf>,
    /// Acknowledge new tickets.
    #[serde(default = "default_true")]
    pub(crate) acknowledge: bool,
    /// Tell the customer when a follow-up was added to their ticket.
    #[serde(default)]
    pub(crate) followup_notice: bool,
    /// Mail the customer on status changes.
    #[serde(default = "default_true")]
    pub(crate) progress: bool,
    /// On resolution, ask the customer to score the support (1–5 or 满意/一般/不满意).
    #[serde(default = "default_true")]
    pub(crate) survey: bool,
    /// Tell the customer when their ticket is escalated (by the SLA or at their request).
    #[serde(default = "default_true")]
    pub(crate) escalation_notice: bool,
    /// How long the outbox keeps retrying a mail before marking it dead.
    #[serde(default = "default_retry_hours")]
    pub(crate) retry_hours: u64,
    /// First retry delay; it doubles per failure up to one hour.
    #[serde(default = "default_retry_initial")]
    pub(crate) retry_initial_secs: u64,
    /// Per-recipient caps on automatic mail: `[window_seconds, max_mails]` pairs.
    #[serde(default = "default_rate_limits")]
    pub(crate) rate_limits: Vec<[u64; 2]>,
    /// At most this many automatic mails to customers (acknowledgements, notices, progress,
    /// surveys) leave per hour over all recipients; beyond it they wait.
    #[serde(default = "default_max_automatic")]
    pub(crate) max_automatic_per_hour: u64,
    /// The secret, resolved. Empty until the shell has read the store's generated one when
    /// [`SecretSource::Store`] (`Store::complete_secret`); nothing signs before that.
    #[serde(skip)]
    pub(crate) resolved_secret: Vec<u8>,
    /// Where [`OutboundConfig::resolved_secret`] comes from.
    #[serde(skip)]
    pub(crate) secret_source: SecretSource,
    /// The store our ids are signed for; bound by the shell once the store is open.
    #[serde(skip)]
    pub(crate) instance: crate::mail::msgid::Instance,
}

fn default_max_automatic() -> u64 {
    200
}

/// Where the Message-ID signing secret comes from: the operator's configuration wins; without
/// one the daemon generates a secret on first start and keeps it in the store, so a minimal
/// configuration needs no secret invented by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum SecretSource {
    /// `outbound.secret` in the configuration file.
    Inline,
    /// `outbound.secret_file`, as configured (a relative name is looked up in
    /// `$CREDENTIALS_DIRECTORY` first).
    File(PathBuf),
    /// `$SUPPORTD_SECRET`.
    Env,
    /// None configured: generated at first start and kept in the store.
    #[default]
    Store,
}

impl SecretSource {
    /// What `check-config` and `status` say about it (never the secret itself).
    pub(crate) fn describe(&self) -> String {
        match self {
            SecretSource::Inline => "outbound.secret (in the configuration file)".into(),
            SecretSource::File(p) => format!("outbound.secret_file {}", p.display()),
            SecretSource::Env => "$SUPPORTD_SECRET".into(),
            SecretSource::Store => {
                "generated on first start, kept in the store (none configured)".into()
            }
        }
    }

    /// The short name in `status --json`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            SecretSource::Inline => "inline",
            SecretSource::File(_) => "file",
            SecretSource::Env => "env",
            SecretSource::Store => "store",
        }
    }
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
    /// sled's page cache in MiB: most of the daemon's memory. The hot set of a helpdesk (open
    /// tickets, today's mail) is small; a bigger cache only keeps old mail in memory.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
}

/// MiB of sled page cache unless `[store] cache_mib` says otherwise.
pub const DEFAULT_CACHE_MIB: u64 = 16;
/// Largest accepted `[store] cache_mib` (a typo of a few digits would otherwise take the
/// machine's memory).
pub(crate) const MAX_CACHE_MIB: u64 = 16 * 1024;
fn default_cache_mib() -> u64 {
    DEFAULT_CACHE_MIB
}

impl StoreConfig {
    /// The cache in bytes.
    pub fn cache_bytes(&self) -> u64 {
        self.cache_mib.saturating_mul(1024 * 1024)
    }
}

/// `[support]`: who we are and how we read mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupportConfig {
    /// The support address customers write to.
    pub(crate) address: String,
    /// Further addresses that are ours (aliases); never treated as customers.
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    /// Display name on outgoing mail.
    #[serde(default = "default_name")]
    pub(crate) name: String,
    /// Subject tag prefix: `SUP` gives `[SUP-123]`.
    #[serde(default = "default_tag_prefix")]
    pub(crate) tag_prefix: String,
    /// Regexes whose first capture group is a customer ID, tried over subject then body.
    #[serde(default = "default_customer_patterns")]
    pub(crate) customer_id_patterns: Vec<String>,
    /// TOML file mapping addresses and domains to customer IDs.
    #[serde(default)]
    pub(crate) customer_directory: Option<PathBuf>,
    /// Mail larger than this is quarantined without being downloaded.
    #[serde(default = "default_max_size")]
    pub(crate) max_message_bytes: u64,
    /// A header longer than this is quarantined; only this much of it is ever downloaded (a
    /// partial FETCH) and kept.
    #[serde(default = "default_max_header")]
    pub(crate) max_header_bytes: u64,
    /// Most bytes one FETCH may bring in (headers or bodies of a batch), bounding memory.
    #[serde(default = "default_max_fetch")]
    pub(crate) max_fetch_bytes: u64,
    /// CPU time parsing one mail may take (milliseconds); a mail that needs more is quarantined
    /// unparsed and the mailbox moves on.
    #[serde(default = "default_max_parse_cpu")]
    pub(crate) max_parse_cpu_ms: u64,
    /// How long an open ticket may be joined by subject + customer.
    #[serde(default = "default_window")]
    pub(crate) thread_window_days: u64,
    /// Priority of a new ticket until classification says otherwise.
    #[serde(default = "default_priority")]
    pub(crate) default_priority: Priority,
    /// Open tickets for machine-generated mail (monitoring alerts, auto-replies) that matches no
    /// ticket. Off by default: such mail is quarantined, so an out-of-office or a bounce never
    /// becomes a ticket.
    #[serde(default)]
    pub(crate) machine_mail_tickets: bool,
    /// Address notified about tickets nobody is assigned to (e.g. an agents' list).
    #[serde(default)]
    pub(crate) agents_list: Option<String>,
    /// A customer reply to a resolved ticket reopens it within this many days; later it opens a
    /// new ticket linked to the old one.
    #[serde(default = "default_reopen_days")]
    pub(crate) reopen_window_days: u64,
    /// What a reply to a closed ticket does.
    #[serde(default = "default_closed_policy")]
    pub(crate) closed_policy: ClosedPolicy,
    /// `authserv-id` of our own MX: its `Authentication-Results` header (only at the top of the
    /// mail, see [`crate::desk::authenticated`]) with a pass aligned with the From domain
    /// authenticates the sender: proof of an agent, of a customer widening a ticket, of a VIP.
    /// Off when unset (headers from anybody else are forgeable).
    #[serde(default)]
    pub(crate) trusted_authserv_id: Option<String>,
    /// Attachments up to this total size are forwarded to agents; larger ones are listed.
    #[serde(default = "default_attach_limit")]
    pub(crate) notify_attachment_limit_bytes: u64,
    /// At most this many addresses (the requester included) receive a ticket's replies.
    #[serde(default = "default_max_participants")]
    pub(crate) max_participants: usize,
    /// Compiled `customer_id_patterns`.
    #[serde(skip)]
    pub(crate) customer_id_regexes: Vec<Regex>,
}

/// Role of an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
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
pub(crate) struct AgentConfig {
    /// Short name used in commands (`#assign alice`).
    pub(crate) name: String,
    /// The agent's addresses.
    pub(crate) addresses: Vec<String>,
    #[serde(default = "default_role")]
    pub(crate) role: Role,
    /// Languages the agent works in.
    #[serde(default)]
    pub(crate) languages: Vec<String>,
    /// Takes part in round-robin assignment of new tickets.
    #[serde(default = "default_true")]
    pub(crate) on_duty: bool,
}

/// What a customer's mail to a closed ticket does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ClosedPolicy {
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
fn default_max_participants() -> usize {
    10
}
fn default_reopen_days() -> u64 {
    7
}
fn default_attach_limit() -> u64 {
    5 * 1024 * 1024
}

/// `[control]`: the local socket the CLI uses while the daemon holds the store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ControlConfig {
    /// Unix socket path; defaults to `control.sock` in the store directory.
    #[serde(default)]
    pub(crate) socket: Option<PathBuf>,
    /// A client that reads none of its answer for this long is dropped (a stalled `export`).
    #[serde(default = "default_write_timeout")]
    pub(crate) write_timeout_secs: u64,
}

impl Default for ControlConfig {
    fn default() -> ControlConfig {
        ControlConfig {
            socket: None,
            write_timeout_secs: default_write_timeout(),
        }
    }
}

fn default_write_timeout() -> u64 {
    60
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable; without colours when not on a terminal (journald-friendly).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogConfig {
    #[serde(default)]
    pub(crate) format: LogFormat,
    /// `tracing` filter directive used when `RUST_LOG` is unset.
    #[serde(default)]
    pub(crate) level: Option<String>,
}

/// `[http]`: the `/healthz` and `/metrics` listener; off when the section is absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpConfig {
    /// `ip:port` to listen on.
    #[serde(default = "default_http_listen", deserialize_with = "socket_addr")]
    pub(crate) listen: SocketAddr,
    /// Allow a non-loopback `listen` address. The endpoints have no authentication and
    /// `/metrics` reveals ticket counts, so this is off unless asked for.
    #[serde(default)]
    pub(crate) allow_remote: bool,
    /// `/healthz` reports unhealthy when the oldest pending outbox mail is older than this.
    #[serde(default = "default_outbox_max_age")]
    pub(crate) outbox_max_age_secs: u64,
    /// `/healthz` reports unhealthy when the inbox was last synced longer ago than this; the
    /// default is twice `imap.idle_renew_secs` (or `imap.poll_interval_secs` without IDLE)
    /// plus a minute, since an idle mailbox is re-synced once per IDLE renewal.
    #[serde(default)]
    pub(crate) sync_max_age_secs: Option<u64>,
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
fn default_max_header() -> u64 {
    1024 * 1024
}
fn default_max_fetch() -> u64 {
    32 * 1024 * 1024
}
fn default_max_parse_cpu() -> u64 {
    2000
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

/// The name of the one queue of a configuration without `[[queues]]`.
pub(crate) const DEFAULT_QUEUE: &str = "default";

/// `[[queues]]` as the operator writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueConfig {
    /// Short name (`#queue billing`, `tickets --queue billing`).
    pub(crate) name: String,
    /// The addresses that route to the queue; the first is its From address.
    pub(crate) addresses: Vec<String>,
    /// First-line agents (names from `[[agents]]`): round-robin and notifications.
    #[serde(default)]
    pub(crate) agents: Vec<String>,
    /// Second line: the first escalation step.
    #[serde(default)]
    pub(crate) tier2: Vec<String>,
    /// The last escalation step.
    #[serde(default)]
    pub(crate) supervisors: Vec<String>,
    /// Display name on the queue's mail; `support.name` when absent.
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    /// Address told of the queue's unassigned tickets; `support.agents_list` when absent.
    #[serde(default)]
    pub(crate) agents_list: Option<String>,
    /// Templates overriding the built-in ones for this queue; `outbound.templates_dir` when
    /// absent.
    #[serde(default)]
    pub(crate) templates_dir: Option<PathBuf>,
    /// Language of the queue's mail when the customer's does not tell.
    #[serde(default)]
    pub(crate) language: Option<Language>,
    /// Acknowledge new tickets; `outbound.acknowledge` when absent.
    #[serde(default)]
    pub(crate) acknowledge: Option<bool>,
    /// Priority of a new ticket until classification says otherwise.
    #[serde(default)]
    pub(crate) default_priority: Option<Priority>,
    /// The queue's `[sla]` (targets, rules, on-call rota), replacing the global one whole.
    #[serde(default)]
    pub(crate) sla: Option<SlaConfig>,
    /// The queue's `[calendar]`, replacing the global one whole.
    #[serde(default)]
    pub(crate) calendar: Option<CalendarConfig>,
    /// A folder of `[imap]`'s account holding this queue's mail (the server files it there).
    #[serde(default)]
    pub(crate) mailbox: Option<String>,
    /// An IMAP account of the queue's own, in `[imap]`'s shape.
    #[serde(default)]
    pub(crate) imap: Option<ImapConfig>,
}

/// A validated queue.
#[derive(Debug, Clone)]
pub(crate) struct Queue {
    pub(crate) name: String,
    /// Lower-cased; the first is the From address.
    pub(crate) addresses: Vec<String>,
    /// Agent names and the role each has in this queue.
    pub(crate) members: Vec<(String, Role)>,
    /// `None` for the queue a configuration without `[[queues]]` implies: its view is the
    /// configuration itself.
    pub(crate) overrides: Option<Overrides>,
    /// The account and mailbox the queue's mail is fetched from when not `[imap]`'s mailbox
    /// (complete: a `mailbox` of `[imap]`'s account is `[imap]` with that mailbox).
    pub(crate) account: Option<ImapConfig>,
}

/// What a configured queue sets for itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    pub(crate) display_name: Option<String>,
    pub(crate) agents_list: Option<String>,
    pub(crate) templates_dir: Option<PathBuf>,
    pub(crate) language: Option<Language>,
    pub(crate) acknowledge: Option<bool>,
    pub(crate) default_priority: Option<Priority>,
    pub(crate) sla: Option<SlaPolicy>,
    pub(crate) calendar: Option<Calendar>,
}
