//! Reading an agent's mail, stricter than a customer's: what reaches the customer must be the
//! agent's own words, never our notification (its fields, due times, other customers' details).
//!
//! The new text is found by the quote rules ([`crate::mail::quote`]) wherever it sits, then
//! everything in it that is a copy of a mail we sent the agents is taken out by matching it
//! against what was sent, not by markers alone. When the agent's words cannot be told from the
//! quote with confidence (typed inside an unmarked copy, or an unmarked copy pasted among them),
//! nothing is done and the agent is told. A mailbox's automatic answer does nothing at all.

use crate::desk::commands::{Parsed, parse, strip_signature};
use crate::domain::outbox::{Kind, OutboxItem};
use crate::mail::autoreply::auto_reply;
use crate::mail::inbound::Inbound;
use crate::mail::parse as mail_parse;
use crate::mail::quote::markers::is_client_footer;
use crate::mail::quote::sent::{Sent, insertions, remove_copies};
use crate::mail::quote::{self, lines};

/// What an agent's mail is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A mailbox's automatic answer (an out-of-office), and why we think so: stored as internal,
    /// never relayed, not a response, no change.
    Machine(String),
    /// The agent's words cannot be told from the quote with confidence: nothing is done and the
    /// agent is told. The words, as far as they were read, are kept on the message record.
    Unsure(Unsure, String),
    /// The agent's answer.
    Read(Reading),
}

/// Why the agent's words cannot be told from the quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsure {
    /// Words typed inside an unmarked copy of a mail we sent.
    InsideQuote,
    /// An unmarked copy of a mail we sent among the agent's words.
    PastedCopy,
    /// No words, no command and no attachment.
    Nothing,
}

/// An agent's answer, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reading {
    /// Commands, the note, and the text for the customer (signature removed).
    pub(crate) parsed: Parsed,
    /// The agent's words as read, for the message record.
    pub(crate) words: String,
    /// Nothing for the customer but attachments: they are relayed with a neutral line.
    pub(crate) attachments_only: bool,
}

/// How many of a ticket's mails to agents are matched against, newest first.
pub(crate) const SENT_MAILS: usize = 32;

/// The texts of the mails to agents among `items` (a ticket's outbox): what an agent's answer
/// may quote that the customer must never see.
pub(crate) fn sent_texts(items: &[OutboxItem]) -> Vec<String> {
    items
        .iter()
        .filter(|i| matches!(i.kind, Kind::AgentNotify | Kind::AgentError) && !i.raw.is_empty())
        .take(SENT_MAILS)
        .filter_map(|i| mail_parse::parse(i.raw.as_bytes()).ok())
        .map(|m| m.text)
        .collect()
}

/// Reads agent mail `inbound`, with `sent` the texts of the mails we sent the agents about its
/// ticket, newest first.
pub(crate) fn read(inbound: &Inbound, sent: &[String]) -> Answer {
    if let Some(why) = auto_reply(inbound) {
        return Answer::Machine(why);
    }
    let split = inbound.split();
    let sent = Sent::new(sent.iter().map(String::as_str));
    let cleaned = remove_copies(&split.new_text, &sent, false);
    // For agents the customer's lines an inline answer answers stay, as context; the customer
    // gets the agent's words alone.
    let words = quote::tidy(&remove_copies(&split.new_text, &sent, true).text);
    if !insertions(&split.unquoted_history, &sent).is_empty() {
        return Answer::Unsure(Unsure::InsideQuote, words);
    }
    if cleaned.pasted {
        return Answer::Unsure(Unsure::PastedCopy, words);
    }
    let mut parsed = parse(&strip_signature(&cleaned.text));
    if only_footers(&parsed.reply) {
        parsed.reply.clear();
    }
    let nothing = parsed.reply.is_empty() && parsed.note.is_none() && parsed.commands.is_empty();
    if nothing && parsed.errors.is_empty() && inbound.attachments.is_empty() {
        return Answer::Unsure(Unsure::Nothing, words);
    }
    Answer::Read(Reading {
        words,
        attachments_only: nothing && !inbound.attachments.is_empty(),
        parsed,
    })
}

