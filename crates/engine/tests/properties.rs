//! Random outage schedules and random workloads through the real driver and core.
//!
//! Case counts come from `PROPTEST_CASES` (64 by default).

mod support;

use breaker_core::State;
use engine::{Mode, Policy, StopReason};
use proptest::prelude::*;
use support::*;

const MINUTE: u64 = 60_000;

fn phase() -> impl Strategy<Value = ServerPhase> {
    prop_oneof![
        3 => Just(ServerPhase::Refused),
        1 => Just(ServerPhase::Silent),
        2 => any::<bool>().prop_map(|starting| if starting { ServerPhase::Starting } else { ServerPhase::Maintenance }),
        3 => Just(ServerPhase::Ready),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn whatever_plex_does_no_job_is_lost_and_every_edit_lands(
        phases in proptest::collection::vec((phase(), 1u64..40 * MINUTE), 1..8),
        arrivals in proptest::collection::vec((0usize..12, 0u64..120 * MINUTE), 1..40),
        seed in any::<u64>(),
        default_policy in any::<bool>(),
    ) {
        let mut script = Vec::new();
        let mut at = T0;
        for (up, length) in &phases {
            script.push((at, *up));
            at += length;
        }
        // Plex is ready in the end, and the worker runs long enough after that.
        script.push((at, ServerPhase::Ready));
        let end = at.max(T0 + 120 * MINUTE) + 60 * MINUTE;
        let mut world = World::new(script, 12);
        world.plex.watch = Some(world.state.clone());
        let mut latest = std::collections::BTreeMap::new();
        // Hooks arrive in time order, and a later one supersedes an earlier one.
        let mut arrivals: Vec<(usize, (usize, u64))> = arrivals.into_iter().enumerate().collect();
        arrivals.sort_by_key(|(n, (_, offset))| (*offset, *n));
        for (n, (movie, offset)) in &arrivals {
            let arrival = T0 + offset;
            let j = job(*movie, &format!("edit {n}"));
            world.queue.enqueue(&j.key(), &j, arrival).unwrap();
            world.clock.nudge_at(arrival);
            // A later edit of the same scene supersedes an earlier one.
            let keep = latest.get(movie).is_none_or(|(when, _)| *when <= arrival);
            if keep {
                latest.insert(*movie, (arrival, format!("edit {n}")));
            }
        }
        world.clock.stop_at(end);
        let policy = if default_policy { Policy::default() } else { quick() };
        let reason = world.run(policy, Mode::Run, seed);
        prop_assert_eq!(reason, StopReason::Requested);
        // Every scene shows its latest edit; nothing queued, nothing dead.
        for (movie, (_, title)) in &latest {
            let file = format!("/data/Movies/movie-{movie}.mkv");
            let items = world.plex.items.borrow();
            prop_assert_eq!(items[&file].title.as_deref(), Some(title.as_str()), "scene {}", movie);
        }
        prop_assert!(world.queue.jobs().unwrap().is_empty(), "jobs left: {:?}", world.queue.jobs().unwrap());
        prop_assert!(world.queue.dead_letters().unwrap().is_empty(), "dead: {:?}", world.queue.dead_letters().unwrap());
        // No job request while the breaker was open; every trial held its stored permit.
        let seen = world.plex.seen.borrow();
        for (state, trials) in &seen.breaker_at_request {
            prop_assert!(*state != State::Open && *state != State::ForcedOpen);
            if *state == State::HalfOpen {
                prop_assert!(*trials >= 1);
            }
        }
        let state = world.state();
        prop_assert_eq!(state.breaker.state(), State::Closed);
        prop_assert!(state.outages.current.is_none());
    }
}
