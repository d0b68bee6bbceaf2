use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// How a backoff delay is spread around its exponential ceiling, after AWS's
/// "Exponential Backoff and Jitter". `t` is `min(cap, base * factor^attempt)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly `t`. Clients that fail together retry together.
    None,
    /// `uniform(0, t)`: the widest spread, but a delay may be close to zero.
    Full,
    /// `t/2 + uniform(0, t/2)`: never less than half the ceiling.
    Equal,
    /// `min(cap, uniform(base, previous * 3))`: grows from the previous delay, not the attempt.
    Decorrelated,
}

/// An exponential backoff with a cap and a jitter. Durations are milliseconds.
///
/// Deserializing checks the values as [`Backoff::new`] does.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBackoff")]
pub struct Backoff {
    base_ms: u64,
    factor: f64,
    cap_ms: u64,
    jitter: Jitter,
}

/// A backoff that cannot be built as asked.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BackoffError {
    /// The growth factor is below 1, infinite or not a number.
    #[error("backoff factor must be a finite number of at least 1 (got {0})")]
    Factor(f64),
    /// The cap is below the base.
    #[error("backoff cap ({cap_ms} ms) must not be below its base ({base_ms} ms)")]
    Cap {
        /// The base asked for.
        base_ms: u64,
        /// The cap asked for.
        cap_ms: u64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackoff {
    base_ms: u64,
    factor: f64,
    cap_ms: u64,
    jitter: Jitter,
}

impl TryFrom<RawBackoff> for Backoff {
    type Error = BackoffError;

    fn try_from(raw: RawBackoff) -> Result<Self, Self::Error> {
        Backoff::new(raw.base_ms, raw.factor, raw.cap_ms, raw.jitter)
    }
}

impl Backoff {
    /// `base_ms * factor^attempt`, capped at `cap_ms`, spread by `jitter`.
    pub fn new(
        base_ms: u64,
        factor: f64,
        cap_ms: u64,
        jitter: Jitter,
    ) -> Result<Self, BackoffError> {
        if !factor.is_finite() || factor < 1.0 {
            return Err(BackoffError::Factor(factor));
        }
        if cap_ms < base_ms {
            return Err(BackoffError::Cap { base_ms, cap_ms });
        }
        Ok(Backoff {
            base_ms,
            factor,
            cap_ms,
            jitter,
        })
    }

    /// The same backoff with another jitter.
    pub fn with_jitter(self, jitter: Jitter) -> Self {
        Backoff { jitter, ..self }
    }

    /// The first delay's ceiling.
    pub fn base_ms(&self) -> u64 {
        self.base_ms
    }

    /// The largest delay.
    pub fn cap_ms(&self) -> u64 {
        self.cap_ms
    }

    /// The jitter in use.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// `min(cap, base * factor^attempt)`, before jitter. Never decreases as `attempt` grows.
    pub fn ceiling(&self, attempt: u32) -> u64 {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let raw = self.base_ms as f64 * self.factor.powi(exponent);
        // `as` saturates, and NaN cannot occur: base and factor are finite and factor >= 1.
        (raw.min(self.cap_ms as f64)) as u64
    }

    /// The delay before retry number `attempt` (0 for the first retry). `previous_ms` is the
    /// delay used last time; only [`Jitter::Decorrelated`] reads it (pass `base_ms` at first).
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, previous_ms: u64, rng: &mut R) -> u64 {
        match self.jitter {
            Jitter::None => self.ceiling(attempt),
            Jitter::Full => rng.random_range(0..=self.ceiling(attempt)),
            Jitter::Equal => {
                let t = self.ceiling(attempt);
                let half = t / 2;
                half + rng.random_range(0..=t - half)
            }
            Jitter::Decorrelated => {
                let upper = previous_ms.saturating_mul(3).max(self.base_ms);
                rng.random_range(self.base_ms..=upper).min(self.cap_ms)
            }
        }
    }
}
