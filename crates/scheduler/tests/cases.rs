//! Worked examples of each policy.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use scheduler::{
    Backoff, BackoffError, Due, Early, ErrorClass, FirstProbe, Interval, Jitter, ProbeOutcome,
    ProbePlan, ProbeSchedule, ProbeState, Ramp, RampConfig, RampError, Reason, RetryDecision,
    RetryPolicy, RetryRule, due,
};

const T0: u64 = 1_700_000_000_000;

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(42)
}

#[test]
fn backoff_rejects_what_cannot_work() {
    assert_eq!(
        Backoff::new(10, 0.5, 100, Jitter::Full).unwrap_err(),
        BackoffError::Factor(0.5)
    );
    assert!(Backoff::new(10, f64::NAN, 100, Jitter::Full).is_err());
    assert!(Backoff::new(10, f64::INFINITY, 100, Jitter::Full).is_err());
    let err = Backoff::new(10, 2.0, 9, Jitter::Full).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backoff cap (9 ms) must not be below its base (10 ms)"
    );
    assert!(Backoff::new(10, 1.0, 10, Jitter::None).is_ok());
}

#[test]
fn ceilings_are_the_seed_sequence() {
    let b = Backoff::new(5_000, 2.0, 60_000, Jitter::None).unwrap();
    let ceilings: Vec<u64> = (0..6).map(|n| b.ceiling(n)).collect();
    assert_eq!(ceilings, [5_000, 10_000, 20_000, 40_000, 60_000, 60_000]);
    assert_eq!(b.ceiling(u32::MAX), 60_000);
    assert_eq!(b.delay(2, 0, &mut rng()), 20_000);
    assert_eq!(b.with_jitter(Jitter::Full).jitter(), Jitter::Full);
}

#[test]
fn decorrelated_jitter_grows_from_the_previous_delay() {
    let b = Backoff::new(1_000, 2.0, 1_000_000, Jitter::Decorrelated).unwrap();
    let mut rng = rng();
    let mut previous = 1_000;
    let mut delays = Vec::new();
    for n in 0..200 {
        let d = b.delay(n, previous, &mut rng);
        assert!((1_000..=previous * 3).contains(&d));
        delays.push(d);
        previous = d;
    }
    assert!(
        delays.iter().any(|&d| d > 100_000),
        "it climbs towards the cap"
    );
}

#[test]
fn full_and_equal_jitter_spread_delays() {
    let mut rng = rng();
    let full = Backoff::new(1_000, 2.0, 1_000, Jitter::Full).unwrap();
    let equal = full.with_jitter(Jitter::Equal);
    let f: Vec<u64> = (0..1_000).map(|_| full.delay(0, 0, &mut rng)).collect();
    let e: Vec<u64> = (0..1_000).map(|_| equal.delay(0, 0, &mut rng)).collect();
    assert!(f.iter().any(|&d| d < 250) && f.iter().any(|&d| d > 750));
    assert!(
        e.iter().all(|&d| d >= 500) && e.iter().any(|&d| d < 600) && e.iter().any(|&d| d > 900)
    );
}

#[test]
fn retry_defaults_are_the_predecessors() {
    let policy = RetryPolicy::default();
    let mut rng = rng();
    assert_eq!(
        policy.decide(ErrorClass::ServerDown, 1_000, 0, T0, &mut rng),
        RetryDecision::Retry {
            at: T0,
            delay_ms: 0,
            counts_attempt: false
        }
    );
    assert_eq!(
        policy.decide(ErrorClass::Permanent, 0, 0, T0, &mut rng),
        RetryDecision::DeadLetter
    );
    let RetryRule::Backoff {
        backoff,
        max_retries,
    } = policy.rule(ErrorClass::Transient)
    else {
        panic!("transient retries with backoff")
    };
    assert_eq!(
        (backoff.base_ms(), backoff.cap_ms(), max_retries),
        (5_000, 80_000, 5)
    );
    assert_eq!(backoff.ceiling(4), 80_000);
    let RetryRule::Backoff {
        backoff,
        max_retries,
    } = policy.rule(ErrorClass::NotFound)
    else {
        panic!("not found retries with backoff")
    };
    assert_eq!(
        (backoff.base_ms(), backoff.cap_ms(), max_retries),
        (30_000, 600_000, 12)
    );
    for retries in 0..5 {
        match policy.decide(ErrorClass::Transient, retries, 0, T0, &mut rng) {
            RetryDecision::Retry {
                at,
                delay_ms,
                counts_attempt,
            } => {
                assert!(counts_attempt);
                assert_eq!(at, T0 + delay_ms);
                assert!(delay_ms <= 5_000 << retries);
            }
            RetryDecision::DeadLetter => panic!("retry {retries} is allowed"),
        }
    }
    assert_eq!(
        policy.decide(ErrorClass::Transient, 5, 0, T0, &mut rng),
        RetryDecision::DeadLetter
    );
    assert!(matches!(
        policy.decide(ErrorClass::NotFound, 11, 0, T0, &mut rng),
        RetryDecision::Retry { .. }
    ));
    assert_eq!(
        policy.decide(ErrorClass::NotFound, 12, 0, T0, &mut rng),
        RetryDecision::DeadLetter
    );
}

