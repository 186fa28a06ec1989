//! `[sla]`: the targets per priority, the escalation ladder's timing, the classification rules
//! and the on-call rota, as the operator writes them ([`SlaConfig`]) and validated into the
//! [`SlaPolicy`] every SLA function reads.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;

use crate::domain::calendar::{Calendar, TimeRange, date_text, parse_date};
use crate::domain::priority::Priority;
use crate::domain::problem::Problem;
use crate::domain::sla::targets::{Target, Targets, default_targets};

/// The index of `p` in per-priority arrays, most urgent first.
fn index(p: Priority) -> usize {
    p as usize
}

/// `[sla.targets.P1]` …: any key left out keeps that priority's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TargetConfig {
    /// First-response target, e.g. `"30m"`.
    pub(crate) respond: Option<String>,
    /// Resolution target, e.g. `"3d"`.
    pub(crate) resolve: Option<String>,
    /// Update interval, e.g. `"15m"`; `"none"` turns the update clock off.
    pub(crate) update: Option<String>,
    /// Count in business hours instead of around the clock.
    pub(crate) business_hours: Option<bool>,
}

/// `[sla.targets]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TargetsConfig {
    /// P1.
    #[serde(rename = "P1")]
    pub(crate) p1: TargetConfig,
    /// P2.
    #[serde(rename = "P2")]
    pub(crate) p2: TargetConfig,
    /// P3.
    #[serde(rename = "P3")]
    pub(crate) p3: TargetConfig,
    /// P4.
    #[serde(rename = "P4")]
    pub(crate) p4: TargetConfig,
}

/// Which part of a mail a rule reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Field {
    /// Subject or body.
    #[default]
    Any,
    /// Subject only.
    Subject,
    /// Body only.
    Body,
}

/// `[[sla.rules]]`: a classification rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleConfig {
    /// Name reported as the deciding rule; `rules[i]` when absent.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Regular expression, matched case-insensitively.
    pub(crate) pattern: String,
    /// Priority of a mail it matches.
    pub(crate) priority: Priority,
    /// What it reads.
    #[serde(default)]
    pub(crate) field: Field,
}

/// `[[sla.oncall]]`: one stretch of the on-call rota.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OnCallConfig {
    /// First date (local, inclusive).
    #[serde(deserialize_with = "date_text")]
    pub(crate) from: String,
    /// Last date (inclusive); a night shift starting on it runs into the next morning.
    #[serde(deserialize_with = "date_text")]
    pub(crate) to: String,
    /// Daily hours, e.g. `"18:00-09:00"` (wraps midnight); the whole day when absent.
    #[serde(default)]
    pub(crate) hours: Option<String>,
    /// Agent on call.
    pub(crate) primary: String,
    /// Second agent, added at breach and later.
    #[serde(default)]
    pub(crate) backup: Option<String>,
}

/// `[sla]` as written in the configuration; [`SlaConfig::build`] validates it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SlaConfig {
    pub(crate) targets: TargetsConfig,
    /// Share of a target after which the assignee is warned, strictly between 0 and 1.
    pub(crate) warn_at: f64,
    /// How long after a breach the supervisor is told (business time on business-hours
    /// priorities).
    pub(crate) supervisor_delay: String,
    /// The most urgent priority a customer can declare in the subject.
    pub(crate) declared_ceiling: Priority,
    /// Words that declare P1 when they appear in the subject (not after 不/非/not/no).
    pub(crate) urgent_words: Vec<String>,
    /// Words in a customer's follow-up (quoted history excluded) that ask for escalation (not
    /// after 不/非/not/no).
    pub(crate) escalation_words: Vec<String>,
    /// Append the built-in zh/en rules after `rules`.
    pub(crate) default_rules: bool,
    /// Classification rules; the most urgent match wins, ties go to the first.
    pub(crate) rules: Vec<RuleConfig>,
    /// On-call rota; the first entry covering an instant wins.
    pub(crate) oncall: Vec<OnCallConfig>,
}

impl Default for SlaConfig {
    fn default() -> Self {
        SlaConfig {
            targets: TargetsConfig::default(),
            warn_at: 0.8,
            supervisor_delay: "30m".into(),
            declared_ceiling: Priority::P2,
            urgent_words: ["紧急", "加急", "urgent"].map(String::from).to_vec(),
            escalation_words: DEFAULT_ESCALATION_WORDS.map(String::from).to_vec(),
            default_rules: true,
            rules: Vec::new(),
            oncall: Vec::new(),
        }
    }
}

