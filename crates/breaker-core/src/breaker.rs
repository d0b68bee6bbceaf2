use crate::config::Config;
use crate::event::{
    Admission, Cause, Decision, FailureClass, Health, Outcome, Permit, Rejection, Report, State,
    Transition, Transitions,
};
use crate::leases::Lease;
use crate::snapshot::{Phase, Snapshot};

/// A circuit breaker. Every input carries `now`, a wall-clock timestamp in milliseconds.
///
/// Before acting on an input the breaker lets time pass: an elapsed open wait moves OPEN to
/// HALF_OPEN, and expired trial leases free their slots. A `now` earlier than the last one
/// seen means the clock stepped back; the breaker then shortens every pending deadline so it
/// ends no later than one full wait after the new `now`, so a step back can delay it by at
/// most one wait, never stall it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breaker {
    config: Config,
    core: Snapshot,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker::new(Config::default())
    }
}

impl Breaker {
    /// A CLOSED breaker at generation 0.
    pub fn new(config: Config) -> Self {
        Breaker {
            config,
            core: Snapshot::INITIAL,
        }
    }

    /// A breaker that carries on from `snapshot` under `config`.
    pub fn restore(config: Config, snapshot: Snapshot) -> Self {
        Breaker {
            config,
            core: snapshot,
        }
    }

    /// Everything to persist; see [`Breaker::restore`].
    pub fn snapshot(&self) -> Snapshot {
        self.core
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state as of the last input.
    pub fn state(&self) -> State {
        self.core.phase.state()
    }

    /// Increases by one on every transition.
    pub fn generation(&self) -> u64 {
        self.core.generation
    }

    /// The `now` of the input that moved the breaker into its current state; 0 if it has
    /// been CLOSED since it was created. "Opened 5 minutes ago" is `now - since()`, which
    /// stays right after a change of configuration or a clock step, unlike anything worked
    /// back from a deadline. After a step back it may lie ahead of `now`.
    pub fn since(&self) -> u64 {
        self.core.since
    }

    /// Consecutive outage-class failures counted in CLOSED (0 in other states).
    pub fn consecutive_failures(&self) -> u32 {
        match self.core.phase {
            Phase::Closed { failures } => failures,
            _ => 0,
        }
    }

    /// Successful trials counted in this HALF_OPEN period (0 in other states).
    pub fn trial_successes(&self) -> u32 {
        match self.core.phase {
            Phase::HalfOpen { successes, .. } => successes,
            _ => 0,
        }
    }

    /// Half-open permits currently leased out.
    pub fn trials_in_flight(&self) -> u32 {
        match &self.core.phase {
            Phase::HalfOpen { leases, .. } => leases.len() as u32,
            _ => 0,
        }
    }

    /// Re-opens from HALF_OPEN since the breaker last closed; it scales the open wait.
    pub fn reopens(&self) -> u32 {
        self.core.reopens
    }

    /// The next instant at which the breaker changes without any input: the end of the open
    /// wait, or the first trial lease to expire. `None` when only an input can change it.
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.core.phase {
            Phase::Open { until } => Some(*until),
            Phase::HalfOpen { leases, .. } => leases.earliest_expiry(),
            Phase::Closed { .. } | Phase::ForcedOpen => None,
        }
    }

    /// Lets time pass up to `now`.
    pub fn handle_timeout(&mut self, now: u64) -> Transitions {
        let mut out = Transitions::default();
        if now < self.core.last_seen {
            self.clock_stepped_back(now);
        }
        if matches!(self.core.phase, Phase::Open { .. } | Phase::HalfOpen { .. }) {
            self.core.last_seen = now;
        }
        match &mut self.core.phase {
            Phase::Open { until } if now >= *until => {
                out.push(self.enter(half_open(), now, Cause::OpenWaitElapsed));
            }
            Phase::HalfOpen { leases, .. } => leases.expire(now),
            _ => {}
        }
        out
    }

    /// Asks to make one call.
    pub fn acquire(&mut self, now: u64) -> Admission {
        let transitions = self.handle_timeout(now);
        let generation = self.core.generation;
        let lease_ms = self.config.permit_lease_ms();
        let permits = self.config.half_open_permits() as usize;
        let decision = match &mut self.core.phase {
            Phase::Closed { .. } => Decision::Permit(Permit {
                generation,
                lease: None,
                issued_at: now,
            }),
            Phase::Open { until } => Decision::Reject(Rejection {
                state: State::Open,
                retry_at: Some(*until),
            }),
            Phase::ForcedOpen => Decision::Reject(Rejection {
                state: State::ForcedOpen,
                retry_at: None,
            }),
            Phase::HalfOpen { leases, .. } if leases.len() < permits => {
                let id = self.core.next_lease;
                let lease = Lease {
                    id,
                    expires_at: now.saturating_add(lease_ms),
                };
                if leases.insert(lease) {
                    self.core.next_lease = id.wrapping_add(1);
                    Decision::Permit(Permit {
                        generation,
                        lease: Some(id),
                        issued_at: now,
                    })
                } else {
                    full(leases.earliest_expiry())
                }
            }
            Phase::HalfOpen { leases, .. } => full(leases.earliest_expiry()),
        };
        Admission {
            decision,
            transitions,
        }
    }

