//! What a user does by hand to the breaker, kept in step with the outage history.

use breaker_core::{Breaker, Cause, State};

use crate::event::Event;
use crate::policy::Policy;
use crate::state::EngineState;

/// `plexsync breaker reset`: closes the breaker and clears its counts, ending the outage on
/// record. Returns what happened.
pub fn reset_breaker(state: &mut EngineState, policy: &Policy, now: u64) -> Vec<Event> {
    let mut breaker = Breaker::restore(policy.breaker, state.breaker);
    let transitions = breaker.reset(now);
    state.breaker = breaker.snapshot();
    state.probe = Default::default();
    state.ramp = None;
    state.halt = None;
    let mut events: Vec<Event> = transitions
        .into_iter()
        .map(|transition| Event::Transition {
            transition,
            first_failure: None,
        })
        .collect();
    if let Some(outage) = state.outages.end(now, "reset") {
        events.push(Event::OutageEnded { at: now, outage });
    }
    events
}

/// A worker that has just taken the worker lock is the only one: any half-open trial still
/// held in the state was taken by a worker that stopped (Stash kills a task without
/// warning), and is void at once, so that the next trial need not wait out its lease.
/// Returns how many there were.
pub fn void_trials(state: &mut EngineState, policy: &Policy) -> u32 {
    let mut breaker = Breaker::restore(policy.breaker, state.breaker);
    let voided = breaker.abandon_trials();
    state.breaker = breaker.snapshot();
    voided
}

/// `plexsync breaker open`: opens the breaker until it is reset; no job reaches Plex. An
/// outage going on stays on record; opening by hand is not one.
pub fn force_open_breaker(state: &mut EngineState, policy: &Policy, now: u64) -> Vec<Event> {
    let mut breaker = Breaker::restore(policy.breaker, state.breaker);
    let transitions = breaker.force_open(now);
    state.breaker = breaker.snapshot();
    state.probe = Default::default();
    state.ramp = None;
    transitions
        .into_iter()
        .map(|transition| {
            debug_assert_eq!(transition.cause, Cause::ForcedOpen);
            debug_assert_eq!(transition.to, State::ForcedOpen);
            Event::Transition {
                transition,
                first_failure: None,
            }
        })
        .collect()
}
