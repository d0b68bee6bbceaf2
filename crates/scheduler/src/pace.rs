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
/// request) is held against the baseline: Plex's latency while plexsync asks little of it.
/// So the baseline is learnt only under a light load: first as the mean of
/// `warmup_windows` medians at the initial limit (the limit does not grow before), later
/// whenever the limit is back below three quarters of a job (a server slower for good, or a
/// baseline learnt too low, brings it there): while the limit first grows, such a window
/// counts as one more of the warm-up's, and once Plex has pushed back, as half; above, the
/// drain's own load would become its own excuse, and the baseline may only fall, as a moving
/// average of the medians below it (weight `smoothing`). Until Plex first slows down past
/// the target the limit doubles a window (TCP's slow start); then it moves in proportion, as
/// Gradient2's does: by the target over the ratio of the windows' medians (the last two
/// averaged) to the baseline, to the power `gain`, growing by at most `grow_by` of itself a
/// window and shrinking by at most half.
/// The target is `target` with `full_target_at` jobs in flight or more, and closer to the
/// baseline below ([`Pacer::target`]). Jobs go out spaced by a job's usual time over the
/// limit, so that a limit of 2.5 keeps 2.5 jobs in flight on average, and one of 0.5 waits
/// as long as a job takes after each.
///
/// The defaults were chosen on the simulator's `bulk` and `backlog` scenarios, whose
/// servers' capacities are drawn per seed (`docs/policy.md`).
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
    /// The latency of a request the limit aims at, as a multiple of the baseline.
    pub target: f64,
    /// The most a window grows the limit by, as a share of it.
    pub grow_by: f64,
    /// The limit at which `target` is aimed at in full; below, in proportion, down to 60 %
    /// as far above the baseline.
    pub full_target_at: f64,
    /// How far a window moves the limit towards where the target would have it (0 to 1,
    /// as a power of the ratio: 1 goes the whole way).
    pub gain: f64,
    /// Jobs a window needs before it is judged.
    pub window_jobs: u32,
    /// The least time a window spans (ms): the limit changes at most once in this long. The
    /// warm-up's windows after the first need only their jobs: the limit stays as it is.
    pub window_ms: u64,
    /// Windows measured at the initial limit before the baseline is set and the limit grows
    /// (one more is measured first and dropped: it starts with Plex idle).
    pub warmup_windows: u32,
    /// The weight of a window below the baseline in its moving average (0 to 1).
    pub smoothing: f64,
}

