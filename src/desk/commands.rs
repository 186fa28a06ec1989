//! Agents' commands: lines starting with `#` at the top of an agent's answer (above or below
//! the quote, wherever the answer sits), in the spirit of RT's CommandByMail.
//!
//! ```text
//! #status pending
//! #priority P2
//! Hello, could you send us the error log?      <- relayed to the customer
//! ```
//!
//! A `#note` line anywhere in the answer makes the whole mail internal. An unknown or malformed
//! command invalidates the whole mail: nothing changes and the agent is told what was
//! understood, because acting on half of an instruction is worse than acting on none.

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::desk::participants;
use crate::domain::priority::{Priority, UnknownPriority};
use crate::domain::status::{Status, UnknownStatus};
use crate::domain::ticket::Joined;
use crate::domain::ticket::Ticket;
use crate::mail::inbound::Inbound;

/// One understood command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "command", content = "arg")]
pub(crate) enum Command {
    /// `#status open|pending|resolved|closed`.
    Status(Status),
    /// `#priority P1..P4`.
    Priority(Priority),
    /// `#assign <agent>`.
    Assign(String),
    /// `#note`: the rest is internal.
    Note,
    /// `#escalate`.
    Escalate,
    /// `#merge <ticket>`: merge this ticket into that one.
    Merge(u64),
    /// `#customer <id>`.
    Customer(String),
    /// `#cc add <address>`: the address receives the replies and may follow up.
    CcAdd(String),
    /// `#cc remove <address>`.
    CcRemove(String),
    /// `#queue <name>`: move the ticket to that queue.
    Queue(String),
}

/// An agent's mail, split into commands, the customer-visible reply and the internal note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    /// Commands in order.
    pub(crate) commands: Vec<Command>,
    /// Text for the customer (empty when the mail held only commands).
    pub(crate) reply: String,
    /// Internal note (`#note` and below), never sent to the customer.
    pub(crate) note: Option<String>,
    /// Problems; when not empty, nothing may be done.
    pub(crate) errors: Vec<CommandError>,
}

/// Why an agent's mail changes nothing. Each one is listed in the reply that tells the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommandError {
    /// A command line that could not be read.
    #[error("line `{line}`: {why}")]
    Line {
        /// The line as the agent wrote it.
        line: String,
        /// What is wrong with it.
        why: LineError,
    },
    /// `#assign` names nobody in `[[agents]]`.
    #[error("#assign: no agent named `{0}`")]
    NoSuchAgent(String),
    /// `#merge` names the ticket the mail is about.
    #[error("#merge: a ticket cannot be merged into itself")]
    MergeIntoItself,
    /// `#merge` names a ticket that does not exist.
    #[error("#merge: there is no ticket {0}")]
    NoMergeTarget(u64),
    /// `#cc add` of an address that may not be on a ticket.
    #[error("#cc add: {0}")]
    CcAdd(crate::desk::participants::Refused),
    /// `#cc remove` of an address that cannot be removed.
    #[error("#cc remove: {0}")]
    CcRemove(String),
    /// `#queue` names no configured queue.
    #[error("#queue: no queue named `{0}` (known: {1})")]
    NoSuchQueue(String, String),
    /// `#merge` into a ticket of a queue the agent does not work in.
    #[error("#merge: ticket {0} is in queue `{1}`, which you are not an agent of")]
    MergeOtherQueue(u64, String),
    /// The agent is not an agent of the ticket's queue.
    #[error(
        "you are not an agent of queue `{0}`, which this ticket is in: nothing was done and nothing sent to the customer (ask an agent of `{0}`, or have yourself added to its [[queues]] agents)"
    )]
    OtherQueue(String),
}

