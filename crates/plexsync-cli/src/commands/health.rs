//! `plexsync health`: the deep health check by hand, and for Docker and systemd. It creates,
//! moves and writes nothing, and waits at most a second for a lock.

use crate::text::say;
use std::process::ExitCode;
use std::time::Duration;

use breaker_core::State;
use engine::{EngineState, wall_ms};
use persist::{Stats, WorkerLock};
use plex_client::{HealthReport, PlexClient, ServerInfo};
use serde::Serialize;

use super::storage;
use super::{Failure, peek_state, print_json};
use crate::config::Settings;
use crate::time::ago;

/// The health check's findings, as `plexsync health --json` prints them.
#[derive(Serialize)]
pub(crate) struct Report {
    pub(crate) healthy: bool,
    pub(crate) exit_status: u8,
    url: String,
    pub(crate) plex: HealthReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<ServerInfo>,
    breaker: Breaker,
    #[serde(with = "super::stats_or_error")]
    queue: Result<Stats, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_pid: Option<u32>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct Breaker {
    pub(crate) state: State,
    pub(crate) since: Option<u64>,
    pub(crate) generation: u64,
}

impl Breaker {
    pub(crate) fn of(state: &EngineState) -> Breaker {
        Breaker {
            state: state.breaker.state(),
            since: (state.breaker.since() > 0).then_some(state.breaker.since()),
            generation: state.breaker.generation(),
        }
    }

    pub(crate) fn line(&self, now: u64) -> String {
        match self.since {
            Some(since) => format!("{} since {}", self.state, ago(since, now)),
            None => self.state.to_string(),
        }
    }
}

/// Runs the check and prints the report; exit 0 healthy, 1 unhealthy, 2 misconfigured.
pub(crate) async fn run(settings: &Settings, json: bool) -> Result<ExitCode, Failure> {
    let (report, now) = check(settings).await?;
    if json {
        print_json(&report)?;
    } else {
        for line in text(&report, now) {
            say!("{line}");
        }
    }
    Ok(ExitCode::from(report.exit_status))
}

/// Runs the check, reading but never changing the queue, and changing the state only to forget
/// a stop the check shows is over; the report and when.
pub(crate) async fn check(settings: &Settings) -> Result<(Report, u64), Failure> {
    let config = settings.plex()?;
    let url = config.redacted_url();
    let client = PlexClient::new(config).map_err(|e| Failure::Config(e.to_string()))?;
    let (plex, server) = client.check_health_and_server().await;
    let now = wall_ms();
    let paths = &settings.paths;
    let (state, state_error) = peek_state(paths);
    let (queue, storage) = storage::read(&paths.queue, now);
    let worker_pid = WorkerLock::holder(&paths.worker_lock)
        .ok()
        .flatten()
        .flatten();
    let breaker = Breaker::of(&state);
    let mut warnings = Vec::new();
    if let Ok(stats) = &queue {
        let waiting = stats.pending + stats.leased;
        let (jobs, wait) = if waiting == 1 {
            ("job", "waits")
        } else {
            ("jobs", "wait")
        };
        if waiting > 0 && matches!(breaker.state, State::Open | State::ForcedOpen) {
            warnings.push(if breaker.state == State::ForcedOpen {
                format!(
                    "{waiting} {jobs} {wait} while the breaker is opened by hand; `plexsync breaker reset` lets them through"
                )
            } else {
                format!(
                    "{waiting} {jobs} {wait} while the breaker is OPEN; synced once Plex is back"
                )
            });
        }
    }
    warnings.extend(storage.sentences());
    if let Some(halt) = &state.halt {
        warnings.push(format!(
            "work stopped {}: {}",
            ago(halt.at, now),
            halt.message
        ));
    }
    // A stop for a setting (a refused token) that this check shows fixed is over: forget it,
    // so that `status` no longer reports it. Nothing else is written, and a busy state file
    // is left for the next worker to correct.
    if plex.healthy && state.halt.is_some() && state_error.is_none() {
        let cleared = super::state_file(paths)
            .with_lock_timeout(Duration::from_millis(200))
            .update_if_changed(|s| s.halt = None);
        if cleared.is_ok() {
            warnings.retain(|w| !w.starts_with("work stopped"));
        }
    }
    let exit_status = match &plex.failure {
        None if plex.healthy => 0,
        Some(e) if e.is_configuration() => 2,
        _ => 1,
    };
    let report = Report {
        healthy: plex.healthy,
        exit_status,
        url,
        plex,
        server,
        breaker,
        queue,
        state_error,
        worker_pid,
        warnings,
    };
    Ok((report, now))
}

/// The report for people, line by line.
pub(crate) fn text(report: &Report, now: u64) -> Vec<String> {
    let mut lines = Vec::new();
    let verdict = match (&report.plex.failure, report.healthy) {
        (_, true) => "healthy".to_owned(),
        (Some(e), _) if e.is_configuration() => format!("misconfigured ({})", e.kind()),
        (Some(e), _) => format!("unhealthy ({})", e.kind()),
        (None, false) => "unhealthy".to_owned(),
    };
    lines.push(format!("Plex at {}: {verdict}", report.url));
    for stage in &report.plex.stages {
        lines.push(format!(
            "  {:<10} {:<6} {:>8.1} ms",
            stage.stage.as_str(),
            if stage.passed { "ok" } else { "FAILED" },
            stage.latency.as_secs_f64() * 1_000.0
        ));
    }
    if let Some(failure) = &report.plex.failure {
        lines.push(format!("  {failure}"));
    }
    match (&report.server, &report.plex.identity) {
        (Some(server), _) => lines.push(format!(
            "server       {} (Plex Media Server {}{})",
            if server.name.is_empty() {
                "unnamed"
            } else {
                &server.name
            },
            server.version,
            if server.platform.is_empty() {
                String::new()
            } else {
                format!(" on {}", server.platform)
            }
        )),
        (None, Some(identity)) => lines.push(format!(
            "server       {} (Plex Media Server {})",
            identity.machine_id, identity.version
        )),
        (None, None) => {}
    }
    lines.push(format!("breaker      {}", report.breaker.line(now)));
    match &report.queue {
        Ok(stats) => lines.push(format!(
            "queue        {} ready, {} waiting for a retry, {} in progress, {} dead-lettered",
            stats.ready_now, stats.waiting_for_retry, stats.leased, stats.dead_lettered
        )),
        Err(e) => lines.push(format!("queue        unreadable: {e}")),
    }
    if let Some(pid) = report.worker_pid {
        lines.push(format!("worker       pid {pid} is processing the queue"));
    }
    if let Some(e) = &report.state_error {
        lines.push(format!("state        {e}"));
    }
    for warning in &report.warnings {
        lines.push(format!("warning: {warning}"));
    }
    lines
}
