//! `plexsync process` and `plexsync run`: the engine on the wall clock, against the real Plex,
//! the disk queue and the state file, one worker at a time.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use engine::Reached;
use engine::{
    Engine, Event, EventSink, JobOutcome, Mode, Ports, RealPlex, RunStats, StopReason, drive,
    wall_ms,
};
use indicatif::{ProgressBar, ProgressStyle};
use persist::{StateFile, WorkerLock};
use plex_client::{FailureKind, PlexClient, Stage};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::storage::Storage;
use super::{Failure, open_queue, state_file, writable_state};
use crate::clock::WallClock;
use crate::config::Settings;
use crate::logging;

/// Exit status when another worker holds the lock: try again later (sysexits' EX_TEMPFAIL).
pub(crate) const BUSY: u8 = 75;

/// Runs the engine in `mode` until it stops; prints a summary.
pub(crate) async fn run(
    settings: &Settings,
    mode: Mode,
    max_outage_ms: Option<Option<u64>>,
) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let limits = Limits {
        max_outage_ms,
        settle_ms: None,
    };
    if mode == Mode::Run {
        tracing::info!(
            "watching the queue and syncing to Plex at {}; stop with Ctrl-C",
            settings.plex()?.redacted_url()
        );
    }
    let worked = work(settings, mode, limits, |expected| {
        Progress::new(mode, expected)
    })
    .await?;
    let mut progress = worked.sink;
    progress.finish();
    // The report is the command's output; the log beside it goes to standard error.
    crate::text::say!(
        "{}",
        summary(&worked.stats, &worked.left, started.elapsed())
    );
    Ok(match worked.reason {
        StopReason::Drained | StopReason::Requested => ExitCode::SUCCESS,
        StopReason::Configuration(_) => ExitCode::from(2),
        StopReason::OutageTooLong { .. } | StopReason::ForcedOpen => ExitCode::FAILURE,
    })
}

/// What a run did and what it left queued, in one line: jobs, each counted once.
pub(crate) fn summary(s: &RunStats, left: &Left, took: Duration) -> String {
    let now = wall_ms();
    // A few waiting jobs are named, with why they wait.
    let named: String = left
        .named
        .iter()
        .map(|(key, why)| format!("{key}: {why}; "))
        .collect();
    let waiting = match (left.waiting, left.next_retry_at) {
        (0, _) => String::new(),
        (n, Some(at)) => format!(
            ", {} waiting to retry ({named}the next in {})",
            engine::count(n as u64, "job", "jobs"),
            engine::duration(at.saturating_sub(now))
        ),
        (n, None) => format!(
            ", {} waiting to retry",
            engine::count(n as u64, "job", "jobs")
        ),
    };
    let ready = match left.ready {
        0 => String::new(),
        n => format!(", {} still queued", engine::count(n as u64, "job", "jobs")),
    };
    format!(
        "{} synced ({} updated, {} already up to date){waiting}{ready}, {} dead-lettered{}, in {:.1} s",
        s.updated + s.unchanged,
        s.updated,
        s.unchanged,
        s.dead_lettered,
        if s.lease_lost > 0 {
            format!(", {} taken over by another worker", s.lease_lost)
        } else {
            String::new()
        },
        took.as_secs_f64()
    )
}

/// What a run leaves in the queue.
#[derive(Clone, Debug, Default)]
pub(crate) struct Left {
    /// Jobs that could run now (the run stopped before them).
    pub(crate) ready: usize,
    /// Jobs waiting for their next retry.
    pub(crate) waiting: usize,
    /// When the first of those is due.
    pub(crate) next_retry_at: Option<u64>,
    /// The waiting jobs' keys and why they wait, when there are only a few.
    pub(crate) named: Vec<(String, String)>,
}

/// Waiting jobs named in a run's summary, at most.
const NAMED: usize = 3;

/// A finished run: why it stopped, what it did, what it left, and its event sink.
pub(crate) struct Worked<S> {
    pub(crate) reason: StopReason,
    pub(crate) stats: RunStats,
    pub(crate) left: Left,
    pub(crate) sink: S,
}

