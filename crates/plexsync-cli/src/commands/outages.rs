//! `plexsync outages`: outage history.

use crate::text::say;
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
    /// The window Plex is known to go away in (its setting, or learned from outages).
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<engine::Window>,
    /// Of `recent`, those that began inside `window`, by `started_at`.
    in_window: Vec<u64>,
}

/// Prints the outage history, newest first.
pub(crate) fn run(settings: &Settings, limit: usize, json: bool) -> Result<ExitCode, Failure> {
    let now = wall_ms();
    let (state, error) = peek_state(&settings.paths);
    if let Some(e) = error {
        return Err(Failure::Failed(e));
    }
    let history = &state.outages;
    let offset = crate::time::local_offset_ms(now);
    let window = state.known_window(now, offset);
    let recent: Vec<&engine::Outage> = history.recent.iter().rev().take(limit).collect();
    let in_window = recent
        .iter()
        .filter(|o| {
            window.is_some_and(|w| {
                w.contains(o.started_at, crate::time::local_offset_ms(o.started_at))
            })
        })
        .map(|o| o.started_at)
        .collect();
    let report = Report {
        current: history.current.as_ref(),
        recent,
        reliability: history.reliability(now),
        window,
        in_window,
    };
    if json {
        return print_json(&report).map(|()| ExitCode::SUCCESS);
    }
    if let Some(o) = report.current {
        say!(
            "ongoing      since {} ({}), {}, {} failed during it, cause {}, last checked {}",
            rfc3339(o.started_at),
            engine::duration(o.duration(now)),
            count(o.probes, "probe", "probes"),
            count(o.jobs_affected, "job", "jobs"),
            o.story(),
            ago(o.last_evidence_at, now)
        );
    }
    if report.recent.is_empty() && report.current.is_none() {
        say!("no outages on record");
    }
    for o in &report.recent {
        say!(
            "{}  {:>12}  {}, {}, {} failed during it, {}{}",
            rfc3339(o.started_at),
            engine::duration(o.duration(now)),
            o.story(),
            count(o.probes, "probe", "probes"),
            count(o.jobs_affected, "job", "jobs"),
            o.ended_by.as_deref().unwrap_or(""),
            if report.in_window.contains(&o.started_at) {
                " (inside the known window)"
            } else {
                ""
            }
        );
    }
    say!("{}", reliability_line(&report.reliability));
    if let Some(w) = &report.window {
        say!("{}", window_line(w));
    }
    Ok(ExitCode::SUCCESS)
}

/// The window Plex is known to go away in, for people.
pub(crate) fn window_line(w: &engine::Window) -> String {
    format!(
        "window {:02}:00 to {:02}:00 local time, {}",
        w.start,
        w.end,
        match w.source {
            engine::WindowSource::Plex => "Plex's scheduled maintenance (its setting)",
            engine::WindowSource::Learned =>
                "learned: outages began then on 3 or more of the last 7 days",
        }
    )
}

/// Outages, MTTR, and (after a day of watching, when they mean something) MTBF and
/// availability.
pub(crate) fn reliability_line(r: &engine::Reliability) -> String {
    let head = format!(
        "{} in {} watched",
        count(r.outages, "outage", "outages"),
        engine::duration(r.watched_ms)
    );
    let mttr = r.mttr_ms.map_or(String::new(), |ms| {
        format!(", MTTR {}", engine::duration(ms))
    });
    match (r.mtbf_ms, r.availability) {
        (mtbf, Some(a)) => format!(
            "{head}{mttr}{}, availability {:.3} %",
            mtbf.map_or(String::new(), |ms| format!(
                ", MTBF {}",
                engine::duration(ms)
            )),
            a * 100.0
        ),
        _ => format!(
            "{head}{mttr}; MTBF and availability after {} of watching",
            engine::duration(engine::MEANINGFUL_WATCH_MS)
        ),
    }
}
