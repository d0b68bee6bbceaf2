//! Plex's health: probes, the breaker's transitions, the outage record, and what to do while
//! the breaker is open.

use breaker_core::{Breaker, Cause, Decision, FailureClass, Health, Outcome, State, Transition};
use plex_client::{FailureKind, HealthReport, PlexError, Stage};
use rand::Rng;
use scheduler::{ProbeOutcome, Ramp};

use super::timers::Timer;
use super::{Engine, Phase, cause_name};
use crate::action::{Action, Mode};
use crate::event::{Event, StopReason};
use crate::state::{EngineState, Halt, ProbeRecord};

impl Engine {
    /// The breaker is open: probe on schedule, say now and then that Plex is still down, and
    /// in a drain decide whether waiting is worth it.
    pub(super) fn while_down<R: Rng + ?Sized>(
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
            let since = super::outage_since(state).unwrap_or(breaker.since());
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
            return self.probe_action(state, now);
        }
        let until = [probes.poll_timeout(), breaker.poll_timeout(), summary_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now.saturating_add(self.policy.engine.idle_recheck_ms));
        self.wait(until, now)
    }

    /// Emits a summary line if one is due; returns when the next is.
    pub(super) fn summary_due(&mut self, state: &EngineState, now: u64) -> Option<u64> {
        let outage = state.outages.current.as_ref()?;
        let knobs = &self.policy.engine;
        let at = match self.timers.get(Timer::Summary) {
            Some(at) => at,
            None => {
                let at = outage.started_at.saturating_add(knobs.summary_interval_ms);
                self.timers.set(Timer::Summary, at);
                self.timers.summary_interval = knobs.summary_interval_ms;
                at
            }
        };
        if now < at {
            return Some(at);
        }
        self.events.push_back(Event::OutageSummary {
            at: now,
            outage: outage.clone(),
        });
        let interval = self
            .timers
            .summary_interval
            .saturating_mul(2)
            .min(knobs.summary_cap_ms);
        let next = now.saturating_add(interval);
        self.timers.set(Timer::Summary, next);
        self.timers.summary_interval = interval;
        Some(next)
    }

    pub(super) fn probed<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        report: HealthReport,
        now: u64,
        rng: &mut R,
    ) {
        self.stats.probes += 1;
        self.queue = None;
        let counts = std::mem::take(&mut self.probe_counts);
        let outcome = probe_outcome(&report);
        let started = now.saturating_sub(u64::try_from(report.elapsed.as_millis()).unwrap_or(0));
        let configuration = report
            .failure
            .as_ref()
            .filter(|e| e.is_configuration())
            .map(|e| e.to_string());
        let cause = report.failure.clone();
        state.outages.note_probe(
            now,
            report.failure.as_ref().map(|e| cause_name(Some(e.kind()))),
        );
        state.remember_probe(ProbeRecord {
            at: now,
            outcome,
            report,
        });
        self.events.push_back(Event::Probe {
            record: state.probes.back().cloned().expect("just remembered"),
            next_at: None,
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
            state.evidence.working(now);
            // The library answered: whatever the watch last heard, it is not held.
            if let Some(watch) = state.watch.as_mut() {
                watch.optimising = None;
            }
        } else {
            state.evidence.failing(now);
        }
        let mut breaker = self.breaker(state);
        let knobs = &self.policy.engine;
        let mut transitions = match breaker.state() {
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
            // A look after a failed job, in CLOSED, counts as a call: a failure moves the
            // breaker towards opening as a job's would, a success clears the count.
            State::Closed
                if counts || (knobs.probe_after_failure && breaker.consecutive_failures() > 0) =>
            {
                let admission = breaker.acquire(now);
                let mut all = admission.transitions.into_iter().collect::<Vec<_>>();
                if let Decision::Permit(permit) = admission.decision {
                    let outcome = if healthy {
                        Outcome::Success
                    } else {
                        Outcome::Failure(FailureClass::Outage)
                    };
                    all.extend(breaker.report(permit, outcome, now).transitions);
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
        if outcome == ProbeOutcome::Loading {
            state.outages.note_loading(started);
        }
        let mut probes = self.probes(state);
        probes.record(outcome, started, rng);
        if let Some(until) = self.keep_rhythm(state, &mut probes, outcome, now) {
            // No trial either before the probes look again.
            let mut breaker = self.breaker(state);
            transitions.extend(breaker.hold_open(until, now));
            state.breaker = breaker.snapshot();
        }
        state.probe = probes.state();
        self.note(state, transitions, now, rng, cause.as_ref());
        // The probe's event says when the next one is due, as the schedule now stands.
        let due = state.probe.next_at;
        if let Some(Event::Probe { next_at, .. }) = self
            .events
            .iter_mut()
            .rev()
            .find(|e| matches!(e, Event::Probe { .. }))
        {
            *next_at = due;
        }
    }

    /// A job was queued: what the queue holds changed, and under a policy that probes on
    /// invocation, a probe comes first if the breaker is not closed.
    pub(super) fn nudged(&mut self, state: &EngineState, now: u64) {
        self.forget_queue();
        let Some(every) = self.policy.engine.probe_on_invocation_ms else {
            return;
        };
        let busy = !matches!(self.phase, Phase::Idle) || self.probe_asked;
        if self.breaker(state).state() == State::Closed || busy {
            return;
        }
        let last = state.probes.back().map(|p| p.at);
        if last.is_none_or(|at| at > now || now - at >= every) {
            self.probe_asked = true;
        }
    }

    /// Keeps the outage record in step with the breaker whatever another process did.
    pub(super) fn repair(&mut self, state: &mut EngineState) {
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
                self.timers.clear(Timer::Summary);
            }
            (State::Open | State::HalfOpen, false) => {
                state
                    .outages
                    .start(breaker.since(), "unknown", None, 0, None);
            }
            _ => {}
        }
    }

    /// Records transitions: events, outage history, the probe schedule, the ramp. `cause` is
    /// the failure that led to them, if one did.
    pub(super) fn note<R: Rng + ?Sized>(
        &mut self,
        state: &mut EngineState,
        transitions: impl IntoIterator<Item = Transition>,
        now: u64,
        rng: &mut R,
        cause: Option<&PlexError>,
    ) {
        for t in transitions {
            // An outage's first line says where and what: the run's first failure.
            let first_failure = (t.from == State::Closed && t.to == State::Open).then(|| {
                state
                    .failing
                    .as_ref()
                    .map(|f| f.error.clone())
                    .or_else(|| cause.map(PlexError::to_string))
                    .unwrap_or_else(|| "unknown".to_owned())
            });
            self.events.push_back(Event::Transition {
                transition: t,
                first_failure: first_failure.clone(),
            });
            match t.to {
                State::Open => {
                    if t.from == State::Closed {
                        let failing = state.failing.as_ref();
                        state.outages.start(
                            now,
                            cause_name(cause.map(PlexError::kind)),
                            first_failure,
                            failing.map_or(0, |f| f.keys.len() as u32),
                            failing.map(|f| f.since),
                        );
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
                    self.timers.clear(Timer::Summary);
                    state.failing = None;
                    state.probe = Default::default();
                    // A Plex just back is fragile: jobs go one at a time again, then more
                    // while it keeps up.
                    if t.from != State::Closed {
                        self.pacer.restart();
                    }
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

/// How the probe schedule takes a report: nothing answered, or something answered that was
/// not ready.
fn probe_outcome(report: &HealthReport) -> ProbeOutcome {
    if report.healthy {
        return ProbeOutcome::Healthy;
    }
    match report.failure_kind() {
        // The library was asked, and failed or did not answer: a loading (or optimising)
        // server paid for it.
        Some(kind) if report.reached == Some(Stage::Identity) && !kind.is_configuration() => {
            ProbeOutcome::Loading
        }
        Some(
            FailureKind::Refused
            | FailureKind::Dns
            | FailureKind::ConnectTimeout
            | FailureKind::ReadTimeout
            | FailureKind::ConnectionLost,
        )
        | None => ProbeOutcome::Unreachable,
        Some(_) => ProbeOutcome::NotReady,
    }
}
