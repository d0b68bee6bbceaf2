//! Worked examples of each rule, one behaviour per test.

use breaker_core::{
    Breaker, Cause, Config, Decision, FailureClass, Health, MAX_HALF_OPEN_PERMITS, Outcome, Permit,
    Rejection, Snapshot, State, Transition,
};

const T0: u64 = 1_700_000_000_000;
const OUTAGE: Outcome = Outcome::Failure(FailureClass::Outage);
const OTHER: Outcome = Outcome::Failure(FailureClass::Other);

fn permit(b: &mut Breaker, now: u64) -> Permit {
    match b.acquire(now).decision {
        Decision::Permit(p) => p,
        Decision::Reject(r) => panic!("expected a permit at {now}, got {r:?}"),
    }
}

fn rejection(b: &mut Breaker, now: u64) -> Rejection {
    match b.acquire(now).decision {
        Decision::Reject(r) => r,
        Decision::Permit(p) => panic!("expected a rejection at {now}, got {p:?}"),
    }
}

fn fail(b: &mut Breaker, now: u64) -> Vec<Transition> {
    let p = permit(b, now);
    b.report(p, OUTAGE, now).transitions.iter().collect()
}

fn tripped(config: Config) -> Breaker {
    let mut b = Breaker::new(config);
    for i in 0..config.failure_threshold() {
        let _ = fail(&mut b, T0 + u64::from(i));
    }
    assert_eq!(b.state(), State::Open);
    b
}

fn config(threshold: u32) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .open_wait_ms(1_000)
        .success_threshold(1)
        .permit_lease_ms(500)
        .build()
        .unwrap()
}

#[test]
fn defaults_follow_the_predecessor_and_the_seed() {
    let c = Config::default();
    assert_eq!(c.failure_threshold(), 5);
    assert_eq!(c.open_wait_ms(0), 60_000);
    assert_eq!(c.open_wait_ms(3), 60_000);
    assert_eq!(c.half_open_permits(), 1);
    assert_eq!(c.success_threshold(), 2);
    assert_eq!(c.permit_lease_ms(), 60_000);
    assert_eq!(c.slow_call_ms(), None);
    assert_eq!(Config::builder().build(), Ok(c));
    assert_eq!(Breaker::default(), Breaker::new(c));
}

#[test]
fn every_bad_value_is_named() {
    let cases = [
        (
            Config::builder().failure_threshold(0),
            "failure threshold must be at least 1",
        ),
        (
            Config::builder().success_threshold(0),
            "success threshold must be at least 1",
        ),
        (
            Config::builder().half_open_permits(0),
            "half-open permits must be between 1 and 16 (got 0)",
        ),
        (
            Config::builder().half_open_permits(17),
            "half-open permits must be between 1 and 16 (got 17)",
        ),
        (
            Config::builder().permit_lease_ms(0),
            "permit lease must be at least 1 ms",
        ),
        (
            Config::builder().open_wait_growth(10, 0, 100),
            "open wait growth factor must be at least 1",
        ),
        (
            Config::builder().open_wait_growth(10, 2, 9),
            "open wait cap (9 ms) must not be below the base open wait (10 ms)",
        ),
        (
            Config::builder().slow_call_ms(0),
            "slow-call threshold must be at least 1 ms",
        ),
    ];
    for (builder, message) in cases {
        assert_eq!(builder.build().unwrap_err().to_string(), message);
    }
    assert!(
        Config::builder()
            .half_open_permits(MAX_HALF_OPEN_PERMITS)
            .build()
            .is_ok()
    );
    assert!(
        Config::builder()
            .open_wait_growth(10, 1, 10)
            .build()
            .is_ok()
    );
    assert!(Config::builder().slow_call_ms(1).build().is_ok());
}

