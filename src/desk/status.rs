//! A ticket's status changed from outside a mail (`supportd ticket set-status`, the control
//! socket): the clocks follow, and the customer hears of it when configured (a progress mail,
//! or the satisfaction survey on resolving). The clock rules shared with mail live here too.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::config::sections::Language;
use crate::desk::effect::Effect;
use crate::desk::outbound::compose::Draft;
use crate::desk::outbound::mailer::Mailer;
use crate::desk::outbound::wording::lang_of_ticket;
use crate::domain::outbox::{Kind, OutboxItem, State};
use crate::domain::status::Status;
use crate::domain::ticket::Ticket;

/// Changes a ticket's status. Returns `None` when nothing changes; otherwise the new ticket and
/// the progress mail to the customer (when configured).
pub(crate) fn set_status(
    config: &Config,
    mailer: Option<Mailer<'_>>,
    ticket: &Ticket,
    status: Status,
    now: DateTime<Utc>,
) -> Option<(Ticket, Vec<OutboxItem>, Vec<Effect>)> {
    if ticket.status == status {
        return None;
    }
    let mut t = ticket.clone();
    t.status = status;
    t.updated_at = now;
    if status == Status::Resolved {
        t.resolved_at = Some(now);
    }
    sync_clocks(config, ticket, &mut t, false, now);
    let mut effects = vec![Effect::Log(format!(
        "ticket {} status {} -> {}",
        t.id, ticket.status, status
    ))];
    let mut outgoing = Vec::new();
    if let (Some(mailer), Some(out)) = (mailer, &config.outbound) {
        let draft = if status == Status::Resolved && out.survey {
            Some(survey_draft(&t, out.language))
        } else {
            out.progress.then(|| Draft {
                kind: Kind::Progress,
                ticket: &t,
                inbound: None,
                lang: lang_of_ticket(&t, out.language),
                extra: BTreeMap::new(),
                cause: format!("progress:{}:{}:{}", t.id, status, now.timestamp_micros()),
            })
        };
        if let Some(draft) = draft {
            let item = mailer.write(config, &draft, now, &mut effects);
            // An operator's status change the customer hears about is an update.
            if item.state == State::Pending {
                t.sla = t.sla.on_customer_visible_update(
                    &config.calendar,
                    &config.sla,
                    t.priority,
                    now,
                );
            }
            outgoing.push(item);
        }
    }
    Some((t, outgoing, effects))
}

/// Moves the SLA clocks along with what changed between `before` and `after`: an agent's reply
/// stops the first-response clock and restarts the update clock, a priority change recomputes
/// the due times, a status change pauses (pending), resumes or stops them.
pub(crate) fn sync_clocks(
    config: &Config,
    before: &Ticket,
    after: &mut Ticket,
    agent_replied: bool,
    now: DateTime<Utc>,
) {
    let (cal, sla) = (&config.calendar, &config.sla);
    let mut clocks = after.sla.clone();
    if agent_replied {
        clocks = clocks.on_agent_reply(cal, sla, after.priority, now);
    }
    if after.priority != before.priority {
        clocks = clocks.on_priority_change(cal, sla, after.priority, now);
    }
    if after.status != before.status {
        clocks = clocks.on_status(cal, sla, after.priority, after.status, now);
    }
    after.sla = clocks;
}

/// The satisfaction survey for a ticket just resolved; one per resolution cycle, so a repeated
/// event cannot ask twice.
pub(crate) fn survey_draft(t: &Ticket, default: Language) -> Draft<'_> {
    Draft {
        kind: Kind::Survey,
        ticket: t,
        inbound: None,
        lang: lang_of_ticket(t, default),
        extra: BTreeMap::new(),
        cause: format!("survey:{}:{}", t.id, t.sla.resolution.cycle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desk::testing::{config, mailer, p1_ticket, tuesday_10am};

    #[test]
    fn resolving_asks_for_a_score_once() {
        let config = config();
        let mailer = mailer();
        let t0 = tuesday_10am();
        let mut t = p1_ticket(&config, t0);
        t.status = Status::Open;
        let (t1, mails, _) = set_status(&config, Some(mailer), &t, Status::Resolved, t0).unwrap();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].kind, Kind::Survey);
        assert!(
            mails[0].raw.contains("1 (very unhappy) to 5"),
            "{}",
            mails[0].raw
        );
        let again = set_status(&config, Some(mailer), &t, Status::Resolved, t0).unwrap();
        assert_eq!(
            again.1[0].message_id, mails[0].message_id,
            "same cycle, same mail"
        );
        assert!(set_status(&config, Some(mailer), &t1, Status::Resolved, t0).is_none());
    }
}
