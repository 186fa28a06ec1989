//! The SLA core: priority targets, classification, the three clocks of a ticket, the escalation
//! ladder and who gets each escalation.
//!
//! Pure: no I/O and no clock. *Now* is always a parameter, every event function takes the
//! ticket's [`Clocks`] and returns new ones, and the shell persists them. Business-hours
//! arithmetic comes from [`crate::domain::calendar`].
//!
//! # Clocks
//! Each ticket has three [`Clock`]s:
//! - **first response**: started at creation, stopped by the first agent reply;
//! - **update** (only for priorities with an `update` target, by default P1 and P2): started by the
//!   first agent reply and restarted by every customer-visible update, so it measures the gap
//!   since the customer last heard from us;
//! - **resolution**: started at creation, stopped when the ticket is resolved or closed, and
//!   restarted (a new *cycle*, full target) when it is reopened.
//!
//! While the ticket is pending (waiting for the customer) every running clock is paused. When it
//! leaves pending, the paused time is added to the clock and its due times move later by exactly
//! that much: wall-clock time for 24×7 priorities, business time for business-hours priorities
//! (a pause over a weekend costs a business-hours ticket nothing but the business hours inside
//! it). Both totals are kept, so a priority change between the two kinds stays exact.
//!
//! # Escalation ladder
//! Per clock cycle, each [`Step`] fires at most once:
//! - first response and resolution: [`Step::Warning`] at `warn_at` of the target, [`Step::Breach`]
//!   at the due time, [`Step::Supervisor`] `supervisor_delay` after it;
//! - update: [`Step::UpdateReminder`] at the due time (remind the assignee to send a progress
//!   update), [`Step::Supervisor`] `supervisor_delay` after it. There is no warning: on a P1 the
//!   cycle is 15 minutes, and a warning every 12 would be noise the reminder already covers.
//!
//! The fired steps live in the clock, and the shell persists them in the same transaction as the
//! mails they cause; that is what makes each step exactly-once across restarts. A warning whose
//! breach is already due (the daemon was down, or the priority was raised) is folded into the
//! breach instead of arriving late next to it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

use crate::domain::calendar::{Calendar, TimeRange, date_text, parse_date};
use crate::domain::priority::Priority;
use crate::domain::problem::Problem;
use crate::domain::status::Status;

/// All priorities, most urgent first.
const PRIORITIES: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

fn index(p: Priority) -> usize {
    match p {
        Priority::P1 => 0,
        Priority::P2 => 1,
        Priority::P3 => 2,
        Priority::P4 => 3,
    }
}

// ---------------------------------------------------------------------------------------------
// Targets

/// A target length as configured: days, hours, minutes and seconds, written `"30m"`, `"2h"`,
/// `"3d"`, `"1h30m"` or `"1d4h"`. Seconds (`"20s"`) exist for drills and tests that need a
/// ladder to run through in moments; contracts are written in minutes and up.
///
/// On a business-hours priority, `d` means business days (see
/// [`Calendar::add_business_days`]) and `h`/`m` business hours and minutes, days counted first.
/// On a 24×7 priority, `d` is 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Whole (business) days.
    pub days: u32,
    /// Further minutes.
    pub minutes: u32,
    /// Further seconds.
    pub seconds: u32,
}

impl Target {
    /// Parses `"30m"`, `"8h"`, `"3d"`, `"1d4h30m"`, `"45s"` (units in that order, each at most
    /// once).
    pub fn parse(s: &str) -> Result<Target, String> {
        let err = || format!("`{s}` is not a duration such as \"30m\", \"8h\", \"3d\" or \"1d4h\"");
        let text = s.trim().to_ascii_lowercase();
        if text.is_empty() {
            return Err(err());
        }
        let (mut days, mut minutes, mut seconds, mut last_rank) = (0u64, 0u64, 0u64, 0);
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
            if digits == 0 {
                return Err(err());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| err())?;
            let unit = rest[digits..].chars().next().ok_or_else(err)?;
            let rank = match unit {
                'd' => 1,
                'h' => 2,
                'm' => 3,
                's' => 4,
                _ => return Err(err()),
            };
            if rank <= last_rank {
                return Err(err());
            }
            last_rank = rank;
            match unit {
                'd' => days = n,
                'h' => minutes = minutes.saturating_add(n.saturating_mul(60)),
                'm' => minutes = minutes.saturating_add(n),
                _ => seconds = n,
            }
            rest = rest[digits + unit.len_utf8()..].trim_start();
        }
        minutes = minutes.saturating_add(seconds / 60);
        seconds %= 60;
        if days == 0 && minutes == 0 && seconds == 0 {
            return Err(format!("`{s}` must be longer than zero"));
        }
        // Ten years: longer is a typo, and the bound keeps every later sum far from overflow.
        const MAX_DAYS: u64 = 3_650;
        if days > MAX_DAYS || minutes > MAX_DAYS * 1_440 {
            return Err(format!("`{s}` is longer than ten years"));
        }
        Ok(Target {
            days: days as u32,
            minutes: minutes as u32,
            seconds: seconds as u32,
        })
    }

    /// Minutes only.
    pub const fn minutes(minutes: u32) -> Target {
        Target {
            days: 0,
            minutes,
            seconds: 0,
        }
    }

    /// The instant this target after `start` falls due: in business time when `business`,
    /// otherwise in wall-clock time.
    pub fn after(&self, start: DateTime<Utc>, business: bool, cal: &Calendar) -> DateTime<Utc> {
        let minutes = TimeDelta::minutes(i64::from(self.minutes))
            + TimeDelta::seconds(i64::from(self.seconds));
        if business {
            cal.add_business(cal.add_business_days(start, self.days), minutes)
        } else {
            start + TimeDelta::days(i64::from(self.days)) + minutes
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m) = (self.minutes / 60, self.minutes % 60);
        if self.days > 0 {
            write!(f, "{}d", self.days)?;
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if self.seconds > 0 {
            write!(f, "{}s", self.seconds)?;
        }
        Ok(())
    }
}

/// Validated targets of one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    /// First response.
    pub respond: Target,
    /// Resolution.
    pub resolve: Target,
    /// Longest gap between customer-visible updates; `None`: no update clock.
    pub update: Option<Target>,
    /// Count in business hours of the calendar (`true`) or around the clock (`false`).
    pub business_hours: bool,
}

/// The targets of the issue: P1 30m/2h/15m and P2 1h/8h/1h around the clock; P3 4 business
/// hours / 3 business days and P4 1 business day / 10 business days, without an update clock.
pub fn default_targets(p: Priority) -> Targets {
    let (respond, resolve, update, business_hours) = match p {
        Priority::P1 => ("30m", "2h", Some("15m"), false),
        Priority::P2 => ("1h", "8h", Some("1h"), false),
        Priority::P3 => ("4h", "3d", None, true),
        Priority::P4 => ("1d", "10d", None, true),
    };
    let t = |s: &str| Target::parse(s).expect("default targets parse");
    Targets {
        respond: t(respond),
        resolve: t(resolve),
        update: update.map(t),
        business_hours,
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// `[sla.targets.P1]` …: any key left out keeps that priority's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetConfig {
    /// First-response target, e.g. `"30m"`.
    pub respond: Option<String>,
    /// Resolution target, e.g. `"3d"`.
    pub resolve: Option<String>,
    /// Update interval, e.g. `"15m"`; `"none"` turns the update clock off.
    pub update: Option<String>,
    /// Count in business hours instead of around the clock.
    pub business_hours: Option<bool>,
}

/// `[sla.targets]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TargetsConfig {
    /// P1.
    #[serde(rename = "P1")]
    pub p1: TargetConfig,
    /// P2.
    #[serde(rename = "P2")]
    pub p2: TargetConfig,
    /// P3.
    #[serde(rename = "P3")]
    pub p3: TargetConfig,
    /// P4.
    #[serde(rename = "P4")]
    pub p4: TargetConfig,
}

/// Which part of a mail a rule reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
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
pub struct RuleConfig {
    /// Name reported as the deciding rule; `rules[i]` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Regular expression, matched case-insensitively.
    pub pattern: String,
    /// Priority of a mail it matches.
    pub priority: Priority,
    /// What it reads.
    #[serde(default)]
    pub field: Field,
}

