use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backoff::{Backoff, Jitter};

/// What a probe found, as far as its schedule cares.
///
/// The two failures cost the server different things: a refused or unreachable port costs it
/// nothing, while a deep probe against a server that is up but still loading (a 503 during
/// maintenance, `/identity` passing while the library fails) takes some of its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// Every stage passed.
    Healthy,
    /// Nothing answered: refused, unresolved, or no connection in time.
    Unreachable,
    /// Something answered, but not a server ready for work.
    NotReady,
}

/// When the first probe of an outage comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstProbe {
    /// Exactly this many milliseconds after the outage is noticed (the predecessor: 5 s).
    Fixed(u64),
    /// The first interval of the unreachable backoff, with its jitter.
    Jittered,
}

/// How probes are spaced: a backoff for each kind of failure, and the first delay.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbePlan {
    /// After a probe that found nothing listening.
    pub unreachable: Backoff,
    /// After a probe that found the server up but not ready.
    pub not_ready: Backoff,
    /// When the first probe comes.
    pub first: FirstProbe,
}

impl ProbePlan {
    /// The same backoff whatever the failure, with a jittered first probe.
    pub fn uniform(backoff: Backoff) -> ProbePlan {
        ProbePlan {
            unreachable: backoff,
            not_ready: backoff,
            first: FirstProbe::Jittered,
        }
    }

    /// The backoff that follows `outcome` (the unreachable one after a healthy probe).
    pub fn backoff(&self, outcome: ProbeOutcome) -> &Backoff {
        match outcome {
            ProbeOutcome::NotReady => &self.not_ready,
            ProbeOutcome::Healthy | ProbeOutcome::Unreachable => &self.unreachable,
        }
    }

    /// The longest interval the plan can give.
    pub fn cap_ms(&self) -> u64 {
        let first = match self.first {
            FirstProbe::Fixed(ms) => ms,
            FirstProbe::Jittered => 0,
        };
        self.unreachable
            .cap_ms()
            .max(self.not_ready.cap_ms())
            .max(first)
    }
}

impl Default for ProbePlan {
    /// The seed's schedule for every failure: 5 s doubling to a 60 s cap, equal jitter, and a
    /// jittered first probe.
    fn default() -> Self {
        ProbePlan::uniform(
            Backoff::new(5_000, 2.0, 60_000, Jitter::Equal).expect("constant backoff is valid"),
        )
    }
}

/// When to probe a server that is down: a backoff that widens with every failed probe and
/// starts over after a healthy one.
///
/// With the default plan the ceilings are the seed's 5 → 10 → 20 → 40 → 60 s, equal-jittered
/// so that several workers do not probe in step. A plan may space probes differently after a
/// refused connection than after a server that answered but was not ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeSchedule {
    plan: ProbePlan,
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
        ProbeSchedule::new(ProbePlan::default())
    }
}

impl ProbeSchedule {
    /// An idle schedule following `plan`.
    pub fn new(plan: ProbePlan) -> Self {
        ProbeSchedule::restore(plan, ProbeState::default())
    }

    /// Carries on from persisted `state` under `plan`.
    pub fn restore(plan: ProbePlan, state: ProbeState) -> Self {
        ProbeSchedule { plan, state }
    }

    /// What to persist.
    pub fn state(&self) -> ProbeState {
        self.state
    }

    /// The plan in use.
    pub fn plan(&self) -> &ProbePlan {
        &self.plan
    }

    /// Starts watching an outage: the first probe comes as the plan's [`FirstProbe`] says.
    /// Does nothing if an outage is already being watched.
    pub fn arm<R: Rng + ?Sized>(&mut self, now: u64, rng: &mut R) {
        if self.state.next_at.is_some() {
            return;
        }
        self.state.failures = 0;
        self.state.previous_ms = 0;
        match self.plan.first {
            FirstProbe::Fixed(delay_ms) => {
                self.state.previous_ms = delay_ms;
                self.state.next_at = Some(now.saturating_add(delay_ms));
            }
            FirstProbe::Jittered => {
                self.schedule(ProbeOutcome::Unreachable, now, rng);
            }
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

    /// Records a probe's outcome and returns when the next one is due. A healthy probe starts
    /// the backoff over; a failed one widens it along the backoff for its kind.
    pub fn record<R: Rng + ?Sized>(&mut self, outcome: ProbeOutcome, now: u64, rng: &mut R) -> u64 {
        if outcome == ProbeOutcome::Healthy {
            self.state.failures = 0;
            self.state.previous_ms = 0;
        } else {
            self.state.failures = self.state.failures.saturating_add(1);
        }
        self.schedule(outcome, now, rng)
    }

    fn schedule<R: Rng + ?Sized>(&mut self, outcome: ProbeOutcome, now: u64, rng: &mut R) -> u64 {
        let backoff = self.plan.backoff(outcome);
        let previous = match self.state.previous_ms {
            0 => backoff.base_ms(),
            p => p,
        };
        let interval = backoff.delay(self.state.failures, previous, rng);
        self.state.previous_ms = interval;
        let at = now.saturating_add(interval);
        self.state.next_at = Some(at);
        at
    }
}
