//! `[[queues]]`: several support addresses in one daemon, each with its own team, targets and
//! voice.
//!
//! A configuration without `[[queues]]` is one queue, [`crate::config::sections::DEFAULT_QUEUE`], made of `[support]`'s
//! address and aliases and every agent, so existing configurations and stores work unchanged
//! (stored tickets carry no queue, which means the first queue).
//!
//! The types are in [`crate::config::sections`], their validation in [`crate::config::parse`].
//!
//! The desk works a ticket with its queue's *view* of the configuration ([`Config::in_queue`]):
//! the same configuration with the queue's address as the support address, its members as the
//! agents (in the roles the queue gives them), and its overrides. Every other queue's addresses
//! stay ours (never a customer, never a participant), and [`Config::agent_by_address`] still
//! knows every agent, so an agent of another queue is recognised (and refused, see
//! [`crate::desk::agent::reply`]) rather than taken for a customer.

use std::borrow::Cow;

use crate::config::Config;
use crate::config::sections::{AgentConfig, Queue};
use crate::mail::inbound::Inbound;

/// Lower-cased `address` without a `+detail` in its local part (`billing+t1-x@` routes as
/// `billing@`).
fn base_address(address: &str) -> String {
    let a = address.trim().to_lowercase();
    match a.rsplit_once('@') {
        Some((local, domain)) => match local.split_once('+') {
            Some((base, _)) => format!("{base}@{domain}"),
            None => a,
        },
        None => a,
    }
}

impl Config {
    /// The queue called `name` (any case); a stored ticket whose queue is empty or no longer
    /// configured belongs to the first queue.
    pub(crate) fn queue(&self, name: &str) -> &Queue {
        self.queues
            .iter()
            .find(|q| q.name.eq_ignore_ascii_case(name))
            .unwrap_or(&self.queues[0])
    }

    /// The queue called exactly `name` (any case), if it is configured.
    pub(crate) fn queue_named(&self, name: &str) -> Option<&Queue> {
        self.queues
            .iter()
            .find(|q| q.name.eq_ignore_ascii_case(name))
    }

    /// The queue a new ticket opened by `inbound` belongs to: the queue of the first of our
    /// addresses among the delivery addresses the server wrote on top of the mail
    /// ([`Inbound::delivered_to`], topmost first: a `Delivered-To` the sender wrote sits below
    /// ours), else To then Cc; the first queue when none is ours (Bcc).
    ///
    /// Routing is no trust boundary: a customer who forges a delivery header could as well have
    /// written to the other address. Which agents may act on a ticket is decided by its queue,
    /// never by the mail.
    pub(crate) fn route(&self, inbound: &Inbound) -> &Queue {
        let find = |a: &str| {
            let a = base_address(a);
            self.queues.iter().find(|q| q.addresses.contains(&a))
        };
        inbound
            .delivered_to
            .iter()
            .find_map(|a| find(a))
            .or_else(|| {
                inbound
                    .to
                    .iter()
                    .chain(&inbound.cc)
                    .find_map(|m| find(&m.address))
            })
            .unwrap_or(&self.queues[0])
    }

    /// The stored name of the queue `name` for a ticket: empty for the first queue, so tickets
    /// of the default queue are stored as before queues existed.
    pub(crate) fn stored_queue_name(&self, name: &str) -> String {
        if self.queue(name).name == self.queues[0].name {
            String::new()
        } else {
            self.queue(name).name.clone()
        }
    }

    /// Fills what each configured queue leaves unset with the global setting, so that a queue's
    /// view is the same whichever view it is taken from (`#queue` moves from one to another).
    pub(crate) fn complete_queues(&mut self) {
        let (support, outbound) = (&self.support, self.outbound.as_ref());
        for q in &mut self.queues {
            let Some(o) = &mut q.overrides else { continue };
            o.display_name.get_or_insert_with(|| support.name.clone());
            if o.agents_list.is_none() {
                o.agents_list = support.agents_list.clone();
            }
            o.default_priority.get_or_insert(support.default_priority);
            o.sla.get_or_insert_with(|| self.sla.clone());
            o.calendar.get_or_insert_with(|| self.calendar.clone());
            if let Some(out) = outbound {
                if o.templates_dir.is_none() {
                    o.templates_dir = out.templates_dir.clone();
                }
                o.language.get_or_insert(out.language);
                o.acknowledge.get_or_insert(out.acknowledge);
            }
        }
    }

