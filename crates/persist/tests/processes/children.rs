//! What the child processes do.

use std::fs::OpenOptions;
use std::io::Write;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use persist::{Queue, QueueOptions, StateFile};

/// How a child that stopped on an error of its own exits: not 1, which is what a child killed
/// on Windows exits with (`Child::kill` is `TerminateProcess(…, 1)` there).
pub(crate) const FAILED: u8 = 2;

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

pub(crate) fn run(args: &[String]) -> ExitCode {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["increment", path, times] => increment(path, times),
        ["enqueue-drain", dir, worker, jobs, log] => enqueue_drain(dir, worker, jobs, log),
        ["grow", path] => return grow(path),
        ["enqueue-big", dir] => return enqueue_big(dir),
        ["torture", dir, log, seed] => crate::torture::worker(dir, log, seed),
        ["hold-worker-lock", path] => hold_worker_lock(path),
        ["ack-unsynced", dir] => ack_unsynced(dir),
        ["hold-open", paths @ ..] => hold_open(paths),
        ["read-over-and-over", state, queue] => read_over_and_over(state, queue),
        _ => Err(format!("unknown child role {args:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("child: {why}");
            ExitCode::from(FAILED)
        }
    }
}

fn increment(path: &str, times: &str) -> Result<(), String> {
    let times: u32 = times.parse().map_err(|_| "bad count")?;
    let file: StateFile<u64> = StateFile::new(path, 1);
    // Both ways of updating: one reads the file each time, the other keeps what it read.
    for i in 0..times {
        if i % 2 == 0 {
            file.update(|n| *n += 1)
        } else {
            file.update_if_changed(|n| *n += 1)
        }
        .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn enqueue_drain(dir: &str, worker: &str, jobs: &str, log: &str) -> Result<(), String> {
    let jobs: u32 = jobs.parse().map_err(|_| "bad count")?;
    let mut queue = Queue::open(dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    let mut acked = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| e.to_string())?;
    for i in 0..jobs {
        queue
            .enqueue(&format!("w{worker}-{i}"), &serde_json::json!(i), now())
            .map_err(|e| e.to_string())?;
        // Interleave draining with enqueueing, then drain what is left.
        if i % 2 == 1 {
            drain_one(&mut queue, &mut acked)?;
        }
    }
    while drain_one(&mut queue, &mut acked)? {}
    Ok(())
}

fn drain_one(queue: &mut Queue, log: &mut std::fs::File) -> Result<bool, String> {
    let Some(lease) = queue.lease(60_000, now()).map_err(|e| e.to_string())? else {
        return Ok(false);
    };
    queue.ack(&lease).map_err(|e| e.to_string())?;
    writeln!(log, "{}", lease.job.key).map_err(|e| e.to_string())?;
    Ok(true)
}

/// Tries to store a state far larger than the file-size limit the parent set.
fn grow(path: &str) -> ExitCode {
    let file: StateFile<Vec<String>> = StateFile::new(path, 1);
    match file.update(|v| v.extend((0..2_000).map(|i| format!("filler line {i:>40}")))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(3)
        }
    }
}

/// Tries to enqueue a job far larger than the file-size limit the parent set.
fn enqueue_big(dir: &str) -> ExitCode {
    let result = Queue::open(dir, QueueOptions::default())
        .and_then(|mut queue| queue.enqueue("big", &serde_json::json!("x".repeat(64 * 1024)), 1));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(3)
        }
    }
}

/// Takes the worker lock, says so, and holds it until stdin closes (or it is killed).
fn hold_worker_lock(path: &str) -> Result<(), String> {
    let _held = persist::WorkerLock::try_acquire(path).map_err(|e| e.to_string())?;
    println!("locked");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut rest).map_err(|e| e.to_string())?;
    Ok(())
}

/// Opens every file in `paths` for reading, says so, waits for a line on stdin, then reads
/// each to its end through the handle it opened and prints how many bytes each gave.
fn hold_open(paths: &[&str]) -> Result<(), String> {
    let mut files = paths
        .iter()
        .map(|p| std::fs::File::open(p).map_err(|e| format!("{p}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    println!("open {}", files.len());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let mut lengths = Vec::new();
    for file in &mut files {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(file, &mut bytes).map_err(|e| e.to_string())?;
        lengths.push(bytes.len().to_string());
    }
    println!("{}", lengths.join(" "));
    Ok(())
}

/// Reads `state` and every file in the directory `queue`, open, read, closed, over and over
/// until a line comes on stdin; then prints how many files it read. A file gone between the
/// listing and the open is skipped, as a reader would.
fn read_over_and_over(state: &str, queue: &str) -> Result<(), String> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopper = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        stopper.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    println!("reading");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut reads = 0u64;
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let mut paths = vec![std::path::PathBuf::from(state)];
        if let Ok(entries) = std::fs::read_dir(queue) {
            paths.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
        for path in paths {
            match std::fs::read(&path) {
                Ok(_) => reads += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                // Windows: a file being removed cannot be opened until its last handle goes.
                Err(e) if cfg!(windows) && e.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
    }
    println!("{reads}");
    Ok(())
}

/// Acks every job of the queue in `dir` without syncing, says so, and waits to be killed.
fn ack_unsynced(dir: &str) -> Result<(), String> {
    let mut queue = Queue::open(dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    while let Some(lease) = queue.lease(60_000, now()).map_err(|e| e.to_string())? {
        queue.ack_unsynced(&lease).map_err(|e| e.to_string())?;
    }
    println!("acked {}", queue.unsynced_acks());
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut rest).map_err(|e| e.to_string())?;
    Ok(())
}
