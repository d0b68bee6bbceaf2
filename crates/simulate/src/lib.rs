//! Outage simulation: the plexsync engine's own driver and decision core, run against a
//! simulated Plex on a virtual clock, to see what it does through outages and to choose its
//! defaults.
//!
//! ```
//! use simulate::{run, scenario};
//!
//! let restart = scenario("restart").unwrap().setup(7);
//! let outcome = run(&restart, "plexsync", &engine::Policy::default(), false)?;
//! let m = &outcome.metrics;
//! assert_eq!((m.lost, m.outage_dead_letters, m.wrong_edits), (0, 0, 0));
//! assert!(m.delays_ms.iter().all(|d| d.is_some_and(|ms| ms < 60_000)));
//! # Ok::<(), simulate::RunError>(())
//! ```
//!
//! # Scope
//!
//! - What is simulated is only what the binary plugs in differently: Plex ([`ServerPhase`]s on a
//!   [`Timeline`], latency, a library that edits change), the queue (persist's memory
//!   backend, fed by hooks as they arrive), the engine's state (in memory) and the clock
//!   (virtual: a sleep jumps to its deadline or to the next hook). The engine runs as
//!   `plexsync run` does, through [`engine::drive`].
//! - A [`Scenario`] draws its world from a seed: the server's phases and the hooks, the
//!   same for every policy. [`run`] gives one run's [`Metrics`] and, if asked, its
//!   [`Trace`]; [`Suite`] runs scenarios × policies × seeds on every core and sums them up
//!   per scenario and policy ([`Summary`]); [`table`] prints them, [`targets`] checks the
//!   defaults against the goals in `docs/policy.md`, [`plot`] draws a scenario.
//! - Everything is deterministic: the same seeds give the same figures, byte for byte.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod library;
mod metrics;
mod plex;
mod plot;
mod predecessor;
mod report;
mod run;
mod scenario;
mod suite;
mod timeline;
mod watch;
mod workload;
mod world;

pub use fake_plex::ServerPhase;
pub use metrics::{FALSE_CLOSURE_WINDOW_MS, Metrics};
pub use plex::{Latency, ProbeSeen};
pub use plot::{PlotError, plot};
pub use predecessor::Variant;
pub use report::{
    BLIND, Figure, Miss, SINGLE, Summary, legend, pacing, percentile, seconds, summarize, table,
    targets, windows,
};
pub use run::{Contender, Run, RunError, Trace, run, run_contender};
pub use scenario::{Class, Intended, START, Scenario, Setup, Target, scenario, scenarios};
pub use suite::{Outcome, Suite};
pub use timeline::Timeline;
pub use workload::{Bulk, Sessions};
pub use world::Hook;
