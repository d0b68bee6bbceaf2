//! The engine's driver and core through whole scenarios on a virtual clock: an outage from
//! first failure to drained backlog, a revoked token, files Plex has not scanned, bad jobs,
//! the predecessor's mechanics, and determinism. Nothing here sleeps.

mod support;

use breaker_core::{Cause, State};
use engine::{Clock, ErrorClass, Event, JobOutcome, Mode, Policy, StopReason};
use support::*;

const SECOND: u64 = 1_000;
const MINUTE: u64 = 60 * SECOND;

fn transitions(events: &[Event]) -> Vec<(State, State, Cause)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Transition { transition: t, .. } => Some((t.from, t.to, t.cause)),
            _ => None,
        })
        .collect()
}

/// Plex goes down for good at T0 + 10 s, comes back through its startup stages, and is
/// ready from T0 + 9 min.
fn restart_script() -> Vec<(u64, ServerPhase)> {
    vec![
        (T0 + 10 * SECOND, ServerPhase::Refused),
        (T0 + 5 * MINUTE, ServerPhase::Silent),
        (T0 + 5 * MINUTE + 20 * SECOND, ServerPhase::Maintenance),
        (T0 + 8 * MINUTE, ServerPhase::Starting),
        (T0 + 9 * MINUTE, ServerPhase::Ready),
    ]
}

#[test]
fn an_outage_is_ridden_through_and_every_edit_lands() {
    let mut world = World::new(restart_script(), 40);
    world.plex.watch = Some(world.state.clone());
    // Jobs queued while Plex is down, before the worker starts.
    world.clock.set(T0 + 20 * SECOND);
    for i in 0..40 {
        enqueue(
            &mut world.queue,
            &job(i, &format!("New {i}")),
            T0 + 20 * SECOND,
        );
    }
    let mut policy = quick();
    policy.ramp = scheduler::RampConfig::default();
    policy.engine.max_outage_wait_ms = None;
    let reason = world.run(policy, Mode::Drain, 7);
    assert_eq!(reason, StopReason::Drained);

    // Every edit reached Plex as intended, exactly once per job; nothing lost or dead.
    for (file, item) in world.plex.items.borrow().iter() {
        let i: usize = file
            .trim_start_matches("/data/Movies/movie-")
            .trim_end_matches(".mkv")
            .parse()
            .unwrap();
        assert_eq!(
            item.title.as_deref(),
            Some(format!("New {i}").as_str()),
            "{file}"
        );
    }
    assert_eq!(world.plex.seen.borrow().edits.len(), 40);
    assert!(world.queue.jobs().unwrap().is_empty());
    assert!(world.queue.dead_letters().unwrap().is_empty());

    // Every probe says when the next one is due: later than itself while Plex is down.
    let probes: Vec<(u64, bool, Option<u64>)> = world
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Probe { record, next_at } => Some((record.at, record.report.healthy, *next_at)),
            _ => None,
        })
        .collect();
    assert!(probes.len() >= 3, "{probes:?}");
    for (at, healthy, next) in &probes {
        if !healthy {
            assert!(next.is_some_and(|n| n > *at), "{probes:?}");
        }
    }

    // The breaker opened, a healthy probe let a trial through, trials closed it.
    assert_eq!(
        transitions(&world.events),
        [
            (State::Closed, State::Open, Cause::FailureThreshold),
            (State::Open, State::HalfOpen, Cause::ProbeHealthy),
            (State::HalfOpen, State::Closed, Cause::TrialsSucceeded),
        ]
    );
    let seen = world.plex.seen.borrow();
    // No job was sent while the breaker was open, and every trial was on disk as a lease
    // before its request went out.
    assert!(
        seen.breaker_at_request
            .iter()
            .all(|(state, _)| *state != State::Open),
        "a job went out while open"
    );
    for (state, trials) in &seen.breaker_at_request {
        if *state == State::HalfOpen {
            assert_eq!(*trials, 1, "a trial request without its stored permit");
        }
    }
    // One job reached a down Plex; the looks that followed it tripped the breaker: no queue
    // balloon, and no more jobs than the one that found the outage.
    let down_requests = seen
        .requests
        .iter()
        .filter(|(_, up, what)| *up != ServerPhase::Ready && *what == "sections")
        .count();
    assert_eq!(down_requests, 1);
    // The four looks after the failed job came at once; once the breaker was open, probes
    // backed off while nothing answered: 1, 2, 4, 8, 8, ... seconds.
    let refused: Vec<u64> = seen
        .probes
        .iter()
        .filter(|(_, up, _)| *up == ServerPhase::Refused)
        .map(|(at, _, _)| *at)
        .collect();
    let gaps: Vec<u64> = refused
        .windows(2)
        .map(|w| (w[1] - w[0]) / SECOND)
        .take(8)
        .collect();
    assert_eq!(gaps, [0, 0, 0, 1, 2, 4, 8, 8]);
    // Recovery was seen within one probe interval of Plex being ready.
    let first_edit = seen.edits.first().unwrap().2;
    assert!(
        (T0 + 9 * MINUTE..=T0 + 9 * MINUTE + 9 * SECOND).contains(&first_edit),
        "{first_edit}"
    );
    // The ramp paced the backlog once closed: a token to start, then 5 jobs a second.
    let closed_at = world
        .events
        .iter()
        .find_map(|e| match e {
            Event::Transition { transition: t, .. } if t.to == State::Closed => Some(t.at),
            _ => None,
        })
        .unwrap();
    let in_first_second = seen
        .edits
        .iter()
        .filter(|(_, _, at)| *at > closed_at && *at <= closed_at + SECOND)
        .count();
    assert!(
        in_first_second <= 6,
        "{in_first_second} jobs in the first second after closing"
    );

    // The outage is on record, closed.
    let state = world.state();
    assert_eq!(state.outages.count, 1);
    let outage = &state.outages.recent[0];
    assert_eq!(outage.ended_by.as_deref(), Some("recovered"));
    assert!(outage.started_at >= T0 + 20 * SECOND && outage.started_at < T0 + 21 * SECOND);
    assert!(outage.ended_at.unwrap() >= T0 + 9 * MINUTE);
    assert_eq!(outage.cause, "refused");
    assert!(outage.probes > 40);
    assert!(state.outages.current.is_none());
    assert_eq!(state.breaker.state(), State::Closed);
    // A few lines for the whole story, not one per probe.
    let lines = world.lines();
    assert!(lines.len() <= 12, "{lines:#?}");
}

