//! `plexsync status`: the breaker, the queue, the last probes, outage history and the last
//! sync, from what is stored; it asks Plex nothing and changes nothing.

use crate::text::say;
use std::fmt::Write;
use std::process::ExitCode;

use breaker_core::State;
use engine::{EngineState, Reliability, count, wall_ms};
use persist::{Stats, WorkerLock};
use serde::Serialize;

use super::health::Breaker;
use super::storage::{self, Storage};
use super::{Failure, peek_state, print_json};
use crate::config::Settings;
use crate::time::{ago, rfc3339};

#[derive(Serialize)]
struct Report<'a> {
    now: u64,
    breaker: Breaker,
    #[serde(with = "super::stats_or_error")]
    queue: Result<Stats, String>,
    storage: Storage,
    #[serde(skip_serializing_if = "Option::is_none")]
    worker_pid: Option<u32>,
    probes: &'a [engine::ProbeRecord],
    outage: Option<&'a engine::Outage>,
    recent_outages: Vec<&'a engine::Outage>,
    reliability: Reliability,
    last_sync: Option<&'a engine::LastSync>,
    halt: Option<&'a engine::Halt>,
    /// The window Plex is known to go away in (its setting, or learned from outages).
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<engine::Window>,
    /// What the running worker's watch on Plex last heard (none without a `plexsync run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    watch: Option<&'a engine::WatchState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_error: Option<String>,
}

