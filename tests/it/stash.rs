//! `plexsync stash`: the binary as Stash runs it, against a fake Stash and a fake Plex.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fake_plex::ServerPhase;
use fake_stash::{FakeStash, Options, scene};
use persist::{Queue, QueueOptions};
use serde_json::{Value, json};

use crate::harness::{Plex, Plexsync, QUICK_POLICY, Run};

const COOKIE: &str = "s3ss10n-c00kie-value";

/// A fake Stash, the runtime it runs on, and Stash's configuration directory.
pub(crate) struct Stash {
    /// Kept for the fake's sake: it serves from this runtime.
    _runtime: tokio::runtime::Runtime,
    pub(crate) fake: FakeStash,
    pub(crate) dir: tempfile::TempDir,
}

impl Stash {
    pub(crate) fn start(options: Options) -> Stash {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = runtime.block_on(FakeStash::start(options)).unwrap();
        let dir = tempfile::Builder::new()
            .prefix("plexsync-stash-")
            .tempdir()
            .unwrap();
        Stash {
            _runtime: runtime,
            fake,
            dir,
        }
    }

    /// With authentication on: the session cookie is required.
    pub(crate) fn with_session() -> Stash {
        Stash::start(Options {
            session: Some(COOKIE.into()),
            ..Options::default()
        })
    }

    /// plexsync's data directory: by default `plexsync` in Stash's configuration directory.
    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("plexsync")
    }

    /// A config.toml for quick outages in the data directory.
    pub(crate) fn quick_config(&self) {
        std::fs::create_dir_all(self.data_dir()).unwrap();
        let config = format!(
            "connect_timeout_ms = 500\nread_timeout_ms = 1000\nhealth_timeout_ms = 1000\n{QUICK_POLICY}"
        );
        std::fs::write(self.data_dir().join("config.toml"), config).unwrap();
    }

    /// Plex's URL and token saved as the plugin's settings, plus `extra`.
    pub(crate) fn settings_for(&self, plex: &Plex, extra: Value) {
        let mut settings = json!({ "plex_url": plex.fake.url(), "plex_token": plex.fake.token() });
        if let (Value::Object(s), Value::Object(e)) = (&mut settings, extra) {
            s.extend(e);
        }
        self.fake.set_plugin_settings("plexsync", settings);
    }

    /// Stash's input document with these `args`.
    pub(crate) fn input(&self, args: Value) -> Vec<u8> {
        input(self.fake.port(), self.dir.path(), Some(COOKIE), args)
    }

    pub(crate) fn hook(&self, id: u64, kind: &str, hook_input: Value) -> Vec<u8> {
        self.input(json!({ "hookContext": { "id": id, "type": kind, "input": hook_input, "inputFields": ["title"] } }))
    }

    pub(crate) fn task(&self, mode: &str) -> Vec<u8> {
        self.input(json!({ "mode": mode }))
    }

    /// The keys of the jobs queued, in queue order.
    pub(crate) fn queued_keys(&self) -> Vec<String> {
        self.queue()
            .jobs()
            .unwrap()
            .into_iter()
            .map(|j| j.key)
            .collect()
    }

    pub(crate) fn queue(&self) -> Queue {
        Queue::open(self.data_dir().join("queue"), QueueOptions::default()).unwrap()
    }
}

/// Stash's plugin input, as docs/stash.md describes it.
pub(crate) fn input(port: u16, dir: &Path, cookie: Option<&str>, args: Value) -> Vec<u8> {
    let cookie = cookie.map(|value| json!({
        "Name": "session", "Value": value, "Path": "", "Domain": "", "Expires": "0001-01-01T00:00:00Z",
        "MaxAge": 0, "Secure": false, "HttpOnly": false, "SameSite": 0, "Raw": "", "Unparsed": null
    }));
    let doc = json!({
        "server_connection": {
            "Scheme": "http", "Host": "0.0.0.0", "Port": port, "SessionCookie": cookie,
            "Dir": dir, "PluginDir": dir.join("plugins/plexsync"),
        },
        "args": args,
    });
    doc.to_string().into_bytes()
}

/// Runs `plexsync stash` on `stdin`, with no environment at all, as Stash does.
pub(crate) fn plugin(stdin: &[u8]) -> Run {
    Plexsync::new().stdin(stdin).run(&["stash"])
}

/// Stash's rules for what a plugin prints: stdout is exactly the result object; every stderr
/// line is a level-prefixed log line or progress. Returns the object.
pub(crate) fn check_protocol(run: &Run) -> Value {
    let doc: Value = serde_json::from_str(run.stdout.trim_end())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {:?}", run.stdout));
    let object = doc.as_object().expect("stdout is an object");
    assert_eq!(object.len(), 2, "{doc}");
    assert!(
        object.contains_key("output") && object.contains_key("error"),
        "{doc}"
    );
    assert!(doc["error"].is_null() || doc["error"].is_string(), "{doc}");
    assert_eq!(run.stdout.trim_end().lines().count(), 1, "{:?}", run.stdout);
    for line in run.stderr.lines() {
        let rest = line
            .strip_prefix('\x01')
            .unwrap_or_else(|| panic!("a stderr line without a level: {line:?}"));
        let mut chars = rest.chars();
        let level = chars.next().unwrap();
        assert!("tdiwep".contains(level), "{line:?}");
        assert_eq!(chars.next(), Some('\x02'), "{line:?}");
        assert!(line.len() < 4_096, "a log line of {} bytes", line.len());
        if level == 'p' {
            let fraction: f64 = chars.as_str().parse().expect("progress is a number");
            assert!((0.0..=1.0).contains(&fraction), "{line:?}");
        }
    }
    match (&doc["error"], run.status) {
        (Value::Null, Some(0)) => {}
        (Value::String(_), Some(status)) if status != 0 => {}
        other => panic!("error and exit status disagree: {other:?}\n{}", run.stderr),
    }
    doc
}