/// `[[sla.oncall]]`: one stretch of the on-call rota.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnCallConfig {
    /// First date (local, inclusive).
    #[serde(deserialize_with = "date_text")]
    pub from: String,
    /// Last date (inclusive); a night shift starting on it runs into the next morning.
    #[serde(deserialize_with = "date_text")]
    pub to: String,
    /// Daily hours, e.g. `"18:00-09:00"` (wraps midnight); the whole day when absent.
    #[serde(default)]
    pub hours: Option<String>,
    /// Agent on call.
    pub primary: String,
    /// Second agent, added at breach and later.
    #[serde(default)]
    pub backup: Option<String>,
}

/// `[sla]` as written in the configuration; [`SlaConfig::build`] validates it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlaConfig {
    /// Per-priority targets.
    pub targets: TargetsConfig,
    /// Share of a target after which the assignee is warned, strictly between 0 and 1.
    pub warn_at: f64,
    /// How long after a breach the supervisor is told (business time on business-hours
    /// priorities).
    pub supervisor_delay: String,
    /// The most urgent priority a customer can declare in the subject.
    pub declared_ceiling: Priority,
    /// Words that declare P1 when they appear in the subject (not after 不/非/not/no).
    pub urgent_words: Vec<String>,
    /// Words in a customer's follow-up (quoted history excluded) that ask for escalation (not
    /// after 不/非/not/no).
    pub escalation_words: Vec<String>,
    /// Append the built-in zh/en rules after `rules`.
    pub default_rules: bool,
    /// Classification rules; the most urgent match wins, ties go to the first.
    pub rules: Vec<RuleConfig>,
    /// On-call rota; the first entry covering an instant wins.
    pub oncall: Vec<OnCallConfig>,
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

/// The built-in rules, appended after the configured ones unless `default_rules = false`.
///
/// Chinese has no word boundaries, so Chinese keywords match anywhere; English words use ASCII
/// boundaries (`(?-u:\b)`) so that mixed text such as `网站down了` still matches.
pub fn default_rules() -> Vec<RuleConfig> {
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
pub struct Rule {
    /// Reported as the deciding rule.
    pub name: String,
    /// Case-insensitive pattern.
    pub regex: Regex,
    /// Priority of a match.
    pub priority: Priority,
    /// What it reads.
    pub field: Field,
}

/// A validated rota entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnCall {
    /// First date, inclusive.
    pub from: NaiveDate,
    /// Last date, inclusive.
    pub to: NaiveDate,
    /// Daily hours; may wrap past midnight.
    pub hours: TimeRange,
    /// Agent on call.
    pub primary: String,
    /// Second agent.
    pub backup: Option<String>,
}

impl OnCall {
    /// True when the rota entry covers the local wall-clock time `local`: some date from `from`
    /// to `to` has a shift containing it (a night shift belongs to the date it starts on).
    pub fn covers(&self, local: NaiveDateTime) -> bool {
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
    targets: [Targets; 4],
    warn_at: f64,
    supervisor_delay: Target,
    declared_ceiling: Priority,
    urgent_words: Vec<String>,
    escalation_words: Vec<String>,
    rules: Vec<Rule>,
    oncall: Vec<OnCall>,
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
    pub fn build(&self, key: &str) -> Result<SlaPolicy, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |k: String, message: String| problems.push(Problem { key: k, message });

        let configured = [
            &self.targets.p1,
            &self.targets.p2,
            &self.targets.p3,
            &self.targets.p4,
        ];
        let mut targets = PRIORITIES.map(default_targets);
        for (p, cfg) in PRIORITIES.into_iter().zip(configured) {
            let t = &mut targets[index(p)];
            let k = format!("{key}.targets.{p}");
            let mut parse = |field: &str, v: &str| {
                Target::parse(v)
                    .map_err(|e| problem(format!("{k}.{field}"), e))
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

        if !(self.warn_at > 0.0 && self.warn_at < 1.0) {
            problem(
                format!("{key}.warn_at"),
                format!(
                    "{} must be a share strictly between 0 and 1, such as 0.8",
                    self.warn_at
                ),
            );
        }
        let supervisor_delay = Target::parse(&self.supervisor_delay)
            .map_err(|e| problem(format!("{key}.supervisor_delay"), e))
            .unwrap_or(Target::minutes(30));

        let mut words = |name: &str, list: &[String]| {
            let mut out = Vec::new();
            for (i, w) in list.iter().enumerate() {
                if w.trim().is_empty() {
                    problem(format!("{key}.{name}[{i}]"), "must not be empty".into());
                } else {
                    out.push(w.trim().to_lowercase());
                }
            }
            out
        };
        let urgent_words = words("urgent_words", &self.urgent_words);
        let escalation_words = words("escalation_words", &self.escalation_words);

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

        let mut oncall = Vec::new();
        for (i, o) in self.oncall.iter().enumerate() {
            let k = format!("{key}.oncall[{i}]");
            let from = parse_date(&o.from).map_err(|e| problem(format!("{k}.from"), e));
            let to = parse_date(&o.to).map_err(|e| problem(format!("{k}.to"), e));
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
                        problem(format!("{k}.hours"), e);
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
}

impl SlaPolicy {
    /// The targets of `p`.
    pub fn targets(&self, p: Priority) -> &Targets {
        &self.targets[index(p)]
    }

    /// Share of a target after which the assignee is warned.
    pub fn warn_at(&self) -> f64 {
        self.warn_at
    }

    /// Delay from breach to the supervisor step.
    pub fn supervisor_delay(&self) -> Target {
        self.supervisor_delay
    }

    /// The most urgent priority a customer can declare.
    pub fn declared_ceiling(&self) -> Priority {
        self.declared_ceiling
    }

    /// Classification rules, configured ones first.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The on-call rota.
    pub fn oncall(&self) -> &[OnCall] {
        &self.oncall
    }

    /// The rota entry covering `now` (in the calendar's zone), if any.
    pub fn on_call_at(&self, now: DateTime<Utc>, cal: &Calendar) -> Option<&OnCall> {
        let local = now.with_timezone(&cal.tz()).naive_local();
        self.oncall.iter().find(|o| o.covers(local))
    }

    /// Problems for rota names that `is_agent` does not know, keyed like
    /// `sla.oncall[0].primary`; the caller checks them against `[[agents]]`.
    pub fn check_agents(&self, is_agent: impl Fn(&str) -> bool, key: &str) -> Vec<Problem> {
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

// ---------------------------------------------------------------------------------------------
// Classification

/// `[P1]`, `【P2】`, `(P3)`, `（P4）` in a subject.
static DECLARED: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(r"[\[【(（]\s*P\s*([1-4])\s*[\]】)）]")
        .case_insensitive(true)
        .build()
        .expect("static regex")
});

/// Words that, right before an urgency word, negate it (`不紧急`, `not urgent`).
const NEGATIONS: [&str; 7] = ["不", "非", "无需", "无须", "not", "non", "no"];

/// Decides a new ticket's priority; returns it and a description of what decided it.
///
/// 1. Every rule is tried (configured, then built-in); the most urgent match wins.
/// 2. A priority the customer declares in the subject (`[P1]`, `【P2】`, or an urgency word such
///    as `紧急` for P1) is capped at `declared_ceiling`, then taken if it is more urgent than the
///    rules' result, or if no rule matched. A declaration can raise what the rules found but not
///    lower it: a customer's `[P3]` must not hide an outage the rules recognised.
/// 3. `default` (the shell passes `support.default_priority`) when nothing matched.
/// 4. A VIP customer's result is raised one level (P1 stays P1), after the ceiling.
///
/// Pass the reply text without quoted history as `body`, so old quotes do not classify.
pub fn classify(
    subject: &str,
    body: &str,
    vip: bool,
    default: Priority,
    sla: &SlaPolicy,
) -> (Priority, String) {
    let mut best: Option<(Priority, String)> = None;
    for rule in &sla.rules {
        let hit = match rule.field {
            Field::Subject => rule.regex.find(subject),
            Field::Body => rule.regex.find(body),
            Field::Any => rule.regex.find(subject).or_else(|| rule.regex.find(body)),
        };
        if let Some(m) = hit
            && best.as_ref().is_none_or(|(p, _)| rule.priority < *p)
        {
            let text: String = m.as_str().trim().chars().take(40).collect();
            best = Some((
                rule.priority,
                format!("rule {} matched \"{text}\"", rule.name),
            ));
        }
    }
    if let Some((declared, what)) = declared_priority(subject, sla) {
        let capped = declared.max(sla.declared_ceiling);
        if best.as_ref().is_none_or(|(p, _)| capped < *p) {
            let why = if capped == declared {
                format!("declared {what}")
            } else {
                format!("declared {what} ({declared}), capped at {capped}")
            };
            best = Some((capped, why));
        }
    }
    let (p, why) = best.unwrap_or_else(|| (default, format!("default {default}")));
    if !vip {
        return (p, why);
    }
    let raised = match p {
        Priority::P1 | Priority::P2 => Priority::P1,
        Priority::P3 => Priority::P2,
        Priority::P4 => Priority::P3,
    };
    if raised == p {
        (p, format!("{why}; VIP (already {p})"))
    } else {
        (raised, format!("{why}; raised from {p} for VIP"))
    }
}

/// The most urgent priority declared in `subject`, with the text that declared it.
fn declared_priority(subject: &str, sla: &SlaPolicy) -> Option<(Priority, String)> {
    let mut best: Option<(Priority, String)> = None;
    let mut offer = |p: Priority, what: String| {
        if best.as_ref().is_none_or(|(b, _)| p < *b) {
            best = Some((p, what));
        }
    };
    for c in DECLARED.captures_iter(subject) {
        if let Ok(p) = format!("P{}", &c[1]).parse::<Priority>() {
            offer(p, c[0].to_owned());
        }
    }
    let lower = subject.to_lowercase();
    for word in &sla.urgent_words {
        if contains_word(&lower, word) {
            offer(Priority::P1, format!("\"{word}\""));
        }
    }
    best
}

/// True when lower-cased `text` contains `word` as a word and not negated before it.
fn contains_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = &text[..at];
        let after = &text[at + word.len()..];
        // ASCII words need word boundaries ("insurgent" is not urgent); Chinese has none.
        let bounded = !word.is_ascii()
            || (!before.ends_with(|c: char| c.is_ascii_alphanumeric())
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric()));
        bounded && !negated(before)
    })
}

