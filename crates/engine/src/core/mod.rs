//! The decision core: a plain value that is told the time and what happened, and says what
//! to do next. No I/O, no clock, no randomness of its own.
//!
//! Shaped as quinn-proto shapes a connection: [`Engine::handle`] records what happened;
//! [`Engine::poll`] makes every decision and says what to do; the action awaiting an answer
//! is a [`Phase`] whose variants carry their data; the engine's own deadlines are one
//! [`Timers`] table.
//!
//! Several jobs may be in flight together, as many as the [`Pacer`] allows: each is taken,
//! admitted by the breaker and sent on its own, and while some are out the core takes more
//! or waits for one to land; a job that lands is judged and finished, and tells the pacer
//! how fast Plex answered. Probes, scans and stops wait until nothing is in flight.

mod down;
mod job;
mod rhythm;
mod timers;
mod watch;

use std::collections::VecDeque;

use breaker_core::{Breaker, State};
use persist::Job;
use plex_client::{FailureKind, PlexError};
use rand::Rng;
use scheduler::{Pacer, ProbeSchedule};

use crate::action::{
    Action, Disposition, Input, Mode, QueueCounts, RunStats, ScanTarget, Synced, UnexpectedInput,
};
use crate::event::{Event, StopReason};
use crate::policy::Policy;
use crate::state::EngineState;
use job::Flight;
use timers::{Timer, Timers};

/// The action the engine has out with the driver (jobs in flight aside): each variant
/// carries what that step needs, so a job cannot be in two steps at once.
#[derive(Debug)]
enum Phase {
    /// Nothing is out: [`Engine::poll`] decides.
    Idle,
    /// [`Action::Probe`] is out.
    Probing,
    /// [`Action::Inspect`] is out.
    Inspecting,
    /// [`Action::Take`] is out.
    Taking,
    /// The queue handed out this job: the next poll decides whether it may run.
    Taken(Job),
    /// [`Action::Finish`] is out for this job, with this disposition.
    Finishing(Flight, Disposition),
    /// [`Action::Scan`] is out for this folder.
    Scanning(ScanTarget),
}

impl Phase {
    /// What the engine waits for, in words.
    fn awaits(&self) -> &'static str {
        match self {
            Phase::Idle => "nothing was asked",
            Phase::Probing => "a probe report was expected",
            Phase::Inspecting => "queue counts were expected",
            Phase::Taking => "a leased job (or none) was expected",
            Phase::Taken(_) => "the engine had yet to be polled",
            Phase::Finishing(..) => "the end of a job was expected",
            Phase::Scanning(_) => "a scan result was expected",
        }
    }
}

/// The decision core. See the crate documentation for the protocol.
#[derive(Debug)]
pub struct Engine {
    policy: Policy,
    mode: Mode,
    phase: Phase,
    /// What the last look at the queue found; `None` once it may be out of date.
    queue: Option<QueueCounts>,
    /// The last lease found nothing ready; cleared by a nudge, or when the idle wait ends.
    nothing_ready: bool,
    /// A probe comes first: a hook arrived while the breaker was not closed and the policy
    /// probes then, or the watch said something.
    probe_asked: bool,
    /// The next probe counts as a call in CLOSED: the watch lost Plex.
    probe_counts: bool,
    /// A folder to have Plex scan before anything else.
    scan: Option<ScanTarget>,
    /// Why the engine stops at its next decision.
    stop: Option<StopReason>,
    timers: Timers,
    /// How many jobs go to Plex together.
    pacer: Pacer,
    /// Jobs out with the driver ([`Action::Sync`]), in the order sent.
    flying: Vec<Flight>,
    /// Jobs back from Plex, to be judged at the next poll.
    landed: VecDeque<(Flight, Synced)>,
    /// Jobs whose fate is decided, to hand to the queue one by one.
    finishing: VecDeque<(Flight, Disposition)>,
    events: VecDeque<Event>,
    stats: RunStats,
    /// How far the local day (Plex's maintenance hours) is ahead of UTC.
    utc_offset_ms: i64,
}

impl Engine {
    /// An engine following `policy` (checked with [`Policy::check`] by the caller).
    pub fn new(policy: Policy, mode: Mode) -> Engine {
        Engine {
            mode,
            phase: Phase::Idle,
            queue: None,
            nothing_ready: false,
            probe_asked: false,
            probe_counts: false,
            scan: None,
            stop: None,
            timers: Timers::default(),
            pacer: Pacer::new(policy.pace),
            flying: Vec::new(),
            landed: VecDeque::new(),
            finishing: VecDeque::new(),
            events: VecDeque::new(),
            stats: RunStats::default(),
            utc_offset_ms: 0,
            policy,
        }
    }