#[test]
fn retry_passes_the_previous_delay_to_decorrelated_jitter() {
    let backoff = Backoff::new(1_000, 2.0, 1_000_000, Jitter::Decorrelated).unwrap();
    let policy = RetryPolicy {
        transient: RetryRule::Backoff {
            backoff,
            max_retries: 100,
        },
        ..RetryPolicy::default()
    };
    let mut rng = rng();
    let mut widest = 0;
    for _ in 0..100 {
        let RetryDecision::Retry { delay_ms: wide, .. } =
            policy.decide(ErrorClass::Transient, 3, 50_000, T0, &mut rng)
        else {
            panic!("retries remain")
        };
        widest = widest.max(wide);
        let RetryDecision::Retry { delay_ms, .. } =
            policy.decide(ErrorClass::Transient, 3, 50_000, T0, &mut rng)
        else {
            panic!("retries remain")
        };
        assert!((1_000..=150_000).contains(&delay_ms));
        let RetryDecision::Retry { delay_ms, .. } =
            policy.decide(ErrorClass::Transient, 3, 0, T0, &mut rng)
        else {
            panic!("retries remain")
        };
        assert!(
            (1_000..=3_000).contains(&delay_ms),
            "no previous delay starts from the base"
        );
    }
    assert!(
        widest > 3_000,
        "the previous delay widens the range: {widest}"
    );
}

#[test]
fn due_handles_first_runs_intervals_and_clock_steps() {
    assert_eq!(due(None, Interval::DAILY, T0), Due::Now(Reason::FirstRun));
    assert_eq!(due(None, Interval::Never, T0), Due::Never);
    assert_eq!(due(Some(T0), Interval::Never, T0 + 1), Due::Never);
    assert_eq!(
        due(Some(T0), Interval::HOURLY, T0 + 3_599_999),
        Due::At(T0 + 3_600_000)
    );
    assert_eq!(
        due(Some(T0), Interval::HOURLY, T0 + 3_600_000),
        Due::Now(Reason::IntervalElapsed)
    );
    assert_eq!(
        due(Some(T0), Interval::WEEKLY, T0),
        Due::At(T0 + 604_800_000)
    );
    assert_eq!(
        due(Some(T0 + 1), Interval::WEEKLY, T0),
        Due::Now(Reason::ClockSteppedBack)
    );
    assert_eq!(
        due(Some(u64::MAX - 1), Interval::DAILY, u64::MAX - 1),
        Due::At(u64::MAX)
    );
}

