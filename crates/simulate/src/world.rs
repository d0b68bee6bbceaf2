//! What the simulator plugs into the engine's driver besides Plex: the memory queue fed by
//! hooks as they arrive, the engine's state in memory, a virtual clock, and an event sink
//! that keeps what the report needs.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::rc::Rc;

use breaker_core::State;
use engine::{
    Clock, Disposition, EngineState, ErrorClass, Event, EventSink, Finished, JobOutcome, JobStore,
    Level, QueueCounts, StateStore, SyncJob, Wake,
};
use persist::{Lease, Queue};

/// A hook from Stash: at `at`, this job is queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    /// When it arrives.
    pub at: u64,
    /// What it queues.
    pub job: SyncJob,
}

/// What the queue, the state store, the clock and the simulated Plex share: time, the
/// queue, the engine's state, and the hooks still to come.
#[derive(Debug)]
pub(crate) struct World {
    time: engine::VirtualTime,
    queue: RefCell<Queue>,
    state: RefCell<EngineState>,
    hooks: std::sync::Arc<[Hook]>,
    /// Hooks already in the queue.
    queued: Cell<usize>,
    /// Hooks the worker has been woken for.
    heard: Cell<usize>,
    /// The scenario's end: from then on the run stops as soon as there is nothing left to do.
    end: u64,
    /// The run stops here whatever is left.
    limit: u64,
    /// Queue depth after each change, for the pictures.
    depth: RefCell<Vec<(u64, usize)>>,
    /// What the watch on Plex will hear, and when (empty: no watch).
    notices: RefCell<std::collections::VecDeque<(u64, engine::Notice)>>,
}

impl World {
    pub(crate) fn new(
        start: u64,
        hooks: std::sync::Arc<[Hook]>,
        end: u64,
        limit: u64,
    ) -> Rc<World> {
        debug_assert!(hooks.windows(2).all(|w| w[0].at <= w[1].at));
        Rc::new(World {
            time: engine::VirtualTime::new(start),
            queue: RefCell::new(Queue::in_memory()),
            state: RefCell::new(EngineState::default()),
            hooks,
            queued: Cell::new(0),
            heard: Cell::new(0),
            end,
            limit,
            depth: RefCell::new(vec![(start, 0)]),
            notices: RefCell::new(std::collections::VecDeque::new()),
        })
    }

    /// The watch on Plex will hear `notices` (in time order).
    pub(crate) fn watch(&self, notices: std::collections::VecDeque<(u64, engine::Notice)>) {
        *self.notices.borrow_mut() = notices;
    }

    pub(crate) fn now(&self) -> u64 {
        self.time.now()
    }

    /// A client alone with the server waits `ms`.
    pub(crate) fn advance(&self, ms: u64) {
        self.time.jump_to(self.now().saturating_add(ms));
    }

    /// Jumps to `at` (a restart after the user put the settings right).
    pub(crate) fn jump_to(&self, at: u64) {
        self.time.jump_to(at);
    }

    /// A request's wait until `at`, beside the others in flight.
    pub(crate) fn sleep_until(&self, at: u64) -> engine::Sleep<'_> {
        self.time.sleep_until(at)
    }

    pub(crate) fn queue(&self) -> std::cell::RefMut<'_, Queue> {
        self.queue.borrow_mut()
    }

    pub(crate) fn take_depth(&self) -> Vec<(u64, usize)> {
        std::mem::take(&mut self.depth.borrow_mut())
    }

    /// Queues every hook that has arrived by now, each at its own time (the hook process
    /// ran then, whatever the worker was doing).
    fn deliver(&self) -> Result<(), persist::Error> {
        let now = self.now();
        let mut queued = self.queued.get();
        if self.hooks.get(queued).is_none_or(|h| h.at > now) {
            return Ok(());
        }
        let mut queue = self.queue.borrow_mut();
        while let Some(hook) = self.hooks.get(queued).filter(|h| h.at <= now) {
            queue.enqueue(&hook.job.key(), &hook.job, hook.at)?;
            queued += 1;
        }
        self.queued.set(queued);
        drop(queue);
        self.note_depth()
    }

    fn note_depth(&self) -> Result<(), persist::Error> {
        let len = self.queue.borrow_mut().len()?;
        let mut depth = self.depth.borrow_mut();
        if depth.last().is_none_or(|(_, d)| *d != len) {
            depth.push((self.now(), len));
        }
        Ok(())
    }

    /// The breaker's state as stored.
    pub(crate) fn breaker_state(&self) -> State {
        self.state.borrow().breaker.state()
    }

    /// Nothing left to do: every hook queued, the queue empty, the breaker closed.
    fn settled(&self) -> bool {
        self.queued.get() == self.hooks.len()
            && self.queue.borrow_mut().is_empty().unwrap_or(false)
            && self.state.borrow().breaker.state() == State::Closed
    }

    fn stop_due(&self) -> bool {
        let now = self.now();
        now >= self.limit || (now >= self.end && self.settled())
    }
}

/// The memory queue, fed by the hooks.
#[derive(Debug)]
pub(crate) struct SimQueue(pub(crate) Rc<World>);

impl JobStore for SimQueue {
    fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>, persist::Error> {
        self.0.deliver()?;
        let lease = self.0.queue.borrow_mut().lease(visibility_ms, now)?;
        Ok(lease)
    }