/// The escalation words a customer may use by default.
///
/// Bare `升级` is left out on purpose: to a hosting customer it mostly means *upgrade* ("PHP 升级
/// 后网站打不开"), and escalating every upgrade question would drown tier 2. The phrases say
/// "escalate this" unambiguously; an operator who wants `升级` alone can add it.
pub const DEFAULT_ESCALATION_WORDS: [&str; 13] = [
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

/// The escalation word in a customer's (quote-stripped) follow-up, if it asks to escalate.
pub fn escalation_request(text: &str, sla: &SlaPolicy) -> Option<String> {
    let lower = text.to_lowercase();
    sla.escalation_words
        .iter()
        .find(|w| contains_word(&lower, w))
        .cloned()
}

/// True when `before` ends in a negation (`不`, `not `, `non-`).
fn negated(before: &str) -> bool {
    let b = before.trim_end_matches(|c: char| c.is_whitespace() || c == '-');
    NEGATIONS.iter().any(|n| {
        b.strip_suffix(n).is_some_and(|rest| {
            !n.is_ascii() || !rest.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Clocks

/// Which of a ticket's clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Until the first agent reply.
    FirstResponse,
    /// Until the next customer-visible update.
    Update,
    /// Until resolved.
    Resolution,
}

impl ClockKind {
    /// All clocks.
    pub const ALL: [ClockKind; 3] = [
        ClockKind::FirstResponse,
        ClockKind::Update,
        ClockKind::Resolution,
    ];

    /// Snake-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::FirstResponse => "first_response",
            ClockKind::Update => "update",
            ClockKind::Resolution => "resolution",
        }
    }
}

impl fmt::Display for ClockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rung of the escalation ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `warn_at` of the target has elapsed: tell the assignee.
    Warning,
    /// The target is missed: tell tier 2 and the assignee.
    Breach,
    /// `supervisor_delay` after the breach: tell the supervisor.
    Supervisor,
    /// The update interval is over: remind the assignee to update the customer.
    UpdateReminder,
}

impl Step {
    /// Snake-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Warning => "warning",
            Step::Breach => "breach",
            Step::Supervisor => "supervisor",
            Step::UpdateReminder => "update_reminder",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a clock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockState {
    /// Not started (or no target for this priority).
    Idle,
    /// Counting.
    Running,
    /// Pending: waiting for the customer.
    Paused,
    /// Met or ended.
    Stopped,
}

/// One SLA clock. Serialised with the ticket; every field defaults, so older records load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Clock {
    /// Incremented at every (re)start; [`Escalation::cycle`] names the cycle a step belongs to,
    /// so a step of an old cycle can never be marked on a new one.
    pub cycle: u32,
    /// Start of the current cycle.
    pub started_at: Option<DateTime<Utc>>,
    /// When the target falls due, paused time included. While paused: the value at the pause.
    pub due_at: Option<DateTime<Utc>>,
    /// When it stopped (met if not after `due_at`).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Set while paused (ticket pending).
    pub paused_since: Option<DateTime<Utc>>,
    /// Wall-clock seconds paused in this cycle (the shift for 24×7 priorities).
    pub paused_secs: i64,
    /// Business seconds paused in this cycle (the shift for business-hours priorities).
    pub paused_business_secs: i64,
    /// When each step of the ladder falls due.
    pub schedule: BTreeMap<Step, DateTime<Utc>>,
    /// Steps already fired in this cycle.
    pub fired: BTreeSet<Step>,
}

impl Clock {
    /// Where the clock stands.
    pub fn state(&self) -> ClockState {
        match (self.started_at, self.stopped_at, self.paused_since) {
            (None, _, _) => ClockState::Idle,
            (Some(_), Some(_), _) => ClockState::Stopped,
            (Some(_), None, Some(_)) => ClockState::Paused,
            (Some(_), None, None) => ClockState::Running,
        }
    }

    /// True when the target is missed: due before now (running), before the pause (paused) or
    /// before it stopped.
    pub fn is_breached(&self, now: DateTime<Utc>) -> bool {
        let Some(due) = self.due_at else {
            return false;
        };
        match self.state() {
            ClockState::Idle => false,
            ClockState::Running => now >= due,
            ClockState::Paused => self.paused_since.is_some_and(|p| p >= due),
            ClockState::Stopped => self.stopped_at.is_some_and(|s| s > due),
        }
    }

    /// Starts a new cycle at `now`; the schedule is computed by [`Clock::reschedule`].
    fn restart(&mut self, now: DateTime<Utc>) {
        *self = Clock {
            cycle: self.cycle + 1,
            started_at: Some(now),
            ..Clock::default()
        };
    }

    /// Back to idle, keeping the cycle count so later cycles stay distinct.
    fn clear(&mut self) {
        *self = Clock {
            cycle: self.cycle,
            ..Clock::default()
        };
    }

    fn pause(&mut self, now: DateTime<Utc>) {
        if self.state() == ClockState::Running {
            self.paused_since = Some(now);
        }
    }

    /// Ends a pause, adding its length in both wall-clock and business time; true if paused.
    fn resume(&mut self, now: DateTime<Utc>, cal: &Calendar) -> bool {
        let Some(since) = self.paused_since.take() else {
            return false;
        };
        self.paused_secs += (now - since).num_seconds().max(0);
        self.paused_business_secs += cal.business_between(since, now).num_seconds();
        true
    }

    fn stop(&mut self, now: DateTime<Utc>, cal: &Calendar) {
        if matches!(self.state(), ClockState::Running | ClockState::Paused) {
            self.resume(now, cal);
            self.stopped_at = Some(now);
        }
    }

    /// Recomputes `due_at` and the schedule from `started_at` for `priority`, shifting by the
    /// paused time in the priority's kind of time. Fired steps are kept.
    fn reschedule(&mut self, kind: ClockKind, cal: &Calendar, sla: &SlaPolicy, priority: Priority) {
        let Some(start) = self.started_at else {
            return;
        };
        let t = sla.targets(priority);
        let target = match kind {
            ClockKind::FirstResponse => Some(t.respond),
            ClockKind::Resolution => Some(t.resolve),
            ClockKind::Update => t.update,
        };
        self.schedule.clear();
        let Some(target) = target else {
            self.due_at = None;
            return;
        };
        let business = t.business_hours;
        let add = |at: DateTime<Utc>, d: TimeDelta| {
            if business {
                cal.add_business(at, d)
            } else {
                at + d
            }
        };
        let paused = TimeDelta::seconds(if business {
            self.paused_business_secs
        } else {
            self.paused_secs
        });
        let base_due = target.after(start, business, cal);
        let due = add(base_due, paused);
        let escalate = sla.supervisor_delay.after(due, business, cal);
        if kind == ClockKind::Update {
            self.schedule.insert(Step::UpdateReminder, due);
        } else {
            let length = if business {
                cal.business_between(start, base_due)
            } else {
                base_due - start
            };
            let share =
                TimeDelta::seconds((length.num_seconds() as f64 * sla.warn_at).round() as i64);
            self.schedule
                .insert(Step::Warning, add(add(start, share), paused));
            self.schedule.insert(Step::Breach, due);
        }
        self.schedule.insert(Step::Supervisor, escalate);
        self.due_at = Some(due);
    }
}

/// A ladder step that is due: send it, then record it with [`Clocks::mark_fired`] in the same
/// transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// The clock.
    pub clock: ClockKind,
    /// The clock's cycle it belongs to.
    pub cycle: u32,
    /// The rung.
    pub step: Step,
    /// When it fell due (may be earlier than the sweep that found it).
    pub at: DateTime<Utc>,
}

/// The three SLA clocks of a ticket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Clocks {
    /// Until the first agent reply.
    pub first_response: Clock,
    /// Until the next customer-visible update.
    pub update: Clock,
    /// Until resolved.
    pub resolution: Clock,
}

