//! `cargo xtask bench stash [--edits N] [--before BINARY]`: from a save in Stash to the edit in
//! Plex, with the plugin's automatic drain on. The fake Stash runs `runPluginTask` as Stash
//! does, with this build's binary; saves come in bursts (2 to 10 saves, back to back, as a
//! person editing several scenes would; a pause of 0.2 to 3 s between bursts, drawn from a
//! seeded generator); for each, the time from the hook's start to the edit seen by the fake
//! Plex. Beside it, the hook's own time with the automatic drain on and off, and with
//! `--before`'s binary (which never asked for a drain).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Library};
use fake_stash::{FakeStash, scene};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::json;

use crate::bench_cli::summary;

pub(crate) fn bench(args: &[&str]) -> Result<(), String> {
    let mut edits = 200usize;
    let mut before = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"))?;
        match *arg {
            "--edits" => edits = value.parse().map_err(|_| "--edits takes a number")?,
            "--before" => before = Some(PathBuf::from(value)),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let binary = crate::cmd::release_plexsync()?;
    println!(
        "a save in Stash to the edit in Plex, release build, fake Stash (running plexsync's jobs as Stash does) and fake Plex on loopback"
    );
    let (hook_on, latency) = measure(&binary, edits, true)?;
    let _ = summary("save to edit in Plex, automatic drain on", latency.clone());
    let mut sorted = latency;
    sorted.sort_by(f64::total_cmp);
    println!(
        "  p95 {:.1} ms",
        sorted[((sorted.len() as f64 * 0.95).ceil() as usize).clamp(1, sorted.len()) - 1]
    );
    let on = summary("the hook's own time, automatic drain on", hook_on);
    let (hook_off, _) = measure(&binary, edits, false)?;
    let off = summary("the hook's own time, automatic drain off", hook_off);
    println!(
        "  the automatic drain adds {:.2} ms to a hook (median)",
        on - off
    );
    if let Some(before) = before {
        let (hook_before, _) = measure(&before, edits, false)?;
        let was = summary("the hook's own time, --before's binary", hook_before);
        println!("  against --before: {:+.2} ms (median)", on - was);
    }
    Ok(())
}

/// Runs `edits` saves in bursts with `binary` as the plugin; the hooks' times and, with the
/// automatic drain on, each save's time to Plex (ms).
fn measure(binary: &Path, edits: usize, auto: bool) -> Result<(Vec<f64>, Vec<f64>), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let home = std::env::temp_dir().join(format!(
        "plexsync-bench-stash-{}-{auto}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&home);
    // The ramp off: it paces a drain after an outage, and there is none here.
    std::fs::create_dir_all(home.join("plexsync")).map_err(|e| e.to_string())?;
    std::fs::write(
        home.join("plexsync/config.toml"),
        "[policy.ramp]\nenabled = false\n",
    )
    .map_err(|e| e.to_string())?;
    let scenes = 20usize;
    let mut library = Library::demo();
    for i in 0..scenes {
        library.add_movie(
            "1",
            &format!("Movie {i}"),
            &format!("/data/Movies/s{i}.mkv"),
        );
    }
    let plex = runtime
        .block_on(FakePlex::start(library))
        .map_err(|e| e.to_string())?;
    let stash = crate::stash::with_plugin(&runtime, binary, &home, "bench")?;
    for i in 0..scenes {
        stash.add_scene(scene(
            &i.to_string(),
            "v0",
            &format!("/data/Movies/s{i}.mkv"),
        ));
    }
    stash.set_plugin_settings(
        "plexsync",
        json!({ "plex_url": plex.url(), "plex_token": plex.token(), "auto_process": auto }),
    );
    // When each title was first seen edited in Plex.
    let seen: Mutex<Vec<(String, Instant)>> = Mutex::default();
    let watching = std::sync::atomic::AtomicBool::new(true);
    let (hooks, latency) = std::thread::scope(|scope| -> Result<(Vec<f64>, Vec<f64>), String> {
        scope.spawn(|| {
            let mut counted = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let edits = plex.edits();
                let now = Instant::now();
                let mut seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for edit in edits.iter().skip(counted) {
                    for (key, value) in &edit.pairs {
                        if key == "title.value" {
                            seen.push((value.clone(), now));
                        }
                    }
                }
                counted = edits.len();
                drop(seen);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let result = saves(binary, &stash, edits, scenes, auto, &seen);
        watching.store(false, std::sync::atomic::Ordering::Relaxed);
        result
    })?;
    let _ = std::fs::remove_dir_all(&home);
    Ok((hooks, latency))
}

/// Runs the hook on `input`; its time, start to exit (ms).
fn hook(binary: &Path, input: &[u8]) -> Result<f64, String> {
    crate::bench_hook::timed(Command::new(binary).arg("stash").env_clear(), input)
}

/// The saves, in bursts; the hooks' times and, with the automatic drain on, each save's time
/// to Plex as `seen` records it.
fn saves(
    binary: &Path,
    stash: &FakeStash,
    edits: usize,
    scenes: usize,
    auto: bool,
    seen: &Mutex<Vec<(String, Instant)>>,
) -> Result<(Vec<f64>, Vec<f64>), String> {
    let mut rng = SmallRng::seed_from_u64(2026);
    let mut hooks = Vec::with_capacity(edits);
    let mut started = Vec::with_capacity(edits);
    let mut n = 0;
    while n < edits {
        let burst = rng.random_range(2..=10).min(edits - n);
        for _ in 0..burst {
            let id = rng.random_range(0..scenes);
            let title = format!("edit {n}");
            stash.edit_scene(&id.to_string(), |s| {
                s.insert("title".into(), json!(title.clone()));
            });
            let input = stash.plugin_input(json!({
                "hookContext": { "id": id, "type": "Scene.Update.Post", "input": { "id": id.to_string() } }
            }));
            let at = Instant::now();
            hooks.push(hook(binary, input.to_string().as_bytes())?);
            started.push((title, at));
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(200..3_000)));
    }
    let mut latency = Vec::new();
    if auto {
        if !stash.wait_for_jobs(Duration::from_secs(120)) {
            return Err("the drains did not finish in 2 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(50));
        let seen = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for (title, at) in &started {
            // A save superseded by a later save of its scene before the drain came has no
            // edit of its own; the later one carries it.
            if let Some((_, when)) = seen.iter().find(|(t, _)| t == title) {
                latency.push(when.duration_since(*at).as_secs_f64() * 1e3);
            }
        }
        println!(
            "  {} saves, {} reached Plex as edits of their own (the others were superseded by a later save of their scene), in {} Stash jobs",
            started.len(),
            latency.len(),
            stash.jobs().len()
        );
    }
    Ok((hooks, latency))
}