/// The escalation words a customer may use by default.
///
/// Bare `升级` is left out on purpose: to a hosting customer it mostly means *upgrade* ("PHP 升级
/// 后网站打不开"), and escalating every upgrade question would drown tier 2. The phrases say
/// "escalate this" unambiguously; an operator who wants `升级` alone can add it.
pub(crate) const DEFAULT_ESCALATION_WORDS: [&str; 13] = [
    "要求升级",
    "请升级",
    "申请升级",
    "升级处理",
    "升级工单",
    "投诉",
    "找主管",
    "找经理",
    "找领导",
    "escalate",
    "escalation",
    "supervisor",
    "complaint",
];

/// The built-in rules, appended after the configured ones unless `default_rules = false`.
///
/// Chinese has no word boundaries, so Chinese keywords match anywhere; English words use ASCII
/// boundaries (`(?-u:\b)`) so that mixed text such as `网站down了` still matches.
pub(crate) fn default_rules() -> Vec<RuleConfig> {
    let rule = |name: &str, priority, field, pattern: &str| RuleConfig {
        name: Some(name.into()),
        pattern: pattern.into(),
        priority,
        field,
    };
    use Field::{Any, Subject};
    use Priority::{P1, P2, P4};
    vec![
        rule(
            "outage-zh",
            P1,
            Any,
            concat!(
                "宕机|挂了|挂掉|瘫痪|无法访问|不能访问|访问不了|打不开|全站",
                "|数据丢失|丢失数据|数据丢了|攻击|被黑|入侵|勒索",
            ),
        ),
        rule(
            "outage-en",
            P1,
            Any,
            concat!(
                r"(?-u:\b)(?:outage|cannot access|can ?not access|can'?t access|unable to access",
                r"|unreachable|inaccessible|data loss|lost (?:all )?(?:our )?data|under attack",
                r"|attacked|ddos|hacked|ransomware)(?-u:\b)",
                // "down" only where it means down: "site is down", not "slow down" or "drop-down".
                r"|(?-u:\b)(?:site|server|servers|service|website|app|api|system|database",
                r"|everything|it'?s|is|are|was|were|went|goes|gone|been)",
                r"\s+(?:completely\s+|totally\s+|still\s+)?down(?-u:\b)",
                // …or alone before punctuation or 了: "网站down了", "DOWN!", "down again."
                r"|(?:^|[^a-z0-9_-])down(?:\s+again|\s+since)?\s*(?:$|[!.,:;)\]】，。！]|了)",
            ),
        ),
        rule(
            "http-5xx",
            P1,
            Any,
            // A status code only next to words that make it one: "we have 500 users" is not.
            concat!(
                r"(?:http|error|错误|报错|状态码|status|code|返回)\s*[:：]?\s*50[0234](?-u:\b)",
                r"|(?-u:\b)50[0234]\s*(?:error|错误|internal|bad gateway|service unavailable",
                r"|gateway)",
            ),
        ),
        rule(
            "broken-zh",
            P2,
            Any,
            concat!(
                "无法登录|登录不了|登不上|不能登录|支付失败|无法支付|付不了款|无法下单|下不了单",
                "|功能异常|功能失效|不能用|无法使用|用不了",
            ),
        ),
        rule(
            "broken-en",
            P2,
            Any,
            concat!(
                r"(?-u:\b)(?:(?:cannot|can'?t|unable to) (?:log ?in|sign ?in|pay|check ?out",
                r"|place (?:an )?orders?)|(?:login|log-?in|sign-?in|payment|checkout) (?:is )?",
                r"(?:fails?|failed|failing|broken|not working)|not working|doesn'?t work|broken)",
                r"(?-u:\b)",
            ),
        ),
        rule(
            "question-zh",
            P4,
            Subject,
            "咨询|请问|如何|怎么|怎样|能否|是否支持|建议|错别字|文案|样式|颜色|对齐",
        ),
        rule(
            "question-en",
            P4,
            Subject,
            concat!(
                r"(?-u:\b)(?:question|how (?:do|can|to|does)|is it possible|typo|cosmetic",
                r"|suggestion|feature request|wondering|misaligned|alignment|colou?r|font)(?-u:\b)",
            ),
        ),
    ]
}

/// A compiled classification rule.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Reported as the deciding rule.
    pub(crate) name: String,
    pub(crate) regex: Regex,
    /// Priority of a match.
    pub(crate) priority: Priority,
    /// What it reads.
    pub(crate) field: Field,
}

/// A validated rota entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OnCall {
    /// First date, inclusive.
    pub(crate) from: NaiveDate,
    /// Last date, inclusive.
    pub(crate) to: NaiveDate,
    /// Daily hours; may wrap past midnight.
    pub(crate) hours: TimeRange,
    /// Agent on call.
    pub(crate) primary: String,
    pub(crate) backup: Option<String>,
}

impl OnCall {
    /// True when the rota entry covers the local wall-clock time `local`: some date from `from`
    /// to `to` has a shift containing it (a night shift belongs to the date it starts on).
    pub(crate) fn covers(&self, local: NaiveDateTime) -> bool {
        let d = local.date();
        [d.pred_opt(), Some(d)]
            .into_iter()
            .flatten()
            .filter(|day| (self.from..=self.to).contains(day))
            .any(|day| {
                let (start, end) = self.hours.on(day);
                start <= local && local < end
            })
    }
}

