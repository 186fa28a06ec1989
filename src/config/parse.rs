//! [`Config::parse`]: configuration text (plus the facts the shell hands in) to a validated
//! [`Config`] or the list of every problem, each naming its key.
//!
//! The checks run in the file's order of concerns: the TOML itself, unknown sections, each
//! section's shape, then each section's meaning ([`Validation`] has one step per section), then
//! what spans sections (the SLA rota naming agents).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::de::DeserializeOwned;

use crate::config::facts::Facts;
use crate::config::sections::{
    AgentConfig, ControlConfig, DEFAULT_QUEUE, HttpConfig, ImapConfig, LogConfig, MAX_CACHE_MIB,
    OutboundConfig, Overrides, Queue, QueueConfig, Role, SecretSource, Security, SmtpConfig,
    StoreConfig, SupportConfig,
};
use crate::config::strength;
use crate::config::{Config, ConfigError, same_agent_name};
use crate::domain::calendar::CalendarConfig;
use crate::domain::customer::Directory;
use crate::domain::problem::Problem;
use crate::domain::sla::policy::SlaConfig;

/// Environment variable that can carry the IMAP password instead of the file.
pub(crate) const IMAP_PASSWORD_ENV: &str = "SUPPORTD_IMAP_PASSWORD";
/// Environment variable that can carry the SMTP password instead of the file.
pub(crate) const SMTP_PASSWORD_ENV: &str = "SUPPORTD_SMTP_PASSWORD";
/// Environment variable that can carry the Message-ID signing secret instead of the file.
const SECRET_ENV: &str = "SUPPORTD_SECRET";
/// systemd's `LoadCredential=` directory, searched first for relative secret files.
const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Deeper than any mail client nests; see `parse_limits`.
const MAX_MIME_DEPTH: usize = 500;

const SECTIONS: &[&str] = &[
    "imap", "smtp", "outbound", "store", "support", "agents", "control", "log", "http", "calendar",
    "sla", "parse", "queues",
];

impl Config {
    /// Parses and validates configuration text; `path` (the file it came from) anchors relative
    /// file names, and `facts` answers what the text names outside itself.
    pub(crate) fn parse(text: &str, path: &Path, facts: &dyn Facts) -> Result<Config, ConfigError> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
            path: path.to_owned(),
            problems: vec![Problem {
                key: "(syntax)".into(),
                message: e.to_string().trim().replace('\n', " "),
            }],
        })?;
        let mut v = Validation {
            problems: Vec::new(),
            warnings: Vec::new(),
            base: path.parent().unwrap_or(Path::new(".")).to_owned(),
            facts,
        };
        v.private_file("(file)", path);
        let mut s = v.sections(&table);
        let imap = s.imap.map(|i| v.imap(i));
        let smtp = s.smtp.map(|c| v.smtp(c));
        let outbound = v.outbound(&table, s.outbound, smtp.is_some());
        let store = s.store.map(|st| v.store(st));
        let support = s.support.map(|su| v.support(su));
        v.agents(&s.agents);
        let is_agent = |name: &str| s.agents.iter().any(|a| same_agent_name(&a.name, name));
        v.problems.extend(s.sla.check_agents(is_agent, "sla"));
        let parse = s.parse.unwrap_or_default();
        v.parse_limits(&parse);
        let own = s
            .queues
            .iter_mut()
            .map(|q| (q.mailbox.take(), q.imap.take()))
            .collect();
        let accounts = v.queue_accounts(own, imap.as_ref());
        let is_dir = |p: &Path| facts.is_dir(p);
        let mut queues = validate_queues(s.queues, &s.agents, &is_dir, &v.base, &mut v.problems);
        for (q, account) in queues.iter_mut().zip(accounts) {
            q.account = account;
        }
        if let Some(su) = &support
            && queues.is_empty()
        {
            queues.push(implied_queue(&su.address, &su.aliases, &s.agents));
        }
        let (problems, warnings) = (v.problems, v.warnings);
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
        let base = path.parent().unwrap_or(Path::new("."));
        let mut control = s.control.unwrap_or_default();
        if let Some(sock) = control.socket.as_mut() {
            *sock = relative_to(base, sock);
        }
        let mut config = Config {
            path: path.to_owned(),
            imap,
            smtp,
            outbound,
            store,
            support,
            all_agents: s.agents.clone(),
            agents: s.agents,
            queues,
            control,
            log: s.log.unwrap_or_default(),
            http: s.http,
            calendar: s.calendar,
            sla: s.sla,
            parse,
            warnings,
        };
        config.complete_queues();
        Ok(config)
    }
}

/// The sections as deserialised, before their meaning is checked.
struct Sections {
    imap: Option<ImapConfig>,
    smtp: Option<SmtpConfig>,
    outbound: Option<OutboundConfig>,
    store: Option<StoreConfig>,
    support: Option<SupportConfig>,
    control: Option<ControlConfig>,
    log: Option<LogConfig>,
    http: Option<HttpConfig>,
    agents: Vec<AgentConfig>,
    queues: Vec<QueueConfig>,
    calendar: crate::domain::calendar::Calendar,
    sla: crate::domain::sla::policy::SlaPolicy,
    parse: Option<crate::mail::parse::Limits>,
}