#[test]
fn intervals_parse_and_print() {
    let cases = [
        ("never", Interval::Never),
        ("hourly", Interval::HOURLY),
        ("Daily", Interval::DAILY),
        (" weekly ", Interval::WEEKLY),
        ("250ms", Interval::Every(250)),
        ("90s", Interval::Every(90_000)),
        ("30m", Interval::Every(1_800_000)),
        ("6h", Interval::Every(21_600_000)),
        ("2d", Interval::Every(172_800_000)),
        ("1w", Interval::WEEKLY),
    ];
    for (text, interval) in cases {
        assert_eq!(text.parse::<Interval>(), Ok(interval), "{text}");
    }
    for bad in [
        "",
        "0s",
        "5",
        "m",
        "5 minutes",
        "-1h",
        "99999999999999999999w",
        "1.5h",
    ] {
        let err = bad.parse::<Interval>().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("invalid interval {bad:?}")),
            "{err}"
        );
        assert!(err.contains("such as 90s, 30m"), "{err}");
    }
    let printed: Vec<String> = [
        Interval::Never,
        Interval::Every(90_000),
        Interval::Every(7_200_000),
        Interval::DAILY,
        Interval::WEEKLY,
        Interval::Every(1_500),
        Interval::Every(0),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(printed, ["never", "90s", "2h", "1d", "1w", "1500ms", "0ms"]);
    let json = serde_json::to_string(&Interval::Every(1_800_000)).unwrap();
    assert_eq!(json, r#""30m""#);
    assert_eq!(
        serde_json::from_str::<Interval>(&json).unwrap(),
        Interval::Every(1_800_000)
    );
    assert!(serde_json::from_str::<Interval>(r#""soon""#).is_err());
}

#[test]
fn probe_schedule_arms_backs_off_resets_and_disarms() {
    let mut rng = rng();
    let mut p = ProbeSchedule::new(ProbePlan::uniform(
        Backoff::new(5_000, 2.0, 60_000, Jitter::None).unwrap(),
    ));
    assert!(!p.is_due(T0));
    assert_eq!(p.poll_timeout(), None);
    p.arm(T0, &mut rng);
    assert_eq!(p.poll_timeout(), Some(T0 + 5_000));
    p.arm(T0 + 1_000, &mut rng);
    assert_eq!(
        p.poll_timeout(),
        Some(T0 + 5_000),
        "arming twice keeps the schedule"
    );
    assert!(!p.is_due(T0 + 4_999));
    assert!(p.is_due(T0 + 5_000));
    let mut now = T0 + 5_000;
    for expected in [10_000, 20_000, 40_000, 60_000, 60_000] {
        let next = p.record(ProbeOutcome::Unreachable, now, &mut rng);
        assert_eq!(next - now, expected);
        now = next;
    }
    assert_eq!(p.state().failures, 5);
    assert_eq!(p.record(ProbeOutcome::Healthy, now, &mut rng), now + 5_000);
    assert_eq!(p.state().failures, 0);
    p.disarm();
    assert_eq!(p.state(), ProbeState::default());
    assert!(!p.is_due(u64::MAX));
}

#[test]
fn a_probe_due_more_than_a_cap_ahead_means_the_clock_stepped_back() {
    let mut rng = rng();
    let mut p = ProbeSchedule::default();
    p.arm(T0, &mut rng);
    let at = p.poll_timeout().unwrap();
    assert!(!p.is_due(at - 60_000));
    assert!(p.is_due(at - 60_001));
    let restored = ProbeSchedule::restore(*p.plan(), p.state());
    assert_eq!(restored, p);
}

#[test]
fn decorrelated_probes_start_over_after_a_healthy_probe() {
    let mut rng = rng();
    let mut p = ProbeSchedule::new(ProbePlan::uniform(
        Backoff::new(1_000, 2.0, 60_000, Jitter::Decorrelated).unwrap(),
    ));
    p.arm(T0, &mut rng);
    let mut now = T0;
    for _ in 0..20 {
        now = p.record(ProbeOutcome::NotReady, now, &mut rng);
    }
    let next = p.record(ProbeOutcome::Healthy, now, &mut rng);
    assert!(
        next - now <= 3_000,
        "healthy resets the previous interval to the base"
    );
}

#[test]
fn ramp_rises_linearly_to_its_target() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    assert_eq!(ramp.rate(T0), 5.0);
    assert_eq!(ramp.rate(T0 + 150_000), 12.5);
    assert_eq!(ramp.rate(T0 + 300_000), 20.0);
    assert_eq!(ramp.rate(T0 + 3_000_000), 20.0);
    assert_eq!(ramp.rate(T0 - 1), 5.0, "before the start is the start");
    assert_eq!(ramp.full_speed_at(), T0 + 300_000);
    // One token at the start, then 5 per second.
    assert_eq!(ramp.try_acquire(T0), Ok(()));
    assert_eq!(ramp.try_acquire(T0), Err(T0 + 200));
    assert_eq!(ramp.try_acquire(T0 + 200), Ok(()));
    let instant = RampConfig {
        ramp_ms: 0,
        ..RampConfig::default()
    };
    assert_eq!(Ramp::start(instant, T0).unwrap().rate(T0), 20.0);
}

#[test]
fn ramp_halves_on_errors_and_restores_after_the_hold() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    for i in 0..7 {
        ramp.record(true, T0 + i);
    }
    for i in 0..3 {
        ramp.record(false, T0 + 10 + i);
    }
    assert_eq!(ramp.error_rate(T0 + 20), Some(0.3));
    assert!(!ramp.is_halved(), "30 % is not above 30 %");
    ramp.record(false, T0 + 30);
    assert!(ramp.is_halved());
    assert_eq!(ramp.rate(T0), 2.5);
    assert_eq!(ramp.rate(T0 + 300_000), 10.0);
    // The errors age out of the one-minute window, but the hold lasts a minute from halving.
    ramp.record(true, T0 + 30 + 59_999);
    assert!(ramp.is_halved());
    ramp.record(true, T0 + 30 + 60_000);
    assert!(!ramp.is_halved());
    assert_eq!(ramp.error_rate(T0 + 10 * 60_000), None);
}

#[test]
fn ramp_stays_halved_while_errors_stay_above_the_restore_line() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    ramp.record(false, T0);
    assert!(ramp.is_halved());
    let mut now = T0;
    for _ in 0..30 {
        now += 5_000;
        // 1 failure in 5 results: 20 %, between the lines.
        for ok in [true, true, true, true, false] {
            ramp.record(ok, now);
        }
        assert!(ramp.is_halved());
    }
}