fn secrets_absent(run: &Run, secrets: &[&str], dir: &Path) {
    for secret in secrets {
        assert!(!run.stdout.contains(secret), "a secret on stdout");
        assert!(!run.stderr.contains(secret), "a secret on stderr");
        for (path, bytes) in crate::harness::tree(dir) {
            if path.file_name().is_some_and(|n| n == "config.toml") {
                continue;
            }
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(secret), "a secret in {}", path.display());
        }
    }
}

#[test]
fn a_hook_queues_the_scene_with_its_metadata_in_one_round_trip_and_no_secret_kept() {
    let stash = Stash::with_session();
    let mut full = scene("42", "Sintel", "/stash/media/Sintel (2010).mkv");
    full["details"] = json!("A girl and a dragon.");
    full["date"] = json!("2010-09-27");
    full["updated_at"] = json!("2026-11-27T21:10:05+01:00");
    full["studio"] = json!({ "name": "Blender" });
    full["performers"] = json!([{ "name": "Halina Reijn" }, { "name": "Thom Hoffman" }]);
    full["tags"] = json!([{ "name": "Animation" }, { "name": "Fantasy" }]);
    stash.fake.add_scene(full);
    stash.fake.set_plugin_settings(
        "plexsync",
        json!({ "plex_url": "http://127.0.0.1:9", "plex_token": "plex-t0ken-secret", "path_map": "/stash/media/ => /data/Movies/", "collection_from_studio": true, "auto_process": false }),
    );

    let run = plugin(&stash.hook(
        42,
        "Scene.Update.Post",
        json!({ "id": "42", "title": "Sintel" }),
    ));
    let doc = check_protocol(&run);
    assert_eq!(doc["output"]["queued"], true, "{doc}\n{}", run.stderr);
    assert_eq!(
        stash.fake.requests().len(),
        1,
        "a hook costs one round trip to Stash (with Sync by itself off)"
    );
    assert!(
        run.stderr
            .contains("\x01i\x02queued scene 42 (Sintel) for Plex"),
        "{}",
        run.stderr
    );

    let jobs = stash.queue().jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].key, "scene-42");
    let job: Value = jobs[0].payload.decode().unwrap();
    assert_eq!(job["files"], json!(["/data/Movies/Sintel (2010).mkv"]));
    assert_eq!(job["edit"]["title"], "Sintel");
    assert_eq!(job["edit"]["summary"], "A girl and a dragon.");
    assert_eq!(job["edit"]["originally_available_at"], "2010-09-27");
    assert_eq!(job["edit"]["studio"], "Blender");
    assert_eq!(
        job["edit"]["actors"],
        json!(["Halina Reijn", "Thom Hoffman"])
    );
    assert_eq!(job["edit"]["genres"], json!(["Animation", "Fantasy"]));
    assert_eq!(job["edit"]["collections"], json!(["Blender"]));
    assert_eq!(job["edited_at"], 1_795_810_205_000u64);
    secrets_absent(&run, &[COOKIE, "plex-t0ken-secret"], stash.dir.path());
}

#[test]
fn scan_triggered_and_bulk_hooks_queue_their_scene_and_other_hooks_are_ignored() {
    let stash = Stash::with_session();
    for id in 1..=3 {
        stash.fake.add_scene(scene(
            &id.to_string(),
            &format!("S{id}"),
            &format!("/data/Movies/m{id}.mkv"),
        ));
    }
    stash
        .fake
        .add_scene(json!({ "id": "9", "title": "no files", "files": [] }));
    let bulk = json!([{ "id": "2", "title": "S2" }, { "id": "3", "organized": true }]);
    for (id, kind, hook_input) in [
        (1, "Scene.Create.Post", Value::Null),
        (2, "Scene.Update.Post", bulk.clone()),
        (3, "Scene.Update.Post", bulk),
    ] {
        let doc = check_protocol(&plugin(&stash.hook(id, kind, hook_input)));
        assert_eq!(doc["output"]["queued"], true, "{doc}");
    }
    let ignored = check_protocol(&plugin(&stash.hook(5, "Gallery.Update.Post", Value::Null)));
    assert_eq!(ignored["output"]["queued"], false);
    let gone = check_protocol(&plugin(&stash.hook(77, "Scene.Update.Post", Value::Null)));
    assert_eq!(gone["output"]["queued"], false, "a scene deleted since");
    let no_files = check_protocol(&plugin(&stash.hook(9, "Scene.Update.Post", Value::Null)));
    assert_eq!(no_files["output"]["queued"], false);
    let keys = stash.queued_keys();
    assert_eq!(keys, ["scene-1", "scene-2", "scene-3"]);
}

