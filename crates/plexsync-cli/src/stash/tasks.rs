//! The plugin's tasks (`args.mode`): drain the queue, check Plex, report, sync scenes in bulk,
//! manage dead letters, reset the breaker.

use std::time::{Duration, Instant};

use engine::{Event, EventSink, JobOutcome, Mode, StopReason, reset_breaker, wall_ms};
use persist::Selection;
use serde_json::{Value, json};

use stash_client::{Input, Stash};

use super::scene::{PluginSettings, job};
use super::{PLUGIN_ID, api_key, log, resolve};
use crate::commands::health::{self, Breaker};
use crate::commands::{Failure, open_queue, peek_state, read_queue, state_file, work};
use crate::config::{Env, Settings};
use crate::logging;

/// A task, as plexsync.yml names it in `args.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    /// Drain the queue.
    Process,
    /// The health check.
    Health,
    /// The breaker and the queue.
    Status,
    /// Queue every scene.
    SyncAll,
    /// Queue the scenes updated in the last `args.days` days.
    SyncRecent,
    /// List the dead letters.
    DlqList,
    /// Requeue every dead letter.
    DlqRequeue,
    /// Delete every dead letter.
    DlqPurge,
    /// Close the breaker.
    ResetBreaker,
    /// Every check of `plexsync doctor`.
    Doctor,
}

impl Task {
    /// Every task.
    pub(crate) const ALL: [Task; 10] = [
        Task::Process,
        Task::Health,
        Task::Status,
        Task::SyncAll,
        Task::SyncRecent,
        Task::DlqList,
        Task::DlqRequeue,
        Task::DlqPurge,
        Task::ResetBreaker,
        Task::Doctor,
    ];

    /// Its `args.mode`.
    pub(crate) fn mode(self) -> &'static str {
        match self {
            Task::Process => "process",
            Task::Health => "health",
            Task::Status => "status",
            Task::SyncAll => "sync_all",
            Task::SyncRecent => "sync_recent",
            Task::DlqList => "dlq_list",
            Task::DlqRequeue => "dlq_requeue",
            Task::DlqPurge => "dlq_purge",
            Task::ResetBreaker => "reset_breaker",
            Task::Doctor => "doctor",
        }
    }
}

impl std::str::FromStr for Task {
    type Err = String;

    fn from_str(mode: &str) -> Result<Task, String> {
        Task::ALL
            .into_iter()
            .find(|t| t.mode() == mode)
            .ok_or_else(|| {
                let known: Vec<&str> = Task::ALL.iter().map(|t| t.mode()).collect();
                format!(
                    "unknown task mode {mode:?}; plexsync knows {}",
                    known.join(", ")
                )
            })
    }
}

/// An automatic drain waits this long at most for a retry due (a file Plex has not scanned
/// yet is looked for again 30 s, then 1, 2, 4, 8 minutes on), so that an edit whose first
/// attempt failed still reaches Plex without another save.
const SETTLE_MS: u64 = 10 * 60_000;

/// Scenes asked for per GraphQL page, and queued per append (one sync each).
const PAGE: u64 = 250;

pub(super) async fn run(mode: &str, input: &Input, env: &Env) -> Result<Value, String> {
    let task: Task = mode.parse()?;
    let stash = Stash::new(&input.server_connection, api_key(env)).map_err(|e| e.to_string())?;
    let plugin = stash.settings(PLUGIN_ID).await.map_err(|e| e.to_string())?;
    let plugin_keys: Vec<String> = plugin.keys().cloned().collect();
    let plugin = PluginSettings::from_map(&plugin)?;
    let settings = resolve(input, &plugin, env)?;
    match task {
        Task::Process => {
            // Asked for by a hook (`auto`): also waits for retries due soon.
            let auto = input.arg("auto").is_some_and(|a| a == "true");
            process(&settings, auto).await
        }
        Task::Health => check(&settings).await,
        Task::Status => status(&settings),
        Task::SyncAll => sync(&stash, &plugin, &settings, None).await,
        Task::SyncRecent => {
            let days = input.arg("days").unwrap_or_else(|| "7".into());
            let days: u64 = days
                .parse()
                .ok()
                .filter(|d| (1..=36_500).contains(d))
                .ok_or_else(|| {
                    format!("the task argument days must be a number of days, not {days:?}")
                })?;
            let since = wall_ms().saturating_sub(days * 86_400_000);
            sync(&stash, &plugin, &settings, Some(since)).await
        }
        Task::DlqList => dead_letters(&settings),
        Task::Doctor => doctor(&settings, &stash, &plugin, &plugin_keys).await,
        Task::DlqRequeue => {
            let n = open_queue(&settings.paths)
                .and_then(|mut q| q.requeue_dead(Selection::All, wall_ms()))
                .map_err(|e| e.to_string())?;
            tracing::info!(
                "requeued {}",
                engine::count(n as u64, "dead-lettered job", "dead-lettered jobs")
            );
            Ok(json!({ "requeued": n }))
        }
        Task::DlqPurge => {
            let n = open_queue(&settings.paths)
                .and_then(|mut q| q.purge_dead(Selection::All))
                .map_err(|e| e.to_string())?;
            tracing::info!(
                "purged {}",
                engine::count(n as u64, "dead-lettered job", "dead-lettered jobs")
            );
            Ok(json!({ "purged": n }))
        }
        Task::ResetBreaker => {
            let now = wall_ms();
            let events = state_file(&settings.paths)
                .update(|state| reset_breaker(state, &settings.policy, now))
                .map_err(|e| e.to_string())?;
            for event in &events {
                logging::event(event);
            }
            if events.is_empty() {
                tracing::info!("the breaker was already closed");
            }
            Ok(json!({ "reset": !events.is_empty() }))
        }
    }
}