#[test]
fn a_revoked_token_stops_at_once_and_loses_no_job() {
    let mut world = World::new(vec![(T0, ServerPhase::TokenRevoked)], 5);
    for i in 0..5 {
        enqueue(&mut world.queue, &job(i, "New"), T0);
    }
    let reason = world.run(quick(), Mode::Run, 1);
    let StopReason::Configuration(message) = &reason else {
        panic!("{reason:?}")
    };
    assert!(message.contains("token was refused"), "{message}");
    // No probing loop, and the breaker never counted it as an outage.
    assert!(world.plex.seen.borrow().probes.is_empty());
    let state = world.state();
    assert_eq!(state.breaker.state(), State::Closed);
    assert!(state.outages.current.is_none());
    assert!(state.halt.is_some());
    // Every job is still queued, no retry spent, none dead.
    let jobs = world.queue.jobs().unwrap();
    assert_eq!(jobs.len(), 5);
    assert!(jobs.iter().all(|j| j.attempts == 0));
    assert!(world.queue.dead_letters().unwrap().is_empty());
    assert!(
        world
            .lines()
            .iter()
            .any(|l| l.starts_with("stopped: Plex at"))
    );
}

#[test]
fn a_file_plex_has_not_scanned_gets_one_partial_scan_per_folder() {
    let mut world = World::new(vec![], 0);
    for i in 0..3 {
        let file = format!("/data/Movies/new/movie-{i}.mkv");
        world.plex.unscanned.borrow_mut().insert(
            file.clone(),
            item(&format!("{}", 500 + i), "Unscanned", &file),
        );
        let mut job = job(i, &format!("Fresh {i}"));
        job.files = vec![file];
        enqueue(&mut world.queue, &job, T0);
    }
    let mut policy = quick();
    policy.retry.not_found = scheduler::RetryRule::Backoff {
        backoff: scheduler::Backoff::new(30_000, 2.0, 600_000, scheduler::Jitter::None).unwrap(),
        max_retries: 12,
    };
    // A long-running worker ends only when stopped.
    world.clock.stop_at(T0 + 10 * MINUTE);
    let reason = world.run(policy, Mode::Run, 3);
    assert_eq!(reason, StopReason::Requested);
    let seen = world.plex.seen.borrow();
    assert_eq!(
        seen.scans.len(),
        1,
        "one scan for the folder: {:?}",
        seen.scans
    );
    assert_eq!(seen.scans[0].1, "/data/Movies/new");
    assert_eq!(seen.edits.len(), 3, "found after the scan and synced");
    let retried: Vec<&Event> = world
        .events
        .iter()
        .filter(|e| matches!(e, Event::Job { outcome: JobOutcome::Retry { class, counted: true, .. }, .. } if *class == ErrorClass::NotFound))
        .collect();
    // The first job's miss brought the scan; the other two were found at once.
    assert_eq!(retried.len(), 1);
    assert!(world.queue.jobs().unwrap().is_empty());
}

