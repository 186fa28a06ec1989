//! SLA targets: how long a priority may take to a first response, an update and a resolution,
//! written `"30m"`, `"4h"`, `"3d"`, and counted in business or wall-clock time.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::calendar::Calendar;
use crate::domain::priority::Priority;

/// A target length as configured: days, hours, minutes and seconds, written `"30m"`, `"2h"`,
/// `"3d"`, `"1h30m"` or `"1d4h"`. Seconds (`"20s"`) exist for drills and tests that need a
/// ladder to run through in moments; contracts are written in minutes and up.
///
/// On a business-hours priority, `d` means business days (see
/// [`Calendar::add_business_days`]) and `h`/`m` business hours and minutes, days counted first.
/// On a 24×7 priority, `d` is 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Target {
    /// Whole (business) days.
    pub(crate) days: u32,
    pub(crate) minutes: u32,
    pub(crate) seconds: u32,
}

/// Why a target's text is not a target (the messages name the text, for the problem's key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BadTarget {
    /// Not of the form `"1d4h30m"`.
    #[error("`{0}` is not a duration such as \"30m\", \"8h\", \"3d\" or \"1d4h\"")]
    NotADuration(String),
    /// Zero length.
    #[error("`{0}` must be longer than zero")]
    Zero(String),
    /// More than ten years: a typo, and the bound keeps every later sum far from overflow.
    #[error("`{0}` is longer than ten years")]
    TooLong(String),
}

impl Target {
    /// Parses `"30m"`, `"8h"`, `"3d"`, `"1d4h30m"`, `"45s"` (units in that order, each at most
    /// once).
    pub(crate) fn parse(s: &str) -> Result<Target, BadTarget> {
        let err = || BadTarget::NotADuration(s.to_owned());
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
            return Err(BadTarget::Zero(s.to_owned()));
        }
        // Ten years: longer is a typo, and the bound keeps every later sum far from overflow.
        const MAX_DAYS: u64 = 3_650;
        if days > MAX_DAYS || minutes > MAX_DAYS * 1_440 {
            return Err(BadTarget::TooLong(s.to_owned()));
        }
        Ok(Target {
            days: days as u32,
            minutes: minutes as u32,
            seconds: seconds as u32,
        })
    }

    /// Minutes only.
    pub(crate) const fn minutes(minutes: u32) -> Target {
        Target {
            days: 0,
            minutes,
            seconds: 0,
        }
    }

    /// The instant this target after `start` falls due: in business time when `business`,
    /// otherwise in wall-clock time.
    pub(crate) fn after(
        &self,
        start: DateTime<Utc>,
        business: bool,
        cal: &Calendar,
    ) -> DateTime<Utc> {
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
pub(crate) struct Targets {
    pub(crate) respond: Target,
    pub(crate) resolve: Target,
    /// Longest gap between customer-visible updates; `None`: no update clock.
    pub(crate) update: Option<Target>,
    /// Count in business hours of the calendar (`true`) or around the clock (`false`).
    pub(crate) business_hours: bool,
}

/// The targets of the issue: P1 30m/2h/15m and P2 1h/8h/1h around the clock; P3 4 business
/// hours / 3 business days and P4 1 business day / 10 business days, without an update clock.
pub(crate) fn default_targets(p: Priority) -> Targets {
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