/// `[sla]`, validated: what every function of this module reads.
#[derive(Debug, Clone)]
pub struct SlaPolicy {
    pub(super) targets: [Targets; 4],
    pub(super) warn_at: f64,
    pub(super) supervisor_delay: Target,
    pub(super) declared_ceiling: Priority,
    pub(super) urgent_words: Vec<String>,
    pub(super) escalation_words: Vec<String>,
    pub(super) rules: Vec<Rule>,
    pub(super) oncall: Vec<OnCall>,
}

impl Default for SlaPolicy {
    fn default() -> Self {
        SlaConfig::default()
            .build("sla")
            .expect("the default SLA configuration is valid")
    }
}

impl SlaConfig {
    /// Validates the configuration; `key` is the section's dotted name (`sla`), prefixed to
    /// every problem's key. All problems are reported, not just the first.
    pub(crate) fn build(&self, key: &str) -> Result<SlaPolicy, Vec<Problem>> {
        let mut problems = Vec::new();
        let targets = self.targets(key, &mut problems);
        if !(self.warn_at > 0.0 && self.warn_at < 1.0) {
            problems.push(Problem {
                key: format!("{key}.warn_at"),
                message: format!(
                    "{} must be a share strictly between 0 and 1, such as 0.8",
                    self.warn_at
                ),
            });
        }
        let supervisor_delay = Target::parse(&self.supervisor_delay)
            .map_err(|e| {
                problems.push(Problem {
                    key: format!("{key}.supervisor_delay"),
                    message: e.to_string(),
                })
            })
            .unwrap_or(Target::minutes(30));
        let urgent_words = words(key, "urgent_words", &self.urgent_words, &mut problems);
        let escalation_words = words(
            key,
            "escalation_words",
            &self.escalation_words,
            &mut problems,
        );
        let rules = self.rules(key, &mut problems);
        let oncall = self.oncall(key, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(SlaPolicy {
            targets,
            warn_at: self.warn_at,
            supervisor_delay,
            declared_ceiling: self.declared_ceiling,
            urgent_words,
            escalation_words,
            rules,
            oncall,
        })
    }

    /// Each priority's targets: its defaults with the configured keys replaced.
    fn targets(&self, key: &str, problems: &mut Vec<Problem>) -> [Targets; 4] {
        let configured = [
            &self.targets.p1,
            &self.targets.p2,
            &self.targets.p3,
            &self.targets.p4,
        ];
        let mut targets = Priority::ALL.map(default_targets);
        for (p, cfg) in Priority::ALL.into_iter().zip(configured) {
            let t = &mut targets[index(p)];
            let k = format!("{key}.targets.{p}");
            let mut parse = |field: &str, v: &str| {
                Target::parse(v)
                    .map_err(|e| {
                        problems.push(Problem {
                            key: format!("{k}.{field}"),
                            message: e.to_string(),
                        })
                    })
                    .ok()
            };
            if let Some(v) = &cfg.respond
                && let Some(x) = parse("respond", v)
            {
                t.respond = x;
            }
            if let Some(v) = &cfg.resolve
                && let Some(x) = parse("resolve", v)
            {
                t.resolve = x;
            }
            match cfg.update.as_deref().map(str::trim) {
                None => {}
                Some(v) if v.eq_ignore_ascii_case("none") || v.eq_ignore_ascii_case("off") => {
                    t.update = None
                }
                Some(v) => {
                    if let Some(x) = parse("update", v) {
                        t.update = Some(x);
                    }
                }
            }
            if let Some(b) = cfg.business_hours {
                t.business_hours = b;
            }
        }
        targets
    }

    /// The configured rules, then the built-in ones unless `default_rules = false`, compiled.
    fn rules(&self, key: &str, problems: &mut Vec<Problem>) -> Vec<Rule> {
        let mut problem = |k: String, message: String| problems.push(Problem { key: k, message });
        let mut rules = Vec::new();
        let defaults = if self.default_rules {
            default_rules()
        } else {
            Vec::new()
        };
        let configured = self.rules.iter().enumerate().map(|(i, r)| (Some(i), r));
        for (i, r) in configured.chain(defaults.iter().map(|r| (None, r))) {
            let (k, fallback_name) = match i {
                Some(i) => (format!("{key}.rules[{i}]"), format!("rules[{i}]")),
                None => (format!("{key}.default_rules"), String::new()),
            };
            if r.pattern.trim().is_empty() {
                problem(format!("{k}.pattern"), "must not be empty".into());
                continue;
            }
            match RegexBuilder::new(&r.pattern).case_insensitive(true).build() {
                Ok(regex) => rules.push(Rule {
                    name: r.name.clone().unwrap_or(fallback_name),
                    regex,
                    priority: r.priority,
                    field: r.field,
                }),
                Err(e) => problem(
                    format!("{k}.pattern"),
                    format!("invalid regex: {}", e.to_string().replace('\n', " ")),
                ),
            }
        }
        rules
    }

    /// The rota, each entry's dates, hours and names checked.
    fn oncall(&self, key: &str, problems: &mut Vec<Problem>) -> Vec<OnCall> {
        let mut problem = |k: String, message: String| problems.push(Problem { key: k, message });
        let mut oncall = Vec::new();
        for (i, o) in self.oncall.iter().enumerate() {
            let k = format!("{key}.oncall[{i}]");
            let from = parse_date(&o.from).map_err(|e| problem(format!("{k}.from"), e.to_string()));
            let to = parse_date(&o.to).map_err(|e| problem(format!("{k}.to"), e.to_string()));
            if let (Ok(f), Ok(t)) = (from, to)
                && t < f
            {
                problem(format!("{k}.to"), format!("{t} is before from ({f})"));
            }
            let hours = match o.hours.as_deref() {
                None => Ok(TimeRange::ALL_DAY),
                Some(h) => match TimeRange::parse(h) {
                    Ok(r) if r.start == r.end => {
                        problem(
                            format!("{k}.hours"),
                            format!("`{h}` is empty; leave `hours` out for the whole day"),
                        );
                        Err(())
                    }
                    Ok(r) => Ok(r),
                    Err(e) => {
                        problem(format!("{k}.hours"), e.to_string());
                        Err(())
                    }
                },
            };
            if o.primary.trim().is_empty() {
                problem(format!("{k}.primary"), "must name an agent".into());
            }
            if let Some(b) = &o.backup
                && (b.trim().is_empty() || b.eq_ignore_ascii_case(&o.primary))
            {
                problem(
                    format!("{k}.backup"),
                    "must name an agent other than the primary".into(),
                );
            }
            if let (Ok(from), Ok(to), Ok(hours)) = (from, to, hours) {
                oncall.push(OnCall {
                    from,
                    to,
                    hours,
                    primary: o.primary.trim().to_owned(),
                    backup: o.backup.as_ref().map(|b| b.trim().to_owned()),
                });
            }
        }
        oncall
    }
}

/// A word list, trimmed and lower-cased; an empty entry is a problem at `key.name[i]`.
fn words(key: &str, name: &str, list: &[String], problems: &mut Vec<Problem>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in list.iter().enumerate() {
        if w.trim().is_empty() {
            problems.push(Problem {
                key: format!("{key}.{name}[{i}]"),
                message: "must not be empty".into(),
            });
        } else {
            out.push(w.trim().to_lowercase());
        }
    }
    out
}

impl SlaPolicy {
    /// The targets of `p`.
    pub(crate) fn targets(&self, p: Priority) -> &Targets {
        &self.targets[index(p)]
    }

