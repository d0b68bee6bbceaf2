use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::backoff::{Backoff, Jitter};

/// What a probe found, as far as its schedule cares.
///
/// The failures cost the server different things: a refused or unreachable port costs it
/// nothing, a 503 from its front door next to nothing, while a deep probe against a server
/// whose library is still loading takes some of its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeOutcome {
    /// Every stage passed.
    Healthy,
    /// Nothing answered: refused, unresolved, or no connection or answer in time.
    Unreachable,
    /// The server answered that it was not ready before its library was asked (a 503 during
    /// maintenance): cheap for it, and a sign that it is coming back.
    NotReady,
    /// The library was asked and failed (`/identity` passing while the database still
    /// loads): each such probe costs a loading server real work.
    Loading,
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

/// How probes are spaced: a backoff for each kind of failure, the first delay, and how
/// often to probe at least while an outage is young.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbePlan {
    /// After a probe that found nothing listening.
    pub unreachable: Backoff,
    /// After a probe that found the server up but not ready at its front door (a 503 to
    /// `/identity`): cheap for the server to answer.
    pub not_ready: Backoff,
    /// After a probe that found the server answering but its library not ready: a request
    /// that makes a loading server work.
    pub loading: Backoff,
    /// When the first probe comes.
    pub first: FirstProbe,
    /// How far apart probes may be at most, by the outage's age, whatever the backoff says.
    /// `None`: the backoffs alone.
    pub early: Option<Early>,
}

/// A bound on the interval between probes that grows with the outage: most outages are
/// short, and a short one should be seen to end soon after it does, while a long one should
/// cost few probes. No two probes start further apart than `every_ms`, or than the outage's
/// age so far divided by `age_divisor` once that is longer, so that the end of an outage is
/// seen within a fixed share of its length. Once the server answers again, the age counts
/// from then: it is coming back. Probes that find its library still loading cost it work,
/// and follow their own backoff alone once it has been answering for `loading_for_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Early {
    /// The longest interval at first.
    pub every_ms: u64,
    /// The interval may grow to the age divided by this (0: it never grows).
    pub age_divisor: u64,
    /// After the server has answered for this long, probes of a loading library follow the
    /// not-ready backoff alone.
    pub loading_for_ms: u64,
}

impl Early {
    /// The longest interval after a probe with `outcome`, `age_ms` into the outage and
    /// `answering_ms` since the server answered again (if it has).
    pub fn bound(
        &self,
        outcome: ProbeOutcome,
        age_ms: u64,
        answering_ms: Option<u64>,
    ) -> Option<u64> {
        let within = |age: u64| {
            Some(
                self.every_ms
                    .max(age.checked_div(self.age_divisor).unwrap_or(0)),
            )
        };
        match (outcome, answering_ms) {
            (ProbeOutcome::Loading, Some(answering)) if answering >= self.loading_for_ms => None,
            (ProbeOutcome::Loading, _) => Some(self.every_ms),
            (ProbeOutcome::NotReady, Some(answering)) => within(answering),
            _ => within(age_ms),
        }
    }
}

impl ProbePlan {
    /// The same backoff whatever the failure, with a jittered first probe.
    pub fn uniform(backoff: Backoff) -> ProbePlan {
        ProbePlan {
            unreachable: backoff,
            not_ready: backoff,
            loading: backoff,
            first: FirstProbe::Jittered,
            early: None,
        }
    }