#[test]
fn ramp_rejects_what_cannot_work() {
    let bad = [
        RampConfig {
            initial_per_sec: 0.0,
            ..RampConfig::default()
        },
        RampConfig {
            target_per_sec: f64::NAN,
            ..RampConfig::default()
        },
        RampConfig {
            halve_above: 1.5,
            ..RampConfig::default()
        },
        RampConfig {
            restore_below: 0.5,
            ..RampConfig::default()
        },
        RampConfig {
            window_ms: 0,
            ..RampConfig::default()
        },
    ];
    for config in bad {
        assert!(Ramp::start(config, T0).is_err(), "{config:?}");
    }
    assert_eq!(
        RampConfig {
            target_per_sec: -1.0,
            ..RampConfig::default()
        }
        .validate()
        .unwrap_err(),
        RampError::Rate(-1.0)
    );
}

#[test]
fn ramp_state_round_trips_through_json() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    let _ = ramp.try_acquire(T0);
    ramp.record(false, T0 + 5);
    let json = serde_json::to_string(&ramp.state()).unwrap();
    let restored =
        Ramp::restore(RampConfig::default(), serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(restored, ramp);
}

#[test]
fn ramp_waits_exactly_for_the_missing_part_of_a_token() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    assert_eq!(ramp.try_acquire(T0), Ok(()));
    // 100 ms at 5 jobs/s is half a token: half of the next 200 ms is left to wait.
    assert_eq!(ramp.try_acquire(T0 + 100), Err(T0 + 200));
    assert_eq!(ramp.try_acquire(T0 + 199), Err(T0 + 200));
    assert_eq!(ramp.try_acquire(T0 + 200), Ok(()));
    // A second holds at most a second's worth of tokens.
    let taken = (0..100)
        .take_while(|_| ramp.try_acquire(T0 + 60_000).is_ok())
        .count();
    assert_eq!(taken, 8, "the rate 60 s into the ramp is 8 jobs/s");
}

#[test]
fn restored_tokens_that_make_no_sense_start_from_empty() {
    let ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    let mut json: serde_json::Value = serde_json::to_value(ramp.state()).unwrap();
    for bad in [serde_json::json!(-5.0), serde_json::json!(1e300)] {
        json["tokens"] = bad.clone();
        let state = serde_json::from_value(json.clone()).unwrap();
        let mut restored = Ramp::restore(RampConfig::default(), state).unwrap();
        // From empty, one second at 5 jobs/s refills 5 tokens.
        let taken = (0..100)
            .take_while(|_| restored.try_acquire(T0 + 1_000).is_ok())
            .count();
        assert_eq!(taken, 5, "tokens {bad}");
    }
}

#[test]
fn ramp_thresholds_may_meet_and_the_lines_are_strict() {
    let equal = RampConfig {
        halve_above: 0.2,
        restore_below: 0.2,
        ..RampConfig::default()
    };
    assert!(equal.validate().is_ok());
    // Exactly 10 % errors is not below the 10 % restore line.
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    ramp.record(false, T0);
    assert!(ramp.is_halved());
    for i in 0..8 {
        ramp.record(true, T0 + 30_000 + i);
    }
    ramp.record(false, T0 + 30_010);
    // A minute on, the first failure has left the window: 9 successes and 1 failure.
    ramp.record(true, T0 + 60_000);
    assert_eq!(ramp.error_rate(T0 + 60_000), Some(0.1));
    assert!(ramp.is_halved());
    ramp.record(true, T0 + 60_001);
    assert!(!ramp.is_halved(), "1 in 11 is below the line");
}

