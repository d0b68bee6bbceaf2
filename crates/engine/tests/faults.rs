//! Faults generated at random through the real driver and core on a virtual clock: poison
//! items among good ones through random outages, and drains with an outage limit against
//! servers that go bad in every way at random moments.
//!
//! Case counts come from `PROPTEST_CASES` (48 by default).

mod support;

use std::collections::BTreeMap;

use breaker_core::State;
use engine::{Clock, ErrorClass, Event, Mode, Policy, StopReason};
use proptest::prelude::*;
use support::*;

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;
const MOVIES: usize = 12;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

fn outage_phase() -> impl Strategy<Value = ServerPhase> {
    prop_oneof![
        Just(ServerPhase::Refused),
        Just(ServerPhase::Unreachable),
        Just(ServerPhase::Silent),
        Just(ServerPhase::Maintenance),
        Just(ServerPhase::Starting),
        Just(ServerPhase::Slow),
    ]
}

/// Up to three outages of up to 20 minutes in the first two hours; ready in between.
fn outages() -> impl Strategy<Value = Vec<(u64, ServerPhase)>> {
    proptest::collection::vec((outage_phase(), 1..20 * MINUTE, 1..40 * MINUTE), 0..4).prop_map(
        |spans| {
            let mut script = Vec::new();
            let mut at = T0;
            for (phase, down, up) in spans {
                at += up;
                script.push((at, phase));
                at += down;
                script.push((at, ServerPhase::Ready));
            }
            script
        },
    )
}

/// Runs `world` until `end` with every scene's jobs arriving as `arrivals` say; returns the
/// title each scene should end with.
fn arrive(world: &mut World, arrivals: &[(usize, u64)]) -> BTreeMap<usize, String> {
    let mut arrivals: Vec<(usize, (usize, u64))> = arrivals.iter().copied().enumerate().collect();
    arrivals.sort_by_key(|(n, (_, offset))| (*offset, *n));
    let mut latest = BTreeMap::new();
    for (n, (movie, offset)) in arrivals {
        let arrival = T0 + offset;
        let title = format!("edit {n}");
        let j = job(movie, &title);
        world.queue.enqueue(&j.key(), &j, arrival).unwrap();
        world.clock.nudge_at(arrival);
        latest.insert(movie, title);
    }
    latest
}

/// Closed → open transitions while Plex was ready (not an outage's doing).
fn opened_while_ready(world: &World) -> usize {
    world
        .events
        .iter()
        .filter(|e| match e {
            Event::Transition { transition: t, .. } => {
                t.from == State::Closed
                    && t.to == State::Open
                    && phase_at(&world.plex.script, t.at) == ServerPhase::Ready
            }
            _ => false,
        })
        .count()
}

