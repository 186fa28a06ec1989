//! `supportd.toml` for a test: the standard configuration pointing at a test [`Dovecot`], with
//! the calendar open around the clock so no test depends on the hour it runs at.

use std::fs;
use std::path::{Path, PathBuf};

use super::dovecot::Dovecot;

/// `[[agents]]` living in the test users' mailboxes: alice and bob (agents), tess (tier 2)
/// and sue (supervisor).
pub const AGENTS: &str = r#"
[[agents]]
name = "alice"
addresses = ["agent1@example.com"]

[[agents]]
name = "bob"
addresses = ["agent2@example.com"]

[[agents]]
name = "tess"
addresses = ["tier2@example.com"]
role = "tier2"

[[agents]]
name = "sue"
addresses = ["supervisor@example.com"]
role = "supervisor"
"#;

/// The standard test config (the lead's `supportd.toml` schema)
/// pointing at `dovecot` as user `support`, store in `<dir>/store`.
pub fn base_config(dir: &Path, dovecot: &Dovecot) -> String {
    base_config_port(dir, dovecot.imap_port)
}

/// [`base_config`] with any IMAP port, for commands that only read the store (no Dovecot).
pub fn base_config_port(dir: &Path, imap_port: u16) -> String {
    let store = toml_string(&dir.join("store").to_string_lossy());
    format!(
        r#"[imap]
host = "127.0.0.1"
port = {port}
security = "plain"
username = "support"
password = "secret"
mailbox = "INBOX"
processed_mailbox = "Processed"
quarantine_mailbox = "Quarantine"
poll_interval_secs = 2

[store]
path = {store}

[support]
address = "support@example.com"
name = "Example Support"
tag_prefix = "SUP"

# Tests run at any hour: business hours around the clock, so no notification or escalation is
# held for the morning (that routing is tested with a simulated clock in src/desk.rs).
[calendar.hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
"#,
        port = imap_port
    )
}

/// Write `<dir>/supportd.toml` = [`base_config`] + `extra` (verbatim, after a
/// newline). Returns the path.
pub fn write_config(dir: &Path, dovecot: &Dovecot, extra: &str) -> PathBuf {
    let mut text = base_config(dir, dovecot);
    if !extra.is_empty() {
        text.push('\n');
        text.push_str(extra);
        if !extra.ends_with('\n') {
            text.push('\n');
        }
    }
    write_config_raw(dir, &text)
}

/// Write `toml` verbatim to `<dir>/supportd.toml`. Returns the path.
pub fn write_config_raw(dir: &Path, toml: &str) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("supportd.toml");
    fs::write(&path, toml).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// A TOML basic string literal (with quotes) for `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