#[test]
fn open_wait_grows_by_its_factor_up_to_the_cap() {
    let c = Config::builder()
        .open_wait_growth(1_000, 3, 20_000)
        .build()
        .unwrap();
    let waits: Vec<u64> = (0..5).map(|n| c.open_wait_ms(n)).collect();
    assert_eq!(waits, [1_000, 3_000, 9_000, 20_000, 20_000]);
    assert_eq!(c.open_wait_ms(u32::MAX), 20_000);
}

#[test]
fn consecutive_failures_trip_and_a_success_starts_the_count_over() {
    let mut b = Breaker::new(config(3));
    assert!(fail(&mut b, T0).is_empty());
    assert!(fail(&mut b, T0).is_empty());
    assert_eq!(b.consecutive_failures(), 2);
    let p = permit(&mut b, T0);
    assert!(b.report(p, Outcome::Success, T0).counted);
    assert_eq!(b.consecutive_failures(), 0);
    assert!(fail(&mut b, T0).is_empty());
    assert!(fail(&mut b, T0).is_empty());
    let t = fail(&mut b, T0 + 7);
    assert_eq!(
        t,
        [Transition {
            from: State::Closed,
            to: State::Open,
            at: T0 + 7,
            generation: 1,
            cause: Cause::FailureThreshold,
        }]
    );
    assert_eq!(
        rejection(&mut b, T0 + 8),
        Rejection {
            state: State::Open,
            retry_at: Some(T0 + 7 + 1_000),
        }
    );
}

#[test]
fn failures_of_other_classes_count_for_nothing() {
    let mut b = Breaker::new(config(2));
    let _ = fail(&mut b, T0);
    for _ in 0..10 {
        let p = permit(&mut b, T0);
        let report = b.report(p, OTHER, T0);
        assert!(report.counted);
        assert!(report.transitions.is_empty());
    }
    assert_eq!(b.consecutive_failures(), 1);
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn open_wait_elapses_into_half_open_exactly_at_the_deadline() {
    let mut b = tripped(config(1));
    assert_eq!(b.poll_timeout(), Some(T0 + 1_000));
    assert!(b.handle_timeout(T0 + 999).is_empty());
    assert_eq!(b.state(), State::Open);
    let t = b.handle_timeout(T0 + 1_000);
    assert_eq!(t.len(), 1);
    assert_eq!(t.last().unwrap().cause, Cause::OpenWaitElapsed);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.poll_timeout(), None);
}

#[test]
fn half_open_admits_no_more_trials_than_permits_and_says_when_one_frees() {
    let c = Config::builder()
        .failure_threshold(1)
        .open_wait_ms(1_000)
        .half_open_permits(2)
        .permit_lease_ms(500)
        .success_threshold(3)
        .build()
        .unwrap();
    let mut b = tripped(c);
    let first = permit(&mut b, T0 + 1_000);
    let second = permit(&mut b, T0 + 1_100);
    assert!(first.is_trial() && second.is_trial());
    assert_eq!(b.trials_in_flight(), 2);
    assert_eq!(
        rejection(&mut b, T0 + 1_200),
        Rejection {
            state: State::HalfOpen,
            retry_at: Some(T0 + 1_500),
        }
    );
    assert_eq!(b.poll_timeout(), Some(T0 + 1_500));
    // Reporting one frees its slot at once.
    assert!(b.report(first, Outcome::Success, T0 + 1_300).counted);
    assert_eq!(b.trials_in_flight(), 1);
    assert_eq!(b.trial_successes(), 1);
    let third = permit(&mut b, T0 + 1_300);
    assert!(b.report(third, Outcome::Success, T0 + 1_301).counted);
    assert_eq!(b.trial_successes(), 2);
    assert_eq!(b.state(), State::HalfOpen, "3 successes needed, 2 seen");
    // The hung second trial expires at 1_600 and frees its slot.
    assert_eq!(b.poll_timeout(), Some(T0 + 1_600));
    assert!(b.handle_timeout(T0 + 1_599).is_empty());
    assert_eq!(b.trials_in_flight(), 1);
    assert!(b.handle_timeout(T0 + 1_600).is_empty());
    assert_eq!(b.trials_in_flight(), 0);
    let late = b.report(second, Outcome::Success, T0 + 1_700);
    assert!(!late.counted, "an expired lease is not counted");
    assert_eq!(b.trial_successes(), 2);
    let fourth = permit(&mut b, T0 + 1_700);
    let report = b.report(fourth, Outcome::Success, T0 + 1_701);
    assert_eq!(
        report.transitions.last().unwrap().cause,
        Cause::TrialsSucceeded
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.trial_successes(), 0);
    assert_eq!(b.trials_in_flight(), 0);
}