    fn finish(
        &mut self,
        lease: &Lease,
        disposition: &Disposition,
        now: u64,
    ) -> Result<Finished, persist::Error> {
        self.0.deliver()?;
        let finished = self.0.queue.borrow_mut().finish(lease, disposition, now)?;
        self.0.note_depth()?;
        Ok(finished)
    }

    fn counts(&mut self, now: u64) -> Result<QueueCounts, persist::Error> {
        self.0.deliver()?;
        let counts = JobStore::counts(&mut *self.0.queue.borrow_mut(), now)?;
        Ok(counts)
    }

    fn settle(&mut self) -> Result<(), persist::Error> {
        JobStore::settle(&mut *self.0.queue.borrow_mut())
    }
}

/// The engine's state, in memory.
#[derive(Debug)]
pub(crate) struct SimState(pub(crate) Rc<World>);

impl StateStore for SimState {
    type Error = Infallible;

    fn update<R>(&mut self, change: impl FnOnce(&mut EngineState) -> R) -> Result<R, Infallible> {
        Ok(change(&mut self.0.state.borrow_mut()))
    }
}

/// Virtual time: a sleep jumps to its deadline, or to the next hook, which wakes the worker
/// as the binary's enqueue does.
#[derive(Debug)]
pub(crate) struct SimClock(pub(crate) Rc<World>);

impl Clock for SimClock {
    fn now(&self) -> u64 {
        self.0.now()
    }

    /// Sleeps on the world's virtual time, so that requests in flight land first if they
    /// are due first (then this sleep is dropped, and nothing it would have done happens).
    async fn sleep_until(&mut self, at: u64) -> Wake {
        let world = &self.0;
        let now = world.now();
        let at = at.max(now);
        let heard = world.heard.get();
        // The watch hears something before the deadline and before the next hook.
        let notice = world.notices.borrow().front().map(|(t, _)| *t);
        if let Some(t) = notice.filter(|t| {
            *t <= at && world.hooks.get(heard).is_none_or(|h| h.at > *t) && *t < world.limit
        }) {
            world.sleep_until(t).await;
            return Wake::Nudged;
        }
        match world.hooks.get(heard) {
            // A hook came while the worker was busy, or comes before the deadline.
            Some(hook) if hook.at <= at => {
                world.sleep_until(hook.at).await;
                let now = world.now();
                let upto = heard + world.hooks[heard..].partition_point(|h| h.at <= now);
                world.heard.set(upto);
                // The hook's own process queued it then, whatever the worker was doing (an
                // error here comes back at the worker's next look at the queue).
                let _ = world.deliver();
                Wake::Nudged
            }
            _ => {
                if at >= world.end && world.settled() {
                    world.sleep_until(world.end).await;
                    Wake::Stop
                } else if at >= world.limit {
                    world.sleep_until(world.limit).await;
                    Wake::Stop
                } else {
                    world.sleep_until(at).await;
                    Wake::Deadline
                }
            }
        }
    }

    fn stop_requested(&self) -> bool {
        self.0.stop_due()
    }

    fn take_notice(&mut self) -> Option<engine::Notice> {
        let mut notices = self.0.notices.borrow_mut();
        if notices.front().is_some_and(|(t, _)| *t <= self.0.now()) {
            return notices.pop_front().map(|(_, n)| n);
        }
        None
    }
}

/// What the report needs from the engine's events.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    /// Breaker transitions: when, and to what.
    pub(crate) breaker: Vec<(u64, State)>,
    /// Jobs that reached Plex (updated, or found already up to date): when, and their key.
    pub(crate) synced: Vec<(u64, String)>,
    /// Jobs sent to the dead-letter queue: when, and the class.
    pub(crate) dead_lettered: Vec<(u64, ErrorClass)>,
    /// Lines a user sees by default, as the CLI renders them.
    pub(crate) lines: Vec<(u64, Level, String)>,
    /// When each of those lines was about Plex's health (the breaker, an outage, a job held
    /// or given up on for one) rather than about a job's own trouble.
    pub(crate) health_lines: Vec<u64>,
}

impl EventSink for Recorder {
    fn emit(&mut self, event: Event, now: u64) {
        match &event {
            Event::Transition { transition, .. } => self.breaker.push((now, transition.to)),
            Event::Job { key, outcome, .. } => match outcome {
                JobOutcome::Updated { .. } | JobOutcome::Unchanged => {
                    self.synced.push((now, key.clone()));
                }
                JobOutcome::DeadLettered { class, .. } => {
                    self.dead_lettered.push((now, *class));
                }
                JobOutcome::Retry { .. } | JobOutcome::LeaseLost => {}
            },
            _ => {}
        }
        let level = event.level();
        if level >= Level::Info {
            self.lines.push((now, level, event.render()));
            let about_health = match &event {
                Event::Transition { .. }
                | Event::OutageSummary { .. }
                | Event::OutageEnded { .. }
                | Event::Watch { .. }
                | Event::Stopped { .. } => true,
                Event::Job {
                    outcome:
                        JobOutcome::Retry { class, .. } | JobOutcome::DeadLettered { class, .. },
                    ..
                } => class.is_outage(),
                _ => false,
            };
            if about_health {
                self.health_lines.push(now);
            }
        }
    }
}