#[test]
fn bad_input_and_unreachable_or_refusing_stash_give_one_clear_error() {
    let stash = Stash::with_session();
    stash
        .fake
        .add_scene(scene("1", "S1", "/data/Movies/m1.mkv"));
    for bad in [&b""[..], b"{", b"[]", b"{\"args\": {}}", b"\xff\xfe"] {
        let run = plugin(bad);
        let doc = check_protocol(&run);
        let error = doc["error"].as_str().expect("an error");
        assert!(error.contains("input"), "{error}");
    }
    let no_mode = check_protocol(&plugin(&stash.input(json!({}))));
    assert!(
        no_mode["error"].as_str().unwrap().contains("task mode"),
        "{no_mode}"
    );
    let unknown = check_protocol(&plugin(&stash.task("defrag")));
    assert!(
        unknown["error"]
            .as_str()
            .unwrap()
            .contains("unknown task mode \"defrag\""),
        "{unknown}"
    );

    let refused = input(
        stash.fake.port(),
        stash.dir.path(),
        Some("wrong-cookie-7781"),
        json!({ "mode": "status" }),
    );
    let run = plugin(&refused);
    let doc = check_protocol(&run);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("refused plexsync's credentials"),
        "{doc}"
    );
    assert!(
        !run.stderr.contains("wrong-cookie-7781") && !run.stdout.contains("wrong-cookie-7781"),
        "the cookie is shown"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let doc = check_protocol(&plugin(&input(
        port,
        stash.dir.path(),
        Some(COOKIE),
        json!({ "hookContext": { "id": 1, "type": "Scene.Update.Post", "input": null } }),
    )));
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("could not reach Stash"),
        "{doc}"
    );
    assert!(stash.queue().jobs().unwrap().is_empty());
}

#[test]
fn tasks_sync_all_then_process_against_plex_with_progress() {
    let plex = Plex::start(300, ServerPhase::Ready);
    let stash = Stash::with_session();
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    for i in 0..300 {
        stash.fake.add_scene(scene(
            &(i + 1).to_string(),
            &format!("Synced {i}"),
            &format!("/data/Movies/m{i}.mkv"),
        ));
    }
    stash
        .fake
        .add_scene(json!({ "id": "1000", "title": "no files", "files": [] }));

    let run = plugin(&stash.task("sync_all"));
    let doc = check_protocol(&run);
    assert_eq!(
        doc["output"],
        json!({ "scenes": 301, "queued": 300, "skipped": 1 }),
        "{}",
        run.stderr
    );
    assert_eq!(
        stash.fake.requests().len(),
        1 + 2,
        "settings, then two pages of 250"
    );
    assert!(run.stderr.contains("\x01p\x021.000"), "{}", run.stderr);
    assert_eq!(stash.queue().stats(u64::MAX / 2).unwrap().pending, 300);

    let run = plugin(&stash.task("process"));
    let doc = check_protocol(&run);
    assert_eq!(doc["output"]["updated"], 300, "{doc}\n{}", run.stderr);
    for i in [0, 150, 299] {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{i}.mkv")).as_deref(),
            Some(format!("Synced {i}").as_str())
        );
    }
    let progress: Vec<f64> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("\x01p\x02"))
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(progress.len() >= 10, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&1.0));

    let status = check_protocol(&plugin(&stash.task("status")));
    assert_eq!(status["output"]["queue"]["pending"], 0, "{status}");
    assert_eq!(status["output"]["breaker"]["state"], "closed", "{status}");
    let health = check_protocol(&plugin(&stash.task("health")));
    assert_eq!(health["output"]["healthy"], true, "{health}");

    // The Doctor task: every check in the output and in Stash's log, Stash itself among them.
    let run = plugin(&stash.task("doctor"));
    let doctor = check_protocol(&run);
    let checks = doctor["output"]["checks"].as_array().unwrap();
    let stash_check = checks.iter().find(|c| c["name"] == "stash").unwrap();
    assert_eq!(stash_check["verdict"], "ok", "{doctor}");
    let found = stash_check["found"].as_str().unwrap();
    assert!(found.contains("Stash v0.28.1-fake"), "{found}");
    assert!(
        found.contains("plex_url") && found.contains("plex_token"),
        "{found}"
    );
    assert!(
        !run.stderr.contains(plex.fake.token()),
        "a secret in the log"
    );
    assert!(
        !run.stdout.contains(plex.fake.token()),
        "a secret in the output"
    );
    assert!(
        run.stderr
            .contains("\x01i\x02token: accepted, and allowed to edit"),
        "{}",
        run.stderr
    );
}

#[test]
fn sync_recent_queues_only_scenes_updated_in_the_window() {
    let stash = Stash::with_session();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let day = 86_400;
    for (id, age_days) in [(1, 1), (2, 3), (3, 10), (4, 400)] {
        let mut s = scene(&id.to_string(), "x", &format!("/data/Movies/m{id}.mkv"));
        s["updated_at"] = json!(rfc3339(now - age_days * day));
        stash.fake.add_scene(s);
    }
    let recent = stash.input(json!({ "mode": "sync_recent", "days": "7" }));
    let doc = check_protocol(&plugin(&recent));
    assert_eq!(doc["output"]["queued"], 2, "{doc}");
    let keys = stash.queued_keys();
    assert_eq!(keys, ["scene-1", "scene-2"]);
    let bad = check_protocol(&plugin(
        &stash.input(json!({ "mode": "sync_recent", "days": "a week" })),
    ));
    assert!(bad["error"].as_str().unwrap().contains("days"), "{bad}");
}

