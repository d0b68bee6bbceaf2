//! The breaker against its reference model, over random inputs and random time steps.
//!
//! Case counts come from `PROPTEST_CASES` (256 by default; `cargo xtask proptest` runs 10,000).

mod model;

use breaker_core::{
    Breaker, Cause, Config, Decision, FailureClass, Health, Outcome, Permit, Snapshot, State,
    Transition,
};
use model::{Model, ModelConfig, ModelDecision, ModelOutcome, ModelPermit, ModelTransition};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Step {
    Forward(u64),
    Backward(u64),
    Jump(u64),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Acquire,
    Probe,
    Timeout,
    Other,
}

#[derive(Clone, Debug)]
enum Event {
    Acquire,
    Report {
        pick: usize,
        outcome: ModelOutcome,
    },
    Probe(bool),
    /// Held open until this long from now.
    HoldOpen(u64),
    ForceOpen,
    Reset,
    Timeout,
    Restore,
}

fn config() -> impl Strategy<Value = ModelConfig> {
    (
        1u32..6,
        1u64..100_000,
        1u32..4,
        1u64..10,
        1u32..4,
        1u64..100_000,
        1u32..4,
        proptest::option::of(1u64..100_000),
    )
        .prop_map(
            |(failures, wait, factor, cap_mult, permits, lease, successes, slow)| ModelConfig {
                failure_threshold: failures,
                open_wait: wait,
                open_wait_factor: factor,
                open_wait_cap: wait * cap_mult,
                permits,
                lease,
                success_threshold: successes,
                slow_call: slow,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u64..150_000).prop_map(Step::Forward),
        1 => (0u64..300_000).prop_map(Step::Backward),
        1 => any::<u64>().prop_map(Step::Jump),
    ]
}

fn outcome() -> impl Strategy<Value = ModelOutcome> {
    prop_oneof![
        Just(ModelOutcome::Success),
        Just(ModelOutcome::Outage),
        Just(ModelOutcome::Other),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => Just(Event::Acquire),
        8 => (any::<usize>(), outcome()).prop_map(|(pick, outcome)| Event::Report { pick, outcome }),
        2 => any::<bool>().prop_map(Event::Probe),
        1 => prop_oneof![0u64..200_000, any::<u64>()].prop_map(Event::HoldOpen),
        1 => Just(Event::ForceOpen),
        1 => Just(Event::Reset),
        1 => Just(Event::Timeout),
        1 => Just(Event::Restore),
    ]
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..2_000_000_000_000,
        1 => (u64::MAX - 1_000_000)..=u64::MAX,
    ]
}

fn build(c: &ModelConfig) -> Config {
    let mut b = Config::builder()
        .failure_threshold(c.failure_threshold)
        .open_wait_growth(c.open_wait, c.open_wait_factor, c.open_wait_cap)
        .half_open_permits(c.permits)
        .permit_lease_ms(c.lease)
        .success_threshold(c.success_threshold);
    if let Some(slow) = c.slow_call {
        b = b.slow_call_ms(slow);
    }
    b.build()
        .expect("the strategy only makes valid configurations")
}

fn outcome_of(o: ModelOutcome) -> Outcome {
    match o {
        ModelOutcome::Success => Outcome::Success,
        ModelOutcome::Outage => Outcome::Failure(FailureClass::Outage),
        ModelOutcome::Other => Outcome::Failure(FailureClass::Other),
    }
}

fn same_transitions(real: impl Iterator<Item = Transition>, model: Vec<ModelTransition>) {
    let real: Vec<ModelTransition> = real
        .map(|t| ModelTransition {
            from: t.from,
            to: t.to,
            at: t.at,
            generation: t.generation,
            cause: t.cause,
        })
        .collect();
    assert_eq!(real, model, "transitions differ");
}

/// Invariants checked from the outside, without trusting either implementation.
#[derive(Default)]
struct Watch {
    /// Counted outage-class failures in a row while CLOSED.
    consecutive_outages: u32,
    /// Counted successful trials in the current HALF_OPEN period.
    trial_successes: u32,
    /// Trial permits granted in the current HALF_OPEN period and neither reported nor expired:
    /// (generation, issue order, expiry).
    live_trials: Vec<(u64, u64, u64)>,
}

