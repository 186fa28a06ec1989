//! The business calendar: working hours per weekday in a time zone, holidays, and make-up working
//! days (调休), with business-time arithmetic over them.
//!
//! Pure core: no clock and no I/O. Every instant in and out is UTC; the zone only decides which
//! instants are working hours. Each date's wall-clock windows are converted to UTC on their own,
//! so a daylight-saving switch moves the windows instead of corrupting the arithmetic (adding a
//! fixed offset would be an hour off on the Monday after a switch).
//!
//! # Definitions
//! - A *window* is a half-open wall-clock range `[start, end)` on one date; `end` may be `24:00`.
//!   It covers every instant from when the wall clock first reads `start` until it last reads
//!   `end`. A time skipped by a spring-forward gap is taken as the moment the clock jumps, so a
//!   window crossing the gap is an hour shorter, and one spanning a repeated fall-back hour is an
//!   hour longer: business time is real elapsed time, never wall-clock difference.
//! - A date's hours: none on a holiday; `makeup_hours` on a make-up day; otherwise its weekday's.
//!   A *working day* is a date whose hours are not empty.
//! - *Business time* between two instants is the length of their overlap with the windows.
//! - *N business days* is defined by [`Calendar::add_business_days`]: the same relative position
//!   within the working day N working days later, each day weighed by its own hours.
//!
//! Arithmetic walks the calendar day by day (each day is a handful of windows), never minute by
//! minute, so ten business days across a week-long holiday costs a few dozen conversions.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use crate::domain::problem::Problem;

/// Seconds in a day; a [`TimeRange`] may end at this value (`24:00`).
const DAY_SECS: u32 = 86_400;
/// A calendar that shows no working hours for this many consecutive days is treated as having
/// none at all, so arithmetic over a degenerate calendar ends instead of spinning forever.
const MAX_EMPTY_DAYS: u32 = 3_660;

/// A span of business time in UTC, `[start, end)`.
pub(crate) type Interval = (DateTime<Utc>, DateTime<Utc>);

/// A working day and its business intervals.
type WorkingDay = (NaiveDate, Vec<Interval>);

/// A wall-clock range `HH:MM-HH:MM`, as seconds from local midnight.
///
/// `end` may be 86 400 (`24:00`). For business hours `start < end`; on-call hours may wrap past
/// midnight (`end < start`, as in `18:00-09:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct TimeRange {
    /// Seconds from midnight at which the range starts.
    pub(crate) start: u32,
    /// Seconds from midnight at which it ends (exclusive), up to 86 400.
    pub(crate) end: u32,
}

impl TimeRange {
    /// The whole day, `00:00-24:00`.
    pub(crate) const ALL_DAY: TimeRange = TimeRange {
        start: 0,
        end: DAY_SECS,
    };

    /// Parses `HH:MM-HH:MM` (`H:MM` and `24:00` accepted); does not check the order of the ends.
    pub(crate) fn parse(s: &str) -> Result<TimeRange, BadTime> {
        let bad = || BadTime::NotARange(s.to_owned());
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let start = parse_hhmm(a.trim()).ok_or_else(bad)?;
        let end = parse_hhmm(b.trim()).ok_or_else(bad)?;
        if start == DAY_SECS {
            return Err(BadTime::StartsAtMidnight(s.to_owned()));
        }
        Ok(TimeRange { start, end })
    }

    /// True when the range runs past midnight into the next date.
    pub(crate) fn wraps(&self) -> bool {
        self.end < self.start
    }

    /// The wall-clock span this range covers when it starts on `date`; a wrapping range or one
    /// ending at `24:00` ends on the next date.
    pub(crate) fn on(&self, date: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
        let time = |secs: u32| {
            NaiveTime::from_num_seconds_from_midnight_opt(secs % DAY_SECS, 0)
                .unwrap_or(NaiveTime::MIN)
        };
        let end_date = if self.wraps() || self.end >= DAY_SECS {
            date.succ_opt().unwrap_or(date)
        } else {
            date
        };
        (
            date.and_time(time(self.start)),
            end_date.and_time(time(self.end)),
        )
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |s: u32| format!("{:02}:{:02}", s / 3600, s % 3600 / 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

/// `HH:MM` → seconds from midnight; `24:00` allowed.
fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(DAY_SECS),
        (0..=23, 0..=59) => Some(h * 3600 + m * 60),
        _ => None,
    }
}

/// Accepts a date either as a string (`"2026-10-01"`) or as a bare TOML date (`2026-10-01`),
/// since operators write both; validation parses the text later so every bad date is reported.
#[derive(Deserialize)]
#[serde(untagged, expecting = "a date such as \"2026-10-01\"")]
enum DateLiteral {
    Text(String),
    Toml(toml::value::Datetime),
}

impl DateLiteral {
    fn into_text(self) -> String {
        match self {
            DateLiteral::Text(s) => s,
            DateLiteral::Toml(d) => d.to_string(),
        }
    }
}

/// Deserialises one date (string or TOML date) into its text.
pub(crate) fn date_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    DateLiteral::deserialize(d).map(DateLiteral::into_text)
}

