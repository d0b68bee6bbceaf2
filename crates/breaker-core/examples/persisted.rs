//! The breaker's state kept in a JSON file between runs, so that the next process starts
//! where the last one stopped: plexsync's own use, for a program that is not a daemon.
//!
//! The first process finds the service down, trips the breaker and saves it. It then starts
//! itself again as a second process, which loads the file and refuses the call at once,
//! without touching the service. Needs the `serde` feature (on for examples).
//!
//! Run with `cargo run -p breaker-core --example persisted`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use std::{env, fs};

use breaker_core::{Breaker, Config, Decision, FailureClass, Outcome, Snapshot};

/// Every process sharing the file must share its clock: wall-clock milliseconds.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The service is down for the whole example.
fn call_service() -> Result<(), &'static str> {
    Err("connection refused")
}

fn load(config: Config, path: &Path) -> Breaker {
    // Any snapshot that parses is valid; a missing or damaged file starts a fresh breaker.
    let saved = fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Snapshot>(&bytes).ok());
    saved.map_or(Breaker::new(config), |snapshot| {
        Breaker::restore(config, snapshot)
    })
}

fn save(breaker: &Breaker, path: &Path) -> std::io::Result<()> {
    // Write aside, then rename: a reader never sees half a file.
    let partial = path.with_extension("json.partial");
    fs::write(&partial, serde_json::to_vec(&breaker.snapshot())?)?;
    fs::rename(partial, path)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::builder()
        .failure_threshold(3)
        .open_wait_ms(60_000)
        .build()?;
    let second = env::args().nth(1).map(PathBuf::from);
    let path = second
        .clone()
        .unwrap_or_else(|| env::temp_dir().join(format!("breaker-{}.json", std::process::id())));
    let mut breaker = load(config, &path);

    let me = std::process::id();
    let mut refused = false;
    for _ in 0..config.failure_threshold() {
        match breaker.acquire(now_ms()).decision {
            Decision::Permit(permit) => {
                let outcome = match call_service() {
                    Ok(()) => Outcome::Success,
                    Err(_) => Outcome::Failure(FailureClass::Outage),
                };
                for t in breaker.report(permit, outcome, now_ms()).transitions {
                    println!("process {me}: {} -> {} ({:?})", t.from, t.to, t.cause);
                }
            }
            Decision::Reject(refusal) => {
                let wait_s = refusal.retry_at.unwrap_or(0).saturating_sub(now_ms()) / 1_000;
                let ago = now_ms().saturating_sub(breaker.since());
                println!(
                    "process {me}: breaker {} since {ago} ms ago, not calling for {wait_s} s",
                    refusal.state
                );
                refused = true;
                break;
            }
        }
    }
    save(&breaker, &path)?;

    if second.is_none() {
        let status = Command::new(env::current_exe()?).arg(&path).status()?;
        fs::remove_file(&path)?;
        assert!(
            status.success(),
            "the second process did not see the OPEN breaker"
        );
    } else {
        assert!(refused, "the saved breaker was not OPEN");
    }
    Ok(())
}