/// What a run may change of the policy's limits.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    /// `--max-outage`: `Some(None)` waits for Plex however long it takes.
    pub(crate) max_outage_ms: Option<Option<u64>>,
    /// Wait for retries due within this long before a drain stops (the Stash plugin's
    /// automatic drain).
    pub(crate) settle_ms: Option<u64>,
}

/// Holds the worker lock and runs the engine in `mode` against the real Plex, the disk queue
/// and the wall clock until it stops; `sink` is made from the number of jobs ready at the start.
///
/// A drain that ends lets go of the worker lock and then looks at the queue once more: a job
/// queued meanwhile by a hook that saw the lock held, and so asked no one else, is drained
/// too (by this worker, or by the one that took the lock).
pub(crate) async fn work<S: EventSink>(
    settings: &Settings,
    mode: Mode,
    limits: Limits,
    sink: impl FnOnce(usize) -> S,
) -> Result<Worked<S>, Failure> {
    let config = settings.plex()?;
    let mut policy = settings.policy.clone();
    if let Some(limit) = limits.max_outage_ms {
        policy.engine.max_outage_wait_ms = limit;
    }
    if let Some(settle) = limits.settle_ms {
        policy.engine.settle_ms = Some(settle);
    }
    let paths = &settings.paths;
    // Before anything is created: a state file from a newer plexsync is refused untouched.
    let mut states = writable_state(paths)?;
    let mut worker = Some(
        WorkerLock::try_acquire(&paths.worker_lock).map_err(|e| match e {
            persist::Error::Held { pid, .. } => Failure::Busy(format!(
                "another plexsync{} is already processing the queue; it will sync what is queued",
                pid.map_or(String::new(), |pid| format!(" (pid {pid})"))
            )),
            other => other.into(),
        })?,
    );
    // A drain asked of Stash by a hook has started: this one.
    let _ = std::fs::remove_file(&paths.drain_requested);
    crate::paths::keep_client_id(paths);
    let client = PlexClient::new(config).map_err(|e| Failure::Config(e.to_string()))?;
    let mut queue = open_queue(paths)?;
    // Holding the worker lock, this is the only worker: a job still leased, or a half-open
    // trial still held, was left by one that stopped without finishing it (Stash kills a
    // task without warning).
    let released = queue.release_leases(wall_ms())?;
    if released > 0 {
        tracing::info!(
            "took back {} that a stopped worker had started; they run again now",
            engine::count(released as u64, "job", "jobs")
        );
    }
    report_storage(&mut queue);
    let (voided, reached, ramp, butler) = states
        .update_if_changed(|state| {
            let voided = engine::void_trials(state, &policy);
            (voided, state.reached.clone(), state.ramp, state.butler)
        })
        .map_err(Failure::from)?;
    if voided > 0 {
        tracing::info!(
            "voided {voided} half-open trial(s) a stopped worker held; the next trial runs now"
        );
    }
    first_contact(&client, reached.as_ref(), &mut states).await?;
    read_butler(&client, butler, &mut states).await;
    let expected = queue.stats(wall_ms()).map(|s| s.ready_now).unwrap_or(0);
    if expected > 0 {
        say_ramp(ramp, &policy);
    }
    // A long-running or settling worker wakes the moment a job is queued.
    let watch =
        (mode == Mode::Run || policy.engine.settle_ms.is_some()).then_some(paths.queue.as_path());
    let seed = wall_ms() ^ u64::from(std::process::id()).rotate_left(32);
    let clock = WallClock::new(watch);
    // A long-running worker watches Plex while nothing fails.
    let watcher = (mode == Mode::Run && policy.engine.watch_plex)
        .then(|| tokio::spawn(crate::watch::watch(client.clone(), clock.notices())));
    let mut ports = Ports {
        plex: RealPlex::new(client),
        queue,
        state: state_file(paths),
        clock,
        events: sink(expected),
        rng: SmallRng::seed_from_u64(seed),
    };
    let mut total = RunStats::default();
    let reason = loop {
        let mut engine = Engine::new(policy.clone(), mode);
        let reason = drive(&mut engine, &mut ports)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        total += engine.stats();
        if mode != Mode::Drain || reason != StopReason::Drained {
            break reason;
        }
        // Tests widen the moment between the last look and letting go, to meet the race.
        #[cfg(debug_assertions)]
        if let Some(ms) = std::env::var("PLEXSYNC_TEST_HOLD_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(Duration::from_millis(ms));
        }
        // Let go first, then look: a job queued before this look is seen by it; one queued
        // after finds the lock free and asks for a drain of its own.
        drop(worker.take());
        let ready = ports.queue.stats(wall_ms()).map_or(0, |s| s.ready_now);
        if ready == 0 {
            break reason;
        }
        match WorkerLock::try_acquire(&paths.worker_lock) {
            Ok(lock) => worker = Some(lock),
            // Another worker took it, and the jobs with it.
            Err(_) => break reason,
        }
        tracing::debug!(
            "{} queued while the drain was ending; draining {} too",
            engine::count(ready as u64, "job was", "jobs were"),
            if ready == 1 { "it" } else { "them" }
        );
    };
    if let Some(watcher) = watcher {
        watcher.abort();
        // Nobody watches now: `status` says so.
        let _ = ports.state.update(|s| s.watch = None);
    }
    let now = wall_ms();
    let mut left = ports.queue.stats(now).map_or(Left::default(), |s| Left {
        ready: s.ready_now,
        waiting: s.waiting_for_retry,
        next_retry_at: s.earliest_retry_at,
        named: Vec::new(),
    });
    if (1..=NAMED).contains(&left.waiting) {
        if let Ok(jobs) = ports.queue.jobs() {
            left.named = jobs
                .iter()
                .filter(|j| j.next_retry_at.is_some_and(|at| at > now))
                .map(|j| {
                    let why = j
                        .history
                        .last()
                        .map_or("failed".to_owned(), |a| super::queue::class_words(&a.class));
                    (crate::text::printable(&j.key).into_owned(), why)
                })
                .collect();
        }
    }
    Ok(Worked {
        reason,
        stats: total,
        left,
        sink: ports.events,
    })
}