fn phase_at(script: &[(u64, ServerPhase)], at: u64) -> ServerPhase {
    script
        .iter()
        .rev()
        .find(|(from, _)| *from <= at)
        .map_or(ServerPhase::Ready, |(_, p)| *p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Poison items (whose edits always get a 500 while everything else works) among good
    /// ones, through random outages: every good edit lands and none is given up on; every
    /// poison item spends its own retries and ends in the dead-letter queue as an item
    /// error; with one poison item, the breaker opens for it at most once.
    #[test]
    fn poison_items_end_as_their_own_failures_and_good_ones_all_land(
        script in outages(),
        poisoned in proptest::collection::btree_set(0..MOVIES, 1..=3),
        arrivals in proptest::collection::vec((0..MOVIES, 0..90 * MINUTE), 1..40),
        seed in any::<u64>(),
        default_policy in any::<bool>(),
    ) {
        let mut world = World::new(script.clone(), MOVIES);
        for movie in &poisoned {
            world.plex.poisoned.borrow_mut().insert(format!("/data/Movies/movie-{movie}.mkv"));
        }
        let latest = arrive(&mut world, &arrivals);
        world.clock.stop_at(T0 + 14 * HOUR);
        let policy = if default_policy { Policy::default() } else { quick() };
        let reason = world.run(policy, Mode::Run, seed);
        prop_assert_eq!(reason, StopReason::Requested);
        let dead = world.queue.dead_letters().unwrap();
        let dead_keys: Vec<&str> = dead.iter().map(|d| d.job.key.as_str()).collect();
        for (movie, title) in &latest {
            let key = format!("scene-{movie}");
            if poisoned.contains(movie) {
                let letter = dead.iter().find(|d| d.job.key == key);
                prop_assert!(letter.is_some(), "poison {} not dead-lettered: {:?}", key, dead_keys);
                prop_assert_eq!(&letter.unwrap().class, ErrorClass::ItemError.as_str());
            } else {
                let file = format!("/data/Movies/movie-{movie}.mkv");
                let items = world.plex.items.borrow();
                prop_assert_eq!(items[&file].title.as_deref(), Some(title.as_str()), "{}", key);
                prop_assert!(!dead_keys.contains(&key.as_str()), "good {} dead-lettered", key);
            }
        }
        prop_assert!(world.queue.jobs().unwrap().is_empty());
        let present: usize = poisoned.iter().filter(|m| latest.contains_key(m)).count();
        if present <= 1 {
            prop_assert!(opened_while_ready(&world) <= present, "{:?}", world.lines());
        }
        prop_assert_eq!(world.state().breaker.state(), State::Closed);
    }

    /// A drain with an outage limit against a server that goes bad in any way at a random
    /// moment: if it gives up, it does so `limit` after the first failure, never earlier,
    /// never much later (requests in flight included); it keeps every job.
    #[test]
    fn a_drain_waits_for_plex_exactly_as_long_as_its_limit(
        bad in outage_phase(),
        bad_at in 0..30 * SECOND,
        limit in SECOND..5 * MINUTE,
        jobs in 1..MOVIES,
        seed in any::<u64>(),
    ) {
        let mut world = World::new(vec![(T0 + bad_at, bad)], MOVIES);
        // Slower than any request would ever wait, like a real hang.
        world.plex.timeout_ms = 30 * SECOND;
        for i in 0..jobs {
            enqueue(&mut world.queue, &job(i, &format!("New {i}")), T0);
        }
        let mut policy = quick();
        policy.engine.job_timeout_ms = 45 * SECOND;
        policy.engine.visibility_ms = 90 * SECOND;
        policy.breaker = breaker_core::Config::builder()
            .failure_threshold(5)
            .permit_lease_ms(60 * SECOND)
            .build()
            .unwrap();
        policy.engine.max_outage_wait_ms = Some(limit);
        let reason = world.run(policy, Mode::Drain, seed);
        let stopped = world.clock.now();
        match reason {
            StopReason::OutageTooLong { since } => {
                // The first failing job began at most one job's time before Plex went bad.
                prop_assert!(since + 45 * SECOND >= T0 + bad_at, "{} < {}", since, T0 + bad_at);
                prop_assert!(stopped >= since + limit, "stopped {} ms early", since + limit - stopped);
                // A request that began before the limit answers within its latency.
                prop_assert!(
                    stopped <= since + limit + 100,
                    "stopped {} ms past the limit",
                    stopped - (since + limit)
                );
            }
            // Nothing was ready: every job left waits for its retry.
            StopReason::Drained => {
                let waiting = world.queue.stats(stopped).unwrap();
                prop_assert_eq!(waiting.ready_now, 0);
                if let Some(failing) = world.state().failing {
                    prop_assert!(stopped <= failing.since + limit + 100);
                }
            }
            other => prop_assert!(false, "stopped for {:?}", other),
        }
        prop_assert!(world.queue.dead_letters().unwrap().is_empty());
    }

    /// Jobs queued before random outages, each tried as often as the engine likes: every
    /// outage counts the jobs it held back once each, however many attempts they cost,
    /// and all of them (those whose failures tripped the breaker included).
    #[test]
    fn an_outage_counts_each_job_it_held_back_once(
        script in outages(),
        jobs in 1..MOVIES,
        seed in any::<u64>(),
        default_policy in any::<bool>(),
    ) {
        let mut world = World::new(script, MOVIES);
        for i in 0..jobs {
            enqueue(&mut world.queue, &job(i, &format!("New {i}")), T0);
        }
        world.clock.stop_at(T0 + 6 * HOUR);
        let policy = if default_policy { Policy::default() } else { quick() };
        world.run(policy, Mode::Run, seed);
        // Each closed outage against the failures the events show inside its span.
        for event in &world.events {
            let Event::OutageEnded { outage, .. } = event else { continue };
            let (from, to) = (outage.failing_since(), outage.ended_at.unwrap());
            let mut keys = std::collections::BTreeSet::new();
            let mut attempts = 0;
            for e in &world.events {
                if let Event::Job { at, key, outcome: engine::JobOutcome::Retry { class, .. } } = e {
                    if class.is_outage() && (from..=to).contains(at) {
                        keys.insert(key.clone());
                        attempts += 1;
                    }
                }
            }
            prop_assert_eq!(outage.jobs_affected as usize, keys.len(), "{} attempts", attempts);
            prop_assert!(keys.len() <= jobs);
        }
    }
}
