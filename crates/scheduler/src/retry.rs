use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backoff::{Backoff, Jitter};
use crate::class::ErrorClass;

/// How one class of failure is retried.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryRule {
    /// Put the job back as it is: no attempt spent, never dead-lettered.
    Requeue,
    /// Retry after a backoff delay, at most `max_retries` times, then dead-letter.
    Backoff {
        /// Delay per retry.
        backoff: Backoff,
        /// Retries before the job is dead-lettered.
        max_retries: u32,
    },
    /// Dead-letter at once.
    DeadLetter,
}

/// What to do with a failed job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again no earlier than `at`.
    Retry {
        /// When the job becomes ready again.
        at: u64,
        /// The delay chosen (0 for a requeue), to pass back as `previous_ms` next time.
        delay_ms: u64,
        /// Whether this retry spends one of the job's attempts.
        counts_attempt: bool,
    },
    /// Give up: move the job to the dead-letter queue.
    DeadLetter,
}

/// A [`RetryRule`] per [`ErrorClass`], and how far a server's `Retry-After` is honoured.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// For [`ErrorClass::ServerDown`].
    pub server_down: RetryRule,
    /// For [`ErrorClass::Transient`], [`ErrorClass::Outage`] and [`ErrorClass::ItemError`].
    pub transient: RetryRule,
    /// For [`ErrorClass::NotFound`].
    pub not_found: RetryRule,
    /// For [`ErrorClass::Permanent`].
    pub permanent: RetryRule,
    /// The longest wait a `Retry-After` hint can impose; a server asking for more is
    /// retried after this long.
    #[serde(default = "default_retry_after_cap_ms")]
    pub retry_after_cap_ms: u64,
}

fn default_retry_after_cap_ms() -> u64 {
    300_000
}

impl Default for RetryPolicy {
    /// The predecessor's rules: server down requeues without spending a retry; transient
    /// retries 5 times from 5 s to 80 s; not found 12 times from 30 s to 600 s (about two
    /// hours, time for a library scan); permanent dead-letters at once. Delays are fully
    /// jittered, as the predecessor's were.
    fn default() -> Self {
        let backoff = |base_ms, cap_ms| {
            Backoff::new(base_ms, 2.0, cap_ms, Jitter::Full).expect("constant backoff is valid")
        };
        RetryPolicy {
            server_down: RetryRule::Requeue,
            transient: RetryRule::Backoff {
                backoff: backoff(5_000, 80_000),
                max_retries: 5,
            },
            not_found: RetryRule::Backoff {
                backoff: backoff(30_000, 600_000),
                max_retries: 12,
            },
            permanent: RetryRule::DeadLetter,
            retry_after_cap_ms: default_retry_after_cap_ms(),
        }
    }
}

impl RetryPolicy {
    /// The rule for `class`.
    /// An outage and a failing item are retried as transient failures (the engine decides
    /// whether an outage spends a retry); a configuration error and a deferred job are put
    /// back as they are; a job that cannot be read is dead-lettered.
    pub fn rule(&self, class: ErrorClass) -> RetryRule {
        match class {
            ErrorClass::ServerDown => self.server_down,
            ErrorClass::Outage | ErrorClass::Transient | ErrorClass::ItemError => self.transient,
            ErrorClass::NotFound => self.not_found,
            ErrorClass::Permanent => self.permanent,
            ErrorClass::Configuration | ErrorClass::Deferred => RetryRule::Requeue,
            ErrorClass::InvalidJob => RetryRule::DeadLetter,
        }
    }

    /// Decides what happens to a job that failed with `class` after `retries` counted retries.
    /// `previous_ms` is the delay chosen last time (0 if none).
    pub fn decide<R: Rng + ?Sized>(
        &self,
        class: ErrorClass,
        retries: u32,
        previous_ms: u64,
        now: u64,
        rng: &mut R,
    ) -> RetryDecision {
        self.decide_with_hint(class, retries, previous_ms, None, now, rng)
    }

    /// [`RetryPolicy::decide`] for a failure that came with the server's own idea of when to
    /// come back (`Retry-After`, in milliseconds). A retry then waits at least that long, up
    /// to [`RetryPolicy::retry_after_cap_ms`]; a hint changes neither whether the job is
    /// retried nor whether the retry is counted.
    pub fn decide_with_hint<R: Rng + ?Sized>(
        &self,
        class: ErrorClass,
        retries: u32,
        previous_ms: u64,
        hint_ms: Option<u64>,
        now: u64,
        rng: &mut R,
    ) -> RetryDecision {
        let floor = hint_ms.map_or(0, |hint| hint.min(self.retry_after_cap_ms));
        match self.rule(class) {
            RetryRule::Requeue => RetryDecision::Retry {
                at: now.saturating_add(floor),
                delay_ms: floor,
                counts_attempt: false,
            },
            RetryRule::Backoff {
                backoff,
                max_retries,
            } if retries < max_retries => {
                let previous = if previous_ms == 0 {
                    backoff.base_ms()
                } else {
                    previous_ms
                };
                let delay_ms = backoff.delay(retries, previous, rng).max(floor);
                RetryDecision::Retry {
                    at: now.saturating_add(delay_ms),
                    delay_ms,
                    counts_attempt: true,
                }
            }
            RetryRule::Backoff { .. } | RetryRule::DeadLetter => RetryDecision::DeadLetter,
        }
    }
}
