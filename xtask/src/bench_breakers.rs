//! `cargo xtask bench breakers`: breaker-core beside failsafe and recloser, the same workloads
//! in one process. breaker-core is measured as a user would run it: with the clock read it
//! needs (none, a coarse clock, or `SystemTime`), and behind a `Mutex` where the peers lock
//! or synchronise internally.

use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use breaker_core::{Breaker, Config, Decision, FailureClass, Outcome};

const T0: u64 = 1_700_000_000_000;

/// Wall-clock milliseconds kept in an atomic by a thread that ticks every millisecond: reading
/// it costs one load. The examples show the same helper.
struct CoarseClock {
    now: AtomicU64,
    stop: AtomicBool,
}

impl CoarseClock {
    fn start() -> &'static CoarseClock {
        let clock: &'static CoarseClock = Box::leak(Box::new(CoarseClock {
            now: AtomicU64::new(wall_ms()),
            stop: AtomicBool::new(false),
        }));
        std::thread::spawn(move || {
            while !clock.stop.load(Ordering::Relaxed) {
                clock.now.store(wall_ms(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        clock
    }

    fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The protected call: succeeds or fails on demand, and costs next to nothing.
#[inline(never)]
fn service(fail: bool, i: u64) -> Result<u64, u64> {
    if black_box(fail) { Err(i) } else { Ok(i) }
}

fn outcome<T, E>(result: &Result<T, E>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure(FailureClass::Outage),
    }
}

/// One protected call through breaker-core: acquire, call, report.
#[inline(always)]
fn protected(breaker: &mut Breaker, fail: bool, i: u64, now: u64) -> Option<Result<u64, u64>> {
    match breaker.acquire(now).decision {
        Decision::Permit(permit) => {
            let result = service(fail, i);
            let report = breaker.report(permit, outcome(&result), now);
            observe(report);
            Some(result)
        }
        Decision::Reject(_) => None,
    }
}

/// What a caller does with a report: looks at whether it counted, and logs its transitions.
#[inline(always)]
fn observe(report: breaker_core::Report) {
    black_box(report.counted);
    for transition in report.transitions {
        black_box(transition);
    }
}

fn core_breaker(failure_threshold: u32) -> Breaker {
    Breaker::new(
        Config::builder()
            .failure_threshold(failure_threshold)
            .open_wait_ms(u64::MAX / 4)
            .build()
            .expect("constant configuration"),
    )
}

/// One row of a workload: a name, and a batch of `PER_BATCH` protected calls from call `i`.
type Row<'a> = (&'static str, Box<dyn FnMut(u64) + 'a>);

/// Wraps one protected call into a batch, so that the call itself is monomorphised and inlined
/// and only the batch goes through `dyn`.
fn row<'a>(name: &'static str, mut call: impl FnMut(u64) + 'a) -> Row<'a> {
    let batch = move |from: u64| {
        for i in from..from + PER_BATCH {
            call(i);
        }
    };
    (name, Box::new(batch))
}

const BATCHES: usize = 21;
const PER_BATCH: u64 = 200_000;

/// Runs the rows' batches in turn, round after round, so that a noisy spell on this shared
/// machine falls on every row alike; the median nanoseconds per call of each row.
fn interleaved(mut rows: Vec<Row<'_>>) -> Vec<(&'static str, f64)> {
    let mut times = vec![Vec::with_capacity(BATCHES); rows.len()];
    for (_, batch) in rows.iter_mut() {
        batch(0); // warm up
    }
    for round in 0..BATCHES as u64 {
        for (k, (_, batch)) in rows.iter_mut().enumerate() {
            let start = Instant::now();
            batch((round + 1) * PER_BATCH);
            times[k].push(start.elapsed().as_nanos() as f64 / PER_BATCH as f64);
        }
    }
    rows.iter()
        .zip(times)
        .map(|((name, _), mut t)| {
            t.sort_by(f64::total_cmp);
            (*name, t[BATCHES / 2])
        })
        .collect()
}

/// The rows of one workload: (name, ns per call).
fn workload(fail: bool, open: bool, clock: &CoarseClock) -> Vec<(&'static str, f64)> {
    let threshold = if open { 1 } else { u32::MAX };
    let prepare = |b: &mut Breaker| {
        if open {
            let _ = protected(b, true, 0, T0);
        }
    };
    let mut rows: Vec<Row<'_>> = Vec::new();

    let mut passed_in = core_breaker(threshold);
    prepare(&mut passed_in);
    rows.push(row("breaker-core, `now` passed in", move |i| {
        black_box(protected(&mut passed_in, fail, i, T0 + i));
    }));
    let mut coarse = core_breaker(threshold);
    prepare(&mut coarse);
    rows.push(row("breaker-core + coarse clock", move |i| {
        black_box(protected(&mut coarse, fail, i, clock.now()));
    }));
    let shared = Mutex::new(core_breaker(threshold));
    prepare(&mut shared.lock().unwrap());
    rows.push(row("breaker-core + coarse clock + std `Mutex`", move |i| {
        let now = clock.now();
        let admitted = shared.lock().unwrap().acquire(now).decision;
        let Decision::Permit(permit) = admitted else {
            black_box(());
            return;
        };
        let result = service(fail, i);
        let report = shared.lock().unwrap().report(permit, outcome(&result), now);
        observe(report);
        let _ = black_box(result);
    }));
    let shared = parking_lot::Mutex::new(core_breaker(threshold));
    prepare(&mut shared.lock());
    rows.push(row(
        "breaker-core + coarse clock + parking_lot `Mutex`",
        move |i| {
            let now = clock.now();
            let admitted = shared.lock().acquire(now).decision;
            let Decision::Permit(permit) = admitted else {
                black_box(());
                return;
            };
            let result = service(fail, i);
            let report = shared.lock().report(permit, outcome(&result), now);
            observe(report);
            let _ = black_box(result);
        },
    ));
    let mut wall = core_breaker(threshold);
    prepare(&mut wall);
    rows.push(row("breaker-core + `SystemTime::now()`", move |i| {
        black_box(protected(&mut wall, fail, i, wall_ms()));
    }));

    use failsafe::CircuitBreaker as _;
    let failsafe = failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            threshold,
            failsafe::backoff::constant(Duration::from_secs(3_600)),
        ))
        .build();
    if open {
        let _ = failsafe.call(|| service(true, 0));
    }
    rows.push(row("failsafe 1.3 `consecutive_failures`", move |i| {
        let _ = black_box(failsafe.call(|| service(fail, i)));
    }));

    let recloser = recloser::Recloser::custom()
        .error_rate(if open { 0.5 } else { 2.0 })
        .closed_len(1)
        .open_wait(Duration::from_secs(3_600))
        .build();
    if open {
        let _ = recloser.call(|| service(true, 0));
        let _ = recloser.call(|| service(true, 0));
    }
    rows.push(row("recloser 1.4", move |i| {
        let _ = black_box(recloser.call(|| service(fail, i)));
    }));
    interleaved(rows)
}

pub(crate) fn breakers() -> Result<(), String> {
    let clock = CoarseClock::start();
    std::thread::sleep(Duration::from_millis(5));
    let success = workload(false, false, clock);
    let failure = workload(true, false, clock);
    let rejected = workload(false, true, clock);
    clock.stop.store(true, Ordering::Relaxed);
    println!(
        "ns per protected call, median of {BATCHES} rounds of {PER_BATCH} calls per row, rows \
         interleaved (release):\n"
    );
    println!("| | succeeding call, closed | failing call, closed, no trip | rejected while open |");
    println!("|---|---|---|---|");
    for (i, (name, ns)) in success.iter().enumerate() {
        println!(
            "| {name} | {ns:.1} | {:.1} | {:.1} |",
            failure[i].1, rejected[i].1
        );
    }
    println!(
        "\nsize of one breaker: breaker-core {} bytes inline; failsafe {} bytes (an Arc to a \
         Mutex and its policy on the heap); recloser {} bytes plus its ring buffer on the heap",
        size_of::<Breaker>(),
        size_of::<
            failsafe::StateMachine<
                failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
                (),
            >,
        >(),
        size_of::<recloser::Recloser>()
    );
    Ok(())
}
