//! The reduced suite: every scenario on a couple of seeds, the same checks on random outage
//! schedules, and the simulator's determinism, down to the bytes it prints.

use std::process::Command;

use engine::Policy;
use proptest::prelude::*;
use simulate::{Bulk, Contender, Run, ServerPhase, Setup, Suite, Variant, run, scenarios};

fn contenders() -> Vec<(String, Contender)> {
    vec![
        ("plexsync".into(), Contender::Engine(Box::default())),
        (
            "predecessor-warm".into(),
            Contender::Predecessor(Variant::Warm),
        ),
        (
            "predecessor-cold".into(),
            Contender::Predecessor(Variant::Cold),
        ),
        ("naive".into(), Contender::Engine(Box::new(Policy::naive()))),
    ]
}

/// What must hold of any run of plexsync's engine, whatever the policy: nothing lost, every
/// edit as asked.
fn holds_for_any_policy(r: &Run) {
    let m = &r.metrics;
    let at = format!("{} / {} / seed {}", r.scenario, r.policy, r.seed);
    assert_eq!(m.lost, 0, "{at}: jobs lost");
    assert_eq!(m.wrong_edits, 0, "{at}: edits not as intended");
    assert!(m.edits > 0, "{at}: nothing reached Plex");
}

/// What plexsync's defaults promise besides.
fn holds_for_the_defaults(r: &Run) {
    holds_for_any_policy(r);
    let m = &r.metrics;
    let at = format!("{} / seed {}", r.scenario, r.seed);
    assert_eq!(m.outage_dead_letters, 0, "{at}: dead-lettered by an outage");
    assert_eq!(m.dead_letters, 0, "{at}: dead letters");
    assert_eq!(m.false_closures, 0, "{at}: false closures");
    assert_eq!(m.left_queued, 0, "{at}: work left in the queue");
    assert!(
        m.delays_ms.iter().all(Option::is_some),
        "{at}: work waiting at a recovery was never synced: {:?}",
        m.delays_ms
    );
}

#[test]
fn every_scenario_keeps_every_job_and_lands_every_edit() {
    let suite = Suite {
        scenarios: scenarios(),
        policies: contenders(),
        seeds: vec![1, 2],
        threads: 2,
        traces: false,
        window_only: Vec::new(),
        load_only: Vec::new(),
    };
    let outcome = suite.run().unwrap();
    assert_eq!(outcome.runs.len(), scenarios().len() * 4 * 2);
    for r in &outcome.runs {
        match r.policy.as_str() {
            "plexsync" => holds_for_the_defaults(r),
            "naive" => holds_for_any_policy(r),
            // The model runs its course; what it loses is the table's to show.
            _ => assert!(r.stopped >= r.end, "{} / {}", r.scenario, r.policy),
        }
    }
    let of = |scenario: &str, policy: &str| -> Vec<&Run> {
        outcome
            .runs
            .iter()
            .filter(|r| r.scenario == scenario && r.policy == policy)
            .collect()
    };
    // The predecessor's model keeps its code's traits. A cold worker meets a restart's
    // maintenance with `GET /`, which python-plexapi turns into BadRequest: permanent, so
    // dead-lettered at once. A warm one swallows every search failure as "not found": it
    // never opens its breaker, so it never probes.
    let cold: u64 = of("restart", "predecessor-cold")
        .iter()
        .map(|r| r.metrics.outage_dead_letters)
        .sum();
    assert!(cold > 0, "the cold predecessor dead-letters at a 503");
    for r in of("restart", "predecessor-warm") {
        assert_eq!(r.metrics.outage_dead_letters, 0);
        assert_eq!(r.metrics.probes, 0, "seed {}", r.seed);
    }
}

#[test]
fn the_predecessor_model_logs_what_its_code_logs_per_breaker_cycle() {
    // A cold worker through a host gone for minutes: its breaker opens, turns half-open after
    // 60 s, tries a job, and opens again: each cycle its own lines.
    let setup = simulate::scenario("host-down-rst").unwrap().setup(4);
    let r = simulate::run_contender(
        &setup,
        "predecessor-cold",
        &Contender::Predecessor(Variant::Cold),
        true,
    )
    .unwrap();
    let count = |text: &str| {
        r.trace
            .lines
            .iter()
            .filter(|(_, _, line)| line.contains(text))
            .count()
    };
    let opened = count("Circuit breaker OPENED after 5 consecutive failures");
    assert!(opened >= 2, "{:?}", r.trace.lines);
    assert_eq!(
        count("entering HALF_OPEN state after 60.0s timeout"),
        opened
    );
    assert!(count("Plex server is down") >= opened);
    assert_eq!(count("CLOSED after successful recovery"), 1);
    assert!(r.metrics.outage_log_lines >= 3 * opened as u64);
}

