//! `cargo xtask fake-stash`: a fake Stash on loopback with plexsync installed, to try the
//! plugin by hand: the demo scenes (the fake Plex's demo movies), plexsync's settings pointing
//! at a Plex, `runPluginTask` running this build's binary as Stash would, and ready-made hook
//! inputs to feed `plexsync stash` as Stash does after a save.

use std::path::PathBuf;

use fake_stash::{FakeStash, Options, Plugin, scene};
use serde_json::{Map, json};

pub(crate) fn fake_stash(args: &[&str]) -> Result<(), String> {
    let mut port = 9999u16;
    let mut plex_url = "http://127.0.0.1:32499".to_owned();
    let mut plex_token = fake_plex::Options::default().token;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        match *arg {
            "--port" => port = value()?.parse().map_err(|_| "--port takes a port number")?,
            "--plex-url" => plex_url = value()?.to_owned(),
            "--plex-token" => plex_token = value()?.to_owned(),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let binary = crate::cmd::release_plexsync()?;
    let dir: PathBuf = std::env::temp_dir().join(format!("plexsync-fake-stash-{port}"));
    let plugin_dir = dir.join("plugins/plexsync");
    std::fs::create_dir_all(&plugin_dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut process = Map::new();
    process.insert("mode".into(), json!("process"));
    let plugin = Plugin {
        id: "plexsync".into(),
        exec: vec![binary.display().to_string(), "stash".into()],
        tasks: vec![("Process Queue".into(), process)],
        env: vec![("PATH".into(), std::env::var("PATH").unwrap_or_default())],
        dir: dir.clone(),
        plugin_dir,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let stash = FakeStash::start(Options {
            port,
            plugin: Some(plugin),
            ..Options::default()
        })
        .await
        .map_err(|e| format!("could not listen on 127.0.0.1:{port}: {e}"))?;
        let scenes = [
            ("1", "Sintel", "/data/Movies/Sintel (2010).mkv"),
            ("2", "Big Buck Bunny", "/data/Movies/Big Buck Bunny (2008).mkv"),
            ("3", "Elephants Dream", "/data/Movies/Elephants Dream (2006).mkv"),
            ("4", "Interstate 60", "/data/Movies/Interstate 60 (2002).mkv"),
        ];
        for (id, title, file) in scenes {
            stash.add_scene(scene(id, title, file));
            let input = stash.plugin_input(json!({
                "hookContext": { "id": id.parse::<u64>().unwrap_or(0), "type": "Scene.Update.Post", "input": { "id": id } }
            }));
            std::fs::write(dir.join(format!("save-{id}.json")), input.to_string())
                .map_err(|e| e.to_string())?;
        }
        stash.set_plugin_settings(
            "plexsync",
            json!({ "plex_url": plex_url, "plex_token": plex_token }),
        );
        println!("fake Stash at http://127.0.0.1:{} with plexsync installed; its configuration folder is {}", stash.port(), dir.display());
        println!("scenes 1-4 are the fake Plex's demo movies (start it with `cargo xtask fake-plex`); plexsync's settings point at {plex_url}");
        println!("a save of scene 1, as Stash runs the hook after it:");
        println!("  {} stash < {}", binary.display(), dir.join("save-1.json").display());
        println!("then the Stash job it asks for runs here, and Plex shows the edit. Ctrl-C stops it");
        let mut seen = 0;
        loop {
            tokio::select! {
                stop = tokio::signal::ctrl_c() => {
                    stop.map_err(|e| format!("could not wait for Ctrl-C: {e}"))?;
                    break;
                }
                () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            }
            let jobs = stash.jobs();
            for job in jobs.iter().skip(seen).filter(|j| j.status == fake_stash::JobStatus::Finished) {
                println!("job {} ({}) finished: {}", job.id, job.description, job.result);
                seen += 1;
            }
        }
        println!("stopped after {} requests and {} jobs", stash.requests().len(), stash.jobs().len());
        Ok(())
    })
}

/// A fake Stash (in `runtime`) with `binary` installed as the plexsync plugin, its
/// configuration folder `dir` and its Process Queue task, as the benchmarks and the demo use
/// it.
pub(crate) fn with_plugin(
    runtime: &tokio::runtime::Runtime,
    binary: &std::path::Path,
    dir: &std::path::Path,
    session: &str,
) -> Result<FakeStash, String> {
    let plugin_dir = dir.join("plugins/plexsync");
    std::fs::create_dir_all(&plugin_dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut process = Map::new();
    process.insert("mode".into(), json!("process"));
    runtime
        .block_on(FakeStash::start(Options {
            session: Some(session.into()),
            plugin: Some(Plugin {
                id: "plexsync".into(),
                exec: vec![binary.display().to_string(), "stash".into()],
                tasks: vec![("Process Queue".into(), process)],
                env: Vec::new(),
                dir: dir.to_owned(),
                plugin_dir,
            }),
            ..Options::default()
        }))
        .map_err(|e| e.to_string())
}
