//! How many jobs go to Plex together: a limit that grows while Plex answers about as fast
//! as it does at rest, and shrinks as soon as it slows down or says it is overloaded.

use serde::{Deserialize, Serialize};

/// The pacer's settings. With `adaptive` off the limit stays at `max` (1: one job at a time,
/// the way plexsync drained before it paced itself).
///
/// The rule is Gradient2's, from Netflix's concurrency-limits, judged over windows rather
/// than single requests and with a baseline that does not drift up under load. Each job
/// gives a sample, its time over its requests; a window closes once it holds `window_jobs`
/// samples over at least `window_ms`, and its median (robust to Plex's occasional slow
/// request) is held against the baseline. The baseline is the mean of the first
/// `warmup_windows` medians, taken at the initial limit (the limit does not grow before);
/// then a moving average of the medians (weight `smoothing`) that may fall freely but rise
/// by at most `baseline_rise_per_min` a minute, so that a server slowed by the drain itself
/// does not become its own excuse, while one that became slower for good is learnt slowly.
/// While a window's median is within `grow_below` times the baseline the limit grows by one
/// job; above `tolerance` times it, the limit is cut in proportion (never by more than
/// half); in between it holds. Below one job, batches are spaced out: a limit of 0.5 sends
/// one job and then waits as long as it took.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaceConfig {
    /// Whether the limit follows Plex's latency; off, it stays at `max`.
    pub adaptive: bool,
    /// The limit at the start of a run and after an outage (a Plex just back is fragile).
    pub initial: f64,
    /// The lowest the limit goes (below 1: one job, then a pause).
    pub min: f64,
    /// The most jobs in flight together.
    pub max: u32,
    /// Grow while the smoothed latency is at most this many times the baseline.
    pub grow_below: f64,
    /// Cut when the smoothed latency is more than this many times the baseline.
    pub tolerance: f64,
    /// Jobs a window needs before it is judged.
    pub window_jobs: u32,
    /// The least time a window spans (ms): the limit changes at most once in this long.
    pub window_ms: u64,
    /// Windows measured at the initial limit before the baseline is set and the limit grows.
    pub warmup_windows: u32,
    /// The weight of a new window in the baseline's moving average (0 to 1).
    pub smoothing: f64,
    /// How fast the baseline may rise, as a share of itself a minute.
    pub baseline_rise_per_min: f64,
}

impl Default for PaceConfig {
    fn default() -> Self {
        PaceConfig {
            adaptive: true,
            initial: 1.0,
            min: 0.25,
            max: 32,
            grow_below: 1.2,
            tolerance: 1.5,
            window_jobs: 16,
            window_ms: 500,
            warmup_windows: 4,
            smoothing: 0.02,
            baseline_rise_per_min: 0.02,
        }
    }
}

impl PaceConfig {
    /// One job at a time, always: how plexsync drained before it paced itself.
    pub fn single() -> PaceConfig {
        PaceConfig {
            adaptive: false,
            initial: 1.0,
            max: 1,
            ..PaceConfig::default()
        }
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), PaceError> {
        let fraction = |v: f64| v.is_finite() && v > 0.0 && v <= 1.0;
        if self.max == 0 {
            return Err(PaceError("max must be at least 1".into()));
        }
        if !(self.min.is_finite() && self.min > 0.0 && self.min <= f64::from(self.max)) {
            return Err(PaceError(format!(
                "min must be above 0 and at most max ({}), not {}",
                self.max, self.min
            )));
        }
        if !(self.initial.is_finite()
            && self.initial >= self.min
            && self.initial <= f64::from(self.max))
        {
            return Err(PaceError(format!(
                "initial must lie between min ({}) and max ({}), not {}",
                self.min, self.max, self.initial
            )));
        }
        if !(self.grow_below.is_finite()
            && self.grow_below >= 1.0
            && self.tolerance.is_finite()
            && self.tolerance >= self.grow_below)
        {
            return Err(PaceError(format!(
                "grow_below must be at least 1 and tolerance at least grow_below (they are {} and {})",
                self.grow_below, self.tolerance
            )));
        }
        if self.window_jobs == 0 {
            return Err(PaceError("window_jobs must be at least 1".into()));
        }
        if !fraction(self.smoothing) {
            return Err(PaceError(format!(
                "smoothing must be above 0 and at most 1, not {}",
                self.smoothing
            )));
        }
        if !(self.baseline_rise_per_min.is_finite() && self.baseline_rise_per_min >= 0.0) {
            return Err(PaceError(format!(
                "baseline_rise_per_min must be 0 or more, not {}",
                self.baseline_rise_per_min
            )));
        }
        Ok(())
    }
}

/// Pace settings that do not make sense; the message says which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PaceError(String);