    /// Hands back a permit with the outcome of its call.
    pub fn report(&mut self, permit: Permit, outcome: Outcome, now: u64) -> Report {
        let mut transitions = self.handle_timeout(now);
        if permit.generation != self.core.generation {
            return Report {
                counted: false,
                transitions,
            };
        }
        let outage = match outcome {
            Outcome::Success => self
                .config
                .slow_call_ms()
                .is_some_and(|slow| now.saturating_sub(permit.issued_at) >= slow),
            Outcome::Failure(FailureClass::Outage) => true,
            Outcome::Failure(FailureClass::Other) => false,
        };
        let success = outcome == Outcome::Success && !outage;
        let counted = match (&mut self.core.phase, permit.lease) {
            (Phase::Closed { failures }, None) => {
                if success {
                    *failures = 0;
                } else if outage {
                    *failures = failures.saturating_add(1);
                    if *failures >= self.config.failure_threshold() {
                        self.core.reopens = 0;
                        let open = self.open_phase(now);
                        transitions.push(self.enter(open, now, Cause::FailureThreshold));
                    }
                }
                true
            }
            (Phase::HalfOpen { successes, leases }, Some(id)) => {
                if !leases.remove(id) {
                    false
                } else {
                    if success {
                        *successes = successes.saturating_add(1);
                        if *successes >= self.config.success_threshold() {
                            self.core.reopens = 0;
                            let closed = Phase::Closed { failures: 0 };
                            transitions.push(self.enter(closed, now, Cause::TrialsSucceeded));
                        }
                    } else if outage {
                        transitions.push(self.reopen(now, Cause::TrialFailed));
                    }
                    true
                }
            }
            // Same generation but the wrong kind of permit: only a forged permit gets here.
            _ => false,
        };
        Report {
            counted,
            transitions,
        }
    }

    /// Feeds in a health probe. Healthy while OPEN moves to HALF_OPEN; unhealthy while
    /// HALF_OPEN re-opens. An unhealthy probe while OPEN is fresh evidence, as a failed trial
    /// would be: the open wait starts over, so the timer does not let a trial call through
    /// to a server the last probe found down (the wait never gets shorter). In CLOSED and
    /// FORCED_OPEN a probe changes nothing.
    pub fn probe(&mut self, health: Health, now: u64) -> Transitions {
        let mut out = self.handle_timeout(now);
        let open_wait = self.config.open_wait_ms(self.core.reopens);
        match (&mut self.core.phase, health) {
            (Phase::Open { until }, Health::Unhealthy) => {
                *until = (*until).max(now.saturating_add(open_wait));
            }
            (Phase::Open { .. }, Health::Healthy) => {
                out.push(self.enter(half_open(), now, Cause::ProbeHealthy));
            }
            (Phase::HalfOpen { .. }, Health::Unhealthy) => {
                out.push(self.reopen(now, Cause::ProbeUnhealthy));
            }
            _ => {}
        }
        out
    }

    /// Opens the breaker until [`Breaker::reset`], whatever it was doing.
    pub fn force_open(&mut self, now: u64) -> Transitions {
        let mut out = self.handle_timeout(now);
        if self.core.phase != Phase::ForcedOpen {
            out.push(self.enter(Phase::ForcedOpen, now, Cause::ForcedOpen));
        }
        out
    }

    /// Closes the breaker and clears its counts, whatever it was doing.
    pub fn reset(&mut self, now: u64) -> Transitions {
        let mut out = self.handle_timeout(now);
        self.core.reopens = 0;
        match self.core.phase {
            Phase::Closed { ref mut failures } => *failures = 0,
            _ => out.push(self.enter(Phase::Closed { failures: 0 }, now, Cause::Reset)),
        }
        out
    }

    fn enter(&mut self, phase: Phase, now: u64, cause: Cause) -> Transition {
        let from = self.core.phase.state();
        self.core.phase = phase;
        self.core.generation = self.core.generation.wrapping_add(1);
        self.core.since = now;
        self.core.last_seen = now;
        Transition {
            from,
            to: phase.state(),
            at: now,
            generation: self.core.generation,
            cause,
        }
    }

    fn reopen(&mut self, now: u64, cause: Cause) -> Transition {
        self.core.reopens = self.core.reopens.saturating_add(1);
        let open = self.open_phase(now);
        self.enter(open, now, cause)
    }

    fn open_phase(&self, now: u64) -> Phase {
        Phase::Open {
            until: now.saturating_add(self.config.open_wait_ms(self.core.reopens)),
        }
    }

    fn clock_stepped_back(&mut self, now: u64) {
        let open_wait = self.config.open_wait_ms(self.core.reopens);
        let lease_ms = self.config.permit_lease_ms();
        match &mut self.core.phase {
            Phase::Open { until } => *until = (*until).min(now.saturating_add(open_wait)),
            Phase::HalfOpen { leases, .. } => leases.clamp(now.saturating_add(lease_ms)),
            Phase::Closed { .. } | Phase::ForcedOpen => {}
        }
    }
}

fn half_open() -> Phase {
    Phase::HalfOpen {
        successes: 0,
        leases: Default::default(),
    }
}

fn full(retry_at: Option<u64>) -> Decision {
    Decision::Reject(Rejection {
        state: State::HalfOpen,
        retry_at,
    })
}
