//! What a user sees when something is wrong or waiting: one line that names the thing to fix,
//! the right exit status, nothing from a server that can forge output, and a queue that says
//! why each job waits.

use fake_plex::{Options, ServerPhase};

use crate::harness::{DataDir, Plex, Plexsync};

fn enqueue_args<'a>(scene: &'a str, file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["enqueue", "--scene", scene, "--file", file, "--title", "T"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_data_directory_that_is_a_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plexsync");
    std::fs::write(&file, "not a folder").unwrap();
    let ps = Plexsync::new().env("PLEXSYNC_DATA_DIR", &file);
    for args in [
        vec!["status"],
        enqueue_args("1", "/data/a.mkv", &[]),
        vec!["process"],
    ] {
        let run = ps.run(&args);
        assert_eq!(run.status, Some(2), "{args:?}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("the data directory {} is a file", file.display())),
            "{}",
            run.stderr
        );
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder");
}

#[test]
fn a_data_directory_that_cannot_be_made_is_a_setting_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let ps = Plexsync::new()
        .env("PLEXSYNC_DATA_DIR", file.join("plexsync"))
        .env("PLEX_URL", "http://127.0.0.1:9")
        .env("PLEX_TOKEN", "t");
    for args in [enqueue_args("1", "/data/a.mkv", &[]), vec!["process"]] {
        let run = ps.run(&args);
        assert_eq!(run.status, Some(2), "{args:?}: {run:?}");
        assert!(run.stderr.contains("PLEXSYNC_DATA_DIR"), "{}", run.stderr);
    }
}

#[test]
fn a_config_error_names_its_own_line() {
    for blank in 0..6 {
        let config = format!(
            "plex_url = \"http://127.0.0.1:9\"\n{}plex_tokn = \"x\"\n",
            "# a comment\n\n".repeat(blank)
        );
        let data = DataDir::raw(&config);
        let run = data.plexsync().run(&["status"]);
        assert_eq!(run.status, Some(2), "{run:?}");
        let line = 2 + 2 * blank;
        assert!(
            run.stderr.contains(&format!("(line {line})")),
            "line {line}: {}",
            run.stderr
        );
    }
}

#[test]
fn a_plex_url_without_its_scheme_or_from_the_browser_gets_the_url_to_use() {
    for (given, expect) in [
        (
            "localhost:32499",
            "(got localhost:32499); did you mean http://localhost:32499?",
        ),
        (
            "192.168.1.20:32400",
            "did you mean http://192.168.1.20:32400?",
        ),
        (
            "http://127.0.0.1:32400/web/index.html#!/settings",
            "Plex Web's address in a browser (http://127.0.0.1:32400/web/index.html); plexsync talks to the server itself: use http://127.0.0.1:32400",
        ),
    ] {
        let data = DataDir::raw("");
        let run = data
            .plexsync()
            .env("PLEX_URL", given)
            .env("PLEX_TOKEN", "secret-token")
            .run(&["health"]);
        assert_eq!(run.status, Some(2), "{given}: {run:?}");
        assert!(run.stderr.contains(expect), "{given}: {}", run.stderr);
        assert!(!run.stderr.contains("secret-token"));
    }
}

#[test]
fn dates_plex_cannot_take_are_refused_on_the_way_in_and_nothing_is_queued() {
    let data = DataDir::raw("");
    let ps = data.plexsync();
    for date in [
        "2020-13-45",
        "next tuesday",
        "2021-02-29",
        "20-01-01",
        "2020-1-1",
    ] {
        let run = ps.run(&enqueue_args("1", "/data/a.mkv", &["--date", date]));
        assert_eq!(run.status, Some(2), "{date}: {run:?}");
        assert!(
            run.stderr.contains("is not a date: write it as YYYY-MM-DD"),
            "{date}: {}",
            run.stderr
        );
    }
    for (flag, what) in [("--tag", "genre"), ("--performer", "actor")] {
        let run = ps.run(&enqueue_args("1", "/data/a.mkv", &[flag, "  "]));
        assert_eq!(run.status, Some(2), "{run:?}");
        assert!(
            run.stderr.contains(&format!("a {what} name is blank")),
            "{}",
            run.stderr
        );
    }
    let queue = ps.run(&["queue", "--json"]).json();
    assert_eq!(queue, serde_json::json!([]), "nothing was queued");
    let run = ps.run(&enqueue_args("1", "/data/a.mkv", &["--date", "2024-02-29"]));
    assert_eq!(run.status, Some(0), "{run:?}");
}

#[test]
fn a_server_name_cannot_forge_lines_or_drive_the_terminal() {
    let plex = Plex::start_with(
        1,
        Options {
            name: "Den\u{1b}[2J\nplexsync: token refused\r\u{7}".into(),
            phase: ServerPhase::Ready,
            ..Options::default()
        },
    );
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let run = data.plexsync().run(&["health"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        !run.stdout.chars().any(|c| c.is_control() && c != '\n'),
        "{:?}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Den?[2J?plexsync: token refused??"),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.lines().any(|l| l.starts_with("plexsync:")),
        "a forged line: {}",
        run.stdout
    );
}