impl Clocks {
    /// Clocks of a ticket created at `created_at`: first response and resolution running; the
    /// update clock starts with the first agent reply.
    pub fn start(
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        created_at: DateTime<Utc>,
    ) -> Clocks {
        let mut c = Clocks::default();
        for kind in [ClockKind::FirstResponse, ClockKind::Resolution] {
            let clock = c.clock_mut(kind);
            clock.restart(created_at);
            clock.reschedule(kind, cal, sla, priority);
        }
        c
    }

    /// One clock.
    pub fn clock(&self, kind: ClockKind) -> &Clock {
        match kind {
            ClockKind::FirstResponse => &self.first_response,
            ClockKind::Update => &self.update,
            ClockKind::Resolution => &self.resolution,
        }
    }

    fn clock_mut(&mut self, kind: ClockKind) -> &mut Clock {
        match kind {
            ClockKind::FirstResponse => &mut self.first_response,
            ClockKind::Update => &mut self.update,
            ClockKind::Resolution => &mut self.resolution,
        }
    }

    /// True while the ticket is pending (the clocks are paused).
    pub fn is_pending(&self) -> bool {
        self.resolution.state() == ClockState::Paused
    }

    /// True while the ticket is resolved or closed.
    pub fn is_resolved(&self) -> bool {
        self.resolution.state() == ClockState::Stopped
    }

    /// An agent replied to the customer: stops the first-response clock (the first time) and,
    /// being customer-visible, restarts the update clock.
    pub fn on_agent_reply(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        c.first_response.stop(now, cal);
        c.restart_update(cal, sla, priority, now);
        c
    }

    /// The customer was told something by a person (a reply, a public note, a progress mail an
    /// agent triggered): restarts the update clock. Not for automatic acknowledgements, which
    /// would otherwise keep the clock from ever falling due.
    pub fn on_customer_visible_update(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        c.restart_update(cal, sla, priority, now);
        c
    }

    /// The ticket's status changed to `status`:
    /// - `pending` pauses every running clock;
    /// - `new`/`open` from pending resumes them, moving their due times by the paused time;
    /// - `resolved`/`closed` stops every clock (resolving also ends the wait for a first response);
    /// - any active status after `resolved`/`closed` reopens: the resolution clock restarts with
    ///   a full target (a new cycle, so its ladder can fire again) and so does the update clock.
    ///
    /// The previous status is read from the clocks, so repeating an event changes nothing.
    pub fn on_status(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        status: Status,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        if c.resolution.state() == ClockState::Idle {
            return c;
        }
        match status {
            Status::Resolved | Status::Closed => {
                for kind in ClockKind::ALL {
                    c.clock_mut(kind).stop(now, cal);
                }
            }
            Status::New | Status::Open | Status::Pending => {
                if c.is_resolved() {
                    let r = &mut c.resolution;
                    r.restart(now);
                    r.reschedule(ClockKind::Resolution, cal, sla, priority);
                    c.restart_update(cal, sla, priority, now);
                } else {
                    for kind in ClockKind::ALL {
                        let clock = c.clock_mut(kind);
                        if clock.resume(now, cal) {
                            clock.reschedule(kind, cal, sla, priority);
                        }
                    }
                }
                if status == Status::Pending {
                    for kind in ClockKind::ALL {
                        c.clock_mut(kind).pause(now);
                    }
                }
            }
        }
        c
    }

    /// The priority changed to `priority`: every clock's due times are recomputed from its start
    /// with the new targets, keeping the paused time and the fired steps (a step fires once per
    /// cycle whatever the priority). An update clock appears (from `now`, if the first response
    /// was given) or disappears with the new priority's update target. Also the way to apply a
    /// changed calendar or `[sla]` to stored clocks: call it with the unchanged priority.
    pub fn on_priority_change(
        &self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Clocks {
        let mut c = self.clone();
        if c.resolution.state() == ClockState::Idle {
            return c;
        }
        for kind in [ClockKind::FirstResponse, ClockKind::Resolution] {
            c.clock_mut(kind).reschedule(kind, cal, sla, priority);
        }
        let has_update = sla.targets(priority).update.is_some();
        match (has_update, c.update.state()) {
            (true, ClockState::Running | ClockState::Paused) => {
                c.update.reschedule(ClockKind::Update, cal, sla, priority)
            }
            (true, ClockState::Idle) if c.first_response.state() == ClockState::Stopped => {
                c.restart_update(cal, sla, priority, now)
            }
            (false, ClockState::Running | ClockState::Paused) => c.update.clear(),
            _ => {}
        }
        c
    }

    fn restart_update(
        &mut self,
        cal: &Calendar,
        sla: &SlaPolicy,
        priority: Priority,
        now: DateTime<Utc>,
    ) {
        let active = matches!(
            self.resolution.state(),
            ClockState::Running | ClockState::Paused
        );
        if !active || sla.targets(priority).update.is_none() {
            return;
        }
        let pending = self.is_pending();
        self.update.restart(now);
        if pending {
            self.update.paused_since = Some(now);
        }
        self.update
            .reschedule(ClockKind::Update, cal, sla, priority);
    }

    /// Steps due at `now` and not yet fired, oldest first. Paused and stopped clocks fire
    /// nothing. A warning is left out when its clock's breach is due too;
    /// marking the breach marks it.
    pub fn due_steps(&self, now: DateTime<Utc>) -> Vec<Escalation> {
        let mut out = Vec::new();
        for kind in ClockKind::ALL {
            let c = self.clock(kind);
            if c.state() != ClockState::Running {
                continue;
            }
            let due: Vec<(Step, DateTime<Utc>)> = c
                .schedule
                .iter()
                .filter(|&(s, at)| !c.fired.contains(s) && *at <= now)
                .map(|(s, at)| (*s, *at))
                .collect();
            let breach_due = due.iter().any(|(s, _)| *s == Step::Breach);
            for (step, at) in due {
                if step == Step::Warning && breach_due {
                    continue;
                }
                out.push(Escalation {
                    clock: kind,
                    cycle: c.cycle,
                    step,
                    at,
                });
            }
        }
        out.sort_by_key(|e| (e.at, e.clock, e.step));
        out
    }

    /// Records that `esc` was sent. A breach also marks its warning. An escalation of an earlier
    /// cycle (the clock restarted since) changes nothing.
    pub fn mark_fired(&self, esc: &Escalation) -> Clocks {
        let mut c = self.clone();
        let clock = c.clock_mut(esc.clock);
        if clock.cycle == esc.cycle {
            clock.fired.insert(esc.step);
            if esc.step == Step::Breach {
                clock.fired.insert(Step::Warning);
            }
        }
        c
    }

    /// The earliest instant at which [`Clocks::due_steps`] will return something, for indexing
    /// tickets by their next due time; `None` when nothing can fall due until another event.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        ClockKind::ALL
            .into_iter()
            .map(|k| self.clock(k))
            .filter(|c| c.state() == ClockState::Running)
            .flat_map(|c| {
                c.schedule
                    .iter()
                    .filter(|&(s, _)| !c.fired.contains(s))
                    .map(|(_, at)| *at)
            })
            .min()
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

/// Who works the ticket, for [`recipients`]: agent names as in `[[agents]]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Team<'a> {
    /// The ticket's assignee, if any.
    pub assignee: Option<&'a str>,
    /// Agents with role `tier2`.
    pub tier2: &'a [String],
    /// Agents with role `supervisor`.
    pub supervisors: &'a [String],
}

/// Where an escalation goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipients {
    /// Agent names, without duplicates; empty when nobody fits (the shell should log that).
    pub to: Vec<String>,
    /// Hold the mail until then (business-hours priorities outside business hours).
    pub wait_until: Option<DateTime<Utc>>,
    /// True when routed to the on-call rota instead of the usual people.
    pub on_call: bool,
}