/// What is wrong with one command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LineError {
    /// `#status` with a word that is no status.
    #[error(transparent)]
    Status(#[from] UnknownStatus),
    /// `#priority` with a word that is no priority.
    #[error(transparent)]
    Priority(#[from] UnknownPriority),
    /// `#assign` alone.
    #[error("#assign needs an agent name")]
    AssignWithoutName,
    /// `#merge` with something other than a number.
    #[error("#merge needs a ticket number, not `{0}`")]
    MergeWithoutNumber(String),
    /// `#customer` alone.
    #[error("#customer needs a customer ID")]
    CustomerWithoutId,
    /// `#cc` without `add|remove ADDRESS`.
    #[error("#cc needs `add ADDRESS` or `remove ADDRESS`")]
    CcUsage,
    /// `#queue` alone.
    #[error("#queue needs a queue name")]
    QueueWithoutName,
    /// A `#word` that is no command.
    #[error(
        "unknown command `#{0}` (known: #status, #priority, #assign, #note, #escalate, #merge, #customer, #cc, #queue)"
    )]
    Unknown(String),
}

impl Parsed {
    /// True when the mail is valid and has something for the customer.
    pub(crate) fn has_reply(&self) -> bool {
        self.errors.is_empty() && !self.reply.trim().is_empty()
    }
}

fn is_command_line(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with('#') || l.starts_with('＃')
}

/// `add ADDRESS` / `remove ADDRESS`; the address bare or as `Name <address>`.
fn cc_command(arg: &str) -> Result<Command, LineError> {
    let (verb, rest) = arg
        .split_once(char::is_whitespace)
        .ok_or(LineError::CcUsage)?;
    let rest = rest.trim();
    let addr = match (rest.rfind('<'), rest.rfind('>')) {
        (Some(a), Some(b)) if a < b => &rest[a + 1..b],
        _ if !rest.contains(char::is_whitespace) => rest,
        _ => return Err(LineError::CcUsage),
    };
    let addr = addr.trim().to_lowercase();
    if addr.is_empty() {
        return Err(LineError::CcUsage);
    }
    match verb.to_lowercase().as_str() {
        "add" => Ok(Command::CcAdd(addr)),
        "remove" | "rm" | "del" => Ok(Command::CcRemove(addr)),
        _ => Err(LineError::CcUsage),
    }
}

fn is_quoted_line(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// A `#note` line: the command, whatever follows it.
fn is_note_line(line: &str) -> bool {
    let body = line.trim().trim_start_matches(['#', '＃']);
    is_command_line(line)
        && body.len() >= 4
        && body.is_char_boundary(4)
        && body[..4].eq_ignore_ascii_case("note")
        && body[4..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || matches!(c, ':' | '：'))
}

/// One command line.
fn command(line: &str) -> Result<Command, LineError> {
    let body = line.trim_start_matches(['#', '＃']).trim();
    let (word, arg) = match body.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (body, ""),
    };
    let word = word.to_lowercase();
    match (word.as_str(), arg) {
        ("note", _) => Ok(Command::Note),
        (w, _) if w.starts_with("note:") || w.starts_with("note：") => Ok(Command::Note),
        ("status", a) => a.parse().map(Command::Status).map_err(LineError::from),
        ("priority", a) => a.parse().map(Command::Priority).map_err(LineError::from),
        ("assign", "") => Err(LineError::AssignWithoutName),
        ("assign", a) => Ok(Command::Assign(a.to_owned())),
        ("escalate", "") => Ok(Command::Escalate),
        ("merge", a) => a
            .trim_start_matches('#')
            .parse::<u64>()
            .map(Command::Merge)
            .map_err(|_| LineError::MergeWithoutNumber(a.to_owned())),
        ("customer", "") => Err(LineError::CustomerWithoutId),
        ("customer", a) => Ok(Command::Customer(a.to_owned())),
        ("cc", a) => cc_command(a),
        ("queue", "") => Err(LineError::QueueWithoutName),
        ("queue", a) => Ok(Command::Queue(a.to_owned())),
        (w, _) => Err(LineError::Unknown(w.to_owned())),
    }
}

