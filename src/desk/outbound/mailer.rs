//! Writing one automatic mail with the per-recipient caps applied: the templates and the rate
//! history are what the desk needs from outside to send anything.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::desk::effect::Effect;
use crate::desk::outbound::compose::{self, Draft};
use crate::desk::outbound::may_answer::rate_limited;
use crate::desk::outbound::templates::Templates;
use crate::domain::outbox::{OutboxItem, State};

/// What the desk needs to write mail: the templates and, per recipient address (lower-case),
/// the times of automatic mails already sent to it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mailer<'a> {
    pub(crate) templates: &'a Templates,
    /// Rate history by recipient.
    pub(crate) history: &'a HashMap<String, Vec<DateTime<Utc>>>,
}

impl Mailer<'_> {
    /// Builds the mail for `draft` and applies the per-recipient caps: a capped or unbuildable mail
    /// is kept as a suppressed outbox item so the ticket shows what was not sent and why.
    pub(crate) fn write(
        self,
        config: &Config,
        draft: &Draft<'_>,
        now: DateTime<Utc>,
        effects: &mut Vec<Effect>,
    ) -> OutboxItem {
        let out = config
            .outbound
            .as_ref()
            .expect("only called with outbound configured");
        // Each queue writes with its own templates, if it has any.
        let templates = self
            .templates
            .in_queue(&config.queue(&draft.ticket.queue).name);
        match compose::build(config, out, templates, draft, now) {
            Ok(mut item) => {
                for r in &item.to {
                    let empty = Vec::new();
                    let h = self.history.get(&r.to_lowercase()).unwrap_or(&empty);
                    if let Some(why) = rate_limited(&out.rate_limits, h, now) {
                        effects.push(Effect::Log(format!(
                            "{:?} to {r} suppressed: {why}",
                            draft.kind
                        )));
                        item.state = State::Suppressed { reason: why };
                        break;
                    }
                }
                item
            }
            Err(why) => {
                effects.push(Effect::Log(format!("{:?} not built: {why}", draft.kind)));
                OutboxItem::suppressed(
                    draft.ticket.id,
                    draft.kind,
                    &config.support.address,
                    vec![draft.ticket.requester.address.clone()],
                    why.to_string(),
                    now,
                )
            }
        }
    }
}