#[test]
fn the_queue_says_why_each_job_waits_and_when_it_runs() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let ps = data.plexsync();
    assert_eq!(
        ps.run(&["queue"]).stdout.trim(),
        "the queue is empty",
        "an empty queue"
    );
    // One job whose file Plex has, one whose file it has not scanned.
    assert_eq!(
        ps.run(&enqueue_args("1", "/data/Movies/m0.mkv", &[]))
            .status,
        Some(0)
    );
    assert_eq!(
        ps.run(&enqueue_args("2", "/data/Movies/new.mkv", &[]))
            .status,
        Some(0)
    );
    let before = ps.run(&["queue", "--json"]).json();
    let states: Vec<&str> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ready", "ready"], "{before}");
    let run = ps.run(&["process"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    // The summary names what is left: one job, waiting for a retry.
    assert!(
        run.stdout.contains("1 synced")
            && run.stdout.contains(
                "1 job waiting to retry (scene-2: not in Plex yet (waiting for a scan); the next in"
            ),
        "{}",
        run.stdout
    );
    let after = ps.run(&["queue", "--json"]).json();
    let rows = after.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{after}");
    assert_eq!(rows[0]["key"], "scene-2");
    assert_eq!(rows[0]["state"], "waiting_for_retry");
    assert_eq!(rows[0]["last_failure"]["class"], "not_found");
    assert!(rows[0]["next_at"].as_u64().unwrap() > rows[0]["enqueued_at"].as_u64().unwrap());
    let text = ps.run(&["queue"]);
    assert!(text.stdout.contains("scene-2"), "{}", text.stdout);
    assert!(text.stdout.contains("not in Plex yet"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("1 job: 0 ready, 1 waiting for a retry, 0 waiting for Plex"),
        "{}",
        text.stdout
    );
}

#[test]
fn stash_help_is_help() {
    let run = Plexsync::new().run(&["stash", "--help"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("Usage: plexsync stash"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_stop_for_a_refused_token_is_forgotten_once_a_check_passes() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), "not-the-token", "");
    let ps = data.plexsync();
    assert_eq!(
        ps.run(&enqueue_args("1", "/data/Movies/m0.mkv", &[]))
            .status,
        Some(0)
    );
    let refused = ps.run(&["process"]);
    assert_eq!(refused.status, Some(2), "{refused:?}");
    let status = ps.run(&["status"]);
    assert!(status.stdout.contains("stopped"), "{}", status.stdout);
    // The token is fixed (in the environment, which wins over the file); a check passes.
    let fixed = ps.env("PLEX_TOKEN", plex.fake.token());
    let health = fixed.run(&["health"]);
    assert_eq!(health.status, Some(0), "{health:?}");
    let status = fixed.run(&["status"]);
    assert!(!status.stdout.contains("stopped"), "{}", status.stdout);
    assert!(fixed.run(&["status", "--json"]).json()["halt"].is_null());
}

#[test]
fn a_new_setup_reports_no_availability_over_a_few_seconds_and_tells_a_restart_as_it_went() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(
        &plex.fake.url(),
        plex.fake.token(),
        crate::harness::QUICK_POLICY,
    );
    let ps = data.plexsync();
    assert_eq!(ps.run(&["process"]).status, Some(0));
    plex.set_phase(ServerPhase::Refused);
    assert_eq!(
        ps.run(&enqueue_args("1", "/data/Movies/m0.mkv", &[]))
            .status,
        Some(0)
    );
    plex.schedule(
        std::time::Duration::from_millis(1_200),
        ServerPhase::Maintenance,
    );
    plex.schedule(std::time::Duration::from_millis(2_700), ServerPhase::Ready);
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    let run = crate::harness::wait(&mut worker, std::time::Duration::from_secs(60));
    assert_eq!(run.status, Some(0), "{run:?}");
    let back = run
        .stderr
        .lines()
        .find(|l| l.contains("Plex is back after"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(
        back.contains("(refused → ") && back.contains("maintenance;"),
        "{back}"
    );
    let status = ps.run(&["status"]);
    assert!(
        status
            .stdout
            .contains("MTBF and availability after 24 h of watching"),
        "{}",
        status.stdout
    );
    assert!(!status.stdout.contains('%'), "{}", status.stdout);
    let json = ps.run(&["status", "--json"]).json();
    assert!(json["reliability"]["availability"].is_null(), "{json}");
    assert_eq!(
        json["recent_outages"][0]["stages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "maintenance"
    );
}

#[test]
fn a_run_paced_by_an_earlier_outage_says_so() {
    let plex = Plex::start(3, ServerPhase::Ready);
    let policy = crate::harness::QUICK_POLICY.replace("ramp_ms = 2000", "ramp_ms = 600000");
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), &policy);
    let ps = data.plexsync();
    let quiet = ps.run(&["process"]);
    assert!(!quiet.stderr.contains("pacing"), "{}", quiet.stderr);
    plex.set_phase(ServerPhase::Refused);
    assert_eq!(
        ps.run(&enqueue_args("1", "/data/Movies/m0.mkv", &[]))
            .status,
        Some(0)
    );
    plex.schedule(std::time::Duration::from_millis(800), ServerPhase::Ready);
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    let first = crate::harness::wait(&mut worker, std::time::Duration::from_secs(60));
    assert_eq!(first.status, Some(0), "{first:?}");
    // The next run, with Plex long healthy, is still paced by that outage: it says so.
    assert_eq!(
        ps.run(&enqueue_args("2", "/data/Movies/m1.mkv", &[]))
            .status,
        Some(0)
    );
    let next = ps.run(&["process"]);
    assert_eq!(next.status, Some(0), "{next:?}");
    assert!(
        next.stderr.contains("pacing after Plex's last outage: ")
            && next
                .stderr
                .contains("jobs/s now, rising to 200 over the next 9 min"),
        "{}",
        next.stderr
    );
}
