//! Who the customer is. A customer is an ID with the addresses known for it: the directory's
//! (`customers.toml`, by address or domain) and those *learned* from mail filed under the ID with
//! proof (a reply to our mail, an authenticated From, or an agent's word). A mail's customer is,
//! in this order: the directory's entry for the sender, the ID the sender's address was learned
//! for, an ID pattern in the subject or body, the sender's address.
//!
//! Only the first two are *known*. An ID written in a mail is a claim: it labels a new ticket,
//! but never makes its writer a participant of another ticket of that customer (threading asks
//! for that), and the agents are told that the sender claims it.

use std::collections::HashMap;

use regex::Regex;
use serde::Deserialize;

/// One customer entry of the directory file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Customer {
    pub(crate) id: String,
    /// Display name: accepted so the directory file can say who a customer is; not shown yet.
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "part of the directory file format, read by no feature yet"
    )]
    pub(crate) name: Option<String>,
    /// Exact addresses belonging to the customer.
    #[serde(default)]
    pub(crate) addresses: Vec<String>,
    /// Mail domains belonging to the customer.
    #[serde(default)]
    pub(crate) domains: Vec<String>,
    /// Service tier, e.g. `vip`.
    #[serde(default)]
    pub(crate) tier: Option<String>,
    /// Dedicated contact (专属联系人): an agent name.
    #[serde(default)]
    pub(crate) contact: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    customer: Vec<Customer>,
}

/// Why a directory file's text is not a valid directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub(crate) struct DirectoryError {
    /// Where the text came from (the file's name), so the message points at it.
    pub(crate) origin: String,
    /// What is wrong.
    pub(crate) message: String,
}

/// An address or domain the directory gives to two customers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Claimed {
    /// The same address twice.
    #[error("address {0} belongs to two customers")]
    Address(String),
    /// The same domain twice.
    #[error("domain {0} belongs to two customers")]
    Domain(String),
}

/// The customer directory: addresses and domains mapped to customers.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    customers: Vec<Customer>,
    by_address: HashMap<String, usize>,
    by_domain: HashMap<String, usize>,
}

impl Directory {
    /// Reads the text of a TOML file of `[[customer]]` tables; `origin` names the file in errors.
    /// (Reading the file is the shell's: [`crate::io::files`].)
    pub(crate) fn parse(text: &str, origin: &str) -> Result<Directory, DirectoryError> {
        let invalid = |message: String| DirectoryError {
            origin: origin.to_owned(),
            message,
        };
        let file: DirectoryFile =
            toml::from_str(text).map_err(|e| invalid(e.to_string().trim().replace('\n', " ")))?;
        Directory::from_customers(file.customer).map_err(|e| invalid(e.to_string()))
    }

    /// Builds the directory, rejecting an address or domain claimed by two customers.
    pub(crate) fn from_customers(customers: Vec<Customer>) -> Result<Directory, Claimed> {
        let mut d = Directory::default();
        for (i, c) in customers.iter().enumerate() {
            for a in &c.addresses {
                if d.by_address.insert(a.to_lowercase(), i).is_some() {
                    return Err(Claimed::Address(a.clone()));
                }
            }
            for dom in &c.domains {
                let dom = dom.trim_start_matches('@').to_lowercase();
                if d.by_domain.insert(dom.clone(), i).is_some() {
                    return Err(Claimed::Domain(dom));
                }
            }
        }
        d.customers = customers;
        Ok(d)
    }

    /// The customer owning `address` (exact address first, then its domain).
    pub(crate) fn lookup(&self, address: &str) -> Option<&Customer> {
        let a = address.to_lowercase();
        let idx = self.by_address.get(&a).or_else(|| {
            let domain = a.rsplit_once('@')?.1;
            self.by_domain.get(domain)
        })?;
        self.customers.get(*idx)
    }
}

