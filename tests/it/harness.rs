//! Runs the real `plexsync` binary and captures what it printed; serves a fake Plex on
//! loopback for it to talk to.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_plex::{FakePlex, Library, Options, ServerPhase};

/// The result of one run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// Runs `plexsync` with `args` and no inherited environment beyond PATH.
pub(crate) fn plexsync(args: &[&str]) -> Run {
    Plexsync::new().run(args)
}

/// How to run the binary: environment, standard input.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plexsync {
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

impl Plexsync {
    pub(crate) fn new() -> Plexsync {
        Plexsync::default()
    }

    pub(crate) fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Plexsync {
        self.env.push((
            key.to_owned(),
            value.as_ref().to_string_lossy().into_owned(),
        ));
        self
    }

    pub(crate) fn stdin(mut self, bytes: &[u8]) -> Plexsync {
        self.stdin = Some(bytes.to_vec());
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(env!("CARGO_BIN_EXE_plexsync")), args)
    }

    fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        command
    }

    /// Runs to completion (at most two minutes).
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let mut child = self.spawn(args);
        wait(&mut child, Duration::from_secs(120))
    }

    /// Runs a copy of the binary at `program` to completion (at most two minutes).
    pub(crate) fn run_program(&self, program: &Path, args: &[&str]) -> Run {
        // A binary copied just now may still be open for writing in a child that another
        // test thread forked meanwhile (it inherited the descriptor until its exec): Linux
        // refuses to run it with ETXTBSY until that child has exec'd, moments later.
        let mut attempts = 0;
        let mut child = loop {
            match self.command_of(program, args).spawn() {
                Ok(child) => break child,
                Err(e) if e.raw_os_error() == Some(26) && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{} does not run: {e}", program.display()),
            }
        };
        if let Some(bytes) = &self.stdin {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            stdin.write_all(bytes).expect("stdin takes the input");
        }
        wait(&mut child, Duration::from_secs(120))
    }

    /// Starts it and leaves it running.
    pub(crate) fn spawn(&self, args: &[&str]) -> Child {
        let mut child = self
            .command(args)
            .spawn()
            .expect("the plexsync binary runs");
        if let Some(bytes) = &self.stdin {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            stdin.write_all(bytes).expect("stdin takes the input");
        }
        child
    }
}

/// Waits for `child` at most `limit`, killing it if it overstays.
pub(crate) fn wait(child: &mut Child, limit: Duration) -> Run {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waitable").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        // Polling a child for its exit: there is no portable way to wait with a timeout.
        std::thread::sleep(Duration::from_millis(10));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = std::mem::replace(child, Command::new("true").spawn().expect("true runs"))
        .wait_with_output()
        .expect("output");
    Run {
        status: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// A fake Plex server on loopback, with the runtime it needs.
pub(crate) struct Plex {
    runtime: tokio::runtime::Runtime,
    pub(crate) fake: FakePlex,
    /// Rating keys by file, for the movies added.
    keys: std::collections::BTreeMap<String, String>,
}

impl Plex {
    /// The demo library plus `movies` movies at /data/Movies/m<i>.mkv, in `phase`.
    pub(crate) fn start(movies: usize, phase: ServerPhase) -> Plex {
        Plex::start_with(
            movies,
            Options {
                phase,
                ..Options::default()
            },
        )
    }

    /// [`Plex::start`] with `options`.
    pub(crate) fn start_with(movies: usize, options: Options) -> Plex {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut library = Library::demo();
        let mut keys = std::collections::BTreeMap::new();
        for i in 0..movies {
            let file = format!("/data/Movies/m{i}.mkv");
            keys.insert(
                file.clone(),
                library.add_movie("1", &format!("Movie {i}"), &file),
            );
        }
        let fake = runtime
            .block_on(FakePlex::start_with(library, options))
            .unwrap();
        Plex {
            runtime,
            fake,
            keys,
        }
    }

    /// The rating key of the movie with this file.
    pub(crate) fn key_of(&self, file: &str) -> String {
        self.keys[file].clone()
    }

    pub(crate) fn set_phase(&self, phase: ServerPhase) {
        self.runtime.block_on(self.fake.set_phase(phase));
    }

    pub(crate) fn schedule(&self, after: Duration, phase: ServerPhase) {
        let _guard = self.runtime.enter();
        self.fake.schedule(after, phase);
    }

    /// The title Plex now shows for the movie with this file.
    pub(crate) fn title_of(&self, file: &str) -> Option<String> {
        let key = self.keys.get(file)?;
        self.fake
            .item(key)?
            .get("title")?
            .as_str()
            .map(String::from)
    }
}

/// A data directory with a config.toml for `plex`, short timings, and `extra` lines.
pub(crate) struct DataDir {
    pub(crate) dir: tempfile::TempDir,
}

impl DataDir {
    pub(crate) fn new(plex_url: &str, token: &str, extra: &str) -> DataDir {
        let dir = tempfile::Builder::new()
            .prefix("plexsync-it-")
            .tempdir()
            .unwrap();
        let config = format!(
            r#"plex_url = "{plex_url}"
plex_token = "{token}"
connect_timeout_ms = 500
read_timeout_ms = 1000
health_timeout_ms = 1000
{extra}
"#
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        DataDir { dir }
    }

    /// A data directory whose config.toml is exactly `config`.
    pub(crate) fn raw(config: &str) -> DataDir {
        let dir = tempfile::Builder::new()
            .prefix("plexsync-it-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        DataDir { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `plexsync` pointed at this data directory.
    pub(crate) fn plexsync(&self) -> Plexsync {
        Plexsync::new().env("PLEXSYNC_DATA_DIR", self.path())
    }
}

/// Quick timings for a whole outage in seconds: probes from 100 ms to 400 ms, short job and
/// lease times, a ramp over 2 s.
pub(crate) const QUICK_POLICY: &str = r#"
[policy.breaker]
failure_threshold = 5
open_wait_ms = 60000
permit_lease_ms = 5000
success_threshold = 2

[policy.probes]
first = { fixed = 100 }
unreachable = { base_ms = 100, factor = 2.0, cap_ms = 400, jitter = "equal" }
not_ready = { base_ms = 100, factor = 2.0, cap_ms = 400, jitter = "equal" }

[policy.ramp]
initial_per_sec = 20.0
target_per_sec = 200.0
ramp_ms = 2000
halve_above = 0.3
restore_below = 0.1
hold_ms = 1000
window_ms = 2000

[policy.engine]
job_timeout_ms = 3000
visibility_ms = 10000
idle_recheck_ms = 2000
"#;

/// Sends SIGTERM to `child` (what systemd and `docker stop` send).
pub(crate) fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Polls `done` every 20 ms until it holds or `limit` passes; whether it held.
pub(crate) fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        // Waiting for another process to reach a state: nothing to be told by.
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// Every entry under `dir` with its contents, to see that nothing changed.
pub(crate) fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.push((path.clone(), Vec::new()));
                out.extend(tree(&path));
            } else {
                let meta = std::fs::metadata(&path).unwrap();
                let mut bytes = std::fs::read(&path).unwrap();
                bytes.extend(format!("{:?}", meta.modified().unwrap()).into_bytes());
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

/// The hour now in UTC, which the binary's local time is with `TZ=UTC`.
pub(crate) fn utc_hour() -> u8 {
    let s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    ((s / 3_600) % 24) as u8
}
