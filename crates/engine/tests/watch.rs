//! The watch's notices, stepped by hand through the decision core: a socket that closes makes
//! the probes look at once, an announced optimisation holds back what needs the library, and
//! the defaults blind to Plex's rhythm ignore both.

use breaker_core::State;
use engine::{Action, Engine, EngineState, Input, Mode, Notice, Policy, WatchVia};
use persist::Queue;
use plex_client::{FailureKind, HealthReport, Identity, PlexError, Stage};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const T0: u64 = 1_700_000_000_000;

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(9)
}

fn refused() -> HealthReport {
    HealthReport::failed_at(
        Stage::Connect,
        PlexError::new(FailureKind::Refused, "http://plex:32400/", "refused"),
        None,
        Default::default(),
    )
}

fn healthy() -> HealthReport {
    HealthReport::passed(
        Identity {
            machine_id: "m".into(),
            version: "1".into(),
            claimed: true,
        },
        Default::default(),
    )
}

fn notice(engine: &mut Engine, state: &mut EngineState, n: Notice, now: u64) {
    engine
        .handle(state, Input::Notice(n), now, &mut rng())
        .unwrap();
}

/// From `now`, answers every probe the engine asks for with a refused connection until the
/// breaker opens; the time then, and how many probes it took (at most the threshold).
fn probe_refused_until_open(engine: &mut Engine, state: &mut EngineState, now: u64) -> (u64, u32) {
    let mut rng = rng();
    let (mut now, mut probes) = (now, 0);
    while state.breaker.state() == State::Closed {
        let action = engine.poll(state, now, &mut rng);
        assert!(matches!(action, Action::Probe { .. }), "{action:?}");
        engine
            .handle(state, Input::Probed(refused()), now, &mut rng)
            .unwrap();
        probes += 1;
        now += 1;
        assert!(probes <= 5, "the breaker opens at its threshold");
    }
    (now, probes)
}

fn optimising(id: &str) -> Notice {
    Notice::Activity {
        id: id.into(),
        title: "Optimizing database".into(),
        optimising: true,
    }
}

#[test]
fn a_lost_socket_makes_the_probes_look_at_once_and_they_open_the_breaker() {
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let mut rng = rng();
    notice(
        &mut engine,
        &mut state,
        Notice::Connected {
            via: WatchVia::Socket,
        },
        T0,
    );
    // Idle: nothing queued, the engine finds nothing to take and would wait.
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng),
        Action::Take { .. }
    ));
    engine
        .handle(&mut state, Input::Taken(None), T0, &mut rng)
        .unwrap();
    assert_eq!(engine.poll(&mut state, T0, &mut rng), Action::Inspect);
    engine
        .handle(
            &mut state,
            Input::Inspected(Default::default()),
            T0,
            &mut rng,
        )
        .unwrap();
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng),
        Action::Wait { .. }
    ));
    notice(&mut engine, &mut state, Notice::Lost, T0 + 10);
    assert!(!state.watch.as_ref().unwrap().connected);
    // Every probe that fails counts as a call: the breaker opens at its threshold, within
    // the time five refused connections take, before any job met the outage.
    let (_, probes) = probe_refused_until_open(&mut engine, &mut state, T0 + 10);
    assert_eq!(probes, 5);
    assert_eq!(state.breaker.state(), State::Open);
    assert!(state.outages.current.is_some());
}

#[test]
fn a_lost_socket_over_a_healthy_plex_changes_nothing() {
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let mut rng = rng();
    notice(&mut engine, &mut state, Notice::Lost, T0);
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng),
        Action::Probe { .. }
    ));
    engine
        .handle(&mut state, Input::Probed(healthy()), T0, &mut rng)
        .unwrap();
    assert_eq!(state.breaker.state(), State::Closed);
    assert_eq!(
        breaker_core::Breaker::restore(Policy::default().breaker, state.breaker)
            .consecutive_failures(),
        0
    );
    assert!(state.outages.current.is_none());
}

