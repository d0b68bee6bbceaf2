//! The commands through the real binary: configuration errors, health's exit statuses, one
//! worker at a time, signals, concurrent hooks during a drain.

use std::time::{Duration, Instant};

use fake_plex::{Fault, ServerPhase};

use crate::harness::{DataDir, Plex, Plexsync, QUICK_POLICY, plexsync, tree, wait};

fn enqueue(ps: &Plexsync, scene: usize, title: &str) {
    let run = ps.run(&[
        "enqueue",
        "--scene",
        &scene.to_string(),
        "--file",
        &format!("/data/Movies/m{scene}.mkv"),
        "--title",
        title,
    ]);
    assert_eq!(run.status, Some(0), "{run:?}");
}

#[test]
fn a_revoked_token_stops_the_worker_with_status_2_and_keeps_the_jobs() {
    let plex = Plex::start(3, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), "not-the-token", QUICK_POLICY);
    let ps = data.plexsync();
    for i in 0..3 {
        enqueue(&ps, i, "x");
    }
    let run = ps.run(&["process", "--max-outage", "never"]);
    assert_eq!(run.status, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("the Plex token was refused"),
        "{}",
        run.stderr
    );
    // No probing loop: a handful of requests, not a stream.
    assert!(
        plex.fake.requests().len() < 10,
        "{:?}",
        plex.fake.requests()
    );
    let status = ps.run(&["status", "--json"]).json();
    assert_eq!(status["queue"]["pending"], 3, "every job is still queued");
    assert_eq!(status["queue"]["dead_lettered"], 0);
    assert!(
        status["halt"]["message"]
            .as_str()
            .unwrap()
            .contains("token was refused")
    );
    // health says the same, as a configuration error.
    let health = ps.run(&["health"]);
    assert_eq!(health.status, Some(2), "{health:?}");
    assert!(!health.stdout.contains("not-the-token") && !health.stderr.contains("not-the-token"));
}