/// Who receives `step` of a ticket of `priority` at `now`.
///
/// In business hours: a warning or update reminder goes to the assignee, a breach to tier 2 and
/// the assignee, the supervisor step to the supervisors; an unassigned ticket's assignee mail
/// goes to tier 2 instead.
///
/// Outside business hours, a 24×7 priority (P1/P2 by default) goes to whoever is on call instead:
/// the primary for a warning or reminder, primary and backup for a breach, and primary, backup
/// and the supervisors for the supervisor step (the last rung must still reach a supervisor).
/// With nobody on call it falls back to the business-hours people. A business-hours priority
/// (P3/P4) goes to the usual people but waits until the next business start.
pub fn recipients(
    step: Step,
    priority: Priority,
    now: DateTime<Utc>,
    cal: &Calendar,
    sla: &SlaPolicy,
    team: &Team<'_>,
) -> Recipients {
    let usual = || {
        let assignee: Vec<&str> = match team.assignee {
            Some(a) => vec![a],
            None => team.tier2.iter().map(String::as_str).collect(),
        };
        match step {
            Step::Warning | Step::UpdateReminder => assignee,
            Step::Breach => team
                .tier2
                .iter()
                .map(String::as_str)
                .chain(team.assignee)
                .collect(),
            Step::Supervisor => team.supervisors.iter().map(String::as_str).collect(),
        }
    };
    let business = sla.targets(priority).business_hours;
    let (names, wait_until, on_call) = if cal.is_business_time(now) {
        (usual(), None, false)
    } else if business {
        (usual(), Some(cal.next_business_start(now)), false)
    } else if let Some(o) = sla.on_call_at(now, cal) {
        let mut names = vec![o.primary.as_str()];
        if step != Step::Warning && step != Step::UpdateReminder {
            names.extend(o.backup.as_deref());
        }
        if step == Step::Supervisor {
            names.extend(team.supervisors.iter().map(String::as_str));
        }
        (names, None, true)
    } else {
        (usual(), None, false)
    };
    let mut to: Vec<String> = Vec::new();
    for n in names {
        if !to.iter().any(|t| t.eq_ignore_ascii_case(n)) {
            to.push(n.to_owned());
        }
    }
    Recipients {
        to,
        wait_until,
        on_call,
    }
}

