//! The decision core stepped by hand: each test feeds inputs and reads the actions, as
//! quinn-proto's tests do with a connection. No driver, no Plex, no clock but `now`.

use breaker_core::State;
use engine::{
    Action, Disposition, Engine, EngineState, ErrorClass, Event, Finished, Input, JobOutcome, Mode,
    Policy, ProbeDepth, QueueCounts, StopReason, SyncJob, SyncResult, Synced,
};
use persist::Queue;
use plex_client::{FailureKind, HealthReport, Identity, MetadataEdit, PlexError, Stage};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const T0: u64 = 1_700_000_000_000;

/// The defaults, but a failed job is followed by the next job rather than a look: five jobs
/// trip the breaker, as these tests step it.
fn jobs_trip() -> Policy {
    let mut policy = Policy::default();
    policy.engine.probe_after_failure = false;
    policy
}

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(5)
}

fn job(scene: &str) -> SyncJob {
    SyncJob {
        scene_id: scene.into(),
        files: vec![format!("/data/Movies/{scene}.mkv")],
        edit: MetadataEdit {
            title: Some("T".into()),
            ..MetadataEdit::default()
        },
        edited_at: T0,
    }
}

fn leased(queue: &mut Queue, scene: &str) -> persist::Job {
    let j = job(scene);
    queue.enqueue(&j.key(), &j, T0).unwrap();
    queue.lease(60_000, T0).unwrap().unwrap().job
}

/// The job of `scene`, in flight, landed with `result` (its time not measured: no sample
/// for the pacer).
fn landed(scene: &str, result: SyncResult) -> Input {
    Input::Synced {
        key: job(scene).key(),
        synced: Synced::new(result, std::time::Duration::ZERO, 0),
    }
}

fn refused() -> PlexError {
    PlexError::new(FailureKind::Refused, "http://plex:32400/", "refused")
}

fn identity() -> Identity {
    Identity {
        machine_id: "m".into(),
        version: "1".into(),
        claimed: true,
    }
}

/// Drives one job through Take → Sync → Finish with `result`; returns the disposition.
fn one_job(
    engine: &mut Engine,
    state: &mut EngineState,
    queue: &mut Queue,
    scene: &str,
    result: SyncResult,
    now: u64,
) -> Disposition {
    let mut rng = rng();
    assert!(matches!(
        engine.poll(state, now, &mut rng),
        Action::Take { .. }
    ));
    engine
        .handle(
            state,
            Input::Taken(Some(leased(queue, scene))),
            now,
            &mut rng,
        )
        .unwrap();
    assert!(matches!(
        engine.poll(state, now, &mut rng),
        Action::Sync { .. }
    ));
    engine
        .handle(state, landed(scene, result), now, &mut rng)
        .unwrap();
    let Action::Finish { disposition, .. } = engine.poll(state, now, &mut rng) else {
        panic!("expected a finish")
    };
    engine
        .handle(state, Input::Finished(Finished::Done), now, &mut rng)
        .unwrap();
    disposition
}

fn trip(engine: &mut Engine, state: &mut EngineState, queue: &mut Queue) {
    for i in 0..5 {
        let failed = SyncResult::Failed {
            error: refused(),
            scan: None,
        };
        one_job(engine, state, queue, &format!("s{i}"), failed, T0 + i);
    }
}

