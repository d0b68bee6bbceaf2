//! `plexsync doctor` against the fake Plex: each verdict, in text and JSON.

use std::time::{Duration, Instant};

use fake_plex::{Activity, Options, ServerPhase};
use serde_json::Value;

use crate::harness::{DataDir, Plex, Plexsync, utc_hour};

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

fn doctor(ps: &Plexsync) -> (Value, crate::harness::Run) {
    let json = ps.run(&["doctor", "--json"]);
    let text = ps.run(&["doctor"]);
    assert_eq!(json.status, text.status, "{json:?}\n{text:?}");
    (json.json(), text)
}

#[test]
fn a_healthy_set_up_passes_every_check() {
    let plex = Plex::start(3, ServerPhase::Ready);
    // A maintenance window that is surely not now.
    let hour = utc_hour();
    plex.fake.set_butler_hours((hour + 3) % 24, (hour + 5) % 24);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync().env("TZ", "UTC");
    let (report, text) = doctor(&ps);
    assert_eq!(text.status, Some(0), "{text:?}");
    assert_eq!(report["problems"], 0, "{report}");
    assert_eq!(report["warnings"], 0, "{report}");
    for name in [
        "plex",
        "token",
        "library",
        "activities",
        "maintenance",
        "paths",
        "queue",
    ] {
        assert_eq!(check(&report, name)["verdict"], "ok", "{name}: {report}");
    }
    assert!(
        check(&report, "library")["found"]
            .as_str()
            .unwrap()
            .contains("Movies (movie, Plex Video Files Scanner, 7 items)"),
        "{report}"
    );
    assert!(
        text.stdout
            .contains("ok       token        accepted, and allowed to edit"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.ends_with("0 problems, 0 warnings\n"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_token_that_may_only_read_is_a_problem() {
    let plex = Plex::start_with(
        1,
        Options {
            read_only_token: Some("managed-user-token".into()),
            ..Options::default()
        },
    );
    let data = DataDir::new(&plex.fake.url(), "managed-user-token", "");
    let (report, text) = doctor(&data.plexsync());
    assert_eq!(text.status, Some(1), "{text:?}");
    let token = check(&report, "token");
    assert_eq!(token["verdict"], "problem", "{report}");
    assert!(
        token["todo"].as_str().unwrap().contains("owner's token"),
        "{report}"
    );
    assert!(text.stdout.contains("PROBLEM  token"), "{}", text.stdout);
    assert!(
        plex.fake
            .edits()
            .iter()
            .all(|e| e.pairs.iter().all(|(k, _)| k == "type" || k == "id"))
    );
}

#[test]
fn an_update_an_activity_in_progress_and_a_maintenance_window_now_are_warnings() {
    let plex = Plex::start(1, ServerPhase::Ready);
    plex.fake.set_update(Some("1.41.3.9314"));
    plex.fake.set_activities(vec![
        Activity::scan("1", "Movies", 42),
        Activity::optimization(7),
    ]);
    let hour = utc_hour();
    plex.fake
        .set_butler_hours((hour + 23) % 24, (hour + 2) % 24);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let (report, text) = doctor(&data.plexsync().env("TZ", "UTC"));
    assert_eq!(text.status, Some(0), "warnings only: {text:?}");
    let busy = check(&report, "activities");
    assert!(
        check(&report, "clock")["found"]
            .as_str()
            .unwrap()
            .starts_with("Plex's clock and this machine's agree"),
        "{report}"
    );
    assert_eq!(busy["verdict"], "warning", "{report}");
    assert_eq!(
        busy["found"],
        "Plex is busy: Scanning Movies (42 %), Optimizing (7 %)"
    );
    let window = check(&report, "maintenance");
    assert_eq!(window["verdict"], "warning", "{report}");
    assert!(
        window["found"]
            .as_str()
            .unwrap()
            .starts_with("inside Plex's scheduled maintenance now"),
        "{report}"
    );
    let update = check(&report, "update");
    assert_eq!(update["verdict"], "warning", "{report}");
    assert_eq!(
        update["found"],
        "Plex 1.41.3.9314 is waiting to be installed (available)"
    );
    assert_eq!(report["warnings"], 3, "{report}");
}

#[test]
fn files_plex_keeps_elsewhere_get_the_path_map_that_finds_them() {
    let plex = Plex::start(6, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    // Stash sees Plex's /data/Movies as /mnt/media/films.
    for i in 0..4 {
        let run = ps.run(&[
            "enqueue",
            "--scene",
            &i.to_string(),
            "--file",
            &format!("/mnt/media/films/m{i}.mkv"),
            "--title",
            "T",
        ]);
        assert_eq!(run.status, Some(0), "{run:?}");
    }
    let (report, text) = doctor(&ps);
    assert_eq!(text.status, Some(1), "{text:?}");
    let paths = check(&report, "paths");
    assert_eq!(paths["verdict"], "problem", "{report}");
    assert!(
        paths["found"]
            .as_str()
            .unwrap()
            .starts_with("Plex does not have 4 of the 4 files looked up"),
        "{report}"
    );
    assert!(
        paths["todo"]
            .as_str()
            .unwrap()
            .contains("set Path map to `/mnt/media/films/ => /data/Movies/`"),
        "{report}"
    );
}

#[test]
fn a_queue_with_dead_letters_and_a_breaker_opened_by_hand_says_what_to_do() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(
        &plex.fake.url(),
        plex.fake.token(),
        "[policy.retry]\nnot_found = \"dead_letter\"\n",
    );
    let ps = data.plexsync();
    let run = ps.run(&[
        "enqueue",
        "--scene",
        "9",
        "--file",
        "/data/Movies/gone.mkv",
        "--title",
        "T",
    ]);
    assert_eq!(run.status, Some(0));
    assert_eq!(ps.run(&["process"]).status, Some(0));
    assert_eq!(ps.run(&["breaker", "open"]).status, Some(0));
    let (report, text) = doctor(&ps);
    assert_eq!(text.status, Some(1), "{text:?}");
    let queue = check(&report, "queue");
    assert_eq!(queue["verdict"], "problem", "{report}");
    let found = queue["found"].as_str().unwrap();
    assert!(found.contains("dead letters: 1 not_found"), "{found}");
    assert!(found.contains("the breaker is opened by hand"), "{found}");
    let todo = queue["todo"].as_str().unwrap();
    assert!(
        todo.contains("plexsync breaker reset") && todo.contains("dlq requeue"),
        "{todo}"
    );
}

/// A job whose file Plex has not scanned yet: doctor says it waits, and since when.
#[test]
fn a_job_waiting_for_a_scan_is_told_with_how_long() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    let run = ps.run(&[
        "enqueue",
        "--scene",
        "9",
        "--file",
        "/data/Movies/new/later.mkv",
        "--title",
        "T",
    ]);
    assert_eq!(run.status, Some(0));
    assert_eq!(ps.run(&["process"]).status, Some(0));
    let (report, _) = doctor(&ps);
    let found = check(&report, "queue")["found"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        found.contains("1 job waits for Plex to scan its file, the first since just now")
            || found.contains("1 job waits for Plex to scan its file, the first since 1 s ago"),
        "{found}"
    );
}

/// A server that accepts connections and never answers: every check is bounded, and the
/// whole stays inside the documented ten seconds.
#[test]
fn a_server_that_never_answers_cannot_hold_doctor_up() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    assert_eq!(ps.run(&["process"]).status, Some(0));
    plex.fake.set_slow(Duration::from_secs(60));
    plex.set_phase(ServerPhase::Slow);
    let started = Instant::now();
    let run = ps.run(&["doctor", "--json"]);
    let took = started.elapsed();
    assert_eq!(run.status, Some(1), "{run:?}");
    assert!(took < Duration::from_secs(12), "took {took:?}");
    let report = run.json();
    assert_eq!(check(&report, "plex")["verdict"], "problem", "{report}");
    assert_eq!(check(&report, "queue")["verdict"], "ok", "{report}");
}

/// With `STASH_URL`, the command checks Stash too: reachable, its version, what is saved.
#[test]
fn stash_is_checked_when_its_url_is_given() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let stash = runtime
        .block_on(fake_stash::FakeStash::start(fake_stash::Options {
            // Stash with a login: a client without the session needs the API key.
            session: Some("browser-session".into()),
            api_key: Some("stash-key".into()),
            ..fake_stash::Options::default()
        }))
        .unwrap();
    stash.set_plugin_settings(
        "plexsync",
        serde_json::json!({ "plex_url": plex.fake.url() }),
    );
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let url = format!("http://127.0.0.1:{}", stash.port());
    let ps = data
        .plexsync()
        .env("STASH_URL", &url)
        .env("STASH_API_KEY", "stash-key");
    let (report, text) = doctor(&ps);
    let found = check(&report, "stash");
    assert_eq!(found["verdict"], "ok", "{report}");
    assert_eq!(
        found["found"],
        "reachable, Stash v0.28.1-fake; plexsync settings saved: plex_url"
    );
    assert!(!text.stdout.contains("stash-key") && !text.stderr.contains("stash-key"));
    // A wrong key: Stash refuses, and doctor says what to check.
    let refused = data
        .plexsync()
        .env("STASH_URL", &url)
        .env("STASH_API_KEY", "wrong");
    let (report, _) = doctor(&refused);
    assert_eq!(check(&report, "stash")["verdict"], "problem", "{report}");
    assert!(
        check(&report, "stash")["todo"]
            .as_str()
            .unwrap()
            .contains("STASH_API_KEY")
    );
}

/// A worker reads Plex's maintenance window (once a day): `status` shows it, and `outages`
/// marks the outages that began inside it.
#[test]
fn plex_s_maintenance_window_is_read_shown_and_outages_inside_it_marked() {
    let plex = Plex::start(2, ServerPhase::Ready);
    let hour = utc_hour();
    plex.fake.set_butler_hours(hour, (hour + 2) % 24);
    let data = DataDir::new(
        &plex.fake.url(),
        plex.fake.token(),
        crate::harness::QUICK_POLICY,
    );
    let ps = data.plexsync().env("TZ", "UTC");
    assert_eq!(ps.run(&["process"]).status, Some(0));
    let status = ps.run(&["status", "--json"]).json();
    assert_eq!(
        status["window"],
        serde_json::json!({ "start": hour, "end": (hour + 2) % 24, "source": "plex" }),
        "{status}"
    );
    let text = ps.run(&["status"]);
    assert!(
        text.stdout.contains(&format!(
            "maintenance  window {hour:02}:00 to {:02}:00 local time, Plex's scheduled maintenance (its setting)",
            (hour + 2) % 24
        )),
        "{}",
        text.stdout
    );
    // An outage now, inside the window.
    plex.set_phase(ServerPhase::Refused);
    let run = ps.run(&[
        "enqueue",
        "--scene",
        "1",
        "--file",
        "/data/Movies/m0.mkv",
        "--title",
        "T",
    ]);
    assert_eq!(run.status, Some(0));
    plex.schedule(Duration::from_millis(1_500), ServerPhase::Ready);
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    let done = crate::harness::wait(&mut worker, Duration::from_secs(60));
    assert_eq!(done.status, Some(0), "{done:?}");
    let outages = ps.run(&["outages"]);
    assert!(
        outages
            .stdout
            .contains("recovered (inside the known window)"),
        "{}",
        outages.stdout
    );
    // Read once a day: the next run does not ask again.
    let asked = |plex: &Plex| {
        plex.fake
            .requests()
            .iter()
            .filter(|r| r.path == "/:/prefs")
            .count()
    };
    let before = asked(&plex);
    assert_eq!(ps.run(&["process"]).status, Some(0));
    assert_eq!(
        asked(&plex),
        before,
        "the window was read again within a day"
    );
}