/// Says when the pace after an outage (the recovery ramp) still limits this run, which may
/// begin long after the outage that started it.
fn say_ramp(ramp: Option<scheduler::RampState>, policy: &engine::Policy) {
    let now = wall_ms();
    let Some(ramp) = ramp.and_then(|r| scheduler::Ramp::restore(policy.ramp, r).ok()) else {
        return;
    };
    if ramp.is_finished(now) {
        return;
    }
    let config = ramp.config();
    let left = ramp.full_speed_at().saturating_sub(now);
    tracing::info!(
        "pacing after Plex's last outage: {:.0} jobs/s now, rising to {:.0} over the next {} (policy.ramp)",
        ramp.rate(now),
        config.target_per_sec,
        engine::duration(left)
    );
}

/// Says once what reading the queue found: damage (a warning), files kept aside, and files
/// of an older format carried forward.
fn report_storage(queue: &mut persist::Queue) {
    let Ok(recovery) = queue.recovery() else {
        return;
    };
    let carried = recovery.carried_forward.clone();
    let storage = Storage::of(recovery);
    if storage.damaged() {
        // Files kept aside from before are `status`'s to show, not every run's to repeat.
        let found = Storage {
            moved_aside: Vec::new(),
            ..storage
        };
        for sentence in found.sentences() {
            tracing::warn!("{sentence}");
        }
    }
    if !carried.is_empty() {
        tracing::info!(
            "carried {} of an older plexsync's format forward: every job in {} is in today's format now",
            engine::count(carried.len() as u64, "queue file", "queue files"),
            if carried.len() == 1 { "it" } else { "them" }
        );
    }
}