#[test]
fn results_older_than_the_window_are_forgotten_even_in_a_reused_slot() {
    let mut ramp = Ramp::start(
        RampConfig {
            hold_ms: 0,
            ..RampConfig::default()
        },
        T0,
    )
    .unwrap();
    let t = T0 - T0 % 5_000; // the start of a 5 s slice of the 60 s window
    ramp.record(false, t);
    assert_eq!(ramp.error_rate(t + 59_999), Some(1.0));
    assert_eq!(ramp.error_rate(t + 60_000), None, "a full window later");
}

#[test]
fn a_clock_step_back_restarts_the_hold_from_the_earlier_instant() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    ramp.record(false, T0 + 600_000);
    assert!(ramp.is_halved());
    // The clock jumps back ten minutes; successes pile up.
    for i in 0..20 {
        ramp.record(true, T0 + i);
    }
    assert!(ramp.is_halved(), "the hold is not over yet");
    for i in 0..20 {
        ramp.record(true, T0 + 60_000 + i);
    }
    assert!(
        !ramp.is_halved(),
        "a minute after the step back, not after the old instant"
    );
}

fn fixed(base_ms: u64, cap_ms: u64) -> Backoff {
    Backoff::new(base_ms, 2.0, cap_ms, Jitter::None).unwrap()
}

#[test]
fn a_server_that_answers_but_is_not_ready_is_probed_on_its_own_backoff() {
    let mut rng = rng();
    let plan = ProbePlan {
        unreachable: fixed(2_000, 30_000),
        not_ready: fixed(15_000, 120_000),
        loading: fixed(1_000, 300_000),
        first: FirstProbe::Jittered,
        early: None,
    };
    let mut p = ProbeSchedule::new(plan);
    p.arm(T0, &mut rng);
    assert_eq!(
        p.poll_timeout(),
        Some(T0 + 2_000),
        "first from the unreachable plan"
    );
    let mut now = T0 + 2_000;
    let intervals: Vec<u64> = [
        ProbeOutcome::Unreachable,
        ProbeOutcome::Unreachable,
        ProbeOutcome::NotReady,
        ProbeOutcome::Loading,
        ProbeOutcome::NotReady,
        ProbeOutcome::Unreachable,
    ]
    .into_iter()
    .map(|outcome| {
        let next = p.record(outcome, now, &mut rng);
        let interval = next - now;
        now = next;
        interval
    })
    .collect();
    // Each interval follows the plan of the kind just seen, from its base when the kind
    // before followed another plan: a server that stops refusing and starts loading is
    // looked at again after the loading plan's first step, however long it refused.
    assert_eq!(intervals, [4_000, 8_000, 30_000, 2_000, 30_000, 4_000]);
    assert_eq!(p.plan().cap_ms(), 300_000);
    assert!(
        !p.is_due(now - 120_000),
        "a not-ready cap is not a clock step"
    );
}

#[test]
fn probes_come_within_a_share_of_the_outage_s_age_and_deep_ones_back_off_when_it_is_old() {
    let mut rng = rng();
    let early = Early {
        every_ms: 10_000,
        age_divisor: 10,
        loading_for_ms: 60_000,
    };
    let plan = ProbePlan {
        first: FirstProbe::Fixed(1_000),
        early: Some(early),
        ..ProbePlan::uniform(fixed(5_000, 400_000))
    };
    let mut p = ProbeSchedule::new(plan);
    p.arm(T0, &mut rng);
    let mut now = p.poll_timeout().unwrap();
    let mut seen = Vec::new();
    while now < T0 + 400_000 {
        let next = p.record(ProbeOutcome::Unreachable, now, &mut rng);
        seen.push(((now - T0) / 1_000, (next - now) / 1_000));
        now = next;
    }
    // 10 s apart until the outage is 100 s old, then a tenth of its age (shown in whole s).
    assert_eq!(
        seen,
        [
            (1, 10),
            (11, 10),
            (21, 10),
            (31, 10),
            (41, 10),
            (51, 10),
            (61, 10),
            (71, 10),
            (81, 10),
            (91, 10),
            (101, 10),
            (111, 11),
            (122, 12),
            (134, 13),
            (147, 14),
            (162, 16),
            (178, 17),
            (196, 19),
            (216, 21),
            (238, 23),
            (261, 26),
            (288, 28),
            (316, 31),
            (348, 34),
            (383, 38),
        ]
    );
    // Deep probes of a loading library: 10 s apart for a minute after the server answered,
    // then their own backoff (5 s doubling: seven failures in, past its 400 s cap).
    p.disarm();
    p.arm(now, &mut rng);
    let armed = now;
    let mut at = p.poll_timeout().unwrap();
    let mut intervals = Vec::new();
    while at < armed + 500_000 {
        let next = p.record(ProbeOutcome::Loading, at, &mut rng);
        intervals.push((next - at) / 1_000);
        at = next;
    }
    assert_eq!(intervals, [10, 10, 10, 10, 10, 10, 400, 400]);
    assert_eq!(early.bound(ProbeOutcome::Healthy, 0, None), Some(10_000));
    assert_eq!(early.bound(ProbeOutcome::Loading, 0, Some(60_000)), None);
    // A library that just began loading is looked at closely however old the outage is.
    assert_eq!(
        early.bound(ProbeOutcome::Loading, 3_600_000, Some(0)),
        Some(10_000)
    );
    // A front door answering 503 counts its age from when it began to answer.
    assert_eq!(
        early.bound(ProbeOutcome::NotReady, 3_600_000, Some(200_000)),
        Some(20_000)
    );
}

