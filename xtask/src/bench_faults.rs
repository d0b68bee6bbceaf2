//! `cargo xtask bench faults`: the release binary against a misbehaving fake Plex, measured.
//!
//! - A poison item (its edits always get a 500) among good jobs that keep coming, under
//!   `plexsync run` for some minutes: probes, PUTs to the poison item, log lines, outages.
//! - 1,000 jobs against a server that closes idle kept-alive connections without a word, at
//!   several idle timeouts, and against one that closes every reused connection: how many
//!   jobs failed (a retry or worse).
//! - A worker killed in the middle of a half-open trial: the time from the kill to the next
//!   job synced by the worker that follows.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Fault, Library, Options, ServerPhase};

use crate::cmd::{json_output, root};

/// `cargo xtask bench faults [--minutes N] [--before BINARY]`: N is 5 by default; with
/// `--before`, every measurement runs with that binary too (an earlier build), for a
/// comparison in one run.
pub(crate) fn bench(args: &[&str]) -> Result<(), String> {
    let mut minutes = 5u64;
    let mut before = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match *arg {
            "--minutes" => {
                minutes = value
                    .parse()
                    .map_err(|_| "--minutes takes a number".to_owned())?;
            }
            "--before" => before = Some(PathBuf::from(value)),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    crate::cmd::release_plexsync()?;
    let runtime = crate::cmd::runtime()?;
    let mut binaries = vec![("this build", root().join("target/release/plexsync"))];
    if let Some(before) = before {
        binaries.push(("--before", before));
    }
    for (name, binary) in &binaries {
        println!(
            "\n== {name}: {} against the fake Plex on loopback",
            binary.display()
        );
        poison(&runtime, binary, minutes)?;
        stale_connections(&runtime, binary)?;
        killed_trial(&runtime, binary)?;
    }
    Ok(())
}

/// A fake Plex with `movies` movies at /data/Movies/m<i>.mkv; their rating keys.
fn start(
    runtime: &tokio::runtime::Runtime,
    movies: usize,
    options: Options,
) -> Result<(FakePlex, Vec<String>), String> {
    let mut library = Library::demo();
    let keys = (0..movies)
        .map(|i| {
            library.add_movie(
                "1",
                &format!("Movie {i}"),
                &format!("/data/Movies/m{i}.mkv"),
            )
        })
        .collect();
    let plex = runtime
        .block_on(FakePlex::start_with(library, options))
        .map_err(|e| e.to_string())?;
    Ok((plex, keys))
}

/// `binary`, its data in `data`, talking to `plex`.
fn plexsync(binary: &Path, plex: &FakePlex, data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PLEX_URL", plex.url())
        .env("PLEX_TOKEN", plex.token())
        .env("PLEXSYNC_DATA_DIR", data)
        .stdin(Stdio::null());
    command
}

fn succeed(mut command: Command) -> Result<String, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("{command:?} failed: {stderr}"));
    }
    Ok(stderr)
}

/// Queues jobs `range`, one `enqueue` process each.
fn enqueue(
    binary: &Path,
    plex: &FakePlex,
    data: &Path,
    range: std::ops::Range<usize>,
    title: &str,
) -> Result<(), String> {
    for i in range {
        let command = plexsync(
            binary,
            plex,
            data,
            &[
                "enqueue",
                "--scene",
                &i.to_string(),
                "--file",
                &format!("/data/Movies/m{i}.mkv"),
                "--title",
                &format!("{title} {i}"),
            ],
        );
        succeed(command)?;
    }
    Ok(())
}

fn tempdir(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("plexsync-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

fn terminate(child: &mut Child) -> Result<String, String> {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .map_err(|e| e.to_string())?;
    let out = std::mem::replace(
        child,
        Command::new("true").spawn().map_err(|e| e.to_string())?,
    )
    .wait_with_output()
    .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stderr).into_owned())
}

