//! `plexsync outages`: outage history.

use std::process::ExitCode;

use engine::{count, wall_ms};
use serde::Serialize;

use super::{Failure, peek_state, print_json};
use crate::config::Settings;
use crate::time::{ago, rfc3339};

#[derive(Serialize)]
struct Report<'a> {
    current: Option<&'a engine::Outage>,
    recent: Vec<&'a engine::Outage>,
    reliability: engine::Reliability,
}

/// Prints the outage history, newest first.
pub(crate) fn run(settings: &Settings, limit: usize, json: bool) -> Result<ExitCode, Failure> {
    let now = wall_ms();
    let (state, error) = peek_state(&settings.paths);
    if let Some(e) = error {
        return Err(Failure::Failed(e));
    }
    let history = &state.outages;
    let report = Report {
        current: history.current.as_ref(),
        recent: history.recent.iter().rev().take(limit).collect(),
        reliability: history.reliability(now),
    };
    if json {
        return print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    if let Some(o) = report.current {
        println!(
            "ongoing      since {} ({}), {}, {} held back, cause {}, last checked {}",
            rfc3339(o.started_at),
            engine::duration(o.duration(now)),
            count(o.probes, "probe", "probes"),
            count(o.jobs_affected, "job", "jobs"),
            o.cause,
            ago(o.last_evidence_at, now)
        );
    }
    if report.recent.is_empty() && report.current.is_none() {
        println!("no outages on record");
    }
    for o in &report.recent {
        println!(
            "{}  {:>12}  {:<10} {}, {} held back, {}",
            rfc3339(o.started_at),
            engine::duration(o.duration(now)),
            o.cause,
            count(o.probes, "probe", "probes"),
            count(o.jobs_affected, "job", "jobs"),
            o.ended_by.as_deref().unwrap_or("")
        );
    }
    let r = &report.reliability;
    let opt = |ms: Option<u64>| ms.map_or("n/a".into(), engine::duration);
    println!(
        "{} in {}; MTTR {}, MTBF {}, availability {}",
        count(r.outages, "outage", "outages"),
        engine::duration(r.watched_ms),
        opt(r.mttr_ms),
        opt(r.mtbf_ms),
        r.availability
            .map_or("n/a".into(), |a| format!("{:.3} %", a * 100.0))
    );
    Ok(ExitCode::SUCCESS)
}
