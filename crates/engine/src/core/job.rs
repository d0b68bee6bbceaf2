//! Jobs' way through the core: each taken while the pacer, the breaker and the ramp allow,
//! admitted by the breaker and sent; each judged when it lands and finished; its time tells
//! the pacer how Plex keeps up.

use breaker_core::{Decision, FailureClass, Outcome, Permit, State};
use persist::{Job, Payload};
use plex_client::{FailureKind, PlexError};
use rand::Rng;
use scheduler::{ErrorClass, Ramp, RetryDecision};

use super::timers::Timer;
use super::{Engine, Phase, scan_key};
use crate::action::{Action, Disposition, Finished, Mode, ScanTarget, SyncResult, Synced};
use crate::event::{Event, JobOutcome, StopReason};
use crate::job::SyncJob;
use crate::state::{EngineState, FAILING_KEYS, Failing, Halt, LastSync};

/// A job in hand: its key, the half-open permit it runs under (if the breaker gave one),
/// and what the queue knows of its past.
#[derive(Debug)]
pub(super) struct Flight {
    key: String,
    /// When it was sent (ms since the epoch).
    started: u64,
    /// When its time runs out.
    pub(super) deadline: u64,
    permit: Option<Permit>,
    attempts: u32,
    /// When it last failed, if it has.
    failed_at: Option<u64>,
    /// The delay chosen for its last retry, for decorrelated jitter.
    previous_delay: u64,
}

impl Flight {
    pub(super) fn key(&self) -> &str {
        &self.key
    }
}

/// What a sync's result comes to: what the breaker is told, what becomes of the job, the
/// failure behind it, and what the ramp is told (`None`: nothing, the failure was not Plex's).
struct Verdict {
    outcome: Outcome,
    disposition: Disposition,
    cause: Option<PlexError>,
    ramp: Option<bool>,
}

impl Engine {
    /// The breaker admits calls: take a job if the ramp allows.
    pub(super) fn take_or_wait(&mut self, state: &mut EngineState, now: u64) -> Action {
        if let Some(until) = self.timers.get(Timer::Hold).filter(|&t| t > now) {
            // A drain that may be over does not wait to find out.
            if self.mode == Mode::Drain {
                match self.queue {
                    None => return Action::Inspect,
                    Some(counts) if counts.ready == 0 => return self.drained(now),
                    Some(_) => {}
                }
            }
            return self.wait(until, now);
        }
        match self.ramp_allows(state, now) {
            Ok(()) => self.take(),
            Err(at) => self.wait(at, now),
        }
    }

    /// Whether the ramp (if one runs) has a token for a job now, or when it will.
    fn ramp_allows(&self, state: &mut EngineState, now: u64) -> Result<(), u64> {
        if let Some(ramp_state) = state.ramp {
            match Ramp::restore(self.policy.ramp, ramp_state) {
                // Look without spending: the token is spent only if a job comes.
                Ok(ramp) if !ramp.is_finished(now) => ramp.clone().try_acquire(now)?,
                _ => state.ramp = None,
            }
        }
        Ok(())
    }

    /// Jobs are in flight: take one more if the pacer, the breaker and the ramp allow it
    /// and nothing else needs doing once they land; else wait for one to land.
    pub(super) fn while_flying(&mut self, state: &mut EngineState, now: u64) -> Action {
        let breaker = self.breaker(state);
        let pause = [Timer::Pause, Timer::Hold]
            .into_iter()
            .filter_map(|t| self.timers.get(t))
            .filter(|&until| until > now)
            .max();
        let more = breaker.state() == State::Closed
            // After a failure, the next call is a look (if the policy says so).
            && !(self.policy.engine.probe_after_failure && breaker.consecutive_failures() > 0)
            && self.flying.len() < self.pacer.in_flight()
            && pause.is_none()
            && !self.nothing_ready
            && !self.probe_asked
            && self.stop.is_none()
            && self.scan.is_none()
            && self.optimising_until(state).is_none()
            && self.ramp_allows(state, now).is_ok();
        if more {
            self.phase = Phase::Taking;
            return self.take();
        }
        // A job lands by its deadline at the latest.
        let landed_by = self.flying.iter().map(|f| f.deadline).min().unwrap_or(now);
        Action::Wait {
            until: pause.map_or(landed_by, |p| p.min(landed_by)).max(now),
        }
    }

