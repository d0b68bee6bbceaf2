//! `cargo xtask demo`: plexsync riding through a Plex restart, in about a minute, with no Plex
//! needed. The real binary, a fake Stash that runs it as its plugin (hooks after saves, and
//! the drain as a Stash job, as Stash does) and a fake Plex, all on loopback. Plex is stopped
//! while scenes are saved, and comes back through its start-up stages; what is printed is
//! plexsync's own output (the Stash job's log as Stash shows it), Plex's edits as they land,
//! and `plexsync status` at the end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Library, ServerPhase};
use fake_stash::{FakeStash, scene};
use serde_json::json;

use crate::cmd::{cargo, root, run};

/// The demo's scenes: the fake Plex's demo movies.
const SCENES: [(&str, &str, &str); 4] = [
    ("1", "Sintel", "/data/Movies/Sintel (2010).mkv"),
    (
        "2",
        "Big Buck Bunny",
        "/data/Movies/Big Buck Bunny (2008).mkv",
    ),
    (
        "3",
        "Elephants Dream",
        "/data/Movies/Elephants Dream (2006).mkv",
    ),
    (
        "4",
        "Interstate 60",
        "/data/Movies/Interstate 60 (2002).mkv",
    ),
];

pub(crate) fn demo(args: &[&str]) -> Result<(), String> {
    crate::cmd::no_arguments(args)?;
    run(cargo().args(["build", "--release", "--package", "plexsync"]))?;
    let binary = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), PathBuf::from)
        .join("release/plexsync");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // The fake Plex schedules its phase changes on this runtime.
    let _entered = runtime.enter();
    let dir = std::env::temp_dir().join(format!("plexsync-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let plex = runtime
        .block_on(FakePlex::start(Library::demo()))
        .map_err(|e| e.to_string())?;
    let stash = crate::stash::with_plugin(&runtime, &binary, &dir, "demo")?;
    for (id, title, file) in SCENES {
        stash.add_scene(scene(id, title, file));
    }
    stash.set_plugin_settings(
        "plexsync",
        json!({ "plex_url": plex.url(), "plex_token": plex.token() }),
    );
    let mut show = Show::new(&plex, &stash);
    show.say(&format!(
        "a fake Plex at {} and a fake Stash at http://127.0.0.1:{} with plexsync as its plugin; plexsync keeps its data in {}",
        plex.url(),
        stash.port(),
        dir.join("plexsync").display()
    ));

    show.say("you edit two scenes in Stash; each save runs plexsync's hook, which queues the scene and has Stash run the drain as one of its jobs");
    save(&mut show, &binary, "1", "Sintel (director's cut)")?;
    save(&mut show, &binary, "2", "Big Buck Bunny (4K)")?;
    show.until(Duration::from_secs(10), |s| s.edits_seen >= 2);
    show.until(Duration::from_secs(10), |s| s.all_jobs_done());

    show.say("Plex stops (its port refuses connections), and you go on editing");
    runtime.block_on(plex.set_phase(ServerPhase::Refused));
    save(&mut show, &binary, "3", "Elephants Dream (restored)")?;
    save(
        &mut show,
        &binary,
        "4",
        "Interstate 60: Episodes of the Road",
    )?;
    save(&mut show, &binary, "1", "Sintel (final cut)")?;
    show.wait(Duration::from_secs(8));

    show.say("Plex starts again, through its stages: port open but silent, then busy with database migrations, then /identity answering before the library is loaded, then ready");
    let stages = [
        (Duration::from_secs(0), ServerPhase::Silent),
        (Duration::from_secs(4), ServerPhase::Maintenance),
        (Duration::from_secs(9), ServerPhase::Starting),
        (Duration::from_secs(12), ServerPhase::Ready),
    ];
    for (after, phase) in stages {
        plex.schedule(after, phase);
    }
    show.until(Duration::from_secs(150), |s| {
        s.edits_seen >= 5 && s.all_jobs_done()
    });

    show.say("what plexsync has stored, as `plexsync status` shows it:");
    let status = Command::new(&binary)
        .arg("status")
        .env_clear()
        .env("PLEXSYNC_DATA_DIR", dir.join("plexsync"))
        .output()
        .map_err(|e| e.to_string())?;
    for line in String::from_utf8_lossy(&status.stdout).lines() {
        println!("    {line}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    if show.edits_seen < 5 {
        return Err(format!(
            "only {} of the 5 edits reached Plex",
            show.edits_seen
        ));
    }
    println!(
        "every edit reached Plex, once, through a Plex restart: no job lost, none given up on, nothing clicked"
    );
    Ok(())
}

/// Edits scene `id` in the fake Stash and runs the hook as Stash does after the save.
fn save(show: &mut Show<'_>, binary: &Path, id: &str, title: &str) -> Result<(), String> {
    show.stash.edit_scene(id, |s| {
        s.insert("title".into(), json!(title));
    });
    let input = show.stash.plugin_input(json!({
        "hookContext": { "id": id.parse::<u64>().unwrap_or(0), "type": "Scene.Update.Post", "input": { "id": id } }
    }));
    let ms = crate::bench_hook::timed(
        Command::new(binary).arg("stash").env_clear(),
        input.to_string().as_bytes(),
    )?;
    show.say(&format!(
        "saved scene {id} as {title:?}; the hook returned in {ms:.0} ms"
    ));
    Ok(())
}

/// What is printed: narration, the Stash jobs' log lines as they are written, Plex's phase
/// changes and its edits as they land, each with the time since the start.
struct Show<'a> {
    plex: &'a FakePlex,
    stash: &'a FakeStash,
    started: Instant,
    phase: ServerPhase,
    edits_seen: usize,
    /// Bytes of each job's log already printed.
    printed: Vec<usize>,
}

impl<'a> Show<'a> {
    fn new(plex: &'a FakePlex, stash: &'a FakeStash) -> Show<'a> {
        Show {
            plex,
            stash,
            started: Instant::now(),
            phase: plex.phase(),
            edits_seen: 0,
            printed: Vec::new(),
        }
    }

    fn line(&self, who: &str, text: &str) {
        println!(
            "[{:>5.1} s] {who:<6} {text}",
            self.started.elapsed().as_secs_f64()
        );
    }

    fn say(&mut self, text: &str) {
        self.poll();
        println!();
        self.line("demo", text);
    }

    /// Prints whatever happened since the last look.
    fn poll(&mut self) {
        let phase = self.plex.phase();
        if phase != self.phase {
            self.phase = phase;
            self.line("plex", &format!("now {phase}"));
        }
        let edits = self.plex.edits();
        for edit in edits.iter().skip(self.edits_seen) {
            let title = edit
                .pairs
                .iter()
                .find(|(k, _)| k == "title.value")
                .map_or("(unchanged title)", |(_, v)| v.as_str());
            self.line(
                "plex",
                &format!("edited item {}: title {title:?}", edit.rating_key),
            );
        }
        self.edits_seen = edits.len();
        for (n, job) in self.stash.jobs().iter().enumerate() {
            if self.printed.len() <= n {
                self.printed.push(0);
                self.line(
                    "stash",
                    &format!("job {} queued: {}", job.id, job.description),
                );
            }
            let new = &job.log[self.printed[n].min(job.log.len())..];
            let complete = new.rfind('\n').map_or(0, |i| i + 1);
            for raw in new[..complete].lines() {
                if let Some(text) = stash_line(raw) {
                    self.line("stash", &format!("job {} | {text}", job.id));
                }
            }
            self.printed[n] += complete;
        }
    }

    fn all_jobs_done(&self) -> bool {
        self.stash
            .jobs()
            .iter()
            .all(|j| j.status == fake_stash::JobStatus::Finished)
    }

    /// Watches for `limit`.
    fn wait(&mut self, limit: Duration) {
        self.until(limit, |_| false);
    }

    /// Watches until `done` or `limit`.
    fn until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            self.poll();
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A plugin log line as Stash shows it (`\x01i\x02text` is "INFO text"); progress lines are
/// left out.
fn stash_line(raw: &str) -> Option<String> {
    let rest = raw.strip_prefix('\x01')?;
    let mut chars = rest.chars();
    let level = chars.next()?;
    let text = chars.as_str().strip_prefix('\x02')?;
    let name = match level {
        't' => "TRACE",
        'd' => "DEBUG",
        'i' => "INFO",
        'w' => "WARN",
        'e' => "ERROR",
        _ => return None,
    };
    Some(format!("{name:<5} {text}"))
}