/// The problems found so far, and what the checks need to look outside the text.
struct Validation<'f> {
    problems: Vec<Problem>,
    /// What is accepted but unsafe (a secret file everybody may read).
    warnings: Vec<Problem>,
    /// The configuration file's directory: relative file names are resolved against it.
    base: PathBuf,
    facts: &'f dyn Facts,
}

impl Validation<'_> {
    fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Warns when the file at `path` (the configuration, a password or secret file) may be read
    /// by every user on the machine: owner and group are the service's business, others not.
    fn private_file(&mut self, key: &str, path: &Path) {
        if let Some(mode) = self.facts.mode(path)
            && mode & 0o004 != 0
        {
            self.warnings.push(Problem {
                key: key.into(),
                message: format!(
                    "{} is readable by every user (mode {mode:04o}) and holds secrets; \
                     `chmod o-rwx` it (0640 root:supportd, as the install steps do)",
                    path.display()
                ),
            });
        }
    }

    /// Unknown sections, then every section deserialised on its own (the calendar and SLA
    /// policy built, with their defaults when absent), then `[http]`'s own checks.
    fn sections(&mut self, table: &toml::Table) -> Sections {
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                self.problem(
                    key.clone(),
                    format!("unknown section; expected one of {}", SECTIONS.join(", ")),
                );
            }
        }
        let p = &mut self.problems;
        let imap = section(table, "imap", true, p);
        let smtp = section(table, "smtp", false, p);
        let outbound = section(table, "outbound", false, p);
        let store = section(table, "store", true, p);
        let support = section(table, "support", true, p);
        let control = section(table, "control", false, p);
        let log = section(table, "log", false, p);
        let http: Option<HttpConfig> = section(table, "http", false, p);
        let parse = section(table, "parse", false, p);
        let calendar = match section::<CalendarConfig>(table, "calendar", false, p) {
            Some(c) => c.build("calendar").unwrap_or_else(|e| {
                p.extend(e);
                Default::default()
            }),
            None if table.contains_key("calendar") => Default::default(),
            None => CalendarConfig::default()
                .build("calendar")
                .unwrap_or_default(),
        };
        let sla = match section::<SlaConfig>(table, "sla", false, p) {
            Some(c) => c.build("sla").unwrap_or_else(|e| {
                p.extend(e);
                Default::default()
            }),
            None => Default::default(),
        };
        if let Some(h) = &http {
            self.http(h);
        }
        let agents = match table.get("agents") {
            None => Vec::new(),
            Some(v) => typed(v, "agents").unwrap_or_else(|p| {
                self.problems.push(p);
                Vec::new()
            }),
        };
        let queues = match table.get("queues") {
            None => Vec::new(),
            Some(v) => typed(v, "queues").unwrap_or_else(|p| {
                self.problems.push(p);
                Vec::new()
            }),
        };
        Sections {
            queues,
            imap,
            smtp,
            outbound,
            store,
            support,
            control,
            log,
            http,
            agents,
            calendar,
            sla,
            parse,
        }
    }

    /// Budgets so low that ordinary mail would be quarantined are configuration mistakes.
    fn parse_limits(&mut self, limits: &crate::mail::parse::Limits) {
        let minimums: [(&str, u64, u64); 6] = [
            (
                "parse.max_header_fields",
                limits.max_header_fields as u64,
                100,
            ),
            ("parse.max_mime_parts", limits.max_mime_parts as u64, 10),
            ("parse.max_mime_depth", limits.max_mime_depth as u64, 5),
            (
                "parse.max_reference_ids",
                limits.max_reference_ids as u64,
                2,
            ),
            ("parse.max_text_bytes", limits.max_text_bytes as u64, 1024),
            ("parse.max_html_work", limits.max_html_work, 100_000),
        ];
        for (key, value, minimum) in minimums {
            if value < minimum {
                self.problem(key, format!("must be at least {minimum}"));
            }
        }
        // Attached messages inside transfer-encoded parts are scanned recursively: the depth
        // bound is also the stack bound.
        if limits.max_mime_depth > MAX_MIME_DEPTH {
            self.problem(
                "parse.max_mime_depth",
                format!("must be at most {MAX_MIME_DEPTH}"),
            );
        }
    }

    fn http(&mut self, h: &HttpConfig) {
        if !h.allow_remote && !h.listen.ip().is_loopback() {
            self.problem(
                "http.listen",
                format!(
                    "`{}` is not a loopback address; /healthz and /metrics have no authentication, so set http.allow_remote = true to expose them",
                    h.listen
                ),
            );
        }
        if h.outbox_max_age_secs == 0 {
            self.problem("http.outbox_max_age_secs", "must be at least 1");
        }
        if h.sync_max_age_secs == Some(0) {
            self.problem("http.sync_max_age_secs", "must be at least 1");
        }
    }

    fn imap(&mut self, imap: ImapConfig) -> ImapConfig {
        self.imap_at("imap", imap, Some(IMAP_PASSWORD_ENV))
    }

    /// Validates an IMAP account written at `key` (`imap`, `queues[1].imap`); only the global
    /// one may take its password from the environment (`env`).
    fn imap_at(&mut self, key: &str, mut imap: ImapConfig, env: Option<&str>) -> ImapConfig {
        check_endpoint(
            key,
            &imap.host,
            imap.security,
            imap.timeout_secs,
            &mut self.problems,
        );
        for (k, name) in [
            ("mailbox", &imap.mailbox),
            ("processed_mailbox", &imap.processed_mailbox),
            ("quarantine_mailbox", &imap.quarantine_mailbox),
        ] {
            check_mailbox(&format!("{key}.{k}"), name, &mut self.problems);
        }
        let names = [
            &imap.mailbox,
            &imap.processed_mailbox,
            &imap.quarantine_mailbox,
        ];
        if names.iter().collect::<BTreeSet<_>>().len() != names.len() {
            self.problem(
                format!("{key}.processed_mailbox"),
                "mailbox, processed_mailbox and quarantine_mailbox must all differ",
            );
        }
        if imap.username.trim().is_empty() {
            self.problem(format!("{key}.username"), "must not be empty");
        }
        if imap.poll_interval_secs == 0 {
            self.problem(format!("{key}.poll_interval_secs"), "must be at least 1");
        }
        if !(10..=29 * 60).contains(&imap.idle_renew_secs) {
            self.problem(
                format!("{key}.idle_renew_secs"),
                "must be between 10 and 1740 (servers drop IDLE after 30 minutes)",
            );
        }
        self.ca_file(&format!("{key}.ca_file"), &mut imap.ca_file);
        match self.secret(
            key,
            imap.password.as_deref(),
            imap.password_file.as_deref(),
            env.unwrap_or(""),
        ) {
            Ok(Some(p)) if p.is_empty() => {
                self.problem(format!("{key}.password"), "must not be empty")
            }
            Ok(Some(p)) => imap.resolved_password = p,
            Ok(None) => {
                let or_env = env.map(|e| format!(" or ${e}")).unwrap_or_default();
                self.problem(
                    format!("{key}.password"),
                    format!(
                        "no password: set {key}.password{}{key}.password_file{or_env}",
                        if env.is_some() { ", " } else { " or " }
                    ),
                )
            }
            Err(p) => self.problems.push(p),
        }
        imap
    }

    /// The account of each queue with a mailbox or an account of its own (`None` for the
    /// others, which ingest with `[imap]`): `queues[i].mailbox` is a folder of `[imap]`'s
    /// account, `[queues.imap]` an account of its own, validated like `[imap]`.
    fn queue_accounts(
        &mut self,
        own: Vec<(Option<String>, Option<ImapConfig>)>,
        global: Option<&ImapConfig>,
    ) -> Vec<Option<ImapConfig>> {
        let mut out = Vec::new();
        for (i, (mailbox, account)) in own.into_iter().enumerate() {
            let key = format!("queues[{i}]");
            out.push(match (mailbox, account) {
                (None, None) => None,
                (Some(_), Some(_)) => {
                    self.problem(
                        format!("{key}.mailbox"),
                        format!(
                            "this queue has an IMAP account of its own: set {key}.imap.mailbox instead"
                        ),
                    );
                    None
                }
                (None, Some(a)) => Some(self.imap_at(&format!("{key}.imap"), a, None)),
                (Some(m), None) => global.map(|g| {
                    let k = format!("{key}.mailbox");
                    check_mailbox(&k, &m, &mut self.problems);
                    if m == g.processed_mailbox || m == g.quarantine_mailbox {
                        self.problem(
                            &k,
                            format!(
                                "`{m}` is imap.processed_mailbox or imap.quarantine_mailbox, where handled mail goes"
                            ),
                        );
                    }
                    ImapConfig {
                        mailbox: m,
                        ..g.clone()
                    }
                }),
            });
        }
        // One account and mailbox is fetched by one task (the queues naming it share it): two
        // spellings of it that disagree would leave one of them silently unused.
        let same = |a: &ImapConfig, b: &ImapConfig| {
            a.host.eq_ignore_ascii_case(&b.host)
                && a.port() == b.port()
                && a.username == b.username
                && a.mailbox == b.mailbox
        };
        let differs = |a: &ImapConfig, b: &ImapConfig| {
            a.resolved_password != b.resolved_password
                || a.security != b.security
                || a.processed_mailbox != b.processed_mailbox
                || a.quarantine_mailbox != b.quarantine_mailbox
        };
        for (i, a) in out.iter().enumerate() {
            let Some(a) = a else { continue };
            let earlier = global.map(|g| ("imap".to_owned(), g)).into_iter().chain(
                out[..i]
                    .iter()
                    .enumerate()
                    .filter_map(|(j, b)| b.as_ref().map(|b| (format!("queues[{j}].imap"), b))),
            );
            for (key, b) in earlier {
                if same(a, b) && differs(a, b) {
                    self.problem(
                        format!("queues[{i}].imap"),
                        format!(
                            "the same account and mailbox as {key} ({}@{}/{}) with a different password, security or processed/quarantine mailbox; queues sharing a mailbox share its settings",
                            a.username, a.host, a.mailbox
                        ),
                    );
                    break;
                }
            }
        }
        out
    }

    fn smtp(&mut self, mut smtp: SmtpConfig) -> SmtpConfig {
        check_endpoint(
            "smtp",
            &smtp.host,
            smtp.security,
            smtp.timeout_secs,
            &mut self.problems,
        );
        self.ca_file("smtp.ca_file", &mut smtp.ca_file);
        match self.secret(
            "smtp",
            smtp.password.as_deref(),
            smtp.password_file.as_deref(),
            SMTP_PASSWORD_ENV,
        ) {
            Ok(Some(p)) if p.is_empty() => self.problem("smtp.password", "must not be empty"),
            Ok(p) => smtp.resolved_password = p,
            Err(p) => self.problems.push(p),
        }
        if smtp.username.is_some() && smtp.resolved_password.is_none() {
            self.problem(
                "smtp.password",
                format!(
                    "smtp.username is set but no password: set smtp.password, smtp.password_file or ${SMTP_PASSWORD_ENV}"
                ),
            );
        }
        smtp
    }

    /// `[outbound]`: present (with defaults) whenever `[smtp]` is, and needing it.
    fn outbound(
        &mut self,
        table: &toml::Table,
        outbound: Option<OutboundConfig>,
        has_smtp: bool,
    ) -> Option<OutboundConfig> {
        let mut outbound = outbound;
        if outbound.is_some() && !has_smtp && table.get("smtp").is_none() {
            self.problem("outbound", "needs an [smtp] section to send through");
        }
        if has_smtp && outbound.is_none() && table.get("outbound").is_none() {
            outbound = typed(&toml::Value::Table(Default::default()), "outbound").ok();
        }
        let mut out = outbound?;
        out.secret_source = match (&out.secret, &out.secret_file) {
            (Some(_), _) => SecretSource::Inline,
            (None, Some(f)) => SecretSource::File(f.clone()),
            (None, None) => SecretSource::Env,
        };
        match self.secret(
            "outbound",
            out.secret.as_deref(),
            out.secret_file.as_deref(),
            SECRET_ENV,
        ) {
            Ok(Some(s)) => match strength::check(&s) {
                Ok(()) => out.resolved_secret = s.into_bytes(),
                Err(why) => {
                    let key = match (&out.secret, &out.secret_file) {
                        (Some(_), _) => "outbound.secret".to_owned(),
                        (None, Some(_)) => "outbound.secret_file".to_owned(),
                        (None, None) => format!("outbound.secret (${SECRET_ENV})"),
                    };
                    self.problem(key, why)
                }
            },
            // None configured: the shell reads (or on first start generates) the store's.
            Ok(None) => out.secret_source = SecretSource::Store,
            Err(mut p) => {
                p.key = p.key.replace("password", "secret");
                p.message = p.message.replace("password", "secret");
                self.problems.push(p)
            }
        }
        if let Some(dir) = out.templates_dir.as_mut() {
            *dir = relative_to(&self.base, dir);
            if !self.facts.is_dir(dir) {
                let message = format!("{} is not a directory", dir.display());
                self.problem("outbound.templates_dir", message);
            }
        }
        for (i, [window, max]) in out.rate_limits.iter().enumerate() {
            if *window == 0 || *max == 0 {
                self.problem(
                    format!("outbound.rate_limits[{i}]"),
                    "window and maximum must both be at least 1",
                );
            }
        }
        if out.retry_hours == 0 {
            self.problem("outbound.retry_hours", "must be at least 1");
        }
        if out.max_automatic_per_hour == 0 {
            self.problem("outbound.max_automatic_per_hour", "must be at least 1");
        }
        Some(out)
    }

    fn store(&mut self, mut store: StoreConfig) -> StoreConfig {
        if store.path.as_os_str().is_empty() {
            self.problem("store.path", "must not be empty");
        }
        if !(1..=MAX_CACHE_MIB).contains(&store.cache_mib) {
            let message = format!(
                "must be between 1 and {MAX_CACHE_MIB} (MiB), not {}",
                store.cache_mib
            );
            self.problem("store.cache_mib", message);
        }
        store.path = relative_to(&self.base, &store.path);
        store
    }

    fn support(&mut self, mut support: SupportConfig) -> SupportConfig {
        if !looks_like_address(&support.address) {
            let message = format!("`{}` is not a mail address", support.address);
            self.problem("support.address", message);
        }
        for (i, a) in support.aliases.iter().enumerate() {
            if !looks_like_address(a) {
                self.problems.push(Problem {
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
            self.problem(
                "support.tag_prefix",
                "must be non-empty ASCII letters, digits or `_`",
            );
        }
        for (i, p) in support.customer_id_patterns.iter().enumerate() {
            let key = format!("support.customer_id_patterns[{i}]");
            match Regex::new(p) {
                Ok(r) if r.captures_len() >= 2 => support.customer_id_regexes.push(r),
                Ok(_) => self.problem(key, "needs a capture group `( … )` around the customer ID"),
                Err(e) => self.problem(key, format!("invalid regex: {e}")),
            }
        }
        if let Some(dir) = support.customer_directory.as_mut() {
            *dir = relative_to(&self.base, dir);
            let checked = self
                .facts
                .read(dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))
                .and_then(|text| {
                    Directory::parse(&text, &dir.display().to_string()).map_err(|e| e.to_string())
                });
            if let Err(message) = checked {
                self.problem("support.customer_directory", message);
            }
        }
        if support.max_message_bytes < 1024 {
            self.problem("support.max_message_bytes", "must be at least 1024");
        }
        if support.max_participants == 0 {
            self.problem(
                "support.max_participants",
                "must be at least 1 (the requester)",
            );
        }
        if support.max_header_bytes < 1024 {
            self.problem("support.max_header_bytes", "must be at least 1024");
        }
        if support.max_fetch_bytes < support.max_header_bytes {
            self.problem(
                "support.max_fetch_bytes",
                "must be at least support.max_header_bytes (one header per FETCH)",
            );
        }
        if support.max_parse_cpu_ms == 0 {
            self.problem("support.max_parse_cpu_ms", "must be at least 1");
        }
        support
    }

    fn agents(&mut self, agents: &[AgentConfig]) {
        let mut seen = BTreeSet::new();
        for (i, a) in agents.iter().enumerate() {
            if !seen.insert(a.name.to_lowercase()) {
                self.problem(
                    format!("agents[{i}].name"),
                    format!("duplicate agent name `{}`", a.name),
                );
            }
            if a.addresses.is_empty() {
                self.problem(
                    format!("agents[{i}].addresses"),
                    "needs at least one address",
                );
            }
            for (j, addr) in a.addresses.iter().enumerate() {
                if !looks_like_address(addr) {
                    self.problem(
                        format!("agents[{i}].addresses[{j}]"),
                        format!("`{addr}` is not a mail address"),
                    );
                }
            }
        }
    }

    /// Resolves a CA file against the configuration's directory and checks it can be read.
    fn ca_file(&mut self, key: &str, ca: &mut Option<PathBuf>) {
        if let Some(ca) = ca {
            *ca = relative_to(&self.base, ca);
            if let Err(e) = self.facts.exists(ca) {
                let message = format!("cannot read {}: {e}", ca.display());
                self.problem(key, message);
            }
        }
    }

    /// A password (or secret): given inline, read from a file, or taken from `env`.
    fn secret(
        &mut self,
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
                self.facts
                    .var(CREDENTIALS_DIRECTORY)
                    .map(|d| PathBuf::from(d).join(f))
                    .into_iter()
                    .chain([self.base.join(f)])
                    .collect()
            };
            let mut last_err = None;
            for c in &candidates {
                match self.facts.read(c) {
                    Ok(s) => {
                        let key = match section {
                            "outbound" => "outbound.secret_file".to_owned(),
                            _ => format!("{section}.password_file"),
                        };
                        self.private_file(&key, c);
                        return Ok(Some(s.trim_end_matches(['\r', '\n']).to_owned()));
                    }
                    Err(e) => last_err = Some(format!("cannot read {}: {e}", c.display())),
                }
            }
            return Err(Problem {
                key: format!("{section}.password_file"),
                message: last_err.unwrap_or_default(),
            });
        }
        Ok(self
            .facts
            .var(env)
            .and_then(|v| v.into_string().ok())
            .filter(|s| !s.is_empty()))
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

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn looks_like_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a.contains(|c: char| c.is_whitespace() || c == '<' || c == '>')
}

