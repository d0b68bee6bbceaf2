//! The predecessor's post-recovery rate limiter, as `worker/rate_limiter.py` (Stash2Plex
//! v1.6.14) writes it: a token bucket of one token whose rate rises from 5 to 20 jobs a
//! second over 300 s, halved for 60 s when more than 30 % of the last minute's results failed.
//! Times are milliseconds; rates are per second, as there.

/// `RecoveryRateLimiter()` defaults (`rate_limiter.py:35-72`).
const INITIAL_RATE: f64 = 5.0;
const TARGET_RATE: f64 = 20.0;
const RAMP_MS: u64 = 300_000;
const ERROR_THRESHOLD: f64 = 0.3;
const ERROR_WINDOW_MS: u64 = 60_000;
const CAPACITY: f64 = 1.0;

/// What the limiter said, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Said {
    /// `rate_limiter.py:246`: the rate halves for 60 s.
    Halved,
    /// `rate_limiter.py:252`: the full rate is back.
    Restored,
}

#[derive(Debug)]
pub(super) struct Limiter {
    /// 0: not in a recovery period.
    started: u64,
    tokens: f64,
    last_update: u64,
    multiplier: f64,
    backoff_until: u64,
    results: Vec<(u64, bool)>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            started: 0,
            tokens: CAPACITY,
            last_update: 0,
            multiplier: 1.0,
            backoff_until: 0,
            results: Vec::new(),
        }
    }
}

impl Limiter {
    /// `is_in_recovery_period` (`rate_limiter.py:74-91`).
    pub(super) fn in_recovery(&self, now: u64) -> bool {
        self.started != 0 && now.saturating_sub(self.started) < RAMP_MS
    }

    /// When the recovery period going on ends.
    pub(super) fn recovery_end(&self) -> Option<u64> {
        (self.started != 0).then(|| self.started + RAMP_MS)
    }

    /// `start_recovery_period` (`rate_limiter.py:93-115`).
    pub(super) fn start(&mut self, now: u64) {
        *self = Limiter {
            started: now.max(1),
            last_update: now,
            ..Limiter::default()
        };
    }

    /// `current_rate` (`rate_limiter.py:131-157`).
    fn rate(&self, now: u64) -> f64 {
        if !self.in_recovery(now) {
            return TARGET_RATE;
        }
        let progress = now.saturating_sub(self.started) as f64 / RAMP_MS as f64;
        (INITIAL_RATE + (TARGET_RATE - INITIAL_RATE) * progress) * self.multiplier
    }

    /// `should_wait` (`rate_limiter.py:159-198`): 0 when a token was taken, or how long until
    /// one comes.
    pub(super) fn should_wait(&mut self, now: u64) -> u64 {
        if !self.in_recovery(now) {
            return 0;
        }
        if self.last_update > 0 {
            let elapsed = now.saturating_sub(self.last_update) as f64 / 1_000.0;
            self.tokens = (self.tokens + elapsed * self.rate(now)).min(CAPACITY);
        }
        self.last_update = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return 0;
        }
        let rate = self.rate(now);
        if rate <= 0.0 {
            return 0;
        }
        ((1.0 - self.tokens) / rate * 1_000.0).ceil() as u64
    }

    /// `record_result` and `_maybe_adjust_rate` (`rate_limiter.py:200-252`).
    pub(super) fn record(&mut self, success: bool, now: u64) -> Option<Said> {
        self.results.push((now, success));
        let cutoff = now.saturating_sub(ERROR_WINDOW_MS);
        self.results.retain(|(at, _)| *at >= cutoff);
        if !self.in_recovery(now) {
            return None;
        }
        let failures = self.results.iter().filter(|(_, ok)| !ok).count();
        let rate = failures as f64 / self.results.len().max(1) as f64;
        if rate > ERROR_THRESHOLD && self.multiplier == 1.0 {
            self.multiplier = 0.5;
            self.backoff_until = now + 60_000;
            Some(Said::Halved)
        } else if rate < 0.1 && self.multiplier < 1.0 && now >= self.backoff_until {
            self.multiplier = 1.0;
            Some(Said::Restored)
        } else {
            None
        }
    }
}
