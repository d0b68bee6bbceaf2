//! The fake Plex server from the command line, python-plexapi compatibility, and the Plex
//! client benchmark.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Library, Options, ServerPhase};
use plex_client::{Located, MetadataEdit, PlexClient, PlexConfig, Token};

use crate::cmd::{option, root, run};

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))
}

fn phase(name: &str) -> Result<ServerPhase, String> {
    name.parse().map_err(|e| format!("--phase: {e}"))
}

/// `cargo xtask fake-plex`: serves the demo library until Ctrl-C.
pub(crate) fn fake_plex(args: &[&str]) -> Result<(), String> {
    // Not 32400: a real Plex on this machine has that one.
    let mut port = 32499u16;
    let mut token = Options::default().token;
    let mut start = ServerPhase::Ready;
    let mut startup = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match *arg {
            "--port" => port = value()?.parse().map_err(|_| "--port takes a port number")?,
            "--token" => token = value()?.to_owned(),
            "--phase" => start = phase(value()?)?,
            "--startup" => startup = true,
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    runtime()?.block_on(async {
        let first = if startup { ServerPhase::Refused } else { start };
        let options = Options { token, port, phase: first, ..Options::default() };
        let plex = FakePlex::start_with(Library::demo(), options)
            .await
            .map_err(|e| format!("could not listen on 127.0.0.1:{port}: {e}"))?;
        println!("fake Plex at {} (token {})", plex.url(), plex.token());
        println!("library: Movies at /data/Movies (4 movies), TV Shows at /data/TV-Shows (2 shows, 1 season, 3 episodes)");
        if startup {
            let steps = [
                (Duration::from_secs(5), ServerPhase::Silent),
                (Duration::from_secs(10), ServerPhase::Maintenance),
                (Duration::from_secs(15), ServerPhase::Starting),
                (Duration::from_secs(25), ServerPhase::Ready),
            ];
            println!("startup: refused, silent at 5 s, maintenance at 10 s, starting (/identity passing) at 15 s, ready at 25 s");
            for (at, phase) in steps {
                plex.schedule(at, phase);
            }
        } else {
            println!("phase: {}", plex.phase());
        }
        println!("Ctrl-C stops it");
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("could not wait for Ctrl-C: {e}"))?;
        let edits = plex.edits();
        println!("stopped after {} requests and {} edits", plex.requests().len(), edits.len());
        Ok(())
    })
}

/// The python-plexapi release the checks run against.
const PLEXAPI: &str = "4.18.3";

/// Where python-plexapi is installed for these checks (not on the system).
fn python_deps() -> PathBuf {
    root().join("target/python-deps")
}