/// Deserialises a list of dates (strings or TOML dates) into their texts.
pub(crate) fn date_texts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<DateLiteral>::deserialize(d).map(|v| v.into_iter().map(DateLiteral::into_text).collect())
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(s: &str) -> Result<NaiveDate, BadTime> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| BadTime::NotADate(s.to_owned()))
}

/// Why a written time range or date is not one; the messages quote the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadTime {
    /// Not `HH:MM-HH:MM`.
    #[error("`{0}` is not a time range such as \"09:00-18:00\"")]
    NotARange(String),
    /// `24:00-…`.
    #[error("`{0}`: a range cannot start at 24:00")]
    StartsAtMidnight(String),
    /// Not `YYYY-MM-DD`.
    #[error("`{0}` is not a date such as \"2026-10-01\"")]
    NotADate(String),
}

/// `[calendar] hours`: business hours per weekday, each a list of `HH:MM-HH:MM` ranges in order
/// (several ranges allow a lunch break). A day left out keeps its default: Monday to Friday
/// `09:00-18:00`, weekend closed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct WeekHours {
    pub(crate) mon: Vec<String>,
    pub(crate) tue: Vec<String>,
    pub(crate) wed: Vec<String>,
    pub(crate) thu: Vec<String>,
    pub(crate) fri: Vec<String>,
    pub(crate) sat: Vec<String>,
    pub(crate) sun: Vec<String>,
}

impl Default for WeekHours {
    fn default() -> Self {
        let day = || vec!["09:00-18:00".to_owned()];
        WeekHours {
            mon: day(),
            tue: day(),
            wed: day(),
            thu: day(),
            fri: day(),
            sat: Vec::new(),
            sun: Vec::new(),
        }
    }
}

impl WeekHours {
    /// The days Monday to Sunday with their key names.
    fn days(&self) -> [(&'static str, &[String]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// `[calendar]` as written in the configuration; [`CalendarConfig::build`] validates it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CalendarConfig {
    /// IANA zone the hours are in.
    pub(crate) time_zone: String,
    /// Business hours per weekday.
    pub(crate) hours: WeekHours,
    /// Dates with no business hours (public holidays), `YYYY-MM-DD`.
    #[serde(deserialize_with = "date_texts")]
    pub(crate) holidays: Vec<String>,
    /// Non-working dates (usually weekend days) that are worked to make up for a holiday (调休).
    #[serde(deserialize_with = "date_texts")]
    pub(crate) makeup_days: Vec<String>,
    /// Hours worked on a make-up day; Monday's hours when absent (a make-up day is worked as an
    /// ordinary weekday).
    pub(crate) makeup_hours: Option<Vec<String>>,
}

impl Default for CalendarConfig {
    fn default() -> Self {
        CalendarConfig {
            time_zone: "Asia/Shanghai".into(),
            hours: WeekHours::default(),
            holidays: Vec::new(),
            makeup_days: Vec::new(),
            makeup_hours: None,
        }
    }
}

impl CalendarConfig {
    /// Validates the configuration; `key` is the section's dotted name (`calendar`), prefixed to
    /// every problem's key. All problems are reported, not just the first.
    pub(crate) fn build(&self, key: &str) -> Result<Calendar, Vec<Problem>> {
        let mut problems = Vec::new();
        let mut problem = |k: String, message: String| problems.push(Problem { key: k, message });

        let tz = match self.time_zone.trim().parse::<Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                problem(
                    format!("{key}.time_zone"),
                    format!(
                        "`{}` is not an IANA time zone such as \"Asia/Shanghai\"",
                        self.time_zone
                    ),
                );
                None
            }
        };

        let mut hours: [Vec<TimeRange>; 7] = Default::default();
        for (i, (day, list)) in self.hours.days().into_iter().enumerate() {
            hours[i] = day_ranges(list, &format!("{key}.hours.{day}"), &mut problem);
        }
        if self.hours.days().iter().all(|(_, l)| l.is_empty()) {
            problem(
                format!("{key}.hours"),
                "no weekday has business hours, so no business-hours deadline could ever fall due"
                    .into(),
            );
        }

        let mut holidays = BTreeMap::new();
        for (i, s) in self.holidays.iter().enumerate() {
            let k = format!("{key}.holidays[{i}]");
            match parse_date(s) {
                Ok(d) => {
                    if let Some(j) = holidays.insert(d, i) {
                        problem(k, format!("{d} is already listed as holidays[{j}]"));
                    }
                }
                Err(e) => problem(k, e.to_string()),
            }
        }

        let makeup_hours = match &self.makeup_hours {
            Some(list) => {
                let k = format!("{key}.makeup_hours");
                if list.is_empty() {
                    problem(k.clone(), "a make-up day needs at least one range".into());
                }
                day_ranges(list, &k, &mut problem)
            }
            None => {
                if hours[0].is_empty() && !self.makeup_days.is_empty() {
                    problem(
                        format!("{key}.makeup_hours"),
                        "needed: make-up days are worked with Monday's hours, and Monday has none"
                            .into(),
                    );
                }
                hours[0].clone()
            }
        };
        let mut makeup_days = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for (i, s) in self.makeup_days.iter().enumerate() {
            let k = format!("{key}.makeup_days[{i}]");
            let d = match parse_date(s) {
                Ok(d) => d,
                Err(e) => {
                    problem(k, e.to_string());
                    continue;
                }
            };
            if let Some(j) = seen.insert(d, i) {
                problem(k, format!("{d} is already listed as makeup_days[{j}]"));
            } else if let Some(j) = holidays.get(&d) {
                problem(k, format!("{d} is also listed as holidays[{j}]"));
            } else if !hours[weekday_index(d)].is_empty() {
                // Almost always a typo for the weekend date next to it: listing a normal working
                // day would silently leave the intended weekend day closed.
                problem(
                    k,
                    format!(
                        "{d} is a {}, already a working day; make-up days are dates that are otherwise not worked",
                        d.weekday()
                    ),
                );
            } else {
                makeup_days.insert(d, makeup_hours.clone());
            }
        }

        match tz {
            Some(tz) if problems.is_empty() => Ok(Calendar {
                tz,
                hours,
                holidays: holidays.into_keys().collect(),
                makeup_days,
            }),
            _ => Err(problems),
        }
    }
}

