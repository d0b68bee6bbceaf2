use core::fmt;
use core::str::FromStr;

use serde::{Deserialize, Serialize};

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;
const WEEK: u64 = 7 * DAY;

/// How often a periodic task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Interval {
    /// Not at all.
    Never,
    /// Every so many milliseconds (never 0).
    Every(u64),
}

impl Interval {
    /// Every hour.
    pub const HOURLY: Interval = Interval::Every(HOUR);
    /// Every day.
    pub const DAILY: Interval = Interval::Every(DAY);
    /// Every week.
    pub const WEEKLY: Interval = Interval::Every(WEEK);
}

/// Why a task is due now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// It has never run.
    FirstRun,
    /// A whole interval has passed since it last ran.
    IntervalElapsed,
    /// It last ran "in the future": the clock stepped back, so the record cannot be trusted.
    ClockSteppedBack,
}

/// The answer to [`due`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Due {
    /// Run it now.
    Now(Reason),
    /// Not before this instant.
    At(u64),
    /// The interval is [`Interval::Never`].
    Never,
}

/// Check-on-invocation: whether a task that last ran at `last_run` is due at `now`.
///
/// A program that is not a daemon cannot keep a timer; it asks this on every invocation and
/// records `now` as the new `last_run` when it does run the task.
pub fn due(last_run: Option<u64>, interval: Interval, now: u64) -> Due {
    let Interval::Every(every) = interval else {
        return Due::Never;
    };
    match last_run {
        None => Due::Now(Reason::FirstRun),
        // Waiting until the clock catches up could take arbitrarily long; running once and
        // recording the new `now` bounds the damage to one extra run.
        Some(last) if last > now => Due::Now(Reason::ClockSteppedBack),
        Some(last) => {
            let at = last.saturating_add(every);
            if now >= at {
                Due::Now(Reason::IntervalElapsed)
            } else {
                Due::At(at)
            }
        }
    }
}

/// An interval that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid interval {input:?}: expected never, hourly, daily, weekly, or a duration such as 90s, 30m, 6h, 2d, 1w"
)]
pub struct IntervalError {
    input: String,
}

impl FromStr for Interval {
    type Err = IntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IntervalError {
            input: s.to_owned(),
        };
        let text = s.trim().to_ascii_lowercase();
        match text.as_str() {
            "never" => return Ok(Interval::Never),
            "hourly" => return Ok(Interval::HOURLY),
            "daily" => return Ok(Interval::DAILY),
            "weekly" => return Ok(Interval::WEEKLY),
            _ => {}
        }
        let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (digits, unit) = text.split_at(split);
        let count: u64 = digits.parse().map_err(|_| err())?;
        let unit_ms = match unit {
            "ms" => 1,
            "s" => SECOND,
            "m" => MINUTE,
            "h" => HOUR,
            "d" => DAY,
            "w" => WEEK,
            _ => return Err(err()),
        };
        match count.checked_mul(unit_ms) {
            Some(ms) if ms > 0 => Ok(Interval::Every(ms)),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Interval::Never => f.write_str("never"),
            Interval::Every(ms) => {
                let (count, unit) = [
                    (WEEK, "w"),
                    (DAY, "d"),
                    (HOUR, "h"),
                    (MINUTE, "m"),
                    (SECOND, "s"),
                ]
                .into_iter()
                .find(|(unit_ms, _)| ms > 0 && ms % unit_ms == 0)
                .map_or((ms, "ms"), |(unit_ms, unit)| (ms / unit_ms, unit));
                write!(f, "{count}{unit}")
            }
        }
    }
}

impl From<Interval> for String {
    fn from(interval: Interval) -> String {
        interval.to_string()
    }
}

impl TryFrom<String> for Interval {
    type Error = IntervalError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}
