//! `cargo xtask bench hook [--samples N] [--backlog N]`: what a scene save in Stash waits for.
//! A whole `plexsync stash` hook process, from start to exit, with the GraphQL fetch answered
//! by the fake Stash on loopback: on an idle queue, then one after another for the whole of a
//! drain of a backlog by `plexsync process` beside it (the two share the queue's lock), so that
//! the samples span the drain's compactions; how many they overlapped is counted. Beside it,
//! the floor of any Python hook: python3 starting, importing what an HTTP client needs and
//! reading the same input.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;

use engine::{SyncJob, wall_ms};
use fake_plex::{FakePlex, Library};
use fake_stash::{FakeStash, Options, scene};
use persist::{Queue, QueueOptions};
use plex_client::MetadataEdit;
use serde_json::json;

use crate::bench_cli::{samples_and_backlog, summary};
use crate::cmd::root;

/// Movies in the fake Plex for the backlog's jobs.
const MOVIES: usize = 1_000;

/// The newest snapshot's file name in the queue directory, and whether one is being written.
fn compaction(dir: &std::path::Path) -> (String, bool) {
    let mut newest = String::new();
    let mut writing = false;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("snapshot-") {
            if name.ends_with(".tmp") {
                writing = true;
            } else if name.ends_with(".jsonl") && name > newest {
                newest = name;
            }
        }
    }
    (newest, writing)
}

/// Runs `command` with `stdin`, timing it from spawn to exit; fails unless it exits 0.
pub(crate) fn timed(command: &mut Command, stdin: &[u8]) -> Result<f64, String> {
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(stdin)
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(ms)
}

/// `cargo xtask bench hook [--samples N] [--backlog N] [--before BINARY]`: with
/// `--before`, everything runs again with that binary (an earlier build), for a comparison in
/// one run.
pub(crate) fn bench(args: &[&str]) -> Result<(), String> {
    let (before, rest): (Vec<&[&str]>, Vec<&[&str]>) = args
        .chunks(2)
        .partition(|pair| pair.first() == Some(&"--before"));
    let rest: Vec<&str> = rest.concat();
    let (samples, backlog) = samples_and_backlog(&rest)?;
    crate::cmd::release_plexsync()?;
    let mut binaries = vec![(
        "this build".to_owned(),
        root().join("target/release/plexsync"),
    )];
    for pair in before {
        let path = pair.get(1).ok_or("--before needs a value")?;
        binaries.push(("--before".to_owned(), std::path::PathBuf::from(path)));
    }
    for (name, binary) in binaries {
        println!("\n== {name}: {}", binary.display());
        bench_one(&binary, samples, backlog)?;
    }
    Ok(())
}