/// Parses one day's ranges, which must be increasing and not overlap.
fn day_ranges(
    list: &[String],
    key: &str,
    problem: &mut impl FnMut(String, String),
) -> Vec<TimeRange> {
    let mut out: Vec<TimeRange> = Vec::new();
    for (i, s) in list.iter().enumerate() {
        let k = format!("{key}[{i}]");
        match TimeRange::parse(s) {
            Ok(r) if r.start >= r.end => problem(
                k,
                format!(
                    "`{s}` must start before it ends; business hours cannot run past midnight (use `24:00` and the next day's `00:00`)"
                ),
            ),
            Ok(r) => match out.last() {
                Some(prev) if r.start < prev.end => problem(
                    k,
                    format!("`{s}` must start at or after the end of the range before it ({prev})"),
                ),
                _ => out.push(r),
            },
            Err(e) => problem(k, e.to_string()),
        }
    }
    out
}

/// Monday = 0 … Sunday = 6.
fn weekday_index(d: NaiveDate) -> usize {
    d.weekday().num_days_from_monday() as usize
}

/// Working hours in a time zone, with holidays and make-up days. Built by
/// [`CalendarConfig::build`], so it always has at least one working weekday.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
    hours: [Vec<TimeRange>; 7],
    holidays: BTreeSet<NaiveDate>,
    makeup_days: BTreeMap<NaiveDate, Vec<TimeRange>>,
}

impl Default for Calendar {
    /// Asia/Shanghai, Monday to Friday 09:00-18:00, no holidays.
    fn default() -> Self {
        CalendarConfig::default()
            .build("calendar")
            .expect("the default calendar is valid")
    }
}

impl Calendar {
    /// The zone the hours are in.
    pub(crate) fn tz(&self) -> Tz {
        self.tz
    }

    /// Business hours on `date` (local), honouring holidays and make-up days.
    pub(crate) fn hours_on(&self, date: NaiveDate) -> &[TimeRange] {
        if self.holidays.contains(&date) {
            return &[];
        }
        if let Some(h) = self.makeup_days.get(&date) {
            return h;
        }
        &self.hours[weekday_index(date)]
    }

