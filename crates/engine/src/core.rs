//! The decision core: a plain value that is told the time and what happened, and says what
//! to do next. No I/O, no clock, no randomness of its own.

use std::collections::VecDeque;

use breaker_core::{
    Breaker, Cause, Decision, FailureClass, Health, Outcome, Permit, State, Transition,
};
use persist::{Job, Payload};
use plex_client::{FailureKind, HealthReport, PlexError, Stage};
use rand::Rng;
use scheduler::{ErrorClass, ProbeOutcome, ProbeSchedule, Ramp, RetryDecision};
use serde::Serialize;

use crate::event::{Event, JobOutcome, StopReason};
use crate::job::SyncJob;
use crate::policy::Policy;
use crate::state::{EngineState, Halt, LastSync, ProbeRecord};

/// How long the engine works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Until nothing is ready (`plexsync process`, a Stash task).
    Drain,
    /// Until asked to stop (`plexsync run`).
    Run,
}

/// How deep a probe goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeDepth {
    /// Connect and `/identity` only (the predecessor's probe).
    Identity,
    /// Connect, `/identity`, and an authenticated request that needs the database.
    Library,
}

impl ProbeDepth {
    /// The last stage a probe of this depth runs.
    pub fn last_stage(self) -> Stage {
        match self {
            ProbeDepth::Identity => Stage::Identity,
            ProbeDepth::Library => Stage::Library,
        }
    }
}

/// A folder to have Plex scan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanTarget {
    /// The section's key.
    pub section: String,
    /// The folder, as Plex sees it.
    pub folder: String,
}

/// What to do with the job just worked on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// It is done: remove it.
    Ack,
    /// Run it again no earlier than `at`.
    Retry {
        /// When.
        at: u64,
        /// Whether this spends one of its retries.
        counted: bool,
        /// The failure's class.
        class: &'static str,
        /// What went wrong.
        error: String,
    },
    /// Give up on it.
    DeadLetter {
        /// The failure's class.
        class: &'static str,
        /// What went wrong.
        error: String,
    },
}

/// What the driver should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Run the health check; answer with [`Input::Probed`].
    Probe {
        /// How deep.
        depth: ProbeDepth,
    },
    /// Count the queue; answer with [`Input::Inspected`].
    Inspect,
    /// Lease the next ready job; answer with [`Input::Taken`].
    Take {
        /// How long the job stays invisible to others.
        visibility_ms: u64,
    },
    /// Sync this job, finishing by `deadline`; answer with [`Input::Synced`].
    Sync {
        /// The job.
        job: Box<SyncJob>,
        /// When it must be over.
        deadline: u64,
    },
    /// Do this with the job just synced; answer with [`Input::Finished`].
    Finish(Disposition),
    /// Ask Plex to scan a folder; answer with [`Input::Scanned`].
    Scan {
        /// Which.
        target: ScanTarget,
        /// When it must be over.
        deadline: u64,
    },
    /// Nothing to do before `until`; poll again then, or sooner on [`Input::Nudged`].
    Wait {
        /// When.
        until: u64,
    },
    /// Done.
    Stop(StopReason),
}

/// How many jobs the queue holds, as far as the engine cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Ready now.
    pub ready: usize,
    /// Waiting for a retry.
    pub waiting: usize,
    /// When the first waiting job becomes ready.
    pub earliest_retry_at: Option<u64>,
}

/// How a sync went.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncResult {
    /// Plex was changed with these query pairs.
    Updated {
        /// What was sent.
        sent: Vec<(String, String)>,
    },
    /// Plex already matched.
    Unchanged,
    /// It failed. `scan` is the folder to scan if the file was not found in a folder Plex
    /// watches.
    Failed {
        /// What went wrong.
        error: PlexError,
        /// Where Plex should look, for a file it does not have.
        scan: Option<ScanTarget>,
    },
}

/// How finishing a job went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Done as asked.
    Done,
    /// Another process had taken the job over.
    LeaseLost,
}