#[test]
fn plex_down_makes_the_health_task_fail_with_a_reason_and_dead_letters_can_be_managed() {
    let plex = Plex::start(1, ServerPhase::Refused);
    let stash = Stash::with_session();
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    let run = plugin(&stash.task("health"));
    let doc = check_protocol(&run);
    assert!(
        doc["error"].as_str().unwrap().contains("unhealthy"),
        "{doc}"
    );
    assert!(
        run.stderr.contains("\x01w\x02"),
        "the report is in the log: {}",
        run.stderr
    );

    for mode in ["dlq_list", "dlq_requeue", "dlq_purge", "reset_breaker"] {
        let doc = check_protocol(&plugin(&stash.task(mode)));
        assert!(doc["error"].is_null(), "{mode}: {doc}");
    }
}

fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let (y, m, d) = civil(days as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 to a date (Howard Hinnant's algorithm).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A small xorshift, seeded from the clock and printed, so a failure can be replayed.
fn rng() -> impl FnMut(u64) -> u64 {
    let seed = std::env::var("PLEXSYNC_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed {seed} (PLEXSYNC_TEST_SEED replays it)");
    let mut x = seed;
    move |below| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % below.max(1)
    }
}

#[test]
fn hooks_killed_at_random_moments_never_lose_a_job_they_reported_queued() {
    let stash = Stash::with_session();
    let hooks = 48u64;
    for id in 1..=hooks {
        stash.fake.add_scene(scene(
            &id.to_string(),
            &format!("S{id}"),
            &format!("/data/Movies/m{id}.mkv"),
        ));
    }
    // How long one hook takes here, to spread the kills over its whole life.
    let started = std::time::Instant::now();
    let first = plugin(&stash.hook(1, "Scene.Update.Post", Value::Null));
    assert_eq!(first.status, Some(0), "{}", first.stderr);
    let life_us = started.elapsed().as_micros() as u64;
    let mut random = rng();
    let mut reported = vec![1u64];
    // Four at a time, so that they also contend for the queue's lock.
    for batch in (2..=hooks).collect::<Vec<_>>().chunks(4) {
        let mut running: Vec<(u64, std::process::Child, u64)> = batch
            .iter()
            .map(|&id| {
                let child = Plexsync::new()
                    .stdin(&stash.hook(id, "Scene.Update.Post", Value::Null))
                    .spawn(&["stash"]);
                (id, child, random(life_us * 3 / 2))
            })
            .collect();
        running.sort_by_key(|r| r.2);
        let t0 = std::time::Instant::now();
        for (_, child, kill_at_us) in &mut running {
            let elapsed = t0.elapsed().as_micros() as u64;
            if *kill_at_us > elapsed {
                // The kill itself is what is being timed: there is nothing to wait for.
                std::thread::sleep(Duration::from_micros(*kill_at_us - elapsed));
            }
            let _ = child.kill();
        }
        for (id, mut child, _) in running {
            let run = crate::harness::wait(&mut child, Duration::from_secs(30));
            if run.status == Some(0) {
                let doc = check_protocol(&run);
                assert_eq!(doc["output"]["queued"], true);
                reported.push(id);
            } else {
                assert_eq!(
                    run.status, None,
                    "only killed hooks may fail: {}",
                    run.stderr
                );
            }
        }
    }
    let queued: std::collections::BTreeSet<String> = stash.queued_keys().into_iter().collect();
    for id in &reported {
        assert!(
            queued.contains(&format!("scene-{id}")),
            "scene {id} exited 0 but is not queued"
        );
    }
    assert!(
        reported.len() > 1 && (reported.len() as u64) < hooks,
        "the kills hit neither always nor never: {} of {hooks} finished",
        reported.len()
    );
    // And the queue is whole: a hook after the storm works.
    let after = plugin(&stash.hook(1, "Scene.Update.Post", Value::Null));
    assert_eq!(check_protocol(&after)["output"]["queued"], true);
}

#[test]
fn a_process_task_killed_midway_loses_nothing_and_the_next_one_finishes() {
    let jobs = 120;
    let plex = Plex::start(jobs, ServerPhase::Ready);
    let stash = Stash::with_session();
    stash.quick_config();
    let config = stash.data_dir().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "job_timeout_ms = 3000\nvisibility_ms = 10000",
        "job_timeout_ms = 3000\nvisibility_ms = 60000\npause_between_jobs_ms = 5",
    );
    std::fs::write(&config, text).unwrap();
    stash.settings_for(&plex, json!({}));
    for i in 0..jobs {
        stash.fake.add_scene(scene(
            &(i + 1).to_string(),
            &format!("Killed {i}"),
            &format!("/data/Movies/m{i}.mkv"),
        ));
    }
    assert_eq!(
        check_protocol(&plugin(&stash.task("sync_all")))["output"]["queued"],
        jobs
    );

    let mut random = rng();
    let mut child = Plexsync::new()
        .stdin(&stash.task("process"))
        .spawn(&["stash"]);
    // Somewhere in the middle of the drain (5 ms a job at least).
    std::thread::sleep(Duration::from_millis(100 + random(400)));
    child.kill().unwrap();
    let killed = crate::harness::wait(&mut child, Duration::from_secs(10));
    assert_eq!(
        killed.status, None,
        "the task had finished before the kill: {}",
        killed.stderr
    );
    assert!(killed.stdout.is_empty(), "a killed task prints nothing");

    // The next run finishes the work at once: holding the worker lock, it takes back the
    // job the killed one had leased instead of waiting out its lease.
    let run = plugin(&stash.task("process"));
    let doc = check_protocol(&run);
    assert!(doc["error"].is_null(), "{doc}");
    let stats = stash.queue().stats(u64::MAX / 2).unwrap();
    assert_eq!(
        (stats.pending, stats.leased, stats.dead_lettered),
        (0, 0, 0),
        "{stats:?}"
    );
    for i in 0..jobs {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{i}.mkv")).as_deref(),
            Some(format!("Killed {i}").as_str())
        );
    }
}