impl Default for PaceConfig {
    fn default() -> Self {
        PaceConfig {
            adaptive: true,
            initial: 0.25,
            min: 0.25,
            max: 64,
            target: 1.5,
            grow_by: 0.25,
            full_target_at: 4.0,
            gain: 0.5,
            window_jobs: 16,
            window_ms: 1_000,
            warmup_windows: 3,
            smoothing: 0.02,
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
        if !(self.target.is_finite() && self.target > 1.0) {
            return Err(PaceError(format!(
                "target must be above 1 (a multiple of Plex's latency at rest), not {}",
                self.target
            )));
        }
        if !(self.full_target_at.is_finite() && self.full_target_at >= 1.0) {
            return Err(PaceError(format!(
                "full_target_at must be at least 1 job, not {}",
                self.full_target_at
            )));
        }
        if !fraction(self.gain) {
            return Err(PaceError(format!(
                "gain must be above 0 and at most 1, not {}",
                self.gain
            )));
        }
        if self.warmup_windows == 0 {
            return Err(PaceError("warmup_windows must be at least 1".into()));
        }
        if !(self.grow_by.is_finite() && self.grow_by > 0.0) {
            return Err(PaceError(format!(
                "grow_by must be above 0, not {}",
                self.grow_by
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
/// // A light start: one job, then a pause three times as long as it took.
/// assert_eq!(pacer.in_flight(), 1);
/// let mut now = 0;
/// // A window dropped (it starts with Plex idle), then the warm-up's three.
/// for _ in 0..4 * 4 {
///     now += 100;
///     pacer.record(90.0, 3, now); // a job of three requests in 90 ms
/// }
/// assert_eq!(pacer.baseline_ms(), Some(30.0));
/// // Plex answers as fast as ever: the limit doubles a window.
/// for _ in 0..4 * 3 {
///     now += 100;
///     pacer.record(90.0, 3, now);
/// }
/// assert_eq!(pacer.limit(), 2.0);
/// // It slows down to three times its baseline: the limit is cut.
/// for _ in 0..4 * 2 {
///     now += 100;
///     pacer.record(270.0, 3, now);
/// }
/// assert!(pacer.limit() < 2.0);
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
    /// The last window's median over the baseline.
    trend: Option<f64>,
    /// A job's usual time (ms), a moving average.
    job_ms: Option<f64>,
    /// Plex has not yet slowed down past the target since the start or the last restart.
    starting: bool,
    /// When the next job is due, if jobs went out exactly spaced (ms, with its fraction).
    due: f64,
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
            trend: None,
            job_ms: None,
            starting: true,
            due: 0.0,
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

    /// How many jobs may be in flight together now.
    pub fn in_flight(&self) -> usize {
        (self.limit.ceil() as usize).clamp(1, self.config.max as usize)
    }

    /// The least time between two jobs sent (ms): a job's usual time over the limit, so that
    /// on average `limit` jobs are in flight, and a limit between two whole numbers (or below
    /// one) is kept as smoothly as one of them. 0 until a job has been timed, or with the
    /// limit fixed.
    pub fn interval_ms(&self) -> u64 {
        self.spacing_ms().round() as u64
    }

    /// A job's usual time over the limit, with its fraction (ms); 0 as for `interval_ms`.
    fn spacing_ms(&self) -> f64 {
        match self.job_ms {
            Some(job_ms) if self.config.adaptive => job_ms / self.limit,
            _ => 0.0,
        }
    }

    /// A job goes out at `now`: the time before which the next may not (ms). Jobs are spaced
    /// by a job's usual time over the limit, kept with its fraction: the next may go out up
    /// to a millisecond early, and the one after is then due that much sooner after it, so a
    /// job shorter than the clock's tick is spaced right on average rather than by a whole
    /// tick (the cell rate algorithm's schedule, to the tick).
    pub fn sent(&mut self, now: u64) -> u64 {
        self.due = self.due.max(now as f64) + self.spacing_ms();
        self.due.floor() as u64
    }

    /// Back to the initial limit (Plex was down and is back), keeping the baseline.
    pub fn restart(&mut self) {
        *self = Pacer {
            baseline: self.baseline,
            job_ms: self.job_ms,
            ..Pacer::new(self.config)
        };
    }

    /// A job of `requests` requests took `job_ms` in all; it ended at `now`.
    pub fn record(&mut self, job_ms: f64, requests: u32, now: u64) {
        if !self.config.adaptive || !job_ms.is_finite() || job_ms < 0.0 || requests == 0 {
            return;
        }
        // A job's usual time spaces the jobs sent: one very slow job (a spike, a walk of the
        // library) counts as at most twice the usual, or it would hold the next jobs back.
        self.job_ms = Some(match self.job_ms {
            Some(usual) => usual + JOB_WEIGHT * (job_ms.min(usual * JOB_CLIP) - usual),
            None => job_ms,
        });
        let per_request_ms = job_ms / f64::from(requests);
        let opened = *self.opened.get_or_insert(now);
        self.window.push(per_request_ms.max(0.1));
        // `window_ms` is the time Plex is given to show what a change of the limit does. The
        // warm-up's windows after the first, at a limit that has not changed, need only
        // their jobs.
        let measuring = self.baseline.is_none() && !self.warmup.is_empty();
        if self.window.len() < self.config.window_jobs as usize
            || (!measuring && now.saturating_sub(opened) < self.config.window_ms)
        {
            return;
        }
        let median = median(&mut self.window);
        self.window.clear();
        self.opened = None;
        let c = self.config;
        let Some(baseline) = self.baseline else {
            self.warmup.push(median);
            // The first window is dropped: it starts with Plex idle, lighter than the load
            // the others see.
            if self.warmup.len() > c.warmup_windows as usize {
                let kept = &self.warmup[1..];
                let mean = kept.iter().sum::<f64>() / kept.len() as f64;
                self.baseline = Some(mean);
                self.warmup.clear();
            }
            return;
        };
        let baseline = if self.limit <= RELEARN_BELOW {
            // While the limit first grows the baseline is fresh, and a window's median is
            // as noisy as each of the warm-up's: weighing it as half of the baseline let one
            // noisy window move it a long way. Once Plex has pushed back, Plex may be slower
            // for good, and the baseline follows it quickly.
            let weight = if self.starting {
                1.0 / f64::from(c.warmup_windows + 1)
            } else {
                RELEARN_WEIGHT
            };
            baseline + weight * (median - baseline)
        } else if median < baseline {
            baseline + c.smoothing * (median - baseline)
        } else {
            baseline
        };
        self.baseline = Some(baseline);
        let ratio = match self.trend {
            Some(previous) => (previous + median / baseline) / 2.0,
            None => median / baseline,
        };
        self.trend = Some(median / baseline);
        let target = self.target();
        // Until Plex first slows down past the target, the limit may double a window (TCP's
        // slow start): a drain reaches its pace in seconds, not minutes.
        if ratio > target {
            self.starting = false;
        }
        let limit = if self.starting {
            self.limit * 2.0
        } else {
            self.limit * (target / ratio).powf(c.gain).clamp(0.5, 1.0 + c.grow_by)
        };
        self.limit = limit.clamp(c.min, f64::from(c.max));
    }

    /// The latency aimed at, over the baseline: `target`, but with few jobs in flight down to
    /// 60 % as far above the baseline, rising to it at `full_target_at` jobs. A server that
    /// few jobs already slow down is one that each job is a large share of: one job more
    /// or less moves its latency a long way, so it is run further from its limits.
    pub fn target(&self) -> f64 {
        let c = &self.config;
        let share = (self.limit / c.full_target_at.max(1.0)).clamp(LEAST_TARGET_SHARE, 1.0);
        1.0 + (c.target - 1.0) * share
    }

    /// Plex said it is overloaded (a 503, a 429) or failed to answer at `now`: half the
    /// limit, and a new window.
    pub fn overloaded(&mut self, now: u64) {
        if self.config.adaptive {
            self.starting = false;
            self.limit = (self.limit / 2.0).max(self.config.min);
            self.window.clear();
            self.opened = Some(now);
        }
    }
}

/// How far above the baseline the target is, at the least, as a share of `target`'s.
const LEAST_TARGET_SHARE: f64 = 0.6;

/// The weight of a window's median in the baseline when it is learnt again under a light
/// load, once Plex has pushed back.
const RELEARN_WEIGHT: f64 = 0.5;

/// Below this limit (less than one job in flight on average) the load plexsync puts on Plex is
/// light, and the baseline is learnt again.
const RELEARN_BELOW: f64 = 0.75;

/// The weight of a job's time in the moving average of a job's usual time.
const JOB_WEIGHT: f64 = 0.1;

/// The most a job's time counts for in that average, as a multiple of the usual time.
const JOB_CLIP: f64 = 2.0;

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
    use rand::{RngExt, SeedableRng};

    /// A job of three requests, each an exponential tail over a floor, one request in 200
    /// two seconds late: its time in all.
    fn job_ms(rng: &mut rand::rngs::SmallRng, mean: f64) -> f64 {
        (0..3)
            .map(|_| {
                let u: f64 = rng.random();
                let spike = if rng.random_bool(0.005) { 2_000.0 } else { 0.0 };
                mean * 0.2 - (1.0 - u).ln() * mean * 0.8 + spike
            })
            .sum()
    }

    proptest! {
        /// Whatever Plex's latencies and overloads, the limit stays within its bounds, and a
        /// window at most doubles it or halves it.
        #[test]
        fn the_limit_stays_in_bounds_and_moves_by_steps(
            samples in proptest::collection::vec((0.0f64..10_000.0, 0u32..4, 0u64..500, 0u8..20), 1..400),
        ) {
            let config = PaceConfig::default();
            let mut pacer = Pacer::new(config);
            let mut now = 0;
            for (ms, requests, dt, overload) in samples {
                now += dt;
                let before = pacer.limit();
                if overload == 0 { pacer.overloaded(now) } else { pacer.record(ms, requests, now) }
                let after = pacer.limit();
                prop_assert!(after >= config.min && after <= f64::from(config.max));
                prop_assert!(after <= 2.0 * before + 1e-9);
                prop_assert!(after >= (before / 2.0).max(config.min) - 1e-9);
                prop_assert!((1..=config.max as usize).contains(&pacer.in_flight()));
            }
        }

        /// Latencies drawn around a steady mean grow the limit to its most; the same three
        /// times slower bring it down within half a minute to the light load where the
        /// baseline is learnt again, jobs spaced out.
        #[test]
        fn steady_grows_slow_shrinks(base in 1.0f64..500.0, slower in 3.0f64..20.0, seed in any::<u64>()) {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let config = PaceConfig::default();
            let mut pacer = Pacer::new(config);
            let mut now = 0;
            for _ in 0..8_000 {
                now += 20;
                pacer.record(job_ms(&mut rng, base), 3, now);
            }
            prop_assert_eq!(pacer.in_flight(), config.max as usize);
            let mut least = (pacer.limit(), 0);
            for _ in 0..1_500 {
                now += 20;
                pacer.record(job_ms(&mut rng, base * slower), 3, now);
                if pacer.limit() < least.0 {
                    least = (pacer.limit(), pacer.interval_ms());
                }
            }
            prop_assert!(least.0 < super::RELEARN_BELOW, "{}", least.0);
            prop_assert!(least.1 as f64 >= base * slower, "{:?}", least);
        }

        /// While the limit first grows, a window at a light load counts in the baseline as
        /// much as each of the warm-up's (the baseline is their mean: one noisy window does
        /// not move it far); once Plex has pushed back, as half (Plex may be slower for good).
        #[test]
        fn a_fresh_baseline_is_the_mean_of_the_light_windows(
            base in 0.5f64..500.0,
            // The dropped window, the warm-up's, then the first at half a job.
            spread in proptest::collection::vec(
                0.9f64..1.1,
                PaceConfig::default().warmup_windows as usize + 2,
            ),
            later in 0.5f64..3.0,
        ) {
            let config = PaceConfig::default();
            let mut pacer = Pacer::new(config);
            let mut now = 0;
            let mut window = |pacer: &mut Pacer, per_request_ms: f64| {
                for _ in 0..config.window_jobs {
                    now += 100;
                    pacer.record(per_request_ms * 3.0, 3, now);
                }
                now
            };
            let mut at = 0;
            for share in &spread {
                at = window(&mut pacer, base * share);
            }
            let light = &spread[1..];
            let mean = base * light.iter().sum::<f64>() / light.len() as f64;
            let learnt = pacer.baseline_ms().unwrap();
            prop_assert!((learnt - mean).abs() <= mean * 1e-9, "{} against {}", learnt, mean);
            prop_assert!(pacer.limit() > config.initial);
            // Pushed back to a light load, a window's median moves the baseline halfway.
            pacer.overloaded(at);
            pacer.overloaded(at);
            prop_assert!(pacer.limit() <= super::RELEARN_BELOW);
            window(&mut pacer, base * later);
            let halfway = learnt + 0.5 * (base * later - learnt);
            let relearnt = pacer.baseline_ms().unwrap();
            prop_assert!((relearnt - halfway).abs() <= halfway * 1e-9, "{} against {}", relearnt, halfway);
        }
    }

    #[test]
    fn a_slow_job_does_not_hold_the_next_ones_back() {
        let mut pacer = Pacer::new(PaceConfig::default());
        for i in 0..20 {
            pacer.record(100.0, 2, i * 100);
        }
        let usual = pacer.interval_ms();
        // A walk of the library, or a spike: one job a hundred times as long.
        pacer.record(10_000.0, 2, 2_100);
        assert!(
            pacer.interval_ms() <= usual * 11 / 10,
            "{} after {usual}",
            pacer.interval_ms()
        );
    }

    #[test]
    fn jobs_shorter_than_a_tick_are_spaced_right_on_average() {
        let mut pacer = Pacer::new(PaceConfig::default());
        // Jobs of 0.3 ms at a quarter of a job: one every 1.2 ms, which no whole tick is.
        pacer.record(0.3, 2, 0);
        let (mut now, mut sent) = (0, 0);
        while now < 1_200 {
            let next = pacer.sent(now);
            sent += 1;
            now = now.max(next);
        }
        assert!((990..=1_010).contains(&sent), "{sent} jobs in 1.2 s");
    }

    #[test]
    fn fast_jobs_learn_the_baseline_once_plex_has_had_its_window() {
        let config = PaceConfig::default();
        let mut pacer = Pacer::new(config);
        // Jobs of 0.4 ms, one every 1.6 ms: the first window spans its second, the warm-up's
        // after it only their jobs.
        let mut now = 0;
        while pacer.baseline_ms().is_none() {
            now += 2;
            pacer.record(0.4, 2, now);
        }
        let first = config.window_ms
            + 2 * u64::from(config.warmup_windows) * (u64::from(config.window_jobs) + 1);
        assert!(now <= first, "learnt at {now} ms");
        let learnt = pacer.baseline_ms().unwrap();
        assert!((learnt - 0.2).abs() < 1e-9, "{learnt}");
    }

    #[test]
    fn fixed_stays_fixed() {
        let mut pacer = Pacer::new(PaceConfig::single());
        for i in 0..100 {
            pacer.record(1.0 + i as f64, 3, i * 1_000);
        }
        pacer.overloaded(100_000);
        assert_eq!(pacer.in_flight(), 1);
        assert_eq!(pacer.interval_ms(), 0);
    }

    #[test]
    fn jobs_are_spaced_to_keep_the_limit_on_average() {
        let mut pacer = Pacer::new(PaceConfig::default());
        assert_eq!(pacer.interval_ms(), 0, "nothing timed yet");
        pacer.record(100.0, 2, 0);
        // 0.25 jobs in flight on average: one every four job times.
        assert_eq!(pacer.limit(), 0.25);
        assert_eq!(pacer.interval_ms(), 400);
        assert_eq!(pacer.in_flight(), 1);
    }

    #[test]
    fn a_restart_starts_low_and_remembers_the_baseline() {
        let mut pacer = Pacer::new(PaceConfig::default());
        for i in 0..1_000 {
            pacer.record(60.0, 3, i * 100);
        }
        assert!(pacer.in_flight() > 1);
        pacer.restart();
        assert_eq!(pacer.limit(), PaceConfig::default().initial);
        assert_eq!(pacer.baseline_ms(), Some(20.0));
    }

    #[test]
    fn the_drains_own_load_does_not_raise_the_baseline_but_a_slower_server_does() {
        let config = PaceConfig::default();
        let mut pacer = Pacer::new(config);
        let mut now = 0;
        let mut run = |pacer: &mut Pacer, ms: f64, jobs: usize| {
            for _ in 0..jobs {
                now += 100;
                pacer.record(ms, 3, now);
            }
        };
        run(&mut pacer, 60.0, 2_000);
        assert_eq!(pacer.baseline_ms(), Some(20.0));
        assert_eq!(pacer.in_flight(), config.max as usize);
        // Slower while the limit is high: the baseline stays, the limit comes down.
        run(&mut pacer, 120.0, 200);
        assert_eq!(pacer.baseline_ms(), Some(20.0));
        assert!(pacer.limit() < f64::from(config.max));
        // Slower for good: the limit comes down to a light load, where the baseline is
        // learnt again, and then grows back.
        run(&mut pacer, 120.0, 10_000);
        let learnt = pacer.baseline_ms().unwrap();
        assert!((35.0..=40.0).contains(&learnt), "{learnt}");
        assert!(pacer.limit() > 1.0, "{}", pacer.limit());
        // Faster again: the baseline follows down.
        run(&mut pacer, 30.0, 20_000);
        assert!(pacer.baseline_ms().unwrap() < 12.0);
    }

    #[test]
    fn few_jobs_in_flight_aim_closer_to_the_baseline() {
        let config = PaceConfig::default();
        let low = Pacer::new(config);
        let mut high = Pacer::new(config);
        for i in 0..2_000 {
            high.record(60.0, 3, i * 100);
        }
        assert!(low.target() < high.target());
        assert_eq!(high.target(), config.target);
        assert!(low.target() > 1.0);
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |change: fn(&mut PaceConfig), word: &str| {
            let mut config = PaceConfig::default();
            change(&mut config);
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(word), "{message}");
        };
        bad(|c| c.min = 0.0, "min");
        bad(|c| c.initial = 100.0, "initial");
        bad(|c| c.target = 1.0, "target");
        bad(|c| c.gain = 0.0, "gain");
        bad(|c| c.window_jobs = 0, "window_jobs");
        bad(|c| c.warmup_windows = 0, "warmup_windows");
        bad(|c| c.smoothing = f64::NAN, "smoothing");
        bad(|c| c.full_target_at = 0.5, "full_target_at");
        PaceConfig::default().validate().unwrap();
        PaceConfig::single().validate().unwrap();
    }
}