#[test]
fn a_settling_drain_waits_for_a_retry_due_soon_and_a_plain_one_stops() {
    for settle in [None, Some(10 * MINUTE), Some(10 * SECOND)] {
        let mut world = World::new(vec![], 0);
        let file = "/data/Movies/new/movie-0.mkv".to_owned();
        world
            .plex
            .unscanned
            .borrow_mut()
            .insert(file.clone(), item("500", "Unscanned", &file));
        let mut fresh = job(0, "Fresh");
        fresh.files = vec![file];
        enqueue(&mut world.queue, &fresh, T0);
        let mut policy = quick();
        policy.retry.not_found = scheduler::RetryRule::Backoff {
            backoff: scheduler::Backoff::new(30_000, 2.0, 600_000, scheduler::Jitter::None)
                .unwrap(),
            max_retries: 12,
        };
        policy.engine.settle_ms = settle;
        let reason = world.run(policy, Mode::Drain, 5);
        assert_eq!(reason, StopReason::Drained, "{settle:?}");
        let synced = world.plex.seen.borrow().edits.len();
        match settle {
            // The retry 30 s after the scan is within 10 minutes: waited for, and synced.
            Some(window) if window >= 30 * SECOND => {
                assert_eq!(synced, 1, "{settle:?}");
                assert!(world.queue.jobs().unwrap().is_empty());
                let waited = world.clock.now() - T0;
                assert!((30 * SECOND..MINUTE).contains(&waited), "{waited}");
            }
            // Nothing waits: the job stays queued for its retry.
            _ => {
                assert_eq!(synced, 0, "{settle:?}");
                assert_eq!(world.queue.jobs().unwrap().len(), 1);
                assert!(world.clock.now() - T0 < 30 * SECOND);
            }
        }
    }
}

#[test]
fn a_rejected_edit_and_a_job_that_makes_no_sense_go_to_the_dead_letters_at_once() {
    let mut world = World::new(vec![], 2);
    world
        .plex
        .rejects
        .borrow_mut()
        .insert("/data/Movies/movie-0.mkv".into());
    enqueue(&mut world.queue, &job(0, "Nope"), T0);
    enqueue(&mut world.queue, &job(1, "Fine"), T0);
    world
        .queue
        .enqueue("scene-x", &serde_json::json!({"what": "no"}), T0)
        .unwrap();
    assert_eq!(world.run(quick(), Mode::Drain, 1), StopReason::Drained);
    let dead = world.queue.dead_letters().unwrap();
    let classes: Vec<&str> = dead.iter().map(|d| d.class.as_str()).collect();
    assert_eq!(classes, ["permanent", "invalid_job"]);
    assert!(
        dead[1].error.contains("not a sync job"),
        "{}",
        dead[1].error
    );
    assert_eq!(
        world.plex.items.borrow()["/data/Movies/movie-1.mkv"]
            .title
            .as_deref(),
        Some("Fine")
    );
    assert_eq!(
        world.state().breaker.state(),
        State::Closed,
        "not Plex's health"
    );
}

#[test]
fn a_drain_does_not_wait_for_a_plex_that_has_no_work_to_do() {
    // Plex is down and the queue is empty: nothing to wait for.
    let mut world = World::new(vec![(T0, ServerPhase::Refused)], 0);
    assert_eq!(world.run(quick(), Mode::Drain, 1), StopReason::Drained);
    assert!(world.plex.seen.borrow().probes.is_empty());
    // Plex is down with jobs waiting: a drain waits, up to its limit.
    let mut world = World::new(vec![(T0, ServerPhase::Refused)], 3);
    for i in 0..3 {
        enqueue(&mut world.queue, &job(i, "x"), T0);
    }
    let mut policy = quick();
    policy.engine.max_outage_wait_ms = Some(10 * MINUTE);
    let reason = world.run(policy, Mode::Drain, 1);
    assert!(
        matches!(reason, StopReason::OutageTooLong { .. }),
        "{reason:?}"
    );
    assert!(world.clock_now() >= T0 + 10 * MINUTE);
    assert_eq!(world.queue.jobs().unwrap().len(), 3, "the jobs stay queued");
    assert!(world.queue.jobs().unwrap().iter().all(|j| j.attempts == 0));
}