#[test]
fn damaged_inputs_at_random_always_get_the_protocol_answer() {
    let stash = Stash::with_session();
    stash
        .fake
        .add_scene(scene("12", "Twelve", "/data/Movies/m12.mkv"));
    let mut random = rng();
    let documents = [
        stash.hook(12, "Scene.Update.Post", Value::Null),
        stash.task("status"),
        stash.input(json!({ "mode": "sync_recent", "days": "3" })),
    ];
    for _ in 0..30 {
        let mut doc = documents[random(3) as usize].clone();
        match random(4) {
            0 => doc.truncate(random(doc.len() as u64) as usize),
            1 => {
                for _ in 0..=random(4) {
                    let at = random(doc.len() as u64) as usize;
                    doc[at] = random(256) as u8;
                }
            }
            2 => {
                let at = random(doc.len() as u64) as usize;
                let junk: Vec<u8> = (0..random(12)).map(|_| random(128) as u8).collect();
                doc.splice(at..at, junk);
            }
            _ => {
                let at = random(doc.len() as u64) as usize;
                doc.drain(at..(at + random(10) as usize).min(doc.len()));
            }
        }
        let run = plugin(&doc);
        check_protocol(&run);
        assert!(!run.stdout.contains(COOKIE) && !run.stderr.contains(COOKIE));
    }
}

/// A fake Stash with plexsync installed: `runPluginTask` runs this binary as Stash would.
fn stash_with_plugin(env: Vec<(String, String)>) -> Stash {
    stash_with_plugin_over(env, None)
}

/// The certificate and key the HTTPS fake serves.
fn tls_file(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("crates/fake-stash/tls")
            .join(name),
    )
    .unwrap()
}