fn plexapi_python() -> Result<Command, String> {
    let deps = python_deps();
    let importable = |deps: &PathBuf| {
        Command::new("python3")
            .args([
                "-c",
                &format!("import plexapi, sys; sys.exit(plexapi.VERSION != '{PLEXAPI}')"),
            ])
            .env("PYTHONPATH", deps)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !importable(&deps) {
        run(Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--upgrade", "--target"])
            .arg(&deps)
            .arg(format!("plexapi=={PLEXAPI}")))
        .map_err(|e| format!("{e}; python-plexapi is needed (python3 -m pip install plexapi)"))?;
    }
    let mut command = Command::new("python3");
    command
        .arg(root().join("xtask/bench/plexapi_probe.py"))
        .env("PYTHONPATH", deps);
    Ok(command)
}

/// `cargo xtask compat`: python-plexapi, which asks for XML and starts at `/`, can use the
/// fake server for everything a sync script does, each step checked by reading back.
pub(crate) fn compat() -> Result<(), String> {
    let mut python = plexapi_python()?;
    runtime()?.block_on(async {
        let mut library = Library::demo();
        // A file on disk that Plex has not scanned yet: the partial scan must find it.
        library.stage_movie("1", "Big Buck Bunny 2", "/data/Movies/New Arrivals/Big Buck Bunny 2.mkv");
        let plex = FakePlex::start(library).await.map_err(|e| e.to_string())?;
        python.args(["check", &plex.url(), plex.token()]);
        let seen = tokio::task::spawn_blocking(move || crate::cmd::json_output(python))
            .await
            .map_err(|e| e.to_string())??;
        let mut wrong = Vec::new();
        if let Some(errors) = seen["errors"].as_object() {
            for (step, trace) in errors {
                wrong.push(format!("{step} failed in python-plexapi:\n{}", trace.as_str().unwrap_or("")));
            }
        }
        let mut expect = |what: &str, ok: bool| {
            if !ok {
                wrong.push(format!("python-plexapi saw the wrong {what}: {}", seen.get(what).unwrap_or(&serde_json::Value::Null)));
            }
        };
        use serde_json::json;
        expect("version", seen["version"] == "1.40.0.7998-fake" && seen["identity_version"] == "1.40.0.7998-fake");
        expect("sections", seen["sections"] == json!([
            [1, "movie", "Movies", ["/data/Movies"]],
            [2, "show", "TV Shows", ["/data/TV-Shows"]]
        ]));
        expect("movies", seen["movies"] == json!(["Big Buck Bunny", "Elephants Dream", "Interstate 60", "Sintel"]));
        expect("files", seen["files"].as_array().is_some_and(|f| f.len() == 4));
        expect("search_title", seen["search_title"] == json!(["Sintel"]));
        expect("get", seen["get"] == "Sintel");
        expect("fetch_item", seen["fetch_item"] == json!({
            "title": "Interstate 60",
            "genres": ["Adventure", "Comedy", "Drama", "Fantasy"],
            "directors": ["Bob Gale"], "writers": ["Bob Gale"],
            "producers": ["Bob Gale", "Neil Canton", "Ira Deutchman", "Peter Newman", "Peter Bray"],
            "countries": ["Canada"],
            "roles": 22, "similar": 20, "streams": 2
        }));
        expect("edit_lock_unlock", seen["edit_lock_unlock"] == json!([["Sintel (edited)", true], ["Sintel", false]]));
        expect("tags", seen["tags"] == json!({
            "added": ["Adventure", "Comedy", "Drama", "Drama, Dark & Deep", "Fantasy", "Road Movie"],
            "removed": ["Adventure", "Comedy", "Drama", "Road Movie"],
            "locked": true
        }));
        expect("multi_edit", seen["multi_edit"] == json!(["Blender", "Blender"]));
        expect("partial_scan", seen["partial_scan"] == json!(["Big Buck Bunny 2"]));
        expect("tv", seen["tv"] == json!({
            "shows": ["Game of Thrones", "The 100"], "episode_show": "The 100",
            "seasons": ["Season 1"], "episodes": ["Pilot", "Earth Skills", "Earth Kills"]
        }));
        expect("hub_search", seen["hub_search"] == json!(["Sintel"]));
        expect("library_search", seen["library_search"] == json!(["Elephants Dream"]));
        let requests = plex.requests();
        if requests.first().is_none_or(|r| r.path != "/") {
            wrong.push("python-plexapi did not start at /".into());
        }
        let scanned = plex.refreshes().contains(&fake_plex::Refresh::Scan {
            section: "1".into(),
            path: Some("/data/Movies/New Arrivals".into()),
        });
        if !scanned {
            wrong.push(format!("the partial scan was not recorded: {:?}", plex.refreshes()));
        }
        if !wrong.is_empty() {
            return Err(wrong.join("\n"));
        }
        println!(
            "python-plexapi used the fake server for every step a sync script takes ({} requests, {} edits)",
            requests.len(),
            plex.edits().len()
        );
        Ok(())
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn summary(name: &str, mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let (median, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
    println!(
        "  {name:<52} median {median:>7.3} ms   p99 {p99:>7.3} ms   (n={})",
        ms.len()
    );
    (median, p99)
}

/// `cargo xtask bench plex`: health-check latency on loopback and an edit round trip, with
/// python-plexapi's `server.query('/identity')` on the same server for comparison.
pub(crate) fn bench(args: &[&str]) -> Result<(), String> {
    let n: usize = option(args, "--samples")?
        .map(|v| v.parse().map_err(|_| "--samples takes a number"))
        .transpose()?
        .unwrap_or(2_000);
    let python = plexapi_python();
    runtime()?.block_on(async {
        let plex = FakePlex::start(Library::demo()).await.map_err(|e| e.to_string())?;
        let config = PlexConfig::new(&plex.url(), Token::new(plex.token()).map_err(|e| e.to_string())?, "xtask-bench")
            .map_err(|e| e.to_string())?;
        let client = PlexClient::new(config).map_err(|e| e.to_string())?;
        println!("Plex client against the fake server on loopback ({n} samples each)");
        let mut deep = Vec::with_capacity(n);
        let mut identity = Vec::with_capacity(n);
        let mut edits = Vec::with_capacity(n);
        let located: Located = client.find_by_file("/data/Movies/Sintel (2010).mkv").await.map_err(|e| e.to_string())?;
        for i in 0..n {
            let start = Instant::now();
            let report = client.check_health().await;
            deep.push(start.elapsed().as_secs_f64() * 1e3);
            if !report.healthy {
                return Err(format!("the fake server was not healthy: {report:?}"));
            }
            let start = Instant::now();
            client.identity().await.map_err(|e| e.to_string())?;
            identity.push(start.elapsed().as_secs_f64() * 1e3);
            // An edit that always differs: read the item, send the changed title.
            let edit = MetadataEdit { title: Some(format!("Sintel {i}")), ..MetadataEdit::default() };
            let start = Instant::now();
            let item = client.item(&located.item.rating_key).await.map_err(|e| e.to_string())?;
            let current = Located { section: located.section.clone(), item };
            let applied = client.apply_edit(&current, &edit).await.map_err(|e| e.to_string())?;
            edits.push(start.elapsed().as_secs_f64() * 1e3);
            if applied.sent.is_empty() {
                return Err("the benchmark edit sent nothing".into());
            }
        }
        let (deep_median, _) = summary("deep health check (connect + /identity + library)", deep);
        let (identity_median, _) = summary("GET /identity (plexsync client)", identity);
        summary("edit round trip (GET item + PUT edit)", edits);
        match python {
            Ok(mut python) => {
                python.args(["bench", &plex.url(), plex.token(), &n.to_string()]);
                let result = tokio::task::spawn_blocking(move || crate::cmd::json_output(python))
                    .await
                    .map_err(|e| e.to_string())??;
                let ms: Vec<f64> = result["ms"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
                let (py_median, _) = summary("python-plexapi server.query('/identity')", ms);
                println!(
                    "  ratio: python-plexapi /identity is {:.1}x the plexsync /identity, {:.1}x the whole deep check",
                    py_median / identity_median,
                    py_median / deep_median
                );
            }
            Err(e) => println!("  (python-plexapi comparison skipped: {e})"),
        }
        Ok(())
    })
}