/// Reads Plex's scheduled-maintenance window when it has not been read for a day: `status`
/// shows it and `outages` marks the outages inside it. Best effort, and quick: a Plex that
/// does not answer at once is asked again by the next run.
async fn read_butler(
    client: &PlexClient,
    known: Option<engine::ButlerHours>,
    states: &mut StateFile<engine::EngineState>,
) {
    let now = wall_ms();
    if known.is_some_and(|b| !b.stale(now)) {
        return;
    }
    if let Ok(Ok(window)) =
        tokio::time::timeout(Duration::from_secs(2), client.butler_window()).await
    {
        let hours = engine::ButlerHours {
            start: window.start,
            end: window.end,
            read_at: now,
        };
        let _ = states.update_if_changed(|state| state.butler = Some(hours));
    }
}

/// A URL plexsync has never seen answering that refuses connections, or names a host that
/// does not resolve, is a setting to fix: say so at once, rather than wait out an outage that
/// is not one. The jobs stay queued. Once the URL answers, it is remembered, and a later
/// refusal is an outage like any other.
async fn first_contact(
    client: &PlexClient,
    reached: Option<&Reached>,
    states: &mut StateFile<engine::EngineState>,
) -> Result<(), Failure> {
    let url = client.config().redacted_url();
    if reached.is_some_and(|r| r.url == url) {
        return Ok(());
    }
    let report = client.check_health_until(Stage::Identity).await;
    match &report.failure {
        None => {
            let at = wall_ms();
            states
                .update_if_changed(|state| state.reached = Some(Reached { url, at }))
                .map_err(|e| Failure::Failed(e.to_string()))?;
            Ok(())
        }
        Some(e) if matches!(e.kind(), FailureKind::Refused | FailureKind::Dns) => {
            Err(Failure::Config(format!(
                "{e}; plexsync has never reached Plex at this URL, so it is taken for a setting to fix, not an outage (the jobs stay queued)"
            )))
        }
        // Anything else (a timeout, maintenance) may be Plex starting: the engine rides it.
        Some(_) => Ok(()),
    }
}

/// Log lines for every event at its level; on a terminal a progress bar for a drain (jobs
/// finished for good against jobs known, what it waits for while Plex is down, and an
/// estimate while syncing), and otherwise a progress line every ten seconds.
struct Progress {
    bar: Option<ProgressBar>,
    done: u64,
    expected: u64,
    last_line: Instant,
    mode: Mode,
    /// When Plex went down, while it is.
    down_since: Option<u64>,
}