#[test]
fn a_failed_trial_reopens_with_a_longer_wait_and_closing_starts_it_over() {
    let c = Config::builder()
        .failure_threshold(1)
        .open_wait_growth(1_000, 2, 3_000)
        .success_threshold(1)
        .build()
        .unwrap();
    let mut b = tripped(c);
    let mut now = T0 + 1_000;
    for expected_wait in [2_000, 3_000, 3_000] {
        let trial = permit(&mut b, now);
        let t = b.report(trial, OUTAGE, now).transitions.last().unwrap();
        assert_eq!(
            (t.from, t.to, t.cause),
            (State::HalfOpen, State::Open, Cause::TrialFailed)
        );
        assert_eq!(b.poll_timeout(), Some(now + expected_wait));
        now += expected_wait;
    }
    assert_eq!(b.reopens(), 3);
    let trial = permit(&mut b, now);
    let _ = b.report(trial, Outcome::Success, now);
    assert_eq!(b.reopens(), 0);
    let _ = fail(&mut b, now);
    assert_eq!(b.poll_timeout(), Some(now + 1_000));
}

#[test]
fn a_not_found_trial_frees_its_permit_without_deciding_anything() {
    let mut b = tripped(config(1));
    let trial = permit(&mut b, T0 + 1_000);
    let report = b.report(trial, OTHER, T0 + 1_001);
    assert!(report.counted && report.transitions.is_empty());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!((b.trials_in_flight(), b.trial_successes()), (0, 0));
}

#[test]
fn probes_go_through_the_state_machine() {
    let mut b = tripped(config(1));
    assert!(b.probe(Health::Unhealthy, T0 + 10).is_empty());
    assert_eq!(
        b.poll_timeout(),
        Some(T0 + 1_010),
        "an unhealthy probe starts the wait over"
    );
    let generation = b.generation();
    assert!(b.probe(Health::Unhealthy, T0 + 900).is_empty());
    assert_eq!(b.poll_timeout(), Some(T0 + 1_900));
    assert_eq!(b.generation(), generation, "not a transition");
    // A clock that stepped back clamps the wait to one wait from the new now, as always.
    assert!(b.probe(Health::Unhealthy, T0 + 100).is_empty());
    assert_eq!(b.poll_timeout(), Some(T0 + 1_100));
    let t = b.probe(Health::Healthy, T0 + 20).last().unwrap();
    assert_eq!(
        (t.from, t.to, t.cause),
        (State::Open, State::HalfOpen, Cause::ProbeHealthy)
    );
    assert!(
        b.probe(Health::Healthy, T0 + 30).is_empty(),
        "healthy in HALF_OPEN changes nothing"
    );
    let t = b.probe(Health::Unhealthy, T0 + 40).last().unwrap();
    assert_eq!(
        (t.from, t.to, t.cause),
        (State::HalfOpen, State::Open, Cause::ProbeUnhealthy)
    );
    assert_eq!(b.reopens(), 1);
    let mut closed = Breaker::new(config(1));
    assert!(closed.probe(Health::Unhealthy, T0).is_empty());
    assert_eq!(closed.consecutive_failures(), 0);
}

