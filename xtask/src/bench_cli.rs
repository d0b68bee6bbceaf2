//! `cargo xtask bench cli`: the costs a user of the binary sees, side by side in one run.
//!
//! - A fresh `plexsync enqueue` process (what a hook costs), beside `plexsync --version`
//!   (process start alone).
//! - A whole `plexsync health` process against the loopback fake, beside the official
//!   Docker image's check, `curl --fail URL/identity`, alternating; and their peak RSS.
//! - Draining a 10,000-job backlog with the ramp off: the engine's own time per job, apart
//!   from the time spent in Plex, in the queue and in the state file.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use engine::{
    Clock, Disposition, Engine, EngineState, Finished, JobStore, Mode, Plex, Policy, Ports,
    ProbeDepth, QueueCounts, RealPlex, StateStore, SyncJob, Wake, drive, wall_ms,
};
use fake_plex::{FakePlex, Library};
use persist::{Lease, Queue, QueueOptions, StateFile};
use plex_client::{
    HealthReport, Item, Located, MetadataEdit, PlexClient, PlexConfig, PlexError, Section, Token,
};
use rand::SeedableRng;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints the median and p99 of `ms`; returns the median.
pub(crate) fn summary(name: &str, mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    let median = percentile(&ms, 0.5);
    println!(
        "  {name:<52} median {median:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms   (n={})",
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0),
        ms.len()
    );
    median
}

fn timed(command: &mut Command) -> Result<f64, String> {
    let start = Instant::now();
    let out = command.output().map_err(|e| e.to_string())?;
    let ms = start.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(ms)
}

/// Peak resident memory of one run, from GNU time, in KiB.
fn peak_rss_kib(command: &Command) -> Result<u64, String> {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("%M")
        .arg(command.get_program())
        .args(command.get_args());
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = timed.output().map_err(|e| format!("/usr/bin/time: {e}"))?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("no peak RSS from /usr/bin/time: {text}"))
}

/// `[--samples N] [--backlog N]`, 200 and 10,000 by default: the options of `bench cli` and
/// `bench hook`.
pub(crate) fn samples_and_backlog(args: &[&str]) -> Result<(usize, usize), String> {
    let mut samples = 200usize;
    let mut backlog = 10_000usize;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{arg} needs a value"))?;
        let n = value.parse().map_err(|_| format!("{arg} takes a number"))?;
        match *arg {
            "--samples" => samples = n,
            "--backlog" => backlog = n,
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    Ok((samples, backlog))
}

/// `cargo xtask bench cli [--samples N] [--backlog N]`.
pub(crate) fn bench(args: &[&str]) -> Result<(), String> {
    let (samples, backlog) = samples_and_backlog(args)?;
    let binary = crate::cmd::release_plexsync()?;
    let runtime = crate::cmd::runtime()?;
    let mut library = Library::demo();
    for i in 0..backlog {
        library.add_movie(
            "1",
            &format!("Movie {i}"),
            &format!("/data/Movies/bench-{i}.mkv"),
        );
    }
    let plex = runtime
        .block_on(FakePlex::start(library))
        .map_err(|e| e.to_string())?;
    let data = tempdir("plexsync-bench-cli")?;
    let with_env = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PLEX_URL", plex.url())
            .env("PLEX_TOKEN", plex.token())
            .env("PLEXSYNC_DATA_DIR", &data);
        command
    };
    println!(
        "the plexsync binary, release build, against the fake Plex on loopback ({samples} samples each)"
    );

    // 1. A fresh enqueue process, beside process start alone.
    let mut start_only = Vec::new();
    let mut enqueue = Vec::new();
    for i in 0..samples {
        start_only.push(timed(&mut with_env(&["--version"]))?);
        let scene = i.to_string();
        enqueue.push(timed(&mut with_env(&[
            "enqueue",
            "--scene",
            &scene,
            "--file",
            "/data/Movies/x.mkv",
            "--title",
            "T",
        ]))?);
    }
    let start_median = summary("plexsync --version (process start alone)", start_only);
    let enqueue_median = summary("plexsync enqueue (a hook's cost)", enqueue);
    println!(
        "  enqueue beyond process start: {:.2} ms",
        enqueue_median - start_median
    );

    // 2. health beside curl, alternating so both see the same machine.
    let identity = format!("{}/identity", plex.url());
    let curl = || {
        let mut c = Command::new("curl");
        c.args([
            "--connect-timeout",
            "15",
            "--max-time",
            "100",
            "--silent",
            "--show-error",
            "--fail",
            "-o",
            "/dev/null",
            &identity,
        ]);
        c
    };
    let mut health = Vec::new();
    let mut curls = Vec::new();
    for _ in 0..samples {
        health.push(timed(&mut with_env(&["health"]))?);
        curls.push(timed(&mut curl())?);
    }
    let health_median = summary(
        "plexsync health (connect + /identity + library + state + queue)",
        health,
    );
    let curl_median = summary("curl --fail URL/identity (the Docker image's check)", curls);
    println!(
        "  ratio: plexsync health takes {:.2}x curl's time",
        health_median / curl_median
    );
    let rss = |command: Command| -> Result<u64, String> {
        let mut peak = 0;
        for _ in 0..10 {
            peak = peak.max(peak_rss_kib(&command)?);
        }
        Ok(peak)
    };
    println!(
        "  peak RSS: plexsync health {:.1} MiB, curl {:.1} MiB",
        rss(with_env(&["health"]))? as f64 / 1024.0,
        rss(curl())? as f64 / 1024.0
    );

    // 3. Draining a backlog with the ramp off, on the same fake Plex: one job at a time with
    //    each ack synced on its own (as before acks shared syncs and jobs were paced), one
    //    job at a time with acks sharing syncs, and as the binary does it now, paced.
    let single = || Policy {
        pace: scheduler::PaceConfig::single(),
        ..quick()
    };
    let before = runtime.block_on(drain(&plex, backlog, Drain::Before, single()))?;
    let grouped = runtime.block_on(drain(&plex, backlog, Drain::Grouped, single()))?;
    let paced = runtime.block_on(drain(&plex, backlog, Drain::Paced, quick()))?;
    println!(
        "ratios, against before: {:.2}x the jobs a second one at a time (the binary's own pace), {:.2}x paced",
        grouped / before,
        paced / before
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}

fn tempdir(prefix: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Time spent inside one port.
#[derive(Default)]
struct Spent(Duration);

/// Plex, timed: the time its requests took, summed (requests in flight together overlap),
/// and the most requests in flight at once (`.2` now, `.3` the most).
struct TimedPlex<'a>(
    RealPlex,
    &'a std::cell::Cell<Duration>,
    std::cell::Cell<u32>,
    &'a std::cell::Cell<u32>,
);

impl TimedPlex<'_> {
    async fn timed<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let start = Instant::now();
        self.2.set(self.2.get() + 1);
        self.3.set(self.3.get().max(self.2.get()));
        let out = call.await;
        self.2.set(self.2.get() - 1);
        self.1.set(self.1.get() + start.elapsed());
        out
    }
}

