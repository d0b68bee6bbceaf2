//! `cargo xtask bench watch`: how soon `plexsync run`, idle, knows that Plex stopped, and how
//! soon after Plex is back the job queued meanwhile reaches it; with the watch on Plex's
//! notification socket (this build's defaults) and without it (`watch_plex = false`, the
//! defaults before), in one run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Library, Options, ServerPhase};

use crate::cmd::{json_output, run};

/// How long a trial waits for each step before it counts as not seen.
const LIMIT: Duration = Duration::from_secs(10);

/// `cargo xtask bench watch [--trials N]`: N stops and restarts of the fake Plex (default 10).
pub(crate) fn bench(args: &[&str]) -> Result<(), String> {
    let trials = match args {
        [] => 10,
        ["--trials", n] => n
            .parse::<usize>()
            .map_err(|_| "--trials takes a number".to_owned())?,
        _ => return Err("usage: cargo xtask bench watch [--trials N]".into()),
    };
    let binary = crate::cmd::release_plexsync()?;
    let runtime = crate::cmd::runtime()?;
    for (name, extra) in [
        ("watch on (the defaults)", ""),
        (
            "watch off (watch_plex = false)",
            "[policy.engine]\nwatch_plex = false\n",
        ),
    ] {
        let (known, synced) = trials_of(&runtime, &binary, extra, trials)?;
        println!("\n{name}, {trials} trials, `plexsync run` idle against the fake Plex:");
        println!(
            "  Plex stopped -> breaker open:           {}",
            summary(&known)
        );
        println!(
            "  Plex back    -> job queued meanwhile in Plex: {}",
            summary(&synced)
        );
    }
    Ok(())
}

fn summary(samples: &[Option<Duration>]) -> String {
    let mut seen: Vec<Duration> = samples.iter().flatten().copied().collect();
    seen.sort();
    let missed = samples.len() - seen.len();
    if seen.is_empty() {
        return format!("not seen within {} s in any trial", LIMIT.as_secs());
    }
    let at = |q: f64| seen[((q * seen.len() as f64).ceil() as usize).clamp(1, seen.len()) - 1];
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1_000.0);
    let mut line = format!(
        "p50 {}, p95 {}, max {}",
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(1.0))
    );
    if missed > 0 {
        line.push_str(&format!(
            "; not seen within {} s in {missed} of {}",
            LIMIT.as_secs(),
            samples.len()
        ));
    }
    line
}

type Samples = Vec<Option<Duration>>;

fn trials_of(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    extra: &str,
    trials: usize,
) -> Result<(Samples, Samples), String> {
    let mut library = Library::demo();
    let key = library.add_movie("1", "Movie", "/data/Movies/m0.mkv");
    let plex = runtime
        .block_on(FakePlex::start_with(library, Options::default()))
        .map_err(|e| e.to_string())?;
    let data = std::env::temp_dir().join(format!("plexsync-bench-watch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    std::fs::write(
        data.join("config.toml"),
        format!(
            "plex_url = \"{}\"\nplex_token = \"{}\"\nconnect_timeout_ms = 500\n{extra}",
            plex.url(),
            plex.token()
        ),
    )
    .map_err(|e| e.to_string())?;
    let command = |args: &[&str]| {
        let mut c = Command::new(binary);
        c.args(args)
            .env("PLEXSYNC_DATA_DIR", &data)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    run(&mut command(&["process"]))?;
    let mut worker = command(&["run"]).spawn().map_err(|e| e.to_string())?;
    let state_is = |state: &str| {
        json_output(command(&["status", "--json"]))
            .map(|s| s["breaker"]["state"] == state)
            .unwrap_or(false)
    };
    let open = || state_is("open");
    let closed = || state_is("closed");
    let until = |done: &dyn Fn() -> bool| -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < LIMIT {
            if done() {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    };
    // Settle: the worker is up, and watching if it watches.
    std::thread::sleep(Duration::from_secs(2));
    let (mut known, mut synced) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        runtime.block_on(plex.set_phase(ServerPhase::Refused));
        known.push(until(&open));
        let title = format!("Edited {trial}");
        run(&mut command(&[
            "enqueue",
            "--scene",
            "0",
            "--file",
            "/data/Movies/m0.mkv",
            "--title",
            &title,
        ]))?;
        // Both ways, Plex comes back to a worker that knows it is down and holds the job:
        // without the watch, the job's own failure is what tells it.
        let _ = until(&open);
        runtime.block_on(plex.set_phase(ServerPhase::Ready));
        synced.push(until(&|| {
            plex.item(&key)
                .and_then(|i| i.get("title").and_then(|t| t.as_str().map(str::to_owned)))
                .as_deref()
                == Some(title.as_str())
        }));
        // Idle again before the next stop: the breaker closed, no job left.
        let _ = until(&closed);
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let _ = worker.wait();
    let _ = std::fs::remove_dir_all(&data);
    Ok((known, synced))
}