/// [`stash_with_plugin`], over HTTPS with `tls` when given, its certificate in Stash's
/// configuration folder as `stash.crt` (where Stash finds it).
fn stash_with_plugin_over(env: Vec<(String, String)>, tls: Option<fake_stash::Tls>) -> Stash {
    let dir = tempfile::Builder::new()
        .prefix("plexsync-stash-")
        .tempdir()
        .unwrap();
    let plugin_dir = dir.path().join("plugins/plexsync");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    let mut process = serde_json::Map::new();
    process.insert("mode".into(), json!("process"));
    let plugin = fake_stash::Plugin {
        id: "plexsync".into(),
        exec: vec![env!("CARGO_BIN_EXE_plexsync").into(), "stash".into()],
        tasks: vec![("Process Queue".into(), process)],
        env,
        dir: dir.path().to_owned(),
        plugin_dir,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    if let Some(tls) = &tls {
        std::fs::write(dir.path().join("stash.crt"), &tls.cert_pem).unwrap();
    }
    let fake = runtime
        .block_on(FakeStash::start(Options {
            session: Some(COOKIE.into()),
            plugin: Some(plugin),
            tls,
            ..Options::default()
        }))
        .unwrap();
    Stash {
        _runtime: runtime,
        fake,
        dir,
    }
}

/// Runs the hook Stash runs after saving scene `id`, with the fake's own input document.
fn save(stash: &Stash, id: u64) -> Value {
    let input = stash.fake.plugin_input(json!({
        "hookContext": { "id": id, "type": "Scene.Update.Post", "input": { "id": id.to_string() }, "inputFields": ["title"] }
    }));
    let run = plugin(input.to_string().as_bytes());
    check_protocol(&run)
}

/// A drain that ends with a job still waiting (its file not in Plex yet) does not tell Stash
/// it is done; the job is counted once however often it was tried, and named.
#[test]
fn process_reports_progress_of_jobs_finished_and_not_done_while_one_waits() {
    let plex = Plex::start(3, ServerPhase::Ready);
    let stash = Stash::with_session();
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    for i in 0..3 {
        stash.fake.add_scene(scene(
            &(i + 1).to_string(),
            &format!("Synced {i}"),
            &format!("/data/Movies/m{i}.mkv"),
        ));
    }
    stash
        .fake
        .add_scene(scene("9", "Not scanned", "/data/Movies/new/unscanned.mkv"));
    check_protocol(&plugin(&stash.task("sync_all")));
    let run = plugin(&stash.task("process"));
    let doc = check_protocol(&run);
    assert_eq!(doc["output"]["updated"], 3, "{doc}");
    assert_eq!(doc["output"]["waiting"], 1, "{doc}");
    let summary = doc["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("1 job waiting to retry (scene-9: not in Plex yet"),
        "{summary}"
    );
    let progress: Vec<f64> = run
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("\x01p\x02"))
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(!progress.is_empty(), "{}", run.stderr);
    assert!(progress.iter().all(|p| *p <= 0.75 + 1e-9), "{progress:?}");
}

#[test]
fn a_save_in_stash_reaches_plex_by_itself_through_a_stash_job() {
    let plex = Plex::start(3, ServerPhase::Ready);
    let stash = stash_with_plugin(vec![]);
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    stash
        .fake
        .add_scene(scene("1", "First edit", "/data/Movies/m1.mkv"));
    let doc = save(&stash, 1);
    assert_eq!(doc["output"]["queued"], true, "{doc}");
    assert!(doc["output"]["drain"]["queued_job"].is_string(), "{doc}");
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(30)));
    let jobs = stash.fake.jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].description, "plexsync: sync saved scenes to Plex");
    assert!(jobs[0].result["error"].is_null(), "{:?}", jobs[0]);
    assert!(
        jobs[0].log.contains("\x01p\x02"),
        "progress shows in Stash's task list"
    );
    assert_eq!(
        plex.title_of("/data/Movies/m1.mkv").as_deref(),
        Some("First edit")
    );
    assert!(!stash.data_dir().join("drain-requested").exists());

    // A burst of saves: every edit lands, with a job or two, not one per save.
    for id in 0..3 {
        stash.fake.add_scene(scene(
            &id.to_string(),
            &format!("Burst {id}"),
            &format!("/data/Movies/m{id}.mkv"),
        ));
    }
    for round in 0..4 {
        for id in 0..3u64 {
            stash.fake.edit_scene(&id.to_string(), |s| {
                s.insert("title".into(), json!(format!("Burst {id}.{round}")));
            });
            let doc = save(&stash, id);
            assert_eq!(doc["output"]["queued"], true, "{doc}");
        }
    }
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(60)));
    for id in 0..3 {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{id}.mkv")),
            Some(format!("Burst {id}.3"))
        );
    }
    // Never two drains waiting in Stash's queue at once: a save asks for one only when none
    // is asked for or running.
    let jobs = stash.fake.jobs();
    for job in &jobs {
        let waiting_beside = jobs.iter().filter(|other| {
            other.id != job.id
                && other.queued_at <= job.queued_at
                && other.started_at.is_none_or(|s| s > job.queued_at)
        });
        assert_eq!(waiting_beside.count(), 0, "{jobs:?}");
    }
    assert!(jobs.len() < 13, "{} jobs for 12 saves", jobs.len());
    assert!(stash.queued_keys().is_empty());
}

#[test]
fn with_sync_by_itself_off_a_save_only_queues() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let stash = stash_with_plugin(vec![]);
    stash.quick_config();
    stash.settings_for(&plex, json!({ "auto_process": false }));
    stash
        .fake
        .add_scene(scene("0", "Queued only", "/data/Movies/m0.mkv"));
    let doc = save(&stash, 0);
    assert_eq!(doc["output"]["drain"], "off", "{doc}");
    assert!(stash.fake.jobs().is_empty());
    assert_eq!(stash.queued_keys(), ["scene-0"]);
    assert_ne!(
        plex.title_of("/data/Movies/m0.mkv").as_deref(),
        Some("Queued only")
    );
}

#[test]
fn saves_at_random_moments_beside_finishing_drains_strand_no_job() {
    let plex = Plex::start(8, ServerPhase::Ready);
    let stash = stash_with_plugin(vec![]);
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    for id in 0..8 {
        stash.fake.add_scene(scene(
            &id.to_string(),
            "v0",
            &format!("/data/Movies/m{id}.mkv"),
        ));
    }
    let mut next = rng();
    let mut last = std::collections::BTreeMap::new();
    for n in 0..40u64 {
        let id = next(8);
        let title = format!("v{}", n + 1);
        stash.fake.edit_scene(&id.to_string(), |s| {
            s.insert("title".into(), json!(title.clone()));
        });
        let doc = save(&stash, id);
        assert_eq!(doc["output"]["queued"], true, "{doc}");
        last.insert(id, title);
        // Saves land before, during and just as a drain ends.
        std::thread::sleep(Duration::from_millis(next(120)));
    }
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(90)));
    for (id, title) in &last {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{id}.mkv")).as_deref(),
            Some(title.as_str()),
            "scene {id}"
        );
    }
    assert!(stash.queued_keys().is_empty(), "{:?}", stash.queued_keys());
}

