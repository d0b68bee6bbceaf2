//! `plexsync health`: the deep health check by hand, and for Docker and systemd. It creates,
//! moves and writes nothing, and waits at most a second for a lock.

use std::process::ExitCode;

use breaker_core::State;
use engine::{EngineState, wall_ms};
use persist::{Stats, WorkerLock};
use plex_client::{HealthReport, PlexClient, ServerInfo};
use serde::Serialize;

use super::{Failure, peek_state, print_json, read_queue};
use crate::config::Settings;
use crate::time::ago;

#[derive(Serialize)]
struct Report {
    healthy: bool,
    exit_status: u8,
    url: String,
    plex: HealthReport,
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
    let config = settings.plex()?;
    let url = config.redacted_url();
    let client = PlexClient::new(config).map_err(|e| Failure::Config(e.to_string()))?;
    let plex = client.check_health().await;
    let server = if plex.healthy {
        client.server_info().await.ok()
    } else {
        None
    };
    let now = wall_ms();
    let paths = &settings.paths;
    let (state, state_error) = peek_state(paths);
    let queue = read_queue(paths)
        .and_then(|mut q| q.stats(now))
        .map_err(|e| e.to_string());
    let worker_pid = WorkerLock::holder(&paths.worker_lock)
        .ok()
        .flatten()
        .flatten();
    let breaker = Breaker::of(&state);
    let mut warnings = Vec::new();
    if let Ok(stats) = &queue {
        let waiting = stats.pending + stats.leased;
        if waiting > 0 && matches!(breaker.state, State::Open | State::ForcedOpen) {
            warnings.push(if breaker.state == State::ForcedOpen {
                format!(
                    "{waiting} job(s) wait while the breaker is opened by hand; `plexsync breaker reset` lets them through"
                )
            } else {
                format!(
                    "{waiting} job(s) wait while the breaker is OPEN; they are synced once Plex is back"
                )
            });
        }
    }
    if let Some(halt) = &state.halt {
        warnings.push(format!(
            "work stopped {}: {}",
            ago(halt.at, now),
            halt.message
        ));
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
    if json {
        print_json(&report)?;
    } else {
        print_text(&report, now);
    }
    Ok(ExitCode::from(exit_status))
}

fn print_text(report: &Report, now: u64) {
    let verdict = match (&report.plex.failure, report.healthy) {
        (_, true) => "healthy".to_owned(),
        (Some(e), _) if e.is_configuration() => format!("misconfigured ({})", e.kind()),
        (Some(e), _) => format!("unhealthy ({})", e.kind()),
        (None, false) => "unhealthy".to_owned(),
    };
    println!("Plex at {}: {verdict}", report.url);
    for stage in &report.plex.stages {
        println!(
            "  {:<10} {:<6} {:>8.1} ms",
            stage.stage.as_str(),
            if stage.passed { "ok" } else { "FAILED" },
            stage.latency.as_secs_f64() * 1_000.0
        );
    }
    if let Some(failure) = &report.plex.failure {
        println!("  {failure}");
    }
    match (&report.server, &report.plex.identity) {
        (Some(server), _) => println!(
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
        ),
        (None, Some(identity)) => println!(
            "server       {} (Plex Media Server {})",
            identity.machine_id, identity.version
        ),
        (None, None) => {}
    }
    println!("breaker      {}", report.breaker.line(now));
    match &report.queue {
        Ok(stats) => println!(
            "queue        {} ready, {} waiting for a retry, {} in progress, {} dead-lettered",
            stats.ready_now, stats.waiting_for_retry, stats.leased, stats.dead_lettered
        ),
        Err(e) => println!("queue        unreadable: {e}"),
    }
    if let Some(pid) = report.worker_pid {
        println!("worker       pid {pid} is processing the queue");
    }
    if let Some(e) = &report.state_error {
        println!("state        {e}");
    }
    for warning in &report.warnings {
        println!("warning: {warning}");
    }
}
