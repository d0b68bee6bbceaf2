//! The real binary against misbehaving servers: a slow root, redirects, a poison item, stale
//! kept-alive connections, a worker killed mid-trial, an outage limit, a mistyped URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fake_plex::{Fault, ServerPhase};

use crate::harness::{DataDir, Plex, Plexsync, eventually, terminate, wait};

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

/// A config.toml for `plex` with the given timeouts and policy lines.
fn config(plex: &Plex, read_timeout_ms: u64, health_timeout_ms: u64, policy: &str) -> DataDir {
    DataDir::raw(&format!(
        r#"plex_url = "{}"
plex_token = "{}"
connect_timeout_ms = 500
read_timeout_ms = {read_timeout_ms}
health_timeout_ms = {health_timeout_ms}
{policy}
"#,
        plex.fake.url(),
        plex.fake.token()
    ))
}

/// Probes every 100 ms, no ramp, quick retries of a job's own failures (three of them).
const FAST: &str = r#"
[policy.probes]
first = { fixed = 100 }
unreachable = { base_ms = 100, factor = 1.0, cap_ms = 100, jitter = "none" }
not_ready = { base_ms = 100, factor = 1.0, cap_ms = 100, jitter = "none" }

[policy.retry.transient.backoff]
backoff = { base_ms = 100, factor = 1.0, cap_ms = 100, jitter = "none" }
max_retries = 3

[policy.ramp]
enabled = false
"#;

fn status(ps: &Plexsync) -> serde_json::Value {
    ps.run(&["status", "--json"]).json()
}

fn puts_to(plex: &Plex, key: &str) -> usize {
    let id = format!("id={key}&");
    plex.fake
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.query.contains(&id))
        .count()
}

#[test]
fn health_fits_every_request_in_its_deadline() {
    let plex = Plex::start(0, ServerPhase::Ready);
    // The staged checks pass; the server's name (`GET /`) never comes.
    plex.fake
        .inject_when(Arc::new(|r| r.path == "/"), Fault::Hang);
    let data = config(&plex, 20_000, 1_000, "");
    let started = Instant::now();
    let run = data.plexsync().run(&["health"]);
    let took = started.elapsed();
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        took < Duration::from_secs(8),
        "health took {took:?}, past its 1 s deadline (the read timeout is 20 s)"
    );
    assert!(
        plex.fake.requests().iter().any(|r| r.path == "/"),
        "the server's name was asked for"
    );
}

#[test]
fn a_redirect_is_a_setting_to_fix_and_keeps_every_job() {
    let plex = Plex::start(4, ServerPhase::Ready);
    let secret = "X-Plex-Token=do-not-show";
    plex.fake.inject_on(
        "/library",
        Fault::Redirect {
            status: 301,
            to: format!("https://plex.example.net:32443/library/sections?{secret}"),
        },
    );
    let data = config(&plex, 2_000, 1_000, FAST);
    let ps = data.plexsync();
    for i in 0..4 {
        enqueue(&ps, i, "x");
    }
    let run = ps.run(&["process", "--max-outage", "never"]);
    assert_eq!(run.status, Some(2), "{run:?}");
    assert!(run.stderr.contains("redirects elsewhere"), "{}", run.stderr);
    assert!(
        run.stderr.contains("https://plex.example.net:32443"),
        "{}",
        run.stderr
    );
    let status = status(&ps);
    assert_eq!(status["queue"]["pending"], 4, "every job is kept");
    assert_eq!(status["queue"]["dead_lettered"], 0);
    let health = ps.run(&["health"]);
    assert_eq!(health.status, Some(2), "{health:?}");
    for text in [&run.stdout, &run.stderr, &health.stdout, &health.stderr] {
        assert!(!text.contains("do-not-show") && !text.contains(plex.fake.token()));
    }
}