/// The queue a configuration without `[[queues]]` is.
fn implied_queue(address: &str, aliases: &[String], agents: &[AgentConfig]) -> Queue {
    Queue {
        name: DEFAULT_QUEUE.into(),
        addresses: std::iter::once(address)
            .chain(aliases.iter().map(String::as_str))
            .map(str::to_lowercase)
            .collect(),
        members: agents.iter().map(|a| (a.name.clone(), a.role)).collect(),
        overrides: None,
        account: None,
    }
}

/// Validates `[[queues]]`; every problem names its key (`queues[1].addresses[0]`).
/// `own` are `[support]`'s address and aliases, `base` anchors relative template directories.
fn validate_queues(
    queues: Vec<QueueConfig>,
    agents: &[AgentConfig],
    is_dir: &dyn Fn(&std::path::Path) -> bool,
    base: &std::path::Path,
    problems: &mut Vec<Problem>,
) -> Vec<Queue> {
    let mut p = |key: String, message: String| problems.push(Problem { key, message });
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, q) in queues.into_iter().enumerate() {
        let key = format!("queues[{i}]");
        let name = q.name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            p(
                format!("{key}.name"),
                format!(
                    "`{}` is not a queue name (ASCII letters, digits, `-`, `_`)",
                    q.name
                ),
            );
        } else if let Some(j) = names.insert(name.to_lowercase(), i) {
            p(
                format!("{key}.name"),
                format!("duplicate queue name `{name}` (also queues[{j}])"),
            );
        }
        if q.addresses.is_empty() {
            p(
                format!("{key}.addresses"),
                "needs at least one address".into(),
            );
        }
        let mut addresses = Vec::new();
        for (j, a) in q.addresses.iter().enumerate() {
            let k = format!("{key}.addresses[{j}]");
            let lower = a.trim().to_lowercase();
            if !looks_like_address(&lower) {
                p(k, format!("`{a}` is not a mail address"));
            } else if let Some(other) = owners.get(&lower) {
                p(k, format!("`{a}` is already an address of queue `{other}`"));
            } else if let Some(ag) = agents
                .iter()
                .find(|ag| ag.addresses.iter().any(|x| x.eq_ignore_ascii_case(&lower)))
            {
                p(k, format!("`{a}` is an address of agent `{}`", ag.name));
            } else {
                owners.insert(lower.clone(), name.to_owned());
                addresses.push(lower);
            }
        }
        let mut members: Vec<(String, Role)> = Vec::new();
        for (field, role, list) in [
            ("agents", Role::Agent, &q.agents),
            ("tier2", Role::Tier2, &q.tier2),
            ("supervisors", Role::Supervisor, &q.supervisors),
        ] {
            for (j, n) in list.iter().enumerate() {
                let k = format!("{key}.{field}[{j}]");
                match agents.iter().find(|a| same_agent_name(&a.name, n)) {
                    None => p(k, format!("no agent named `{n}` in [[agents]]")),
                    Some(a) if members.iter().any(|(m, _)| *m == a.name) => {
                        p(k, format!("`{n}` is listed twice in this queue"))
                    }
                    Some(a) => members.push((a.name.clone(), role)),
                }
            }
        }
        let sla = q
            .sla
            .as_ref()
            .and_then(|s| match s.build(&format!("{key}.sla")) {
                Ok(policy) => {
                    let is_member = |n: &str| members.iter().any(|(m, _)| same_agent_name(m, n));
                    for pr in policy.check_agents(is_member, &format!("{key}.sla")) {
                        p(pr.key, format!("{} (not in this queue)", pr.message));
                    }
                    Some(policy)
                }
                Err(e) => {
                    for pr in e {
                        p(pr.key, pr.message);
                    }
                    None
                }
            });
        let calendar =
            q.calendar
                .as_ref()
                .and_then(|c| match c.build(&format!("{key}.calendar")) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        for pr in e {
                            p(pr.key, pr.message);
                        }
                        None
                    }
                });
        let templates_dir = q.templates_dir.map(|d| {
            let d = if d.is_absolute() { d } else { base.join(d) };
            if !is_dir(&d) {
                p(
                    format!("{key}.templates_dir"),
                    format!("{} is not a directory", d.display()),
                );
            }
            d
        });
        if let Some(l) = &q.agents_list
            && !looks_like_address(l)
        {
            p(
                format!("{key}.agents_list"),
                format!("`{l}` is not a mail address"),
            );
        }
        out.push(Queue {
            name: name.to_owned(),
            addresses,
            members,
            account: None,
            overrides: Some(Overrides {
                display_name: q.display_name,
                agents_list: q.agents_list,
                templates_dir,
                language: q.language,
                acknowledge: q.acknowledge,
                default_priority: q.default_priority,
                sla,
                calendar,
            }),
        });
    }
    out
}

