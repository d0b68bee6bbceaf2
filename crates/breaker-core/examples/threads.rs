//! One breaker shared by worker threads behind a `Mutex`, protecting a flaky service.
//!
//! The lock is held for the decision and for the report, never across the call, so a slow
//! call never blocks the other workers. `now` comes from a coarse clock: a thread stores the
//! time in an atomic every millisecond, and reading it costs one load.
//!
//! Run with `cargo run -p breaker-core --example threads`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::{Duration, Instant};

use breaker_core::{Breaker, Config, Decision, FailureClass, Outcome, State};

/// Milliseconds since the program started, kept fresh by `tick`.
static NOW_MS: AtomicU64 = AtomicU64::new(0);
static SERVICE_DOWN: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MOST_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// The remote service: takes 2 ms, and fails while it is down.
fn flaky_call() -> Result<(), &'static str> {
    let in_flight = IN_FLIGHT.fetch_add(1, Relaxed) + 1;
    MOST_IN_FLIGHT.fetch_max(in_flight, Relaxed);
    thread::sleep(Duration::from_millis(2));
    IN_FLIGHT.fetch_sub(1, Relaxed);
    if SERVICE_DOWN.load(Relaxed) {
        Err("connection refused")
    } else {
        Ok(())
    }
}

fn main() {
    let config = Config::builder()
        .failure_threshold(3)
        .open_wait_ms(30)
        .success_threshold(2)
        .build()
        .expect("a valid configuration");
    let breaker = Mutex::new(Breaker::new(config));
    let start = Instant::now();
    let (calls, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));

    thread::scope(|s| {
        s.spawn(|| {
            while start.elapsed() < Duration::from_millis(400) {
                NOW_MS.store(start.elapsed().as_millis() as u64, Relaxed);
                // Down from 100 ms to 200 ms.
                let t = NOW_MS.load(Relaxed);
                SERVICE_DOWN.store((100..200).contains(&t), Relaxed);
                thread::sleep(Duration::from_millis(1));
            }
        });
        for _ in 0..4 {
            s.spawn(|| {
                while start.elapsed() < Duration::from_millis(350) {
                    let now = NOW_MS.load(Relaxed);
                    // The guard is a temporary: the lock is released at the end of the line.
                    let admission = breaker.lock().unwrap().acquire(now);
                    log(&admission.transitions);
                    let Decision::Permit(permit) = admission.decision else {
                        refused.fetch_add(1, Relaxed);
                        thread::sleep(Duration::from_millis(5));
                        continue;
                    };
                    let outcome = match flaky_call() {
                        Ok(()) => Outcome::Success,
                        Err(_) => Outcome::Failure(FailureClass::Outage),
                    };
                    let now = NOW_MS.load(Relaxed);
                    let report = breaker.lock().unwrap().report(permit, outcome, now);
                    log(&report.transitions);
                    calls.fetch_add(1, Relaxed);
                }
            });
        }
    });

    let (calls, refused, most) = (
        calls.into_inner(),
        refused.into_inner(),
        MOST_IN_FLIGHT.load(Relaxed),
    );
    println!("{calls} calls made, {refused} refused while the service was down");
    println!("at most {most} calls in flight at once: the lock is never held across a call");
    assert!(most > 1, "calls never overlapped");
    assert!(refused > 0, "the breaker never opened");
    assert_eq!(
        breaker.lock().unwrap().state(),
        State::Closed,
        "the breaker did not recover"
    );
}

fn log(transitions: &breaker_core::Transitions) {
    for t in transitions {
        println!("{:>4} ms  {} -> {}  ({:?})", t.at, t.from, t.to, t.cause);
    }
}
