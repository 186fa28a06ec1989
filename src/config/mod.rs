//! The operator's configuration: typed sections and their validation.
//!
//! Validation never stops at the first mistake: every section is deserialised on its own and
//! every semantic check runs, so `supportd check-config` can list *all* problems, each naming its
//! key. Unknown keys are errors (a typo such as `procesed_mailbox` would otherwise silently fall
//! back to a default and the operator would never know).
//!
//! This layer is pure: [`Config::parse`] judges the text and the [`facts::Facts`] the shell
//! hands in (password and secret files, the environment, whether a CA file or template directory
//! exists). Reading the configuration file itself and providing those facts is the shell's job
//! ([`crate::io::files`]).

#![deny(clippy::disallowed_methods, clippy::disallowed_types)]
#![deny(clippy::too_many_lines, clippy::too_many_arguments)]

pub(crate) mod facts;
pub(crate) mod parse;
pub(crate) mod queues;
pub mod sample;
pub mod sections;
pub(crate) mod strength;

use std::fmt;
use std::path::PathBuf;

use crate::config::sections::{
    AgentConfig, ControlConfig, HttpConfig, ImapConfig, LogConfig, OutboundConfig, SmtpConfig,
    StoreConfig, SupportConfig,
};
use crate::domain::calendar::Calendar;
use crate::domain::problem::Problem;
use crate::domain::sla::policy::SlaPolicy;

/// All problems found in a configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    /// The file that was read.
    pub(crate) path: PathBuf,
    /// Every problem found, in file order where known.
    pub(crate) problems: Vec<Problem>,
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

/// The whole configuration, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub(crate) path: PathBuf,
    /// `[imap]`.
    pub(crate) imap: ImapConfig,
    /// `[smtp]`, optional until outbound mail is configured.
    pub(crate) smtp: Option<SmtpConfig>,
    /// `[outbound]`; present (with defaults) whenever `[smtp]` is.
    pub(crate) outbound: Option<OutboundConfig>,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[support]`.
    pub(crate) support: SupportConfig,
    /// `[[agents]]`; in a queue's view ([`Config::in_queue`]) its members, in their roles there.
    pub(crate) agents: Vec<AgentConfig>,
    /// Every agent of `[[agents]]`, in every view: who is an agent at all.
    pub(crate) all_agents: Vec<AgentConfig>,
    /// `[[queues]]`, or the one queue a configuration without them implies; never empty.
    pub(crate) queues: Vec<sections::Queue>,
    /// `[control]`.
    pub(crate) control: ControlConfig,
    /// `[log]`.
    pub(crate) log: LogConfig,
    /// `[http]`; `None` disables the health and metrics listener.
    pub(crate) http: Option<HttpConfig>,
    /// `[calendar]`: business hours, holidays, make-up days (defaults when absent).
    pub calendar: Calendar,
    /// `[sla]`: targets, classification, escalation and on-call (defaults when absent).
    pub sla: SlaPolicy,
    /// `[parse]`: what one mail may cost the parser (defaults when absent).
    pub(crate) parse: crate::mail::parse::Limits,
    /// What is accepted but unsafe (a secret file everybody may read), by key; `check-config`
    /// prints these and the daemon logs them at start.
    pub(crate) warnings: Vec<Problem>,
}

impl Config {
    /// Path of the control socket.
    pub(crate) fn control_socket(&self) -> PathBuf {
        self.control
            .socket
            .clone()
            .unwrap_or_else(|| self.store.path.join("control.sock"))
    }

    /// IMAP port, defaulted by security mode.
    pub(crate) fn imap_port(&self) -> u16 {
        self.imap.port()
    }

    /// True when `address` (any case) is one of ours: the support address, an alias or any
    /// queue's address.
    pub(crate) fn is_own_address(&self, address: &str) -> bool {
        let a = address.to_lowercase();
        self.support.address.eq_ignore_ascii_case(&a)
            || self
                .support
                .aliases
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&a))
            || self.queues.iter().any(|q| q.addresses.contains(&a))
    }

    /// What signs and verifies our Message-IDs and reply addresses: `None` without `[outbound]`
    /// or before the shell has filled in the store's generated secret, because an empty key is
    /// public (anyone could forge what it verifies).
    pub(crate) fn signer(&self) -> Option<crate::mail::msgid::Signer<'_>> {
        self.outbound
            .as_ref()
            .filter(|o| !o.resolved_secret.is_empty())
            .map(|o| crate::mail::msgid::Signer {
                secret: &o.resolved_secret,
                instance: &o.instance,
            })
    }

    /// This configuration signing for the store `instance` (see [`crate::mail::msgid`]).
    pub(crate) fn bound_to(&self, instance: &crate::mail::msgid::Instance) -> bool {
        self.outbound
            .as_ref()
            .is_none_or(|o| &o.instance == instance)
    }

    /// Binds our signatures to the store `instance`.
    pub(crate) fn bind(&mut self, instance: &crate::mail::msgid::Instance) {
        if let Some(o) = &mut self.outbound {
            o.instance = instance.clone();
        }
    }

    /// Domain of our Message-IDs.
    pub(crate) fn message_id_domain(&self) -> String {
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

    /// How long the mailbox of `account` may go unsynced before `/healthz` complains (see
    /// [`HttpConfig::sync_max_age_secs`]; else from its own IDLE and polling).
    pub(crate) fn sync_max_age_of(&self, account: &ImapConfig) -> u64 {
        if let Some(s) = self.http.as_ref().and_then(|h| h.sync_max_age_secs) {
            return s;
        }
        let cycle = if account.idle {
            account.idle_renew_secs.max(account.poll_interval_secs)
        } else {
            account.poll_interval_secs
        };
        cycle.saturating_mul(2).saturating_add(60)
    }

    /// The agent called `name` (as in `[[agents]] name`, any case), if any. The one lookup by
    /// name: `#assign`, dedicated contacts, on-call rotas and ticket assignees all go through it,
    /// so `Alice` in the customer directory finds agent `alice`.
    pub(crate) fn agent_named(&self, name: &str) -> Option<&AgentConfig> {
        self.agents.iter().find(|a| same_agent_name(&a.name, name))
    }

    /// The agent owning `address`, if any, whatever their queues (this queue's first, with
    /// their role here).
    pub(crate) fn agent_by_address(&self, address: &str) -> Option<&AgentConfig> {
        self.agents
            .iter()
            .chain(&self.all_agents)
            .find(|ag| ag.addresses.iter().any(|x| x.eq_ignore_ascii_case(address)))
    }
}

/// Whether two agent names are the same agent: names are compared ignoring case everywhere
/// (the duplicate check at load and every lookup), so they can never disagree.
pub(crate) fn same_agent_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}
