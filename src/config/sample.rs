//! A complete configuration for places that need one but have no operator: `supportd
//! bench-sweep`, the desk's unit tests and the SLA integration tests. One definition, so the
//! benchmark measures what the tests check.

use std::path::Path;

use crate::config::facts::Empty;
use crate::config::{Config, ConfigError};

/// A scratch configuration: the default SLA and calendar, three agents (alice, tess in tier 2,
/// sue the supervisor), outbound mail rendered but never sent, the store at `store`, and `extra`
/// TOML appended (e.g. an on-call rota).
pub fn scratch(store: &Path, extra: &str) -> Result<Config, ConfigError> {
    let text = format!(
        r#"
[imap]
host = "127.0.0.1"
security = "plain"
username = "support"
password = "unused"
[smtp]
host = "127.0.0.1"
security = "plain"
[outbound]
secret = "bench-secret-0123456789abcdef"
[store]
path = "{}"
[support]
address = "support@example.com"
[[agents]]
name = "alice"
addresses = ["alice@example.com"]
[[agents]]
name = "tess"
addresses = ["tess@example.com"]
role = "tier2"
[[agents]]
name = "sue"
addresses = ["sue@example.com"]
role = "supervisor"
{extra}
"#,
        store.display()
    );
    Config::parse(&text, Path::new("/etc/supportd/bench.toml"), &Empty)
}