#[test]
fn a_poison_item_spends_its_own_retries_and_the_breaker_opens_at_most_once() {
    let plex = Plex::start(8, ServerPhase::Ready);
    let poison = plex.key_of("/data/Movies/m0.mkv");
    let id = format!("id={poison}&");
    plex.fake.inject_when(
        Arc::new(move |r| r.method == "PUT" && r.query.contains(&id)),
        Fault::Status(500),
    );
    let data = config(&plex, 2_000, 1_000, FAST);
    let ps = data.plexsync();
    // The poison job alone first: nothing else to tell its failures from Plex's.
    enqueue(&ps, 0, "poisoned");
    let mut worker = ps.spawn(&["run"]);
    for i in 1..8 {
        enqueue(&ps, i, &format!("Edited {i}"));
    }
    let dead = eventually(Duration::from_secs(60), || {
        status(&ps)["queue"]["dead_lettered"] == 1
    });
    terminate(&worker);
    let run = wait(&mut worker, Duration::from_secs(10));
    assert!(
        dead,
        "the poison job never reached the dead-letter queue: {run:?}"
    );
    for i in 1..8 {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{i}.mkv")).as_deref(),
            Some(format!("Edited {i}").as_str())
        );
    }
    let letters = ps.run(&["dlq", "list", "--json"]).json();
    assert_eq!(letters[0]["job"]["key"], "scene-0");
    assert_eq!(letters[0]["class"], "item_error");
    let status = status(&ps);
    let outages = status["reliability"]["outages"].as_u64().unwrap()
        + u64::from(!status["current_outage"].is_null());
    assert!(outages <= 1, "the breaker opened {outages} times: {status}");
    // Its own retries and the failures that opened the breaker, no more.
    assert!(puts_to(&plex, &poison) <= 10, "{}", puts_to(&plex, &poison));
}

#[test]
fn an_edit_on_a_connection_the_server_closed_is_sent_again_on_a_new_one() {
    let plex = Plex::start(12, ServerPhase::Ready);
    // Every request after the first on a kept-alive connection finds it closed.
    plex.fake.inject(Fault::DropReused);
    let data = config(&plex, 2_000, 1_000, FAST);
    let ps = data.plexsync();
    for i in 0..12 {
        enqueue(&ps, i, &format!("Edited {i}"));
    }
    let run = ps.run(&["process", "--max-outage", "never"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    for i in 0..12 {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{i}.mkv")).as_deref(),
            Some(format!("Edited {i}").as_str())
        );
    }
    let status = status(&ps);
    assert_eq!(status["reliability"]["outages"], 0, "{status}");
    assert!(status["current_outage"].is_null(), "{status}");
    assert!(run.stdout.starts_with("12 synced"), "{}", run.stdout);
    assert!(!run.stdout.contains("waiting"), "{}", run.stdout);
}

#[test]
fn a_trial_left_by_a_killed_worker_does_not_hold_up_the_next() {
    let plex = Plex::start(6, ServerPhase::Ready);
    let policy = r#"
[policy.breaker]
failure_threshold = 5
open_wait_ms = 600000
permit_lease_ms = 60000
success_threshold = 1

[policy.probes]
first = { fixed = 100 }
unreachable = { base_ms = 100, factor = 1.0, cap_ms = 100, jitter = "none" }
not_ready = { base_ms = 100, factor = 1.0, cap_ms = 100, jitter = "none" }

[policy.ramp]
enabled = false

[policy.engine]
job_timeout_ms = 30000
visibility_ms = 90000
"#;
    let data = config(&plex, 20_000, 1_000, policy);
    let ps = data.plexsync();
    assert_eq!(ps.run(&["process"]).status, Some(0), "Plex reached once");
    // Plex goes down, five jobs fail and open the breaker; Plex comes back, but the trial's
    // edit hangs, and the worker is killed in the middle of it.
    plex.set_phase(ServerPhase::Refused);
    for i in 0..6 {
        enqueue(&ps, i, &format!("Edited {i}"));
    }
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    assert!(eventually(Duration::from_secs(20), || {
        status(&ps)["breaker"]["state"] == "open"
    }));
    plex.fake
        .inject_when(Arc::new(|r| r.method == "PUT"), Fault::Hang);
    plex.set_phase(ServerPhase::Ready);
    assert!(
        eventually(Duration::from_secs(20), || {
            plex.fake.requests().iter().any(|r| r.method == "PUT")
        }),
        "the trial reached Plex"
    );
    worker.kill().unwrap();
    let killed = Instant::now();
    let _ = wait(&mut worker, Duration::from_secs(5));
    assert_eq!(status(&ps)["breaker"]["state"], "half_open");
    plex.fake.clear_faults();
    let run = ps.run(&["process", "--max-outage", "never"]);
    let took = killed.elapsed();
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        took < Duration::from_secs(30),
        "the next worker waited {took:?} (the permit's lease is 60 s)"
    );
    assert!(
        run.stderr.contains("voided 1 half-open trial"),
        "{}",
        run.stderr
    );
    for i in 0..6 {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{i}.mkv")).as_deref(),
            Some(format!("Edited {i}").as_str())
        );
    }
    let status = status(&ps);
    assert_eq!(status["breaker"]["state"], "closed");
    assert_eq!(
        status["reliability"]["outages"], 1,
        "one outage, not two merged"
    );
}