#[test]
fn server_down_spends_no_retry_and_five_trip_the_breaker() {
    let mut engine = Engine::new(jobs_trip(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    let failed = SyncResult::Failed {
        error: refused(),
        scan: None,
    };
    let d = one_job(&mut engine, &mut state, &mut queue, "a", failed, T0);
    assert!(
        matches!(d, Disposition::Retry { counted: false, class: ErrorClass::ServerDown, at, .. } if at == T0)
    );
    assert_eq!(state.breaker.state(), State::Closed);
    for i in 1..5 {
        let failed = SyncResult::Failed {
            error: refused(),
            scan: None,
        };
        one_job(
            &mut engine,
            &mut state,
            &mut queue,
            &format!("b{i}"),
            failed,
            T0 + i,
        );
    }
    assert_eq!(state.breaker.state(), State::Open);
    let outage = state.outages.current.as_ref().unwrap();
    assert_eq!(outage.cause, "refused");
    assert_eq!(outage.jobs_affected, 5, "the failures that tripped it");
    // Open: the next action is never a Take (no queue balloon), but a wait for the probe.
    let Action::Wait { until } = engine.poll(&mut state, T0 + 10, &mut rng()) else {
        panic!()
    };
    assert!(until > T0 + 10 && until <= T0 + 10 + 5_000, "{until}");
    assert!(matches!(
        engine.poll(&mut state, until, &mut rng()),
        Action::Probe {
            depth: ProbeDepth::Library,
            ..
        }
    ));
}

#[test]
fn a_healthy_probe_lets_one_trial_through_and_two_close() {
    let mut engine = Engine::new(jobs_trip(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    trip(&mut engine, &mut state, &mut queue);
    let mut now = T0 + 60;
    let Action::Wait { until } = engine.poll(&mut state, now, &mut rng()) else {
        panic!()
    };
    now = until;
    assert!(matches!(
        engine.poll(&mut state, now, &mut rng()),
        Action::Probe { .. }
    ));
    engine
        .handle(
            &mut state,
            Input::Probed(HealthReport::passed(identity(), Default::default())),
            now,
            &mut rng(),
        )
        .unwrap();
    assert_eq!(state.breaker.state(), State::HalfOpen);
    assert!(matches!(
        engine.poll(&mut state, now, &mut rng()),
        Action::Take { .. }
    ));
    engine
        .handle(
            &mut state,
            Input::Taken(Some(leased(&mut queue, "t1"))),
            now,
            &mut rng(),
        )
        .unwrap();
    assert!(matches!(
        engine.poll(&mut state, now, &mut rng()),
        Action::Sync { .. }
    ));
    // The poll that asks for the sync took the permit: it is stored with the state the
    // driver writes back before it sends anything.
    let stored = breaker_core::Breaker::restore(engine.policy().breaker, state.breaker);
    assert_eq!(stored.trials_in_flight(), 1);
    engine
        .handle(
            &mut state,
            landed("t1", SyncResult::Unchanged),
            now,
            &mut rng(),
        )
        .unwrap();
    assert!(matches!(
        engine.poll(&mut state, now, &mut rng()),
        Action::Finish {
            disposition: Disposition::Ack,
            ..
        }
    ));
    engine
        .handle(&mut state, Input::Finished(Finished::Done), now, &mut rng())
        .unwrap();
    assert_eq!(
        state.breaker.state(),
        State::HalfOpen,
        "one success is not enough"
    );
    one_job(
        &mut engine,
        &mut state,
        &mut queue,
        "t2",
        SyncResult::Unchanged,
        now + 1,
    );
    assert_eq!(state.breaker.state(), State::Closed);
    assert!(state.outages.current.is_none());
    assert_eq!(
        state.outages.recent[0].ended_by.as_deref(),
        Some("recovered")
    );
    // Recovery is graduated: the pacer starts over at one job at a time.
    assert_eq!(engine.pace(), engine.policy().pace.initial);
}

#[test]
fn a_long_running_worker_sleeps_until_a_retry_is_due_or_a_job_arrives() {
    let mut engine = Engine::new(jobs_trip(), Mode::Run);
    let mut state = EngineState::default();
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng()),
        Action::Take { .. }
    ));
    engine
        .handle(&mut state, Input::Taken(None), T0, &mut rng())
        .unwrap();
    assert_eq!(engine.poll(&mut state, T0, &mut rng()), Action::Inspect);
    let counts = QueueCounts {
        ready: 0,
        waiting: 1,
        earliest_retry_at: Some(T0 + 25_000),
    };
    engine
        .handle(&mut state, Input::Inspected(counts), T0, &mut rng())
        .unwrap();
    assert_eq!(
        engine.poll(&mut state, T0, &mut rng()),
        Action::Wait { until: T0 + 25_000 }
    );
    // Woken early (a job was queued): look at once.
    engine
        .handle(&mut state, Input::Nudged, T0 + 3_000, &mut rng())
        .unwrap();
    assert!(matches!(
        engine.poll(&mut state, T0 + 3_000, &mut rng()),
        Action::Take { .. }
    ));
    // Nothing waiting at all: sleep until the recheck, not in a polling loop.
    engine
        .handle(&mut state, Input::Taken(None), T0 + 3_000, &mut rng())
        .unwrap();
    assert_eq!(
        engine.poll(&mut state, T0 + 3_000, &mut rng()),
        Action::Inspect
    );
    engine
        .handle(
            &mut state,
            Input::Inspected(QueueCounts::default()),
            T0 + 3_000,
            &mut rng(),
        )
        .unwrap();
    let recheck = engine.policy().engine.idle_recheck_ms;
    assert_eq!(
        engine.poll(&mut state, T0 + 3_000, &mut rng()),
        Action::Wait {
            until: T0 + 3_000 + recheck
        }
    );
    assert!(matches!(
        engine.poll(&mut state, T0 + 3_000 + recheck, &mut rng()),
        Action::Take { .. }
    ));
}

#[test]
fn an_outage_another_process_ended_is_closed_here_too() {
    let mut engine = Engine::new(jobs_trip(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    trip(&mut engine, &mut state, &mut queue);
    assert!(state.outages.current.is_some());
    // `plexsync breaker reset` in another process: the breaker closes, nothing else.
    let mut breaker = breaker_core::Breaker::restore(engine.policy().breaker, state.breaker);
    let _ = breaker.reset(T0 + 90_000);
    state.breaker = breaker.snapshot();
    let _ = engine.poll(&mut state, T0 + 100_000, &mut rng());
    assert!(state.outages.current.is_none(), "never ongoing forever");
    let closed = &state.outages.recent[0];
    assert_eq!(closed.ended_at, Some(T0 + 90_000));
    assert_eq!(
        closed.ended_by.as_deref(),
        Some("closed by another process")
    );
    let mut events = Vec::new();
    while let Some(e) = engine.poll_event() {
        events.push(e);
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::OutageEnded { .. }))
    );
}

#[test]
fn a_probe_that_finds_the_token_refused_stops_the_engine() {
    let mut engine = Engine::new(jobs_trip(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    trip(&mut engine, &mut state, &mut queue);
    let Action::Wait { until } = engine.poll(&mut state, T0 + 60, &mut rng()) else {
        panic!()
    };
    assert!(matches!(
        engine.poll(&mut state, until, &mut rng()),
        Action::Probe { .. }
    ));
    let unauthorized = PlexError::new(
        FailureKind::Unauthorized,
        "http://plex:32400/library/sections",
        "HTTP 401",
    );
    let report = HealthReport::failed_at(
        Stage::Library,
        unauthorized,
        Some(identity()),
        Default::default(),
    );
    engine
        .handle(&mut state, Input::Probed(report), until, &mut rng())
        .unwrap();
    let Action::Stop(StopReason::Configuration(message)) =
        engine.poll(&mut state, until, &mut rng())
    else {
        panic!()
    };
    assert!(message.contains("token was refused"));
    assert_eq!(state.halt.as_ref().unwrap().message, message);
}

#[test]
fn a_job_another_process_took_over_is_left_to_it() {
    let mut engine = Engine::new(jobs_trip(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng()),
        Action::Take { .. }
    ));
    engine
        .handle(
            &mut state,
            Input::Taken(Some(leased(&mut queue, "x"))),
            T0,
            &mut rng(),
        )
        .unwrap();
    let _ = engine.poll(&mut state, T0, &mut rng());
    engine
        .handle(
            &mut state,
            landed("x", SyncResult::Unchanged),
            T0,
            &mut rng(),
        )
        .unwrap();
    let _ = engine.poll(&mut state, T0, &mut rng());
    engine
        .handle(
            &mut state,
            Input::Finished(Finished::LeaseLost),
            T0,
            &mut rng(),
        )
        .unwrap();
    assert_eq!(engine.stats().lease_lost, 1);
    let mut lost = false;
    while let Some(e) = engine.poll_event() {
        if let Event::Job {
            outcome: JobOutcome::LeaseLost,
            ..
        } = &e
        {
            lost = true;
            assert_eq!(e.level(), engine::Level::Debug, "not an error");
        }
    }
    assert!(lost);
    assert!(matches!(
        engine.poll(&mut state, T0, &mut rng()),
        Action::Take { .. }
    ));
}

#[test]
fn outage_failures_never_reach_the_dead_letters_unless_the_policy_says_so() {
    let maintenance = || SyncResult::Failed {
        error: PlexError::new(FailureKind::Maintenance, "http://plex:32400/", "HTTP 503"),
        scan: None,
    };
    for (policy, dead_after) in [
        (Policy::default(), None),
        (Policy::predecessor_settings(), Some(5)),
    ] {
        let mut engine = Engine::new(policy, Mode::Run);
        let mut queue = Queue::in_memory();
        let mut seen_dead = None;
        for round in 0..8u32 {
            // One job failing again and again, each time in a fresh breaker (as across many
            // outages), with its attempts as the queue counts them.
            let mut state = EngineState::default();
            let j = job("same");
            if round == 0 {
                queue.enqueue(&j.key(), &j, T0).unwrap();
            }
            let Some(lease) = queue
                .lease(60_000, T0 + 10_000_000 * u64::from(round))
                .unwrap()
            else {
                break;
            };
            let now = T0 + 10_000_000 * u64::from(round);
            let _ = engine.poll(&mut state, now, &mut rng());
            engine
                .handle(
                    &mut state,
                    Input::Taken(Some(lease.job.clone())),
                    now,
                    &mut rng(),
                )
                .unwrap();
            let _ = engine.poll(&mut state, now, &mut rng());
            engine
                .handle(
                    &mut state,
                    Input::Synced {
                        key: lease.job.key.clone(),
                        synced: Synced::new(maintenance(), std::time::Duration::ZERO, 0),
                    },
                    now,
                    &mut rng(),
                )
                .unwrap();
            let Action::Finish { disposition: d, .. } = engine.poll(&mut state, now, &mut rng())
            else {
                panic!()
            };
            engine::JobStore::finish(&mut queue, &lease, &d, now).unwrap();
            engine
                .handle(&mut state, Input::Finished(Finished::Done), now, &mut rng())
                .unwrap();
            if matches!(d, Disposition::DeadLetter { .. }) {
                seen_dead = Some(round);
            }
        }
        assert_eq!(seen_dead, dead_after);
    }
}

#[test]
fn a_reset_by_hand_ends_the_outage_and_an_open_by_hand_is_not_one() {
    let policy = jobs_trip();
    let mut engine = Engine::new(policy.clone(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    trip(&mut engine, &mut state, &mut queue);
    let events = engine::reset_breaker(&mut state, &policy, T0 + 50_000);
    assert_eq!(state.breaker.state(), State::Closed);
    assert!(state.outages.current.is_none());
    assert_eq!(state.outages.recent[0].ended_by.as_deref(), Some("reset"));
    assert!(matches!(events.last(), Some(Event::OutageEnded { .. })));
    let events = engine::force_open_breaker(&mut state, &policy, T0 + 60_000);
    assert_eq!(events.len(), 1);
    assert_eq!(state.breaker.state(), State::ForcedOpen);
    assert!(
        state.outages.current.is_none(),
        "opening by hand is not an outage"
    );
    // A drain does not wait on a breaker opened by hand.
    let mut drain = Engine::new(policy.clone(), Mode::Drain);
    assert_eq!(
        drain.poll(&mut state, T0 + 61_000, &mut rng()),
        Action::Stop(StopReason::ForcedOpen)
    );
    // Opening twice changes nothing; a reset closes it again.
    assert!(engine::force_open_breaker(&mut state, &policy, T0 + 62_000).is_empty());
    engine::reset_breaker(&mut state, &policy, T0 + 63_000);
    assert_eq!(state.breaker.state(), State::Closed);
}

#[test]
fn after_a_failed_job_the_engine_looks_before_the_next_and_its_looks_count() {
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let mut queue = Queue::in_memory();
    let mut rng = rng();
    let failed = SyncResult::Failed {
        error: refused(),
        scan: None,
    };
    one_job(&mut engine, &mut state, &mut queue, "a", failed, T0);
    let refused_probe =
        || HealthReport::failed_at(Stage::Connect, refused(), None, Default::default());
    // Four failed looks open it: one job and four probes are the five failures.
    for i in 0..4 {
        let now = T0 + 10 + i;
        assert!(
            matches!(engine.poll(&mut state, now, &mut rng), Action::Probe { .. }),
            "look {i}"
        );
        assert_eq!(state.breaker.state(), State::Closed);
        engine
            .handle(&mut state, Input::Probed(refused_probe()), now, &mut rng)
            .unwrap();
    }
    assert_eq!(state.breaker.state(), State::Open);

    // A look that finds Plex healthy clears the count: the next is a job.
    let mut engine = Engine::new(Policy::default(), Mode::Run);
    let mut state = EngineState::default();
    let failed = SyncResult::Failed {
        error: refused(),
        scan: None,
    };
    one_job(&mut engine, &mut state, &mut queue, "b", failed, T0);
    assert!(matches!(
        engine.poll(&mut state, T0 + 20, &mut rng),
        Action::Probe { .. }
    ));
    engine
        .handle(
            &mut state,
            Input::Probed(HealthReport::passed(identity(), Default::default())),
            T0 + 20,
            &mut rng,
        )
        .unwrap();
    let breaker = breaker_core::Breaker::restore(engine.policy().breaker, state.breaker);
    assert_eq!(breaker.consecutive_failures(), 0);
    assert!(matches!(
        engine.poll(&mut state, T0 + 21, &mut rng),
        Action::Take { .. }
    ));
}
