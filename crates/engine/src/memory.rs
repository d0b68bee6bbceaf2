//! What runs the engine without a disk or a wall clock: for tests and the simulator.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::ports::{Clock, StateStore, Wake};
use crate::state::EngineState;

/// The engine's state in memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryState(pub EngineState);

impl StateStore for MemoryState {
    type Error = Infallible;

    fn update<R>(&mut self, change: impl FnOnce(&mut EngineState) -> R) -> Result<R, Infallible> {
        Ok(change(&mut self.0))
    }
}

/// A clock whose sleeps jump straight to their deadline. Clones share the same time, so a
/// simulated Plex can advance it by the latency of each request.
#[derive(Clone, Debug, Default)]
pub struct VirtualClock {
    now: Rc<Cell<u64>>,
    nudges: Rc<RefCell<BTreeSet<u64>>>,
    stop_at: Rc<Cell<Option<u64>>>,
}

impl VirtualClock {
    /// A clock reading `start`.
    pub fn new(start: u64) -> VirtualClock {
        let clock = VirtualClock::default();
        clock.now.set(start);
        clock
    }

    /// Moves time forward by `ms` (a request took that long).
    pub fn advance(&self, ms: u64) {
        self.now.set(self.now.get().saturating_add(ms));
    }

    /// Sets the time, forwards or back (a clock that steps).
    pub fn set(&self, at: u64) {
        self.now.set(at);
    }

    /// A sleep that reaches `at` ends there with [`Wake::Nudged`] (a job arrives then).
    pub fn nudge_at(&self, at: u64) {
        self.nudges.borrow_mut().insert(at);
    }

    /// From `at` on, the driver is asked to stop.
    pub fn stop_at(&self, at: u64) {
        self.stop_at.set(Some(at));
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> u64 {
        self.now.get()
    }

    fn sleep_until(&mut self, at: u64) -> impl Future<Output = Wake> {
        let now = self.now.get();
        let nudge = self
            .nudges
            .borrow()
            .range(now..=at.max(now))
            .next()
            .copied();
        let stop = self
            .stop_at
            .get()
            .filter(|s| *s <= nudge.unwrap_or(at).max(now));
        let wake = if let Some(stop) = stop {
            self.now.set(stop.max(now));
            Wake::Stop
        } else if let Some(nudge) = nudge {
            self.nudges.borrow_mut().remove(&nudge);
            self.now.set(nudge);
            Wake::Nudged
        } else {
            self.now.set(at.max(now));
            Wake::Deadline
        };
        std::future::ready(wake)
    }

    fn stop_requested(&self) -> bool {
        self.stop_at.get().is_some_and(|s| self.now.get() >= s)
    }
}

/// Runs a future that never waits on anything real (a driver on a virtual clock with a
/// simulated Plex and the memory queue) to completion.
///
/// # Panics
///
/// If the future is not ready when polled: something in it waited for real I/O, which a
/// virtual world never does.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a virtual run waited for real I/O"),
    }
}