impl Plex for TimedPlex<'_> {
    async fn probe(&self, depth: ProbeDepth, deadline: Option<u64>) -> HealthReport {
        self.timed(self.0.probe(depth, deadline)).await
    }
    async fn sections(&self, deadline: u64) -> Result<Vec<Section>, PlexError> {
        self.timed(self.0.sections(deadline)).await
    }
    async fn find(
        &self,
        sections: &[Section],
        file: &str,
        deadline: u64,
    ) -> Result<(Located, bool), PlexError> {
        self.timed(self.0.find(sections, file, deadline)).await
    }
    async fn read(&self, located: &Located, deadline: u64) -> Result<Item, PlexError> {
        self.timed(self.0.read(located, deadline)).await
    }
    async fn edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
        deadline: u64,
    ) -> Result<(), PlexError> {
        self.timed(self.0.edit(located, pairs, deadline)).await
    }
    async fn scan(&self, section: &str, folder: &str, deadline: u64) -> Result<(), PlexError> {
        self.timed(self.0.scan(section, folder, deadline)).await
    }
}

/// The queue, timed; `.2`: sync after every ack, as before acks shared syncs.
struct TimedQueue<'a>(Queue, &'a mut Spent, bool);

impl JobStore for TimedQueue<'_> {
    fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>, persist::Error> {
        let start = Instant::now();
        let out = JobStore::lease(&mut self.0, visibility_ms, now);
        self.1.0 += start.elapsed();
        out
    }
    fn finish(
        &mut self,
        lease: &Lease,
        disposition: &Disposition,
        now: u64,
    ) -> Result<Finished, persist::Error> {
        let start = Instant::now();
        let out = JobStore::finish(&mut self.0, lease, disposition, now);
        let out = match out {
            Ok(done) if self.2 => self.0.sync().map(|()| done),
            other => other,
        };
        self.1.0 += start.elapsed();
        out
    }
    fn counts(&mut self, now: u64) -> Result<QueueCounts, persist::Error> {
        let start = Instant::now();
        let out = JobStore::counts(&mut self.0, now);
        self.1.0 += start.elapsed();
        out
    }
    fn settle(&mut self) -> Result<(), persist::Error> {
        let start = Instant::now();
        let out = JobStore::settle(&mut self.0);
        self.1.0 += start.elapsed();
        out
    }
}

struct TimedState<'a>(StateFile<EngineState>, &'a mut Spent, &'a mut Spent);

impl StateStore for TimedState<'_> {
    type Error = persist::Error;

    /// The time in the store, without the time in `change` (the engine's own).
    fn update<R>(
        &mut self,
        change: impl FnOnce(&mut EngineState) -> R,
    ) -> Result<R, persist::Error> {
        let start = Instant::now();
        let inside = &mut *self.2;
        let out = self.0.update_if_changed(|state| {
            let begun = Instant::now();
            let r = change(state);
            inside.0 += begun.elapsed();
            r
        });
        self.1.0 += start.elapsed();
        out
    }
}

struct Wall;