    /// The backoff that follows `outcome` (the unreachable one after a healthy probe).
    pub fn backoff(&self, outcome: ProbeOutcome) -> &Backoff {
        match outcome {
            ProbeOutcome::NotReady => &self.not_ready,
            ProbeOutcome::Loading => &self.loading,
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
            .max(self.loading.cap_ms())
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
    /// When the outage began to be watched (state written before this field existed has
    /// none, and its outage counts as no longer young).
    #[serde(default)]
    pub armed_at: Option<u64>,
    /// When the server began answering again, if it has since it was last unreachable.
    #[serde(default)]
    pub answering_since: Option<u64>,
    /// Failed probes in a row on the current backoff: a probe that finds the server in a
    /// state with another backoff (refused, then loading) starts that backoff from its base.
    #[serde(default)]
    pub streak: u32,
    /// What the last failed probe found (`None`: none since the last healthy one, or state
    /// written before this field existed, whose streak carries on from `failures`).
    #[serde(default)]
    pub last: Option<ProbeOutcome>,
    /// How far ahead [`ProbeSchedule::defer_to`] put the next probe, past what the plan
    /// gives (0: it did not): such a due time is not a clock that stepped back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub deferred_ms: u64,
}

/// The streak a deferred probe carries on from: far enough along the backoff to be at its cap.
const DEFERRED_STREAK: u32 = 32;

fn is_zero(ms: &u64) -> bool {
    *ms == 0
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
        self.state.streak = 0;
        self.state.last = None;
        self.state.previous_ms = 0;
        self.state.armed_at = Some(now);
        self.state.answering_since = None;
        self.state.deferred_ms = 0;
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
            Some(at) => now >= at || at - now > self.plan.cap_ms().max(self.state.deferred_ms),
        }
    }

    /// Puts the next probe off to `at` (`now` being the time), if it is due earlier, and
    /// says whether it did: for a caller that knows the server will not be ready before then
    /// (a library that takes about this long every night). The probes after it start their
    /// backoff over, so that the end is seen soon once it may come.
    pub fn defer_to(&mut self, at: u64, now: u64) -> bool {
        if self.state.next_at.is_none_or(|next| next >= at) {
            return false;
        }
        self.state.next_at = Some(at);
        self.state.deferred_ms = at.saturating_sub(now);
        self.state.streak = self.state.streak.max(DEFERRED_STREAK);
        true
    }

    /// Brings the next probe forward to `at`, if it is due later: for a caller that knows the
    /// server is likely back about now.
    pub fn hasten_to(&mut self, at: u64) {
        if self.state.next_at.is_some_and(|next| next > at) {
            self.state.next_at = Some(at);
        }
    }

    /// When the next probe is due, if an outage is being watched.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.state.next_at
    }

    /// Records the outcome of a probe that began at `started` and returns when the next one
    /// is due, counted from that start (so that a probe that waited for a timeout does not
    /// push the next one back). A healthy probe starts the backoff over; a failed one widens
    /// it along the backoff for its kind, from that backoff's base when the kind before it
    /// followed another.
    pub fn record<R: Rng + ?Sized>(
        &mut self,
        outcome: ProbeOutcome,
        started: u64,
        rng: &mut R,
    ) -> u64 {
        if outcome == ProbeOutcome::Healthy {
            self.state.failures = 0;
            self.state.streak = 0;
            self.state.last = None;
            self.state.previous_ms = 0;
        } else {
            self.state.failures = self.state.failures.saturating_add(1);
            let same = self
                .state
                .last
                .is_none_or(|last| self.plan.backoff(last) == self.plan.backoff(outcome));
            self.state.streak = match self.state.last {
                None => self.state.failures,
                Some(_) if same => self.state.streak.saturating_add(1),
                Some(_) => {
                    self.state.previous_ms = 0;
                    1
                }
            };
            self.state.last = Some(outcome);
        }
        match outcome {
            ProbeOutcome::NotReady | ProbeOutcome::Loading => {
                self.state.answering_since.get_or_insert(started);
            }
            ProbeOutcome::Healthy | ProbeOutcome::Unreachable => {
                self.state.answering_since = None;
            }
        }
        self.schedule(outcome, started, rng)
    }

    fn schedule<R: Rng + ?Sized>(&mut self, outcome: ProbeOutcome, now: u64, rng: &mut R) -> u64 {
        let backoff = self.plan.backoff(outcome);
        let previous = match self.state.previous_ms {
            0 => backoff.base_ms(),
            p => p,
        };
        let mut interval = backoff.delay(self.state.streak, previous, rng);
        if let (Some(early), Some(armed)) = (self.plan.early, self.state.armed_at) {
            // A clock that stepped back before the arming counts as a young outage.
            let answering = self.state.answering_since.map(|at| now.saturating_sub(at));
            if let Some(bound) = early.bound(outcome, now.saturating_sub(armed), answering) {
                interval = interval.min(bound);
            }
        }
        self.state.previous_ms = interval;
        self.state.deferred_ms = 0;
        let at = now.saturating_add(interval);
        self.state.next_at = Some(at);
        at
    }
}