/// The limit on jobs in flight together, and what it learnt of Plex's latency.
///
/// ```
/// use scheduler::{PaceConfig, Pacer};
///
/// let config = PaceConfig { window_jobs: 4, window_ms: 100, ..PaceConfig::default() };
/// let mut pacer = Pacer::new(config);
/// assert_eq!(pacer.in_flight(), 1);
/// // Plex answers as fast as ever: after the warm-up, one more job a window.
/// let mut now = 0;
/// for _ in 0..28 {
///     now += 30;
///     pacer.record(30.0, now);
/// }
/// assert_eq!(pacer.baseline_ms(), Some(30.0));
/// assert_eq!(pacer.in_flight(), 4);
/// // It slows down to three times its baseline: the limit is cut.
/// for _ in 0..4 {
///     now += 30;
///     pacer.record(90.0, now);
/// }
/// assert!(pacer.in_flight() < 4);
/// // It says it is overloaded (a 503, a 429): halved at once.
/// let before = pacer.limit();
/// pacer.overloaded(now);
/// assert_eq!(pacer.limit(), (before / 2.0).max(config.min));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Pacer {
    config: PaceConfig,
    limit: f64,
    /// The samples of the window being filled, and when it opened.
    window: Vec<f64>,
    opened: Option<u64>,
    /// The medians of the windows of the warm-up, until the baseline is set.
    warmup: Vec<f64>,
    /// The baseline latency of a request (ms).
    baseline: Option<f64>,
    /// What the baseline was at the start of the minute it may rise within, and when that
    /// minute began.
    anchor: (f64, u64),
}

impl Pacer {
    /// A pacer at its initial limit, knowing nothing of Plex yet.
    pub fn new(config: PaceConfig) -> Pacer {
        Pacer {
            limit: if config.adaptive {
                config.initial
            } else {
                f64::from(config.max)
            },
            config,
            window: Vec::new(),
            opened: None,
            warmup: Vec::new(),
            baseline: None,
            anchor: (0.0, 0),
        }
    }

    /// The limit, as a number of jobs (below 1: jobs are spaced out).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The baseline latency of a request, once a window has been judged (ms).
    pub fn baseline_ms(&self) -> Option<f64> {
        self.baseline
    }

    /// How many jobs the next batch may hold.
    pub fn in_flight(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.config.max as usize)
    }

    /// How long to wait after a batch that took `batch_ms`, when the limit is below one job.
    pub fn pause_after(&self, batch_ms: u64) -> u64 {
        if self.limit >= 1.0 {
            return 0;
        }
        (batch_ms as f64 * (1.0 / self.limit - 1.0)).round() as u64
    }

    /// Back to the initial limit (Plex was down and is back), keeping the baseline.
    pub fn restart(&mut self) {
        *self = Pacer {
            baseline: self.baseline,
            anchor: self.anchor,
            ..Pacer::new(self.config)
        };
    }

    /// A job's requests took `per_request_ms` each on average; it ended at `now`.
    pub fn record(&mut self, per_request_ms: f64, now: u64) {
        if !self.config.adaptive || !per_request_ms.is_finite() || per_request_ms < 0.0 {
            return;
        }
        let opened = *self.opened.get_or_insert(now);
        self.window.push(per_request_ms.max(0.1));
        if self.window.len() < self.config.window_jobs as usize
            || now.saturating_sub(opened) < self.config.window_ms
        {
            return;
        }
        let median = median(&mut self.window);
        self.window.clear();
        self.opened = None;
        let c = self.config;
        let Some(baseline) = self.baseline else {
            self.warmup.push(median);
            if self.warmup.len() >= c.warmup_windows as usize {
                let mean = self.warmup.iter().sum::<f64>() / self.warmup.len() as f64;
                self.baseline = Some(mean);
                self.anchor = (mean, now);
                self.warmup.clear();
            }
            return;
        };
        let (anchored, since) = self.anchor;
        let elapsed_min = now.saturating_sub(since) as f64 / 60_000.0;
        let baseline = (baseline + c.smoothing * (median - baseline))
            .min(anchored * (1.0 + c.baseline_rise_per_min * elapsed_min));
        self.baseline = Some(baseline);
        if elapsed_min >= 1.0 {
            self.anchor = (baseline, now);
        }
        let ratio = median / baseline;
        let limit = if ratio <= c.grow_below {
            self.limit + 1.0
        } else if ratio > c.tolerance {
            self.limit * (c.tolerance / ratio).max(0.5)
        } else {
            self.limit
        };
        self.limit = limit.clamp(c.min, f64::from(c.max));
    }

    /// Plex said it is overloaded (a 503, a 429) or failed to answer at `now`: half the
    /// limit, and a new window.
    pub fn overloaded(&mut self, now: u64) {
        if self.config.adaptive {
            self.limit = (self.limit / 2.0).max(self.config.min);
            self.window.clear();
            self.opened = Some(now);
        }
    }
}