#[test]
fn a_long_outage_costs_a_handful_of_lines() {
    let mut world = World::new(
        vec![
            (T0, ServerPhase::Refused),
            (T0 + 8 * 60 * MINUTE, ServerPhase::Ready),
        ],
        1,
    );
    enqueue(&mut world.queue, &job(0, "Late"), T0);
    let mut policy = Policy::default();
    policy.engine.max_outage_wait_ms = None;
    assert_eq!(world.run(policy, Mode::Drain, 9), StopReason::Drained);
    let lines = world.lines();
    assert!(lines.len() <= 20, "{} lines: {lines:#?}", lines.len());
    assert!(lines.iter().any(|l| l.starts_with("Plex still down after")));
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Plex is back after 8 h")),
        "{lines:#?}"
    );
    assert_eq!(
        world.plex.items.borrow()["/data/Movies/movie-0.mkv"]
            .title
            .as_deref(),
        Some("Late")
    );
}

#[test]
fn the_predecessors_probes_only_inform() {
    // Down from the start for 3 minutes: the predecessor leaves OPEN only when its 60 s
    // wait is over, however healthy its probes.
    let mut world = World::new(
        vec![
            (T0, ServerPhase::Refused),
            (T0 + 30 * SECOND, ServerPhase::Ready),
        ],
        6,
    );
    for i in 0..6 {
        enqueue(&mut world.queue, &job(i, "P"), T0);
    }
    assert_eq!(
        world.run(Policy::predecessor_settings(), Mode::Drain, 4),
        StopReason::Drained
    );
    let moves = transitions(&world.events);
    assert_eq!(
        moves[0],
        (State::Closed, State::Open, Cause::FailureThreshold)
    );
    assert_eq!(
        moves[1],
        (State::Open, State::HalfOpen, Cause::OpenWaitElapsed),
        "{moves:?}"
    );
    let opened = world.state().outages.recent[0].started_at;
    let first_edit = world.plex.seen.borrow().edits[0].2;
    assert!(
        first_edit >= opened + 60 * SECOND,
        "no job before the 60 s open wait"
    );
    // Its probes stop at /identity.
    assert!(
        world
            .plex
            .seen
            .borrow()
            .probes
            .iter()
            .all(|(_, _, depth)| *depth == engine::ProbeDepth::Identity)
    );
    assert_eq!(world.plex.seen.borrow().edits.len(), 6);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut world = World::new(restart_script(), 10);
        world.clock.set(T0 + 20 * SECOND);
        for i in 0..10 {
            enqueue(&mut world.queue, &job(i, "S"), T0 + 20 * SECOND);
        }
        let mut policy = Policy::default();
        policy.engine.max_outage_wait_ms = None;
        // Jitter everywhere, and no early cap that would hide it.
        policy.probes = scheduler::ProbePlan::uniform(
            scheduler::Backoff::new(5_000, 2.0, 60_000, scheduler::Jitter::Equal).unwrap(),
        );
        world.run(policy, Mode::Drain, seed);
        (
            world.events.iter().map(Event::render).collect::<Vec<_>>(),
            world.plex.seen.borrow().probes.len(),
        )
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0, "jitter depends on the seed");
}

#[test]
fn a_clock_that_steps_back_during_an_outage_stalls_nothing() {
    let mut world = World::new(
        vec![
            (T0, ServerPhase::Refused),
            (T0 + 2 * MINUTE, ServerPhase::Ready),
        ],
        2,
    );
    for i in 0..2 {
        enqueue(&mut world.queue, &job(i, "Stepped"), T0);
    }
    let mut policy = quick();
    policy.engine.max_outage_wait_ms = None;
    // A probe from a plexsync that ran a day ahead left its state behind.
    world.state.0.borrow_mut().probe.next_at = Some(T0 + 86_400_000);
    let reason = world.run(policy, Mode::Drain, 2);
    assert_eq!(reason, StopReason::Drained);
    let edits = &world.plex.seen.borrow().edits;
    assert_eq!(edits.len(), 2);
    assert!(
        edits[0].2 < T0 + 3 * MINUTE,
        "recovered within a probe interval: {}",
        edits[0].2
    );
}

impl World {
    fn clock_now(&self) -> u64 {
        engine::Clock::now(&self.clock)
    }
}
