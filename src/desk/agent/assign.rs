//! Who works a ticket and who hears of it: the assignee of a new ticket, the agents a
//! notification goes to, and the mailbox each agent is written to.

use crate::config::Config;
use crate::config::sections::{AgentConfig, Role};
use crate::domain::ticket::Ticket;
use crate::mail::mailbox::Mailbox;

/// Who gets a new ticket: the customer's dedicated contact, else round-robin over on-duty
/// first-line agents (by ticket number, so it needs no state and survives restarts).
pub(crate) fn assign(config: &Config, contact: Option<&str>, ticket: u64) -> Option<String> {
    // The agent's own spelling, not the directory's: everything that later finds the assignee
    // (notifications, the ladder, the report's per-agent rows) sees one name per agent.
    if let Some(a) = contact.and_then(|c| config.agent_named(c)) {
        return Some(a.name.clone());
    }
    let pool: Vec<&AgentConfig> = config
        .agents
        .iter()
        .filter(|a| a.on_duty && a.role == Role::Agent)
        .collect();
    if pool.is_empty() {
        return None;
    }
    Some(pool[(ticket as usize - 1) % pool.len()].name.clone())
}

/// The mailbox an agent is written to: their first address.
pub(crate) fn agent_mailbox(a: &AgentConfig) -> Mailbox {
    Mailbox {
        name: Some(a.name.clone()),
        address: a.addresses[0].clone(),
    }
}

/// Who is told about a ticket: its assignee, else the agents' list address.
pub(crate) fn notify_targets(config: &Config, ticket: &Ticket) -> Vec<Mailbox> {
    if let Some(a) = ticket
        .assignee
        .as_deref()
        .and_then(|n| config.agent_named(n))
    {
        return vec![agent_mailbox(a)];
    }
    config
        .support
        .agents_list
        .iter()
        .map(|l| Mailbox {
            name: None,
            address: l.clone(),
        })
        .collect()
}

/// Agents with `role`.
pub(crate) fn agents_with_role(config: &Config, role: Role) -> Vec<Mailbox> {
    config
        .agents
        .iter()
        .filter(|a| a.role == role)
        .map(agent_mailbox)
        .collect()
}

/// The top of the escalation ladder: the supervisors.
pub(crate) const SUPERVISOR_LEVEL: u32 = 2;

/// Who an escalation to `level` goes to: tier 2 first, supervisors from level 2.
pub(crate) fn escalation_role(level: u32) -> Role {
    if level >= SUPERVISOR_LEVEL {
        Role::Supervisor
    } else {
        Role::Tier2
    }
}
