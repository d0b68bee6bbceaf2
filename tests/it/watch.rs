//! `plexsync run`'s watch on Plex, end to end against the fake Plex: its notification socket
//! opened with the token in a header, a Plex that stops while nothing is queued known down
//! before any job meets it, an announced database optimisation honoured, and the light check
//! where the socket is refused.

use std::time::{Duration, Instant};

use fake_plex::{Activity, Fault, ServerPhase};

use crate::harness::{DataDir, Plex, Plexsync, eventually, terminate, wait};

const FILE: &str = "/data/Movies/m0.mkv";

fn enqueue(ps: &Plexsync, title: &str) {
    let run = ps.run(&["enqueue", "--scene", "0", "--file", FILE, "--title", title]);
    assert_eq!(run.status, Some(0), "{run:?}");
}

fn status(ps: &Plexsync) -> serde_json::Value {
    ps.run(&["status", "--json"]).json()
}

/// A worker running against `plex`, its watch connected.
fn watched(plex: &Plex) -> (DataDir, Plexsync, std::process::Child) {
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    // plexsync has reached this Plex before: a refused connection later is an outage.
    let first = ps.run(&["process"]);
    assert_eq!(first.status, Some(0), "{first:?}");
    let worker = ps.spawn(&["run"]);
    assert!(
        eventually(Duration::from_secs(20), || plex.fake.notification_sockets()
            == 1),
        "the watch opens Plex's notification socket"
    );
    assert!(eventually(Duration::from_secs(10), || {
        status(&ps)["watch"]["connected"] == true
    }));
    (data, ps, worker)
}

#[test]
fn a_plex_that_stops_while_run_is_idle_is_known_down_before_any_job_and_seen_back_at_once() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let (_data, ps, mut worker) = watched(&plex);
    // The token went in a header: the socket's URL carries none.
    let asked: Vec<_> = plex
        .fake
        .requests()
        .into_iter()
        .filter(|r| r.path == "/:/websockets/notifications")
        .collect();
    assert!(!asked.is_empty());
    assert!(asked.iter().all(|r| !r.query.contains(plex.fake.token())));
    let text = ps.run(&["status"]).stdout;
    assert!(
        text.contains("watch        connected to Plex (notification socket)"),
        "{text}"
    );

    // Plex stops; nothing is queued, no job meets it.
    let stopped = Instant::now();
    plex.set_phase(ServerPhase::Refused);
    assert!(
        eventually(Duration::from_secs(20), || status(&ps)["breaker"]["state"]
            == "open"),
        "the breaker opens without a job"
    );
    let known = stopped.elapsed();
    let now = status(&ps);
    assert_eq!(now["queue"]["pending"], 0);
    assert_eq!(now["recent_outages"], serde_json::json!([]));
    assert_eq!(now["outage"]["jobs_affected"], 0, "{now}");
    assert_eq!(now["watch"]["connected"], false);
    assert!(plex.fake.edits().is_empty());

    // An edit waits for Plex; Plex comes back and it is synced.
    enqueue(&ps, "Edited while Plex was away");
    let back = Instant::now();
    plex.set_phase(ServerPhase::Ready);
    assert!(eventually(Duration::from_secs(30), || {
        plex.title_of(FILE).as_deref() == Some("Edited while Plex was away")
    }));
    let synced = back.elapsed();
    assert!(eventually(Duration::from_secs(20), || {
        status(&ps)["watch"]["connected"] == true
    }));
    terminate(&worker);
    let run = wait(&mut worker, Duration::from_secs(30));
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("watching Plex: notification socket"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(plex.fake.token()));
    // Once the worker is gone, nobody watches.
    assert!(status(&ps).get("watch").is_none());
    // Timings, for the record (benchmarks measure them; a shared machine cannot assert them).
    eprintln!(
        "watch: Plex stopped → breaker open in {known:?}; Plex back → job synced in {synced:?}"
    );
}