#[test]
fn max_outage_bounds_the_whole_wait_in_flight_requests_included() {
    for (what, hang_puts) in [("Plex hung", false), ("an edit that landed hangs", true)] {
        let plex = Plex::start(3, ServerPhase::Ready);
        let data = config(&plex, 20_000, 1_000, FAST);
        let ps = data.plexsync();
        assert_eq!(ps.run(&["process"]).status, Some(0), "Plex reached once");
        if hang_puts {
            plex.fake
                .inject_when(Arc::new(|r| r.method == "PUT"), Fault::Hang);
        } else {
            plex.set_phase(ServerPhase::Silent);
        }
        for i in 0..3 {
            enqueue(&ps, i, "x");
        }
        let started = Instant::now();
        let run = ps.run(&["process", "--max-outage", "2s"]);
        let took = started.elapsed();
        assert_eq!(run.status, Some(1), "{what}: {run:?}");
        assert!(
            took < Duration::from_secs(8),
            "{what}: a 2 s limit took {took:?} (reads time out after 20 s)"
        );
        assert!(
            run.stderr.contains("Plex has been down for"),
            "{}",
            run.stderr
        );
        assert_eq!(
            status(&ps)["queue"]["pending"],
            3,
            "{what}: the jobs stay queued"
        );
    }
}

#[test]
fn a_url_that_never_answered_and_refuses_is_a_setting_to_fix() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let data = DataDir::raw(&format!(
        "plex_url = \"{url}\"\nplex_token = \"t0ken-here\"\nconnect_timeout_ms = 500\n"
    ));
    let ps = data.plexsync();
    for i in 0..2 {
        enqueue(&ps, i, "x");
    }
    let started = Instant::now();
    let run = ps.run(&["process"]);
    assert_eq!(run.status, Some(2), "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(run.stderr.contains(&url), "{}", run.stderr);
    assert!(
        run.stderr.contains("nothing is listening"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("t0ken-here"));
    assert_eq!(status(&ps)["queue"]["pending"], 2, "the jobs stay queued");

    // Once the URL has answered, a refusal is an outage, and its first line says where and
    // what.
    let plex = Plex::start(2, ServerPhase::Ready);
    let data = config(&plex, 2_000, 1_000, FAST);
    let ps = data.plexsync();
    assert_eq!(ps.run(&["process"]).status, Some(0));
    plex.set_phase(ServerPhase::Refused);
    for i in 0..2 {
        enqueue(&ps, i, "x");
    }
    let run = ps.run(&["process", "--max-outage", "1s"]);
    assert_eq!(run.status, Some(1), "{run:?}");
    let opened = run
        .stderr
        .lines()
        .find(|l| l.contains("CLOSED -> OPEN"))
        .unwrap_or_else(|| panic!("no line says the breaker opened: {}", run.stderr));
    assert!(opened.contains(&plex.fake.url()), "{opened}");
    assert!(opened.contains("nothing is listening"), "{opened}");
}
