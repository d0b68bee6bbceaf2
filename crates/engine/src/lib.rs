//! The plexsync sync engine: one decision core that says what to do next, and one driver
//! loop that does it, run alike by the binary and by the outage simulator.
//!
//! ```
//! use engine::{Action, Disposition, Engine, EngineState, Finished, Input, Mode, Policy,
//!              SyncJob, SyncResult, Synced};
//! use rand::SeedableRng;
//!
//! let mut queue = persist::Queue::in_memory();
//! let job: SyncJob = serde_json::from_value(serde_json::json!({
//!     "scene_id": "42", "files": ["/data/Movies/Sintel (2010).mkv"],
//!     "edit": {"title": "Sintel"}, "edited_at": 0
//! }))?;
//! queue.enqueue(&job.key(), &job, 1_000)?;
//!
//! // The core decides; whoever drives it does the I/O and reports back.
//! let mut engine = Engine::new(Policy::default(), Mode::Drain);
//! let mut state = EngineState::default(); // persisted between processes
//! let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
//! let now = 2_000;
//! let Action::Take { visibility_ms } = engine.poll(&mut state, now, &mut rng) else { panic!() };
//! let lease = queue.lease(visibility_ms, now)?.unwrap();
//! engine.handle(&mut state, Input::Taken(Some(lease.job.clone())), now, &mut rng)?;
//! // The job goes out; the engine may take more while it is in flight, as many as its
//! // pacer allows (it starts with one).
//! let Action::Sync { key, job, .. } = engine.poll(&mut state, now, &mut rng) else { panic!() };
//! assert_eq!(job.edit.title.as_deref(), Some("Sintel"));
//! assert!(matches!(engine.poll(&mut state, now, &mut rng), Action::Wait { .. }));
//! // ... sync it with Plex (engine::sync_job does), then say how it went:
//! let synced = Synced::new(SyncResult::Unchanged, std::time::Duration::from_millis(40), 2);
//! engine.handle(&mut state, Input::Synced { key: key.clone(), synced }, now + 40, &mut rng)?;
//! let finish = engine.poll(&mut state, now + 40, &mut rng);
//! assert_eq!(finish, Action::Finish { key, disposition: Disposition::Ack });
//! queue.ack(&lease)?;
//! engine.handle(&mut state, Input::Finished(Finished::Done), now + 40, &mut rng)?;
//! assert!(matches!(engine.poll(&mut state, now + 40, &mut rng), Action::Take { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Scope
//!
//! - [`Engine`] is the decision core: no I/O, no clock, no randomness of its own. It holds
//!   what one run knows (the job in flight, counts) and works on [`EngineState`], what all
//!   processes share: the breaker, the probe schedule, the ramp, outage history, the last
//!   probes. [`Engine::poll`] says what to do at `now` ([`Action`]); [`Engine::handle`] takes
//!   how it went ([`Input`]); [`Engine::poll_event`] reports what happened ([`Event`]).
//! - [`drive`] is the one loop that runs it over [`Ports`]: a [`Plex`], a [`JobStore`], a
//!   [`StateStore`], a [`Clock`] and an [`EventSink`]. Every call into the core happens inside
//!   [`StateStore::update`], so each step starts from what other processes left, stores only
//!   what changed, and a half-open permit is stored before its request is sent; no I/O ever
//!   happens inside that update. The binary plugs in [`RealPlex`], the disk queue, the state
//!   file and the wall clock; tests and the simulator a simulated Plex,
//!   [`persist::Queue::in_memory`], [`MemoryState`] and [`VirtualClock`], run by [`block_on`].
//! - The rules: outage-class failures (refused, timeouts, 5xx, maintenance) feed the breaker,
//!   spend no retry and never dead-letter a job; a file Plex has not scanned brings one
//!   partial scan of its folder per interval; a refused token stops the engine and puts the
//!   job back; no job is taken while the breaker refuses; probes on the [`Policy`]'s schedule
//!   while it is open; a ramp after it closes. [`Policy`] holds every number, as data.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod action;
mod core;
mod driver;
mod event;
mod job;
mod manual;
mod memory;
mod outage;
mod policy;
mod ports;
mod real;
mod state;
mod sync;
mod watch;
mod window;

pub use crate::action::{
    Action, Disposition, Finished, Input, Mode, ProbeDepth, QueueCounts, RunStats, ScanTarget,
    SyncResult, Synced, UnexpectedInput,
};
pub use crate::core::Engine;
pub use driver::{DriveError, Ports, drive};
pub use event::{Event, JobOutcome, Level, StopReason, WatchEvent, count, duration};
pub use job::{InvalidJob, SyncJob};
pub use manual::{force_open_breaker, reset_breaker, void_trials};
pub use memory::{MemoryState, Sleep, VirtualClock, VirtualTime, block_on};
pub use outage::{History, KEPT_OUTAGES, MEANINGFUL_WATCH_MS, Outage, Reliability};
pub use policy::{Knobs, Policy, PolicyError, SyncOptions};
pub use ports::{Clock, EventSink, JobStore, Plex, StateStore, Wake};
pub use real::{RealPlex, wall_ms, wall_us};
pub use scheduler::{ErrorClass, Scope};
pub use state::{
    EngineState, Evidence, Failing, Halt, KEPT_PROBES, LastSync, ProbeRecord, Reached, STATE_SCHEMA,
};
pub use sync::{plan, sync_job};
pub use watch::{Announced, KEPT_BUSY, Notice, WatchState, WatchVia};
pub use window::{
    BUTLER_REFRESH_MS, ButlerHours, Window, WindowSource, learn as learn_window, local_hour,
};
