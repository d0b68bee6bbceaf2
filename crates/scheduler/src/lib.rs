//! Pure timing policy for plexsync: how long to wait, when to probe, whether to retry, what is
//! due, and how fast to drain after an outage.
//!
//! ```
//! use rand::SeedableRng;
//! use scheduler::{due, Due, Interval, ProbeOutcome, ProbeSchedule, Reason};
//!
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
//! let now = 1_700_000_000_000;
//!
//! // Plex went down: probe after about 5 s, then back off towards 60 s while it stays down.
//! let mut probes = ProbeSchedule::default();
//! probes.arm(now, &mut rng);
//! let first = probes.poll_timeout().unwrap();
//! assert!((now + 2_500..=now + 5_000).contains(&first));
//! let second = probes.record(ProbeOutcome::Unreachable, first, &mut rng);
//! assert!((first + 5_000..=first + 10_000).contains(&second));
//!
//! // Check-on-invocation: a daily reconciliation that last ran two days ago is due.
//! let two_days_ago = now - 2 * 86_400_000;
//! assert_eq!(due(Some(two_days_ago), Interval::DAILY, now), Due::Now(Reason::IntervalElapsed));
//! assert_eq!("6h".parse::<Interval>()?, Interval::Every(6 * 3_600_000));
//! # Ok::<(), scheduler::IntervalError>(())
//! ```
//!
//! # Scope
//!
//! Nothing here reads a clock, sleeps, or draws entropy: `now` (wall-clock milliseconds) and a
//! seeded [`rand::Rng`] come in as arguments, so the simulator can replay any schedule exactly.
//! Every value that must outlive a process ([`ProbeState`], [`RampState`]) is serializable;
//! storing it is someone else's job.
//!
//! - [`Backoff`]: base, factor and cap with full, equal, decorrelated or no [`Jitter`].
//! - [`ProbeSchedule`]: when to probe a server that is down, reset by a healthy probe, with
//!   a [`ProbePlan`] that may back off differently from a refused port than from a server
//!   that answers but is not ready, and a fixed or jittered first probe.
//! - [`ErrorClass`]: the one vocabulary for failures, each with its [`Scope`] (Plex's
//!   health, the job's own, the settings').
//! - [`RetryPolicy`]: a [`RetryRule`] per [`ErrorClass`], defaulting to the predecessor's.
//! - [`due`]: check-on-invocation for periodic tasks, with an [`Interval`] that parses from
//!   `never`, `hourly`, `daily`, `weekly` or a duration like `30m`.
//! - [`Ramp`]: the post-recovery token bucket.
//! - [`Pacer`]: how many jobs go to Plex together, from its latency against its baseline.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod class;
mod due;
mod pace;
mod probe;
mod ramp;
mod retry;

pub use backoff::{Backoff, BackoffError, Jitter};
pub use class::{ErrorClass, Scope, UnknownClass};
pub use due::{Due, Interval, IntervalError, Reason, due};
pub use pace::{PaceConfig, PaceError, Pacer};
pub use probe::{Early, FirstProbe, ProbeOutcome, ProbePlan, ProbeSchedule, ProbeState};
pub use ramp::{Ramp, RampConfig, RampError, RampState};
pub use retry::{RetryDecision, RetryPolicy, RetryRule};
