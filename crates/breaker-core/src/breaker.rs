use crate::config::Config;
use crate::event::{
    Admission, Cause, Decision, FailureClass, Health, Outcome, Permit, Rejection, Report, State,
    Transition, Transitions,
};
use crate::leases::{Lease, Leases};
use crate::snapshot::{Phase, Snapshot};

/// A circuit breaker. Every input carries `now`, a wall-clock timestamp in milliseconds.
///
/// Before acting on an input the breaker lets time pass: an elapsed open wait moves OPEN to
/// HALF_OPEN, and expired trial leases free their slots. A `now` earlier than the last one
/// seen means the clock stepped back; the breaker then shortens every pending deadline so it
/// ends no later than one full wait after the new `now`, so a step back can delay it by at
/// most one wait, never stall it.
///
/// A whole life: tripped by failures, let through early by a healthy probe, closed again by
/// trial calls, and persisted.
///
/// ```
/// use breaker_core::{Breaker, Config, Decision, FailureClass, Health, Outcome, State};
///
/// let config = Config::builder()
///     .failure_threshold(2)
///     .open_wait_ms(60_000)
///     .success_threshold(2)
///     .build()?;
/// let mut breaker = Breaker::new(config);
/// let mut now = 1_700_000_000_000; // wall-clock milliseconds, from wherever the caller likes
///
/// // Two outage-class failures in a row trip it.
/// for _ in 0..2 {
///     let Decision::Permit(permit) = breaker.acquire(now).decision else { unreachable!() };
///     let report = breaker.report(permit, Outcome::Failure(FailureClass::Outage), now);
///     now += 10;
///     # let _ = report;
/// }
/// assert_eq!(breaker.state(), State::Open);
/// assert!(matches!(breaker.acquire(now).decision, Decision::Reject(_)));
/// // Without any input it would move to HALF_OPEN at the end of the open wait.
/// assert_eq!(breaker.poll_timeout(), Some(now - 10 + 60_000));
///
/// // A healthy deep probe is evidence that Plex is back: HALF_OPEN, ahead of the timer.
/// let moved = breaker.probe(Health::Healthy, now + 5_000);
/// assert_eq!(moved.last().map(|t| t.to), Some(State::HalfOpen));
///
/// // Trial calls confirm it. One permit at a time by default, each a lease that expires.
/// for i in 0..2 {
///     let Decision::Permit(trial) = breaker.acquire(now + 6_000 + i).decision else {
///         unreachable!()
///     };
///     assert!(trial.is_trial());
///     let report = breaker.report(trial, Outcome::Success, now + 6_500 + i);
///     assert!(report.counted);
/// }
/// assert_eq!(breaker.state(), State::Closed);
///
/// // The snapshot is what a process persists; restoring it gives back the same breaker.
/// let again = Breaker::restore(config, breaker.snapshot());
/// assert_eq!(again, breaker);
/// # Ok::<(), breaker_core::ConfigError>(())
/// ```
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
    /// A CLOSED breaker at generation 0. A `const fn`, so a breaker can be a `static`.
    pub const fn new(config: Config) -> Self {
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
    ///
    /// A caller that wants to see those changes when they happen sleeps until this instant,
    /// then calls [`Breaker::handle_timeout`]; a test steps a virtual clock straight to it.
    ///
    /// ```
    /// use breaker_core::{Breaker, Cause, Config, State};
    ///
    /// let config = Config::builder().failure_threshold(1).open_wait_ms(5_000).build()?;
    /// let mut breaker = Breaker::new(config);
    /// assert_eq!(breaker.poll_timeout(), None);
    /// # let breaker_core::Decision::Permit(permit) = breaker.acquire(100).decision else { panic!() };
    /// # let _ = breaker.report(permit, breaker_core::Outcome::Failure(breaker_core::FailureClass::Outage), 100);
    /// // ... one outage-class failure at 100 ms opens it ...
    /// let deadline = breaker.poll_timeout().unwrap();
    /// assert_eq!(deadline, 5_100);
    /// assert!(breaker.handle_timeout(deadline - 1).is_empty());
    /// let moved = breaker.handle_timeout(deadline);
    /// assert_eq!(moved.last().map(|t| (t.to, t.cause)), Some((State::HalfOpen, Cause::OpenWaitElapsed)));
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    pub fn poll_timeout(&self) -> Option<u64> {
        match &self.core.phase {
            Phase::Open { until } => Some(*until),
            Phase::HalfOpen { leases, .. } => leases.earliest_expiry(),
            Phase::Closed { .. } | Phase::ForcedOpen => None,
        }
    }

    /// Lets time pass up to `now`.
    #[inline(always)]
    pub fn handle_timeout(&mut self, now: u64) -> Transitions {
        match self.core.phase {
            // Time changes nothing here, and a clock step back leaves no deadline to shorten.
            Phase::Closed { .. } | Phase::ForcedOpen => Transitions::default(),
            Phase::Open { .. } | Phase::HalfOpen { .. } => self.let_time_pass(now),
        }
    }

    /// [`Breaker::handle_timeout`] in the states that have deadlines.
    #[inline]
    fn let_time_pass(&mut self, now: u64) -> Transitions {
        let mut out = Transitions::default();
        if now < self.core.last_seen {
            self.clock_stepped_back(now);
        }
        self.core.last_seen = now;
        match &mut self.core.phase {
            Phase::Open { until } if now >= *until => {
                out.push(self.enter(State::HalfOpen, now, Cause::OpenWaitElapsed));
            }
            Phase::HalfOpen { leases, .. } => leases.expire(now),
            _ => {}
        }
        out
    }

    /// Asks to make one call.
    #[inline(always)]
    pub fn acquire(&mut self, now: u64) -> Admission {
        let transitions = self.handle_timeout(now);
        let generation = self.core.generation;
        let decision = match &mut self.core.phase {
            Phase::Closed { .. } => Decision::Permit(Permit {
                generation,
                lease: None,
                issued_at: now,
            }),
            Phase::HalfOpen { leases, .. } => trial(
                leases,
                &mut self.core.next_lease,
                &self.config,
                generation,
                now,
            ),
            // One arm for both refusing states keeps this a two-way branch rather than a
            // jump table on the CLOSED path.
            Phase::Open { .. } | Phase::ForcedOpen => Decision::Reject(Rejection {
                state: self.state(),
                retry_at: self.poll_timeout(),
            }),
        };
        Admission {
            decision,
            transitions,
        }
    }

    /// Hands back a permit with the outcome of its call.
    #[inline(always)]
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
                        transitions.push(self.enter(State::Open, now, Cause::FailureThreshold));
                    }
                }
                true
            }
            (Phase::HalfOpen { .. }, Some(id)) => {
                self.report_trial(id, success, outage, now, &mut transitions)
            }
            // Same generation but the wrong kind of permit: only a forged permit gets here.
            _ => false,
        };
        Report {
            counted,
            transitions,
        }
    }

    /// The HALF_OPEN part of [`Breaker::report`]: whether the lease was still held.
    // Out of line, so that the CLOSED path, which nearly every report takes, stays small
    // enough to inline into the caller.
    #[inline(never)]
    fn report_trial(
        &mut self,
        id: u64,
        success: bool,
        outage: bool,
        now: u64,
        transitions: &mut Transitions,
    ) -> bool {
        let Phase::HalfOpen { successes, leases } = &mut self.core.phase else {
            return false;
        };
        if !leases.remove(id) {
            return false;
        }
        if success {
            *successes = successes.saturating_add(1);
            if *successes >= self.config.success_threshold() {
                self.core.reopens = 0;
                transitions.push(self.enter(State::Closed, now, Cause::TrialsSucceeded));
            }
        } else if outage {
            transitions.push(self.reopen(now, Cause::TrialFailed));
        }
        true
    }

    /// Feeds in a health probe. Healthy while OPEN moves to HALF_OPEN; unhealthy while
    /// HALF_OPEN re-opens. An unhealthy probe while OPEN is fresh evidence, as a failed trial
    /// would be: the open wait starts over, so the timer does not let a trial call through
    /// to a server the last probe found down (the wait never gets shorter). In CLOSED and
    /// FORCED_OPEN a probe changes nothing.
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, Health, State};
    ///
    /// let config = Config::builder().failure_threshold(1).open_wait_ms(60_000).build()?;
    /// let mut breaker = Breaker::new(config);
    /// assert!(breaker.probe(Health::Unhealthy, 1_000).is_empty()); // CLOSED: calls decide
    /// # let breaker_core::Decision::Permit(p) = breaker.acquire(1_000).decision else { panic!() };
    /// # let _ = breaker.report(p, breaker_core::Outcome::Failure(breaker_core::FailureClass::Outage), 1_000);
    /// // ... a failed call at 1 s opens it until 61 s ...
    /// let _ = breaker.probe(Health::Unhealthy, 30_000); // still down: wait from now
    /// assert_eq!(breaker.poll_timeout(), Some(90_000));
    /// let _ = breaker.probe(Health::Healthy, 40_000); // back: let a trial through now
    /// assert_eq!(breaker.state(), State::HalfOpen);
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    pub fn probe(&mut self, health: Health, now: u64) -> Transitions {
        let mut out = self.handle_timeout(now);
        let open_wait = self.config.open_wait_ms(self.core.reopens);
        match (&mut self.core.phase, health) {
            (Phase::Open { until }, Health::Unhealthy) => {
                *until = (*until).max(now.saturating_add(open_wait));
            }
            (Phase::Open { .. }, Health::Healthy) => {
                out.push(self.enter(State::HalfOpen, now, Cause::ProbeHealthy));
            }
            (Phase::HalfOpen { .. }, Health::Unhealthy) => {
                out.push(self.reopen(now, Cause::ProbeUnhealthy));
            }
            _ => {}
        }
        out
    }

    /// Keeps an OPEN breaker OPEN until at least `until`: for a caller that knows calls will
    /// fail before then (a `Retry-After`, a server's nightly maintenance that lasts about as
    /// long every night). The open wait is never shortened, and no other state changes.
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, FailureClass, Outcome, State};
    ///
    /// let config = Config::builder().failure_threshold(1).open_wait_ms(60_000).build()?;
    /// let mut breaker = Breaker::new(config);
    /// # let breaker_core::Decision::Permit(p) = breaker.acquire(1_000).decision else { panic!() };
    /// let _ = breaker.report(p, Outcome::Failure(FailureClass::Outage), 1_000); // OPEN until 61 s
    /// let _ = breaker.hold_open(600_000, 2_000); // known to be away for ten minutes
    /// assert_eq!(breaker.poll_timeout(), Some(600_000));
    /// let _ = breaker.hold_open(5_000, 3_000); // never shorter
    /// assert_eq!(breaker.poll_timeout(), Some(600_000));
    /// assert_eq!(breaker.state(), State::Open);
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    pub fn hold_open(&mut self, until: u64, now: u64) -> Transitions {
        let out = self.handle_timeout(now);
        if let Phase::Open { until: at } = &mut self.core.phase {
            *at = (*at).max(until);
        }
        out
    }

    /// Opens the breaker until [`Breaker::reset`], whatever it was doing: for maintenance, or
    /// an operator who knows better. Its [`Rejection`]s carry no `retry_at`.
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, Decision, State};
    ///
    /// let mut breaker = Breaker::new(Config::default());
    /// let _ = breaker.force_open(1_000);
    /// let Decision::Reject(refusal) = breaker.acquire(9_999_999).decision else { panic!() };
    /// assert_eq!((refusal.state, refusal.retry_at), (State::ForcedOpen, None));
    /// let _ = breaker.reset(10_000_000);
    /// assert!(matches!(breaker.acquire(10_000_001).decision, Decision::Permit(_)));
    /// ```
    pub fn force_open(&mut self, now: u64) -> Transitions {
        let mut out = self.handle_timeout(now);
        if self.core.phase != Phase::ForcedOpen {
            out.push(self.enter(State::ForcedOpen, now, Cause::ForcedOpen));
        }
        out
    }

    /// Frees every half-open trial in flight, as if each lease had run out; returns how many
    /// there were. For a caller that knows their holders are gone (a process that held them
    /// was killed, its permits persisted in a snapshot), so that the next trial need not wait
    /// out their leases. A report for one of them later changes nothing. Outside HALF_OPEN
    /// there are no trials, and nothing happens.
    ///
    /// ```
    /// use breaker_core::{Breaker, Config, Decision, FailureClass, Health, Outcome};
    ///
    /// let config = Config::builder().failure_threshold(1).permit_lease_ms(60_000).build()?;
    /// let mut breaker = Breaker::new(config);
    /// # let Decision::Permit(p) = breaker.acquire(0).decision else { panic!() };
    /// # let _ = breaker.report(p, Outcome::Failure(FailureClass::Outage), 0);
    /// let _ = breaker.probe(Health::Healthy, 1_000); // HALF_OPEN
    /// let Decision::Permit(orphan) = breaker.acquire(1_000).decision else { panic!() };
    /// // The process holding `orphan` dies; the one that follows knows it.
    /// assert!(matches!(breaker.acquire(2_000).decision, Decision::Reject(_)));
    /// assert_eq!(breaker.abandon_trials(), 1);
    /// assert!(matches!(breaker.acquire(2_000).decision, Decision::Permit(_)));
    /// assert!(!breaker.report(orphan, Outcome::Success, 3_000).counted);
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    pub fn abandon_trials(&mut self) -> u32 {
        match &mut self.core.phase {
            Phase::HalfOpen { leases, .. } => leases.clear(),
            Phase::Closed { .. } | Phase::Open { .. } | Phase::ForcedOpen => 0,
        }
    }

    /// Closes the breaker and clears its counts, whatever it was doing.
    pub fn reset(&mut self, now: u64) -> Transitions {
        let mut out = self.handle_timeout(now);
        self.core.reopens = 0;
        match self.core.phase {
            Phase::Closed { ref mut failures } => *failures = 0,
            _ => out.push(self.enter(State::Closed, now, Cause::Reset)),
        }
        out
    }

    /// Moves to `to`, fresh: no failures, trials or leases yet; an open wait by `reopens`.
    // Out of line and cold: a transition is rare, and the phase it builds is large; inlined,
    // it made every caller's frame hundreds of bytes for the sake of a path seldom taken.
    #[cold]
    #[inline(never)]
    fn enter(&mut self, to: State, now: u64, cause: Cause) -> Transition {
        let from = self.core.phase.state();
        self.core.phase = match to {
            State::Closed => Phase::Closed { failures: 0 },
            State::Open => self.open_phase(now),
            State::HalfOpen => Phase::HalfOpen {
                successes: 0,
                leases: Default::default(),
            },
            State::ForcedOpen => Phase::ForcedOpen,
        };
        self.core.generation = self.core.generation.wrapping_add(1);
        self.core.since = now;
        self.core.last_seen = now;
        Transition {
            from,
            to,
            at: now,
            generation: self.core.generation,
            cause,
        }
    }

    fn reopen(&mut self, now: u64, cause: Cause) -> Transition {
        self.core.reopens = self.core.reopens.saturating_add(1);
        self.enter(State::Open, now, cause)
    }

    fn open_phase(&self, now: u64) -> Phase {
        Phase::Open {
            until: now.saturating_add(self.config.open_wait_ms(self.core.reopens)),
        }
    }

    #[cold]
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

/// [`Breaker::acquire`] in HALF_OPEN: a trial permit while a lease slot is free.
// Out of line, so that `acquire` stays small enough to inline into the caller.
#[inline(never)]
fn trial(
    leases: &mut Leases,
    next_lease: &mut u64,
    config: &Config,
    generation: u64,
    now: u64,
) -> Decision {
    if leases.len() >= config.half_open_permits() as usize {
        return full(leases.earliest_expiry());
    }
    let id = *next_lease;
    let lease = Lease {
        id,
        expires_at: now.saturating_add(config.permit_lease_ms()),
    };
    if leases.insert(lease) {
        *next_lease = id.wrapping_add(1);
        Decision::Permit(Permit {
            generation,
            lease: Some(id),
            issued_at: now,
        })
    } else {
        full(leases.earliest_expiry())
    }
}

fn full(retry_at: Option<u64>) -> Decision {
    Decision::Reject(Rejection {
        state: State::HalfOpen,
        retry_at,
    })
}