/// Prints the status as text, JSON or Prometheus metrics.
pub(crate) fn run(settings: &Settings, json: bool, prometheus: bool) -> Result<ExitCode, Failure> {
    let now = wall_ms();
    let paths = &settings.paths;
    let (state, state_error) = peek_state(paths);
    let (queue, storage) = storage::read(&paths.queue, now);
    let probes: Vec<engine::ProbeRecord> = state.probes.iter().cloned().collect();
    let worker_pid = WorkerLock::holder(&paths.worker_lock)
        .ok()
        .flatten()
        .flatten();
    let report = Report {
        now,
        breaker: Breaker::of(&state),
        worker_pid,
        // A watch is only as alive as the worker that keeps it (one killed leaves its last
        // word in the state).
        watch: state.watch.as_ref().filter(|_| worker_pid.is_some()),
        probes: &probes,
        outage: state.outages.current.as_ref(),
        recent_outages: state.outages.recent.iter().rev().take(5).collect(),
        reliability: state.outages.reliability(now),
        last_sync: state.last_sync.as_ref(),
        halt: state.halt.as_ref(),
        window: state.known_window(now, crate::time::local_offset_ms(now)),
        queue,
        storage,
        state_error,
    };
    if prometheus {
        print!("{}", metrics(&state, &report));
    } else if json {
        print_json(&report)?;
    } else {
        print_text(&report);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(r: &Report<'_>) {
    let now = r.now;
    say!("breaker      {}", r.breaker.line(now));
    match &r.queue {
        Ok(s) => {
            say!(
                "queue        {} ready, {} waiting for a retry, {} in progress, {} dead-lettered",
                s.ready_now,
                s.waiting_for_retry,
                s.leased,
                s.dead_lettered
            );
            if let Some(age) = s.oldest_age_ms {
                say!(
                    "             oldest job queued {}",
                    ago(now.saturating_sub(age), now)
                );
            }
        }
        Err(e) => say!("queue        unreadable: {e}"),
    }
    for (i, sentence) in r.storage.sentences().iter().enumerate() {
        let head = if i == 0 { "storage" } else { "" };
        say!("{head:<12} {sentence}");
    }
    if let Some(pid) = r.worker_pid {
        say!("worker       pid {pid} is processing the queue");
    }
    if let Some(w) = r.watch {
        let via = w.via.map_or("Plex", engine::WatchVia::as_str);
        let how_long = engine::duration(now.saturating_sub(w.since));
        if w.connected {
            say!("watch        connected to Plex ({via}) for {how_long}");
        } else {
            say!("watch        lost Plex ({via}) {how_long} ago; checking it");
        }
        if let Some(o) = &w.optimising {
            say!(
                "             Plex is busy: {} (since {}): jobs wait until it is done",
                o.title,
                ago(o.since, now)
            );
        }
        for b in &w.busy {
            say!(
                "             Plex is busy: {} (since {})",
                b.title,
                ago(b.since, now)
            );
        }
    }
    match r.last_sync {
        Some(last) => say!(
            "last sync    {} {} ({})",
            last.key,
            last.outcome,
            ago(last.at, now)
        ),
        None => say!("last sync    none yet"),
    }
    if let Some(halt) = r.halt {
        say!("stopped      {}: {}", ago(halt.at, now), halt.message);
    }
    if !r.probes.is_empty() {
        say!("last probes");
        for p in r.probes.iter().rev().take(5) {
            let verdict = match &p.report.failure {
                None => "healthy".to_owned(),
                Some(e) => format!(
                    "{} at {}",
                    e.kind(),
                    p.report
                        .stages
                        .last()
                        .map_or("connect", |s| s.stage.as_str())
                ),
            };
            say!(
                "  {:<22} {verdict} ({:.1} ms)",
                ago(p.at, now),
                p.report.elapsed.as_secs_f64() * 1_000.0
            );
        }
    }
    if let Some(o) = r.outage {
        say!(
            "outage       ongoing since {} ({}): {}, {} failed during it, last checked {}",
            rfc3339(o.started_at),
            engine::duration(o.duration(now)),
            count(o.probes, "probe", "probes"),
            count(o.jobs_affected, "job", "jobs"),
            ago(o.last_evidence_at, now)
        );
    }
    let rel = &r.reliability;
    say!("reliability  {}", super::outages::reliability_line(rel));
    if let Some(w) = &r.window {
        say!("maintenance  {}", super::outages::window_line(w));
    }
    for o in &r.recent_outages {
        say!(
            "  {}  {:>12}  {}, {}, {} failed during it",
            rfc3339(o.started_at),
            engine::duration(o.duration(now)),
            o.story(),
            count(o.probes, "probe", "probes"),
            count(o.jobs_affected, "job", "jobs")
        );
    }
    if let Some(e) = &r.state_error {
        say!("state        {e}");
    }
}

/// The node_exporter textfile format.
fn metrics(state: &EngineState, r: &Report<'_>) -> String {
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, samples: &[(&str, f64)]| {
        let _ = writeln!(out, "# HELP plexsync_{name} {help}");
        let _ = writeln!(out, "# TYPE plexsync_{name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "plexsync_{name}{labels} {value}");
        }
    };
    let breaker = match state.breaker.state() {
        State::Closed => 0.0,
        State::HalfOpen => 1.0,
        State::Open => 2.0,
        State::ForcedOpen => 3.0,
    };
    gauge(
        "breaker_state",
        "Circuit breaker: 0 closed, 1 half-open, 2 open, 3 opened by hand.",
        &[("", breaker)],
    );
    gauge(
        "breaker_state_since_seconds",
        "When the breaker entered its state (Unix time; 0 if never).",
        &[("", state.breaker.since() as f64 / 1e3)],
    );
    if let Ok(s) = &r.queue {
        gauge(
            "queue_jobs",
            "Jobs in the queue by state.",
            &[
                ("{state=\"ready\"}", s.ready_now as f64),
                ("{state=\"waiting\"}", s.waiting_for_retry as f64),
                ("{state=\"leased\"}", s.leased as f64),
                ("{state=\"dead_lettered\"}", s.dead_lettered as f64),
            ],
        );
    }
    gauge(
        "outage_ongoing",
        "1 while Plex is down.",
        &[("", f64::from(u8::from(state.outages.current.is_some())))],
    );
    gauge(
        "outages_total",
        "Outages that have ended.",
        &[("", state.outages.count as f64)],
    );
    gauge(
        "downtime_seconds_total",
        "Time Plex was down in ended outages.",
        &[("", state.outages.downtime_ms as f64 / 1e3)],
    );
    let rel = &r.reliability;
    if let Some(a) = rel.availability {
        gauge(
            "availability_ratio",
            "Share of the watched time Plex was up.",
            &[("", a)],
        );
    }
    if let Some(ms) = rel.mttr_ms {
        gauge(
            "mttr_seconds",
            "Mean time to recovery.",
            &[("", ms as f64 / 1e3)],
        );
    }
    if let Some(ms) = rel.mtbf_ms {
        gauge(
            "mtbf_seconds",
            "Mean time between failures.",
            &[("", ms as f64 / 1e3)],
        );
    }
    if let Some(p) = state.probes.back() {
        gauge(
            "last_probe_healthy",
            "1 if the last probe found Plex healthy.",
            &[("", f64::from(u8::from(p.report.healthy)))],
        );
        gauge(
            "last_probe_timestamp_seconds",
            "When the last probe ran (Unix time).",
            &[("", p.at as f64 / 1e3)],
        );
        gauge(
            "last_probe_duration_seconds",
            "How long the last probe took.",
            &[("", p.report.elapsed.as_secs_f64())],
        );
    }
    if let Some(last) = &state.last_sync {
        gauge(
            "last_sync_timestamp_seconds",
            "When a job last reached Plex (Unix time).",
            &[("", last.at as f64 / 1e3)],
        );
    }
    out
}