#[test]
fn force_open_holds_until_reset() {
    let mut b = Breaker::new(config(1));
    let t = b.force_open(T0).last().unwrap();
    assert_eq!(
        (t.from, t.to, t.cause),
        (State::Closed, State::ForcedOpen, Cause::ForcedOpen)
    );
    assert!(
        b.force_open(T0 + 1).is_empty(),
        "forcing twice is one transition"
    );
    assert_eq!(b.poll_timeout(), None);
    assert!(b.probe(Health::Healthy, T0 + 2).is_empty());
    assert!(b.handle_timeout(u64::MAX).is_empty());
    assert_eq!(
        rejection(&mut b, u64::MAX),
        Rejection {
            state: State::ForcedOpen,
            retry_at: None,
        }
    );
    let t = b.reset(u64::MAX).last().unwrap();
    assert_eq!(
        (t.from, t.to, t.cause),
        (State::ForcedOpen, State::Closed, Cause::Reset)
    );
    assert_eq!(b.generation(), 2);
}

#[test]
fn reset_in_closed_clears_the_count_without_a_transition() {
    let mut b = Breaker::new(config(3));
    let _ = fail(&mut b, T0);
    assert!(b.reset(T0).is_empty());
    assert_eq!((b.consecutive_failures(), b.generation()), (0, 0));
    let mut open = tripped(config(1));
    let _ = open.reset(T0 + 5);
    assert_eq!((open.state(), open.reopens()), (State::Closed, 0));
}

#[test]
fn a_permit_from_an_older_generation_changes_nothing() {
    let mut b = Breaker::new(config(1));
    let old = permit(&mut b, T0);
    let _ = fail(&mut b, T0);
    let _ = b.reset(T0);
    let before = b.clone();
    let report = b.report(old, OUTAGE, T0);
    assert!(!report.counted);
    assert_eq!(b, before);
}

#[test]
fn slow_successes_count_as_outages() {
    let c = Config::builder()
        .failure_threshold(1)
        .slow_call_ms(2_000)
        .build()
        .unwrap();
    let mut b = Breaker::new(c);
    let quick = permit(&mut b, T0);
    assert!(
        b.report(quick, Outcome::Success, T0 + 1_999)
            .transitions
            .is_empty()
    );
    let slow = permit(&mut b, T0);
    let t = b
        .report(slow, Outcome::Success, T0 + 2_000)
        .transitions
        .last()
        .unwrap();
    assert_eq!(t.cause, Cause::FailureThreshold);
}

#[test]
fn a_clock_step_back_delays_by_at_most_one_wait() {
    let mut b = tripped(config(1));
    // The open wait was due at T0 + 1_000; the clock jumps back a day.
    let back = T0 - 86_400_000;
    assert!(b.handle_timeout(back).is_empty());
    assert_eq!(b.poll_timeout(), Some(back + 1_000));
    assert_eq!(
        b.handle_timeout(back + 1_000).last().unwrap().to,
        State::HalfOpen
    );
    // Leases shrink the same way.
    let trial = permit(&mut b, back + 1_000);
    let further = back - 86_400_000;
    assert!(b.handle_timeout(further).is_empty());
    assert_eq!(b.poll_timeout(), Some(further + 500));
    assert!(b.handle_timeout(further + 500).is_empty());
    assert!(!b.report(trial, Outcome::Success, further + 500).counted);
    // A small step back does not lengthen anything.
    let mut c = tripped(config(1));
    let _ = c.handle_timeout(T0 + 900);
    let _ = c.handle_timeout(T0 + 800);
    assert_eq!(c.poll_timeout(), Some(T0 + 1_000));
}

#[test]
fn deadlines_saturate_at_the_end_of_time() {
    let mut b = tripped(config(1));
    let _ = b.handle_timeout(u64::MAX - 10);
    assert_eq!(b.state(), State::HalfOpen);
    let trial = permit(&mut b, u64::MAX - 10);
    assert_eq!(b.poll_timeout(), Some(u64::MAX));
    let report = b.report(trial, OUTAGE, u64::MAX - 5);
    assert!(report.counted);
    assert_eq!(b.poll_timeout(), Some(u64::MAX));
    assert_eq!(
        b.handle_timeout(u64::MAX).last().unwrap().to,
        State::HalfOpen
    );
}

