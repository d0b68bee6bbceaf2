//! Bounds that hold for every input. Case counts come from `PROPTEST_CASES`.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use scheduler::{
    Backoff, Early, FirstProbe, Jitter, ProbeOutcome, ProbePlan, ProbeSchedule, Ramp, RampConfig,
};

fn jitter() -> impl Strategy<Value = Jitter> {
    prop_oneof![
        Just(Jitter::None),
        Just(Jitter::Full),
        Just(Jitter::Equal),
        Just(Jitter::Decorrelated),
    ]
}

fn backoff() -> impl Strategy<Value = Backoff> {
    (0u64..1_000_000, 1.0f64..4.0, 0u64..1_000_000_000, jitter()).prop_map(
        |(base, factor, extra, jitter)| {
            Backoff::new(base, factor, base + extra, jitter).expect("valid by construction")
        },
    )
}

proptest! {
    #[test]
    fn ceilings_grow_and_stay_under_the_cap(b in backoff(), attempt in 0u32..200) {
        let here = b.ceiling(attempt);
        prop_assert!(here <= b.cap_ms());
        prop_assert!(here >= b.base_ms().min(b.cap_ms()));
        prop_assert!(b.ceiling(attempt + 1) >= here);
    }

    #[test]
    fn every_jitter_stays_within_its_formula(
        b in backoff(),
        attempt in any::<u32>(),
        previous in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let t = b.ceiling(attempt);
        let d = b.delay(attempt, previous, &mut rng);
        match b.jitter() {
            Jitter::None => prop_assert_eq!(d, t),
            Jitter::Full => prop_assert!(d <= t),
            Jitter::Equal => prop_assert!(d >= t / 2 && d <= t),
            Jitter::Decorrelated => {
                prop_assert!(d >= b.base_ms() && d <= b.cap_ms());
                prop_assert!(d <= previous.saturating_mul(3).max(b.base_ms()));
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_delays(b in backoff(), seed in any::<u64>()) {
        let run = |seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut previous = b.base_ms();
            (0..20).map(|n| { previous = b.delay(n, previous, &mut rng); previous }).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(seed), run(seed));
    }

    #[test]
    fn probe_intervals_follow_the_plan_for_each_kind_of_failure(
        outcomes in proptest::collection::vec(0u8..4, 1..50),
        seed in any::<u64>(),
        start in 0u64..u64::MAX / 2,
        (base_u, cap_u) in (1u64..10_000, 1u64..20).prop_map(|(b, m)| (b, b * m)),
        (base_n, cap_n) in (1u64..60_000, 1u64..20).prop_map(|(b, m)| (b, b * m)),
        (base_l, cap_l) in (1u64..60_000, 1u64..20).prop_map(|(b, m)| (b, b * m)),
        fixed_first in proptest::option::of(0u64..100_000),
        early in proptest::option::of((1u64..30_000, 0u64..100, 0u64..200_000)),
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let unreachable = Backoff::new(base_u, 2.0, cap_u, Jitter::Equal).unwrap();
        let not_ready = Backoff::new(base_n, 1.5, cap_n, Jitter::Full).unwrap();
        let loading = Backoff::new(base_l, 2.0, cap_l, Jitter::Equal).unwrap();
        let first = fixed_first.map_or(FirstProbe::Jittered, FirstProbe::Fixed);
        let early = early.map(|(every_ms, age_divisor, loading_for_ms)| Early { every_ms, age_divisor, loading_for_ms });
        let mut probes = ProbeSchedule::new(ProbePlan { unreachable, not_ready, loading, first, early });
        probes.arm(start, &mut rng);
        let mut now = probes.poll_timeout().unwrap();
        match fixed_first {
            Some(delay) => prop_assert_eq!(now - start, delay),
            None => {
                let every = early.map_or(u64::MAX, |e| e.every_ms);
                prop_assert!(now - start >= (base_u / 2).min(every) && now - start <= base_u.min(every));
            }
        }
        // Failed probes in a row on one backoff: another kind's backoff starts from its base.
        let backoff_of = |o: ProbeOutcome| match o {
            ProbeOutcome::NotReady => not_ready,
            ProbeOutcome::Loading => loading,
            ProbeOutcome::Healthy | ProbeOutcome::Unreachable => unreachable,
        };
        let mut failures = 0u32;
        let mut streak = 0u32;
        let mut last: Option<Backoff> = None;
        for pick in outcomes {
            let outcome = [ProbeOutcome::Healthy, ProbeOutcome::Unreachable, ProbeOutcome::NotReady, ProbeOutcome::Loading][pick as usize];
            let deep = matches!(outcome, ProbeOutcome::NotReady | ProbeOutcome::Loading);
            prop_assert!(probes.is_due(now));
            let next = probes.record(outcome, now, &mut rng);
            if outcome == ProbeOutcome::Healthy {
                (failures, streak, last) = (0, 0, None);
            } else {
                failures += 1;
                streak = match last {
                    None => failures,
                    Some(b) if b == backoff_of(outcome) => streak + 1,
                    Some(_) => 1,
                };
                last = Some(backoff_of(outcome));
            }
            let interval = next - now;
            let answering = probes.state().answering_since;
            prop_assert_eq!(answering.is_some(), deep, "answering since a probe that got an answer");
            prop_assert!(answering.is_none_or(|at| at <= now));
            let bound = early.and_then(|e| e.bound(outcome, now - start, answering.map(|at| now - at)));
            if let (Some(e), Some(b)) = (early, bound) {
                prop_assert!(b >= e.every_ms);
            }
            match (outcome, bound) {
                (_, Some(b)) => prop_assert!(interval <= b),
                (ProbeOutcome::NotReady, None) => {
                    prop_assert!(interval <= not_ready.ceiling(streak));
                    prop_assert!(interval <= cap_n);
                }
                (ProbeOutcome::Loading, None) => {
                    let ceiling = loading.ceiling(streak);
                    prop_assert!(interval >= ceiling / 2 && interval <= ceiling);
                    prop_assert!(interval <= cap_l);
                }
                (_, None) => {
                    let ceiling = unreachable.ceiling(streak);
                    prop_assert!(interval >= ceiling / 2 && interval <= ceiling);
                }
            }

            if interval > 0 {
                prop_assert!(!probes.is_due(next - 1));
            }
            now = next;
        }
    }

    #[test]
    fn ramp_rate_stays_between_half_the_floor_and_the_ceiling(
        initial in 0.1f64..100.0,
        target in 0.1f64..100.0,
        ramp_ms in 0u64..1_000_000,
        steps in proptest::collection::vec((0u64..20_000, any::<bool>(), any::<bool>()), 1..300),
        start in 0u64..1_000_000_000_000,
    ) {
        let config = RampConfig { initial_per_sec: initial, target_per_sec: target, ramp_ms, ..RampConfig::default() };
        let mut ramp = Ramp::start(config, start).unwrap();
        let low = initial.min(target) / 2.0;
        let high = initial.max(target);
        let mut now = start;
        let mut taken = 0u64;
        for (dt, acquire, ok) in steps {
            now += dt;
            if acquire {
                if ramp.try_acquire(now).is_ok() {
                    taken += 1;
                }
            } else {
                ramp.record(ok, now);
            }
            let rate = ramp.rate(now);
            prop_assert!(rate >= low - 1e-9 && rate <= high + 1e-9, "rate {} outside [{}, {}]", rate, low, high);
            // A token bucket of one second's capacity never hands out more than the rate allows.
            let allowed = 1.0 + high.max(1.0) + high * (now - start) as f64 / 1_000.0;
            prop_assert!(taken as f64 <= allowed, "{} tokens taken, at most {} allowed", taken, allowed);
        }
    }

    #[test]
    fn ramp_survives_any_timestamps(
        steps in proptest::collection::vec((any::<u64>(), any::<bool>(), any::<bool>()), 1..100),
    ) {
        let mut ramp = Ramp::start(RampConfig::default(), 0).unwrap();
        for (now, acquire, ok) in steps {
            if acquire {
                if let Err(at) = ramp.try_acquire(now) {
                    prop_assert!(at > now || now == u64::MAX);
                }
            } else {
                ramp.record(ok, now);
            }
            let rate = ramp.rate(now);
            prop_assert!((2.5..=20.0).contains(&rate));
        }
    }
}