/// Resolves a path given in the config against `base` (the config file's directory).
fn relative_to(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::facts::Empty;

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
        Config::parse(s, Path::new("/etc/supportd/supportd.toml"), &Empty)
    }

    #[test]
    fn good_config_gets_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.imap.mailbox, "INBOX");
        assert_eq!(c.imap.processed_mailbox, "Processed");
        assert_eq!(c.imap.quarantine_mailbox, "Quarantine");
        assert_eq!(c.imap.resolved_password, "secret");
        assert_eq!(c.store.path, Path::new("/etc/supportd/store"));
        assert_eq!(c.store.cache_mib, 16);
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

    /// A cache of nothing, a negative one, one in the terabytes or one given as text: each is
    /// refused with the key.
    #[test]
    fn store_cache_is_bounded() {
        let with = |v: &str| GOOD.replacen("[store]\n", &format!("[store]\ncache_mib = {v}\n"), 1);
        assert_eq!(parse(&with("64")).unwrap().store.cache_mib, 64);
        for bad in ["0", "-1", "99999999", "\"16\""] {
            let e = parse(&with(bad)).unwrap_err();
            assert!(
                e.problems
                    .iter()
                    .any(|p| p.key.starts_with("store.cache_mib")),
                "{bad}: {:?}",
                e.problems
            );
        }
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
        let e = parse(&GOOD.replace("password = \"secret\"", "password = \"\"")).unwrap_err();
        assert_eq!(e.problems[0].key, "imap.password", "{e}");
        let smtp = "[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\nusername = \"u\"\npassword = \"\"\n";
        let e = parse(&format!("{GOOD}\n{smtp}")).unwrap_err();
        assert_eq!(e.problems[0].key, "smtp.password", "{e}");
    }

    /// A machine whose only fact is one environment variable.
    struct Env(&'static str, &'static str);

    impl Facts for Env {
        fn read(&self, p: &Path) -> std::io::Result<String> {
            Empty.read(p)
        }
        fn exists(&self, p: &Path) -> std::io::Result<()> {
            Empty.exists(p)
        }
        fn is_dir(&self, _: &Path) -> bool {
            false
        }
        fn var(&self, name: &str) -> Option<std::ffi::OsString> {
            (name == self.0).then(|| self.1.into())
        }
    }

    #[test]
    fn without_a_configured_secret_the_store_provides_one() {
        // The minimal configuration: [imap], [smtp], [store], [support] address.
        let minimal = format!("{GOOD}\n[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\n");
        let c = parse(&minimal).unwrap();
        let out = c.outbound.unwrap();
        assert_eq!(out.secret_source, SecretSource::Store);
        // Nothing is signed with an empty key: the shell fills it from the store first.
        assert!(out.resolved_secret.is_empty());
        // An empty $SUPPORTD_SECRET is no secret either.
        let path = Path::new("/etc/supportd/supportd.toml");
        let c = Config::parse(&minimal, path, &Env(SECRET_ENV, "")).unwrap();
        assert_eq!(c.outbound.unwrap().secret_source, SecretSource::Store);
    }

    #[test]
    fn a_configured_secret_wins_and_says_where_it_came_from() {
        let smtp = "[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\n";
        let inline =
            format!("{GOOD}\n{smtp}[outbound]\nsecret = \"0123456789abcdef0123456789abcdef\"\n");
        let out = parse(&inline).unwrap().outbound.unwrap();
        assert_eq!(out.secret_source, SecretSource::Inline);
        assert_eq!(out.resolved_secret, b"0123456789abcdef0123456789abcdef");
        let path = Path::new("/etc/supportd/supportd.toml");
        let env = Env(SECRET_ENV, "fedcba9876543210fedcba9876543210");
        let out = Config::parse(&format!("{GOOD}\n{smtp}"), path, &env)
            .unwrap()
            .outbound
            .unwrap();
        assert_eq!(out.secret_source, SecretSource::Env);
        assert_eq!(out.resolved_secret, b"fedcba9876543210fedcba9876543210");
        // A named file that cannot be read is an error, never a silent fall back to the store.
        let file = format!("{GOOD}\n{smtp}[outbound]\nsecret_file = \"outbound-secret\"\n");
        let e = parse(&file).unwrap_err();
        assert_eq!(e.problems[0].key, "outbound.secret_file", "{e}");
        for source in [
            SecretSource::Inline,
            SecretSource::File("outbound-secret".into()),
            SecretSource::Env,
            SecretSource::Store,
        ] {
            assert!(!source.describe().is_empty());
        }
    }

    /// The Debian package's `/etc/supportd/supportd.toml`: as installed, `check-config` names
    /// exactly its FILL IN lines; with them filled in (and nothing else) it is valid.
    #[test]
    fn the_packaged_conffile_needs_its_fill_in_lines_and_nothing_else() {
        let shipped = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/debian/supportd.toml"
        ));
        let e = parse(shipped).unwrap_err();
        let keys: Vec<&str> = e.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "imap.host",
                "imap.username",
                "imap.password",
                "smtp.host",
                "support.address"
            ],
            "{e}"
        );
        let filled: String = shipped
            .lines()
            .map(|l| {
                if !l.contains("FILL IN") {
                    return l.to_owned();
                }
                let value = match l.split_whitespace().next() {
                    Some("host") => "mail.example.com",
                    Some("password") => "the-password",
                    _ => "support@example.com",
                };
                l.replacen("\"\"", &format!("\"{value}\""), 1)
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            filled.matches("FILL IN").count(),
            6,
            "five values and the header"
        );
        let c = parse(&filled).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.store.path, Path::new("/var/lib/supportd/store"));
        assert_eq!(c.outbound.unwrap().secret_source, SecretSource::Store);
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
    fn parse_section_keys_are_checked_by_name() {
        let limits = parse(GOOD).unwrap().parse;
        assert_eq!(limits, crate::mail::parse::Limits::default());
        let c = parse(&format!("{GOOD}\n[parse]\nmax_mime_parts = 50\n")).unwrap();
        assert_eq!(c.parse.max_mime_parts, 50);
        assert_eq!(c.parse.max_mime_depth, limits.max_mime_depth);
        let keys = |extra: &str| -> Vec<String> {
            let e = parse(&format!("{GOOD}\n[parse]\n{extra}\n")).unwrap_err();
            e.problems.iter().map(|p| p.key.clone()).collect()
        };
        assert_eq!(keys("max_mime_part = 5"), ["parse.max_mime_part"]);
        assert_eq!(keys("max_html_work = \"lots\""), ["parse.max_html_work"]);
        assert_eq!(keys("max_header_fields = -1"), ["parse.max_header_fields"]);
        assert_eq!(
            keys(
                "max_header_fields = 3\nmax_mime_parts = 0\nmax_mime_depth = 1\n\
                  max_reference_ids = 1\nmax_text_bytes = 10\nmax_html_work = 5"
            ),
            [
                "parse.max_header_fields",
                "parse.max_mime_parts",
                "parse.max_mime_depth",
                "parse.max_reference_ids",
                "parse.max_text_bytes",
                "parse.max_html_work",
            ]
        );
        assert_eq!(keys("max_mime_depth = 100000"), ["parse.max_mime_depth"]);
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse(&GOOD.replace("port = 1143", "port = \"x\"")).unwrap_err();
        assert_eq!(e.problems[0].key, "imap.port", "{e}");
        let e = parse(&format!("{GOOD}\n[[agents]]\nname='a'\naddresses=[1]\n")).unwrap_err();
        assert_eq!(e.problems[0].key, "agents[0].addresses[0]", "{e}");
    }

    /// A machine with secret files of given modes.
    struct Files(Vec<(&'static str, &'static str, u32)>);

    impl Facts for Files {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            self.0
                .iter()
                .find(|(p, ..)| Path::new(p) == path)
                .map(|(_, text, _)| (*text).to_owned())
                .ok_or_else(|| std::io::ErrorKind::NotFound.into())
        }
        fn exists(&self, path: &Path) -> std::io::Result<()> {
            self.read(path).map(|_| ())
        }
        fn is_dir(&self, _: &Path) -> bool {
            false
        }
        fn var(&self, _: &str) -> Option<std::ffi::OsString> {
            None
        }
        fn mode(&self, path: &Path) -> Option<u32> {
            let file = self.0.iter().find(|(p, ..)| Path::new(p) == path);
            file.map(|(.., mode)| *mode)
        }
    }

    const SMTP: &str = "[smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\n";

    #[test]
    fn a_weak_signing_secret_is_refused_naming_where_it_came_from() {
        let inline = format!("{GOOD}{SMTP}[outbound]\nsecret = \"0123456789abcdef\"\n");
        let e = parse(&inline).unwrap_err();
        assert_eq!(e.problems[0].key, "outbound.secret", "{e}");
        assert!(
            e.problems[0]
                .message
                .contains("16 hex characters carry at most 64 bits")
        );
        let file = format!("{GOOD}{SMTP}[outbound]\nsecret_file = \"/etc/supportd/s\"\n");
        let machine = Files(vec![("/etc/supportd/s", "short-secret\n", 0o600)]);
        let e =
            Config::parse(&file, Path::new("/etc/supportd/supportd.toml"), &machine).unwrap_err();
        assert_eq!(e.problems[0].key, "outbound.secret_file", "{e}");
        let strong = "9f86d081884c7d659a2feaa0c55ad015";
        let ok = inline.replace("0123456789abcdef", strong);
        assert_eq!(
            parse(&ok).unwrap().outbound.unwrap().resolved_secret,
            strong.as_bytes()
        );
    }

    #[test]
    fn files_everybody_may_read_are_warned_about_by_key() {
        let text = format!(
            "{}{SMTP}password_file = \"/etc/supportd/smtp\"\nusername = \"u\"\n\
             [outbound]\nsecret_file = \"/etc/supportd/s\"\n",
            GOOD.replace("password = \"secret\"", "password_file = \"imap\"")
        );
        let machine = Files(vec![
            ("/etc/supportd/supportd.toml", "", 0o644),
            ("/etc/supportd/imap", "pw", 0o640),
            ("/etc/supportd/smtp", "pw", 0o604),
            ("/etc/supportd/s", "9f86d081884c7d659a2feaa0c55ad015", 0o444),
        ]);
        let c = Config::parse(&text, Path::new("/etc/supportd/supportd.toml"), &machine)
            .unwrap_or_else(|e| panic!("{e}"));
        let keys: Vec<&str> = c.warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(
            keys,
            ["(file)", "smtp.password_file", "outbound.secret_file"]
        );
        assert!(
            c.warnings[1].message.contains("mode 0604"),
            "{:?}",
            c.warnings
        );
        assert!(parse(GOOD).unwrap().warnings.is_empty());
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
        let config = Config::parse(&text, Path::new("/etc/supportd/supportd.toml"), &Empty)
            .unwrap_or_else(|e| panic!("{e}\n{block}"));
        assert_eq!(config.sla.oncall().len(), 1);
        assert_eq!(config.sla.rules()[0].name, "payments down");
    }
}