#[test]
fn snapshot_json_is_readable_and_round_trips() {
    let mut b = tripped(config(1));
    let _trial = permit(&mut b, T0 + 1_000);
    let json = serde_json::to_string(&b.snapshot()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"phase":{{"half_open":{{"successes":0,"leases":[{{"id":0,"expires_at":{}}}]}}}},"generation":2,"reopens":0,"last_seen":{},"next_lease":1,"since":{}}}"#,
            T0 + 1_500,
            T0 + 1_000,
            T0 + 1_000
        )
    );
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(Breaker::restore(*b.config(), back), b);
    assert_eq!(back.state(), State::HalfOpen);
    assert_eq!(back.generation(), 2);
    assert_eq!(Snapshot::default().state(), State::Closed);
}

#[test]
fn a_snapshot_with_more_leases_than_slots_is_rejected() {
    let leases: Vec<String> = (0..=MAX_HALF_OPEN_PERMITS)
        .map(|id| format!(r#"{{"id":{id},"expires_at":5}}"#))
        .collect();
    let json = format!(
        r#"{{"phase":{{"half_open":{{"successes":0,"leases":[{}]}}}},"generation":2,"reopens":0,"last_seen":1,"next_lease":1}}"#,
        leases.join(",")
    );
    let err = serde_json::from_str::<Snapshot>(&json)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid length 17, expected a list of at most 16 leases"),
        "{err}"
    );
    let full = json.replacen(r#"{"id":0,"expires_at":5},"#, "", 1);
    assert!(serde_json::from_str::<Snapshot>(&full).is_ok());
}

#[test]
fn restored_counts_above_a_new_threshold_take_effect_on_the_next_input() {
    let mut b = Breaker::new(config(5));
    for _ in 0..3 {
        let _ = fail(&mut b, T0);
    }
    let mut stricter = Breaker::restore(config(2), b.snapshot());
    let t = fail(&mut stricter, T0);
    assert_eq!(t.len(), 1);
}

#[test]
fn states_and_permits_describe_themselves() {
    let names: Vec<String> = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(names, ["CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN"]);
    let mut b = Breaker::new(config(1));
    let p = permit(&mut b, T0 + 3);
    assert_eq!(
        (p.generation(), p.is_trial(), p.issued_at()),
        (0, false, T0 + 3)
    );
}

#[test]
fn time_and_the_input_can_both_cause_a_transition() {
    let mut b = tripped(config(1));
    let both = b.probe(Health::Unhealthy, T0 + 1_000);
    assert!(!both.is_empty());
    assert_eq!(both.len(), 2);
    let steps: Vec<(State, State, Cause)> = both.iter().map(|t| (t.from, t.to, t.cause)).collect();
    assert_eq!(
        steps,
        [
            (State::Open, State::HalfOpen, Cause::OpenWaitElapsed),
            (State::HalfOpen, State::Open, Cause::ProbeUnhealthy),
        ]
    );
    assert_eq!(both.last().map(|t| t.generation), Some(3));
    let none = b.handle_timeout(T0 + 1_001);
    assert!(none.is_empty());
    assert_eq!(none.len(), 0);
    assert_eq!(none.last(), None);
}

#[test]
fn a_new_config_does_not_shorten_a_running_wait_unless_the_clock_steps_back() {
    let long = Config::builder()
        .failure_threshold(1)
        .open_wait_ms(60_000)
        .build()
        .unwrap();
    let b = tripped(long);
    let mut shorter = Breaker::restore(config(1), b.snapshot());
    assert!(shorter.handle_timeout(T0).is_empty());
    assert_eq!(
        shorter.poll_timeout(),
        Some(T0 + 60_000),
        "same instant: no step back"
    );
    assert!(shorter.handle_timeout(T0 - 1).is_empty());
    assert_eq!(shorter.poll_timeout(), Some(T0 - 1 + 1_000));
}

#[test]
fn every_permit_slot_can_be_used_and_freed() {
    let c = Config::builder()
        .failure_threshold(1)
        .open_wait_ms(1_000)
        .half_open_permits(MAX_HALF_OPEN_PERMITS)
        .permit_lease_ms(500)
        .success_threshold(u32::MAX)
        .build()
        .unwrap();
    let mut b = tripped(c);
    let trials: Vec<Permit> = (0..MAX_HALF_OPEN_PERMITS)
        .map(|i| permit(&mut b, T0 + 1_000 + u64::from(i)))
        .collect();
    assert_eq!(b.trials_in_flight(), MAX_HALF_OPEN_PERMITS);
    assert_eq!(rejection(&mut b, T0 + 1_100).retry_at, Some(T0 + 1_500));
    let mut trials = trials.into_iter();
    let first = trials.next().unwrap();
    assert!(b.report(first, Outcome::Success, T0 + 1_200).counted);
    assert_eq!(b.trials_in_flight(), MAX_HALF_OPEN_PERMITS - 1);
    // The rest expire one by one, in the order they were granted.
    assert!(b.handle_timeout(T0 + 1_505).is_empty());
    assert_eq!(b.trials_in_flight(), MAX_HALF_OPEN_PERMITS - 1 - 5);
    assert!(b.handle_timeout(T0 + 1_600).is_empty());
    assert_eq!(b.trials_in_flight(), 0);
    let late = trials.next().unwrap();
    assert!(!b.report(late, Outcome::Success, T0 + 1_600).counted);
}

#[test]
fn breakers_differing_only_in_their_leases_differ() {
    let mut early = tripped(config(1));
    // Both enter HALF_OPEN at the same instant, so that only the leases can differ.
    assert_eq!(early.handle_timeout(T0 + 1_000).len(), 1);
    let mut late = early.clone();
    let _first = permit(&mut early, T0 + 1_000);
    let _second = permit(&mut late, T0 + 1_001);
    // Same instant seen last, same counters: only the leases' expiry differs.
    assert!(early.handle_timeout(T0 + 1_002).is_empty());
    assert!(late.handle_timeout(T0 + 1_002).is_empty());
    assert_eq!(early.generation(), late.generation());
    assert_eq!(early.since(), late.since());
    assert_eq!(early.trials_in_flight(), late.trials_in_flight());
    assert_ne!(early, late, "the leases expire at different times");
    assert_ne!(early.snapshot(), late.snapshot());
    let shown = format!("{:?}", early.snapshot());
    assert!(
        shown.contains(&format!("expires_at: {}", T0 + 1_500)),
        "{shown}"
    );
}

#[test]
fn since_says_when_the_state_was_entered_whatever_the_config_or_clock() {
    let mut b = Breaker::new(config(1));
    assert_eq!(b.since(), 0, "never left CLOSED");
    let _ = fail(&mut b, T0 + 7);
    assert_eq!((b.state(), b.since()), (State::Open, T0 + 7));
    // A new configuration with another open wait does not move it...
    let longer = Config::builder().open_wait_ms(90_000).build().unwrap();
    let mut b = Breaker::restore(longer, b.snapshot());
    assert_eq!(b.since(), T0 + 7);
    // ...nor does a clock that steps back, nor inputs that change no state.
    let _ = b.acquire(T0 - 60_000);
    let _ = b.probe(Health::Unhealthy, T0 + 100);
    assert_eq!(b.since(), T0 + 7);
    assert_eq!(b.snapshot().since(), T0 + 7);
    let _ = b.probe(Health::Healthy, T0 + 200);
    assert_eq!((b.state(), b.since()), (State::HalfOpen, T0 + 200));
}

#[test]
fn a_snapshot_written_before_since_existed_still_loads() {
    let json = r#"{"phase":{"open":{"until":5000}},"generation":3,"reopens":1,"last_seen":4000,"next_lease":2}"#;
    let back: Snapshot = serde_json::from_str(json).unwrap();
    assert_eq!(
        (back.state(), back.generation(), back.since()),
        (State::Open, 3, 0)
    );
}

#[test]
fn inputs_that_change_nothing_in_closed_leave_the_snapshot_as_it_was() {
    let mut b = Breaker::new(config(3));
    let _ = fail(&mut b, T0);
    let before = b.snapshot();
    let p = permit(&mut b, T0 + 10);
    assert_eq!(b.snapshot(), before, "a CLOSED permit is not state");
    let _ = b.probe(Health::Healthy, T0 + 20);
    let _ = b.handle_timeout(T0 + 30);
    assert_eq!(b.snapshot(), before);
    let _ = b.report(p, OTHER, T0 + 40);
    assert_eq!(
        b.snapshot(),
        before,
        "a not-found outcome counts for nothing"
    );
    let p = permit(&mut b, T0 + 50);
    let _ = b.report(p, Outcome::Success, T0 + 60);
    assert_ne!(b.snapshot(), before, "a success clears the failure count");
    let cleared = b.snapshot();
    let p = permit(&mut b, T0 + 70);
    let _ = b.report(p, Outcome::Success, T0 + 80);
    assert_eq!(b.snapshot(), cleared, "a second success changes nothing");
}

#[test]
fn a_config_is_data_checked_on_the_way_in() {
    let config = Config::builder()
        .failure_threshold(4)
        .open_wait_growth(10_000, 2, 80_000)
        .half_open_permits(3)
        .permit_lease_ms(20_000)
        .success_threshold(2)
        .slow_call_ms(9_000)
        .build()
        .unwrap();
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(
        json,
        r#"{"failure_threshold":4,"open_wait_ms":10000,"open_wait_factor":2,"open_wait_cap_ms":80000,"half_open_permits":3,"permit_lease_ms":20000,"success_threshold":2,"slow_call_ms":9000}"#
    );
    assert_eq!(serde_json::from_str::<Config>(&json).unwrap(), config);
    // Missing values take their defaults; a fixed wait needs no cap.
    let partial: Config = serde_json::from_str(r#"{"open_wait_ms":120000}"#).unwrap();
    assert_eq!(partial.open_wait_ms(0), 120_000);
    assert_eq!(partial.open_wait_ms(5), 120_000);
    assert_eq!(
        partial.failure_threshold(),
        Config::default().failure_threshold()
    );
    // Values out of range are refused with the builder's message; unknown keys too.
    let err = serde_json::from_str::<Config>(r#"{"half_open_permits":40}"#).unwrap_err();
    assert!(
        err.to_string()
            .contains("half-open permits must be between 1 and 16 (got 40)"),
        "{err}"
    );
    let err = serde_json::from_str::<Config>(r#"{"failure_treshold":3}"#).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `failure_treshold`"),
        "{err}"
    );
}

#[test]
fn transitions_and_their_causes_are_data() {
    let mut b = Breaker::new(config(1));
    let t = fail(&mut b, T0)[0];
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"from":"closed","to":"open","at":{T0},"generation":1,"cause":"failure_threshold"}}"#
        )
    );
    assert_eq!(serde_json::from_str::<Transition>(&json).unwrap(), t);
    for cause in [
        Cause::OpenWaitElapsed,
        Cause::ProbeHealthy,
        Cause::ProbeUnhealthy,
        Cause::TrialFailed,
        Cause::TrialsSucceeded,
        Cause::ForcedOpen,
        Cause::Reset,
    ] {
        let back: Cause = serde_json::from_str(&serde_json::to_string(&cause).unwrap()).unwrap();
        assert_eq!(back, cause);
    }
    let outcome: Outcome = serde_json::from_str(r#"{"failure":"outage"}"#).unwrap();
    assert_eq!(outcome, OUTAGE);
    assert_eq!(
        serde_json::from_str::<Health>(r#""healthy""#).unwrap(),
        Health::Healthy
    );
}

#[test]
fn abandoned_trials_free_their_slots_at_once_and_keep_the_counts() {
    let c = Config::builder()
        .failure_threshold(1)
        .open_wait_ms(1_000)
        .half_open_permits(2)
        .permit_lease_ms(60_000)
        .success_threshold(2)
        .build()
        .unwrap();
    let mut b = tripped(c);
    assert_eq!(b.abandon_trials(), 0, "OPEN has no trials");
    let first = permit(&mut b, T0 + 1_000);
    assert!(b.report(first, Outcome::Success, T0 + 1_001).counted);
    let orphans = [permit(&mut b, T0 + 1_002), permit(&mut b, T0 + 1_003)];
    let _ = rejection(&mut b, T0 + 1_004);
    let before = b.snapshot();
    assert_eq!(b.abandon_trials(), 2);
    assert_eq!(b.trials_in_flight(), 0);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.generation(), before.generation(), "no transition");
    assert_eq!(b.trial_successes(), 1, "successes already seen still count");
    assert_eq!(b.poll_timeout(), None, "no lease left to run out");
    assert_eq!(b.abandon_trials(), 0);
    for orphan in orphans {
        assert!(!b.report(orphan, Outcome::Success, T0 + 1_005).counted);
    }
    let next = permit(&mut b, T0 + 1_006);
    let report = b.report(next, Outcome::Success, T0 + 1_007);
    assert_eq!(report.transitions.last().map(|t| t.to), Some(State::Closed));
    assert_eq!(b.abandon_trials(), 0, "CLOSED has no trials");
    let _ = b.force_open(T0 + 2_000);
    assert_eq!(b.abandon_trials(), 0, "FORCED_OPEN has no trials");
}

#[test]
fn a_held_breaker_stays_open_until_then_and_only_an_open_one_is_held() {
    let mut b = tripped(config(1));
    let opened = b.poll_timeout().unwrap();
    assert!(b.hold_open(T0 + 600_000, T0 + 10).is_empty());
    assert_eq!(b.poll_timeout(), Some(T0 + 600_000));
    // Never shorter.
    let _ = b.hold_open(opened, T0 + 20);
    assert_eq!(b.poll_timeout(), Some(T0 + 600_000));
    assert!(matches!(
        b.acquire(T0 + 599_999).decision,
        Decision::Reject(_)
    ));
    assert!(b.handle_timeout(T0 + 599_999).is_empty());
    let t: Vec<Transition> = b.handle_timeout(T0 + 600_000).iter().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(
        (t[0].to, t[0].cause),
        (State::HalfOpen, Cause::OpenWaitElapsed)
    );
    // HALF_OPEN, CLOSED and FORCED_OPEN are left as they are.
    let before = b.snapshot();
    let _ = b.hold_open(T0 + 9_000_000, T0 + 600_000);
    assert_eq!(b.snapshot(), before);
    let mut closed = Breaker::new(config(1));
    let _ = closed.hold_open(T0 + 9_000_000, T0);
    assert_eq!(closed.state(), State::Closed);
    assert!(matches!(closed.acquire(T0).decision, Decision::Permit(_)));
    let mut forced = Breaker::new(config(1));
    let _ = forced.force_open(T0);
    let _ = forced.hold_open(T0 + 1, T0);
    assert_eq!(forced.poll_timeout(), None);
}

#[test]
fn holding_lets_an_open_wait_that_is_already_over_move_on_first() {
    let mut b = tripped(config(1));
    let over = b.poll_timeout().unwrap();
    // The wait ran out before the hold came: HALF_OPEN, as handle_timeout says.
    let t: Vec<Transition> = b.hold_open(over + 60_000, over).iter().collect();
    assert_eq!(t.len(), 1);
    assert_eq!(b.state(), State::HalfOpen);
}
