//! The message templates: built in (`config/templates/<lang>/<name>.txt`, compiled into the
//! binary), each overridable by the operator's `templates_dir`, rendered with minijinja.

use std::collections::BTreeMap;

use crate::config::sections::Language;
use crate::mail::header::sanitize_header;

/// Every built-in template, in both languages.
macro_rules! builtin {
    ($($name:literal),*) => {
        &[$(
            (concat!("en/", $name), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates/en/", $name, ".txt"))),
            (concat!("zh/", $name), include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/templates/zh/", $name, ".txt"))),
        )*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin!(
    "ack",
    "followup",
    "progress",
    "closed",
    "escalated",
    "survey",
    "moved"
);

/// Why a template cannot be used. The messages name the template (`zh/ack`), for the log and for
/// the outbox item that records what was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    /// It does not compile or does not render.
    #[error("template {name}: {message}")]
    Invalid {
        /// `<lang>/<name>`.
        name: String,
        /// minijinja's explanation.
        message: String,
    },
    /// Its first line is not `Subject: …`.
    #[error("template {0}: first line must be `Subject: …`")]
    NoSubject(String),
}

/// The message templates: built in, each overridable by `<templates_dir>/<lang>/<name>.txt`.
#[derive(Debug, Clone)]
pub struct Templates {
    env: minijinja::Environment<'static>,
    /// Each queue with a `templates_dir` of its own: its templates.
    queues: BTreeMap<String, Templates>,
}

impl Templates {
    /// The names of every template, `<lang>/<name>` (e.g. `zh/ack`): what an operator's
    /// `templates_dir` may override, as `<dir>/<lang>/<name>.txt`.
    pub(crate) fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    #[cfg(test)]
    /// The built-in templates.
    pub(crate) fn builtin() -> Templates {
        Templates::with_overrides(&BTreeMap::new()).expect("the built-in templates compile")
    }

    /// The built-in templates, each replaced by the operator's text in `overrides` (keyed by
    /// [`Templates::names`]) when present; every template is compiled now so a broken override
    /// is reported at load, not at send.
    pub(crate) fn with_overrides(
        overrides: &BTreeMap<String, String>,
    ) -> Result<Templates, TemplateError> {
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(true);
        for (name, builtin) in BUILTIN {
            let source = overrides
                .get(*name)
                .cloned()
                .unwrap_or_else(|| (*builtin).to_owned());
            env.add_template_owned(*name, source)
                .map_err(|e| TemplateError::Invalid {
                    name: (*name).to_owned(),
                    message: e.to_string(),
                })?;
        }
        Ok(Templates {
            env,
            queues: BTreeMap::new(),
        })
    }

    /// Adds the templates of queue `name` (its own `templates_dir`).
    pub(crate) fn add_queue(&mut self, name: &str, templates: Templates) {
        self.queues.insert(name.to_lowercase(), templates);
    }

    /// The templates queue `name` writes with: its own, else these.
    pub(crate) fn in_queue(&self, name: &str) -> &Templates {
        self.queues.get(&name.to_lowercase()).unwrap_or(self)
    }

    /// Renders `<lang>/<name>`; the first line must be `Subject: …`, then a blank line, then the
    /// body.
    pub(crate) fn render(
        &self,
        lang: Language,
        name: &str,
        ctx: minijinja::Value,
    ) -> Result<(String, String), TemplateError> {
        let full = format!("{}/{name}", lang.as_str());
        let text = self
            .env
            .get_template(&full)
            .and_then(|t| t.render(ctx))
            .map_err(|e| TemplateError::Invalid {
                name: full.clone(),
                message: e.to_string(),
            })?;
        let text = text.replace("\r\n", "\n");
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| TemplateError::NoSubject(full.clone()))?;
        Ok((
            sanitize_header(subject),
            body.trim_start_matches('\n').trim_end().to_owned() + "\n",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_renders_in_both_languages() {
        let templates = Templates::builtin();
        let ctx = minijinja::context! {
            ticket => minijinja::context! { id => 1, tag => "[SUP-1]", subject => "s",
                priority => "P1", status => "open", status_text => "in progress" },
            customer_name => "c", response_time => "30 minutes", response_due => "today",
            received => minijinja::context! { subject => "s", attachments => Vec::<String>::new() },
            support_name => "Support", missing => vec!["url"],
            escalation => minijinja::context! { level => 2, by => "sla" },
        };
        for (name, _) in BUILTIN {
            let (lang, kind) = name.split_once('/').unwrap();
            let lang = if lang == "zh" {
                Language::Zh
            } else {
                Language::En
            };
            let (subject, body) = templates.render(lang, kind, ctx.clone()).unwrap();
            assert!(subject.contains("[SUP-1]"), "{name}: {subject}");
            assert!(body.len() > 40, "{name}: {body}");
        }
    }
}