    #[cfg(test)]
    /// Share of a target after which the assignee is warned.
    pub(crate) fn warn_at(&self) -> f64 {
        self.warn_at
    }

    #[cfg(test)]
    /// Delay from breach to the supervisor step.
    pub(crate) fn supervisor_delay(&self) -> Target {
        self.supervisor_delay
    }

    #[cfg(test)]
    /// The most urgent priority a customer can declare.
    pub(crate) fn declared_ceiling(&self) -> Priority {
        self.declared_ceiling
    }

    #[cfg(test)]
    /// Classification rules, configured ones first.
    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }

    #[cfg(test)]
    /// The on-call rota.
    pub(crate) fn oncall(&self) -> &[OnCall] {
        &self.oncall
    }

    /// The rota entry covering `now` (in the calendar's zone), if any.
    pub(crate) fn on_call_at(&self, now: DateTime<Utc>, cal: &Calendar) -> Option<&OnCall> {
        let local = now.with_timezone(&cal.tz()).naive_local();
        self.oncall.iter().find(|o| o.covers(local))
    }

    /// Problems for rota names that `is_agent` does not know, keyed like
    /// `sla.oncall[0].primary`; the caller checks them against `[[agents]]`.
    pub(crate) fn check_agents(&self, is_agent: impl Fn(&str) -> bool, key: &str) -> Vec<Problem> {
        let mut out = Vec::new();
        for (i, o) in self.oncall.iter().enumerate() {
            let names = [("primary", Some(&o.primary)), ("backup", o.backup.as_ref())];
            for (field, name) in names {
                if let Some(n) = name
                    && !is_agent(n)
                {
                    out.push(Problem {
                        key: format!("{key}.oncall[{i}].{field}"),
                        message: format!("`{n}` is not an agent in [[agents]]"),
                    });
                }
            }
        }
        out
    }
}
