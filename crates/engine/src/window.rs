//! Plex's rhythm: the hours of the day when it is known to go away. Plex publishes its
//! scheduled-maintenance (Butler) window; plexsync also learns recurring outages from its own
//! history. Pure: times are passed in, with the offset of the local day.

use serde::{Deserialize, Serialize};

use crate::outage::Outage;

const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// A window read from Plex is read again after this long.
pub const BUTLER_REFRESH_MS: u64 = DAY_MS;
/// Outages looked at to learn a window: those of the last week.
const LEARN_DAYS: u64 = 7;
/// Days on which an outage must have started within the same hour for it to be a window.
const LEARN_MIN_DAYS: usize = 3;

/// Hours of the local day, `start` to `end` (it may wrap past midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The first hour in it (0-23).
    pub start: u8,
    /// The first hour after it (0-23).
    pub end: u8,
    /// Where it is known from.
    pub source: WindowSource,
}

/// Where a [`Window`] is known from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowSource {
    /// Plex's own setting (`ButlerStartHour`, `ButlerEndHour`).
    Plex,
    /// Outages that started within the same hour on several of the last days.
    Learned,
}

/// Plex's maintenance window as last read from it, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButlerHours {
    /// `ButlerStartHour`.
    pub start: u8,
    /// `ButlerEndHour`.
    pub end: u8,
    /// When it was read (ms since the epoch).
    pub read_at: u64,
}

impl ButlerHours {
    /// Whether it is time to read the window again.
    pub fn stale(&self, now: u64) -> bool {
        now < self.read_at || now - self.read_at >= BUTLER_REFRESH_MS
    }
}

impl Window {
    /// Whether `at` (ms since the epoch) falls in it, the local day being `offset_ms` ahead
    /// of UTC.
    pub fn contains(&self, at: u64, offset_ms: i64) -> bool {
        let hour = local_hour(at, offset_ms);
        if self.start <= self.end {
            (self.start..self.end).contains(&hour)
        } else {
            hour >= self.start || hour < self.end
        }
    }
}

/// The hour of the local day (0-23) at `at`, the local day being `offset_ms` ahead of UTC.
pub fn local_hour(at: u64, offset_ms: i64) -> u8 {
    let local = (at as i64)
        .saturating_add(offset_ms)
        .rem_euclid(DAY_MS as i64) as u64;
    (local / HOUR_MS) as u8
}

/// A window learned from `outages` (closed ones, any order): an hour of the local day in
/// which outages started on at least three of the last seven days; it ends at the hour by
/// which all of those outages had ended. `None` when no hour recurs so.
pub fn learn(outages: &[&Outage], now: u64, offset_ms: i64) -> Option<Window> {
    let since = now.saturating_sub(LEARN_DAYS * DAY_MS);
    let recent: Vec<&&Outage> = outages
        .iter()
        .filter(|o| o.started_at >= since && o.started_at <= now)
        .collect();
    let day = |at: u64| ((at as i64).saturating_add(offset_ms)).div_euclid(DAY_MS as i64);
    let mut best: Option<(u8, usize)> = None;
    for hour in 0..24u8 {
        let mut days: Vec<i64> = recent
            .iter()
            .filter(|o| local_hour(o.started_at, offset_ms) == hour)
            .map(|o| day(o.started_at))
            .collect();
        days.sort_unstable();
        days.dedup();
        if days.len() >= LEARN_MIN_DAYS && best.is_none_or(|(_, n)| days.len() > n) {
            best = Some((hour, days.len()));
        }
    }
    let (start, _) = best?;
    // It lasts until the hour by which every one of them had ended, counted from the start
    // of their hour.
    let latest = recent
        .iter()
        .filter(|o| local_hour(o.started_at, offset_ms) == start)
        .filter_map(|o| {
            let into_hour =
                ((o.started_at as i64).saturating_add(offset_ms)).rem_euclid(HOUR_MS as i64) as u64;
            o.ended_at
                .map(|end| end.saturating_sub(o.started_at) + into_hour)
        })
        .max()
        .unwrap_or(HOUR_MS);
    let hours = latest.div_ceil(HOUR_MS).clamp(1, 23) as u8;
    Some(Window {
        start,
        end: (start + hours) % 24,
        source: WindowSource::Learned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outage(started_at: u64, minutes: u64) -> Outage {
        Outage::closed(started_at, minutes * 60_000)
    }

    /// 2026-12-02 00:00 UTC.
    const MIDNIGHT: u64 = 1_796_169_600_000;

    proptest! {
        /// Outages starting in the same local hour on at least three of the last seven days
        /// make a window that holds their starts, whatever the zone and the minutes; fewer
        /// days make none.
        #[test]
        fn a_recurring_hour_is_learned_and_a_rare_one_is_not(
            hour in 0u64..24,
            minutes in proptest::collection::vec(0u64..60, 7),
            days in proptest::collection::btree_set(0u64..7, 1..=7),
            length in 5u64..180,
            offset_h in -12i64..=14,
        ) {
            let offset_ms = offset_h * HOUR_MS as i64;
            // `hour` local is `hour - offset` UTC.
            let utc = |day: u64, m: u64| {
                ((MIDNIGHT + day * DAY_MS + hour * HOUR_MS + m * 60_000) as i64 - offset_ms) as u64
            };
            let all: Vec<Outage> = days.iter().map(|&d| outage(utc(d, minutes[d as usize]), length)).collect();
            let refs: Vec<&Outage> = all.iter().collect();
            // Just after the latest of them: all within the last week.
            let now = all.iter().map(|o| o.started_at).max().unwrap() + 1;
            let learned = learn(&refs, now, offset_ms);
            if days.len() >= 3 {
                let w = learned.expect("a window");
                prop_assert_eq!(w.start, hour as u8);
                prop_assert_eq!(w.source, WindowSource::Learned);
                for o in &all {
                    prop_assert!(w.contains(o.started_at, offset_ms));
                    prop_assert!(w.contains(o.ended_at.unwrap() - 1, offset_ms), "{:?} ends outside {:?}", o, w);
                }
            } else {
                prop_assert_eq!(learned, None);
            }
        }
    }

    #[test]
    fn outages_older_than_a_week_teach_nothing() {
        let now = MIDNIGHT + 30 * DAY_MS;
        let old: Vec<Outage> = (0..5)
            .map(|d| outage(MIDNIGHT + d * DAY_MS + 3 * HOUR_MS, 30))
            .collect();
        let refs: Vec<&Outage> = old.iter().collect();
        assert_eq!(learn(&refs, now, 0), None);
    }

    #[test]
    fn a_window_may_wrap_past_midnight_and_hours_are_local() {
        let w = Window {
            start: 23,
            end: 2,
            source: WindowSource::Plex,
        };
        assert!(w.contains(MIDNIGHT + 23 * HOUR_MS, 0));
        assert!(w.contains(MIDNIGHT + HOUR_MS, 0));
        assert!(!w.contains(MIDNIGHT + 2 * HOUR_MS, 0));
        // 01:00 UTC is 02:00 at UTC+1: outside.
        assert!(!w.contains(MIDNIGHT + HOUR_MS, 3_600_000));
        let fresh = ButlerHours {
            start: 2,
            end: 5,
            read_at: MIDNIGHT,
        };
        assert!(!fresh.stale(MIDNIGHT + DAY_MS - 1));
        assert!(fresh.stale(MIDNIGHT + DAY_MS));
        assert!(
            fresh.stale(MIDNIGHT - 1),
            "a clock that stepped back reads it again"
        );
    }
}
