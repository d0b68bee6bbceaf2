//! `cargo xtask bench queue`: the durable job queue's throughput, the cost of one enqueue from
//! a fresh process, and peak memory and disk while draining a large backlog. With `--compare`
//! the same workloads run on persist-queue's SQLiteAckQueue (Python), for a ratio.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use persist::{Queue, QueueOptions};
use serde_json::json;

const JOBS: u64 = 10_000;
const SPAWNS: usize = 31;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Bytes in every file under `dir`.
fn size_of(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => size_of(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time_spawns(mut command: impl FnMut() -> Command) -> Result<Duration, String> {
    let mut samples = Vec::with_capacity(SPAWNS);
    for _ in 0..SPAWNS {
        let mut c = command();
        c.stdout(std::process::Stdio::null());
        let start = Instant::now();
        let status = c.status().map_err(err)?;
        samples.push(start.elapsed());
        if !status.success() {
            return Err(format!("{c:?} failed: {status}"));
        }
    }
    Ok(median(samples))
}

fn me(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the xtask binary's path"));
    c.arg("bench-child").args(args);
    c
}

fn python(script: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("python3");
    c.arg(script).args(args);
    c
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn queue(args: &[&str]) -> Result<(), String> {
    let compare = args.contains(&"--compare");
    let backlog: u64 = match args.iter().position(|a| *a == "--backlog") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .ok_or("--backlog takes a number of jobs")?,
        None => 100_000,
    };
    let base = match args.iter().position(|a| *a == "--dir") {
        Some(i) => PathBuf::from(args.get(i + 1).ok_or("--dir takes a directory")?),
        None => std::env::temp_dir(),
    };
    let scratch = Scratch(base.join(format!("plexsync-bench-{}", std::process::id())));
    std::fs::create_dir_all(&scratch.0).map_err(err)?;
    let script = crate::cmd::root().join("xtask/bench/sqlite_queue.py");
    if compare {
        let probe = Command::new("python3")
            .args(["-c", "import persistqueue"])
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            return Err(
                "--compare needs python3 with persist-queue: pip install persist-queue".into(),
            );
        }
    }

    println!(
        "persist queue ({} on {})",
        if compare {
            "vs persist-queue SQLiteAckQueue"
        } else {
            "alone"
        },
        scratch.0.display()
    );

    // 1. Throughput with full durability: every operation is synced before it returns.
    let dir = scratch.0.join("throughput");
    let mut q = Queue::open(&dir, QueueOptions::default()).map_err(err)?;
    let start = Instant::now();
    for i in 0..JOBS {
        q.enqueue(&format!("scene-{i}"), &json!({"scene": i}), now())
            .map_err(err)?;
    }
    let enqueue = start.elapsed();
    let start = Instant::now();
    for _ in 0..JOBS {
        let lease = q
            .lease(60_000, now())
            .map_err(err)?
            .ok_or("the queue ran dry")?;
        q.ack(&lease).map_err(err)?;
    }
    let drain = start.elapsed();
    let rate = |d: Duration| JOBS as f64 / d.as_secs_f64();
    println!(
        "  enqueue {JOBS} jobs:         {:>7.2} s  {:>8.0} jobs/s",
        enqueue.as_secs_f64(),
        rate(enqueue)
    );
    println!(
        "  lease + ack {JOBS} jobs:     {:>7.2} s  {:>8.0} jobs/s",
        drain.as_secs_f64(),
        rate(drain)
    );
    if compare {
        let py = crate::cmd::json_output(python(
            &script,
            &[
                "throughput",
                path(&scratch.0.join("py-throughput")),
                &JOBS.to_string(),
            ],
        ))?;
        let (pe, pd) = (
            py["enqueue_s"].as_f64().unwrap_or(f64::NAN),
            py["lease_ack_s"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "  sqlite enqueue:              {pe:>7.2} s  {:>8.0} jobs/s  (plexsync {:.1}x faster)",
            JOBS as f64 / pe,
            pe / enqueue.as_secs_f64()
        );
        println!(
            "  sqlite get + ack:            {pd:>7.2} s  {:>8.0} jobs/s  (plexsync {:.1}x faster)",
            JOBS as f64 / pd,
            pd / drain.as_secs_f64()
        );
    }

    // 2. One enqueue from a fresh process, against an empty queue and a full backlog.
    let noop = time_spawns(|| me(&["noop"]))?;
    let empty = scratch.0.join("empty");
    let once_empty = time_spawns(|| me(&["enqueue-once", path(&empty)]))?;
    let full = scratch.0.join("backlog");
    {
        let mut q = Queue::open(&full, QueueOptions::default()).map_err(err)?;
        eprintln!("  (filling a backlog of {backlog} jobs, one synced enqueue each)");
        for i in 0..backlog {
            q.enqueue(
                &format!("scene-{i}"),
                &json!({"scene": i, "title": "a title of some length"}),
                now(),
            )
            .map_err(err)?;
        }
    }
    let once_full = time_spawns(|| me(&["enqueue-once", path(&full)]))?;
    println!(
        "  process start + exit, nothing else: {:>7.2} ms (median of {SPAWNS})",
        noop.as_secs_f64() * 1e3
    );
    println!(
        "  fresh process, one enqueue, empty queue:        {:>7.2} ms",
        once_empty.as_secs_f64() * 1e3
    );
    println!(
        "  fresh process, one enqueue, {backlog} queued: {:>7.2} ms",
        once_full.as_secs_f64() * 1e3
    );

    // 3. Draining the backlog in a process of its own, for its peak memory.
    let drained = crate::cmd::json_output(me(&["drain", path(&full)]))?;
    println!(
        "  drain {} jobs: {:.1} s, peak RSS {:.1} MiB, queue files {:.1} MiB at the start, {:.1} MiB at most while draining, {:.1} KiB at the end",
        drained["drained"],
        drained["seconds"].as_f64().unwrap_or(f64::NAN),
        drained["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        drained["start_bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        drained["peak_bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        drained["end_bytes"].as_f64().unwrap_or(f64::NAN) / 1024.0,
    );

    if compare {
        let py_empty = scratch.0.join("py-empty");
        let py_noop = time_spawns(|| {
            let mut c = Command::new("python3");
            c.args(["-c", "import persistqueue"]);
            c
        })?;
        let py_once_empty = time_spawns(|| python(&script, &["enqueue-once", path(&py_empty)]))?;
        let py_full = scratch.0.join("py-backlog");
        eprintln!("  (filling the sqlite backlog)");
        let filled = crate::cmd::json_output(python(
            &script,
            &["fill", path(&py_full), &backlog.to_string()],
        ))?;
        let py_once_full = time_spawns(|| python(&script, &["enqueue-once", path(&py_full)]))?;
        let start = Instant::now();
        let py_drained = crate::cmd::json_output(python(&script, &["drain", path(&py_full)]))?;
        let py_drain_s = start.elapsed().as_secs_f64();
        println!(
            "  sqlite: python start + import:                 {:>7.2} ms",
            py_noop.as_secs_f64() * 1e3
        );
        println!(
            "  sqlite: fresh process, one enqueue, empty:     {:>7.2} ms  (plexsync {:.1}x faster)",
            py_once_empty.as_secs_f64() * 1e3,
            py_once_empty.as_secs_f64() / once_empty.as_secs_f64()
        );
        println!(
            "  sqlite: fresh process, one enqueue, {backlog} queued: {:>7.2} ms  (plexsync {:.1}x faster)",
            py_once_full.as_secs_f64() * 1e3,
            py_once_full.as_secs_f64() / once_full.as_secs_f64()
        );
        println!(
            "  sqlite: drain {} jobs: {:.1} s, peak RSS {:.1} MiB, database {:.1} MiB at the start, {:.1} MiB at most",
            py_drained["drained"],
            py_drain_s,
            py_drained["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            filled["bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
            py_drained["peak_bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        );
    }
    Ok(())
}

/// What the child processes of this benchmark do.
pub(crate) fn child(args: &[&str]) -> Result<(), String> {
    match args {
        ["noop"] => Ok(()),
        ["enqueue-once", dir] => {
            let mut q = Queue::open(dir, QueueOptions::default()).map_err(err)?;
            q.enqueue("scene-once", &json!({"scene": 1}), now())
                .map_err(err)?;
            Ok(())
        }
        ["drain", dir] => {
            let dir = Path::new(dir);
            let start_bytes = size_of(dir);
            let mut peak_bytes = start_bytes;
            let mut q = Queue::open(dir, QueueOptions::default()).map_err(err)?;
            let start = Instant::now();
            let mut drained = 0u64;
            while let Some(lease) = q.lease(60_000, now()).map_err(err)? {
                q.ack(&lease).map_err(err)?;
                drained += 1;
                if drained % 1_000 == 0 {
                    peak_bytes = peak_bytes.max(size_of(dir));
                }
            }
            let seconds = start.elapsed().as_secs_f64();
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let peak_rss_kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0);
            println!(
                "{}",
                json!({"drained": drained, "seconds": seconds, "peak_rss_kib": peak_rss_kib,
                       "start_bytes": start_bytes, "peak_bytes": peak_bytes, "end_bytes": size_of(dir)})
            );
            Ok(())
        }
        _ => Err(format!("unknown bench child {args:?}")),
    }
}
