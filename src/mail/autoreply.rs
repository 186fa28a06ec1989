//! Whether a mail is a mailbox's automatic answer (an out-of-office, a vacation notice), by its
//! headers or, where a client-side rule sent it with none, by its subject.
//!
//! Narrower than [`MachineFlags::is_machine_generated`](crate::mail::inbound::MachineFlags):
//! an agent's real answer may well pass a mailing list or carry `Precedence: list`, and must not
//! be taken for a robot's.

use std::sync::LazyLock;

use regex::Regex;

use crate::mail::inbound::Inbound;

/// Subjects of automatic answers, in the languages our users' mailboxes answer in: Outlook's
/// `自动答复:`/`Automatic reply:`, Exmail's and 163's `自动回复:`, `Out of Office:`, ...
static SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:\[\s*)?(?:自动回复|自动答复|自動回覆|自動回復|自動答覆|自动应答|自動応答|不在通知|automatic reply|auto reply|auto-reply|autoreply|auto response|auto-response|autoresponse|automated reply|out of office(?: autoreply| reply)?|out of the office|vacation reply|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática|risposta automatica)\s*(?:\]|[:：])",
    )
    .expect("valid regex")
});

/// Why `inbound` is a mailbox's automatic answer, or `None` when a person wrote it.
pub(crate) fn auto_reply(inbound: &Inbound) -> Option<String> {
    let m = &inbound.machine;
    if let Some(value) = &m.auto_submitted {
        return Some(format!("Auto-Submitted: {value}"));
    }
    if m.x_autoreply {
        return Some("X-Autoreply header present".to_owned());
    }
    if m.precedence.as_deref() == Some("auto_reply") {
        return Some("Precedence: auto_reply".to_owned());
    }
    SUBJECT
        .is_match(&inbound.subject)
        .then(|| format!("out-of-office subject \"{}\"", inbound.subject))
}

/// Whether `inbound` answers a mail automatically (an out-of-office, a vacation notice), rather
/// than reports something of its own as a monitoring alert does (`Auto-Submitted:
/// auto-generated`).
pub(crate) fn out_of_office(inbound: &Inbound) -> bool {
    let m = &inbound.machine;
    m.auto_submitted.as_deref() == Some("auto-replied")
        || m.x_autoreply
        || m.precedence.as_deref() == Some("auto_reply")
        || SUBJECT.is_match(&inbound.subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(s: &str) -> Option<String> {
        auto_reply(&Inbound::sample("a@x", s, "text"))
    }

    #[test]
    fn subjects_of_automatic_answers() {
        for s in [
            "自动回复: [SUP-8] [P2] 后台登录后显示 502",
            "自动答复: 回复: x",
            "自動回覆：x",
            "Automatic reply: [SUP-7] Admin login returns 502",
            "Out of Office: x",
            "Out of Office AutoReply: x",
            "AutoReply: x",
            "[Auto-Reply] x",
            "Abwesenheitsnotiz: x",
        ] {
            assert!(subject(s).is_some(), "{s}");
        }
        for s in [
            "Re: [SUP-7] Automatic reply not working",
            "回复：自动回复功能坏了",
            "Out of office hours support",
        ] {
            assert!(subject(s).is_none(), "{s}");
        }
    }

    #[test]
    fn headers_of_automatic_answers() {
        let mut m = Inbound::sample("a@x", "Re: x", "text");
        assert!(auto_reply(&m).is_none());
        m.machine.auto_submitted = Some("auto-replied".into());
        assert_eq!(auto_reply(&m).unwrap(), "Auto-Submitted: auto-replied");
        let mut m = Inbound::sample("a@x", "Re: x", "text");
        m.machine.x_autoreply = true;
        assert!(auto_reply(&m).is_some());
        // A list an agent's answer passed through is no robot.
        let mut m = Inbound::sample("a@x", "Re: x", "text");
        m.machine.list = true;
        m.machine.precedence = Some("list".into());
        assert!(auto_reply(&m).is_none());
        // A monitoring alert is a machine's mail, but answers nothing.
        let mut m = Inbound::sample("a@x", "Disk full on web-05", "text");
        m.machine.auto_submitted = Some("auto-generated".into());
        assert!(auto_reply(&m).is_some() && !out_of_office(&m));
        m.subject = "自动回复：我在休假".into();
        assert!(out_of_office(&m));
    }
}