    #[cfg(test)]
    /// True when `date` (local) has business hours.
    pub(crate) fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.hours_on(date).is_empty()
    }

    /// The local date of `t`.
    pub(crate) fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// The first instant of local `date`: midnight, or the end of a DST gap that skips midnight.
    pub(crate) fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.instant(date, 0, Edge::Start)
            // `instant` only fails for a time past 24:00 on the last representable date.
            .unwrap_or_else(|| date.and_time(NaiveTime::MIN).and_utc())
    }

    /// True when `t` lies within business hours.
    pub(crate) fn is_business_time(&self, t: DateTime<Utc>) -> bool {
        let d = self.local_date(t);
        // Neighbouring dates too: near a DST switch a window can reach over local midnight.
        [d.pred_opt(), Some(d), d.succ_opt()]
            .into_iter()
            .flatten()
            .flat_map(|d| self.day_intervals(d))
            .any(|(s, e)| s <= t && t < e)
    }

    /// The first business instant at or after `t`: `t` itself during business hours, otherwise
    /// the start of the next window.
    pub(crate) fn next_business_start(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.intervals_from(t)
            .next()
            .map_or(DateTime::<Utc>::MAX_UTC, |(s, _)| s)
    }

    /// The instant at which `duration` of business time has elapsed after `start`.
    ///
    /// Counting starts at the first business instant at or after `start`. A result that falls
    /// exactly on the end of a window is that end (`18:00`), not the next morning's start: the
    /// two are the same business time, and "due today 18:00" is what a person expects. A zero or
    /// negative duration returns `start` unchanged.
    pub(crate) fn add_business(&self, start: DateTime<Utc>, duration: TimeDelta) -> DateTime<Utc> {
        if duration <= TimeDelta::zero() {
            return start;
        }
        let mut rest = duration;
        for (s, e) in self.intervals_from(start) {
            let len = e - s;
            if rest <= len {
                return s + rest;
            }
            rest -= len;
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Business time within `[a, b)`; zero when `b <= a`.
    pub(crate) fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> TimeDelta {
        let mut total = TimeDelta::zero();
        if b <= a {
            return total;
        }
        for (s, e) in self.intervals_from(a) {
            if s >= b {
                break;
            }
            total += e.min(b) - s;
        }
        total
    }

    /// The instant `n` business days after `start`.
    ///
    /// Definition: let D0 be the working day `start` falls in (or, outside hours, the next one
    /// whose hours have not ended) and `f` the share of D0's business hours already elapsed at
    /// `start`. The result lies at the same share `f` of the business hours of D_n, the n-th
    /// working day after D0. So N business days is N working days' worth of business hours,
    /// each day counted at its own length: the rest of D0, the whole days in between and the
    /// share `f` of D_n.
    ///
    /// - With equal days this is the same wall-clock time n working days later (Tue 14:00 + 1
    ///   business day = Wed 14:00, skipping weekends and holidays, counting make-up days).
    /// - With unequal days the position is proportional: Thu 14:00 (5 of 9 hours) + 1 business
    ///   day onto a Friday of 09:00-15:00 is Fri 12:20.
    /// - A start before the day's hours (or outside hours) is `f = 0`, and the result is the end
    ///   of the last of the n whole days rather than the next morning: Mon 08:00 + 1 business
    ///   day = Mon 18:00. A start exactly at the day's end gives the end of D_n.
    /// - `n = 0` returns `start`.
    pub(crate) fn add_business_days(&self, start: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        if n == 0 {
            return start;
        }
        let Some((day0, ivs0)) = self.working_day_from(self.local_date(start), |ivs| {
            ivs.last().is_some_and(|&(_, e)| start <= e)
        }) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        let len0 = total_len(&ivs0);
        let elapsed: TimeDelta = ivs0
            .iter()
            .map(|&(s, e)| (e.min(start) - s).max(TimeDelta::zero()))
            .sum();
        if elapsed.is_zero() {
            // Starting at (or before) the opening of D0: n whole days end at D_{n-1}'s close.
            return match self.nth_working_day(day0, n - 1) {
                Some((_, ivs)) => ivs.last().map_or(DateTime::<Utc>::MAX_UTC, |&(_, e)| e),
                None => DateTime::<Utc>::MAX_UTC,
            };
        }
        let Some((_, ivs_n)) = self.nth_working_day(day0, n) else {
            return DateTime::<Utc>::MAX_UTC;
        };
        let len_n = total_len(&ivs_n);
        // Same share of D_n as of D0, in nanoseconds (i128: the product of two day lengths in ns
        // overflows i64).
        let ns = |d: TimeDelta| i128::from(d.num_nanoseconds().unwrap_or(i64::MAX));
        let offset = ns(elapsed) * ns(len_n) / ns(len0).max(1);
        let offset = TimeDelta::nanoseconds(i64::try_from(offset).unwrap_or(i64::MAX));
        point_in_day(&ivs_n, offset)
    }

    /// Business windows of one local date as UTC intervals, in order; empty on non-working days.
    pub(crate) fn day_intervals(&self, date: NaiveDate) -> Vec<Interval> {
        self.hours_on(date)
            .iter()
            .filter_map(|r| {
                let s = self.instant(date, r.start, Edge::Start)?;
                let e = self.instant(date, r.end, Edge::End)?;
                (s < e).then_some((s, e))
            })
            .collect()
    }

    /// The UTC instant at which the wall clock of `date` reads `secs` after midnight.
    fn instant(&self, date: NaiveDate, secs: u32, edge: Edge) -> Option<DateTime<Utc>> {
        let (date, secs) = if secs >= DAY_SECS {
            (date.succ_opt()?, 0)
        } else {
            (date, secs)
        };
        let ndt = date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?);
        Some(match self.tz.from_local_datetime(&ndt) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            // A repeated (fall-back) time: a window starts the first time the clock reads its
            // start and ends the last time it reads its end.
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
                match edge {
                    Edge::Start => a.min(b),
                    Edge::End => a.max(b),
                }
            }
            LocalResult::None => self.gap_end(ndt),
        })
    }

    /// For a wall-clock time skipped by a DST gap: the instant the clock jumps over it, i.e. the
    /// first instant whose local time is past `ndt`.
    fn gap_end(&self, ndt: NaiveDateTime) -> DateTime<Utc> {
        // Offsets lie within ±1 day, so the jump is within two days either side of `ndt` read as
        // UTC; local time only moves forward near a gap, so bisection finds it to the second.
        let mut lo = ndt.and_utc() - TimeDelta::days(2);
        let mut hi = ndt.and_utc() + TimeDelta::days(2);
        while hi - lo > TimeDelta::seconds(1) {
            let mid = lo + (hi - lo) / 2;
            if mid.with_timezone(&self.tz).naive_local() >= ndt {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }

    /// Business intervals that end after `t`, clipped to start no earlier than `t`, in order and
    /// without overlap.
    fn intervals_from(&self, t: DateTime<Utc>) -> Intervals<'_> {
        Intervals {
            cal: self,
            // From the day before: a window can reach past local midnight near a DST switch.
            date: self.local_date(t).pred_opt().unwrap_or(NaiveDate::MIN),
            after: t,
            queue: VecDeque::new(),
            empty_days: 0,
        }
    }

    /// The first working day at or after `date` whose intervals satisfy `accept`.
    fn working_day_from(
        &self,
        mut date: NaiveDate,
        accept: impl Fn(&[Interval]) -> bool,
    ) -> Option<WorkingDay> {
        for _ in 0..MAX_EMPTY_DAYS {
            let ivs = self.day_intervals(date);
            if !ivs.is_empty() && accept(&ivs) {
                return Some((date, ivs));
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// The `k`-th working day after the working day `day` (`k = 0` is `day` itself).
    fn nth_working_day(&self, mut day: NaiveDate, k: u32) -> Option<WorkingDay> {
        let mut found = self.working_day_from(day, |_| true)?;
        for _ in 0..k {
            day = found.0.succ_opt()?;
            found = self.working_day_from(day, |_| true)?;
        }
        Some(found)
    }
}

/// Which end of a window an instant is for; decides repeated (fall-back) wall-clock times.
#[derive(Clone, Copy)]
enum Edge {
    Start,
    End,
}

fn total_len(ivs: &[Interval]) -> TimeDelta {
    ivs.iter().map(|&(s, e)| e - s).sum()
}

/// The instant `offset` of business time into a day's intervals (`0 < offset`).
fn point_in_day(ivs: &[Interval], mut offset: TimeDelta) -> DateTime<Utc> {
    for &(s, e) in ivs {
        if offset <= e - s {
            return s + offset;
        }
        offset -= e - s;
    }
    ivs.last().map_or(DateTime::<Utc>::MAX_UTC, |&(_, e)| e)
}

/// Iterator over business intervals from an instant on, day by day.
struct Intervals<'a> {
    cal: &'a Calendar,
    date: NaiveDate,
    after: DateTime<Utc>,
    queue: VecDeque<Interval>,
    empty_days: u32,
}

impl Iterator for Intervals<'_> {
    type Item = Interval;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(iv) = self.queue.pop_front() {
                return Some(iv);
            }
            if self.empty_days >= MAX_EMPTY_DAYS {
                return None;
            }
            let ivs = self.cal.day_intervals(self.date);
            self.date = self.date.succ_opt()?;
            let before = self.queue.len();
            for (s, e) in ivs {
                // Clip to what is left after the previous interval, so overlaps that odd DST
                // rules could create are never counted twice.
                let s = s.max(self.after);
                if e > s {
                    self.queue.push_back((s, e));
                    self.after = e;
                }
            }
            if self.queue.len() == before {
                self.empty_days += 1;
            } else {
                self.empty_days = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Beijing office with a lunch break, National Day 2026 (10-01..10-07) and its make-up days
    /// (Sunday 09-27, Saturday 10-10).
    const SHANGHAI: &str = r#"
time_zone = "Asia/Shanghai"
holidays = ["2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05",
            "2026-10-06", "2026-10-07"]
makeup_days = ["2026-09-27", 2026-10-10]
[hours]
mon = ["09:00-12:00", "13:00-18:00"]
tue = ["09:00-12:00", "13:00-18:00"]
wed = ["09:00-12:00", "13:00-18:00"]
thu = ["09:00-12:00", "13:00-18:00"]
fri = ["09:00-12:00", "13:00-18:00"]
"#;

    fn cal(toml_text: &str) -> Calendar {
        let c: CalendarConfig = toml::from_str(toml_text).unwrap();
        c.build("calendar").unwrap()
    }

    fn problems(toml_text: &str) -> Vec<String> {
        let c: CalendarConfig = toml::from_str(toml_text).unwrap();
        c.build("calendar")
            .unwrap_err()
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    /// Local wall-clock time in `cal`'s zone → UTC.
    fn at(cal: &Calendar, s: &str) -> DateTime<Utc> {
        let ndt = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        cal.tz
            .from_local_datetime(&ndt)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn local(cal: &Calendar, t: DateTime<Utc>) -> String {
        t.with_timezone(&cal.tz)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    }

    fn h(n: i64) -> TimeDelta {
        TimeDelta::hours(n)
    }

    #[test]
    fn defaults() {
        let c = Calendar::default();
        assert_eq!(c.tz(), chrono_tz::Asia::Shanghai);
        assert!(c.is_business_time(at(&c, "2026-06-01 09:00")));
        assert!(!c.is_business_time(at(&c, "2026-06-01 18:00")));
        assert!(!c.is_business_time(at(&c, "2026-06-06 10:00")), "Saturday");
    }

    #[test]
    fn time_ranges() {
        assert_eq!(
            TimeRange::parse("9:00-24:00"),
            Ok(TimeRange {
                start: 9 * 3600,
                end: DAY_SECS
            })
        );
        assert!(TimeRange::parse("18:00-09:00").unwrap().wraps());
        assert_eq!(
            TimeRange::parse("13:30-18:00").unwrap().to_string(),
            "13:30-18:00"
        );
        for bad in [
            "",
            "9-18",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
            "24:00-01:00",
            "a:bc-1",
        ] {
            assert!(TimeRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_every_key() {
        let keys = problems(
            r#"
time_zone = "Asia/Shangai"
holidays = ["2026-10-01", "2026-13-01", "2026-10-01"]
makeup_days = ["2026-09-28", "2026-10-01", "2026-09-27"]
[hours]
mon = ["09:00-12:00", "11:00-18:00"]
tue = ["18:00-09:00"]
wed = ["9-18"]
"#,
        );
        assert_eq!(
            keys,
            [
                "calendar.time_zone",
                "calendar.hours.mon[1]",
                "calendar.hours.tue[0]",
                "calendar.hours.wed[0]",
                "calendar.holidays[1]",
                "calendar.holidays[2]",
                "calendar.makeup_days[0]", // a Monday: already a working day
                "calendar.makeup_days[1]", // also a holiday
            ]
        );
        let keys = problems("[hours]\nmon=[]\ntue=[]\nwed=[]\nthu=[]\nfri=[]\n");
        assert_eq!(keys, ["calendar.hours"]);
        let keys =
            problems("makeup_days = [\"2026-09-27\"]\n[hours]\nmon=[]\ntue=[\"09:00-18:00\"]\n");
        assert_eq!(keys, ["calendar.makeup_hours"]);
        let e = toml::from_str::<CalendarConfig>("[hours]\nmonday = []\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `monday`"), "{e}");
        let e = toml::from_str::<CalendarConfig>("holidays = [20261001]\n").unwrap_err();
        assert!(e.to_string().contains("a date such as"), "{e}");
    }

    #[test]
    fn lunch_break_and_weekend() {
        let c = cal(SHANGHAI);
        // Wed 2026-09-16.
        assert!(c.is_business_time(at(&c, "2026-09-16 11:59")));
        assert!(!c.is_business_time(at(&c, "2026-09-16 12:30")));
        // 11:00 + 2h skips the lunch hour.
        assert_eq!(
            local(&c, c.add_business(at(&c, "2026-09-16 11:00"), h(2))),
            "2026-09-16 14:00"
        );
        // Friday 17:00 + 2h lands on Monday 10:00.
        assert_eq!(
            local(&c, c.add_business(at(&c, "2026-09-18 17:00"), h(2))),
            "2026-09-21 10:00"
        );
        // Ending exactly at closing time stays on that day.
        assert_eq!(
            local(&c, c.add_business(at(&c, "2026-09-16 14:00"), h(4))),
            "2026-09-16 18:00"
        );
        // Starting outside hours: before opening, in the lunch break, at night, on Saturday.
        for (from, to) in [
            ("2026-09-16 07:00", "2026-09-16 10:00"),
            ("2026-09-16 12:15", "2026-09-16 14:00"),
            ("2026-09-16 22:00", "2026-09-17 10:00"),
            ("2026-09-19 10:00", "2026-09-21 10:00"),
        ] {
            assert_eq!(local(&c, c.add_business(at(&c, from), h(1))), to, "{from}");
        }
        assert_eq!(
            local(&c, c.next_business_start(at(&c, "2026-09-16 12:15"))),
            "2026-09-16 13:00"
        );
        let t = at(&c, "2026-09-16 10:00");
        assert_eq!(c.next_business_start(t), t);
        assert_eq!(c.add_business(t, TimeDelta::zero()), t);
        assert_eq!(
            c.business_between(at(&c, "2026-09-18 17:00"), at(&c, "2026-09-21 10:00")),
            h(2)
        );
        assert_eq!(c.business_between(t, t - h(1)), TimeDelta::zero());
    }

    #[test]
    fn national_day_and_makeup_days() {
        let c = cal(SHANGHAI);
        // Sunday 09-27 is a make-up day: Saturday 10:00 + 1h is Sunday 10:00.
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 9, 27).unwrap()));
        assert_eq!(
            local(&c, c.add_business(at(&c, "2026-09-26 10:00"), h(1))),
            "2026-09-27 10:00"
        );
        // Wednesday 09-30 16:00 + 4h: 2h that day, then the holiday week, then Thursday 10-08.
        assert_eq!(
            local(&c, c.add_business(at(&c, "2026-09-30 16:00"), h(4))),
            "2026-10-08 11:00"
        );
        // 3 business days from Wed 09-30 14:00: Thu 10-08, Fri 10-09, Sat 10-10 (make-up).
        assert_eq!(
            local(&c, c.add_business_days(at(&c, "2026-09-30 14:00"), 3)),
            "2026-10-10 14:00"
        );
        // 10 business days from Friday 09-25 09:00: 09-25, 09-27, 09-28, 09-29, 09-30, 10-08,
        // 10-09, 10-10, 10-12, 10-13 → closes on 10-13.
        assert_eq!(
            local(&c, c.add_business_days(at(&c, "2026-09-25 09:00"), 10)),
            "2026-10-13 18:00"
        );
        // A whole holiday week holds no business time.
        assert_eq!(
            c.business_between(at(&c, "2026-09-30 18:00"), at(&c, "2026-10-08 09:00")),
            TimeDelta::zero()
        );
    }

    #[test]
    fn business_days_definition() {
        let c = cal("[hours]\nfri = [\"09:00-15:00\"]\nmon = [\"09:00-18:00\"]\n");
        let plus1 = |s: &str| local(&c, c.add_business_days(at(&c, s), 1));
        assert_eq!(plus1("2026-09-15 14:00"), "2026-09-16 14:00"); // Tue → Wed
        assert_eq!(plus1("2026-09-17 14:00"), "2026-09-18 12:20"); // Thu 5/9 → Fri 5/9 of 6h
        assert_eq!(plus1("2026-09-14 08:00"), "2026-09-14 18:00"); // before opening: same day
        assert_eq!(plus1("2026-09-14 09:00"), "2026-09-14 18:00");
        assert_eq!(plus1("2026-09-14 18:00"), "2026-09-15 18:00"); // at closing: next day's close
        assert_eq!(plus1("2026-09-14 20:00"), "2026-09-15 18:00"); // evening: tomorrow's close
        assert_eq!(plus1("2026-09-18 14:00"), "2026-09-21 16:30"); // Fri 5/6 → Mon 5/6 of 9h
        assert_eq!(plus1("2026-09-19 11:00"), "2026-09-21 18:00"); // Saturday
        let t = at(&c, "2026-09-14 10:00");
        assert_eq!(c.add_business_days(t, 0), t);
    }

    /// Long spans are cheap: a year of business days is a few hundred day steps.
    #[test]
    fn long_spans() {
        let c = cal(SHANGHAI);
        let t = at(&c, "2026-01-05 09:00");
        let end = c.add_business_days(t, 250);
        assert_eq!(c.business_between(t, end), h(8) * 250);
        let end = c.add_business(t, h(8) * 250);
        assert_eq!(c.business_between(t, end), h(8) * 250);
    }

    /// `add_business` and `business_between` agree with each other and with a brute-force count
    /// over weeks of simulated time (a pseudo-random walk; no minute loops in the code itself).
    #[test]
    fn arithmetic_agrees_with_brute_force() {
        let c = cal(SHANGHAI);
        let origin = at(&c, "2026-09-20 00:00");
        // Brute force: business minutes per minute over five weeks around National Day.
        let minutes = 5 * 7 * 24 * 60;
        let flags: Vec<bool> = (0..minutes)
            .map(|m| c.is_business_time(origin + TimeDelta::minutes(m)))
            .collect();
        let mut seed = 0x2026_1001_u64;
        let mut rand = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let a = rand(minutes as u64 / 2) as i64;
            let d = 1 + rand(40 * 60) as i64; // up to 40 business hours
            let start = origin + TimeDelta::minutes(a);
            let end = c.add_business(start, TimeDelta::minutes(d));
            assert_eq!(c.business_between(start, end), TimeDelta::minutes(d));
            let end_m = (end - origin).num_minutes();
            let counted = flags[a as usize..end_m as usize]
                .iter()
                .filter(|b| **b)
                .count();
            assert_eq!(counted as i64, d, "start {}", local(&c, start));
            assert!(c.is_business_time(end - TimeDelta::minutes(1)));
            // Every working day here is 8 hours (make-up days included), so N business days
            // from anywhere is exactly N × 8 business hours.
            let n = 1 + rand(10) as u32;
            let end = c.add_business_days(start, n);
            assert_eq!(
                c.business_between(start, end),
                h(8) * n as i32,
                "{}",
                local(&c, start)
            );
        }
    }

    #[test]
    fn berlin_dst() {
        let c = cal("time_zone = \"Europe/Berlin\"\n");
        // Clocks go forward on Sunday 2026-03-29. Fri 16:00 CET + 4h = Mon 11:00 CEST; a fixed
        // offset would say 10:00 CEST.
        let end = c.add_business(at(&c, "2026-03-27 16:00"), h(4));
        assert_eq!(local(&c, end), "2026-03-30 11:00");
        assert_eq!(end.to_rfc3339(), "2026-03-30T09:00:00+00:00");
        // Clocks go back on Sunday 2026-10-25.
        let end = c.add_business(at(&c, "2026-10-23 16:00"), h(4));
        assert_eq!(local(&c, end), "2026-10-26 11:00");
        assert_eq!(end.to_rfc3339(), "2026-10-26T10:00:00+00:00");

        // Around the clock: business time is real elapsed time across both switches.
        let all = cal(r#"time_zone = "Europe/Berlin"
[hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
"#);
        let sat = at(&all, "2026-03-28 12:00");
        assert_eq!(
            local(&all, all.add_business(sat, h(24))),
            "2026-03-29 13:00"
        );
        let sun = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(total_len(&all.day_intervals(sun)), h(23));
        let sun = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        assert_eq!(total_len(&all.day_intervals(sun)), h(25));

        // A window over the gap is an hour short; one over the repeated hour an hour long.
        let night = cal("time_zone = \"Europe/Berlin\"\n[hours]\nsun = [\"01:00-03:00\"]\n");
        let spring = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(total_len(&night.day_intervals(spring)), h(1));
        let autumn = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        assert_eq!(total_len(&night.day_intervals(autumn)), h(3));
        // 02:30 in the second pass (CET, 01:30 UTC) is still inside the window.
        let second = "2026-10-25T01:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(night.is_business_time(second));
        // A window starting inside the gap starts when the clock jumps (03:00 CEST = 01:00 UTC).
        let gap = cal("time_zone = \"Europe/Berlin\"\n[hours]\nsun = [\"02:30-04:00\"]\n");
        assert_eq!(
            gap.day_intervals(spring)[0].0.to_rfc3339(),
            "2026-03-29T01:00:00+00:00"
        );
    }
}
