//! `plexsync queue`: every queued job, with why it waits and when it runs next, from what is
//! stored; it asks Plex nothing and changes nothing.

use crate::text::say;
use std::process::ExitCode;

use breaker_core::State;
use engine::wall_ms;
use persist::Job;
use serde::Serialize;

use super::{Failure, peek_state, print_json, read_queue};
use crate::config::Settings;
use crate::time::{ago, rfc3339};

/// One job as `queue` shows it.
#[derive(Serialize)]
struct Row<'a> {
    id: u64,
    key: &'a str,
    /// `ready`, `waiting_for_retry`, or `waiting_for_plex`.
    state: &'static str,
    /// When it runs next (ms since the epoch): now, or its retry time.
    next_at: u64,
    /// Why it waits, for people.
    why: String,
    enqueued_at: u64,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_failure: Option<&'a persist::Attempt>,
}

/// Lists the queue as text or JSON.
pub(crate) fn run(settings: &Settings, json: bool) -> Result<ExitCode, Failure> {
    let now = wall_ms();
    let paths = &settings.paths;
    let mut queue = read_queue(paths)?;
    let mut jobs = queue.jobs()?;
    let (state, _) = peek_state(paths);
    let breaker = state.breaker.state();
    let blocked = matches!(breaker, State::Open | State::ForcedOpen);
    jobs.sort_by_key(|j| (j.next_retry_at.unwrap_or(0), j.enqueued_at, j.id.get()));
    let rows: Vec<Row<'_>> = jobs.iter().map(|j| row(j, now, blocked, breaker)).collect();
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        say!("the queue is empty");
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        let next = match r.next_at {
            at if at > now => format!("in {}", engine::duration(at - now)),
            _ => "next".to_owned(),
        };
        say!(
            "{:<14} {:<18} runs {:<12} queued {}  {}",
            r.key,
            r.state,
            next,
            ago(r.enqueued_at, now),
            r.why
        );
    }
    let count = |state: &str| rows.iter().filter(|r| r.state == state).count();
    say!(
        "{}: {} ready, {} waiting for a retry, {} waiting for Plex",
        engine::count(rows.len() as u64, "job", "jobs"),
        count("ready"),
        count("waiting_for_retry"),
        count("waiting_for_plex"),
    );
    Ok(ExitCode::SUCCESS)
}

fn row(job: &Job, now: u64, blocked: bool, breaker: State) -> Row<'_> {
    let last = job.history.last();
    let (state, next_at, why) = match job.next_retry_at {
        Some(at) if at > now => (
            "waiting_for_retry",
            at,
            match last {
                Some(a) => format!(
                    "{} {}: {}",
                    class_words(&a.class),
                    ago(a.at, now),
                    crate::text::printable(&a.error)
                ),
                None => format!("retry at {}", rfc3339(at)),
            },
        ),
        _ if blocked => (
            "waiting_for_plex",
            now,
            format!("the breaker is {breaker}: it runs once Plex is back"),
        ),
        _ => (
            "ready",
            now,
            match last {
                Some(a) => format!(
                    "ready again after {} {}",
                    class_words(&a.class),
                    ago(a.at, now)
                ),
                None => "ready".to_owned(),
            },
        ),
    };
    Row {
        id: job.id.get(),
        key: &job.key,
        state,
        next_at,
        why,
        enqueued_at: job.enqueued_at,
        attempts: job.attempts,
        last_failure: last,
    }
}

/// A stored failure class in words.
pub(crate) fn class_words(class: &str) -> String {
    match class.parse::<engine::ErrorClass>() {
        Ok(engine::ErrorClass::NotFound) => "not in Plex yet (waiting for a scan)".to_owned(),
        Ok(engine::ErrorClass::ServerDown) => "Plex was down".to_owned(),
        Ok(c) => format!("failed ({c})"),
        Err(_) => "failed".to_owned(),
    }
}
