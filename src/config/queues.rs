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
use crate::config::sections::{AgentConfig, ImapConfig, Queue};

/// One account and mailbox ingested by its own task.
#[derive(Debug, Clone)]
pub(crate) struct IngestAccount {
    /// `user@host/mailbox`: how status, `/healthz` and `/metrics` name it (never the password).
    pub(crate) name: String,
    /// The key of its UID state in the store.
    pub(crate) state_key: String,
    pub(crate) imap: ImapConfig,
    /// The queues fetching their mail here (for the operator).
    pub(crate) queues: Vec<String>,
    /// The queues new tickets from here go to ([`Config::route_within`]); empty for `[imap]`'s
    /// mailbox, which routes by address.
    pub(crate) route_queues: Vec<String>,
}

impl IngestAccount {
    fn describe(a: &ImapConfig) -> String {
        format!("{}@{}/{}", a.username, a.host, a.mailbox)
    }
}
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

    /// [`Config::route`] for a mail fetched from the mailbox of `queues` (see
    /// [`Config::ingest_accounts`]): the server filed it there, which is the stronger fact, so it
    /// goes to the first of them its addresses name, else to the first of them. Without
    /// `queues` (`[imap]`'s mailbox) it routes by address among all queues.
    pub(crate) fn route_within(&self, inbound: &Inbound, queues: &[String]) -> &Queue {
        let routed = self.route(inbound);
        if queues.is_empty() || queues.iter().any(|q| q.eq_ignore_ascii_case(&routed.name)) {
            return routed;
        }
        self.queue(&queues[0])
    }

    /// Every distinct account and mailbox to ingest, `[imap]`'s first: one task, connection and
    /// health each. Queues naming the same account and mailbox share one (their mail is fetched
    /// once); one naming `[imap]`'s own mailbox joins it (and routes by address like it).
    pub(crate) fn ingest_accounts(&self) -> Vec<IngestAccount> {
        let global = IngestAccount {
            name: IngestAccount::describe(&self.imap),
            state_key: self.imap.mailbox.clone(),
            imap: self.imap.clone(),
            queues: Vec::new(),
            route_queues: Vec::new(),
        };
        let mut out = vec![global];
        for q in &self.queues {
            let Some(a) = &q.account else {
                out[0].queues.push(q.name.clone());
                continue;
            };
            let same = |b: &ImapConfig| {
                b.host.eq_ignore_ascii_case(&a.host)
                    && b.port() == a.port()
                    && b.username == a.username
                    && b.mailbox == a.mailbox
            };
            match out.iter().position(|x| same(&x.imap)) {
                Some(0) => out[0].queues.push(q.name.clone()),
                Some(i) => {
                    out[i].queues.push(q.name.clone());
                    out[i].route_queues.push(q.name.clone());
                }
                None => {
                    let on_global = a.host.eq_ignore_ascii_case(&self.imap.host)
                        && a.port() == self.imap.port()
                        && a.username == self.imap.username;
                    out.push(IngestAccount {
                        name: IngestAccount::describe(a),
                        // `[imap]`'s folders keep their key, so existing stores read as before.
                        state_key: if on_global {
                            a.mailbox.clone()
                        } else {
                            format!("{}@{}:{}/{}", a.username, a.host, a.port(), a.mailbox)
                        },
                        imap: a.clone(),
                        queues: vec![q.name.clone()],
                        route_queues: vec![q.name.clone()],
                    })
                }
            }
        }
        out
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

    const ACCOUNTS: &str = r#"
[[agents]]
name = "bill"
addresses = ["bill@example.com"]
[[queues]]
name = "support"
addresses = ["support@example.com"]
[[queues]]
name = "abuse"
addresses = ["abuse@example.com"]
mailbox = "Abuse"
[[queues]]
name = "billing"
addresses = ["billing@example.com"]
[queues.imap]
host = "imap.example.com"
security = "tls"
username = "billing"
password = "b-secret"
[[queues]]
name = "invoices"
addresses = ["invoices@example.com"]
[queues.imap]
host = "IMAP.example.com"
port = 993
username = "billing"
password = "b-secret"
[[queues]]
name = "old"
addresses = ["old@example.com"]
mailbox = "INBOX"
"#;

    #[test]
    fn each_distinct_account_and_mailbox_is_ingested_once() {
        let c = scratch(std::path::Path::new("/tmp/x"), ACCOUNTS).unwrap();
        let a = c.ingest_accounts();
        let names: Vec<_> = a.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(a[0].imap.mailbox, c.imap.mailbox);
        // `[imap]`'s own mailbox routes by address, whoever else names it.
        assert_eq!(a[0].queues, ["support", "old"]);
        assert!(a[0].route_queues.is_empty());
        assert_eq!(a[0].state_key, c.imap.mailbox);
        assert_eq!(a[1].imap.mailbox, "Abuse");
        assert_eq!(a[1].state_key, "Abuse");
        assert_eq!(a[1].route_queues, ["abuse"]);
        assert_eq!(a[2].queues, ["billing", "invoices"]);
        assert_eq!(a[2].state_key, "billing@imap.example.com:993/INBOX");
        assert!(!a[2].name.contains("b-secret"));
        // The mailbox is the stronger fact; among its queues the address decides.
        let q = |m: &Inbound, within: &[String]| c.route_within(m, within).name.clone();
        let billing = &a[2].route_queues;
        assert_eq!(q(&to(&["support@example.com"], &[]), billing), "billing");
        assert_eq!(q(&to(&["invoices@example.com"], &[]), billing), "invoices");
        assert_eq!(q(&to(&["abuse@example.com"], &[]), &[]), "abuse");
    }

    #[test]
    fn account_mistakes_name_their_key() {
        let p = problems(
            r#"
[[queues]]
name = "a"
addresses = ["a@example.com"]
mailbox = "X"
[queues.imap]
host = "imap.example.com"
username = "a"
password = "p"
[[queues]]
name = "b"
addresses = ["b@example.com"]
[queues.imap]
host = "imap.example.com"
security = "plain"
username = ""
password_file = "/nonexistent/pw"
[[queues]]
name = "c"
addresses = ["c@example.com"]
[queues.imap]
host = "imap.example.com"
username = "c"
[[queues]]
name = "d"
addresses = ["d@example.com"]
mailbox = "Processed"
[[queues]]
name = "e"
addresses = ["e@example.com"]
[queues.imap]
host = "imap.example.com"
username = "c"
password = "other"
[[queues]]
name = "f"
addresses = ["f@example.com"]
[queues.imap]
host = "imap.example.com"
username = "f"
password = "f"
colour = "red"
"#,
        );
        let keys: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["queues[5].imap.colour"], "{p:?}");
        let p = problems(
            &ACCOUNTS.replace("mailbox = \"Abuse\"", "mailbox = \"Abuse\"\n[queues.imap]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"")
                .replace("port = 993\nusername = \"billing\"\npassword = \"b-secret\"", "port = 993\nusername = \"billing\"\npassword = \"other\""),
        );
        let has = |k: &str, m: &str| p.iter().any(|(pk, pm)| pk == k && pm.contains(m));
        assert!(
            has("queues[1].mailbox", "queues[1].imap.mailbox instead"),
            "{p:?}"
        );
        assert!(
            has(
                "queues[3].imap",
                "same account and mailbox as queues[2].imap"
            ),
            "{p:?}"
        );
        assert!(
            !p.iter()
                .any(|(_, m)| m.contains("b-secret") || m.contains("other")),
            "{p:?}"
        );
    }

    #[test]
    fn account_fields_are_validated_like_imap() {
        let p = problems(
            r#"
[[queues]]
name = "b"
addresses = ["b@example.com"]
[queues.imap]
host = "imap.example.com"
security = "plain"
username = ""
password_file = "/nonexistent/pw"
[[queues]]
name = "c"
addresses = ["c@example.com"]
[queues.imap]
host = "imap.example.com"
username = "c"
[[queues]]
name = "d"
addresses = ["d@example.com"]
mailbox = "Processed"
"#,
        );
        let has = |k: &str, m: &str| p.iter().any(|(pk, pm)| pk == k && pm.contains(m));
        assert!(has("queues[0].imap.security", "loopback"), "{p:?}");
        assert!(has("queues[0].imap.username", "must not be empty"), "{p:?}");
        assert!(has("queues[0].imap.password_file", "cannot read"), "{p:?}");
        assert!(
            has(
                "queues[1].imap.password",
                "set queues[1].imap.password or queues[1].imap.password_file"
            ),
            "{p:?}"
        );
        assert!(has("queues[2].mailbox", "processed_mailbox"), "{p:?}");
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