#[test]
fn a_bulk_on_a_strong_server_goes_out_many_at_once_and_on_a_weak_one_hardly() {
    let in_flight = |name: &str| {
        let setup = simulate::scenario(name).unwrap().setup(1);
        let r = run(&setup, "plexsync", &Policy::default(), false).unwrap();
        holds_for_the_defaults(&r);
        r.metrics.most_in_flight
    };
    let strong = in_flight("bulk-strong");
    let weak = in_flight("bulk-weak");
    assert!(strong >= 8, "{strong}");
    assert!(weak < strong, "{weak} < {strong}");
}

#[test]
fn every_scenario_draws_its_timings_per_seed() {
    for scenario in scenarios() {
        let one = scenario.setup(1);
        let two = scenario.setup(2);
        assert!(!one.drawn.is_empty(), "{}", scenario.name);
        assert_ne!(one.drawn, two.drawn, "{}", scenario.name);
        // The server's phases, or (on a healthy server) its load and the work's timing.
        assert!(
            one.timeline != two.timeline
                || one.latency != two.latency
                || one.bulk.as_ref().map(|b| (b.at, b.over_ms))
                    != two.bulk.as_ref().map(|b| (b.at, b.over_ms)),
            "{}",
            scenario.name
        );
        assert_eq!(one.drawn, scenario.setup(1).drawn, "{}", scenario.name);
    }
}

#[test]
fn a_revoked_token_stops_the_worker_without_touching_the_queue_and_a_restart_resumes() {
    let setup = simulate::scenario("token").unwrap().setup(3);
    let r = run(&setup, "plexsync", &Policy::default(), true).unwrap();
    holds_for_the_defaults(&r);
    assert_eq!(r.metrics.restarts, 1);
    assert_eq!(
        r.metrics.probes, 0,
        "a 401 is not an outage: no breaker, no probes"
    );
    assert!(
        r.trace
            .lines
            .iter()
            .any(|(_, _, line)| line.contains("stopped") && line.contains("token")),
        "the stop says what to fix: {:?}",
        r.trace.lines
    );
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let setup = simulate::scenario("flapping").unwrap().setup(5);
    let one = run(&setup, "plexsync", &Policy::default(), true).unwrap();
    let two = run(&setup, "plexsync", &Policy::default(), true).unwrap();
    assert_eq!(one.metrics, two.metrics);
    assert_eq!(one.trace.lines, two.trace.lines);
    assert_eq!(one.trace.probes, two.trace.probes);
    let other = simulate::scenario("flapping").unwrap().setup(6);
    let three = run(&other, "plexsync", &Policy::default(), true).unwrap();
    assert_ne!(one.trace.lines, three.trace.lines);
}

fn simulate_binary(args: &[&str]) -> (bool, Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_simulate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_printed_table_and_json_are_byte_for_byte_the_same_for_the_same_seeds() {
    let args = [
        "--scenario",
        "restart",
        "--scenario",
        "partial",
        "--seeds",
        "3",
        "--threads",
        "2",
    ];
    let (ok, first, _) = simulate_binary(&args);
    assert!(ok);
    let (_, second, _) = simulate_binary(&args);
    assert_eq!(first, second);
    let table = String::from_utf8(first).unwrap();
    assert!(table.starts_with("scenario"), "{table}");
    assert!(table.contains("predecessor-warm"), "{table}");
    assert!(table.contains("predecessor-cold"), "{table}");
    let json_args = [&args[..], &["--json", "--threads", "1"]].concat();
    let (ok, json_one, _) = simulate_binary(&json_args);
    assert!(ok);
    let (_, json_two, _) = simulate_binary(&json_args);
    assert_eq!(
        json_one, json_two,
        "the thread count changes nothing either"
    );
    let parsed: serde_json::Value = serde_json::from_slice(&json_one).unwrap();
    assert_eq!(parsed["summaries"].as_array().unwrap().len(), 8);
    let runs = parsed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 24);
    // What each seed drew is recorded with its run, and differs between seeds.
    let drawn = |seed: u64| {
        runs.iter()
            .find(|r| r["scenario"] == "restart" && r["seed"] == seed)
            .map(|r| r["drawn"].clone())
            .unwrap()
    };
    assert!(drawn(1)["maintenance_ms"].is_u64());
    assert_ne!(drawn(1), drawn(2));
}

