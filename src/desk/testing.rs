//! Fixtures for the desk's unit tests: the sample configuration, a P1 ticket, a customer's
//! mail, the built-in templates, and instants that do not depend on when the tests run.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::templates::Templates;
use crate::domain::outbox::OutboxItem;
use crate::domain::priority::Priority;
use crate::domain::sla::clocks::Clocks;
use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;
use crate::mail::mailbox::Mailbox;

/// [`crate::config::sample::scratch`]: agents alice, tess (tier 2) and sue (supervisor),
/// outbound mail on, the calendar in Shanghai.
pub(crate) fn config() -> Config {
    config_with("")
}

/// [`config`] with `extra` TOML appended.
pub(crate) fn config_with(extra: &str) -> Config {
    crate::config::sample::scratch(std::path::Path::new("/tmp/x"), extra).unwrap()
}

/// A Tuesday 10:00 in Shanghai: business hours, so no on-call routing and nothing held.
pub(crate) fn tuesday_10am() -> DateTime<Utc> {
    at("2026-11-24T10:00:00+08:00")
}

/// An RFC 3339 instant.
pub(crate) fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

/// Ticket 1, a P1 of customer `c` assigned to alice, opened at `created` by `m@example.org`.
pub(crate) fn p1_ticket(config: &Config, created: DateTime<Utc>) -> Ticket {
    let requester = Mailbox {
        name: None,
        address: "c@example.org".into(),
    };
    let mut t = Ticket::new(
        1,
        "c".into(),
        requester,
        "site down".into(),
        "site down".into(),
        created,
    );
    t.priority = Priority::P1;
    t.participants = vec!["c@example.org".into()];
    t.message_count = 1;
    t.last_customer_message_id = "m@example.org".into();
    t.assignee = Some("alice".into());
    t.priority_rule = "test".into();
    t.sla = Clocks::start(&config.calendar, &config.sla, Priority::P1, created);
    t
}

/// Built-in templates and an empty rate history, for tests that send mail.
pub(crate) fn mailer() -> Mailer<'static> {
    static TEMPLATES: LazyLock<Templates> = LazyLock::new(Templates::builtin);
    static HISTORY: LazyLock<HashMap<String, Vec<DateTime<Utc>>>> = LazyLock::new(HashMap::new);
    Mailer {
        templates: &TEMPLATES,
        history: &HISTORY,
    }
}

/// A plain mail from `from` to the support address.
pub(crate) fn mail(from: &str, subject: &str, body: &str, id: &str) -> Inbound {
    Inbound {
        message_id: id.into(),
        to: vec![Mailbox {
            name: None,
            address: "support@example.com".into(),
        }],
        ..Inbound::sample(from, subject, body)
    }
}

/// Every recipient of `items`, in order.
pub(crate) fn recipients(items: &[OutboxItem]) -> Vec<String> {
    items.iter().flat_map(|i| i.to.clone()).collect()
}
