//! Plex's rhythm in the probe schedule. An outage that begins inside Plex's known maintenance
//! window is most likely the one it has most nights, and lasts about as long: a library that
//! loads for forty minutes after the nightly restart will not be ready after five. So deep
//! probes, which cost a loading server work, wait (and the breaker with them) until a little
//! before the shortest loading seen on the nights before, counted from when tonight's was
//! first seen; then they go on at the longest interval of their backoff. The cheap ones, which
//! cost the server nothing, come every second around the times of day the window's outages
//! ended, so that the end is seen at once. Outside a window, with no such night in the last
//! week, or (for the deep probes) without a watch on Plex to see the loading begin, the
//! schedule is the plan's alone (`docs/policy.md`, "Plex's rhythm").

use scheduler::{ProbeOutcome, ProbeSchedule};

use super::Engine;
use crate::state::EngineState;
use crate::window::Window;

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;
/// Nights looked back on.
const LOOK_BACK_MS: u64 = 7 * DAY_MS;
/// Nights needed before their lengths and ends are relied on.
const NIGHTS_NEEDED: usize = 1;
/// Deep probes resume this long before the shortest night's loading would end...
const EARLY_MS: u64 = 2 * MINUTE_MS;
/// ... and earlier by this share of how far apart the nights' lengths were...
const SPREAD_SHARE: u64 = 3;
/// ... taking them to spread by this much while only one night is known.
const ONE_NIGHT_SPREAD_MS: u64 = 10 * MINUTE_MS;
/// Around the ends seen, cheap probes come this often...
const NEAR_END_EVERY_MS: u64 = 1_000;
/// ... from this long before the earliest to this long after the latest.
const NEAR_END_MARGIN_MS: u64 = MINUTE_MS;

impl Engine {
    /// Moves the next probe as Plex's rhythm says, after a probe at `now` found `outcome`;
    /// returns when the breaker should stay open until, if the probes were put off.
    pub(super) fn keep_rhythm(
        &self,
        state: &EngineState,
        probes: &mut ProbeSchedule,
        outcome: ProbeOutcome,
        now: u64,
    ) -> Option<u64> {
        if !self.policy.engine.maintenance_windows || outcome == ProbeOutcome::Healthy {
            return None;
        }
        let outage = state.outages.current.as_ref()?;
        let offset = self.utc_offset_ms;
        let window = state.known_window(now, offset)?;
        if !window.contains(outage.started_at, offset) {
            return None;
        }
        // The nights before: outages of the last week that began inside the window.
        let since = now.saturating_sub(LOOK_BACK_MS);
        let nights = state
            .outages
            .recent
            .iter()
            .filter(|o| o.started_at >= since && o.started_at < outage.started_at)
            .filter(|o| window.contains(o.started_at, offset));
        if outcome == ProbeOutcome::Loading {
            // How long the library took on those nights, from when it was first seen loading
            // to the end; tonight, counted from when it was seen loading. Only a watch sees
            // the loading begin: without one, it may have been going on for long when a probe
            // first meets it, and the nights' lengths would put the next look too late.
            state.watch.as_ref()?;
            let from = outage.loading_since?;
            let lengths: Vec<u64> = nights
                .filter_map(|o| Some(o.ended_at?.saturating_sub(o.loading_since?)))
                .collect();
            let (shortest, longest) = bounds(&lengths)?;
            // Early by a little, and by a share of the nights' spread: the less alike they
            // were, the less tonight is known.
            let spread = match lengths.len() {
                1 => ONE_NIGHT_SPREAD_MS,
                _ => longest - shortest,
            };
            let early = EARLY_MS.saturating_add(spread / SPREAD_SHARE);
            let resume = from.saturating_add(shortest).saturating_sub(early);
            return (resume > now && probes.defer_to(resume, now)).then_some(resume);
        }
        // A cheap probe: every second around the ends seen, counted from the window's start.
        let ends: Vec<u64> = nights
            .filter_map(|o| {
                let opened = window_start(&window, o.started_at, offset);
                Some(o.ended_at?.saturating_sub(opened))
            })
            .collect();
        let (earliest, latest) = bounds(&ends)?;
        let opened = window_start(&window, outage.started_at, offset);
        let from = (opened + earliest).saturating_sub(NEAR_END_MARGIN_MS);
        let to = opened + latest + NEAR_END_MARGIN_MS;
        if (from..=to).contains(&now) {
            probes.hasten_to(now.saturating_add(NEAR_END_EVERY_MS));
        }
        None
    }
}

