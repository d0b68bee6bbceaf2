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

    /// Jumps when first polled (not when made): a sleep dropped unpolled, because a job in
    /// flight landed first, moves nothing.
    async fn sleep_until(&mut self, at: u64) -> Wake {
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
        if let Some(stop) = stop {
            self.now.set(stop.max(now));
            Wake::Stop
        } else if let Some(nudge) = nudge {
            self.nudges.borrow_mut().remove(&nudge);
            self.now.set(nudge);
            Wake::Nudged
        } else {
            self.now.set(at.max(now));
            Wake::Deadline
        }
    }

    fn stop_requested(&self) -> bool {
        self.stop_at.get().is_some_and(|s| self.now.get() >= s)
    }
}

/// Runs a future that never waits on anything real (a driver on a virtual clock with a
/// simulated Plex and the memory queue) to completion, polling it again while it is pending
/// and something in it asked to be polled again (its tasks sleep on [`VirtualTime`], which
/// moves when all of them wait).
///
/// # Panics
///
/// If the future is pending with nothing asking to be polled again: something in it waited
/// for real I/O, which a virtual world never does.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let woken = std::sync::Arc::new(Woken::default());
    let waker = Waker::from(woken.clone());
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        if !woken.0.swap(false, std::sync::atomic::Ordering::Relaxed) {
            panic!("a virtual run waited for real I/O");
        }
    }
}

/// Whether a task asked to be polled again.
#[derive(Default)]
struct Woken(std::sync::atomic::AtomicBool);

impl std::task::Wake for Woken {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Time shared by the tasks of a virtual world, moved only by [`VirtualTime::sleep_until`]:
/// when every task is asleep, the earliest sleeper wakes and time jumps to its deadline. So
/// requests in flight together overlap on virtual time as they would on a wall clock.
///
/// A sleep is pending at its first poll even if it is the earliest (a task polled after it
/// may yet ask for an earlier one); from its second, the earliest sleeper wakes. Whoever
/// runs the tasks polls each of them in turn ([`block_on`] polls again at once).
#[derive(Debug, Default)]
pub struct VirtualTime {
    now: Cell<u64>,
    /// Who sleeps: `(deadline, ticket)`.
    sleepers: RefCell<BTreeSet<(u64, u64)>>,
    tickets: Cell<u64>,
}

impl VirtualTime {
    /// Time reading `start`.
    pub fn new(start: u64) -> VirtualTime {
        let time = VirtualTime::default();
        time.now.set(start);
        time
    }

    /// The time.
    pub fn now(&self) -> u64 {
        self.now.get()
    }

    /// Moves time to `at`, if that is later, whoever sleeps (what a sole task may do).
    pub fn jump_to(&self, at: u64) {
        self.now.set(self.now.get().max(at));
    }

    /// A sleep until `at`.
    pub fn sleep_until(&self, at: u64) -> Sleep<'_> {
        Sleep {
            time: self,
            at,
            ticket: None,
        }
    }
}

/// A task's sleep on [`VirtualTime`].
#[derive(Debug)]
pub struct Sleep<'a> {
    time: &'a VirtualTime,
    at: u64,
    ticket: Option<u64>,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let time = self.time;
        if time.now() >= self.at {
            self.leave();
            return Poll::Ready(());
        }
        match self.ticket {
            None => {
                let ticket = time.tickets.get();
                time.tickets.set(ticket + 1);
                time.sleepers.borrow_mut().insert((self.at, ticket));
                self.ticket = Some(ticket);
            }
            Some(ticket) => {
                let first = time.sleepers.borrow().first().copied();
                if first == Some((self.at, ticket)) {
                    time.now.set(self.at);
                    self.leave();
                    return Poll::Ready(());
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Sleep<'_> {
    fn leave(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.time.sleepers.borrow_mut().remove(&(self.at, ticket));
        }
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::{VirtualTime, block_on};

    /// Runs `futures` together and gives their outputs in their order. Each poll polls every
    /// one not yet done: a test runs a few, so that costs less than a waker per future
    /// (and a virtual world needs every sleeper polled to know which wakes first).
    async fn all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
        let mut running: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
        let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
        std::future::poll_fn(move |cx: &mut Context<'_>| {
            let mut pending = false;
            for (future, output) in running.iter_mut().zip(outputs.iter_mut()) {
                if output.is_some() {
                    continue;
                }
                match future.as_mut().poll(cx) {
                    Poll::Ready(out) => *output = Some(out),
                    Poll::Pending => pending = true,
                }
            }
            if pending {
                return Poll::Pending;
            }
            Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
        })
        .await
    }

    #[test]
    fn sleeps_in_flight_together_overlap_and_end_in_order() {
        let time = VirtualTime::new(1_000);
        let ended = std::cell::RefCell::new(Vec::new());
        let sleep = |ms: u64, name: &'static str| {
            let (time, ended) = (&time, &ended);
            async move {
                time.sleep_until(time.now() + ms).await;
                // A second request after the first, as a job's read follows its find.
                time.sleep_until(time.now() + ms).await;
                ended.borrow_mut().push((name, time.now()));
                name
            }
        };
        let out = block_on(all(vec![
            sleep(300, "slow"),
            sleep(100, "fast"),
            sleep(200, "middle"),
        ]));
        assert_eq!(out, ["slow", "fast", "middle"]);
        // Together: they take as long as the slowest, not the sum.
        assert_eq!(time.now(), 1_600);
        assert_eq!(
            ended.into_inner(),
            [("fast", 1_200), ("middle", 1_400), ("slow", 1_600)]
        );
    }
}
