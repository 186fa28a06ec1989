//! The agents' rows of `tests/mail/replies/expected.toml`: each agent's answer to one of our
//! notifications (the two the corpus quotes are what was sent), through what the desk does with
//! it: the outcome, the commands read, the agent's words as read, what the customer receives.

use crate::desk::agent::answer::{self, Answer};
use crate::desk::agent::reply;
use crate::desk::commands::{self, Command};
use crate::desk::testing::{config, p1_ticket, tuesday_10am};
use crate::domain::outbox::Kind;
use crate::domain::status::Status;
use crate::mail::corpus::{DIR, Row, problems, raw, table};
use crate::mail::parse::parse;

/// The notifications the agents' mails answer, exactly as we sent them.
fn sent() -> Vec<String> {
    ["notification-SUP-7.txt", "notification-SUP-8.txt"]
        .iter()
        .map(|f| {
            String::from_utf8(crate::fixtures::read(&format!("{DIR}/agent/{f}")))
                .expect("UTF-8 notification")
        })
        .collect()
}

/// What the row's mail comes to, as the corpus names outcomes.
fn outcome(answer: &Answer) -> &'static str {
    match answer {
        Answer::Machine(_) => "machine",
        Answer::Unsure(..) => "refuse",
        Answer::Read(r) if r.attachments_only => "attachment-only",
        Answer::Read(r) if r.parsed.note.is_some() || r.parsed.reply.is_empty() => "internal",
        Answer::Read(_) => "relay",
    }
}

fn check(row: &Row, sent: &[String]) -> Vec<String> {
    let inbound = parse(&raw(row)).unwrap_or_else(|e| panic!("{}: {e}", row.file));
    let answer = answer::read(&inbound, sent);
    let mut out = Vec::new();
    let got = outcome(&answer);
    let want = row.outcome.as_deref().unwrap_or("relay");
    if got != want && !row.also_ok.iter().any(|o| o == got) {
        out.push(format!("outcome {got}, not {want}"));
    }
    // The words the desk read are the reply text the row describes; a machine's is the mail's.
    let words = match &answer {
        Answer::Machine(_) => inbound.reply_text.clone(),
        Answer::Unsure(_, words) => words.clone(),
        Answer::Read(r) => r.words.clone(),
    };
    out.extend(problems(row, &words));
    if let Answer::Read(r) = &answer {
        let want: Vec<Command> = row
            .commands
            .iter()
            .flat_map(|c| commands::parse(c).commands)
            .collect();
        if r.parsed.commands != want {
            out.push(format!("commands {:?}, not {want:?}", r.parsed.commands));
        }
    }
    out.extend(what_the_customer_gets(row, &inbound, sent, &answer));
    if !out.is_empty() {
        out.push(format!(
            "{} attachments; words:\n----\n{words}\n----",
            inbound.attachments.len()
        ));
    }
    out
}

/// Runs the mail through [`reply::apply`] on an open ticket and checks the relay (or its absence)
/// and what the ticket shows afterwards.
fn what_the_customer_gets(
    row: &Row,
    inbound: &crate::mail::inbound::Inbound,
    sent: &[String],
    answer: &Answer,
) -> Vec<String> {
    let mut out = Vec::new();
    let config = config();
    let t0 = tuesday_10am();
    let mut ticket = p1_ticket(&config, t0);
    ticket.status = Status::Open;
    if row.lang.starts_with("zh") {
        ticket.subject = "后台登录后显示 502".into();
    }
    let before = ticket.clone();
    let r = reply::apply(
        &config,
        &config.agents[0],
        &mut ticket,
        inbound,
        sent,
        None,
        t0,
    );
    let relays: Vec<_> = r
        .outgoing
        .iter()
        .filter(|o| o.kind == Kind::Relay)
        .collect();
    let relayed = matches!(outcome(answer), "relay" | "attachment-only");
    if relays.len() != usize::from(relayed) {
        out.push(format!("{} relays", relays.len()));
    }
    if let Some(relay) = relays.first() {
        let customer = parse(relay.raw.as_bytes()).expect("our relay parses");
        if let Some(first) = &row.relay_first
            && !customer.text.trim_start().starts_with(first.as_str())
        {
            out.push(format!("relay starts {:?}, not {first:?}", customer.text));
        }
        for m in &row.relay_must_not {
            if relay.raw.contains(m.as_str()) || customer.text.contains(m.as_str()) {
                out.push(format!("relay holds {m:?}"));
            }
        }
        for a in &row.attachments {
            if !customer.attachments.iter().any(|x| &x.name == a) {
                out.push(format!("relay lacks attachment {a}"));
            }
        }
        if outcome(answer) == "attachment-only" && customer.text.lines().count() != 1 {
            out.push(format!("attachment-only relay says {:?}", customer.text));
        }
    }
    let unchanged = matches!(outcome(answer), "machine" | "refuse");
    if unchanged && (ticket.status != before.status || ticket.priority != before.priority) {
        out.push(format!("ticket changed: {:?}", ticket.status));
    }
    if !relayed && ticket.first_response_at.is_some() {
        out.push("counted as a response".into());
    }
    let told = r.outgoing.iter().any(|o| o.kind == Kind::AgentError);
    if told != (outcome(answer) == "refuse") {
        out.push(format!("agent told: {told}"));
    }
    out
}

#[test]
fn every_agent_answer_in_the_corpus_does_what_it_must() {
    let sent = sent();
    let rows: Vec<Row> = table().into_iter().filter(|r| r.kind == "agent").collect();
    assert!(rows.len() >= 17, "{} agent rows", rows.len());
    let failures: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let p = check(row, &sent);
            (!p.is_empty()).then(|| format!("{} ({}): {}", row.file, row.style, p.join("; ")))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn without_knowing_what_was_sent_no_field_of_the_notification_is_relayed() {
    // A ticket whose outbox was compacted away: the markers alone must still keep the quoted
    // notification out of every relay (the pasted copy is what only matching can find).
    for row in table().into_iter().filter(|r| r.kind == "agent") {
        if row.file.contains("pasted-notification") || row.file.contains("red-inline") {
            continue;
        }
        let inbound = parse(&raw(&row)).unwrap();
        if let Answer::Read(r) = answer::read(&inbound, &[]) {
            for m in &row.relay_must_not {
                assert!(
                    !r.parsed.reply.contains(m.as_str()),
                    "{}: {m:?} in {:?}",
                    row.file,
                    r.parsed.reply
                );
            }
        }
    }
}