/// Drains the queue through the engine, reporting progress; a kill loses nothing (jobs are
/// leased, and a lease that is never settled runs out and the job is worked on again).
async fn process(settings: &Settings, auto: bool) -> Result<Value, String> {
    let started = Instant::now();
    let limits = work::Limits {
        max_outage_ms: None,
        settle_ms: auto.then_some(SETTLE_MS),
    };
    let worked = match work::work(settings, Mode::Drain, limits, Progress::new).await {
        Ok(done) => done,
        // Another drain holds the lock, and takes what was queued: nothing to do here.
        Err(Failure::Busy(why)) if auto => {
            tracing::info!("{why}");
            return Ok(json!({ "summary": why }));
        }
        Err(e) => return Err(e.to_string()),
    };
    let (s, left) = (worked.stats, worked.left);
    // Done only when nothing is left: a drain that stopped with jobs waiting says how far
    // it got.
    if left.ready + left.waiting == 0 {
        log::progress(1.0);
    }
    let summary = work::summary(&s, &left, started.elapsed());
    tracing::info!("{summary}");
    match worked.reason {
        StopReason::Drained | StopReason::Requested => Ok(json!({
            "updated": s.updated,
            "unchanged": s.unchanged,
            "waiting": left.waiting,
            "dead_lettered": s.dead_lettered,
            "summary": summary,
        })),
        StopReason::Configuration(message) => Err(message),
        StopReason::OutageTooLong { .. } => Err(format!(
            "Plex stayed down too long; the jobs stay queued for the next run ({summary})"
        )),
        StopReason::ForcedOpen => Err(
            "the breaker is opened by hand; run the Reset breaker task to let jobs through".into(),
        ),
    }
}

