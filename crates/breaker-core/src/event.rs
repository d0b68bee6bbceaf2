//! The values that go into a [`Breaker`](crate::Breaker) and the values that come out.

use core::fmt;

/// Where the breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum State {
    /// Calls flow; consecutive outage-class failures are counted.
    Closed,
    /// Calls are refused until the open wait ends or a healthy probe arrives.
    Open,
    /// A bounded number of trial calls decide between closing and re-opening.
    HalfOpen,
    /// Opened by hand: calls are refused until [`Breaker::reset`](crate::Breaker::reset).
    ForcedOpen,
}

impl State {
    /// The upper-case name used in logs and reports, e.g. `HALF_OPEN`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Open => "OPEN",
            State::HalfOpen => "HALF_OPEN",
            State::ForcedOpen => "FORCED_OPEN",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a call made under a [`Permit`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Outcome {
    /// The call did what it was meant to do.
    Success,
    /// The call failed; only [`FailureClass::Outage`] moves the breaker.
    Failure(FailureClass),
}

/// Whether a failure says anything about the health of the remote side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FailureClass {
    /// The server is down or struggling: refused, timed out, 5xx, maintenance.
    Outage,
    /// The server answered but the call could not succeed: an item not found, a bad
    /// request, a configuration error. It releases a half-open permit and counts for nothing.
    Other,
}

/// The verdict of a health probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Health {
    /// The probe passed every stage.
    Healthy,
    /// The probe failed.
    Unhealthy,
}

/// Permission to make one call, to be handed back with its [`Outcome`].
///
/// A permit from HALF_OPEN is a lease: if it is not reported before the lease runs out its
/// slot is freed and a later report of it is ignored. A permit from an older generation is
/// ignored too. Permits are not `Clone`, so one call cannot be reported twice.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[must_use = "a permit must be reported back with its outcome"]
pub struct Permit {
    pub(crate) generation: u64,
    pub(crate) lease: Option<u64>,
    pub(crate) issued_at: u64,
}

impl Permit {
    /// The breaker generation this permit was issued in.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether this is a half-open trial.
    pub fn is_trial(&self) -> bool {
        self.lease.is_some()
    }

    /// When the permit was issued.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
}

/// What [`Breaker::acquire`](crate::Breaker::acquire) decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead, and report the outcome with this permit.
    Permit(Permit),
    /// Do not call now.
    Reject(Rejection),
}

/// Why a call was refused and when asking again may help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The state that refused the call.
    pub state: State,
    /// The earliest instant at which a permit may be granted without any other input;
    /// `None` when only an input (a probe, a reset) can change the answer.
    pub retry_at: Option<u64>,
}

/// The answer to [`Breaker::acquire`](crate::Breaker::acquire).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a decision tells whether the call may be made"]
pub struct Admission {
    /// Permit or rejection.
    pub decision: Decision,
    /// Transitions that time caused before the decision was made.
    pub transitions: Transitions,
}

/// The answer to [`Breaker::report`](crate::Breaker::report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a report may carry transitions to log or record"]
pub struct Report {
    /// `false` when the permit was stale (older generation, or an expired lease) and the
    /// outcome changed nothing.
    pub counted: bool,
    /// Transitions caused by time and by this outcome, in order.
    pub transitions: Transitions,
}

/// Why the breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Cause {
    /// CLOSED saw `failure_threshold` consecutive outage-class failures.
    FailureThreshold,
    /// The open wait ran out.
    OpenWaitElapsed,
    /// A healthy probe while OPEN.
    ProbeHealthy,
    /// An unhealthy probe while HALF_OPEN.
    ProbeUnhealthy,
    /// A trial call failed with an outage-class failure.
    TrialFailed,
    /// `success_threshold` trial calls succeeded.
    TrialsSucceeded,
    /// [`Breaker::force_open`](crate::Breaker::force_open).
    ForcedOpen,
    /// [`Breaker::reset`](crate::Breaker::reset).
    Reset,
}

/// One change of state, to log or to record in outage history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Transition {
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// The instant passed in with the input that caused it.
    pub at: u64,
    /// The generation after the transition.
    pub generation: u64,
    /// What caused it.
    pub cause: Cause,
}

/// The transitions one input caused, oldest first (at most two: one from time, one from the input).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "transitions are how the caller learns that the state changed"]
pub struct Transitions {
    items: [Option<Transition>; 2],
}

impl Transitions {
    pub(crate) fn push(&mut self, transition: Transition) {
        let slot = if self.items[0].is_none() { 0 } else { 1 };
        self.items[slot] = Some(transition);
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.items[0].is_none()
    }

    /// How many transitions there were.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The newest transition, if any.
    pub fn last(&self) -> Option<Transition> {
        self.iter().last()
    }

    /// The transitions, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Transition> + '_ {
        self.items.iter().flatten().copied()
    }
}

impl IntoIterator for Transitions {
    type Item = Transition;
    type IntoIter = core::iter::Flatten<core::array::IntoIter<Option<Transition>, 2>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().flatten()
    }
}