fn poison(runtime: &tokio::runtime::Runtime, binary: &Path, minutes: u64) -> Result<(), String> {
    const GOOD: usize = 300;
    let (plex, keys) = start(runtime, GOOD + 1, Options::default())?;
    let poison = keys[0].clone();
    let id = format!("id={poison}&");
    plex.inject_when(
        Arc::new(move |r| r.method == "PUT" && r.query.contains(&id)),
        Fault::Status(500),
    );
    let data = tempdir("poison")?;
    succeed(plexsync(binary, &plex, &data, &["process"]))?;
    let before = plex.requests().len();
    enqueue(binary, &plex, &data, 0..11, "Edited")?;
    let mut worker = plexsync(binary, &plex, &data, &["run"])
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    // Good edits keep coming: ten more every ten seconds.
    let started = Instant::now();
    let mut next = 11;
    while started.elapsed() < Duration::from_secs(minutes * 60) {
        std::thread::sleep(Duration::from_secs(10));
        if next + 10 <= GOOD {
            enqueue(binary, &plex, &data, next..next + 10, "Edited")?;
            next += 10;
        }
    }
    let log = terminate(&mut worker)?;
    let requests = &plex.requests()[before..];
    let probes = requests.iter().filter(|r| r.path == "/identity").count();
    let id = format!("id={poison}&");
    let puts = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.query.contains(&id))
        .count();
    let lines = log.lines().filter(|l| !l.contains("DEBUG")).count();
    let status = json_output(plexsync(binary, &plex, &data, &["status", "--json"]))?;
    let dead = json_output(plexsync(binary, &plex, &data, &["dlq", "list", "--json"]))?;
    println!(
        "\none poison item among {} good jobs under `plexsync run` for {minutes} min:",
        next - 1
    );
    println!("  probes {probes}, PUTs to the poison item {puts}, log lines {lines}");
    println!(
        "  outages {} (+{} going on), dead letters: {}",
        status["reliability"]["outages"],
        u8::from(!status["current_outage"].is_null()),
        dead.as_array()
            .map(|d| d
                .iter()
                .map(|l| format!("{} {}", l["job"]["key"], l["class"]))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

fn stale_connections(runtime: &tokio::runtime::Runtime, binary: &Path) -> Result<(), String> {
    const JOBS: usize = 1_000;
    println!("\n{JOBS} jobs against servers that close kept-alive connections without a word:");
    let cases: [(String, Options, bool); 4] = [
        ("idle connections closed after 1 ms".into(), idle(1), false),
        ("idle connections closed after 5 ms".into(), idle(5), false),
        (
            "idle connections closed after 20 ms".into(),
            idle(20),
            false,
        ),
        (
            "every reused connection closed".into(),
            Options::default(),
            true,
        ),
    ];
    for (name, options, drop_reused) in cases {
        let (plex, _) = start(runtime, JOBS, options)?;
        if drop_reused {
            plex.inject(Fault::DropReused);
        }
        let data = tempdir("stale")?;
        succeed(plexsync(binary, &plex, &data, &["process"]))?;
        enqueue(binary, &plex, &data, 0..JOBS, "Edited")?;
        let log = succeed(plexsync(
            binary,
            &plex,
            &data,
            &["-v", "process", "--max-outage", "never"],
        ))?;
        // Each job that failed on the way logs one line with its class.
        let failed = log
            .lines()
            .filter(|l| l.contains(": outage, retry") || l.contains(": server_down, retry"))
            .count();
        let lost = log
            .lines()
            .filter(|l| l.contains("the connection closed before Plex finished answering"))
            .count();
        println!(
            "  {name:<40} {failed} of {JOBS} jobs failed ({:.2} %), {lost} lines name a lost connection",
            100.0 * failed as f64 / JOBS as f64
        );
        let _ = std::fs::remove_dir_all(&data);
    }
    Ok(())
}

fn idle(ms: u64) -> Options {
    Options {
        idle_timeout: Some(Duration::from_millis(ms)),
        ..Options::default()
    }
}

fn killed_trial(runtime: &tokio::runtime::Runtime, binary: &Path) -> Result<(), String> {
    let (plex, _) = start(runtime, 6, Options::default())?;
    let data = tempdir("trial")?;
    succeed(plexsync(binary, &plex, &data, &["process"]))?;
    runtime.block_on(plex.set_phase(ServerPhase::Refused));
    enqueue(binary, &plex, &data, 0..6, "Edited")?;
    let mut worker = plexsync(binary, &plex, &data, &["process", "--max-outage", "never"])
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    wait_for(Duration::from_secs(60), || {
        json_output(plexsync(binary, &plex, &data, &["status", "--json"]))
            .is_ok_and(|s| s["breaker"]["state"] == "open")
    })?;
    plex.inject_when(Arc::new(|r| r.method == "PUT"), Fault::Hang);
    runtime.block_on(plex.set_phase(ServerPhase::Ready));
    wait_for(Duration::from_secs(120), || {
        plex.requests().iter().any(|r| r.method == "PUT")
    })?;
    worker.kill().map_err(|e| e.to_string())?;
    let killed = Instant::now();
    let _ = worker.wait();
    plex.clear_faults();
    let edits = plex.edits().len();
    let mut next = plexsync(binary, &plex, &data, &["process", "--max-outage", "never"])
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    wait_for(Duration::from_secs(120), || plex.edits().len() > edits)?;
    let took = killed.elapsed();
    let _ = next.wait();
    println!(
        "\na worker killed in the middle of its half-open trial (permit lease 60 s): the next job synced {:.2} s after the kill",
        took.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let started = Instant::now();
    while !done() {
        if started.elapsed() > limit {
            return Err("timed out waiting".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