/// How an ordinary notification (new ticket, customer follow-up) of a ticket of `priority` is
/// routed at `now`: outside business hours a 24×7 priority also goes to the on-call primary (the
/// name returned), and a business-hours priority waits until the next business start (the
/// instant returned), as the escalation ladder does.
pub fn notification_route(
    priority: Priority,
    now: DateTime<Utc>,
    cal: &Calendar,
    sla: &SlaPolicy,
) -> (Option<String>, Option<DateTime<Utc>>) {
    if cal.is_business_time(now) {
        (None, None)
    } else if sla.targets(priority).business_hours {
        (None, Some(cal.next_business_start(now)))
    } else {
        (sla.on_call_at(now, cal).map(|o| o.primary.clone()), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_requests_are_recognised_but_not_upgrades_or_negations() {
        let sla = SlaPolicy::default();
        for text in [
            "三天了还没解决，我要投诉！",
            "请升级处理",
            "麻烦找主管来看一下",
            "Please escalate this ticket.",
            "I want to talk to your supervisor",
        ] {
            assert!(escalation_request(text, &sla).is_some(), "{text}");
        }
        for text in [
            "PHP 升级后网站打不开",
            "服务器需要升级内存",
            "不投诉，只是想问一下进度",
            "no complaint, thanks",
            "we are escalated-free", // not a word boundary match? "escalate" inside "escalated"
        ] {
            assert!(escalation_request(text, &sla).is_none(), "{text}");
        }
    }

    use crate::domain::calendar::CalendarConfig;
    use chrono::TimeZone;

    /// The example for README and `config/supportd.toml`; the test below keeps it valid.
    const EXAMPLE: &str = r#"
[calendar]
time_zone = "Asia/Shanghai"
holidays = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05",
            "2026-10-06", "2026-10-07"]
makeup_days = ["2026-09-27", "2026-10-10"]
[calendar.hours]
mon = ["09:00-12:00", "13:00-18:00"]
tue = ["09:00-12:00", "13:00-18:00"]
wed = ["09:00-12:00", "13:00-18:00"]
thu = ["09:00-12:00", "13:00-18:00"]
fri = ["09:00-12:00", "13:00-18:00"]
sat = []
sun = []

[sla]
warn_at = 0.8
supervisor_delay = "30m"
declared_ceiling = "P2"
urgent_words = ["紧急", "加急", "urgent"]
default_rules = true

[sla.targets.P1]
respond = "30m"
resolve = "2h"
update = "15m"
business_hours = false
[sla.targets.P2]
respond = "1h"
resolve = "8h"
update = "1h"
business_hours = false
[sla.targets.P3]
respond = "4h"
resolve = "3d"
business_hours = true
[sla.targets.P4]
respond = "1d"
resolve = "10d"
business_hours = true

[[sla.rules]]
name = "payment-gateway"
pattern = '支付网关|payment gateway'
priority = "P1"

[[sla.oncall]]
from = "2026-11-01"
to = "2026-11-30"
hours = "18:00-09:00"
primary = "alice"
backup = "bob"
"#;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Example {
        calendar: CalendarConfig,
        sla: SlaConfig,
    }

    fn example() -> (Calendar, SlaPolicy) {
        let e: Example = toml::from_str(EXAMPLE).unwrap();
        (
            e.calendar.build("calendar").unwrap(),
            e.sla.build("sla").unwrap(),
        )
    }

    /// Shanghai wall-clock time → UTC.
    fn at(s: &str) -> DateTime<Utc> {
        let ndt = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Asia::Shanghai
            .from_local_datetime(&ndt)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn local(t: DateTime<Utc>) -> String {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    fn min(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    /// What the shell does: serialise the clocks between sweeps, as across a restart.
    fn roundtrip(c: &Clocks) -> Clocks {
        serde_json::from_str(&serde_json::to_string(c).unwrap()).unwrap()
    }

    /// Sweeps every `every` from `from` to `to` as the shell would, returning what fired as
    /// `(clock, step, local time it fell due)`. The clocks go through JSON (a restart) after
    /// every sweep that had something due and every twelfth sweep besides, and every third sweep
    /// that finds something due "crashes" before its transaction: nothing is recorded, so the
    /// steps must come back on the next sweep, neither lost nor doubled.
    fn sweep(
        mut c: Clocks,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        every: TimeDelta,
    ) -> (Clocks, Vec<(ClockKind, Step, String)>) {
        let mut fired = Vec::new();
        let mut now = from;
        let mut n = 0;
        while now <= to {
            let due = c.due_steps(now);
            n += 1;
            if !due.is_empty() && n % 3 == 0 {
                c = roundtrip(&c);
                now += every;
                continue;
            }
            for e in &due {
                // Never early, and late by at most the crashed sweep.
                assert!(
                    e.at <= now && now - e.at < every * 2,
                    "{e:?} at {}",
                    local(now)
                );
                fired.push((e.clock, e.step, local(e.at)));
                c = c.mark_fired(e);
            }
            if !due.is_empty() || n % 12 == 0 {
                c = roundtrip(&c);
            }
            now += every;
        }
        (c, fired)
    }

    #[test]
    fn example_config_builds() {
        let (cal, sla) = example();
        assert!(cal.is_working_day(NaiveDate::from_ymd_opt(2026, 9, 27).unwrap()));
        assert_eq!(sla.rules()[0].name, "payment-gateway");
        assert_eq!(sla.oncall()[0].primary, "alice");
        for p in PRIORITIES {
            assert_eq!(*sla.targets(p), default_targets(p), "{p}");
        }
        let unknown = sla.check_agents(|n| n == "alice", "sla");
        assert_eq!(unknown[0].key, "sla.oncall[0].backup");
        assert_eq!(unknown.len(), 1);
        // An empty [sla] is the defaults.
        let d: SlaConfig = toml::from_str("").unwrap();
        assert_eq!(d, SlaConfig::default());
    }

    #[test]
    fn defaults_match_the_issue() {
        let sla = SlaPolicy::default();
        let p1 = sla.targets(Priority::P1);
        assert_eq!(
            (p1.respond.to_string(), p1.resolve.to_string()),
            ("30m".into(), "2h".into())
        );
        assert_eq!(p1.update, Some(Target::minutes(15)));
        assert!(!p1.business_hours);
        assert_eq!(sla.targets(Priority::P2).update, Some(Target::minutes(60)));
        let p3 = sla.targets(Priority::P3);
        assert!(p3.business_hours && p3.update.is_none());
        assert_eq!(
            p3.resolve,
            Target {
                days: 3,
                minutes: 0,
                seconds: 0
            }
        );
        assert_eq!(sla.targets(Priority::P4).resolve.to_string(), "10d");
        assert_eq!(sla.warn_at(), 0.8);
        assert_eq!(sla.supervisor_delay(), Target::minutes(30));
        assert_eq!(sla.declared_ceiling(), Priority::P2);
    }

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("30m"), Ok(Target::minutes(30)));
        assert_eq!(Target::parse("2H"), Ok(Target::minutes(120)));
        assert_eq!(Target::parse("1h30m"), Ok(Target::minutes(90)));
        assert_eq!(
            Target::parse("1d 4h"),
            Ok(Target {
                days: 1,
                minutes: 240,
                seconds: 0
            })
        );
        assert_eq!(Target::parse("90m").unwrap().to_string(), "1h30m");
        assert_eq!(Target::parse("20s").unwrap().to_string(), "20s");
        assert_eq!(Target::parse("90s").unwrap().to_string(), "1m30s");
        let t0 = Utc::now();
        let cal = Calendar::default();
        assert_eq!(
            Target::parse("1m20s").unwrap().after(t0, false, &cal) - t0,
            TimeDelta::seconds(80)
        );
        for bad in [
            "", "5", "h", "0m", "1m1h", "1h1h", "1w", "-1h", "1.5h", "99999d", "0s", "5s1m",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_every_key() {
        let cfg: SlaConfig = toml::from_str(
            r#"
warn_at = 1.5
supervisor_delay = "soon"
urgent_words = [" "]
[targets.P3]
respond = "4x"
update = "none"
[[rules]]
pattern = "(unclosed"
priority = "P1"
[[oncall]]
from = "2026-11-30"
to = 2026-11-01
hours = "18:00-18:00"
primary = ""
backup = ""
"#,
        )
        .unwrap();
        let keys: Vec<String> = cfg
            .build("sla")
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect();
        assert_eq!(
            keys,
            [
                "sla.targets.P3.respond",
                "sla.warn_at",
                "sla.supervisor_delay",
                "sla.urgent_words[0]",
                "sla.rules[0].pattern",
                "sla.oncall[0].to",
                "sla.oncall[0].hours",
                "sla.oncall[0].primary",
                "sla.oncall[0].backup",
            ]
        );
        let e = toml::from_str::<SlaConfig>("[targets.P5]\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `P5`"), "{e}");
        let e = toml::from_str::<SlaConfig>("[[rules]]\npattern='x'\npriority='P9'\n").unwrap_err();
        assert!(e.to_string().contains("P9"), "{e}");
        // Turning the update clock off.
        let cfg: SlaConfig = toml::from_str("[targets.P1]\nupdate = \"off\"\n").unwrap();
        assert_eq!(cfg.build("sla").unwrap().targets(Priority::P1).update, None);
    }

    #[test]
    fn classify_zh_and_en() {
        let sla = SlaPolicy::default();
        let c = |s: &str, b: &str| classify(s, b, false, Priority::P3, &sla);
        let cases = [
            ("网站宕机了", "", Priority::P1, "outage-zh"),
            (
                "求助",
                "首页打不开，全站都是这样",
                Priority::P1,
                "outage-zh",
            ),
            ("网站down了", "", Priority::P1, "outage-en"),
            ("Site is down", "", Priority::P1, "outage-en"),
            ("Outage since 9am", "", Priority::P1, "outage-en"),
            (
                "help",
                "We cannot access the admin panel",
                Priority::P1,
                "outage-en",
            ),
            (
                "错误",
                "访问首页返回502 Bad Gateway",
                Priority::P1,
                "http-5xx",
            ),
            ("HTTP 500 on checkout", "", Priority::P1, "http-5xx"),
            ("登录问题", "用户无法登录", Priority::P2, "broken-zh"),
            ("Login is broken", "", Priority::P2, "broken-en"),
            ("请问如何导出发票", "", Priority::P4, "question-zh"),
            ("Question about invoices", "", Priority::P4, "question-en"),
            // Most urgent wins over a polite question.
            ("请问为什么网站打不开", "", Priority::P1, "outage-zh"),
        ];
        for (subject, body, p, rule) in cases {
            let (got, why) = c(subject, body);
            assert_eq!(got, p, "{subject} / {body}: {why}");
            assert!(why.contains(rule), "{subject}: {why}");
        }
        // No false alarms from ordinary words.
        for (subject, body) in [
            ("Download link", "Please send the drop-down options"),
            ("Invoice", "We have 500 users and 502 seats"),
            ("报价单", "请把合同发给我们"),
        ] {
            assert_eq!(
                c(subject, body),
                (Priority::P3, "default P3".into()),
                "{subject}"
            );
        }
        // P4 rules read the subject only: a polite body does not demote a fault.
        assert_eq!(c("导出失败", "请问怎么办").0, Priority::P3);
    }

    #[test]
    fn declared_priority_ceiling_and_vip() {
        let sla = SlaPolicy::default();
        let c = |s: &str, vip: bool| classify(s, "", vip, Priority::P3, &sla);
        assert_eq!(
            c("[P1] 报表颜色不对", false),
            (Priority::P2, "declared [P1] (P1), capped at P2".into())
        );
        assert_eq!(c("【紧急】报表导出慢", false).0, Priority::P2);
        assert_eq!(c("URGENT: invoice", false).0, Priority::P2);
        assert_eq!(c("[p4] small thing", false).0, Priority::P4);
        // Negated or embedded urgency words declare nothing.
        assert_eq!(c("不紧急：发票抬头", false).0, Priority::P3);
        assert_eq!(c("Not urgent - invoice", false).0, Priority::P3);
        assert_eq!(c("non-urgent: invoice", false).0, Priority::P3);
        assert_eq!(c("insurgent theme", false).0, Priority::P3);
        assert_eq!(c("非常紧急", false).0, Priority::P2);
        // A declaration cannot lower what the rules found.
        assert_eq!(c("[P3] 网站宕机", false).0, Priority::P1);
        // VIP raises one level, after the ceiling.
        let (p, why) = c("发票问题", true);
        assert_eq!(p, Priority::P2);
        assert_eq!(why, "default P3; raised from P3 for VIP");
        assert_eq!(c("[P1] 报表", true).0, Priority::P1);
        assert_eq!(c("请问如何导出", true).0, Priority::P3);
        assert!(c("网站宕机", true).1.contains("already P1"));
        // A configured ceiling of P1 honours P1.
        let sla1 = SlaConfig {
            declared_ceiling: Priority::P1,
            ..SlaConfig::default()
        }
        .build("sla")
        .unwrap();
        assert_eq!(
            classify("[P1] x", "", false, Priority::P3, &sla1).0,
            Priority::P1
        );
    }

    /// P1 opened on a weekday morning, nobody answers: each rung of both clocks exactly once,
    /// across restarts and crashed sweeps, none lost.
    #[test]
    fn p1_ladder_fires_each_step_once() {
        let (cal, sla) = example();
        let created = at("2026-11-03 10:00");
        let c = Clocks::start(&cal, &sla, Priority::P1, created);
        assert_eq!(c.next_due(), Some(at("2026-11-03 10:24")));
        let (c, fired) = sweep(c, created, at("2026-11-03 14:00"), min(1));
        use ClockKind::{FirstResponse as Fr, Resolution as Re};
        use Step::*;
        assert_eq!(
            fired,
            [
                (Fr, Warning, "2026-11-03 10:24".into()),
                (Fr, Breach, "2026-11-03 10:30".into()),
                (Fr, Supervisor, "2026-11-03 11:00".into()),
                (Re, Warning, "2026-11-03 11:36".into()),
                (Re, Breach, "2026-11-03 12:00".into()),
                (Re, Supervisor, "2026-11-03 12:30".into()),
            ]
        );
        assert_eq!(c.next_due(), None);
        assert!(c.first_response.is_breached(at("2026-11-03 14:00")));
        // The stored form is plain JSON a later version can read.
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["first_response"]["due_at"], "2026-11-03T02:30:00Z");
        assert_eq!(json["resolution"]["fired"][0], "warning");
    }

    #[test]
    fn update_clock_cycles() {
        let (cal, sla) = example();
        let p = Priority::P1;
        let c = Clocks::start(&cal, &sla, p, at("2026-11-03 10:00"));
        let c = c.on_agent_reply(&cal, &sla, p, at("2026-11-03 10:10"));
        assert_eq!(c.first_response.state(), ClockState::Stopped);
        assert!(!c.first_response.is_breached(at("2026-11-03 12:00")));
        assert_eq!(c.update.due_at, Some(at("2026-11-03 10:25")));
        let (c, fired) = sweep(c, at("2026-11-03 10:10"), at("2026-11-03 10:39"), min(1));
        assert_eq!(
            fired,
            [(
                ClockKind::Update,
                Step::UpdateReminder,
                "2026-11-03 10:25".into()
            )]
        );
        // A progress update starts a new cycle whose reminder fires again, once.
        let c = c.on_customer_visible_update(&cal, &sla, p, at("2026-11-03 10:40"));
        assert_eq!(c.update.cycle, 2);
        assert!(c.update.fired.is_empty());
        let (c, fired) = sweep(c, at("2026-11-03 10:40"), at("2026-11-03 11:30"), min(1));
        use Step::*;
        let fired: Vec<_> = fired
            .into_iter()
            .filter(|f| f.0 == ClockKind::Update)
            .collect();
        assert_eq!(
            fired,
            [
                (ClockKind::Update, UpdateReminder, "2026-11-03 10:55".into()),
                (ClockKind::Update, Supervisor, "2026-11-03 11:25".into()),
            ]
        );
        // A stale escalation from the old cycle cannot mark the new one.
        let old = Escalation {
            clock: ClockKind::Update,
            cycle: 1,
            step: Step::UpdateReminder,
            at: at("2026-11-03 10:25"),
        };
        let c2 = c.on_customer_visible_update(&cal, &sla, p, at("2026-11-03 11:40"));
        assert_eq!(c2.mark_fired(&old), c2);
        // Resolving stops it; updates after that start nothing.
        let r = c2.on_status(&cal, &sla, p, Status::Resolved, at("2026-11-03 11:45"));
        assert_eq!(r.update.state(), ClockState::Stopped);
        let r2 = r.on_customer_visible_update(&cal, &sla, p, at("2026-11-03 11:50"));
        assert_eq!(r2, r);
        assert_eq!(r2.next_due(), None);
        // P3 has no update clock.
        let p3 = Clocks::start(&cal, &sla, Priority::P3, at("2026-11-03 10:00"));
        let p3 = p3.on_agent_reply(&cal, &sla, Priority::P3, at("2026-11-03 10:10"));
        assert_eq!(p3.update.state(), ClockState::Idle);
    }

    /// Pending over a weekend costs a business-hours ticket only the business hours inside it.
    #[test]
    fn pending_shifts_due_by_paused_business_time() {
        let cal = Calendar::default(); // 09:00-18:00, no lunch break
        let sla = SlaPolicy::default();
        let p = Priority::P3;
        // Friday 16:00: respond by Monday 11:00, resolve in 3 business days (7/9 into
        // Wednesday = 16:00).
        let c = Clocks::start(&cal, &sla, p, at("2026-11-06 16:00"));
        assert_eq!(c.first_response.due_at, Some(at("2026-11-09 11:00")));
        assert_eq!(c.resolution.due_at, Some(at("2026-11-11 16:00")));
        let c = c.on_agent_reply(&cal, &sla, p, at("2026-11-06 16:30"));
        let c = c.on_status(&cal, &sla, p, Status::Pending, at("2026-11-06 16:30"));
        assert!(c.is_pending());
        // While pending nothing fires, even long past the due time.
        assert!(c.due_steps(at("2026-11-20 10:00")).is_empty());
        assert_eq!(c.next_due(), None);
        // Customer answers Monday 10:30: paused 1.5h on Friday + 1.5h on Monday = 3 business
        // hours (the weekend is free); due moves from Wed 16:00 to Thu 10:00.
        let c = c.on_status(&cal, &sla, p, Status::Open, at("2026-11-09 10:30"));
        assert_eq!(c.resolution.paused_business_secs, 3 * 3600);
        assert_eq!(c.resolution.paused_secs, (2 * 24 + 18) * 3600);
        assert_eq!(c.resolution.due_at, Some(at("2026-11-12 10:00")));
        assert_eq!(
            c.resolution.schedule[&Step::Supervisor],
            at("2026-11-12 10:30")
        );
        // The same ticket as P1 shifts by wall-clock time instead.
        let c1 = Clocks::start(&cal, &sla, Priority::P1, at("2026-11-03 10:00"));
        let c1 = c1.on_status(
            &cal,
            &sla,
            Priority::P1,
            Status::Pending,
            at("2026-11-03 10:10"),
        );
        let c1 = c1.on_status(
            &cal,
            &sla,
            Priority::P1,
            Status::Open,
            at("2026-11-03 10:40"),
        );
        assert_eq!(c1.resolution.due_at, Some(at("2026-11-03 12:30")));
        assert_eq!(c1.first_response.due_at, Some(at("2026-11-03 11:00")));
        // Repeated events change nothing.
        let again = c1.on_status(
            &cal,
            &sla,
            Priority::P1,
            Status::Open,
            at("2026-11-03 10:50"),
        );
        assert_eq!(again, c1);
    }

    #[test]
    fn priority_change_mid_flight() {
        let cal = Calendar::default();
        let sla = SlaPolicy::default();
        let c = Clocks::start(&cal, &sla, Priority::P3, at("2026-11-02 10:00"));
        assert_eq!(c.first_response.due_at, Some(at("2026-11-02 14:00")));
        // Raised to P1 at 11:00: due times from the start, so the response is already late.
        let c = c.on_priority_change(&cal, &sla, Priority::P1, at("2026-11-02 11:00"));
        assert_eq!(c.first_response.due_at, Some(at("2026-11-02 10:30")));
        assert_eq!(c.resolution.due_at, Some(at("2026-11-02 12:00")));
        let due = c.due_steps(at("2026-11-02 11:00"));
        let steps: Vec<_> = due.iter().map(|e| (e.clock, e.step)).collect();
        assert_eq!(
            steps,
            [
                (ClockKind::FirstResponse, Step::Breach),
                (ClockKind::FirstResponse, Step::Supervisor)
            ],
            "the late warning is folded into the breach"
        );
        let c = due.iter().fold(c, |c, e| c.mark_fired(e));
        assert!(c.first_response.fired.contains(&Step::Warning));
        // The reply starts the P1 update clock.
        let c = c.on_agent_reply(&cal, &sla, Priority::P1, at("2026-11-02 11:05"));
        assert_eq!(c.update.due_at, Some(at("2026-11-02 11:20")));
        // Lowered to P3: no update clock, resolution back to 3 business days from the start,
        // fired steps kept.
        let c = c.on_priority_change(&cal, &sla, Priority::P3, at("2026-11-02 11:10"));
        assert_eq!(c.update.state(), ClockState::Idle);
        assert_eq!(c.resolution.due_at, Some(at("2026-11-05 10:00")));
        assert!(c.first_response.fired.contains(&Step::Breach));
        // Raised to P2 after the first response: the update clock starts now.
        let c = c.on_priority_change(&cal, &sla, Priority::P2, at("2026-11-02 11:20"));
        assert_eq!(c.update.due_at, Some(at("2026-11-02 12:20")));
        assert!(
            c.update.cycle > 1,
            "a fresh cycle, distinct from the cleared one"
        );
        // A pause taken as P3 (business time) counts in wall-clock time after a raise to P1.
        let p = Clocks::start(&cal, &sla, Priority::P3, at("2026-11-06 17:00"));
        let p = p.on_status(
            &cal,
            &sla,
            Priority::P3,
            Status::Pending,
            at("2026-11-06 17:00"),
        );
        let p = p.on_status(
            &cal,
            &sla,
            Priority::P3,
            Status::Open,
            at("2026-11-09 09:30"),
        );
        assert_eq!(p.resolution.paused_business_secs, 90 * 60);
        let p = p.on_priority_change(&cal, &sla, Priority::P1, at("2026-11-09 09:31"));
        assert_eq!(
            p.resolution.due_at,
            Some(at("2026-11-06 19:00") + TimeDelta::seconds(p.resolution.paused_secs))
        );
    }

    #[test]
    fn catch_up_after_downtime() {
        let cal = Calendar::default();
        let sla = SlaPolicy::default();
        let c = Clocks::start(&cal, &sla, Priority::P2, at("2026-11-03 10:00"));
        // The daemon was down for three hours.
        let due = c.due_steps(at("2026-11-03 13:00"));
        let got: Vec<_> = due.iter().map(|e| (e.clock, e.step, local(e.at))).collect();
        assert_eq!(
            got,
            [
                (
                    ClockKind::FirstResponse,
                    Step::Breach,
                    "2026-11-03 11:00".into()
                ),
                (
                    ClockKind::FirstResponse,
                    Step::Supervisor,
                    "2026-11-03 11:30".into()
                ),
            ]
        );
        let c = roundtrip(&due.iter().fold(c, |c, e| c.mark_fired(e)));
        assert!(c.due_steps(at("2026-11-03 13:00")).is_empty());
        // Next: the resolution warning at 80% of 8h.
        assert_eq!(c.next_due(), Some(at("2026-11-03 16:24")));
    }

    #[test]
    fn reopen_restarts_resolution() {
        let cal = Calendar::default();
        let sla = SlaPolicy::default();
        let p = Priority::P2;
        let c = Clocks::start(&cal, &sla, p, at("2026-11-03 10:00"));
        let c = c.on_agent_reply(&cal, &sla, p, at("2026-11-03 10:20"));
        let due = c.due_steps(at("2026-11-03 16:30"));
        let c = due.iter().fold(c, |c, e| c.mark_fired(e));
        assert!(c.resolution.fired.contains(&Step::Warning));
        let c = c.on_status(&cal, &sla, p, Status::Resolved, at("2026-11-03 17:00"));
        assert!(c.is_resolved());
        assert!(!c.resolution.is_breached(at("2026-11-04 00:00")));
        assert_eq!(c.next_due(), None);
        let c = c.on_status(&cal, &sla, p, Status::Open, at("2026-11-04 09:00"));
        assert_eq!(c.resolution.cycle, 2);
        assert!(c.resolution.fired.is_empty());
        assert_eq!(c.resolution.due_at, Some(at("2026-11-04 17:00")));
        assert_eq!(c.update.due_at, Some(at("2026-11-04 10:00")));
        assert_eq!(c.first_response.state(), ClockState::Stopped);
        // Reopened straight into pending: restarted, then paused.
        let r = c.on_status(&cal, &sla, p, Status::Closed, at("2026-11-04 10:00"));
        let r = r.on_status(&cal, &sla, p, Status::Pending, at("2026-11-04 11:00"));
        assert_eq!(r.resolution.cycle, 3);
        assert!(r.is_pending());
        assert_eq!(r.update.state(), ClockState::Paused);
    }

    #[test]
    fn on_call_routing() {
        let (cal, sla) = example();
        let tier2 = vec!["tina".to_owned()];
        let sups = vec!["sam".to_owned()];
        let team = Team {
            assignee: Some("carol"),
            tier2: &tier2,
            supervisors: &sups,
        };
        let r = |step, p, t: &str| recipients(step, p, at(t), &cal, &sla, &team);
        let names = |r: Recipients| r.to;
        // Night, P1: the on-call rota instead of the day team.
        let night = "2026-11-04 02:00";
        let w = r(Step::Warning, Priority::P1, night);
        assert_eq!(
            (w.to.clone(), w.wait_until, w.on_call),
            (vec!["alice".into()], None, true)
        );
        assert_eq!(
            names(r(Step::Breach, Priority::P1, night)),
            ["alice", "bob"]
        );
        assert_eq!(
            names(r(Step::Supervisor, Priority::P2, night)),
            ["alice", "bob", "sam"]
        );
        assert_eq!(
            names(r(Step::UpdateReminder, Priority::P1, night)),
            ["alice"]
        );
        // Night, P3: the usual people, held until the morning.
        let p3 = r(Step::Breach, Priority::P3, night);
        assert_eq!(p3.to, ["tina", "carol"]);
        assert_eq!(p3.wait_until.map(local), Some("2026-11-04 09:00".into()));
        // Lunch break counts as outside hours, too.
        let lunch = r(Step::Warning, Priority::P4, "2026-11-04 12:30");
        assert_eq!(lunch.wait_until.map(local), Some("2026-11-04 13:00".into()));
        // Friday night P4 waits for Monday.
        let fri = r(Step::Warning, Priority::P4, "2026-11-06 20:00");
        assert_eq!(fri.wait_until.map(local), Some("2026-11-09 09:00".into()));
        // Business hours: the day team, whatever the priority.
        let day = "2026-11-04 10:00";
        assert_eq!(names(r(Step::Warning, Priority::P1, day)), ["carol"]);
        assert_eq!(names(r(Step::Breach, Priority::P1, day)), ["tina", "carol"]);
        assert_eq!(names(r(Step::Supervisor, Priority::P3, day)), ["sam"]);
        // The rota's last night runs into December 1st; after that nobody is on call and P1
        // falls back to the usual people, immediately.
        assert!(r(Step::Warning, Priority::P1, "2026-12-01 03:00").on_call);
        let dec = r(Step::Warning, Priority::P1, "2026-12-01 20:00");
        assert_eq!(
            (dec.to, dec.on_call, dec.wait_until),
            (vec!["carol".into()], false, None)
        );
        // Saturday afternoon is outside the rota's 18:00-09:00 hours.
        assert!(!r(Step::Warning, Priority::P1, "2026-11-07 14:00").on_call);
        // Unassigned: tier 2 gets the assignee's mail.
        let unassigned = Team {
            assignee: None,
            ..team
        };
        let w = recipients(
            Step::Warning,
            Priority::P3,
            at(day),
            &cal,
            &sla,
            &unassigned,
        );
        assert_eq!(w.to, ["tina"]);
    }

    /// A P4 ticket across National Day, swept every ten minutes for four weeks with a JSON
    /// round trip (a "restart") between sweeps and crashed sweeps: every step once, at business
    /// times computed over the lunch break, the holiday week and the make-up day.
    #[test]
    fn weeks_of_simulated_time() {
        let (cal, sla) = example();
        let created = at("2026-09-29 10:00");
        let c = Clocks::start(&cal, &sla, Priority::P4, created);
        assert_eq!(c.first_response.due_at, Some(at("2026-09-30 10:00")));
        assert_eq!(c.resolution.due_at, Some(at("2026-10-19 10:00")));
        let (c, fired) = sweep(c, created, created + TimeDelta::weeks(4), min(10));
        use ClockKind::{FirstResponse as Fr, Resolution as Re};
        use Step::*;
        assert_eq!(
            fired,
            [
                (Fr, Warning, "2026-09-29 17:24".into()),
                (Fr, Breach, "2026-09-30 10:00".into()),
                (Fr, Supervisor, "2026-09-30 10:30".into()),
                (Re, Warning, "2026-10-15 10:00".into()),
                (Re, Breach, "2026-10-19 10:00".into()),
                (Re, Supervisor, "2026-10-19 10:30".into()),
            ]
        );
        assert_eq!(c.next_due(), None);
        // All of them land in business hours, so none has to wait.
        for (_, step, t) in &fired {
            let t = at(t);
            let r = recipients(*step, Priority::P4, t, &cal, &sla, &Team::default());
            assert_eq!(r.wait_until, None, "{}", local(t));
        }
    }
}