#[test]
fn bad_arguments_get_one_clear_line() {
    for (args, says) in [
        (&["--scenario", "nope"][..], "no scenario `nope`"),
        (&["--seeds", "0"], "--seeds takes a whole number above 0"),
        (&["--policy", "/nonexistent.toml"], "is not a preset"),
        (
            &["--set", "predecessor-warm:engine.poll_ms=5"],
            "a model of another program",
        ),
        (
            &["--set", "probes.nothing=1"],
            "the policy has no `nothing` there",
        ),
        (
            &["--set", "engine.job_timeout_ms=0"],
            "job_timeout_ms must be at least 1",
        ),
        (&["--frobnicate"], "unexpected argument `--frobnicate`"),
    ] {
        let (ok, stdout, stderr) = simulate_binary(args);
        assert!(!ok, "{args:?}");
        assert!(stdout.is_empty(), "{args:?}");
        assert!(stderr.starts_with("simulate: "), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

#[test]
fn a_policy_file_and_set_change_what_runs() {
    let dir = std::env::temp_dir().join(format!("simulate-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slowprobes.toml");
    std::fs::write(
        &file,
        "[probes]\nfirst = { fixed = 60000 }\nunreachable = { base_ms = 60000, factor = 1.0, cap_ms = 60000, jitter = \"none\" }\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = simulate_binary(&[
        "--scenario",
        "blip",
        "--seeds",
        "2",
        "--policy",
        file.to_str().unwrap(),
        "--policy",
        "plexsync",
        "--set",
        "engine.summary_interval_ms=600000",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    let names: Vec<&str> = json["summaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["slowprobes", "plexsync"]);
    assert_eq!(json["set"][0], "engine.summary_interval_ms=600000");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn plot_writes_one_svg_per_scenario() {
    let dir = std::env::temp_dir().join(format!("simulate-plot-{}", std::process::id()));
    let (ok, _, stderr) = simulate_binary(&[
        "--scenario",
        "restart",
        "--scenario",
        "blip",
        "--seeds",
        "1",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    for name in ["restart", "blip"] {
        let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{name}");
        for label in [
            "Plex",
            "plexsync",
            "predecessor",
            "naive",
            "queue depth",
            "jobs synced",
        ] {
            assert!(svg.contains(label), "{name}.svg has no {label}");
        }
        let about = simulate::scenario(name).unwrap().about;
        assert!(svg.contains(about), "{name}.svg has no description");
        assert!(svg.contains("this seed drew "), "{name}.svg");
        // The key lists what occurs: a blip and a restart refuse connections, and no token
        // is revoked in either.
        assert!(svg.contains("Plex refused"), "{name}.svg");
        assert!(svg.contains("breaker OPEN"), "{name}.svg");
        assert!(!svg.contains("Plex token revoked"), "{name}.svg");
        assert!(!svg.contains("breaker FORCED_OPEN"), "{name}.svg");
    }
    let restart = std::fs::read_to_string(dir.join("restart.svg")).unwrap();
    let blip = std::fs::read_to_string(dir.join("blip.svg")).unwrap();
    assert!(restart.contains("Plex maintenance"));
    assert!(!blip.contains("Plex maintenance"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// A random outage schedule: stretches of a phase, each followed by a ready stretch; the
/// token is always put right (a configuration error is not an outage to ride out).
fn schedule() -> impl Strategy<Value = Vec<(u64, ServerPhase)>> {
    let phase = prop_oneof![
        Just(ServerPhase::Refused),
        Just(ServerPhase::Unreachable),
        Just(ServerPhase::Silent),
        Just(ServerPhase::Maintenance),
        Just(ServerPhase::Starting),
        Just(ServerPhase::Slow),
        Just(ServerPhase::TokenRevoked),
    ];
    proptest::collection::vec((phase, 1u64..1_800, 1u64..1_800), 1..6).prop_map(|spans| {
        let mut at = 600_000;
        let mut phases = Vec::new();
        for (phase, down_s, up_s) in spans {
            phases.push((at, phase));
            at += down_s * 1_000;
            phases.push((at, ServerPhase::Ready));
            at += up_s * 1_000;
        }
        phases
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Jobs in flight together, on a server with a drawn capacity and streaming load, through
    /// random outages: nothing lost, never more in flight than the pacer's most, and trials
    /// one at a time.
    #[test]
    fn jobs_in_flight_together_lose_nothing_and_trials_go_alone(
        phases in schedule(),
        seed in 0u64..1_000,
        capacity in 20.0f64..2_000.0,
        streaming in 0.0f64..0.5,
        bulk_at in 0u64..600_000,
    ) {
        let length = phases.last().map_or(0, |(at, _)| *at) + 1_800_000;
        // 300 scenes edited at once, within the first ten minutes, outages or not.
        let bulk = Bulk { at: bulk_at, scenes: 300, over_ms: 20_000 };
        let setup =
            Setup::custom_bulk("random-load", phases, length, seed, bulk, (capacity, streaming));
        let policy = Policy::default();
        let r = run(&setup, "plexsync", &policy, false).unwrap();
        holds_for_the_defaults(&r);
        prop_assert!(r.metrics.most_in_flight <= policy.pace.max, "{}", r.metrics.most_in_flight);
        prop_assert_eq!(r.metrics.trials_overlapping, 0);
    }

    #[test]
    fn random_outage_schedules_lose_nothing_under_the_defaults(
        phases in schedule(),
        seed in 0u64..1_000,
    ) {
        let length = phases.last().map_or(0, |(at, _)| *at) + 1_800_000;
        let setup = Setup::custom("random", phases, length, seed);
        let r = run(&setup, "plexsync", &Policy::default(), false).unwrap();
        holds_for_the_defaults(&r);
    }
}
