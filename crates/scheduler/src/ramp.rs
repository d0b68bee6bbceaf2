use serde::{Deserialize, Serialize};

/// How the drain rate comes back after an outage.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RampConfig {
    /// Whether there is a ramp at all; without one, every job may go at once.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Jobs per second right after the circuit closes.
    pub initial_per_sec: f64,
    /// Jobs per second once the ramp is over.
    pub target_per_sec: f64,
    /// How long the rate takes to go from initial to target, rising linearly.
    pub ramp_ms: u64,
    /// Halve the rate while more than this share of recent results failed (0..=1).
    pub halve_above: f64,
    /// Restore the full rate once fewer than this share of recent results fail (0..=1).
    pub restore_below: f64,
    /// A halved rate stays halved at least this long.
    pub hold_ms: u64,
    /// How far back "recent" reaches.
    pub window_ms: u64,
}

impl Default for RampConfig {
    /// The predecessor's ramp: 5 → 20 jobs/s over 5 minutes; halve above 30 % errors in the
    /// last minute for at least a minute, restore below 10 %.
    fn default() -> Self {
        RampConfig {
            enabled: true,
            initial_per_sec: 5.0,
            target_per_sec: 20.0,
            ramp_ms: 300_000,
            halve_above: 0.30,
            restore_below: 0.10,
            hold_ms: 60_000,
            window_ms: 60_000,
        }
    }
}

fn enabled() -> bool {
    true
}

impl RampConfig {
    /// No ramp: after a recovery every job goes at once (for benchmarks, or a server that
    /// needs no care).
    pub fn disabled() -> RampConfig {
        RampConfig {
            enabled: false,
            ..RampConfig::default()
        }
    }
}

/// A ramp configuration that cannot work.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RampError {
    /// A rate that is not a positive, finite number.
    #[error("ramp rates must be positive numbers of jobs per second (got {0})")]
    Rate(f64),
    /// An error-rate threshold outside 0..=1, or restore above halve.
    #[error(
        "ramp error thresholds must lie in 0..=1 with restore ({restore}) not above halve ({halve})"
    )]
    Thresholds {
        /// `halve_above`.
        halve: f64,
        /// `restore_below`.
        restore: f64,
    },
    /// A zero error window.
    #[error("ramp error window must be at least 1 ms")]
    Window,
}

impl RampConfig {
    /// Checks every value.
    pub fn validate(self) -> Result<Self, RampError> {
        for rate in [self.initial_per_sec, self.target_per_sec] {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(RampError::Rate(rate));
            }
        }
        let in_unit = |x: f64| (0.0..=1.0).contains(&x);
        if !(in_unit(self.halve_above) && in_unit(self.restore_below))
            || self.restore_below > self.halve_above
        {
            return Err(RampError::Thresholds {
                halve: self.halve_above,
                restore: self.restore_below,
            });
        }
        if self.window_ms == 0 {
            return Err(RampError::Window);
        }
        Ok(self)
    }
}

const BUCKETS: usize = 12;

/// Outcome counts for one slice of the error window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Bucket {
    slice: u64,
    ok: u32,
    failed: u32,
}

/// What a [`Ramp`] keeps between invocations.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RampState {
    started_at: u64,
    tokens: f64,
    refilled_at: u64,
    halved_since: Option<u64>,
    buckets: [Bucket; BUCKETS],
}

/// A token bucket whose rate rises linearly from an initial to a target rate, and halves
/// while too many recent results fail.
///
/// It holds at most one second's worth of tokens, so a burst never exceeds the current rate.
#[derive(Clone, Debug, PartialEq)]
pub struct Ramp {
    config: RampConfig,
    state: RampState,
}

impl Ramp {
    /// A ramp that starts at `now` (the circuit just closed) with one token to spend.
    pub fn start(config: RampConfig, now: u64) -> Result<Self, RampError> {
        let config = config.validate()?;
        Ok(Ramp {
            config,
            state: RampState {
                started_at: now,
                tokens: 1.0,
                refilled_at: now,
                halved_since: None,
                buckets: [Bucket::default(); BUCKETS],
            },
        })
    }

    /// Carries on from persisted `state`.
    pub fn restore(config: RampConfig, state: RampState) -> Result<Self, RampError> {
        let config = config.validate()?;
        let mut state = state;
        if !(state.tokens.is_finite() && state.tokens >= 0.0) {
            state.tokens = 0.0;
        }
        Ok(Ramp { config, state })
    }