#[test]
fn an_announced_database_optimisation_holds_jobs_until_plex_says_it_is_over() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let (_data, ps, mut worker) = watched(&plex);
    let id = plex.fake.begin_activity(Activity::database_optimization(0));
    assert!(eventually(Duration::from_secs(10), || {
        status(&ps)["watch"]["optimising"]["id"] == id.as_str()
    }));
    let text = ps.run(&["status"]).stdout;
    assert!(text.contains("Plex is busy: Optimizing database"), "{text}");
    // Plex holds its library: a request for it would hang. The job waits instead.
    plex.set_phase(ServerPhase::Optimizing);
    enqueue(&ps, "Edited during the optimisation");
    assert!(eventually(Duration::from_secs(10), || {
        status(&ps)["queue"]["pending"] == 1
    }));
    assert!(plex.fake.edits().is_empty());
    assert_eq!(
        status(&ps)["breaker"]["state"],
        "closed",
        "no outage for it"
    );
    // Plex says it is done: the job goes at once.
    plex.set_phase(ServerPhase::Ready);
    plex.fake.end_activity(&id);
    assert!(eventually(Duration::from_secs(20), || {
        plex.title_of(FILE).as_deref() == Some("Edited during the optimisation")
    }));
    assert!(status(&ps)["watch"]["optimising"].is_null());
    terminate(&worker);
    let run = wait(&mut worker, Duration::from_secs(30));
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        run.stderr
            .contains("Plex says it is busy: Optimizing database"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Plex is done: Optimizing database"));
}

#[test]
fn a_scan_or_a_media_optimisation_holds_nothing() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let (_data, ps, mut worker) = watched(&plex);
    let scan = plex.fake.begin_activity(Activity::scan("1", "Movies", 0));
    plex.fake.begin_activity(Activity::optimization(0));
    // Shown as Plex being busy, holding nothing back.
    assert!(eventually(Duration::from_secs(10), || {
        ps.run(&["status"])
            .stdout
            .contains("Plex is busy: Scanning Movies")
    }));
    enqueue(&ps, "Edited during a scan");
    assert!(eventually(Duration::from_secs(20), || {
        plex.title_of(FILE).as_deref() == Some("Edited during a scan")
    }));
    assert!(status(&ps)["watch"]["optimising"].is_null());
    plex.fake.end_activity(&scan);
    assert!(eventually(Duration::from_secs(10), || {
        status(&ps)["watch"]["busy"].as_array().map(Vec::len) == Some(1)
    }));
    terminate(&worker);
    let _ = wait(&mut worker, Duration::from_secs(30));
}

#[test]
fn where_the_socket_is_refused_the_watch_falls_back_to_a_light_check() {
    let plex = Plex::start(1, ServerPhase::Ready);
    // An older Plex, or a proxy that does not pass WebSockets on.
    plex.fake
        .inject_on("/:/websockets/notifications", Fault::Status(404));
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    let first = ps.run(&["process"]);
    assert_eq!(first.status, Some(0), "{first:?}");
    let mut worker = ps.spawn(&["run"]);
    assert!(eventually(Duration::from_secs(20), || {
        let s = status(&ps);
        s["watch"]["via"] == "light" && s["watch"]["connected"] == true
    }));
    assert_eq!(plex.fake.notification_sockets(), 0);
    // Jobs go as ever.
    enqueue(&ps, "Edited without the socket");
    assert!(eventually(Duration::from_secs(20), || {
        plex.title_of(FILE).as_deref() == Some("Edited without the socket")
    }));
    terminate(&worker);
    let run = wait(&mut worker, Duration::from_secs(30));
    assert!(
        run.stderr
            .contains("notification socket is not available (HTTP 404)"),
        "{}",
        run.stderr
    );
}

#[test]
fn watch_plex_off_opens_no_socket() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(
        &plex.fake.url(),
        plex.fake.token(),
        "[policy.engine]\nwatch_plex = false\n",
    );
    let ps = data.plexsync();
    let mut worker = ps.spawn(&["run"]);
    enqueue(&ps, "Edited unwatched");
    assert!(eventually(Duration::from_secs(20), || {
        plex.title_of(FILE).as_deref() == Some("Edited unwatched")
    }));
    assert_eq!(plex.fake.notification_sockets(), 0);
    assert!(status(&ps).get("watch").is_none());
    terminate(&worker);
    let _ = wait(&mut worker, Duration::from_secs(30));
}