/// How a mail's customer was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The directory lists the sender's address or domain.
    Directory,
    /// The sender's address was learned for this customer.
    Learned,
    /// An ID pattern in the subject or body: the sender's claim, not known.
    Claimed,
    /// Nothing else: the sender's address is the customer.
    Sender,
}

/// A mail's customer and how it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub(crate) customer: String,
    pub(crate) how: Resolved,
}

/// The first customer ID a configured pattern finds in the subject, then the body.
pub(crate) fn claimed_id(patterns: &[Regex], subject: &str, body: &str) -> Option<String> {
    for text in [subject, body] {
        for re in patterns {
            if let Some(m) = re.captures(text).and_then(|c| c.get(1)) {
                let id = m.as_str().trim();
                if !id.is_empty() {
                    return Some(id.to_owned());
                }
            }
        }
    }
    None
}

/// Works out a mail's customer (see the module docs); `learned` is the ID the sender's address
/// was learned for, if any.
pub(crate) fn resolve(
    patterns: &[Regex],
    directory: &Directory,
    learned: Option<&str>,
    subject: &str,
    body: &str,
    sender: &str,
) -> Identity {
    let (customer, how) = if let Some(c) = directory.lookup(sender) {
        (c.id.clone(), Resolved::Directory)
    } else if let Some(id) = learned {
        (id.to_owned(), Resolved::Learned)
    } else if let Some(id) = claimed_id(patterns, subject, body) {
        (id, Resolved::Claimed)
    } else {
        (sender.to_lowercase(), Resolved::Sender)
    };
    Identity { customer, how }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns() -> Vec<Regex> {
        [
            r"(?:客户ID|客户编号|客户号)\s*[:：]\s*([A-Za-z0-9_-]+)",
            r"(?i)customer\s*(?:id|no\.?|number)\s*[:：#]\s*([A-Za-z0-9_-]+)",
        ]
        .iter()
        .map(|p| Regex::new(p).unwrap())
        .collect()
    }

    fn dir() -> Directory {
        toml::from_str::<DirectoryFile>(
            r#"
[[customer]]
id = "ACME"
domains = ["acme.com"]
[[customer]]
id = "BOSS"
addresses = ["boss@acme.com"]
tier = "vip"
"#,
        )
        .map(|f| Directory::from_customers(f.customer).unwrap())
        .unwrap()
    }

    #[test]
    fn directory_beats_learned_beats_claim_beats_sender() {
        let d = dir();
        let p = patterns();
        let id = |learned, subject, body, sender| {
            let i = resolve(&p, &d, learned, subject, body, sender);
            (i.customer, i.how)
        };
        // A claim written in the mail never overrides what the directory knows.
        assert_eq!(
            id(None, "网站打不开 客户ID：C1001", "", "x@acme.com"),
            ("ACME".into(), Resolved::Directory)
        );
        assert_eq!(
            id(Some("C-9"), "help", "", "Boss@Acme.com"),
            ("BOSS".into(), Resolved::Directory)
        );
        assert_eq!(
            id(Some("C-9"), "客户ID：C1001", "", "x@else.org"),
            ("C-9".into(), Resolved::Learned)
        );
        assert_eq!(
            id(None, "网站打不开 客户ID：C1001", "", "x@else.org"),
            ("C1001".into(), Resolved::Claimed)
        );
        assert_eq!(
            id(None, "help", "Customer ID: C-7\nthanks", "x@else.org"),
            ("C-7".into(), Resolved::Claimed)
        );
        assert_eq!(
            id(None, "help", "", "Someone@Else.org"),
            ("someone@else.org".into(), Resolved::Sender)
        );
    }

    #[test]
    fn duplicate_claims_are_rejected() {
        let c = |id: &str| Customer {
            id: id.into(),
            name: None,
            addresses: vec!["a@b.c".into()],
            domains: vec![],
            tier: None,
            contact: None,
        };
        assert!(Directory::from_customers(vec![c("1"), c("2")]).is_err());
    }
}