impl Watch {
    fn saw(&mut self, t: &Transition, c: &ModelConfig) {
        if t.from == State::Closed && t.to == State::Open {
            assert_eq!(t.cause, Cause::FailureThreshold);
            assert!(
                self.consecutive_outages >= c.failure_threshold,
                "opened after {} failures, threshold {}",
                self.consecutive_outages,
                c.failure_threshold
            );
        }
        if t.from == State::HalfOpen && t.to == State::Closed && t.cause != Cause::Reset {
            assert!(
                self.trial_successes >= c.success_threshold,
                "closed after {} trial successes, threshold {}",
                self.trial_successes,
                c.success_threshold
            );
        }
        self.consecutive_outages = 0;
        self.trial_successes = 0;
        self.live_trials.clear();
    }

    fn time(&mut self, now: u64, last: u64, lease: u64) {
        if now < last {
            for t in &mut self.live_trials {
                t.2 = t.2.min(now.saturating_add(lease));
            }
        }
        self.live_trials.retain(|t| t.2 > now);
    }
}

fn run(config: ModelConfig, start: u64, script: Vec<(Step, Event)>) {
    let cfg = build(&config);
    let mut real = Breaker::new(cfg);
    let mut model = Model::new(config);
    let mut outstanding: Vec<(Permit, ModelPermit, u64)> = Vec::new();
    let mut watch = Watch::default();
    let mut now = start;
    let mut last = 0u64;
    let mut issued = 0u64;

    for (step, event) in script {
        now = match step {
            Step::Forward(d) => now.saturating_add(d),
            Step::Backward(d) => now.saturating_sub(d),
            Step::Jump(t) => t,
        };
        // Time passes for the breaker only with an input that carries it.
        if !matches!(event, Event::Restore) {
            watch.time(now, last, config.lease);
            last = now;
        }
        let before = real.clone();
        let event_kind = match event {
            Event::Acquire => Kind::Acquire,
            Event::Probe(_) => Kind::Probe,
            Event::Timeout => Kind::Timeout,
            _ => Kind::Other,
        };
        match event {
            Event::Acquire => {
                let admission = real.acquire(now);
                let expected = model.acquire(now);
                for t in admission.transitions.iter() {
                    watch.saw(&t, &config);
                }
                same_transitions(admission.transitions.into_iter(), model.take_log());
                match (admission.decision, expected) {
                    (Decision::Permit(p), ModelDecision::Permit(m)) => {
                        assert_eq!(p.generation(), m.generation);
                        assert_eq!(p.is_trial(), m.lease.is_some());
                        assert_eq!(p.issued_at(), m.issued_at);
                        if p.is_trial() {
                            watch.live_trials.push((
                                p.generation(),
                                issued,
                                now.saturating_add(config.lease),
                            ));
                            assert!(
                                watch.live_trials.len() as u32 <= config.permits,
                                "{} trials in flight with {} permits",
                                watch.live_trials.len(),
                                config.permits
                            );
                        }
                        outstanding.push((p, m, issued));
                        issued += 1;
                    }
                    (Decision::Reject(r), ModelDecision::Reject { state, retry_at }) => {
                        assert_eq!(r.state, state);
                        assert_eq!(r.retry_at, retry_at);
                    }
                    (got, want) => panic!("decision {got:?}, model says {want:?}"),
                }
            }
            Event::Report { pick, outcome } => {
                if outstanding.is_empty() {
                    continue;
                }
                let (permit, mp, order) = outstanding.remove(pick % outstanding.len());
                let trial = permit.is_trial();
                let mut expected_if_stale = before.clone();
                let timed = expected_if_stale.handle_timeout(now);
                let generation_is_stale = permit.generation() != expected_if_stale.generation();
                for t in timed.iter() {
                    watch.saw(&t, &config);
                }
                let still_live = watch.live_trials.iter().any(|t| t.1 == order);
                let report = real.report(permit, outcome_of(outcome), now);
                let counted = model.report(mp, outcome, now);
                assert_eq!(report.counted, counted, "counted differs");
                if generation_is_stale {
                    assert!(!report.counted, "a stale generation was counted");
                    assert_eq!(
                        real, expected_if_stale,
                        "a stale generation changed the breaker"
                    );
                }
                if report.counted {
                    let slow = config
                        .slow_call
                        .is_some_and(|s| now.saturating_sub(mp.issued_at) >= s);
                    let effective = if outcome == ModelOutcome::Success && slow {
                        ModelOutcome::Outage
                    } else {
                        outcome
                    };
                    if trial {
                        assert!(still_live, "an expired or unknown trial was counted");
                        if effective == ModelOutcome::Success {
                            watch.trial_successes += 1;
                        }
                    } else {
                        match effective {
                            ModelOutcome::Success => watch.consecutive_outages = 0,
                            ModelOutcome::Outage => watch.consecutive_outages += 1,
                            ModelOutcome::Other => {}
                        }
                    }
                    watch.live_trials.retain(|t| t.1 != order);
                }
                let caused: Vec<Transition> = report.transitions.iter().collect();
                for t in caused.iter().skip(timed.len()) {
                    watch.saw(t, &config);
                }
                same_transitions(report.transitions.into_iter(), model.take_log());
            }
            Event::Probe(healthy) => {
                let health = if healthy {
                    Health::Healthy
                } else {
                    Health::Unhealthy
                };
                let out = real.probe(health, now);
                model.probe(healthy, now);
                for t in out.iter() {
                    watch.saw(&t, &config);
                }
                same_transitions(out.into_iter(), model.take_log());
            }
            Event::HoldOpen(ahead) => {
                let until = now.saturating_add(ahead);
                let out = real.hold_open(until, now);
                model.hold_open(until, now);
                for t in out.iter() {
                    watch.saw(&t, &config);
                }
                same_transitions(out.into_iter(), model.take_log());
            }
            Event::ForceOpen => {
                let out = real.force_open(now);
                model.force_open(now);
                for t in out.iter() {
                    watch.saw(&t, &config);
                }
                same_transitions(out.into_iter(), model.take_log());
            }
            Event::Reset => {
                let out = real.reset(now);
                model.reset(now);
                for t in out.iter() {
                    watch.saw(&t, &config);
                }
                if out.is_empty() {
                    watch.consecutive_outages = 0;
                }
                same_transitions(out.into_iter(), model.take_log());
            }
            Event::Timeout => {
                let out = real.handle_timeout(now);
                model.advance(now);
                for t in out.iter() {
                    watch.saw(&t, &config);
                }
                same_transitions(out.into_iter(), model.take_log());
            }
            Event::Restore => {
                let json = serde_json::to_string(&real.snapshot()).expect("snapshot serializes");
                let back: Snapshot = serde_json::from_str(&json).expect("snapshot deserializes");
                real = Breaker::restore(cfg, back);
            }
        }
        // In CLOSED, asking, probing and letting time pass change nothing at all, so that
        // whoever persists the snapshot can skip the write.
        if before.state() == State::Closed
            && real.state() == State::Closed
            && matches!(event_kind, Kind::Acquire | Kind::Probe | Kind::Timeout)
        {
            assert_eq!(
                real.snapshot(),
                before.snapshot(),
                "a no-op in CLOSED changed the snapshot"
            );
        }
        // Every step: the machine and the model agree on everything observable...
        assert_eq!(real.state(), model.state);
        assert_eq!(real.since(), model.since);
        assert_eq!(real.generation(), model.generation);
        assert_eq!(real.poll_timeout(), model.poll_timeout());
        assert_eq!(real.reopens(), model.reopens);
        assert_eq!(real.trials_in_flight() as usize, model.leases.len());
        if model.state == State::Closed {
            assert_eq!(real.consecutive_failures(), model.failures);
        }
        if model.state == State::HalfOpen {
            assert_eq!(real.trial_successes(), model.successes);
        }
        // ...and the snapshot round-trips exactly, in memory and through JSON.
        let snapshot = real.snapshot();
        assert_eq!(Breaker::restore(cfg, snapshot), real);
        let json = serde_json::to_string(&snapshot).expect("snapshot serializes");
        assert_eq!(
            serde_json::from_str::<Snapshot>(&json).expect("deserializes"),
            snapshot
        );
    }
}

proptest! {
    #[test]
    fn machine_agrees_with_model(
        config in config(),
        start in start(),
        script in proptest::collection::vec((step(), event()), 1..200),
    ) {
        run(config, start, script);
    }
}

proptest! {
    /// Timestamps in any order, anywhere in `u64`: nothing panics and the model still agrees.
    #[test]
    fn any_timestamp_order_is_handled(
        config in config(),
        script in proptest::collection::vec((any::<u64>().prop_map(Step::Jump), event()), 1..100),
    ) {
        run(config, 0, script);
    }
}