/// The answer to an [`Action`], or news.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The health check's report.
    Probed(HealthReport),
    /// The queue's counts.
    Inspected(QueueCounts),
    /// The job leased, or none.
    Taken(Option<Job>),
    /// How the sync went.
    Synced(SyncResult),
    /// How finishing went.
    Finished(Finished),
    /// How the scan request went.
    Scanned(Result<(), PlexError>),
    /// Something changed outside (a job was queued): look again.
    Nudged,
}

/// Counts of what one run did, for its summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    /// Jobs that changed Plex.
    pub updated: u64,
    /// Jobs Plex already matched.
    pub unchanged: u64,
    /// Jobs put back for a later retry.
    pub retried: u64,
    /// Jobs sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Jobs another process took over.
    pub lease_lost: u64,
    /// Probes run.
    pub probes: u64,
    /// Partial scans asked for.
    pub scans: u64,
}

/// The job in flight.
#[derive(Debug)]
struct InFlight {
    key: String,
    permit: Option<Permit>,
    attempts: u32,
    previous_delay: u64,
    disposition: Option<Disposition>,
}

/// The decision core. See the crate documentation for the protocol.
#[derive(Debug)]
pub struct Engine {
    policy: Policy,
    mode: Mode,
    /// The action decided in `handle`, returned by the next `poll`.
    next: Option<Action>,
    /// An action is out and its input has not come back.
    awaiting: bool,
    stop: Option<StopReason>,
    current: Option<InFlight>,
    scan: Option<ScanTarget>,
    pause_until: Option<u64>,
    queue: Option<QueueCounts>,
    /// The last lease found nothing ready; cleared by a nudge, or when the idle wait ends.
    nothing_ready: bool,
    /// While idle: when to look at the queue again.
    idle_until: Option<u64>,
    summary: Option<(u64, u64)>,
    events: VecDeque<Event>,
    stats: RunStats,
}

impl Engine {
    /// An engine following `policy` (checked with [`Policy::check`] by the caller).
    pub fn new(policy: Policy, mode: Mode) -> Engine {
        Engine {
            policy,
            mode,
            next: None,
            awaiting: false,
            stop: None,
            current: None,
            scan: None,
            pause_until: None,
            queue: None,
            nothing_ready: false,
            idle_until: None,
            summary: None,
            events: VecDeque::new(),
            stats: RunStats::default(),
        }
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

    /// Asks the engine to stop: the job in flight is finished first, then
    /// [`Action::Stop`] comes with [`StopReason::Requested`].
    pub fn request_stop(&mut self) {
        self.stop.get_or_insert(StopReason::Requested);
    }

    /// What to do next at `now`, given the shared state (which the call may change: the
    /// caller stores it back).
    pub fn poll<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        now: u64,
        rng: &mut R,
    ) -> Action {
        if let Some(action) = self.next.take() {
            self.awaiting = !matches!(action, Action::Wait { .. } | Action::Stop(_));
            return action;
        }
        assert!(
            !self.awaiting,
            "the driver polled before answering the last action"
        );
        let action = self.decide(state, now, rng);
        self.awaiting = !matches!(action, Action::Wait { .. } | Action::Stop(_));
        if let Action::Stop(reason) = &action {
            self.events.push_back(Event::Stopped {
                at: now,
                reason: reason.clone(),
            });
        }
        action
    }