#[test]
fn one_worker_at_a_time_and_a_signal_stops_it_promptly() {
    let plex = Plex::start(1, ServerPhase::Ready);
    // An idle worker looks at the queue again only after a minute: a job synced sooner can
    // only have woken it.
    let policy = QUICK_POLICY.replace("idle_recheck_ms = 2000", "idle_recheck_ms = 60000");
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), &policy);
    let ps = data.plexsync();
    let mut runner = ps.spawn(&["run"]);
    // Wait until it holds the worker lock.
    let held_by = (0..500).find_map(|_| {
        let status = ps.run(&["status", "--json"]).json();
        if let Some(pid) = status["worker_pid"].as_u64() {
            return Some(pid);
        }
        std::thread::sleep(Duration::from_millis(20));
        None
    });
    assert_eq!(held_by, Some(u64::from(runner.id())));
    let second = ps.run(&["process"]);
    assert_eq!(second.status, Some(75), "{second:?}");
    assert!(
        second.stderr.contains(&format!(
            "another plexsync (pid {}) is already processing the queue",
            runner.id()
        )),
        "{}",
        second.stderr
    );
    // While it runs, a queued job is synced at once: it is woken, it does not poll.
    enqueue(&ps, 0, "while running");
    let deadline = Instant::now() + Duration::from_secs(20);
    while plex.title_of("/data/Movies/m0.mkv").as_deref() != Some("while running") {
        assert!(
            Instant::now() < deadline,
            "the running worker never synced the job"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &runner.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let run = wait(&mut runner, Duration::from_secs(30));
    assert_eq!(run.status, Some(0), "{run:?}");
    // It said what it watches when it started, and its summary is its output.
    assert!(
        run.stderr.contains(&format!(
            "watching the queue and syncing to Plex at {}",
            plex.fake.url()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.starts_with("1 synced"), "{}", run.stdout);
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        signalled.elapsed()
    );
    assert!(run.stderr.contains("stopped on request"), "{}", run.stderr);
}

#[test]
fn health_says_healthy_down_or_hung_by_its_exit_status_within_its_deadline() {
    let plex = Plex::start(0, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    let healthy = ps.run(&["health"]);
    assert_eq!(healthy.status, Some(0), "{healthy:?}");
    assert!(healthy.stdout.contains(": healthy"));
    for stage in ["connect", "identity", "library"] {
        assert!(healthy.stdout.contains(stage), "{}", healthy.stdout);
    }
    assert!(
        healthy
            .stdout
            .contains("fake-plex (Plex Media Server 1.40.0.7998-fake")
    );
    let json = ps.run(&["health", "--json"]);
    assert_eq!(json.json()["plex"]["stages"].as_array().unwrap().len(), 3);
    assert_eq!(json.json()["exit_status"], 0);

    plex.set_phase(ServerPhase::Silent);
    let started = Instant::now();
    let hung = ps.run(&["health"]);
    assert_eq!(hung.status, Some(1), "{hung:?}");
    assert!(
        hung.stdout.contains("unhealthy (read timeout)"),
        "{}",
        hung.stdout
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "health_timeout_ms is 1 s"
    );

    plex.set_phase(ServerPhase::Starting);
    let maintenance = ps.run(&["health"]);
    assert_eq!(maintenance.status, Some(1));
    assert!(
        maintenance.stdout.contains("unhealthy (maintenance)"),
        "{}",
        maintenance.stdout
    );

    plex.set_phase(ServerPhase::Refused);
    let down = ps.run(&["health", "--json"]);
    assert_eq!(down.status, Some(1));
    assert_eq!(down.json()["plex"]["failure"]["kind"], "refused");
}

#[test]
fn health_changes_nothing_in_the_data_directory() {
    let plex = Plex::start(2, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    enqueue(&ps, 0, "a");
    assert_eq!(ps.run(&["process"]).status, Some(0));
    enqueue(&ps, 1, "b");
    // A data directory it may not write to: read-only for everyone (root ignores the mode,
    // so what is checked is that nothing at all changed).
    set_mode(data.path(), 0o500);
    let before = tree(data.path());
    let run = ps.run(&["health"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("queue        1 ready"),
        "{}",
        run.stdout
    );
    let status = ps.run(&["status"]);
    assert_eq!(status.status, Some(0));
    assert_eq!(
        tree(data.path()),
        before,
        "health or status changed the data directory"
    );
    set_mode(data.path(), 0o700);
    // A data directory that does not exist is not created.
    let missing = data.path().join("not-yet");
    let run = Plexsync::new()
        .env("PLEXSYNC_DATA_DIR", &missing)
        .env("PLEX_URL", plex.fake.url())
        .env("PLEX_TOKEN", plex.fake.token())
        .run(&["health"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(!missing.exists());
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn bad_settings_get_one_line_that_says_what_to_fix_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let ps = Plexsync::new().env("PLEXSYNC_DATA_DIR", data);
    let cases: Vec<(Plexsync, Vec<&str>, &str)> = vec![
        (
            ps.clone(),
            vec!["health"],
            "no Plex URL: pass --plex-url, set PLEX_URL, or put plex_url in",
        ),
        (
            ps.clone().env("PLEX_URL", "http://localhost:32400"),
            vec!["health"],
            "no Plex token: set PLEX_TOKEN",
        ),
        (
            ps.clone()
                .env("PLEX_URL", "localhost:32400")
                .env("PLEX_TOKEN", "t"),
            vec!["health"],
            "the Plex URL must start with http:// or https://",
        ),
        (
            ps.clone()
                .env("PLEX_URL", "http://u:p@plex:32400")
                .env("PLEX_TOKEN", "t"),
            vec!["process"],
            "must not carry a user name, password or query",
        ),
        (
            ps.clone()
                .env("PLEX_URL", "http://plex")
                .env("PLEX_TOKEN", "t"),
            vec!["--plex-token-file", "/nonexistent/token", "health"],
            "the token file /nonexistent/token does not exist",
        ),
        (
            ps.clone(),
            vec!["enqueue", "--scene", "1", "--file", "relative/path.mkv"],
            "is not an absolute path",
        ),
        (
            ps.clone(),
            vec!["dlq", "requeue", "--since", "yesterday"],
            "\"yesterday\" is not a time",
        ),
    ];
    for (ps, args, expect) in cases {
        let run = ps.run(&args);
        assert_eq!(run.status, Some(2), "{args:?}: {run:?}");
        let line = run.stderr.trim();
        assert_eq!(line.lines().count(), 1, "{args:?}: {line}");
        assert!(line.contains(expect), "{args:?}: {line}");
    }
    // A configuration file that is not TOML, or has a key that does not exist.
    for (text, expect) in [
        (
            "plex_url = \"http://plex\"\nplex_token = [oops",
            "(line 2) is not valid",
        ),
        (
            "plex_url = \"http://plex\"\nplex_tokn = \"t\"\n",
            "unknown field `plex_tokn`",
        ),
        (
            "[policy.engine]\njob_timeout_ms = 100000\n",
            "must be longer than engine.job_timeout_ms",
        ),
        (
            "[policy.pace]\ntarget = 0.9\n",
            "pace: target must be above 1",
        ),
        ("[policy.pace]\nmax = 0\n", "pace: max must be at least 1"),
    ] {
        std::fs::write(data.join("config.toml"), text).unwrap();
        let run = ps.clone().env("PLEX_TOKEN", "t").run(&["health"]);
        assert_eq!(run.status, Some(2), "{run:?}");
        assert!(run.stderr.contains(expect), "{}", run.stderr);
        assert!(run.stderr.contains("config.toml"), "{}", run.stderr);
    }
    std::fs::remove_file(data.join("config.toml")).unwrap();
    // A malformed job: nothing is written.
    let before = tree(data);
    let run = ps
        .clone()
        .stdin(b"{\"scene_id\": 1}")
        .run(&["enqueue", "--json", "-"]);
    assert_eq!(run.status, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("is not a sync job (line 1"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(data), before, "a refused job wrote something");
    // Usage errors are clap's: status 2 too.
    assert_eq!(plexsync(&["dlq", "requeue"]).status, Some(2));
}

#[test]
fn every_command_shows_an_example() {
    for command in [
        "health",
        "status",
        "enqueue",
        "process",
        "run",
        "outages",
        "dlq list",
        "dlq requeue",
        "dlq purge",
        "breaker show",
        "breaker reset",
        "breaker open",
    ] {
        let mut args: Vec<&str> = command.split(' ').collect();
        args.push("--help");
        let run = plexsync(&args);
        assert_eq!(run.status, Some(0), "{command}");
        assert!(
            run.stdout.contains("Example"),
            "{command} --help has no example:\n{}",
            run.stdout
        );
        assert!(run.stdout.contains("plexsync "), "{command}");
    }
}

#[test]
fn hooks_queued_during_a_drain_are_all_kept() {
    const HOOKS: usize = 8;
    const EACH: usize = 15;
    let plex = Plex::start(HOOKS * EACH, ServerPhase::Ready);
    // A slow Plex keeps the drain busy while the hooks come in.
    plex.fake.inject_on(
        "/library/sections/1/all",
        Fault::Latency(Duration::from_millis(5)),
    );
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    for i in 0..10 {
        enqueue(&ps, i, &format!("first {i}"));
    }
    let mut drain = ps.spawn(&["process"]);
    let hooks: Vec<_> = (0..HOOKS)
        .map(|h| {
            let ps = ps.clone();
            std::thread::spawn(move || {
                for j in 0..EACH {
                    let scene = h * EACH + j;
                    enqueue(&ps, scene, &format!("hook {scene}"));
                }
            })
        })
        .collect();
    for hook in hooks {
        hook.join().unwrap();
    }
    let run = wait(&mut drain, Duration::from_secs(60));
    assert_eq!(run.status, Some(0), "{run:?}");
    // Whatever the drain did not see, the next one does: no hook's job was lost.
    assert_eq!(ps.run(&["process"]).status, Some(0));
    for scene in 0..HOOKS * EACH {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{scene}.mkv"))
                .as_deref(),
            Some(format!("hook {scene}").as_str()),
            "scene {scene}"
        );
    }
    let status = ps.run(&["status", "--json"]).json();
    assert_eq!(status["queue"]["pending"], 0);
    assert_eq!(status["queue"]["dead_lettered"], 0);
}

#[test]
fn a_large_drain_walks_the_library_once_and_syncs_every_scene_as_asked() {
    const SCENES: usize = 150;
    let plex = Plex::start(SCENES, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    for scene in 0..SCENES {
        enqueue(&ps, scene, &format!("walked {scene}"));
    }
    let run = ps.run(&["process"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    for scene in 0..SCENES {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{scene}.mkv"))
                .as_deref(),
            Some(format!("walked {scene}").as_str()),
            "scene {scene}"
        );
    }
    // After 64 lookups the library is walked: the rest read their items by rating key at
    // once, without a search, and a job reads its item once.
    let requests = plex.fake.requests();
    let searches = requests
        .iter()
        .filter(|r| r.query.contains("file="))
        .count();
    let reads = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/library/metadata/"))
        .count();
    assert!(searches <= 64, "{searches} searches");
    assert!(reads <= SCENES, "{reads} reads of {SCENES} items");
}
