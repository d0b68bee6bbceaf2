//! The breaker in async code: tasks ask it before each call, and a refused task sleeps until
//! the breaker says asking again may help, instead of polling. A watcher task sleeps until
//! `poll_timeout`, so the move to HALF_OPEN is logged when it happens, even with no traffic.
//!
//! A `std::sync::Mutex` is the right lock here: it is never held across an `.await`.
//!
//! Run with `cargo run -p breaker-core --example tokio`.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use breaker_core::{Breaker, Config, Decision, FailureClass, Outcome, State};
use tokio::time::{Instant, sleep, sleep_until};

/// The remote service: the first 5 calls fail, then it is back.
async fn flaky_call(calls: &AtomicU32) -> Result<(), &'static str> {
    sleep(Duration::from_millis(2)).await;
    if calls.fetch_add(1, Relaxed) < 5 {
        Err("503")
    } else {
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = Config::builder()
        .failure_threshold(3)
        .open_wait_ms(50)
        .build()
        .unwrap();
    let breaker = Arc::new(Mutex::new(Breaker::new(config)));
    let start = Instant::now();
    let now_ms = move || start.elapsed().as_millis() as u64;
    let at = move |ms: u64| start + Duration::from_millis(ms);

    let watcher = tokio::spawn({
        let breaker = breaker.clone();
        async move {
            loop {
                let deadline = breaker.lock().unwrap().poll_timeout();
                // Nothing pending: look again shortly (a real program would use a Notify).
                sleep_until(deadline.map_or(Instant::now() + Duration::from_millis(5), at)).await;
                for t in breaker.lock().unwrap().handle_timeout(now_ms()) {
                    println!("{:>3} ms  timer: {} -> {}", t.at, t.from, t.to);
                }
            }
        }
    });

    let service_calls = AtomicU32::new(0);
    let mut done = 0;
    while done < 10 {
        let admission = breaker.lock().unwrap().acquire(now_ms());
        for t in admission.transitions {
            println!("{:>3} ms  time:  {} -> {}", t.at, t.from, t.to);
        }
        match admission.decision {
            Decision::Permit(permit) => {
                let outcome = match flaky_call(&service_calls).await {
                    Ok(()) => Outcome::Success,
                    Err(_) => Outcome::Failure(FailureClass::Outage),
                };
                done += u32::from(outcome == Outcome::Success);
                let report = breaker.lock().unwrap().report(permit, outcome, now_ms());
                for t in report.transitions {
                    println!("{:>3} ms  call:  {} -> {}", t.at, t.from, t.to);
                }
            }
            Decision::Reject(refusal) => {
                let retry_at = refusal.retry_at.expect("OPEN and HALF_OPEN say when");
                println!(
                    "{:>3} ms  refused ({}), sleeping until {retry_at} ms",
                    now_ms(),
                    refusal.state
                );
                sleep_until(at(retry_at)).await;
            }
        }
    }
    watcher.abort();
    assert_eq!(breaker.lock().unwrap().state(), State::Closed);
    println!(
        "10 calls succeeded after {} attempts",
        service_calls.load(Relaxed)
    );
}