impl Clock for Wall {
    fn now(&self) -> u64 {
        wall_ms()
    }
    fn now_us(&self) -> u64 {
        engine::wall_us()
    }
    async fn sleep_until(&mut self, at: u64) -> Wake {
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(wall_ms()))).await;
        Wake::Deadline
    }
    fn stop_requested(&self) -> bool {
        false
    }
}

/// The defaults with the ramp off (the backlog is not one an outage left).
fn quick() -> Policy {
    Policy {
        ramp: scheduler::RampConfig::disabled(),
        ..Policy::default()
    }
}

/// How a drain runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Drain {
    /// One job at a time, each ack synced on its own, every lookup a search.
    Before,
    /// One job at a time, acks sharing syncs.
    Grouped,
    /// As the binary drains: paced, acks sharing syncs.
    Paced,
}

/// Drains `backlog` jobs under `policy`, printing where the time went; the jobs a second.
async fn drain(plex: &FakePlex, backlog: usize, how: Drain, policy: Policy) -> Result<f64, String> {
    let each_ack_synced = how == Drain::Before;
    let dir = tempdir("plexsync-bench-drain")?;
    let mut queue =
        Queue::open(dir.join("queue"), QueueOptions::default()).map_err(|e| e.to_string())?;
    let jobs: Vec<(String, SyncJob)> = (0..backlog)
        .map(|i| {
            let job = SyncJob {
                scene_id: i.to_string(),
                files: vec![format!("/data/Movies/bench-{i}.mkv")],
                edit: MetadataEdit {
                    // Each drain edits anew: one finding its edits made would skip them.
                    title: Some(format!("Edited {i} ({})", how as u8)),
                    ..MetadataEdit::default()
                },
                edited_at: 0,
            };
            (job.key(), job)
        })
        .collect();
    queue
        .enqueue_many(jobs.iter().map(|(k, j)| (k.as_str(), j)), wall_ms())
        .map_err(|e| e.to_string())?;
    let config = PlexConfig::new(
        &plex.url(),
        Token::new(plex.token()).map_err(|e| e.to_string())?,
        "xtask-bench",
    )
    .map_err(|e| e.to_string())?;
    let client = PlexClient::new(config).map_err(|e| e.to_string())?;
    let in_plex = std::cell::Cell::new(Duration::ZERO);
    let most = std::cell::Cell::new(0);
    let (mut in_queue, mut in_state, mut in_core) =
        (Spent::default(), Spent::default(), Spent::default());
    let mut engine = Engine::new(policy, Mode::Drain);
    let started = Instant::now();
    {
        let mut ports = Ports {
            plex: TimedPlex(
                match how {
                    Drain::Before => RealPlex::new(client).without_walks(),
                    Drain::Grouped | Drain::Paced => RealPlex::new(client),
                },
                &in_plex,
                std::cell::Cell::new(0),
                &most,
            ),
            queue: TimedQueue(queue, &mut in_queue, each_ack_synced),
            state: TimedState(
                StateFile::new(dir.join("state.json"), engine::STATE_SCHEMA),
                &mut in_state,
                &mut in_core,
            ),
            clock: Wall,
            events: Vec::new(),
            rng: rand::rngs::SmallRng::seed_from_u64(1),
        };
        drive(&mut engine, &mut ports)
            .await
            .map_err(|e| e.to_string())?;
    }
    let total = started.elapsed();
    let done = engine.stats().updated;
    if done as usize != backlog {
        return Err(format!("drained {done} of {backlog}"));
    }
    let per_job = |d: Duration| d.as_secs_f64() * 1e6 / backlog as f64;
    let state_only = in_state.0.saturating_sub(in_core.0);
    let driver = total.saturating_sub(in_plex.get() + in_queue.0 + in_state.0);
    let rate = backlog as f64 / total.as_secs_f64();
    println!(
        "drain {backlog} jobs, ramp off, {}: {:.1} s in all, {rate:.0} jobs/s",
        match how {
            Drain::Before => "one at a time, each ack synced, every lookup a search (before)",
            Drain::Grouped => "one at a time, acks sharing syncs, lookups from a walk",
            Drain::Paced => "paced (the binary's way)",
        },
        total.as_secs_f64(),
    );
    println!("  per job: total {:>7.1} µs", per_job(total));
    println!(
        "           Plex  {:>7.1} µs  (loopback HTTP: find, read, edit; summed over the jobs in flight together, {} at most)",
        per_job(in_plex.get()),
        most.get()
    );
    println!(
        "           queue {:>7.1} µs  (lease and ack, made durable)",
        per_job(in_queue.0)
    );
    println!(
        "           state {:>7.1} µs  (state file: lock, read, compare; written only on change)",
        per_job(state_only)
    );
    if how == Drain::Paced {
        // Jobs in flight overlap Plex's time: what is left of a job's time is not the
        // driver's alone, so only the core is told apart.
        println!(
            "           engine core {:>5.1} µs (the decisions; the driver's share cannot be told from Plex's while jobs overlap)",
            per_job(in_core.0)
        );
    } else {
        println!(
            "           engine core {:>5.1} µs, driver and events {:>5.1} µs: the engine's own {:.1} µs",
            per_job(in_core.0),
            per_job(driver),
            per_job(in_core.0 + driver)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rate)
}