    /// A job came from the queue: send it if the breaker still admits calls, else put it
    /// back.
    pub(super) fn admit<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        job: Job,
        now: u64,
        rng: &mut R,
    ) -> Action {
        let mut flight = Flight {
            key: job.key.clone(),
            started: now,
            deadline: self.deadline(state, now, self.policy.engine.job_timeout_ms),
            permit: None,
            attempts: job.attempts,
            failed_at: job.history.last().map(|a| a.at),
            previous_delay: previous_delay(&job),
        };
        let sync_job = match decode(&job.payload) {
            Ok(sync_job) => sync_job,
            Err(error) => {
                let class = ErrorClass::InvalidJob;
                self.finish(flight, Disposition::DeadLetter { class, error });
                return self.proceed(state, now, rng);
            }
        };
        let mut breaker = self.breaker(state);
        let admission = breaker.acquire(now);
        // The permit is part of the state stored on return: a trial is on disk before its
        // request is sent.
        state.breaker = breaker.snapshot();
        let sent = match admission.decision {
            Decision::Permit(permit) => {
                flight.permit = Some(permit);
                if let Some(ramp_state) = state.ramp {
                    if let Ok(mut ramp) = Ramp::restore(self.policy.ramp, ramp_state) {
                        let _ = ramp.try_acquire(now);
                        state.ramp = Some(ramp.state());
                    }
                }
                // Jobs go out spaced, so that the limit is kept on average.
                let next = self.pacer.sent(now);
                self.hold_until(next);
                let action = Action::Sync {
                    key: flight.key.clone(),
                    job: Box::new(sync_job),
                    deadline: flight.deadline,
                };
                self.flying.push(flight);
                Some(action)
            }
            // Another process changed the breaker under us: put the job back as it was.
            Decision::Reject(_) => {
                self.finish(
                    flight,
                    Disposition::Retry {
                        at: now,
                        counted: false,
                        class: ErrorClass::Deferred,
                        error: "the breaker no longer admits calls".into(),
                    },
                );
                None
            }
        };
        self.note(state, admission.transitions, now, rng, None);
        match sent {
            Some(action) => action,
            None => self.proceed(state, now, rng),
        }
    }

    /// A job landed: tell the pacer how fast Plex answered (or that it is overloaded), the
    /// breaker and the ramp how it went, and decide what becomes of the job.
    pub(super) fn settle<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        mut flight: Flight,
        synced: Synced,
        now: u64,
        rng: &mut R,
    ) {
        self.learn_pace(&synced, now);
        let result = synced.result;
        let verdict = match &result {
            SyncResult::Updated { .. } | SyncResult::Unchanged => {
                self.succeeded(state, &flight, &result, now)
            }
            SyncResult::Failed { error, scan } => {
                self.failed(state, &flight, error, scan.as_ref(), now, rng)
            }
        };
        if let (Some(ok), Some(ramp_state)) = (verdict.ramp, state.ramp) {
            if let Ok(mut ramp) = Ramp::restore(self.policy.ramp, ramp_state) {
                ramp.record(ok, now);
                state.ramp = Some(ramp.state());
            }
        }
        if let Some(permit) = flight.permit.take() {
            let mut breaker = self.breaker(state);
            let report = breaker.report(permit, verdict.outcome, now);
            state.breaker = breaker.snapshot();
            self.note(state, report.transitions, now, rng, verdict.cause.as_ref());
        }
        let outcome = match (&verdict.disposition, &result) {
            (Disposition::Ack, SyncResult::Updated { sent }) => {
                JobOutcome::Updated { sent: sent.len() }
            }
            (Disposition::Ack, _) => JobOutcome::Unchanged,
            (
                Disposition::Retry {
                    at,
                    counted,
                    class,
                    error,
                },
                _,
            ) => JobOutcome::Retry {
                at: *at,
                class: *class,
                counted: *counted,
                error: error.clone(),
            },
            (Disposition::DeadLetter { class, error }, _) => JobOutcome::DeadLettered {
                class: *class,
                error: error.clone(),
            },
        };
        self.events.push_back(Event::Job {
            at: now,
            key: flight.key.clone(),
            outcome,
        });
        self.finish(flight, verdict.disposition)
    }

    fn succeeded(
        &mut self,
        state: &mut EngineState,
        flight: &Flight,
        result: &SyncResult,
        now: u64,
    ) -> Verdict {
        state.halt = None;
        state.failing = None;
        state.evidence.working(now);
        let updated = matches!(result, SyncResult::Updated { .. });
        if updated {
            self.stats.updated += 1;
        } else {
            self.stats.unchanged += 1;
        }
        let second = now - now % 1_000;
        if state.last_sync.as_ref().is_none_or(|l| l.at != second) {
            state.last_sync = Some(LastSync {
                at: second,
                key: flight.key.clone(),
                outcome: if updated { "updated" } else { "unchanged" }.into(),
            });
        }
        Verdict {
            outcome: Outcome::Success,
            disposition: Disposition::Ack,
            cause: None,
            ramp: Some(true),
        }
    }

    fn failed<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        flight: &Flight,
        error: &PlexError,
        scan: Option<&ScanTarget>,
        now: u64,
        rng: &mut R,
    ) -> Verdict {
        let class = judge(state, &flight.key, error, now);
        let hint = error.retry_after().map(|d| d.as_millis() as u64);
        let message = error.to_string();
        if class == ErrorClass::Configuration {
            state.halt = Some(Halt {
                at: now,
                message: message.clone(),
            });
            self.stop = Some(StopReason::Configuration(message.clone()));
        }
        if class.is_outage() {
            // A job counts once per outage, however often it is tried: it is new to this one
            // if it had not failed since the failures that led to it began.
            let since = state
                .outages
                .current
                .as_ref()
                .map(|o| o.failing_since())
                .or(state.failing.as_ref().map(|f| f.since));
            let new = match (since, flight.failed_at) {
                (Some(since), Some(failed)) => failed < since,
                _ => true,
            };
            state.outages.note_job(now, new);
            let failing = state.failing.get_or_insert_with(|| Failing {
                since: flight.started,
                error: message.clone(),
                keys: Vec::new(),
            });
            if failing.keys.len() < FAILING_KEYS && !failing.keys.contains(&flight.key) {
                failing.keys.push(flight.key.clone());
            }
        }
        if let (ErrorClass::NotFound, Some(target)) = (class, scan) {
            let last = state.scans.get(&scan_key(target)).copied();
            let every = self.policy.engine.scan_interval_ms;
            if last.is_none_or(|at| at > now || now - at >= every) {
                self.scan = Some(target.clone());
            }
        }
        let disposition = self.retry_or_dead(flight, class, hint, message, now, rng);
        Verdict {
            outcome: Outcome::Failure(if class.is_outage() {
                FailureClass::Outage
            } else {
                FailureClass::Other
            }),
            disposition,
            cause: Some(error.clone()),
            ramp: class.is_outage().then_some(false),
        }
    }

    fn retry_or_dead<R: Rng + ?Sized>(
        &self,
        flight: &Flight,
        class: ErrorClass,
        hint: Option<u64>,
        error: String,
        now: u64,
        rng: &mut R,
    ) -> Disposition {
        let retry = &self.policy.retry;
        let decide = |retries: u32, rng: &mut R| {
            retry.decide_with_hint(class, retries, flight.previous_delay, hint, now, rng)
        };
        let decision = match class {
            // Nothing can work until the user acts: the job goes back as it was.
            ErrorClass::Configuration | ErrorClass::Deferred => {
                return Disposition::Retry {
                    at: now,
                    counted: false,
                    class,
                    error,
                };
            }
            ErrorClass::Outage if !self.policy.engine.outage_failures_spend_retries => {
                // The breaker protects Plex; the job only waits, and never dies of an outage.
                match decide(0, rng) {
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
            ErrorClass::ServerDown
            | ErrorClass::Outage
            | ErrorClass::Transient
            | ErrorClass::ItemError
            | ErrorClass::NotFound
            | ErrorClass::Permanent
            | ErrorClass::InvalidJob => decide(flight.attempts, rng),
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

    /// The job goes back to the queue with `disposition`, after those decided before it.
    fn finish(&mut self, flight: Flight, disposition: Disposition) {
        self.finishing.push_back((flight, disposition));
    }

    /// The queue did what was asked with the job (or another worker had it).
    pub(super) fn finished(
        &mut self,
        state: &mut EngineState,
        flight: Flight,
        disposition: Disposition,
        finished: Finished,
        now: u64,
    ) {
        if matches!(
            disposition,
            Disposition::Ack | Disposition::DeadLetter { .. }
        ) {
            state.evidence.settled(&flight.key);
        }
        match (finished, disposition) {
            (Finished::LeaseLost, _) => {
                self.stats.lease_lost += 1;
                self.events.push_back(Event::Job {
                    at: now,
                    key: flight.key,
                    outcome: JobOutcome::LeaseLost,
                });
            }
            (Finished::Done, Disposition::Ack) => {}
            (Finished::Done, Disposition::Retry { at, .. }) => {
                self.stats.retried += 1;
                // Ready again at once: the queue's last "nothing ready" no longer holds.
                if at <= now {
                    self.nothing_ready = false;
                }
            }
            (Finished::Done, Disposition::DeadLetter { .. }) => self.stats.dead_lettered += 1,
        }
        // A job's end may have changed what is ready.
        self.queue = None;
        let pause = self.policy.engine.pause_between_jobs_ms;
        if pause > 0 {
            self.timers.set(Timer::Pause, now.saturating_add(pause));
        }
    }

    /// What a landed job says of Plex's pace: an overload (an outage's failure, a 429) halves
    /// the limit and holds every job back for as long as Plex asked; an answer's time is a
    /// sample.
    fn learn_pace(&mut self, synced: &Synced, now: u64) {
        let mut hold = 0;
        match &synced.result {
            SyncResult::Failed { error, .. }
                if error.class().is_outage() || error.kind() == FailureKind::RateLimited =>
            {
                self.pacer.overloaded(now);
                let asked = error.retry_after().map_or(0, |d| d.as_millis() as u64);
                hold = asked.min(MAX_ASKED_WAIT_MS);
            }
            _ => self
                .pacer
                .record(synced.took_us as f64 / 1_000.0, synced.requests, now),
        }
        if hold > 0 {
            self.hold_until(now.saturating_add(hold));
        }
    }

    /// No job is taken before `until` (nor before any later time already set).
    fn hold_until(&mut self, until: u64) {
        let later = self.timers.get(Timer::Hold).map_or(until, |t| t.max(until));
        self.timers.set(Timer::Hold, later);
    }
}

/// The longest a `Retry-After` holds every job back (a job's own retry honours it whole).
const MAX_ASKED_WAIT_MS: u64 = 60_000;

/// What `error`, met by job `key`, is in context. plex-client classes a server error (a 5xx
/// other than 503) as an outage, and it is one when Plex fails for everyone; but when Plex
/// has been seen working since this job first met one, and nothing has shown Plex failing
/// since (no failed probe, no other job's outage or server error), it is this job's own: an
/// item Plex cannot edit, whose retries it spends and which the breaker leaves alone. Every
/// other failure, plex-client's class stands; an outage of any other kind is evidence that
/// Plex is failing.
fn judge(state: &mut EngineState, key: &str, error: &PlexError, now: u64) -> ErrorClass {
    let class = error.class();
    match error.kind() {
        FailureKind::UnexpectedStatus { status }
            if (500..=599).contains(&status) && status != 503 =>
        {
            if state.evidence.server_error(key, now) {
                ErrorClass::ItemError
            } else {
                class
            }
        }
        _ => {
            if class.is_outage() {
                state.evidence.failing(now);
            }
            class
        }
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
