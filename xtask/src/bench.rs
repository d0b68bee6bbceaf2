//! Micro-benchmarks, timed in-process. Figures are medians over batches, in nanoseconds per
//! operation; compare rows of one run rather than runs on different days.

use std::hint::black_box;
use std::time::Instant;

use breaker_core::{Breaker, Config, Decision, FailureClass, Health, Outcome};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use scheduler::{Interval, ProbeSchedule, due};

const T0: u64 = 1_700_000_000_000;
const BATCHES: usize = 15;
const PER_BATCH: u64 = 1_000_000;

/// Runs `op` in batches and prints the median and the fastest batch, per operation.
fn measure(name: &str, mut op: impl FnMut(u64)) {
    let mut i = 0u64;
    // Warm up caches and branch predictors.
    for _ in 0..PER_BATCH / 10 {
        op(i);
        i += 1;
    }
    let mut per_op: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PER_BATCH {
                op(i);
                i += 1;
            }
            start.elapsed().as_nanos() as f64 / PER_BATCH as f64
        })
        .collect();
    per_op.sort_by(f64::total_cmp);
    println!(
        "{name:<58} {:>7.1} ns/op median {:>7.1} ns/op best",
        per_op[BATCHES / 2],
        per_op[0]
    );
}

fn permit(breaker: &mut Breaker, now: u64) -> breaker_core::Permit {
    match breaker.acquire(now).decision {
        Decision::Permit(p) => p,
        Decision::Reject(r) => panic!("bench setup: the breaker refused a permit: {r:?}"),
    }
}

pub(crate) fn breaker() -> Result<(), String> {
    println!("breaker-core ({BATCHES} batches of {PER_BATCH} operations)");

    let mut closed = Breaker::default();
    measure("CLOSED: acquire + report success", |i| {
        let now = T0 + i;
        let p = permit(&mut closed, now);
        let _ = black_box(closed.report(p, Outcome::Success, now));
    });

    let mut flapping = Breaker::new(
        Config::builder()
            .failure_threshold(u32::MAX)
            .build()
            .map_err(|e| e.to_string())?,
    );
    measure("CLOSED: acquire + report outage failure (no trip)", |i| {
        let now = T0 + i;
        let p = permit(&mut flapping, now);
        let _ = black_box(flapping.report(p, Outcome::Failure(FailureClass::Outage), now));
    });

    let trial_config = Config::builder()
        .failure_threshold(1)
        .success_threshold(u32::MAX)
        .build()
        .map_err(|e| e.to_string())?;
    let mut half_open = Breaker::new(trial_config);
    let p = permit(&mut half_open, T0);
    let _ = half_open.report(p, Outcome::Failure(FailureClass::Outage), T0);
    let _ = half_open.probe(Health::Healthy, T0);
    measure("HALF_OPEN: acquire trial lease + report success", |i| {
        let now = T0 + i;
        let p = permit(&mut half_open, now);
        let _ = black_box(half_open.report(p, Outcome::Success, now));
    });

    let mut open = Breaker::new(
        Config::builder()
            .failure_threshold(1)
            .open_wait_ms(u64::MAX / 4)
            .build()
            .map_err(|e| e.to_string())?,
    );
    let p = permit(&mut open, T0);
    let _ = open.report(p, Outcome::Failure(FailureClass::Outage), T0);
    measure("OPEN: probe decision, unhealthy (stays OPEN)", |i| {
        let _ = black_box(open.probe(Health::Unhealthy, T0 + i));
    });
    measure("OPEN: acquire rejected", |i| {
        let _ = black_box(open.acquire(T0 + i));
    });
    measure(
        "OPEN -> HALF_OPEN -> OPEN: healthy then unhealthy probe",
        |i| {
            let _ = black_box(open.probe(Health::Healthy, T0 + i));
            let _ = black_box(open.probe(Health::Unhealthy, T0 + i));
        },
    );
    measure("snapshot + restore", |_| {
        black_box(Breaker::restore(*open.config(), black_box(open.snapshot())));
    });

    println!("scheduler");
    let mut rng = SmallRng::seed_from_u64(1);
    let mut probes = ProbeSchedule::default();
    probes.arm(T0, &mut rng);
    measure("probe schedule: is_due + record failed probe", |i| {
        let now = T0 + i;
        black_box(probes.is_due(now));
        black_box(probes.record(scheduler::ProbeOutcome::Unreachable, now, &mut rng));
    });
    measure("check-on-invocation: due(last_run, daily, now)", |i| {
        black_box(due(black_box(Some(T0)), Interval::DAILY, T0 + i));
    });
    Ok(())
}
