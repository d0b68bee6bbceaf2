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
///
/// ```
/// use breaker_core::{Breaker, Cause, Config, State};
///
/// let mut breaker = Breaker::new(Config::default());
/// let moved = breaker.force_open(1_000);
/// assert_eq!(moved.len(), 1);
/// for t in moved {
///     assert_eq!((t.from, t.to, t.cause, t.at), (State::Closed, State::ForcedOpen, Cause::ForcedOpen, 1_000));
/// }
/// assert!(breaker.force_open(2_000).is_empty());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
#[must_use = "transitions are how the caller learns that the state changed"]
pub struct Transitions {
    // Packed, and all zeros when empty: the empty value, which nearly every input returns, is
    // written with a few wide stores that the copy into the caller's result reads back at
    // once. (As `[Option<Transition>; 2]` it was written as two single-byte tags and read back
    // as 16-byte loads, a store-forwarding stall that doubled the cost of a closed cycle.)
    // All transitions of one input share its `now`, and their generations are consecutive.
    at: u64,
    /// The generation after the newest transition.
    generation: u64,
    /// One byte per transition, oldest first in the low byte; 0 marks an unused slot. A
    /// whole word, so that an empty value is written by full-width stores.
    steps: u64,
}

const PRESENT: u8 = 0x80;

#[inline]
fn state_code(state: State) -> u8 {
    match state {
        State::Closed => 0,
        State::Open => 1,
        State::HalfOpen => 2,
        State::ForcedOpen => 3,
    }
}

#[inline]
fn state_from(code: u8) -> State {
    match code & 3 {
        0 => State::Closed,
        1 => State::Open,
        2 => State::HalfOpen,
        _ => State::ForcedOpen,
    }
}

#[inline]
fn cause_code(cause: Cause) -> u8 {
    match cause {
        Cause::FailureThreshold => 0,
        Cause::OpenWaitElapsed => 1,
        Cause::ProbeHealthy => 2,
        Cause::ProbeUnhealthy => 3,
        Cause::TrialFailed => 4,
        Cause::TrialsSucceeded => 5,
        Cause::ForcedOpen => 6,
        Cause::Reset => 7,
    }
}

#[inline]
fn cause_from(code: u8) -> Cause {
    match code & 7 {
        0 => Cause::FailureThreshold,
        1 => Cause::OpenWaitElapsed,
        2 => Cause::ProbeHealthy,
        3 => Cause::ProbeUnhealthy,
        4 => Cause::TrialFailed,
        5 => Cause::TrialsSucceeded,
        6 => Cause::ForcedOpen,
        _ => Cause::Reset,
    }
}

impl Transitions {
    #[inline]
    pub(crate) fn push(&mut self, transition: Transition) {
        // The fields occupy disjoint bits, so adding them sets them.
        let step = PRESENT
            + state_code(transition.from) * 32
            + state_code(transition.to) * 8
            + cause_code(transition.cause);
        let shift = if self.steps == 0 { 0 } else { 8 };
        self.steps += u64::from(step) << shift;
        self.at = transition.at;
        self.generation = transition.generation;
    }

    /// Whether nothing changed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.steps == 0
    }

    /// How many transitions there were.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.step(0) != 0) + usize::from(self.step(1) != 0)
    }

    /// The newest transition, if any.
    #[inline]
    pub fn last(&self) -> Option<Transition> {
        self.iter().last()
    }

    /// The transitions, oldest first.
    #[inline]
    pub fn iter(&self) -> TransitionsIter {
        TransitionsIter {
            transitions: *self,
            next: 0,
        }
    }

    #[inline]
    fn step(&self, index: usize) -> u8 {
        // Past the last slot there is nothing: 0, like an unused slot.
        u32::try_from(8 * index)
            .ok()
            .and_then(|shift| self.steps.checked_shr(shift))
            .map_or(0, |rest| rest as u8)
    }

    #[inline]
    fn get(&self, index: usize) -> Option<Transition> {
        let step = self.step(index);
        if step == 0 {
            return None;
        }
        let newer = (self.len() - 1 - index) as u64;
        Some(Transition {
            from: state_from(step >> 5),
            to: state_from(step >> 3),
            at: self.at,
            generation: self.generation.wrapping_sub(newer),
            cause: cause_from(step),
        })
    }
}

impl fmt::Debug for Transitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl IntoIterator for Transitions {
    type Item = Transition;
    type IntoIter = TransitionsIter;

    #[inline]
    fn into_iter(self) -> TransitionsIter {
        self.iter()
    }
}

impl IntoIterator for &Transitions {
    type Item = Transition;
    type IntoIter = TransitionsIter;

    #[inline]
    fn into_iter(self) -> TransitionsIter {
        self.iter()
    }
}

/// The iterator over [`Transitions`], oldest first.
#[derive(Clone, Debug)]
pub struct TransitionsIter {
    transitions: Transitions,
    next: usize,
}

impl Iterator for TransitionsIter {
    type Item = Transition;

    #[inline]
    fn next(&mut self) -> Option<Transition> {
        let item = self.transitions.get(self.next)?;
        self.next += 1;
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.transitions.len().saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for TransitionsIter {}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    const STATES: [State; 4] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
    ];
    const CAUSES: [Cause; 8] = [
        Cause::FailureThreshold,
        Cause::OpenWaitElapsed,
        Cause::ProbeHealthy,
        Cause::ProbeUnhealthy,
        Cause::TrialFailed,
        Cause::TrialsSucceeded,
        Cause::ForcedOpen,
        Cause::Reset,
    ];

    /// Every (from, to, cause) survives the packing, alone and as either of a pair.
    #[test]
    fn every_transition_packs_and_unpacks() {
        let mut all = Vec::new();
        for from in STATES {
            for to in STATES {
                for cause in CAUSES {
                    all.push((from, to, cause));
                }
            }
        }
        for (k, &(from, to, cause)) in all.iter().enumerate() {
            let at = 1_000 + k as u64;
            let first = Transition {
                from,
                to,
                at,
                generation: u64::MAX,
                cause,
            };
            let (pf, pt, pc) = all[(k * 7 + 3) % all.len()];
            let second = Transition {
                from: pf,
                to: pt,
                at,
                generation: 0,
                cause: pc,
            };

            let mut one = Transitions::default();
            assert!(one.is_empty());
            one.push(first);
            assert_eq!(one.iter().collect::<Vec<_>>(), [first]);
            assert_eq!(
                (one.len(), one.last(), one.is_empty()),
                (1, Some(first), false)
            );

            // The generation wraps between the two, as `Breaker` lets it.
            let mut two = one;
            two.push(second);
            assert_eq!(two.into_iter().collect::<Vec<_>>(), [first, second]);
            assert_eq!((two.len(), two.last()), (2, Some(second)));
            assert_eq!(two.iter().size_hint(), (2, Some(2)));
            assert_ne!(one, two);
        }
    }

    #[test]
    fn empty_transitions_show_as_an_empty_list() {
        let none = Transitions::default();
        assert_eq!(format!("{none:?}"), "[]");
        assert_eq!(
            (none.len(), none.last(), none.iter().next()),
            (0, None, None)
        );
    }
}