/// Every check of `plexsync doctor`, each as a log line (a problem as an error, a warning as
/// a warning) and all of them as the output.
async fn doctor(
    settings: &Settings,
    stash: &Stash,
    plugin: &PluginSettings,
    keys: &[String],
) -> Result<Value, String> {
    use crate::commands::doctor::{Check, Verdict, diagnose_with};
    // A few of Stash's scenes, as Plex should see their files, for the paths check.
    let now = wall_ms();
    let scene_files: Vec<String> = match stash.scenes(1, 10, None).await {
        Ok(page) => page
            .scenes
            .iter()
            .filter_map(|scene| super::scene::job(scene, plugin, now).ok())
            .filter_map(|job| job.files.into_iter().next())
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut report = diagnose_with(settings, &scene_files)
        .await
        .map_err(|e| e.to_string())?;
    // Stash answered already (the settings came from it): its version, and what was set.
    let version = stash
        .version()
        .await
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let set = if keys.is_empty() {
        "no plexsync setting saved".to_owned()
    } else {
        format!("plexsync settings saved: {}", keys.join(", "))
    };
    report.push(Check::new(
        "stash",
        Verdict::Ok,
        format!("reachable, Stash {version}; {set}"),
    ));
    for check in &report.checks {
        let todo = check
            .todo
            .as_ref()
            .map_or(String::new(), |t| format!(" → {t}"));
        match check.verdict {
            Verdict::Ok => tracing::info!("{}: {}{todo}", check.name, check.found),
            Verdict::Warning => tracing::warn!("{}: {}{todo}", check.name, check.found),
            Verdict::Problem => tracing::error!("{}: {}{todo}", check.name, check.found),
        }
    }
    serde_json::to_value(&report).map_err(|e| e.to_string())
}

/// The health check, as `plexsync health` reports it, in the log and as the output.
async fn check(settings: &Settings) -> Result<Value, String> {
    let (report, now) = health::check(settings).await.map_err(|e| e.to_string())?;
    let level = if report.healthy {
        tracing::Level::INFO
    } else {
        tracing::Level::WARN
    };
    let lines = health::text(&report, now);
    for line in &lines {
        log::line(level, line.trim_end());
    }
    if !report.healthy {
        // The task fails, so that Stash shows why Plex is not usable; the details are logged.
        let why = report
            .plex
            .failure
            .as_ref()
            .map(|f| format!(": {f}"))
            .unwrap_or_default();
        return Err(format!("{}{why}", lines[0]));
    }
    serde_json::to_value(&report).map_err(|e| e.to_string())
}

/// The breaker and the queue.
fn status(settings: &Settings) -> Result<Value, String> {
    let now = wall_ms();
    let (state, state_error) = peek_state(&settings.paths);
    let breaker = Breaker::of(&state);
    let stats = read_queue(&settings.paths)
        .and_then(|mut q| q.stats(now))
        .map_err(|e| e.to_string())?;
    tracing::info!("breaker {}", breaker.line(now));
    tracing::info!(
        "queue: {} ready, {} waiting for a retry, {} in progress, {} dead-lettered",
        stats.ready_now,
        stats.waiting_for_retry,
        stats.leased,
        stats.dead_lettered
    );
    if let Some(e) = &state_error {
        tracing::warn!("state: {e}");
    }
    Ok(json!({ "breaker": breaker, "queue": stats, "state_error": state_error }))
}

fn dead_letters(settings: &Settings) -> Result<Value, String> {
    let dead = read_queue(&settings.paths)
        .and_then(|mut q| q.dead_letters())
        .map_err(|e| e.to_string())?;
    for d in &dead {
        tracing::info!("{} {}: {}", d.job.key, d.class, d.error);
    }
    tracing::info!(
        "{}",
        engine::count(dead.len() as u64, "dead-lettered job", "dead-lettered jobs")
    );
    serde_json::to_value(&dead).map_err(|e| e.to_string())
}

/// Queues every scene (or those updated since `since`), a page at a time, one append per page.
async fn sync(
    stash: &Stash,
    plugin: &PluginSettings,
    settings: &Settings,
    since: Option<u64>,
) -> Result<Value, String> {
    let since = since.map(crate::time::stash_time);
    let mut queue = open_queue(&settings.paths).map_err(|e| e.to_string())?;
    let (mut seen, mut queued, mut skipped) = (0u64, 0u64, 0u64);
    for page in 1.. {
        let got = stash
            .scenes(page, PAGE, since.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        if got.scenes.is_empty() {
            break;
        }
        let now = wall_ms();
        let mut jobs = Vec::with_capacity(got.scenes.len());
        for scene in &got.scenes {
            match job(scene, plugin, now) {
                Ok(job) if job.check().is_ok() => jobs.push(job),
                Ok(_) | Err(_) => skipped += 1,
            }
        }
        queue
            .enqueue_many(jobs.iter().map(|j| (j.key(), j)), now)
            .map_err(|e| format!("could not queue scenes: {e}"))?;
        seen += got.scenes.len() as u64;
        queued += jobs.len() as u64;
        log::progress(seen as f64 / got.count.max(1) as f64);
        if seen >= got.count || (got.scenes.len() as u64) < PAGE {
            break;
        }
    }
    tracing::info!(
        "queued {queued} scene(s) for Plex{}; run Process Queue to sync them",
        if skipped > 0 {
            format!(", skipped {skipped} without files")
        } else {
            String::new()
        }
    );
    Ok(json!({ "scenes": seen, "queued": queued, "skipped": skipped }))
}

/// Engine events as Stash log lines, and progress as jobs finish (at most every 1% or 2 s).
struct Progress {
    expected: u64,
    done: u64,
    shown: f64,
    last: Instant,
}

impl Progress {
    fn new(expected: usize) -> Progress {
        log::progress(0.0);
        Progress {
            expected: expected as u64,
            done: 0,
            shown: 0.0,
            last: Instant::now(),
        }
    }
}

impl EventSink for Progress {
    fn emit(&mut self, event: Event, _now: u64) {
        logging::event(&event);
        if let Event::Job { outcome, .. } = &event {
            // A job counts once, when it is finished with.
            if matches!(outcome, JobOutcome::LeaseLost | JobOutcome::Retry { .. }) {
                return;
            }
            self.done += 1;
            self.expected = self.expected.max(self.done);
            let fraction = self.done as f64 / self.expected as f64;
            if fraction - self.shown >= 0.01 || self.last.elapsed() >= Duration::from_secs(2) {
                self.shown = fraction;
                self.last = Instant::now();
                log::progress(fraction);
            }
        }
    }
}