    /// The configuration as the desk sees it for a ticket of queue `name` (see the module docs);
    /// the same from the whole configuration as from any queue's view.
    pub(crate) fn in_queue(&self, name: &str) -> Cow<'_, Config> {
        let q = self.queue(name);
        let Some(o) = &q.overrides else {
            return Cow::Borrowed(self);
        };
        let mut c = self.clone();
        let from = q.addresses.first().cloned().unwrap_or_default();
        let mut aliases: Vec<String> = std::iter::once(self.support.address.to_lowercase())
            .chain(self.support.aliases.iter().map(|a| a.to_lowercase()))
            .chain(self.queues.iter().flat_map(|q| q.addresses.iter().cloned()))
            .filter(|a| *a != from)
            .collect();
        aliases.sort();
        aliases.dedup();
        c.support.address = from;
        c.support.aliases = aliases;
        if let Some(n) = &o.display_name {
            c.support.name = n.clone();
        }
        c.support.agents_list = o.agents_list.clone();
        if let Some(p) = o.default_priority {
            c.support.default_priority = p;
        }
        c.agents = q
            .members
            .iter()
            .filter_map(|(n, role)| {
                self.all_agents
                    .iter()
                    .find(|a| a.name == *n)
                    .map(|a| AgentConfig {
                        role: *role,
                        ..a.clone()
                    })
            })
            .collect();
        if let Some(s) = &o.sla {
            c.sla = s.clone();
        }
        if let Some(cal) = &o.calendar {
            c.calendar = cal.clone();
        }
        if let Some(out) = &mut c.outbound {
            out.templates_dir = o.templates_dir.clone();
            if let Some(l) = o.language {
                out.language = l;
            }
            if let Some(a) = o.acknowledge {
                out.acknowledge = a;
            }
        }
        Cow::Owned(c)
    }

    /// Every address our own mail may come from or be replied to: each queue's From address
    /// (the base of its signed reply addresses) and `support.address`.
    pub(crate) fn reply_bases(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.support.address.as_str()).chain(
            self.queues
                .iter()
                .filter_map(|q| q.addresses.first().map(String::as_str)),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::config::sample::scratch;
    use crate::config::sections::DEFAULT_QUEUE;
    use crate::mail::inbound::Inbound;
    use crate::mail::mailbox::Mailbox;

    const TWO: &str = r#"
[[agents]]
name = "bill"
addresses = ["bill@example.com"]
[[queues]]
name = "support"
addresses = ["support@example.com", "help@example.com"]
agents = ["alice"]
tier2 = ["tess"]
supervisors = ["sue"]
[[queues]]
name = "billing"
addresses = ["billing@example.com"]
agents = ["bill"]
supervisors = ["sue"]
display_name = "Billing"
language = "zh"
acknowledge = false
default_priority = "P4"
"#;

    fn problems(extra: &str) -> Vec<(String, String)> {
        scratch(std::path::Path::new("/tmp/x"), extra)
            .unwrap_err()
            .problems
            .into_iter()
            .map(|p| (p.key, p.message))
            .collect()
    }

    fn to(addresses: &[&str], delivered: &[&str]) -> Inbound {
        Inbound {
            to: addresses
                .iter()
                .map(|a| Mailbox {
                    name: None,
                    address: (*a).into(),
                })
                .collect(),
            delivered_to: delivered.iter().map(|a| (*a).into()).collect(),
            ..Inbound::sample("c@example.org", "s", "b")
        }
    }

    #[test]
    fn without_queues_one_default_queue_is_the_configuration_itself() {
        let c = scratch(std::path::Path::new("/tmp/x"), "").unwrap();
        assert_eq!(c.queues.len(), 1);
        assert_eq!(c.queues[0].name, DEFAULT_QUEUE);
        assert!(matches!(c.in_queue(""), std::borrow::Cow::Borrowed(_)));
        assert_eq!(c.route(&to(&["x@y.org"], &[])).name, "default");
        assert_eq!(c.stored_queue_name("default"), "");
    }

    #[test]
    fn routing_by_delivery_address_then_to_and_cc() {
        let c = scratch(std::path::Path::new("/tmp/x"), TWO).unwrap();
        let q = |m: &Inbound| c.route(m).name.clone();
        assert_eq!(q(&to(&["Billing@Example.com"], &[])), "billing");
        assert_eq!(q(&to(&["help@example.com"], &[])), "support");
        // Two queues' addresses: the first one written wins.
        assert_eq!(
            q(&to(&["billing@example.com", "support@example.com"], &[])),
            "billing"
        );
        // The server's delivery address beats To (a Bcc, a list).
        assert_eq!(q(&to(&["list@x.org"], &["billing@example.com"])), "billing");
        // The topmost (ours, added last) wins over one further down.
        assert_eq!(
            q(&to(&[], &["support@example.com", "billing@example.com"])),
            "support"
        );
        // A +detail routes as its base address; none of ours: the first queue.
        assert_eq!(q(&to(&["billing+x@example.com"], &[])), "billing");
        assert_eq!(
            q(&to(&["someone@else.org"], &["other@else.org"])),
            "support"
        );
    }

    #[test]
    fn a_queue_view_has_its_team_voice_and_targets() {
        let c = scratch(std::path::Path::new("/tmp/x"), TWO).unwrap();
        let b = c.in_queue("billing");
        assert_eq!(b.support.address, "billing@example.com");
        assert_eq!(b.support.name, "Billing");
        let names: Vec<_> = b.agents.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["bill", "sue"]);
        assert!(b.agent_named("alice").is_none());
        // Every agent is still known as one, and every queue's address stays ours.
        assert!(b.agent_by_address("alice@example.com").is_some());
        assert!(b.is_own_address("help@example.com") && b.is_own_address("support@example.com"));
        assert!(!b.outbound.as_ref().unwrap().acknowledge);
        assert_eq!(
            b.support.default_priority,
            crate::domain::priority::Priority::P4
        );
        assert_eq!(c.stored_queue_name("support"), "");
        assert_eq!(c.stored_queue_name("BILLING"), "billing");
        // A ticket of a queue no longer configured belongs to the first.
        assert_eq!(c.queue("gone").name, "support");
    }

    #[test]
    fn mistakes_name_their_key() {
        let p = problems(
            r#"
[[queues]]
name = "a"
addresses = ["a@example.com", "not an address"]
agents = ["nobody"]
[[queues]]
name = "A"
addresses = ["A@example.com", "alice@example.com"]
[[queues]]
name = "bad name!"
addresses = []
tier2 = ["tess", "tess"]
colour = "red"
"#,
        );
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        // An unknown key fails the whole list's shape first, naming it.
        assert_eq!(keys, ["queues[2].colour"], "{p:?}");
        let p = problems(
            r#"
[[queues]]
name = "a"
addresses = ["a@example.com", "not an address"]
agents = ["nobody"]
[[queues]]
name = "A"
addresses = ["A@example.com", "alice@example.com"]
[[queues]]
name = "bad name!"
addresses = []
tier2 = ["tess", "tess"]
[queues.sla.targets.P1]
respond = "soon"
"#,
        );
        let has = |k: &str, m: &str| p.iter().any(|(pk, pm)| pk == k && pm.contains(m));
        assert!(has("queues[0].addresses[1]", "not a mail address"), "{p:?}");
        assert!(
            has("queues[0].agents[0]", "no agent named `nobody`"),
            "{p:?}"
        );
        assert!(has("queues[1].name", "duplicate queue name"), "{p:?}");
        assert!(
            has("queues[1].addresses[0]", "already an address of queue `a`"),
            "{p:?}"
        );
        assert!(
            has("queues[1].addresses[1]", "address of agent `alice`"),
            "{p:?}"
        );
        assert!(has("queues[2].name", "not a queue name"), "{p:?}");
        assert!(has("queues[2].addresses", "at least one"), "{p:?}");
        assert!(has("queues[2].tier2[1]", "listed twice"), "{p:?}");
        assert!(
            p.iter().any(|(k, _)| k.starts_with("queues[2].sla")),
            "{p:?}"
        );
    }
}
