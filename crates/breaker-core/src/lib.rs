//! A circuit breaker as a pure value: you pass in the time, it hands back decisions.
//!
//! ```
//! use breaker_core::{Breaker, Config, Decision, FailureClass, Health, Outcome, State};
//!
//! let config = Config::builder()
//!     .failure_threshold(2)
//!     .open_wait_ms(60_000)
//!     .success_threshold(2)
//!     .build()?;
//! let mut breaker = Breaker::new(config);
//! let mut now = 1_700_000_000_000; // wall-clock milliseconds, from wherever the caller likes
//!
//! // Two outage-class failures in a row trip it.
//! for _ in 0..2 {
//!     let Decision::Permit(permit) = breaker.acquire(now).decision else { unreachable!() };
//!     let report = breaker.report(permit, Outcome::Failure(FailureClass::Outage), now);
//!     now += 10;
//!     # let _ = report;
//! }
//! assert_eq!(breaker.state(), State::Open);
//! assert!(matches!(breaker.acquire(now).decision, Decision::Reject(_)));
//! // Without any input it would move to HALF_OPEN at the end of the open wait.
//! assert_eq!(breaker.poll_timeout(), Some(now - 10 + 60_000));
//!
//! // A healthy deep probe is evidence that Plex is back: HALF_OPEN, ahead of the timer.
//! let moved = breaker.probe(Health::Healthy, now + 5_000);
//! assert_eq!(moved.last().map(|t| t.to), Some(State::HalfOpen));
//!
//! // Trial calls confirm it. One permit at a time by default, each a lease that expires.
//! for i in 0..2 {
//!     let Decision::Permit(trial) = breaker.acquire(now + 6_000 + i).decision else {
//!         unreachable!()
//!     };
//!     assert!(trial.is_trial());
//!     let report = breaker.report(trial, Outcome::Success, now + 6_500 + i);
//!     assert!(report.counted);
//! }
//! assert_eq!(breaker.state(), State::Closed);
//!
//! // The snapshot is what a process persists; restoring it gives back the same breaker.
//! let again = Breaker::restore(config, breaker.snapshot());
//! assert_eq!(again, breaker);
//! # Ok::<(), breaker_core::ConfigError>(())
//! ```
//!
//! # Scope
//!
//! The breaker is a state machine and nothing else. It never reads a clock, never sleeps,
//! never spawns, allocates nothing and has no dependencies (serde, for [`Snapshot`], is
//! optional). Every input takes `now` as wall-clock milliseconds, because the state is meant
//! to be persisted and read by other processes; a `now` that goes backwards never panics and
//! never stalls the breaker for longer than one configured wait.
//!
//! - **Trip**: `failure_threshold` consecutive outage-class failures in CLOSED. Failures of
//!   [`FailureClass::Other`] (an item not found, a bad request) count for nothing.
//! - **Open wait**: fixed, or growing by a factor on each re-open from HALF_OPEN up to a cap;
//!   [`Breaker::poll_timeout`] says when it ends.
//! - **Half-open**: up to `half_open_permits` trials at once, each a lease that expires so a
//!   hung trial cannot wedge the breaker; `success_threshold` successes close it, one
//!   outage-class failure re-opens it.
//! - **Probes** go through the state machine: healthy while OPEN moves to HALF_OPEN, unhealthy
//!   while HALF_OPEN re-opens, unhealthy while OPEN starts the open wait over.
//! - **Generations**: every transition increases the generation; the outcome of a permit from
//!   an older generation changes nothing.
//! - **Slow calls**: optionally, a success slower than a threshold counts as an outage.
//!
//! Transitions come back as values ([`Transitions`]) for the caller to log and to record in an
//! outage history; nothing is printed or stored here.
//!
//! # Features
//!
//! - `std` (default): asks for serde's std support when `serde` is on; without it the crate is
//!   `no_std`.
//! - `serde`: `Serialize`/`Deserialize` for [`Snapshot`] and [`Permit`], and for the values
//!   that make a policy or a history data: [`Config`] (checked on the way in), [`State`],
//!   [`Transition`], [`Cause`], [`Outcome`], [`FailureClass`] and [`Health`].
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod breaker;
mod config;
mod event;
mod leases;
mod snapshot;

pub use breaker::Breaker;
pub use config::{Config, ConfigBuilder, ConfigError, MAX_HALF_OPEN_PERMITS};
pub use event::{
    Admission, Cause, Decision, FailureClass, Health, Outcome, Permit, Rejection, Report, State,
    Transition, Transitions, TransitionsIter,
};
pub use snapshot::Snapshot;
