//! The SLA rules together: the README's example policy, ladders run through simulated weeks
//! with restarts, pauses, priority changes and downtime.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use serde::Deserialize;

use crate::domain::calendar::Calendar;
use crate::domain::priority::Priority;
use crate::domain::sla::classify::{classify, escalation_request};
use crate::domain::sla::clocks::Clocks;
use crate::domain::sla::ladder::{ClockKind, ClockState, Escalation, Step};
use crate::domain::sla::policy::{SlaConfig, SlaPolicy};
use crate::domain::sla::routing::{Recipients, Team, recipients};
use crate::domain::sla::targets::{Target, default_targets};
use crate::domain::status::Status;

const PRIORITIES: [Priority; 4] = Priority::ALL;

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
    let t0 = at("2026-11-24 10:00");
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