#[test]
fn a_save_while_a_drain_is_letting_go_is_synced_by_that_drain() {
    let plex = Plex::start(2, ServerPhase::Ready);
    // The drain lingers a second between its last look at the queue and letting go.
    let stash = stash_with_plugin(vec![("PLEXSYNC_TEST_HOLD_MS".into(), "1000".into())]);
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    stash
        .fake
        .add_scene(scene("0", "Before", "/data/Movies/m0.mkv"));
    stash
        .fake
        .add_scene(scene("1", "During", "/data/Movies/m1.mkv"));
    save(&stash, 0);
    assert!(crate::harness::eventually(Duration::from_secs(20), || {
        plex.title_of("/data/Movies/m0.mkv").as_deref() == Some("Before")
    }));
    // The drain has synced everything and is about to let go: the hook sees it running, so
    // asks Stash for nothing.
    let doc = save(&stash, 1);
    assert_eq!(doc["output"]["drain"], "a worker is running", "{doc}");
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(30)));
    assert_eq!(stash.fake.jobs().len(), 1);
    assert_eq!(
        plex.title_of("/data/Movies/m1.mkv").as_deref(),
        Some("During")
    );
}

#[test]
fn with_keep_edits_made_in_plex_later_saves_still_land_and_a_field_locked_in_plex_is_kept() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let stash = stash_with_plugin(vec![]);
    stash.quick_config();
    stash.settings_for(&plex, json!({ "preserve_plex_edits": true }));
    let file = "/data/Movies/m0.mkv";
    let mut first = scene("0", "Sintel v1", file);
    first["details"] = json!("Stash's summary v1");
    stash.fake.add_scene(first);
    let doc = save(&stash, 0);
    assert!(doc["error"].is_null(), "{doc}");
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(30)));
    assert_eq!(plex.title_of(file).as_deref(), Some("Sintel v1"));
    // The user edits the summary in Plex, which locks it.
    let key = plex.key_of(file);
    assert!(
        plex.fake
            .with_library(|l| l.edit(&key, &[("summary.value", "Mine"), ("summary.locked", "1")]))
    );
    stash.fake.edit_scene("0", |s| {
        s.insert("title".into(), json!("Sintel v2"));
        s.insert("details".into(), json!("Stash's summary v2"));
    });
    let doc = save(&stash, 0);
    assert!(doc["error"].is_null(), "{doc}");
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(30)));
    let item = plex.fake.item(&key).unwrap();
    assert_eq!(
        item["title"], "Sintel v2",
        "plexsync's own write did not lock it"
    );
    assert_eq!(item["summary"], "Mine", "the user's locked field is theirs");
    let locked: Vec<&str> = item["Field"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(locked, ["summary"], "plexsync locked nothing itself");
}

#[test]
fn keep_edits_with_lock_written_set_on_is_one_clear_error_naming_both_places() {
    let stash = Stash::with_session();
    std::fs::create_dir_all(stash.data_dir()).unwrap();
    std::fs::write(
        stash.data_dir().join("config.toml"),
        "[policy.engine.sync]\nlock_written = true\n",
    )
    .unwrap();
    stash.fake.add_scene(scene("5", "x", "/data/Movies/x.mkv"));
    stash.fake.set_plugin_settings(
        "plexsync",
        json!({ "plex_url": "http://127.0.0.1:9", "plex_token": "t", "preserve_plex_edits": true }),
    );
    let run = plugin(&stash.hook(5, "Scene.Update.Post", Value::Null));
    let doc = check_protocol(&run);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains("Keep edits made in Plex is on in Stash") && error.contains("lock_written"),
        "{error}"
    );
    assert!(
        !error.contains("--"),
        "no command-line flag in Stash: {error}"
    );
}

/// `secs` as Stash writes it in a zone `offset` seconds east of UTC: `…-05:00`.
fn local_time(secs: u64, offset: i64) -> String {
    let utc = rfc3339((secs as i64 + offset) as u64);
    let sign = if offset < 0 { '-' } else { '+' };
    let (h, m) = (offset.abs() / 3_600, offset.abs() % 3_600 / 60);
    format!("{}{sign}{h:02}:{m:02}", utc.trim_end_matches('Z'))
}

#[test]
fn sync_recent_cuts_off_in_the_zone_stash_writes_its_times_in() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (day, hour) = (86_400, 3_600);
    // Zones without summer time, either side of UTC.
    for (zone, offset) in [
        ("America/Bogota", -5 * hour as i64),
        ("Asia/Kolkata", 19_800),
    ] {
        let stash = Stash::with_session();
        for (id, age) in [(1, 7 * day - 2 * hour), (2, 7 * day + 2 * hour), (3, day)] {
            let mut s = scene(&id.to_string(), "x", &format!("/data/Movies/m{id}.mkv"));
            s["updated_at"] = json!(local_time(now - age, offset));
            stash.fake.add_scene(s);
        }
        let recent = stash.input(json!({ "mode": "sync_recent", "days": "7" }));
        let run = Plexsync::new()
            .env("TZ", zone)
            .stdin(&recent)
            .run(&["stash"]);
        let doc = check_protocol(&run);
        assert!(doc["error"].is_null(), "{zone}: {doc}");
        let keys = stash.queued_keys();
        assert_eq!(keys, ["scene-1", "scene-3"], "{zone}");
    }
}