/// The median of `samples` (not empty), which it sorts.
fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    if samples.len() % 2 == 0 {
        (samples[mid - 1] + samples[mid]) / 2.0
    } else {
        samples[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::{PaceConfig, Pacer};
    use proptest::prelude::*;

    proptest! {
        /// Whatever Plex's latencies, the limit stays within its bounds, and a window never
        /// grows it by more than one job nor cuts it by more than half.
        #[test]
        fn the_limit_stays_in_bounds_and_moves_by_steps(
            samples in proptest::collection::vec((0.0f64..10_000.0, 0u64..500, 0u8..20), 1..400),
        ) {
            let config = PaceConfig::default();
            let mut pacer = Pacer::new(config);
            let mut now = 0;
            for (ms, dt, overload) in samples {
                now += dt;
                let before = pacer.limit();
                if overload == 0 { pacer.overloaded(now) } else { pacer.record(ms, now) }
                let after = pacer.limit();
                prop_assert!(after >= config.min && after <= f64::from(config.max));
                prop_assert!(after <= before + 1.0 + 1e-9);
                prop_assert!(after >= (before / 2.0).max(config.min) - 1e-9);
                prop_assert!((1..=config.max as usize).contains(&pacer.in_flight()));
            }
        }

        /// Latencies drawn around a steady mean, with Plex's occasional slow request, grow
        /// the limit to its most; the same three times slower bring it to its least.
        #[test]
        fn steady_grows_slow_shrinks(base in 1.0f64..500.0, slower in 3.0f64..20.0, seed in any::<u64>()) {
            use rand::{RngExt, SeedableRng};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let config = PaceConfig::default();
            let mut pacer = Pacer::new(config);
            // A job of three requests, each an exponential tail over a floor, one in 200 two
            // seconds late.
            let mut draw = |mean: f64| {
                let mut total = 0.0;
                for _ in 0..3 {
                    let u: f64 = rng.random();
                    let spike = if rng.random_bool(0.005) { 2_000.0 } else { 0.0 };
                    total += mean * 0.2 - (1.0 - u).ln() * mean * 0.8 + spike;
                }
                total / 3.0
            };
            let mut now = 0;
            for _ in 0..8_000 {
                now += 20;
                pacer.record(draw(base), now);
            }
            prop_assert_eq!(pacer.in_flight(), config.max as usize);
            for _ in 0..4_000 {
                now += 20;
                pacer.record(draw(base * slower), now);
            }
            prop_assert_eq!(pacer.limit(), config.min);
            prop_assert!(pacer.pause_after(100) > 0);
        }
    }

    #[test]
    fn fixed_stays_fixed() {
        let mut pacer = Pacer::new(PaceConfig::single());
        for i in 0..100 {
            pacer.record(1.0 + i as f64, i * 1_000);
        }
        pacer.overloaded(100_000);
        assert_eq!(pacer.in_flight(), 1);
        assert_eq!(pacer.pause_after(1_000), 0);
    }

    #[test]
    fn a_restart_starts_low_and_remembers_the_baseline() {
        let mut pacer = Pacer::new(PaceConfig::default());
        for i in 0..100 {
            pacer.record(20.0, i * 100);
        }
        assert!(pacer.in_flight() > 1);
        pacer.restart();
        assert_eq!(pacer.in_flight(), 1);
        assert_eq!(pacer.baseline_ms(), Some(20.0));
    }

    #[test]
    fn the_baseline_rises_slowly_and_falls_at_once() {
        let mut pacer = Pacer::new(PaceConfig::default());
        let mut now = 0;
        for _ in 0..64 {
            now += 100;
            pacer.record(20.0, now);
        }
        assert_eq!(pacer.baseline_ms(), Some(20.0));
        // Twice as slow for a minute: the baseline has risen by about 2 %, not doubled.
        for _ in 0..600 {
            now += 100;
            pacer.record(40.0, now);
        }
        let risen = pacer.baseline_ms().unwrap();
        assert!((20.0..=20.0 * 1.03).contains(&risen), "{risen}");
        // And for ten minutes more, about 2 % a minute.
        for _ in 0..6_000 {
            now += 100;
            pacer.record(40.0, now);
        }
        let risen = pacer.baseline_ms().unwrap();
        assert!((20.0 * 1.15..=20.0 * 1.3).contains(&risen), "{risen}");
        // Faster again for five minutes: its average follows down, whatever it rose to.
        for _ in 0..3_000 {
            now += 100;
            pacer.record(10.0, now);
        }
        assert!(pacer.baseline_ms().unwrap() < 11.0);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = PaceConfig {
            min: 0.0,
            ..PaceConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("min"));
        let bad = PaceConfig {
            tolerance: 1.0,
            ..PaceConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("tolerance"));
        let bad = PaceConfig {
            window_jobs: 0,
            ..PaceConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("window_jobs"));
        PaceConfig::default().validate().unwrap();
        PaceConfig::single().validate().unwrap();
    }
}