    /// What to persist.
    pub fn state(&self) -> RampState {
        self.state
    }

    /// Whether the rate is halved because of recent errors.
    pub fn is_halved(&self) -> bool {
        self.state.halved_since.is_some()
    }

    /// Whether the ramp is over at `now`: it is disabled, or the rate has reached its target
    /// and is not halved. From then on it limits nothing and need not be consulted.
    pub fn is_finished(&self, now: u64) -> bool {
        !self.config.enabled
            || (now.saturating_sub(self.state.started_at) >= self.config.ramp_ms
                && !self.is_halved())
    }

    /// When the nominal rate reaches its target (a halved rate may hold it back longer).
    pub fn full_speed_at(&self) -> u64 {
        self.state.started_at.saturating_add(self.config.ramp_ms)
    }

    /// The configuration in force.
    pub fn config(&self) -> &RampConfig {
        &self.config
    }

    /// Jobs per second at `now`.
    pub fn rate(&self, now: u64) -> f64 {
        let c = &self.config;
        let elapsed = now.saturating_sub(self.state.started_at);
        let progress = if c.ramp_ms == 0 {
            1.0
        } else {
            (elapsed as f64 / c.ramp_ms as f64).min(1.0)
        };
        let nominal = c.initial_per_sec + (c.target_per_sec - c.initial_per_sec) * progress;
        if self.is_halved() {
            nominal / 2.0
        } else {
            nominal
        }
    }

    /// Takes a token for one job, or says when the next one will be there. A disabled ramp
    /// always has one.
    pub fn try_acquire(&mut self, now: u64) -> Result<(), u64> {
        if !self.config.enabled {
            return Ok(());
        }
        self.refill(now);
        if self.state.tokens >= 1.0 {
            self.state.tokens -= 1.0;
            Ok(())
        } else {
            let wait_s = (1.0 - self.state.tokens) / self.rate(now);
            Err(now
                .saturating_add((wait_s * 1_000.0).ceil() as u64)
                .max(now.saturating_add(1)))
        }
    }

    /// Records a job's result, and halves or restores the rate accordingly.
    pub fn record(&mut self, ok: bool, now: u64) {
        self.refill(now);
        let slice_ms = self.slice_ms();
        let slice = now / slice_ms;
        let bucket = &mut self.state.buckets[(slice % BUCKETS as u64) as usize];
        if bucket.slice != slice {
            *bucket = Bucket {
                slice,
                ..Bucket::default()
            };
        }
        if ok {
            bucket.ok = bucket.ok.saturating_add(1);
        } else {
            bucket.failed = bucket.failed.saturating_add(1);
        }
        self.update_halving(now);
    }

    /// The share of failed results in the window ending at `now`, if there were any results.
    pub fn error_rate(&self, now: u64) -> Option<f64> {
        let slice_ms = self.slice_ms();
        let current = now / slice_ms;
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        let (ok, failed) = self
            .state
            .buckets
            .iter()
            .filter(|b| b.slice >= oldest && b.slice <= current)
            .fold((0u64, 0u64), |(ok, failed), b| {
                (ok + u64::from(b.ok), failed + u64::from(b.failed))
            });
        let total = ok + failed;
        (total > 0).then(|| failed as f64 / total as f64)
    }

    fn slice_ms(&self) -> u64 {
        (self.config.window_ms / BUCKETS as u64).max(1)
    }

    fn update_halving(&mut self, now: u64) {
        let rate = self.error_rate(now).unwrap_or(0.0);
        // A clock that stepped back makes the hold count from the earlier instant.
        self.state.halved_since = self.state.halved_since.map(|since| since.min(now));
        match self.state.halved_since {
            None if rate > self.config.halve_above => self.state.halved_since = Some(now),
            Some(since)
                if rate < self.config.restore_below
                    && now.saturating_sub(since) >= self.config.hold_ms =>
            {
                self.state.halved_since = None;
            }
            _ => {}
        }
    }

    fn refill(&mut self, now: u64) {
        self.update_halving(now);
        let elapsed_ms = now.saturating_sub(self.state.refilled_at);
        let capacity = self.rate(now).max(1.0);
        let added = self.rate(now) * elapsed_ms as f64 / 1_000.0;
        self.state.tokens = (self.state.tokens + added).min(capacity);
        // A clock that stepped back restarts the refill from the earlier instant.
        self.state.refilled_at = now;
    }
}
