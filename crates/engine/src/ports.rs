//! What the driver plugs in: Plex, a job store, a state store, a clock and an event sink. The
//! binary plugs in plex-client, the disk queue, the state file and the wall clock; the
//! simulator a simulated Plex, the memory queue, memory state and a virtual clock.

use std::future::Future;

use persist::{Lease, Queue};
use plex_client::{HealthReport, Item, Located, PlexError, Section};

use crate::action::{Disposition, Finished, ProbeDepth, QueueCounts};
use crate::event::Event;
use crate::state::EngineState;

/// A Plex server. Calls take `&self` so that several jobs may be in flight together.
/// Every call must be over by its `deadline` (milliseconds on the clock the
/// driver runs on), failing with a read timeout if it is not; the probe has a deadline of its
/// own, which `deadline` may shorten.
pub trait Plex {
    /// The staged health check, to `depth`, over by its own deadline or by `deadline` if
    /// that comes sooner.
    fn probe(&self, depth: ProbeDepth, deadline: Option<u64>)
    -> impl Future<Output = HealthReport>;
    /// The library sections (a cache of them is fine: they change rarely).
    fn sections(&self, deadline: u64) -> impl Future<Output = Result<Vec<Section>, PlexError>>;
    /// The item whose file is `file`, searching `sections`, and whether it was read whole
    /// (then the sync needs no [`Plex::read`] of it).
    fn find(
        &self,
        sections: &[Section],
        file: &str,
        deadline: u64,
    ) -> impl Future<Output = Result<(Located, bool), PlexError>>;
    /// The item, whole.
    fn read(
        &self,
        located: &Located,
        deadline: u64,
    ) -> impl Future<Output = Result<Item, PlexError>>;
    /// One edit with these query pairs.
    fn edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
        deadline: u64,
    ) -> impl Future<Output = Result<(), PlexError>>;
    /// A partial scan of `folder` in section `section`.
    fn scan(
        &self,
        section: &str,
        folder: &str,
        deadline: u64,
    ) -> impl Future<Output = Result<(), PlexError>>;
}

/// Where jobs wait.
pub trait JobStore {
    /// Leases the next ready job.
    fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>, persist::Error>;
    /// Does with a leased job what the engine decided.
    fn finish(
        &mut self,
        lease: &Lease,
        disposition: &Disposition,
        now: u64,
    ) -> Result<Finished, persist::Error>;
    /// Counts the queue.
    fn counts(&mut self, now: u64) -> Result<QueueCounts, persist::Error>;
    /// Makes every finished job's outcome durable: the driver calls it before it sleeps or
    /// stops, so that outcomes finished back to back may share one sync.
    fn settle(&mut self) -> Result<(), persist::Error>;
}

/// Acks written back to back that share one sync: a crash of the machine (not of the
/// process) may make at most this many jobs run again.
pub(crate) const ACKS_PER_SYNC: usize = 32;

impl JobStore for Queue {
    fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>, persist::Error> {
        Queue::lease(self, visibility_ms, now)
    }

    fn finish(
        &mut self,
        lease: &Lease,
        disposition: &Disposition,
        now: u64,
    ) -> Result<Finished, persist::Error> {
        let done = match disposition {
            Disposition::Ack => self.ack_unsynced(lease).and_then(|()| {
                if self.unsynced_acks() >= ACKS_PER_SYNC {
                    self.sync()
                } else {
                    Ok(())
                }
            }),
            Disposition::Retry {
                at,
                counted,
                class,
                error,
            } => self.retry(lease, *at, *counted, class.as_str(), error, now),
            Disposition::DeadLetter { class, error } => {
                self.dead_letter(lease, class.as_str(), error, now)
            }
        };
        match done {
            Ok(()) => Ok(Finished::Done),
            // Another process has the job: not an error.
            Err(persist::Error::LeaseLost { .. }) => Ok(Finished::LeaseLost),
            Err(e) => Err(e),
        }
    }

    fn counts(&mut self, now: u64) -> Result<QueueCounts, persist::Error> {
        let stats = self.stats(now)?;
        Ok(QueueCounts {
            ready: stats.ready_now,
            waiting: stats.waiting_for_retry,
            earliest_retry_at: stats.earliest_retry_at,
        })
    }

    fn settle(&mut self) -> Result<(), persist::Error> {
        self.sync()
    }
}