/// Text that is nothing but a phone's or a client's footer (`Sent from my iPhone`).
fn only_footers(text: &str) -> bool {
    lines::lines(text)
        .iter()
        .filter(|l| !l.is_blank())
        .all(|l| l.depth == 0 && is_client_footer(l.content()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::commands::Command;
    use crate::domain::status::Status;
    use crate::mail::inbound::Attachment;

    const NOTE: &str = "New ticket [SUP-7]\n\nCustomer:  C1007 (wang.wu@customer.example)\nFrom:      Wang Wu <wang.wu@customer.example>\nPriority:  P2\nAssignee:  alice\n\n----------------------------------------\nHello,\n\nSince last night our admin panel returns 502.\n----------------------------------------\n\nReply to this mail to answer the customer.";

    fn agent(body: &str) -> Inbound {
        Inbound::sample("alice@example.com", "Re: [SUP-7] [P2] Admin login", body)
    }

    fn quoted(text: &str) -> String {
        text.lines()
            .map(|l| format!("> {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn reading(a: Answer) -> Reading {
        match a {
            Answer::Read(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bottom_post_with_commands_below_the_quote() {
        let body = format!(
            "On 2025/4/29 11:32, Example Support wrote:\n{}\n\n#status resolved\nHi Wang, fixed.\n\n-- \nAlice\n+86 21 5555 0100",
            quoted(NOTE)
        );
        let r = reading(read(&agent(&body), &[NOTE.to_owned()]));
        assert_eq!(r.parsed.commands, [Command::Status(Status::Resolved)]);
        assert_eq!(r.parsed.reply, "Hi Wang, fixed.");
    }

    #[test]
    fn inline_context_from_our_notification_is_not_relayed() {
        let body = format!(
            "On 2025/4/29 11:32, Example Support wrote:\n{}\n\nThat is the PHP worker limit.\n\n> Reply to this mail to answer the customer.",
            quoted(&NOTE[..NOTE.find("returns 502.").unwrap() + 12])
        );
        let r = reading(read(&agent(&body), &[NOTE.to_owned()]));
        assert_eq!(r.parsed.reply, "That is the PHP worker limit.");
        // Without knowing what was sent, the quote rules alone still keep the fields out.
        let r = reading(read(&agent(&body), &[]));
        assert!(!r.parsed.reply.contains("Assignee"), "{}", r.parsed.reply);
    }

    #[test]
    fn a_note_anywhere_keeps_the_whole_mail_internal() {
        let body = format!(
            "{}\n\nWorking on it.\n\n#note root password is Vb4#kR9q",
            quoted(NOTE)
        );
        let r = reading(read(&agent(&body), &[NOTE.to_owned()]));
        assert_eq!(r.parsed.reply, "");
        assert!(r.parsed.note.unwrap().contains("Working on it"));
    }

    #[test]
    fn answers_inside_an_unmarked_copy_and_pasted_copies_are_refused() {
        let inside = NOTE.replace(
            "returns 502.\n",
            "returns 502.\nThat is the PHP limit, raised now.\n",
        );
        let body = format!(
            "See my answers below.\n\nFrom: Example Support <support@example.com>\nSent: Tuesday\nTo: Alice\nSubject: [SUP-7]\n\n{inside}"
        );
        assert!(matches!(
            read(&agent(&body), &[NOTE.to_owned()]),
            Answer::Unsure(Unsure::InsideQuote, _)
        ));
        let body = format!("I will call them tonight.\n\n{NOTE}");
        assert_eq!(
            read(&agent(&body), &[NOTE.to_owned()]),
            Answer::Unsure(Unsure::PastedCopy, "I will call them tonight.".into())
        );
        assert!(matches!(
            read(&agent(&quoted(NOTE)), &[NOTE.to_owned()]),
            Answer::Unsure(Unsure::Nothing, _)
        ));
    }

    #[test]
    fn an_attachment_with_only_a_phone_footer_is_attachments_only() {
        let mut m = agent(&format!("Sent from my iPhone\n\n{}", quoted(NOTE)));
        m.attachments.push(Attachment {
            name: "screenshot.png".into(),
            content_type: "image/png".into(),
            size: 3,
            data: vec![1, 2, 3],
            content_id: None,
            inline: false,
        });
        let r = reading(read(&m, &[NOTE.to_owned()]));
        assert!(r.attachments_only && r.parsed.reply.is_empty());
    }

    #[test]
    fn out_of_office_is_a_machine() {
        let mut m = agent("I am out of the office until May 6. Call +86 139 1234 5678.");
        m.subject = "Automatic reply: [SUP-7] [P2] Admin login".into();
        assert!(matches!(read(&m, &[]), Answer::Machine(_)));
    }
}