fn bench_one(binary: &std::path::Path, samples: usize, backlog: usize) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stash = runtime
        .block_on(FakeStash::start(Options {
            session: Some("bench-session".into()),
            ..Options::default()
        }))
        .map_err(|e| e.to_string())?;
    for i in 0..samples * 2 {
        let mut s = scene(
            &i.to_string(),
            &format!("Scene {i}"),
            &format!("/data/Movies/s{i}.mkv"),
        );
        s["performers"] = json!([{ "name": "A Performer" }, { "name": "Another" }]);
        s["tags"] = json!([{ "name": "A tag" }, { "name": "Another tag" }, { "name": "Third" }]);
        s["studio"] = json!({ "name": "A Studio" });
        stash.add_scene(s);
    }
    let mut library = Library::demo();
    for i in 0..samples * 2 {
        library.add_movie(
            "1",
            &format!("Scene {i}"),
            &format!("/data/Movies/s{i}.mkv"),
        );
    }
    // The backlog's jobs share a thousand movies: the queue holds `backlog` jobs, while each
    // lookup in the fake Plex stays as quick as Plex's own (the fake filters by scanning).
    for i in 0..backlog.min(MOVIES) {
        library.add_movie(
            "1",
            &format!("Movie {i}"),
            &format!("/data/Movies/bench-{i}.mkv"),
        );
    }
    let plex = runtime
        .block_on(FakePlex::start(library))
        .map_err(|e| e.to_string())?;
    stash.set_plugin_settings(
        "plexsync",
        json!({ "plex_url": plex.url(), "plex_token": plex.token() }),
    );
    let home = std::env::temp_dir().join(format!("plexsync-bench-hook-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let data = home.join("plexsync");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    // The ramp off, so that the drain goes as fast as the fake Plex lets it.
    std::fs::write(data.join("config.toml"), "[policy.ramp]\nenabled = false\n")
        .map_err(|e| e.to_string())?;
    // The idle queue is one of its own; the drain's is in `home`.
    let idle_home = home.join("idle");
    let input = |id: usize, home: &std::path::Path| {
        json!({
            "server_connection": { "Scheme": "http", "Host": "0.0.0.0", "Port": stash.port(), "Dir": home,
                "SessionCookie": { "Name": "session", "Value": "bench-session" } },
            "args": { "hookContext": { "id": id, "type": "Scene.Update.Post", "input": { "id": id.to_string(), "title": "x" } } },
        })
        .to_string()
        .into_bytes()
    };
    let hook = || {
        let mut command = Command::new(binary);
        command.arg("stash").env_clear();
        command
    };
    let python_floor = "import sys, json, urllib.request, http.client; json.load(sys.stdin)";
    println!(
        "a Stash hook, process start to exit, release build, fake Stash and Plex on loopback ({samples} samples each)"
    );

    // 1. An idle queue, alternating with the Python floor.
    let (mut idle, mut python) = (Vec::new(), Vec::new());
    for i in 0..samples {
        idle.push(timed(&mut hook(), &input(i, &idle_home))?);
        if let Ok(ms) = timed(
            Command::new("python3").args(["-c", python_floor]),
            &input(i, &idle_home),
        ) {
            python.push(ms);
        }
    }
    let _ = summary("plexsync stash, hook, idle queue", idle);
    if !python.is_empty() {
        let _ = summary(
            "python3: start, import json + urllib, read the input",
            python,
        );
    }

    // 2. Beside a drain of `backlog` jobs.
    let mut queue =
        Queue::open(data.join("queue"), QueueOptions::default()).map_err(|e| e.to_string())?;
    let jobs: Vec<SyncJob> = (0..backlog)
        .map(|i| SyncJob {
            scene_id: format!("b{i}"),
            files: vec![format!("/data/Movies/bench-{}.mkv", i % MOVIES)],
            edit: MetadataEdit {
                title: Some(format!("Edited {i}")),
                ..MetadataEdit::default()
            },
            edited_at: 0,
        })
        .collect();
    queue
        .enqueue_many(jobs.iter().map(|j| (j.key(), j)), wall_ms())
        .map_err(|e| e.to_string())?;
    drop(queue);
    let mut drainer = Command::new(binary)
        .args(["process"])
        .env_clear()
        .env("PLEX_URL", plex.url())
        .env("PLEX_TOKEN", plex.token())
        .env("PLEXSYNC_DATA_DIR", &data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let queue_dir = data.join("queue");
    let started = Instant::now();
    let (mut busy, mut overlapping) = (Vec::new(), Vec::new());
    let mut compactions = 0u64;
    let mut last = compaction(&queue_dir);
    let mut i = samples;
    // Back to back for the whole drain: every compaction it does falls among the samples.
    while drainer.try_wait().map_err(|e| e.to_string())?.is_none() {
        let before = compaction(&queue_dir);
        let ms = timed(&mut hook(), &input(i % (samples * 2), &home))?;
        let after = compaction(&queue_dir);
        i += 1;
        if after.0 != last.0 {
            compactions += 1;
        }
        // Its snapshot being written, or committed, while the hook ran.
        if before.1 || after.1 || before.0 != after.0 {
            overlapping.push(ms);
        }
        last = after;
        busy.push(ms);
    }
    let during = started.elapsed().as_secs_f64();
    let left = Queue::open_read_only(data.join("queue"), QueueOptions::default())
        .and_then(|mut q| q.stats(wall_ms()))
        .map(|s| s.pending + s.leased)
        .unwrap_or(0);
    let _ = drainer.wait();
    // The bound on the slowest hook: how many missed it, and whether they fell
    // while a snapshot was written.
    let over = busy.iter().filter(|ms| **ms > 25.0).count();
    let over_writing = overlapping.iter().filter(|ms| **ms > 25.0).count();
    let total = busy.len();
    let _ = summary(
        &format!("plexsync stash, hook, beside a {backlog}-job drain"),
        busy,
    );
    println!(
        "  {over} of {total} hooks took over 25 ms ({over_writing} of them while a snapshot was written)"
    );
    if !overlapping.is_empty() {
        let _ = summary("  of which while a snapshot was written", overlapping);
    }
    println!(
        "  (the hooks ran back to back for the {during:.1} s the drain took, which compacted the queue {} meanwhile; {} left)",
        engine::count(compactions, "time", "times"),
        engine::count(left as u64, "job was", "jobs were")
    );
    let _ = std::fs::remove_dir_all(&home);
    Ok(())
}