/// Where the engine's state lives between steps. `update` reads the current state, applies
/// `change` and stores the result if it changed; `change` never does I/O.
pub trait StateStore {
    /// What can go wrong storing it.
    type Error: std::error::Error + Send + Sync + 'static;
    /// Read, change, store.
    fn update<R>(&mut self, change: impl FnOnce(&mut EngineState) -> R) -> Result<R, Self::Error>;
}

impl StateStore for persist::StateFile<EngineState> {
    type Error = persist::Error;

    fn update<R>(&mut self, change: impl FnOnce(&mut EngineState) -> R) -> Result<R, Self::Error> {
        self.update_if_changed(change)
    }
}

/// What the driver sleeps on.
pub trait Clock {
    /// Milliseconds since the Unix epoch (or since the start of a simulation).
    fn now(&self) -> u64;
    /// Microseconds on the same scale as [`Clock::now`]. A clock that tells finer time than
    /// milliseconds says so here: a job shorter than a millisecond is then timed as such, not
    /// as nothing.
    fn now_us(&self) -> u64 {
        self.now().saturating_mul(1_000)
    }
    /// Sleeps until `at`, or until something needs attention. The driver may drop the sleep
    /// before it ends (a job in flight landed first): a sleep has no effect until polled.
    fn sleep_until(&mut self, at: u64) -> impl Future<Output = Wake>;
    /// Whether the driver should stop (a signal arrived, the simulation is over).
    fn stop_requested(&self) -> bool;
    /// How far the local day is ahead of UTC at `now` (Plex's maintenance hours are local).
    /// UTC unless said otherwise.
    fn utc_offset_ms(&self, _now: u64) -> i64 {
        0
    }
    /// What the watch on Plex heard since it was last asked, oldest first; a notice also
    /// ends a sleep as [`Wake::Nudged`]. Nothing, for a clock with no watch beside it.
    fn take_notice(&mut self) -> Option<crate::watch::Notice> {
        None
    }
}

/// Why a sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// It was time.
    Deadline,
    /// Something changed (a job was queued).
    Nudged,
    /// Stop.
    Stop,
}

/// Where events go.
pub trait EventSink {
    /// One event, at the time the driver saw it.
    fn emit(&mut self, event: Event, now: u64);
}

impl EventSink for Vec<Event> {
    fn emit(&mut self, event: Event, _now: u64) {
        self.push(event);
    }
}

impl<T: Plex + ?Sized> Plex for &T {
    fn probe(
        &self,
        depth: ProbeDepth,
        deadline: Option<u64>,
    ) -> impl Future<Output = HealthReport> {
        (**self).probe(depth, deadline)
    }

    fn sections(&self, deadline: u64) -> impl Future<Output = Result<Vec<Section>, PlexError>> {
        (**self).sections(deadline)
    }

    fn find(
        &self,
        sections: &[Section],
        file: &str,
        deadline: u64,
    ) -> impl Future<Output = Result<(Located, bool), PlexError>> {
        (**self).find(sections, file, deadline)
    }

    fn read(
        &self,
        located: &Located,
        deadline: u64,
    ) -> impl Future<Output = Result<Item, PlexError>> {
        (**self).read(located, deadline)
    }

    fn edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
        deadline: u64,
    ) -> impl Future<Output = Result<(), PlexError>> {
        (**self).edit(located, pairs, deadline)
    }

    fn scan(
        &self,
        section: &str,
        folder: &str,
        deadline: u64,
    ) -> impl Future<Output = Result<(), PlexError>> {
        (**self).scan(section, folder, deadline)
    }
}

impl<T: JobStore + ?Sized> JobStore for &mut T {
    fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>, persist::Error> {
        (**self).lease(visibility_ms, now)
    }

    fn finish(
        &mut self,
        lease: &Lease,
        disposition: &Disposition,
        now: u64,
    ) -> Result<Finished, persist::Error> {
        (**self).finish(lease, disposition, now)
    }

    fn counts(&mut self, now: u64) -> Result<QueueCounts, persist::Error> {
        (**self).counts(now)
    }

    fn settle(&mut self) -> Result<(), persist::Error> {
        (**self).settle()
    }
}

impl<T: EventSink + ?Sized> EventSink for &mut T {
    fn emit(&mut self, event: Event, now: u64) {
        (**self).emit(event, now);
    }
}
