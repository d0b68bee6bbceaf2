#![doc = include_str!("../README.md")]
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
