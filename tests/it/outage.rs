//! The real binary through a whole outage, against the fake Plex on loopback: jobs queued
//! while Plex is down, the breaker opens, probes back off, Plex restarts through its
//! maintenance stage, HALF_OPEN then CLOSED, and the ramp drains every job.

use std::time::{Duration, Instant};

use fake_plex::ServerPhase;

use crate::harness::{DataDir, Plex, QUICK_POLICY, wait};

const JOBS: usize = 30;

#[test]
fn an_outage_from_first_failure_to_drained_backlog() {
    let plex = Plex::start(JOBS, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    // plexsync has reached this Plex before (so a refused connection now is an outage, not a
    // mistyped URL); then Plex goes down.
    let first = ps.run(&["process"]);
    assert_eq!(first.status, Some(0), "{first:?}");
    plex.set_phase(ServerPhase::Refused);
    // Stash saved 30 scenes while Plex was down.
    for i in 0..JOBS {
        let run = ps.run(&[
            "enqueue",
            "--scene",
            &i.to_string(),
            "--file",
            &format!("/data/Movies/m{i}.mkv"),
            "--title",
            &format!("Edited {i}"),
            "--studio",
            "Blender",
        ]);
        assert_eq!(run.status, Some(0), "{run:?}");
    }
    // Plex comes back the way it starts: port open but silent, maintenance, /identity
    // passing before the library, ready.
    plex.schedule(Duration::from_millis(1_500), ServerPhase::Silent);
    plex.schedule(Duration::from_millis(2_500), ServerPhase::Maintenance);
    plex.schedule(Duration::from_millis(3_500), ServerPhase::Starting);
    plex.schedule(Duration::from_millis(4_500), ServerPhase::Ready);
    let started = Instant::now();
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    let run = wait(&mut worker, Duration::from_secs(90));
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(started.elapsed() >= Duration::from_millis(4_500));

    // Every edit reached Plex as intended, once.
    for i in 0..JOBS {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{i}.mkv")).as_deref(),
            Some(format!("Edited {i}").as_str())
        );
    }
    let edits = plex.fake.edits();
    assert_eq!(edits.len(), JOBS, "one edit per job");
    let dead = ps.run(&["dlq", "list", "--json"]);
    assert_eq!(dead.json(), serde_json::json!([]));
    let status = ps.run(&["status", "--json"]).json();
    assert_eq!(status["breaker"]["state"], "closed");
    assert_eq!(status["queue"]["pending"], 0);
    assert_eq!(status["reliability"]["outages"], 1);
    let outage = &status["recent_outages"][0];
    assert_eq!(outage["ended_by"], "recovered");
    assert_eq!(outage["cause"], "refused");
    assert!(outage["probes"].as_u64().unwrap() >= 5, "{outage}");

    // The story in the log: open, half-open, closed, Plex back; not one line per probe.
    let log = &run.stderr;
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{log}"))
    };
    assert!(at("CLOSED -> OPEN") < at("OPEN -> HALF_OPEN"));
    assert!(at("OPEN -> HALF_OPEN") < at("HALF_OPEN -> CLOSED"));
    assert!(log.contains("Plex is back after"));
    assert!(log.lines().count() < 20, "{log}");
    // The report is the output: every job synced, none left waiting.
    assert!(
        run.stdout.starts_with(&format!("{JOBS} synced")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("waiting"), "{}", run.stdout);
    // However many attempts the outage cost, it held back at most every job, once each.
    let back = log
        .lines()
        .find(|l| l.contains("Plex is back after"))
        .unwrap();
    let held: usize = back
        .rsplit_once(", ")
        .and_then(|(_, tail)| tail.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {back:?}"));
    assert!((1..=JOBS).contains(&held), "{back}");
    // Probes backed off and no job reached Plex while it was starting: every request it
    // answered before it was ready was a probe's.
    let requests = plex.fake.requests();
    let before_ready: Vec<_> = requests
        .iter()
        .take_while(|r| r.method != "PUT")
        .filter(|r| r.path.starts_with("/library/sections/1/all"))
        .collect();
    assert!(
        before_ready.len() <= 2,
        "jobs sent to a Plex that was not ready: {before_ready:?}"
    );
    let identity_probes = requests.iter().filter(|r| r.path == "/identity").count();
    assert!(
        identity_probes < 40,
        "{identity_probes} probes in a 3 s startup: not backing off"
    );
    // The token never shows.
    assert!(!run.stderr.contains(plex.fake.token()) && !run.stdout.contains(plex.fake.token()));
}

/// One job queued while Plex is down: however often the worker tries it before Plex is back,
/// the outage held back one job, and the run synced one and left none.
#[test]
fn an_outage_over_one_job_says_one_job() {
    let plex = Plex::start(2, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    assert_eq!(ps.run(&["process"]).status, Some(0));
    plex.set_phase(ServerPhase::Refused);
    let queued = ps.run(&[
        "enqueue",
        "--scene",
        "1",
        "--file",
        "/data/Movies/m1.mkv",
        "--title",
        "Once",
    ]);
    assert_eq!(queued.status, Some(0), "{queued:?}");
    plex.schedule(Duration::from_millis(2_500), ServerPhase::Ready);
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    let run = wait(&mut worker, Duration::from_secs(60));
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("1 job failed during it)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .starts_with("1 synced (1 updated, 0 already up to date), 0 dead-lettered"),
        "{}",
        run.stdout
    );
    let history = ps.run(&["outages"]);
    assert!(
        history.stdout.contains("1 job failed during it"),
        "{}",
        history.stdout
    );
}