/// Parses an agent's answer (quoted history already stripped; inline context may remain, as
/// `>` lines). Commands are the `#` lines at the top of the answer's own words; a `#note` line
/// anywhere makes all of it the note.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let lines: Vec<&str> = text.lines().collect();
    let mut command_lines = vec![false; lines.len()];
    let top = lines
        .iter()
        .position(|l| !l.trim().is_empty() && !is_quoted_line(l))
        .unwrap_or(lines.len());
    for (i, line) in lines.iter().enumerate().skip(top) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !is_command_line(line) {
            break;
        }
        command_lines[i] = true;
        match command(line) {
            Ok(c) => out.commands.push(c),
            Err(why) => out.errors.push(CommandError::Line {
                line: line.to_owned(),
                why,
            }),
        }
    }
    let note_at = lines
        .iter()
        .enumerate()
        .find(|(i, l)| !command_lines[*i] && is_note_line(l))
        .map(|(i, _)| i);
    if let Some(i) = note_at {
        command_lines[i] = true;
        out.commands.push(Command::Note);
    }
    let words: Vec<&str> = lines
        .iter()
        .zip(&command_lines)
        .filter(|(_, c)| !**c)
        .map(|(l, _)| *l)
        .collect();
    let words = words.join("\n").trim().to_owned();
    if out.commands.contains(&Command::Note) {
        // Text on a #note line itself belongs to the note.
        let on_lines: Vec<&str> = lines
            .iter()
            .zip(&command_lines)
            .filter(|(l, c)| **c && is_note_line(l))
            .map(|(l, _)| {
                l.trim().trim_start_matches(['#', '＃'])[4..]
                    .trim_start_matches([':', '：'])
                    .trim()
            })
            .filter(|rest| !rest.is_empty())
            .collect();
        let mut note = on_lines.join("\n");
        if !words.is_empty() {
            if !note.is_empty() {
                note.push_str("\n\n");
            }
            note.push_str(&words);
        }
        out.note = Some(note);
    } else {
        out.reply = words;
    }
    out
}

/// Removes a signature (`-- ` line and below) from an agent's reply.
pub(crate) fn strip_signature(text: &str) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        if line == "-- " || line == "--" {
            break;
        }
        out.push(line);
    }
    out.join("\n").trim_end().to_owned()
}

/// Parses an agent's mail by markers alone (quoted history and the signature go), for what
/// needs only its commands; [`crate::desk::agent::answer`] reads it for everything else.
pub(crate) fn read_agent_mail(inbound: &Inbound) -> Parsed {
    parse(&strip_signature(&inbound.split().new_text))
}

/// What an agent's valid mail does to the ticket (besides relaying the reply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// New status, if any.
    pub(crate) status: Option<Status>,
    /// Escalate one level.
    pub(crate) escalate: bool,
    /// Merge into this ticket.
    pub(crate) merge_into: Option<u64>,
    /// Addresses now known for a customer ID (an agent's `#customer` vouches for the requester).
    pub(crate) learned: Vec<(String, String)>,
    /// Moved to this queue (`#queue`), by its configured name.
    pub(crate) queue: Option<String>,
}