    /// Takes in what happened at `now`.
    pub fn handle<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        input: Input,
        now: u64,
        rng: &mut R,
    ) {
        if !matches!(input, Input::Nudged) {
            self.awaiting = false;
        }
        match input {
            Input::Probed(report) => self.probed(state, report, now, rng),
            Input::Inspected(counts) => self.queue = Some(counts),
            Input::Taken(None) => {
                self.nothing_ready = true;
                self.queue = None;
                self.idle_until = None;
            }
            Input::Taken(Some(job)) => self.taken(state, job, now, rng),
            Input::Synced(result) => self.synced(state, result, now, rng),
            Input::Finished(finished) => self.finished(finished, now),
            Input::Scanned(result) => {
                if let Some(target) = self.scan.take() {
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
            Input::Nudged => {
                self.queue = None;
                self.nothing_ready = false;
                self.idle_until = None;
                self.nudged(state, now);
            }
        }
    }

    fn breaker(&self, state: &EngineState) -> Breaker {
        Breaker::restore(self.policy.breaker, state.breaker)
    }

    fn probes(&self, state: &EngineState) -> ProbeSchedule {
        ProbeSchedule::restore(self.policy.probes, state.probe)
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
        self.note(state, timed, now, rng, "");

        if let Some(target) = self.scan.clone() {
            return Action::Scan {
                target,
                deadline: now.saturating_add(self.policy.engine.job_timeout_ms),
            };
        }
        if let Some(reason) = self.stop.clone() {
            return Action::Stop(reason);
        }
        if let Some(until) = self.pause_until {
            if until > now {
                return self.wait(until, now);
            }
            self.pause_until = None;
        }
        match breaker.state() {
            State::Open | State::ForcedOpen => self.while_down(state, &breaker, now, rng),
            State::HalfOpen
                if self.policy.engine.probe_closes_half_open && self.probes(state).is_due(now) =>
            {
                self.probe_action()
            }
            // No job to try: deep probes confirm the recovery instead, so that the outage
            // ends now rather than whenever the next job comes.
            State::HalfOpen if self.nothing_ready => {
                let mut probes = self.probes(state);
                probes.arm(now, rng);
                state.probe = probes.state();
                if probes.is_due(now) {
                    return self.probe_action();
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
            State::Closed if self.nothing_ready => match self.mode {
                Mode::Drain => Action::Stop(StopReason::Drained),
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
        let until = *self.idle_until.get_or_insert(
            counts
                .earliest_retry_at
                .map_or(recheck, |at| at.min(recheck)),
        );
        if now < until && counts.ready == 0 {
            return self.wait(until, now);
        }
        self.nothing_ready = false;
        self.idle_until = None;
        self.queue = None;
        Action::Take {
            visibility_ms: self.policy.engine.visibility_ms,
        }
    }

    /// The breaker is open: probe on schedule, say now and then that Plex is still down, and
    /// in a drain decide whether waiting is worth it.
    fn while_down<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        breaker: &Breaker,
        now: u64,
        rng: &mut R,
    ) -> Action {
        let forced = breaker.state() == State::ForcedOpen;
        if self.mode == Mode::Drain {
            if forced {
                return Action::Stop(StopReason::ForcedOpen);
            }
            let Some(counts) = self.queue else {
                return Action::Inspect;
            };
            if counts.ready == 0 {
                return Action::Stop(StopReason::Drained);
            }
            let since = state
                .outages
                .current
                .as_ref()
                .map_or(breaker.since(), |o| o.started_at);
            if let Some(limit) = self.policy.engine.max_outage_wait_ms {
                if now.saturating_sub(since) >= limit {
                    return Action::Stop(StopReason::OutageTooLong { since });
                }
            }
        }
        let summary_at = self.summary_due(state, now);
        if forced {
            return self.wait(now.saturating_add(self.policy.engine.idle_recheck_ms), now);
        }
        let mut probes = self.probes(state);
        probes.arm(now, rng);
        state.probe = probes.state();
        if probes.is_due(now) {
            return self.probe_action();
        }
        let until = [probes.poll_timeout(), breaker.poll_timeout(), summary_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now.saturating_add(self.policy.engine.idle_recheck_ms));
        self.wait(until, now)
    }

    /// Emits a summary line if one is due; returns when the next is.
    fn summary_due(&mut self, state: &EngineState, now: u64) -> Option<u64> {
        let outage = state.outages.current.as_ref()?;
        let knobs = &self.policy.engine;
        let (mut at, mut interval) = *self.summary.get_or_insert((
            outage.started_at.saturating_add(knobs.summary_interval_ms),
            knobs.summary_interval_ms,
        ));
        if now >= at {
            self.events.push_back(Event::OutageSummary {
                at: now,
                outage: outage.clone(),
            });
            interval = interval.saturating_mul(2).min(knobs.summary_cap_ms);
            at = now.saturating_add(interval);
            self.summary = Some((at, interval));
        }
        Some(at)
    }

    fn probe_action(&self) -> Action {
        Action::Probe {
            depth: if self.policy.engine.identity_only_probe {
                ProbeDepth::Identity
            } else {
                ProbeDepth::Library
            },
        }
    }

    /// The breaker admits calls: take a job if the ramp allows.
    fn take_or_wait(&mut self, state: &mut EngineState, now: u64) -> Action {
        if let Some(ramp_state) = state.ramp {
            match Ramp::restore(self.policy.ramp, ramp_state) {
                Ok(ramp) if !ramp.is_finished(now) => {
                    // Look without spending: the token is spent only if a job comes.
                    if let Err(at) = ramp.clone().try_acquire(now) {
                        return self.wait(at, now);
                    }
                }
                _ => state.ramp = None,
            }
        }
        Action::Take {
            visibility_ms: self.policy.engine.visibility_ms,
        }
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

    fn taken<R: Rng + ?Sized>(&mut self, state: &mut EngineState, job: Job, now: u64, rng: &mut R) {
        let mut flight = InFlight {
            key: job.key.clone(),
            permit: None,
            attempts: job.attempts,
            previous_delay: previous_delay(&job),
            disposition: None,
        };
        let sync_job = match decode(&job.payload) {
            Ok(sync_job) => sync_job,
            Err(error) => {
                let disposition = Disposition::DeadLetter {
                    class: "invalid_job",
                    error,
                };
                self.next = Some(Action::Finish(disposition.clone()));
                flight.disposition = Some(disposition);
                self.current = Some(flight);
                return;
            }
        };
        let mut breaker = self.breaker(state);
        let admission = breaker.acquire(now);
        // The permit is part of the state stored on return: a trial is on disk before its
        // request is sent.
        state.breaker = breaker.snapshot();
        let transitions = admission.transitions;
        match admission.decision {
            Decision::Permit(permit) => {
                flight.permit = Some(permit);
                if let Some(ramp_state) = state.ramp {
                    if let Ok(mut ramp) = Ramp::restore(self.policy.ramp, ramp_state) {
                        let _ = ramp.try_acquire(now);
                        state.ramp = Some(ramp.state());
                    }
                }
                self.next = Some(Action::Sync {
                    job: Box::new(sync_job),
                    deadline: now.saturating_add(self.policy.engine.job_timeout_ms),
                });
            }
            Decision::Reject(_) => {
                // Another process changed the breaker under us: put the job back as it was.
                let disposition = Disposition::Retry {
                    at: now,
                    counted: false,
                    class: "deferred",
                    error: "the breaker no longer admits calls".into(),
                };
                self.next = Some(Action::Finish(disposition.clone()));
                flight.disposition = Some(disposition);
            }
        }
        self.current = Some(flight);
        self.note(state, transitions, now, rng, "");
    }

    fn synced<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        result: SyncResult,
        now: u64,
        rng: &mut R,
    ) {
        let Some(mut flight) = self.current.take() else {
            return;
        };
        let knobs = &self.policy.engine;
        let (outcome, disposition, cause, ramp_ok) = match &result {
            SyncResult::Updated { .. } | SyncResult::Unchanged => {
                state.halt = None;
                match &result {
                    SyncResult::Updated { .. } => self.stats.updated += 1,
                    _ => self.stats.unchanged += 1,
                }
                let second = now - now % 1_000;
                if state.last_sync.as_ref().is_none_or(|l| l.at != second) {
                    state.last_sync = Some(LastSync {
                        at: second,
                        key: flight.key.clone(),
                        outcome: if matches!(result, SyncResult::Updated { .. }) {
                            "updated".into()
                        } else {
                            "unchanged".into()
                        },
                    });
                }
                (
                    Outcome::Success,
                    Disposition::Ack,
                    String::new(),
                    Some(true),
                )
            }
            SyncResult::Failed { error, scan } => {
                let failure = Failure::of(error.kind());
                let hint = error.retry_after().map(|d| d.as_millis() as u64);
                let message = error.to_string();
                if failure == Failure::Configuration {
                    state.halt = Some(Halt {
                        at: now,
                        message: message.clone(),
                    });
                    self.stop = Some(StopReason::Configuration(message.clone()));
                }
                if failure.is_outage() {
                    state.outages.note_job(now);
                }
                if failure == Failure::NotFound {
                    if let Some(target) = scan {
                        let last = state.scans.get(&scan_key(target)).copied();
                        let due =
                            last.is_none_or(|at| at > now || now - at >= knobs.scan_interval_ms);
                        if due {
                            self.scan = Some(target.clone());
                        }
                    }
                }
                let disposition = self.retry_or_dead(&flight, failure, hint, message, now, rng);
                (
                    Outcome::Failure(if failure.is_outage() {
                        FailureClass::Outage
                    } else {
                        FailureClass::Other
                    }),
                    disposition,
                    error.kind().to_string(),
                    failure.is_outage().then_some(false),
                )
            }
        };
        if let (Some(ok), Some(ramp_state)) = (ramp_ok, state.ramp) {
            if let Ok(mut ramp) = Ramp::restore(self.policy.ramp, ramp_state) {
                ramp.record(ok, now);
                state.ramp = Some(ramp.state());
            }
        }
        if let Some(permit) = flight.permit.take() {
            let mut breaker = self.breaker(state);
            let report = breaker.report(permit, outcome, now);
            state.breaker = breaker.snapshot();
            self.note(state, report.transitions, now, rng, &cause);
        }
        let job_outcome = match &disposition {
            Disposition::Ack => outcome_of(&result),
            Disposition::Retry {
                at,
                counted,
                class,
                error,
            } => JobOutcome::Retry {
                at: *at,
                class: (*class).to_owned(),
                counted: *counted,
                error: error.clone(),
            },
            Disposition::DeadLetter { class, error } => JobOutcome::DeadLettered {
                class: (*class).to_owned(),
                error: error.clone(),
            },
        };
        self.events.push_back(Event::Job {
            at: now,
            key: flight.key.clone(),
            outcome: job_outcome,
        });
        self.next = Some(Action::Finish(disposition.clone()));
        flight.disposition = Some(disposition);
        self.current = Some(flight);
    }

    fn retry_or_dead<R: Rng + ?Sized>(
        &self,
        flight: &InFlight,
        failure: Failure,
        hint: Option<u64>,
        error: String,
        now: u64,
        rng: &mut R,
    ) -> Disposition {
        let retry = &self.policy.retry;
        let class = failure.as_str();
        let decide = |rule: ErrorClass, retries: u32, rng: &mut R| {
            retry.decide_with_hint(rule, retries, flight.previous_delay, hint, now, rng)
        };
        let decision = match failure {
            Failure::Configuration => {
                return Disposition::Retry {
                    at: now,
                    counted: false,
                    class,
                    error,
                };
            }
            Failure::ServerDown => decide(ErrorClass::ServerDown, flight.attempts, rng),
            Failure::Outage if !self.policy.engine.outage_failures_spend_retries => {
                // The breaker protects Plex; the job only waits, and never dies of an outage.
                match decide(ErrorClass::Transient, 0, rng) {
                    RetryDecision::Retry { at, .. } => RetryDecision::Retry {
                        at,
                        delay_ms: at.saturating_sub(now),
                        counts_attempt: false,
                    },
                    RetryDecision::DeadLetter => RetryDecision::Retry {
                        at: now,
                        delay_ms: 0,
                        counts_attempt: false,
                    },
                }
            }
            Failure::Outage | Failure::Transient => {
                decide(ErrorClass::Transient, flight.attempts, rng)
            }
            Failure::NotFound => decide(ErrorClass::NotFound, flight.attempts, rng),
            Failure::Permanent => RetryDecision::DeadLetter,
        };
        match decision {
            RetryDecision::Retry {
                at, counts_attempt, ..
            } => Disposition::Retry {
                at,
                counted: counts_attempt,
                class,
                error,
            },
            RetryDecision::DeadLetter => Disposition::DeadLetter { class, error },
        }
    }

    fn finished(&mut self, finished: Finished, now: u64) {
        let Some(flight) = self.current.take() else {
            return;
        };
        match (finished, &flight.disposition) {
            (Finished::LeaseLost, _) => {
                self.stats.lease_lost += 1;
                self.events.push_back(Event::Job {
                    at: now,
                    key: flight.key,
                    outcome: JobOutcome::LeaseLost,
                });
            }
            (Finished::Done, Some(Disposition::Ack)) => {}
            (Finished::Done, Some(Disposition::Retry { .. })) => self.stats.retried += 1,
            (Finished::Done, Some(Disposition::DeadLetter { .. })) => self.stats.dead_lettered += 1,
            (Finished::Done, None) => {}
        }
        // A job's end may have changed what is ready.
        self.queue = None;
        let pause = self.policy.engine.pause_between_jobs_ms;
        if pause > 0 {
            self.pause_until = Some(now.saturating_add(pause));
        }
    }

    fn probed<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        report: HealthReport,
        now: u64,
        rng: &mut R,
    ) {
        self.stats.probes += 1;
        self.queue = None;
        let outcome = probe_outcome(&report);
        let started = now.saturating_sub(u64::try_from(report.elapsed.as_millis()).unwrap_or(0));
        let configuration = report
            .failure
            .as_ref()
            .filter(|e| e.is_configuration())
            .map(|e| e.to_string());
        state.outages.note_probe(now);
        state.remember_probe(ProbeRecord {
            at: now,
            outcome,
            report,
        });
        self.events.push_back(Event::Probe {
            record: state.probes.back().cloned().expect("just remembered"),
        });
        if let Some(message) = configuration {
            state.halt = Some(Halt {
                at: now,
                message: message.clone(),
            });
            self.stop = Some(StopReason::Configuration(message));
            return;
        }
        let healthy = outcome == ProbeOutcome::Healthy;
        if healthy {
            state.halt = None;
        }
        let mut breaker = self.breaker(state);
        let knobs = &self.policy.engine;
        let transitions = match breaker.state() {
            State::HalfOpen if (knobs.probe_closes_half_open || self.nothing_ready) && healthy => {
                // With no job to try (or as the predecessor did), a passing probe in
                // HALF_OPEN is a successful trial.
                let admission = breaker.acquire(now);
                let mut all = admission.transitions.into_iter().collect::<Vec<_>>();
                if let Decision::Permit(permit) = admission.decision {
                    all.extend(breaker.report(permit, Outcome::Success, now).transitions);
                }
                all
            }
            _ if knobs.informational_probes => breaker.handle_timeout(now).into_iter().collect(),
            _ => breaker
                .probe(
                    if healthy {
                        Health::Healthy
                    } else {
                        Health::Unhealthy
                    },
                    now,
                )
                .into_iter()
                .collect(),
        };
        state.breaker = breaker.snapshot();
        let mut probes = self.probes(state);
        probes.record(outcome, started, rng);
        state.probe = probes.state();
        let cause = state
            .probes
            .back()
            .and_then(|p| p.report.failure_kind())
            .map(|k| k.to_string())
            .unwrap_or_default();
        self.note(state, transitions, now, rng, &cause);
    }

    fn nudged(&mut self, state: &EngineState, now: u64) {
        let Some(every) = self.policy.engine.probe_on_invocation_ms else {
            return;
        };
        if self.breaker(state).state() == State::Closed || self.next.is_some() || self.awaiting {
            return;
        }
        let last = state.probes.back().map(|p| p.at);
        if last.is_none_or(|at| at > now || now - at >= every) {
            self.next = Some(self.probe_action());
        }
    }

    /// Keeps the outage record in step with the breaker whatever another process did.
    fn repair(&mut self, state: &mut EngineState) {
        let breaker = self.breaker(state);
        match (breaker.state(), state.outages.current.is_some()) {
            (State::Closed, true) => {
                if let Some(outage) = state
                    .outages
                    .end(breaker.since(), "closed by another process")
                {
                    self.events.push_back(Event::OutageEnded {
                        at: breaker.since(),
                        outage,
                    });
                }
                self.summary = None;
            }
            (State::Open | State::HalfOpen, false) => {
                state.outages.start(breaker.since(), "unknown", 0);
            }
            _ => {}
        }
    }

    /// Records transitions: events, outage history, the probe schedule, the ramp.
    fn note<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        transitions: impl IntoIterator<Item = Transition>,
        now: u64,
        rng: &mut R,
        cause: &str,
    ) {
        for t in transitions {
            self.events.push_back(Event::Transition { transition: t });
            match t.to {
                State::Open => {
                    if t.from == State::Closed {
                        let cause = if cause.is_empty() { "unknown" } else { cause };
                        state
                            .outages
                            .start(now, cause, self.policy.breaker.failure_threshold());
                    }
                    state.ramp = None;
                    // A new outage starts the schedule over; a failed trial carries on with it.
                    let mut probes = self.probes(state);
                    if t.from == State::Closed {
                        probes.disarm();
                    }
                    probes.arm(now, rng);
                    state.probe = probes.state();
                }
                State::ForcedOpen => {
                    state.ramp = None;
                    state.probe = Default::default();
                }
                State::HalfOpen => {}
                State::Closed => {
                    let by = if t.cause == Cause::Reset {
                        "reset"
                    } else {
                        "recovered"
                    };
                    if let Some(outage) = state.outages.end(now, by) {
                        self.events
                            .push_back(Event::OutageEnded { at: now, outage });
                    }
                    self.summary = None;
                    state.probe = Default::default();
                    state.ramp = (t.from != State::Closed && self.policy.ramp.enabled)
                        .then(|| Ramp::start(self.policy.ramp, now).ok())
                        .flatten()
                        .map(|r| r.state());
                }
            }
            state.outages.note_transition(t);
        }
    }
}

/// The engine's view of a failure: which retry rule, whether it is Plex's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    ServerDown,
    Outage,
    Transient,
    NotFound,
    Permanent,
    Configuration,
}

impl Failure {
    pub(crate) fn of(kind: FailureKind) -> Failure {
        if kind.is_configuration() {
            return Failure::Configuration;
        }
        match kind {
            FailureKind::Refused | FailureKind::Dns | FailureKind::ConnectTimeout => {
                Failure::ServerDown
            }
            FailureKind::ReadTimeout
            | FailureKind::ConnectionLost
            | FailureKind::Maintenance
            | FailureKind::RateLimited => Failure::Outage,
            FailureKind::UnexpectedStatus { status } if status >= 500 => Failure::Outage,
            FailureKind::InvalidBody | FailureKind::BodyTooLarge => Failure::Transient,
            FailureKind::NotFound => Failure::NotFound,
            _ => Failure::Permanent,
        }
    }

    /// Whether it says Plex is unwell (and so counts against the breaker).
    pub(crate) fn is_outage(self) -> bool {
        matches!(self, Failure::ServerDown | Failure::Outage)
    }

    /// The class recorded on the job.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Failure::ServerDown => "server_down",
            Failure::Outage => "outage",
            Failure::Transient => "transient",
            Failure::NotFound => "not_found",
            Failure::Permanent => "permanent",
            Failure::Configuration => "configuration",
        }
    }
}