#[test]
fn an_announced_optimisation_holds_jobs_until_plex_says_it_is_over() {
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let mut rng = rng();
    let mut queue = Queue::in_memory();
    let job = engine::SyncJob {
        scene_id: "1".into(),
        files: vec!["/m/1.mkv".into()],
        edit: Default::default(),
        edited_at: T0,
    };
    queue.enqueue(&job.key(), &job, T0).unwrap();
    notice(&mut engine, &mut state, optimising("opt-1"), T0);
    // A scan is only busy: it holds nothing back.
    notice(
        &mut engine,
        &mut state,
        Notice::Activity {
            id: "scan".into(),
            title: "Scanning Movies".into(),
            optimising: false,
        },
        T0,
    );
    engine
        .handle(&mut state, Input::Nudged, T0, &mut rng)
        .unwrap();
    // A job is ready, and yet nothing that needs the library goes out.
    let Action::Wait { until } = engine.poll(&mut state, T0 + 1, &mut rng) else {
        panic!("jobs wait while Plex optimises")
    };
    assert!(until > T0 + 1);
    // The scan is shown as keeping Plex busy, and its end changes nothing else; the
    // optimisation's end frees the jobs.
    let busy = &state.watch.as_ref().unwrap().busy;
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].title, "Scanning Movies");
    notice(
        &mut engine,
        &mut state,
        Notice::ActivityEnded { id: "scan".into() },
        T0 + 5,
    );
    assert!(state.watch.as_ref().unwrap().busy.is_empty());
    assert!(matches!(
        engine.poll(&mut state, T0 + 5, &mut rng),
        Action::Wait { .. }
    ));
    notice(
        &mut engine,
        &mut state,
        Notice::ActivityEnded { id: "opt-1".into() },
        T0 + 60_000,
    );
    let action = engine.poll(&mut state, T0 + 60_000, &mut rng);
    assert!(
        matches!(action, Action::Take { .. } | Action::Inspect),
        "{action:?}"
    );
    assert!(state.watch.as_ref().unwrap().optimising.is_none());
}

#[test]
fn a_missed_end_is_found_by_a_deep_look_now_and_then() {
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let mut rng = rng();
    notice(&mut engine, &mut state, optimising("opt-1"), T0);
    let Action::Wait { until } = engine.poll(&mut state, T0, &mut rng) else {
        panic!("waits")
    };
    // At the look, a deep probe; a healthy one ends the hold.
    let action = engine.poll(&mut state, until, &mut rng);
    assert!(
        matches!(
            action,
            Action::Probe {
                depth: engine::ProbeDepth::Library,
                ..
            }
        ),
        "{action:?}"
    );
    engine
        .handle(&mut state, Input::Probed(healthy()), until, &mut rng)
        .unwrap();
    assert!(state.watch.as_ref().unwrap().optimising.is_none());
    assert!(!matches!(
        engine.poll(&mut state, until, &mut rng),
        Action::Wait { .. }
    ));
}

#[test]
fn plex_answering_again_is_looked_at_at_once_while_the_breaker_is_open() {
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let mut rng = rng();
    notice(&mut engine, &mut state, Notice::Lost, T0);
    let (now, _) = probe_refused_until_open(&mut engine, &mut state, T0);
    // Open: the schedule's next probe is seconds away...
    let Action::Wait { until } = engine.poll(&mut state, now, &mut rng) else {
        panic!("waits for the next probe")
    };
    assert!(until > now);
    // ... but the socket getting through again is a reason to look now.
    notice(
        &mut engine,
        &mut state,
        Notice::Connected {
            via: WatchVia::Socket,
        },
        now + 1,
    );
    assert!(matches!(
        engine.poll(&mut state, now + 1, &mut rng),
        Action::Probe { .. }
    ));
}

#[test]
fn the_blind_defaults_hear_nothing() {
    let mut engine = Engine::new(Policy::window_blind(), Mode::Run);
    let mut state = EngineState::default();
    let mut rng = rng();
    notice(&mut engine, &mut state, Notice::Lost, T0);
    notice(&mut engine, &mut state, optimising("opt-1"), T0);
    assert_eq!(state.watch, None);
    // No probe asked for, no job held back.
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng),
        Action::Take { .. }
    ));
}
