//! Crash torture: workers enqueue, lease, ack, retry, dead-letter and compact in a loop while
//! the parent kills them with SIGKILL at random moments. Afterwards no job whose enqueue
//! returned may be missing, none may have been acked twice, and every file must still parse.
//!
//! `PERSIST_TORTURE_KILLS` sets the number of kills (default 60); `cargo xtask torture` runs
//! thousands.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::thread;
use std::time::Duration;

use persist::{Error, Queue, QueueOptions, Selection};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::children::now;
use crate::{check, child, temp_dir};

fn options() -> QueueOptions {
    // Small limits, so that compaction and segment roll-over happen all the time.
    QueueOptions {
        compact_min_records: 40,
        max_segment_bytes: 4_096,
        ..QueueOptions::default()
    }
}

pub(crate) fn crash_torture() -> Result<(), String> {
    let kills: u32 = std::env::var("PERSIST_TORTURE_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let tmp = temp_dir("torture");
    let dir = tmp.path().join("queue");
    let dir_arg = dir.to_str().expect("UTF-8 path").to_owned();
    let mut rng = rand::rng();
    let mut spawned = 0u32;
    let spawn = |spawned: &mut u32| -> Result<Child, String> {
        *spawned += 1;
        let log = tmp.path().join(format!("log-{spawned}"));
        child(
            "torture",
            &[
                &dir_arg,
                log.to_str().expect("UTF-8 path"),
                &spawned.to_string(),
            ],
        )
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start a worker: {e}"))
    };
    // Two workers at a time, so that crashes meet concurrency.
    let mut workers = vec![spawn(&mut spawned)?, spawn(&mut spawned)?];
    for _ in 0..kills {
        thread::sleep(Duration::from_micros(rng.random_range(500..20_000)));
        let victim = rng.random_range(0..workers.len());
        let replacement = spawn(&mut spawned)?;
        let mut dead = std::mem::replace(&mut workers[victim], replacement);
        kill(&mut dead)?;
    }
    for mut worker in workers {
        kill(&mut worker)?;
    }
    verify(&dir, tmp.path(), spawned, kills + 2)
}

/// Kills the worker (SIGKILL; TerminateProcess on Windows), then makes sure it had not
/// already stopped on an error of its own.
fn kill(worker: &mut Child) -> Result<(), String> {
    let _ = worker.kill();
    let status = worker.wait().map_err(|e| e.to_string())?;
    // Killed, a worker has no exit code on Unix, and 1 on Windows.
    let killed = if cfg!(windows) { Some(1) } else { None };
    if status.code() != killed && status.code() != Some(0) {
        let mut stderr = String::new();
        if let Some(mut pipe) = worker.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        return Err(format!("a worker failed on its own ({status}): {stderr}"));
    }
    Ok(())
}

fn verify(
    dir: &std::path::Path,
    logs: &std::path::Path,
    spawned: u32,
    kills: u32,
) -> Result<(), String> {
    let mut enqueued = Vec::new();
    let mut ack_tried = HashSet::new();
    let mut acked: HashMap<String, u32> = HashMap::new();
    for n in 1..=spawned {
        let text = std::fs::read_to_string(logs.join(format!("log-{n}"))).unwrap_or_default();
        // A worker killed mid-write may leave half a line at the end.
        for line in text.lines().filter(|l| l.len() > 2) {
            let (kind, key) = line.split_at(2);
            match kind {
                "E " => enqueued.push(key.to_owned()),
                "a " => {
                    ack_tried.insert(key.to_owned());
                }
                "A " => *acked.entry(key.to_owned()).or_default() += 1,
                _ => {}
            }
        }
    }
    let mut queue = Queue::open(dir, options()).map_err(|e| e.to_string())?;
    let recovery = queue.recovery().map_err(|e| e.to_string())?;
    check(recovery.damaged_lines == 0, || {
        format!("damaged lines after crashes: {recovery:?}")
    })?;
    let mut present: HashSet<String> = queue
        .jobs()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|j| j.key)
        .collect();
    present.extend(
        queue
            .dead_letters()
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|d| d.job.key),
    );
    let lost: Vec<&String> = enqueued
        .iter()
        .filter(|k| !present.contains(*k) && !ack_tried.contains(*k))
        .collect();
    check(lost.is_empty(), || {
        format!(
            "{} jobs lost, e.g. {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        )
    })?;
    let twice: Vec<&String> = acked
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    check(twice.is_empty(), || format!("jobs acked twice: {twice:?}"))?;
    let resurrected: Vec<&String> = acked.keys().filter(|k| present.contains(*k)).collect();
    check(resurrected.is_empty(), || {
        format!("acked jobs still queued: {resurrected:?}")
    })?;
    // Everything left can still be drained: no lease is stuck.
    queue
        .requeue_dead(Selection::All, now())
        .map_err(|e| e.to_string())?;
    let later = now() + 3_600_000;
    let mut drained = 0;
    while let Some(lease) = queue.lease(60_000, later).map_err(|e| e.to_string())? {
        queue.ack(&lease).map_err(|e| e.to_string())?;
        drained += 1;
    }
    let left = queue.stats(later).map_err(|e| e.to_string())?;
    check(left.pending + left.leased + left.dead_lettered == 0, || {
        format!("left after draining: {left:?}")
    })?;
    println!(
        "    {kills} kills of {spawned} workers; {} enqueues returned, {} acks returned, {drained} drained after",
        enqueued.len(),
        acked.len()
    );
    Ok(())
}

/// A worker: random queue operations until it is killed.
pub(crate) fn worker(dir: &str, log: &str, seed: &str) -> Result<(), String> {
    let seed: u64 = seed.parse().map_err(|_| "bad seed")?;
    let mut rng = SmallRng::seed_from_u64(seed ^ now());
    let mut queue = Queue::open(dir, options()).map_err(|e| e.to_string())?;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| e.to_string())?;
    for i in 0u64.. {
        let roll = rng.random_range(0..100);
        let result = if roll < 40 {
            let key = format!("{seed}-{i}");
            queue
                .enqueue(&key, &serde_json::json!({"i": i}), now())
                .and_then(|_| note(&mut log, format!("E {key}\n")))
        } else if roll < 90 {
            match queue.lease(30, now()) {
                Ok(Some(lease)) => {
                    let key = lease.job.key.clone();
                    let choice = rng.random_range(0..100);
                    if choice < 60 {
                        note(&mut log, format!("a {key}\n")).map_err(|e| e.to_string())?;
                        queue
                            .ack(&lease)
                            .and_then(|()| note(&mut log, format!("A {key}\n")))
                    } else if choice < 80 {
                        let next = now() + rng.random_range(0..20);
                        queue.retry(
                            &lease,
                            next,
                            rng.random_bool(0.5),
                            "transient",
                            "torture",
                            now(),
                        )
                    } else if choice < 85 {
                        queue.dead_letter(&lease, "permanent", "torture", now())
                    } else {
                        Ok(()) // abandoned, as if the worker had hung
                    }
                }
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        } else if roll < 95 {
            queue.compact()
        } else {
            queue.requeue_dead(Selection::All, now()).map(|_| ())
        };
        match result {
            // The lease ran out and another worker took the job: expected.
            Ok(()) | Err(Error::LeaseLost { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(())
}

fn note(log: &mut std::fs::File, line: String) -> Result<(), Error> {
    log.write_all(line.as_bytes()).map_err(|source| Error::Io {
        action: "write the torture log",
        path: "log".into(),
        source,
    })
}