/// How the probe schedule takes a report: nothing answered, or something answered that was
/// not ready.
pub(crate) fn probe_outcome(report: &HealthReport) -> ProbeOutcome {
    if report.healthy {
        return ProbeOutcome::Healthy;
    }
    match report.failure_kind() {
        Some(
            FailureKind::Refused
            | FailureKind::Dns
            | FailureKind::ConnectTimeout
            | FailureKind::ReadTimeout
            | FailureKind::ConnectionLost,
        )
        | None => ProbeOutcome::Unreachable,
        // The library was asked: a loading server paid for the answer.
        Some(kind) if report.reached == Some(Stage::Identity) && !kind.is_configuration() => {
            ProbeOutcome::Loading
        }
        Some(_) => ProbeOutcome::NotReady,
    }
}

fn decode(payload: &Payload) -> Result<SyncJob, String> {
    let job: SyncJob = payload
        .decode()
        .map_err(|e| format!("the job is not a sync job this version reads: {e}"))?;
    job.check().map_err(|e| e.to_string())?;
    Ok(job)
}

/// The delay chosen for the job's last retry, for decorrelated jitter.
fn previous_delay(job: &Job) -> u64 {
    match (job.history.last(), job.next_retry_at) {
        (Some(last), Some(next)) => next.saturating_sub(last.at),
        _ => 0,
    }
}

fn scan_key(target: &ScanTarget) -> String {
    format!("{}:{}", target.section, target.folder)
}

fn outcome_of(result: &SyncResult) -> JobOutcome {
    match result {
        SyncResult::Updated { sent } => JobOutcome::Updated { sent: sent.len() },
        _ => JobOutcome::Unchanged,
    }
}