/// The least and the most of `values`, if there are enough of them to go by.
fn bounds(values: &[u64]) -> Option<(u64, u64)> {
    if values.len() < NIGHTS_NEEDED {
        return None;
    }
    Some((*values.iter().min()?, *values.iter().max()?))
}

/// When the window that holds `at` opened (ms since the epoch).
fn window_start(window: &Window, at: u64, offset_ms: i64) -> u64 {
    let local = (at as i64).saturating_add(offset_ms);
    let midnight = local - local.rem_euclid(DAY_MS as i64);
    let mut start = midnight + i64::from(window.start) * HOUR_MS as i64 - offset_ms;
    if start > at as i64 {
        start -= DAY_MS as i64;
    }
    start.max(0) as u64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use scheduler::{ProbeOutcome, ProbeSchedule};

    use super::*;
    use crate::action::Mode;
    use crate::outage::Outage;
    use crate::policy::Policy;
    use crate::window::ButlerHours;

    /// 2026-12-02 00:00 UTC.
    const MIDNIGHT: u64 = 1_796_169_600_000;

    fn night(started_at: u64, loading_from: Option<u64>, length: u64) -> Outage {
        Outage {
            loading_since: loading_from,
            ..Outage::closed(started_at, length)
        }
    }

    /// A state whose Butler window opens at `start` (local), with one outage on each of the
    /// last nights that began `into_ms` into it, was seen loading 30 s later and lasted
    /// `lengths`, and an outage going on that began at `now_start`, loading since then.
    fn state(
        start: u8,
        offset_ms: i64,
        lengths: &[u64],
        into_ms: u64,
        now_start: u64,
    ) -> EngineState {
        let mut state = EngineState {
            butler: Some(ButlerHours {
                start,
                end: (start + 3) % 24,
                read_at: now_start,
            }),
            // A watch saw tonight's loading begin.
            watch: Some(crate::watch::WatchState {
                via: Some(crate::watch::WatchVia::Socket),
                connected: true,
                since: now_start,
                optimising: None,
                busy: Vec::new(),
            }),
            ..EngineState::default()
        };
        let opened = |day: u64| {
            (MIDNIGHT as i64 + (day * DAY_MS + u64::from(start) * HOUR_MS) as i64 - offset_ms)
                as u64
        };
        // The nights just before today (day 8).
        let first = 8 - lengths.len() as u64;
        for (i, &length) in lengths.iter().enumerate() {
            let at = opened(first + i as u64) + into_ms;
            state
                .outages
                .recent
                .push_back(night(at, Some(at + 30_000), length));
        }
        state.outages.start(now_start, "refused", None, 0, None);
        state.outages.note_loading(now_start);
        state
    }

    fn engine(offset_ms: i64) -> Engine {
        let mut engine = Engine::new(Policy::default(), Mode::Run);
        engine.set_utc_offset(offset_ms);
        engine
    }

    fn armed(now: u64) -> ProbeSchedule {
        let mut probes = ProbeSchedule::new(Policy::default().probes);
        let mut rng = SmallRng::seed_from_u64(1);
        probes.arm(now, &mut rng);
        probes.record(ProbeOutcome::Loading, now, &mut rng);
        probes
    }

    proptest! {
        /// An outage that began outside the window is left to the plan, whatever the nights
        /// before, the zone or what the probe found.
        #[test]
        fn outside_the_window_the_schedule_is_the_plans(
            start in 0u8..24,
            offset_h in -12i64..=14,
            lengths in proptest::collection::vec(5 * MINUTE_MS..90 * MINUTE_MS, 1..7),
            // Hours after the window opened: 3 and more is outside a 3-hour window.
            hours_after in 3u64..24,
            outcome in prop_oneof![
                Just(ProbeOutcome::Loading),
                Just(ProbeOutcome::Unreachable),
                Just(ProbeOutcome::NotReady)
            ],
        ) {
            let offset = offset_h * HOUR_MS as i64;
            let today = 8 * DAY_MS + u64::from(start) * HOUR_MS;
            let now_start = (MIDNIGHT as i64 + (today + hours_after * HOUR_MS) as i64 - offset) as u64;
            let state = state(start, offset, &lengths, 0, now_start);
            let mut probes = armed(now_start);
            let before = probes.clone();
            let held = engine(offset).keep_rhythm(&state, &mut probes, outcome, now_start + 1_000);
            prop_assert_eq!(held, None);
            prop_assert_eq!(probes, before);
        }

        /// Inside it, a loading library's next deep probe waits until a little before the
        /// shortest night's loading would end, never later, never before the plan's, and
        /// the breaker is held open as long.
        #[test]
        fn inside_the_window_deep_probes_wait_for_about_the_shortest_night(
            start in 0u8..24,
            offset_h in -12i64..=14,
            lengths in proptest::collection::vec(10 * MINUTE_MS..90 * MINUTE_MS, 1..7),
            into in 0u64..60 * MINUTE_MS,
        ) {
            let offset = offset_h * HOUR_MS as i64;
            let today = 8 * DAY_MS + u64::from(start) * HOUR_MS;
            let now_start = (MIDNIGHT as i64 + (today + into) as i64 - offset) as u64;
            let state = state(start, offset, &lengths, into, now_start);
            let mut probes = armed(now_start);
            let planned = probes.poll_timeout().unwrap();
            let now = now_start + 1_000;
            let held = engine(offset).keep_rhythm(&state, &mut probes, ProbeOutcome::Loading, now);
            let next = probes.poll_timeout().unwrap();
            prop_assert!(next >= planned);
            // Loading was first seen 30 s after each night began.
            let shortest = lengths.iter().min().unwrap() - 30_000;
            prop_assert!(next <= now_start + shortest - EARLY_MS);
            match held {
                Some(until) => {
                    prop_assert_eq!(until, next);
                    prop_assert!(!probes.is_due(next - 1));
                }
                None => prop_assert_eq!(next, planned),
            }
            // Without a watch, the loading may have begun long before it was seen: no deferral.
            let mut unwatched = state.clone();
            unwatched.watch = None;
            let mut plain = armed(now_start);
            prop_assert_eq!(engine(offset).keep_rhythm(&unwatched, &mut plain, ProbeOutcome::Loading, now), None);
            prop_assert_eq!(plain.poll_timeout(), Some(planned));
            // The policy may turn it off.
            let mut off = engine(offset);
            off.policy.engine.maintenance_windows = false;
            let mut plain = armed(now_start);
            prop_assert_eq!(off.keep_rhythm(&state, &mut plain, ProbeOutcome::Loading, now), None);
            prop_assert_eq!(plain.poll_timeout(), Some(planned));
        }
    }

    #[test]
    fn cheap_probes_come_every_second_around_the_usual_end_only() {
        let lengths = [40 * MINUTE_MS, 50 * MINUTE_MS];
        let now_start = MIDNIGHT + 8 * DAY_MS + 3 * HOUR_MS;
        let state = state(3, 0, &lengths, 0, now_start);
        let engine = engine(0);
        let mut rng = SmallRng::seed_from_u64(2);
        for (age, hastened) in [
            (10 * MINUTE_MS, false),
            (39 * MINUTE_MS + 30_000, true),
            (50 * MINUTE_MS, true),
            (52 * MINUTE_MS, false),
        ] {
            let now = now_start + age;
            let mut probes = ProbeSchedule::new(Policy::default().probes);
            probes.arm(now, &mut rng);
            probes.record(ProbeOutcome::Unreachable, now, &mut rng);
            let planned = probes.poll_timeout().unwrap();
            assert_eq!(
                engine.keep_rhythm(&state, &mut probes, ProbeOutcome::Unreachable, now),
                None
            );
            let next = probes.poll_timeout().unwrap();
            if hastened {
                assert_eq!(next, (now + NEAR_END_EVERY_MS).min(planned), "at {age}");
            } else {
                assert_eq!(next, planned, "at {age}");
            }
        }
    }
}
