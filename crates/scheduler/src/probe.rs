use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backoff::{Backoff, Jitter};

/// When to probe a server that is down: a backoff that widens with every failed probe and
/// starts over after a healthy one.
///
/// With the default plan the ceilings are the seed's 5 → 10 → 20 → 40 → 60 s, equal-jittered
/// so that several workers do not probe in step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeSchedule {
    plan: Backoff,
    state: ProbeState,
}

/// What a [`ProbeSchedule`] keeps between invocations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeState {
    /// Failed probes since the last healthy one.
    pub failures: u32,
    /// The interval used last time (for decorrelated jitter).
    pub previous_ms: u64,
    /// When the next probe is due; `None` while no outage is being watched.
    pub next_at: Option<u64>,
}

impl Default for ProbeSchedule {
    fn default() -> Self {
        ProbeSchedule::new(Self::default_plan())
    }
}

impl ProbeSchedule {
    /// The seed's schedule: 5 s doubling to a 60 s cap, equal jitter.
    pub fn default_plan() -> Backoff {
        Backoff::new(5_000, 2.0, 60_000, Jitter::Equal).expect("constant backoff is valid")
    }

    /// An idle schedule following `plan`.
    pub fn new(plan: Backoff) -> Self {
        ProbeSchedule::restore(plan, ProbeState::default())
    }

    /// Carries on from persisted `state` under `plan`.
    pub fn restore(plan: Backoff, state: ProbeState) -> Self {
        ProbeSchedule { plan, state }
    }

    /// What to persist.
    pub fn state(&self) -> ProbeState {
        self.state
    }

    /// The backoff in use.
    pub fn plan(&self) -> &Backoff {
        &self.plan
    }

    /// Starts watching an outage: the first probe is one base interval away. Does nothing if
    /// an outage is already being watched.
    pub fn arm<R: Rng + ?Sized>(&mut self, now: u64, rng: &mut R) {
        if self.state.next_at.is_none() {
            self.state.failures = 0;
            self.schedule(now, rng);
        }
    }

    /// Stops watching (the circuit closed).
    pub fn disarm(&mut self) {
        self.state = ProbeState::default();
    }

    /// Whether a probe is due at `now`. A due time more than one cap away is a sign the clock
    /// stepped back, and counts as due rather than stalling.
    pub fn is_due(&self, now: u64) -> bool {
        match self.state.next_at {
            None => false,
            Some(at) => now >= at || at - now > self.plan.cap_ms(),
        }
    }

    /// When the next probe is due, if an outage is being watched.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.state.next_at
    }

    /// Records a probe's result and returns when the next one is due. A healthy probe starts
    /// the backoff over; an unhealthy one widens it.
    pub fn record<R: Rng + ?Sized>(&mut self, healthy: bool, now: u64, rng: &mut R) -> u64 {
        if healthy {
            self.state.failures = 0;
            self.state.previous_ms = 0;
        } else {
            self.state.failures = self.state.failures.saturating_add(1);
        }
        self.schedule(now, rng)
    }

    fn schedule<R: Rng + ?Sized>(&mut self, now: u64, rng: &mut R) -> u64 {
        let previous = match self.state.previous_ms {
            0 => self.plan.base_ms(),
            p => p,
        };
        let interval = self.plan.delay(self.state.failures, previous, rng);
        self.state.previous_ms = interval;
        let at = now.saturating_add(interval);
        self.state.next_at = Some(at);
        at
    }
}