#[test]
fn the_next_probe_is_counted_from_the_start_of_the_last() {
    let mut rng = rng();
    let mut p = ProbeSchedule::new(ProbePlan::uniform(fixed(5_000, 60_000)));
    p.arm(T0, &mut rng);
    let started = p.poll_timeout().unwrap();
    // It ran into a 5 s timeout: the next one is still 10 s after it began.
    assert_eq!(
        p.record(ProbeOutcome::Unreachable, started, &mut rng),
        started + 10_000
    );
}

#[test]
fn a_fixed_first_probe_ignores_jitter() {
    let plan = ProbePlan {
        first: FirstProbe::Fixed(5_000),
        ..ProbePlan::uniform(Backoff::new(5_000, 2.0, 60_000, Jitter::Full).unwrap())
    };
    for seed in 0..50 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut p = ProbeSchedule::new(plan);
        p.arm(T0, &mut rng);
        assert_eq!(p.poll_timeout(), Some(T0 + 5_000));
    }
}

#[test]
fn plans_are_data_and_bad_backoffs_are_refused_on_the_way_in() {
    let plan = ProbePlan {
        unreachable: fixed(2_000, 30_000),
        not_ready: Backoff::new(10_000, 1.5, 60_000, Jitter::Equal).unwrap(),
        loading: fixed(15_000, 120_000),
        first: FirstProbe::Fixed(5_000),
        early: Some(Early {
            every_ms: 10_000,
            age_divisor: 60,
            loading_for_ms: 180_000,
        }),
    };
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(
        json,
        r#"{"unreachable":{"base_ms":2000,"factor":2.0,"cap_ms":30000,"jitter":"none"},"not_ready":{"base_ms":10000,"factor":1.5,"cap_ms":60000,"jitter":"equal"},"loading":{"base_ms":15000,"factor":2.0,"cap_ms":120000,"jitter":"none"},"first":{"fixed":5000},"early":{"every_ms":10000,"age_divisor":60,"loading_for_ms":180000}}"#
    );
    // A plan written before `early` existed reads as one without it.
    let old = json.replace(
        r#","early":{"every_ms":10000,"age_divisor":60,"loading_for_ms":180000}"#,
        "",
    );
    let read: ProbePlan = serde_json::from_str(&old).unwrap();
    assert_eq!(
        read,
        ProbePlan {
            early: None,
            ..plan
        }
    );
    assert_eq!(serde_json::from_str::<ProbePlan>(&json).unwrap(), plan);
    let bad = json.replace(r#""cap_ms":30000"#, r#""cap_ms":10"#);
    let err = serde_json::from_str::<ProbePlan>(&bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("backoff cap (10 ms) must not be below its base (2000 ms)"),
        "{err}"
    );
    let bad = json.replace(r#""factor":1.5"#, r#""factor":0.5"#);
    assert!(serde_json::from_str::<ProbePlan>(&bad).is_err());
}

#[test]
fn retry_after_sets_a_floor_up_to_the_cap_and_changes_nothing_else() {
    let mut rng = rng();
    let policy = RetryPolicy::default();
    assert_eq!(policy.retry_after_cap_ms, 300_000);
    for seed in 0..20 {
        let mut rng = SmallRng::seed_from_u64(seed);
        // The transient backoff starts at most 5 s; a 120 s hint wins.
        match policy.decide_with_hint(ErrorClass::Transient, 0, 0, Some(120_000), T0, &mut rng) {
            RetryDecision::Retry {
                at,
                delay_ms,
                counts_attempt,
            } => {
                assert_eq!(
                    (at, delay_ms, counts_attempt),
                    (T0 + 120_000, 120_000, true)
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // A hint beyond the cap waits the cap.
    match policy.decide_with_hint(ErrorClass::Transient, 0, 0, Some(86_400_000), T0, &mut rng) {
        RetryDecision::Retry { delay_ms, .. } => assert_eq!(delay_ms, 300_000),
        other => panic!("{other:?}"),
    }
    // A short hint does not shorten the backoff: not-found waits 30-60 s on its 2nd retry.
    match policy.decide_with_hint(ErrorClass::NotFound, 1, 0, Some(1), T0, &mut rng) {
        RetryDecision::Retry { delay_ms, .. } => assert!(delay_ms <= 60_000),
        other => panic!("{other:?}"),
    }
    // Server down requeues without spending an attempt, but not before the hint.
    assert_eq!(
        policy.decide_with_hint(ErrorClass::ServerDown, 9, 0, Some(30_000), T0, &mut rng),
        RetryDecision::Retry {
            at: T0 + 30_000,
            delay_ms: 30_000,
            counts_attempt: false
        }
    );
    // A hint never turns a dead letter into a retry.
    assert_eq!(
        policy.decide_with_hint(ErrorClass::Transient, 5, 0, Some(1_000), T0, &mut rng),
        RetryDecision::DeadLetter
    );
    assert_eq!(
        policy.decide_with_hint(ErrorClass::Permanent, 0, 0, Some(1_000), T0, &mut rng),
        RetryDecision::DeadLetter
    );
    // Older policy files without the cap get the default.
    let mut json: serde_json::Value = serde_json::to_value(policy).unwrap();
    json.as_object_mut().unwrap().remove("retry_after_cap_ms");
    assert_eq!(serde_json::from_value::<RetryPolicy>(json).unwrap(), policy);
}

#[test]
fn a_ramp_says_when_it_is_over() {
    let mut ramp = Ramp::start(RampConfig::default(), T0).unwrap();
    assert!(!ramp.is_finished(T0));
    assert!(!ramp.is_finished(T0 + 299_999));
    assert!(ramp.is_finished(T0 + 300_000));
    // Errors halve the rate: the ramp is not over while it is halved.
    for i in 0..10 {
        ramp.record(false, T0 + 300_000 + i);
    }
    assert!(ramp.is_halved());
    assert!(!ramp.is_finished(T0 + 300_010));
    for i in 0..200 {
        ramp.record(true, T0 + 400_000 + i);
    }
    assert!(!ramp.is_halved());
    assert!(ramp.is_finished(T0 + 400_200));
}

#[test]
fn a_ramp_says_which_configuration_it_follows() {
    let config = RampConfig {
        initial_per_sec: 2.0,
        target_per_sec: 8.0,
        ramp_ms: 10_000,
        ..RampConfig::default()
    };
    let ramp = Ramp::start(config, T0).unwrap();
    assert_eq!(ramp.config(), &config);
    let restored = Ramp::restore(config, ramp.state()).unwrap();
    assert_eq!(restored.config().target_per_sec, 8.0);
}

#[test]
fn a_disabled_ramp_limits_nothing() {
    let mut ramp = Ramp::start(RampConfig::disabled(), T0).unwrap();
    assert!(ramp.is_finished(T0));
    for _ in 0..10_000 {
        assert_eq!(ramp.try_acquire(T0), Ok(()));
    }
    let json = serde_json::to_string(&RampConfig::default()).unwrap();
    assert!(json.starts_with(r#"{"enabled":true,"#), "{json}");
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value.as_object_mut().unwrap().remove("enabled");
    assert!(serde_json::from_value::<RampConfig>(value).unwrap().enabled);
}

#[test]
fn a_policy_file_may_say_only_what_it_changes() {
    let retry: RetryPolicy = serde_json::from_str(r#"{"not_found": "dead_letter"}"#).unwrap();
    assert_eq!(retry.not_found, RetryRule::DeadLetter);
    assert_eq!(retry.transient, RetryPolicy::default().transient);
    let ramp: RampConfig = serde_json::from_str(r#"{"target_per_sec": 50.0}"#).unwrap();
    assert_eq!(ramp.target_per_sec, 50.0);
    assert_eq!(ramp.initial_per_sec, RampConfig::default().initial_per_sec);
    let plan: ProbePlan = serde_json::from_str(r#"{"first": {"fixed": 1000}}"#).unwrap();
    assert_eq!(plan.first, FirstProbe::Fixed(1_000));
    assert_eq!(plan.unreachable, ProbePlan::default().unreachable);
    // A backoff is given whole.
    assert!(serde_json::from_str::<ProbePlan>(r#"{"not_ready": {"base_ms": 1}}"#).is_err());
}

#[test]
fn every_failure_class_has_one_name_one_scope_and_one_rule() {
    use scheduler::Scope;
    let policy = RetryPolicy {
        server_down: RetryRule::DeadLetter,
        transient: RetryRule::Backoff {
            backoff: Backoff::new(1_000, 2.0, 4_000, Jitter::None).unwrap(),
            max_retries: 3,
        },
        not_found: RetryRule::Backoff {
            backoff: Backoff::new(7_000, 2.0, 9_000, Jitter::None).unwrap(),
            max_retries: 2,
        },
        permanent: RetryRule::Requeue,
        ..RetryPolicy::default()
    };
    let expected = [
        ("server_down", Scope::Server, policy.server_down),
        ("outage", Scope::Server, policy.transient),
        ("transient", Scope::Job, policy.transient),
        ("item_error", Scope::Job, policy.transient),
        ("not_found", Scope::Job, policy.not_found),
        ("permanent", Scope::Job, policy.permanent),
        ("configuration", Scope::Settings, RetryRule::Requeue),
        ("invalid_job", Scope::Job, RetryRule::DeadLetter),
        ("deferred", Scope::None, RetryRule::Requeue),
    ];
    assert_eq!(ErrorClass::ALL.len(), expected.len());
    for (class, (name, scope, rule)) in ErrorClass::ALL.into_iter().zip(expected) {
        assert_eq!(class.as_str(), name);
        assert_eq!(class.to_string(), name);
        assert_eq!(name.parse::<ErrorClass>(), Ok(class));
        assert_eq!(
            serde_json::to_value(class).unwrap(),
            serde_json::json!(name)
        );
        assert_eq!(class.scope(), scope, "{name}");
        assert_eq!(class.is_outage(), scope == Scope::Server, "{name}");
        assert_eq!(policy.rule(class), rule, "{name}");
    }
    let error = "outages".parse::<ErrorClass>().unwrap_err().to_string();
    assert!(error.contains("\"outages\""), "{error}");
    assert!(
        error.contains("server_down") && error.contains("deferred"),
        "{error}"
    );
}

#[test]
fn a_deferred_probe_waits_past_the_cap_and_the_next_record_forgets_it() {
    let mut rng = rng();
    let mut p = ProbeSchedule::default();
    p.arm(T0, &mut rng);
    let planned = p.poll_timeout().unwrap();
    // Earlier than planned: nothing moves.
    p.defer_to(planned - 1, T0);
    assert_eq!(p.poll_timeout(), Some(planned));
    // Twenty minutes on, far past the 60 s cap: not taken for a clock step.
    let later = T0 + 1_200_000;
    p.defer_to(later, T0);
    assert_eq!(p.poll_timeout(), Some(later));
    assert!(!p.is_due(T0));
    assert!(!p.is_due(later - 1));
    assert!(p.is_due(later));
    // It survives a restore, as the state file carries it.
    let restored = ProbeSchedule::restore(*p.plan(), p.state());
    assert!(!restored.is_due(T0));
    // The next probe's record plans from the backoff again, and a due time a cap ahead is
    // once more a clock step.
    let next = p.record(ProbeOutcome::Unreachable, later, &mut rng);
    assert!(next - later <= 60_000);
    assert!(p.is_due(next - 60_001));
    // Hastened: brought forward, never put back.
    p.hasten_to(next - 1);
    assert_eq!(p.poll_timeout(), Some(next - 1));
    p.hasten_to(next + 5);
    assert_eq!(p.poll_timeout(), Some(next - 1));
}

#[test]
fn an_idle_schedule_is_neither_deferred_nor_hastened() {
    let mut p = ProbeSchedule::default();
    p.defer_to(T0 + 1_000_000, T0);
    p.hasten_to(T0);
    assert_eq!(p.poll_timeout(), None);
    assert_eq!(p.state(), ProbeSchedule::default().state());
}