#[test]
fn another_plexsync_started_by_stash_hands_over_to_the_plugin_folder_s_own() {
    use std::os::unix::fs::PermissionsExt;
    let stash = Stash::with_session();
    let folder = stash.dir.path().join("plugins/plexsync");
    std::fs::create_dir_all(&folder).unwrap();
    // The folder's binary: one that says where it ran.
    let own = folder.join("plexsync");
    std::fs::write(
        &own,
        "#!/bin/sh\ncat > \"$(dirname \"$0\")/input.json\"\nprintf '\\001i\\002the folder'\"'\"'s own\\n' >&2\necho '{\"output\":\"from the plugin folder\",\"error\":null}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).unwrap();
    let input = stash.task("status");
    // This binary, run from elsewhere (as one on Stash's PATH would be).
    let run = plugin(&input);
    let doc = check_protocol(&run);
    assert_eq!(doc["output"], "from the plugin folder", "{doc}");
    assert!(run.stderr.contains("the folder's own"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(folder.join("input.json")).unwrap(),
        input,
        "the same input"
    );
    // Run as the folder's own binary, it does the work itself.
    std::fs::copy(env!("CARGO_BIN_EXE_plexsync"), &own).unwrap();
    let doc = check_protocol(
        &crate::harness::Plexsync::new()
            .stdin(&input)
            .run_program(&own, &["stash"]),
    );
    assert!(doc["output"]["queue"].is_object(), "{doc}");
}

#[test]
fn a_stash_served_over_https_with_its_own_certificate_works_end_to_end() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let tls = fake_stash::Tls {
        cert_pem: tls_file("stash.crt"),
        key_pem: tls_file("stash.key"),
    };
    let stash = stash_with_plugin_over(vec![], Some(tls));
    assert_eq!(stash.fake.scheme(), "https");
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    stash
        .fake
        .add_scene(scene("0", "Over TLS", "/data/Movies/m0.mkv"));
    let doc = save(&stash, 0);
    assert_eq!(doc["output"]["queued"], true, "{doc}");
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(30)));
    assert_eq!(
        plex.title_of("/data/Movies/m0.mkv").as_deref(),
        Some("Over TLS")
    );
    // Without Stash's certificate in its folder: one error that says it is the certificate.
    std::fs::remove_file(stash.dir.path().join("stash.crt")).unwrap();
    let doc = save(&stash, 0);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains("certificate") && error.contains("stash.crt"),
        "{error}"
    );
    assert!(!error.contains("refused"), "{error}");
}

#[test]
fn saves_at_the_same_moment_ask_for_one_drain() {
    let plex = Plex::start(6, ServerPhase::Ready);
    let stash = stash_with_plugin(vec![]);
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    let mut hooks = Vec::new();
    for id in 0..6u64 {
        stash.fake.add_scene(scene(
            &id.to_string(),
            &format!("Together {id}"),
            &format!("/data/Movies/m{id}.mkv"),
        ));
        let input = stash.fake.plugin_input(json!({
            "hookContext": { "id": id, "type": "Scene.Update.Post", "input": null }
        }));
        hooks.push(
            Plexsync::new()
                .stdin(input.to_string().as_bytes())
                .spawn(&["stash"]),
        );
    }
    for mut hook in hooks {
        let run = crate::harness::wait(&mut hook, Duration::from_secs(60));
        check_protocol(&run);
    }
    assert!(stash.fake.wait_for_jobs(Duration::from_secs(60)));
    for id in 0..6 {
        assert_eq!(
            plex.title_of(&format!("/data/Movies/m{id}.mkv")),
            Some(format!("Together {id}"))
        );
    }
    let jobs = stash.fake.jobs();
    assert!(!jobs.is_empty());
    for job in &jobs {
        let waiting_beside = jobs.iter().filter(|other| {
            other.id != job.id
                && other.queued_at <= job.queued_at
                && other.started_at.is_none_or(|s| s > job.queued_at)
        });
        assert_eq!(waiting_beside.count(), 0, "{jobs:?}");
    }
}

/// The Doctor task looks up some of Stash's own scenes in Plex, as the Path map makes their
/// files, and says which Path map would find the files Plex keeps elsewhere.
#[test]
fn the_doctor_task_looks_up_stash_s_scenes_and_guesses_the_path_map() {
    let plex = Plex::start(4, ServerPhase::Ready);
    let stash = Stash::with_session();
    stash.quick_config();
    stash.settings_for(&plex, json!({}));
    for i in 0..4 {
        stash.fake.add_scene(scene(
            &(i + 1).to_string(),
            "T",
            &format!("/stash/library/movies/m{i}.mkv"),
        ));
    }
    let doc = check_protocol(&plugin(&stash.task("doctor")));
    let checks = doc["output"]["checks"].as_array().unwrap();
    let paths = checks.iter().find(|c| c["name"] == "paths").unwrap();
    assert_eq!(paths["verdict"], "problem", "{doc}");
    assert!(
        paths["todo"]
            .as_str()
            .unwrap()
            .contains("`/stash/library/movies/ => /data/Movies/`"),
        "{doc}"
    );
    // With that Path map, the same scenes are found.
    stash.settings_for(
        &plex,
        json!({ "path_map": "/stash/library/movies/ => /data/Movies/" }),
    );
    let doc = check_protocol(&plugin(&stash.task("doctor")));
    let checks = doc["output"]["checks"].as_array().unwrap();
    let paths = checks.iter().find(|c| c["name"] == "paths").unwrap();
    assert_eq!(paths["verdict"], "ok", "{doc}");
    assert_eq!(paths["found"], "Plex has all 4 files looked up");
}