    /// Where the local day stands against UTC (the driver says so before it answers a probe,
    /// as its clock tells it): Plex's maintenance hours are local.
    pub fn set_utc_offset(&mut self, offset_ms: i64) {
        self.utc_offset_ms = offset_ms;
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What this run has done so far.
    pub fn stats(&self) -> RunStats {
        self.stats
    }

    /// The next event to report, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// How many jobs may be in flight together, as the pacer has it now (below 1: one, with
    /// a pause after it).
    pub fn pace(&self) -> f64 {
        self.pacer.limit()
    }

    /// Asks the engine to stop: the jobs in flight are finished first, then
    /// [`Action::Stop`] comes with [`StopReason::Requested`].
    pub fn request_stop(&mut self) {
        self.stop.get_or_insert(StopReason::Requested);
    }

    /// What to do next at `now`, given the shared state (which the call may change: the
    /// caller stores it back).
    ///
    /// # Panics
    ///
    /// If the last action that wants an answer has not been answered through
    /// [`Engine::handle`]: the driver must answer before it polls again.
    pub fn poll<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        now: u64,
        rng: &mut R,
    ) -> Action {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Taken(job) => self.admit(state, job, now, rng),
            Phase::Idle => self.proceed(state, now, rng),
            out => panic!(
                "the driver polled the engine before answering its last action ({})",
                out.awaits()
            ),
        }
    }

    /// The next step with no answer awaited: judge the jobs that landed, finish those
    /// decided, take more or wait while jobs are in flight, or decide anew.
    fn proceed<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        now: u64,
        rng: &mut R,
    ) -> Action {
        while let Some((flight, synced)) = self.landed.pop_front() {
            self.settle(state, flight, synced, now, rng);
        }
        if let Some((flight, disposition)) = self.finishing.pop_front() {
            let key = flight.key().to_owned();
            self.phase = Phase::Finishing(flight, disposition.clone());
            return Action::Finish { key, disposition };
        }
        if !self.flying.is_empty() {
            return self.while_flying(state, now);
        }
        if self.probe_asked {
            self.probe_asked = false;
            self.phase = Phase::Probing;
            return self.probe_action(state, now);
        }
        let action = match self.decide(state, now, rng) {
            // A drain that gives up on Plex wakes when its limit is reached.
            Action::Wait { until } => Action::Wait {
                until: match (outage_since(state), self.outage_deadline(state, now)) {
                    (Some(_), Some(limit)) => until.min(limit.max(now)),
                    _ => until,
                },
            },
            other => other,
        };
        self.phase = match &action {
            Action::Probe { .. } => Phase::Probing,
            Action::Inspect => Phase::Inspecting,
            Action::Take { .. } => Phase::Taking,
            Action::Scan { target, .. } => Phase::Scanning(target.clone()),
            Action::Wait { .. } | Action::Stop(_) => Phase::Idle,
            Action::Sync { .. } | Action::Finish { .. } => {
                unreachable!("jobs are synced and finished from their own phases")
            }
        };
        if let Action::Stop(reason) = &action {
            self.events.push_back(Event::Stopped {
                at: now,
                reason: reason.clone(),
            });
        }
        action
    }

    /// Takes in what happened at `now`: the answer to the action that is out, or news
    /// ([`Input::Nudged`]) at any time. An answer to nothing that is out is refused and
    /// changes nothing.
    pub fn handle<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        input: Input,
        now: u64,
        rng: &mut R,
    ) -> Result<(), UnexpectedInput> {
        let input = match input {
            Input::Nudged => {
                self.nudged(state, now);
                return Ok(());
            }
            Input::Notice(notice) => {
                if self.policy.engine.watch_plex {
                    self.noticed(state, notice, now);
                }
                return Ok(());
            }
            // A job in flight lands whenever it lands.
            Input::Synced { key, synced } => {
                let Some(at) = self.flying.iter().position(|f| f.key() == key) else {
                    return Err(UnexpectedInput {
                        got: "Synced",
                        expected: "no job with that key was in flight",
                    });
                };
                let flight = self.flying.remove(at);
                self.landed.push_back((flight, synced));
                return Ok(());
            }
            other => other,
        };
        match (std::mem::replace(&mut self.phase, Phase::Idle), input) {
            (Phase::Probing, Input::Probed(report)) => self.probed(state, report, now, rng),
            (Phase::Inspecting, Input::Inspected(counts)) => self.queue = Some(counts),
            (Phase::Taking, Input::Taken(None)) => {
                self.forget_queue();
                self.nothing_ready = true;
            }
            (Phase::Taking, Input::Taken(Some(job))) => self.phase = Phase::Taken(job),
            (Phase::Finishing(flight, disposition), Input::Finished(finished)) => {
                self.finished(state, flight, disposition, finished, now);
            }
            (Phase::Scanning(target), Input::Scanned(result)) => {
                self.scanned(state, target, result, now);
            }
            (phase, input) => {
                let refused = UnexpectedInput {
                    got: input.name(),
                    expected: phase.awaits(),
                };
                self.phase = phase;
                return Err(refused);
            }
        }
        Ok(())
    }

    fn breaker(&self, state: &EngineState) -> Breaker {
        Breaker::restore(self.policy.breaker, state.breaker)
    }

    fn probes(&self, state: &EngineState) -> ProbeSchedule {
        ProbeSchedule::restore(self.policy.probes, state.probe)
    }

    /// What the queue was last seen to hold may have changed: look again before relying on it.
    fn forget_queue(&mut self) {
        self.queue = None;
        self.nothing_ready = false;
        self.timers.clear(Timer::Idle);
    }

    fn decide<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        now: u64,
        rng: &mut R,
    ) -> Action {
        state.outages.watch_from(now);
        self.repair(state);
        let mut breaker = self.breaker(state);
        let timed = breaker.handle_timeout(now);
        state.breaker = breaker.snapshot();
        self.note(state, timed, now, rng, None);

        if let Some(target) = self.scan.take() {
            return Action::Scan {
                target,
                deadline: self.deadline(state, now, self.policy.engine.job_timeout_ms),
            };
        }
        if let Some(reason) = self.stop.clone() {
            return Action::Stop(reason);
        }
        if let Some(until) = self.timers.get(Timer::Pause) {
            if until > now {
                return self.wait(until, now);
            }
            self.timers.clear(Timer::Pause);
        }
        if let (State::Closed | State::HalfOpen, Some(since)) =
            (breaker.state(), self.limit_reached(state, now))
        {
            return Action::Stop(StopReason::OutageTooLong { since });
        }
        // Plex said it is optimising its database: nothing that needs the library goes out
        // until it says it is done (a nudge), or until a deep look is due all the same.
        if let Some(look) = self.optimising_until(state) {
            if now >= look {
                return self.probe_action(state, now);
            }
            let summary = self.summary_due(state, now);
            return self.wait(summary.map_or(look, |s| s.min(look)), now);
        }
        match breaker.state() {
            State::Open | State::ForcedOpen => self.while_down(state, &breaker, now, rng),
            State::HalfOpen
                if self.policy.engine.probe_closes_half_open && self.probes(state).is_due(now) =>
            {
                self.probe_action(state, now)
            }
            // No job to try: deep probes confirm the recovery instead, so that the outage
            // ends now rather than whenever the next job comes.
            State::HalfOpen if self.nothing_ready => {
                let mut probes = self.probes(state);
                probes.arm(now, rng);
                state.probe = probes.state();
                if probes.is_due(now) {
                    return self.probe_action(state, now);
                }
                let next = probes.poll_timeout().unwrap_or(now);
                match self.mode {
                    Mode::Drain => self.wait(next, now),
                    Mode::Run => match self.idle(now) {
                        Action::Wait { until } => self.wait(until.min(next), now),
                        other => other,
                    },
                }
            }
            State::HalfOpen
                if breaker.trials_in_flight() >= self.policy.breaker.half_open_permits() =>
            {
                let until = breaker
                    .poll_timeout()
                    .unwrap_or(now.saturating_add(self.policy.engine.idle_recheck_ms));
                self.wait(until, now)
            }
            // A job (or a probe the watch asked for) just met an outage: look again before
            // anything else, whether or not more work is ready.
            State::Closed
                if self.policy.engine.probe_after_failure && breaker.consecutive_failures() > 0 =>
            {
                self.probe_action(state, now)
            }
            State::Closed if self.nothing_ready => match self.mode {
                Mode::Drain => self.drained(now),
                Mode::Run => self.idle(now),
            },
            State::HalfOpen | State::Closed => self.take_or_wait(state, now),
        }
    }

    /// A long-running worker with nothing ready: learn when the first retry is due, sleep
    /// until then (or the recheck, or a nudge), then look again.
    fn idle(&mut self, now: u64) -> Action {
        let Some(counts) = self.queue else {
            return Action::Inspect;
        };
        let recheck = now.saturating_add(self.policy.engine.idle_recheck_ms);
        let until = self.timers.get(Timer::Idle).unwrap_or_else(|| {
            counts
                .earliest_retry_at
                .map_or(recheck, |at| at.min(recheck))
        });
        self.timers.set(Timer::Idle, until);
        if now < until && counts.ready == 0 {
            return self.wait(until, now);
        }
        self.forget_queue();
        self.take()
    }

    /// A drain with nothing ready: stop, unless `settle_ms` says to wait for a retry due
    /// soon (then wait as a long-running worker would, for it or for a new job).
    pub(super) fn drained(&mut self, now: u64) -> Action {
        let Some(window) = self.policy.engine.settle_ms else {
            return Action::Stop(StopReason::Drained);
        };
        let Some(counts) = self.queue else {
            return Action::Inspect;
        };
        match counts.earliest_retry_at {
            Some(at) if at <= now.saturating_add(window) => self.idle(now),
            _ if counts.ready > 0 => self.idle(now),
            _ => Action::Stop(StopReason::Drained),
        }
    }

    fn take(&self) -> Action {
        Action::Take {
            visibility_ms: self.policy.engine.visibility_ms,
        }
    }

    fn probe_action(&self, state: &EngineState, now: u64) -> Action {
        Action::Probe {
            depth: self.policy.engine.probe_depth,
            deadline: self.outage_deadline(state, now),
        }
    }

    /// When a drain stops waiting for Plex, if it stops at all: `process` gives up when Plex
    /// has been failing for `max_outage_wait_ms`, counted from the first failure of the run
    /// (or from now, for a request that would start one), in-flight requests included.
    fn outage_deadline(&self, state: &EngineState, now: u64) -> Option<u64> {
        match (self.mode, self.policy.engine.max_outage_wait_ms) {
            (Mode::Drain, Some(limit)) => {
                Some(outage_since(state).unwrap_or(now).saturating_add(limit))
            }
            (Mode::Drain | Mode::Run, _) => None,
        }
    }

    /// When a request of at most `budget` starting `now` must be over.
    fn deadline(&self, state: &EngineState, now: u64, budget: u64) -> u64 {
        let own = now.saturating_add(budget);
        self.outage_deadline(state, now)
            .map_or(own, |limit| own.min(limit))
    }

    /// When the outage going on began, if the drain has waited out its limit for it.
    fn limit_reached(&self, state: &EngineState, now: u64) -> Option<u64> {
        let since = outage_since(state)?;
        let limit = self.outage_deadline(state, now)?;
        (now >= limit).then_some(since)
    }

    fn wait(&self, until: u64, now: u64) -> Action {
        let until = match self.policy.engine.poll_ms {
            Some(poll) => until.min(now.saturating_add(poll)),
            None => until,
        };
        Action::Wait {
            until: until.max(now),
        }
    }

    fn scanned(
        &mut self,
        state: &mut EngineState,
        target: ScanTarget,
        result: Result<(), PlexError>,
        now: u64,
    ) {
        state.remember_scan(scan_key(&target), now);
        self.stats.scans += 1;
        self.events.push_back(Event::Scan {
            at: now,
            section: target.section,
            folder: target.folder,
            error: result.err().map(|e| e.to_string()),
        });
    }
}

/// When Plex began failing: the first failure of the run that is going on, or the outage's
/// start, whichever came first.
fn outage_since(state: &EngineState) -> Option<u64> {
    let failing = state.failing.as_ref().map(|f| f.since);
    let outage = state.outages.current.as_ref().map(|o| o.started_at);
    failing.into_iter().chain(outage).min()
}

/// How the state remembers a scanned folder.
fn scan_key(target: &ScanTarget) -> String {
    format!("{}:{}", target.section, target.folder)
}

/// The name an outage's cause is recorded under: the failure that opened the breaker, or
/// `unknown`.
fn cause_name(cause: Option<FailureKind>) -> &'static str {
    cause.map_or("unknown", FailureKind::as_str)
}