impl Progress {
    fn new(mode: Mode, expected: usize) -> Progress {
        let bar =
            (mode == Mode::Drain && std::io::stderr().is_terminal() && expected > 0).then(|| {
                let bar = ProgressBar::new(expected as u64);
                bar.set_style(
                    ProgressStyle::with_template("{bar:40} {pos}/{len} jobs  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar
            });
        Progress {
            bar,
            done: 0,
            expected: expected as u64,
            last_line: Instant::now(),
            mode,
            down_since: None,
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// The bar's words: why it stands still, or how long is left.
    fn message(&self, event: &Event, now: u64) -> Option<String> {
        if let Some(since) = self.down_since {
            let down = engine::duration(now.saturating_sub(since));
            return Some(match event {
                Event::Probe { record, next_at } => {
                    let last = match &record.report.failure {
                        Some(e) => e.kind().to_string(),
                        None => "healthy".to_owned(),
                    };
                    let next = next_at.map_or(String::new(), |at| {
                        format!(", next in {}", engine::duration(at.saturating_sub(now)))
                    });
                    format!("waiting for Plex: down {down}, last check {last}{next}")
                }
                _ => format!("waiting for Plex: down {down}"),
            });
        }
        let bar = self.bar.as_ref()?;
        let elapsed = bar.elapsed().as_secs_f64();
        let left = self.expected.saturating_sub(self.done);
        (self.done > 0 && elapsed >= 1.0).then(|| {
            let eta = (elapsed / self.done as f64 * left as f64 * 1_000.0) as u64;
            format!("about {} left", engine::duration(eta))
        })
    }
}

impl EventSink for Progress {
    fn emit(&mut self, event: Event, now: u64) {
        match &self.bar {
            Some(bar) => bar.suspend(|| logging::event(&event)),
            None => logging::event(&event),
        }
        match &event {
            Event::Transition { transition, .. } => {
                self.down_since = match transition.to {
                    breaker_core::State::Closed => None,
                    _ => self.down_since.or(Some(transition.at)),
                };
            }
            // A job counts once, when it is finished with: synced, or given up on.
            Event::Job { outcome, .. } => match outcome {
                JobOutcome::Updated { .. }
                | JobOutcome::Unchanged
                | JobOutcome::DeadLettered { .. } => {
                    self.done += 1;
                    self.expected = self.expected.max(self.done);
                }
                JobOutcome::Retry { .. } | JobOutcome::LeaseLost => {}
            },
            _ => {}
        }
        let message = self.message(&event, now);
        match &self.bar {
            Some(bar) => {
                bar.set_length(self.expected);
                bar.set_position(self.done);
                bar.set_message(message.unwrap_or_default());
            }
            None if self.mode == Mode::Drain
                && self.last_line.elapsed() >= Duration::from_secs(10) =>
            {
                self.last_line = Instant::now();
                tracing::info!(
                    "{} of {} jobs done{}",
                    self.done,
                    self.expected,
                    message.map_or(String::new(), |m| format!("; {m}"))
                );
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breaker_core::{Cause, State, Transition};
    use plex_client::{HealthReport, PlexError};

    fn transition(to: State, at: u64) -> Event {
        Event::Transition {
            transition: Transition {
                from: State::Closed,
                to,
                at,
                generation: 1,
                cause: Cause::FailureThreshold,
            },
            first_failure: None,
        }
    }

    fn probe(at: u64, kind: Option<FailureKind>) -> Event {
        Event::Probe {
            next_at: Some(at + 4_000),
            record: engine::ProbeRecord {
                at,
                outcome: scheduler::ProbeOutcome::Unreachable,
                report: HealthReport {
                    healthy: kind.is_none(),
                    reached: None,
                    stages: Vec::new(),
                    identity: None,
                    failure: kind.map(|k| PlexError::new(k, "http://plex", "x")),
                    elapsed: Duration::ZERO,
                },
            },
        }
    }

    /// While Plex is down, the bar's words say so, for how long, and what the last look found;
    /// once it is back they no longer do.
    #[test]
    fn the_bar_says_why_it_stands_still() {
        let mut p = Progress::new(Mode::Drain, 9);
        let t0 = 1_000_000;
        p.emit(transition(State::Open, t0), t0);
        assert_eq!(
            p.message(&probe(t0 + 25_000, Some(FailureKind::Refused)), t0 + 25_000)
                .as_deref(),
            Some("waiting for Plex: down 25 s, last check refused, next in 4 s")
        );
        assert_eq!(
            p.message(&probe(t0 + 30_000, None), t0 + 30_000).as_deref(),
            Some("waiting for Plex: down 30 s, last check healthy, next in 4 s")
        );
        p.emit(transition(State::Closed, t0 + 31_000), t0 + 31_000);
        assert!(p.down_since.is_none());
        let done = Event::Job {
            at: t0 + 32_000,
            key: "scene-1".into(),
            outcome: JobOutcome::Unchanged,
        };
        let retry = Event::Job {
            at: t0 + 32_000,
            key: "scene-2".into(),
            outcome: JobOutcome::Retry {
                at: t0 + 60_000,
                class: engine::ErrorClass::NotFound,
                counted: true,
                error: "x".into(),
            },
        };
        p.emit(done, t0 + 32_000);
        p.emit(retry.clone(), t0 + 32_000);
        p.emit(retry, t0 + 33_000);
        assert_eq!((p.done, p.expected), (1, 9), "a retried job is not done");
    }
}