/// Applies the commands of a valid `parsed` mail by agent `agent` to `t`. Returns an error
/// naming the first command that cannot be carried out (an unknown agent, merging into itself,
/// an address that may not be on a ticket).
pub(crate) fn apply_commands(
    config: &Config,
    t: &mut Ticket,
    parsed: &Parsed,
    agent: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Changes, CommandError> {
    let mut changes = Changes::default();
    for c in &parsed.commands {
        match c {
            Command::Status(s) => changes.status = Some(*s),
            Command::Priority(p) => t.priority = *p,
            Command::Assign(name) => {
                let a = config
                    .agent_named(name)
                    .ok_or_else(|| CommandError::NoSuchAgent(name.clone()))?;
                t.assignee = Some(a.name.clone());
            }
            Command::Note => {}
            Command::Escalate => changes.escalate = true,
            Command::Merge(n) if *n == t.id => {
                return Err(CommandError::MergeIntoItself);
            }
            Command::Merge(n) => changes.merge_into = Some(*n),
            Command::Customer(id) => {
                t.customer = id.clone();
                if !t.requester.address.eq_ignore_ascii_case(id) {
                    changes
                        .learned
                        .push((t.requester.address.clone(), id.clone()));
                }
            }
            Command::CcAdd(addr) => {
                participants::admit(config, t, addr, Joined::Agent, Some(agent.to_owned()), now)
                    .map_err(CommandError::CcAdd)?;
            }
            Command::CcRemove(addr) => {
                participants::remove(t, addr).map_err(CommandError::CcRemove)?;
            }
            Command::Queue(name) => {
                let q = config.queue_named(name).ok_or_else(|| {
                    let known: Vec<&str> = config.queues.iter().map(|q| q.name.as_str()).collect();
                    CommandError::NoSuchQueue(name.clone(), known.join(", "))
                })?;
                t.queue = config.stored_queue_name(&q.name);
                changes.queue = Some(q.name.clone());
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_then_reply() {
        let p = parse("#status pending\n#priority p2\n\nHello,\nplease send the log.\n");
        assert_eq!(
            p.commands,
            [
                Command::Status(Status::Pending),
                Command::Priority(Priority::P2)
            ]
        );
        assert_eq!(p.reply, "Hello,\nplease send the log.");
        assert!(p.errors.is_empty() && p.note.is_none() && p.has_reply());
    }

    #[test]
    fn only_commands_send_nothing() {
        let p = parse("#assign alice\n#escalate\n");
        assert_eq!(
            p.commands,
            [Command::Assign("alice".into()), Command::Escalate]
        );
        assert!(!p.has_reply());
    }

    #[test]
    fn note_keeps_everything_below_internal() {
        let p = parse("#status open\n#note checked the DB\n\nroot password is in vault\n");
        assert_eq!(p.commands, [Command::Status(Status::Open), Command::Note]);
        assert_eq!(
            p.note.as_deref(),
            Some("checked the DB\n\nroot password is in vault")
        );
        assert_eq!(p.reply, "");
    }

    #[test]
    fn a_note_anywhere_makes_all_of_it_internal() {
        let p = parse("已经在处理，今晚重启。\n\n#note 内部：root 密码 Tq7 已发给值班\n");
        assert_eq!(p.commands, [Command::Note]);
        assert_eq!(p.reply, "");
        let note = p.note.unwrap();
        assert!(
            note.contains("已经在处理") && note.contains("root 密码"),
            "{note}"
        );
        let p = parse("Hi,\n#NOTE: internal\nthe rest");
        assert_eq!(p.commands, [Command::Note]);
        assert!(p.reply.is_empty());
        // `#notes` or a note in the middle of a sentence is no command.
        let p = parse("Hi,\n#notes are below\nsee #note");
        assert!(p.commands.is_empty() && p.note.is_none(), "{p:?}");
    }

    #[test]
    fn commands_under_inline_context_are_read() {
        let p = parse("> the customer's line\n\n#status resolved\nFixed now.");
        assert_eq!(p.commands, [Command::Status(Status::Resolved)]);
        assert_eq!(p.reply, "> the customer's line\n\nFixed now.");
    }

    #[test]
    fn chinese_full_width_hash_and_merge() {
        let p = parse("＃status resolved\n#merge #12\n#customer C1001\n问题已解决。");
        assert_eq!(
            p.commands,
            [
                Command::Status(Status::Resolved),
                Command::Merge(12),
                Command::Customer("C1001".into())
            ]
        );
        assert_eq!(p.reply, "问题已解决。");
    }

    #[test]
    fn errors_are_collected_and_named() {
        let p = parse("#status done\n#frobnicate\n#merge abc\n#priority P9\nhi");
        assert_eq!(p.errors.len(), 4, "{:?}", p.errors);
        assert!(p.errors[0].to_string().contains("unknown status"));
        assert!(
            p.errors[1]
                .to_string()
                .contains("unknown command `#frobnicate`")
        );
        assert!(!p.has_reply());
    }

    #[test]
    fn a_hash_inside_the_text_is_not_a_command() {
        let p = parse("Hi,\n#status open is not a command here\n");
        assert!(p.commands.is_empty());
        assert!(p.reply.starts_with("Hi,"));
    }

    #[test]
    fn cc_commands() {
        let p = parse(
            "#cc add Bob <BOB@Example.org>\n#cc remove carol@example.org\n#cc\n#cc add\n#cc add a b",
        );
        assert_eq!(
            p.commands,
            [
                Command::CcAdd("bob@example.org".into()),
                Command::CcRemove("carol@example.org".into())
            ],
            "{p:?}"
        );
        assert_eq!(p.errors.len(), 3, "{:?}", p.errors);
    }

    #[test]
    fn signatures_are_stripped() {
        assert_eq!(strip_signature("Hi\nthere\n-- \nAlice\nACME"), "Hi\nthere");
    }
}
