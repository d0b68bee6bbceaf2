//! What the engine reports, as values. The CLI prints [`Event::render`]; the simulator counts
//! the same lines, so "how many log lines an outage costs" is measured on what users see.

use breaker_core::{Cause, State, Transition};
use scheduler::{ErrorClass, Scope};
use serde::Serialize;

use crate::outage::Outage;
use crate::state::ProbeRecord;

/// How loud an event is. Lines at [`Level::Info`] and above are shown by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Only with `-v`.
    Debug,
    /// Shown by default.
    Info,
    /// Something a user should know.
    Warn,
    /// Work stopped.
    Error,
}

/// Why the engine stopped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Nothing is ready: the queue is empty, or every job waits for a retry.
    Drained,
    /// Asked to stop (a signal, or the end of a simulation).
    Requested,
    /// The settings are wrong (a refused token, no Plex at the URL); the message says what to
    /// fix. Jobs were put back untouched.
    Configuration(String),
    /// Plex has been down longer than `process` waits, with jobs waiting.
    OutageTooLong {
        /// When the outage began.
        since: u64,
    },
    /// The breaker was opened by hand; `plexsync breaker reset` resumes.
    ForcedOpen,
}

/// What became of one job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobOutcome {
    /// Plex was changed: this many query pairs were sent.
    Updated {
        /// Pairs sent.
        sent: usize,
    },
    /// Plex already matched; nothing was sent.
    Unchanged,
    /// It failed and will run again at `at`.
    Retry {
        /// The earliest time it runs again (ms since the epoch).
        at: u64,
        /// The failure's class.
        class: ErrorClass,
        /// Whether it spent one of the job's retries.
        counted: bool,
        /// What went wrong.
        error: String,
    },
    /// It failed for good and went to the dead-letter queue.
    DeadLettered {
        /// The failure's class.
        class: ErrorClass,
        /// What went wrong.
        error: String,
    },
    /// Another process finished or took it while it ran: not an error.
    LeaseLost,
}

/// Something the engine did or saw.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum Event {
    /// The breaker changed state.
    Transition {
        /// The change.
        transition: Transition,
        /// When it opened after failures, the first of them, for people: the URL and what
        /// to check.
        #[serde(skip_serializing_if = "Option::is_none")]
        first_failure: Option<String>,
    },
    /// A probe ran.
    Probe {
        /// What it found.
        record: ProbeRecord,
        /// When the next probe is due, if one is (ms since the epoch).
        #[serde(skip_serializing_if = "Option::is_none")]
        next_at: Option<u64>,
    },
    /// A job was worked on.
    Job {
        /// When its fate was decided (ms since the epoch).
        at: u64,
        /// The queue's key for it, e.g. `scene-42`.
        key: String,
        /// What became of it.
        outcome: JobOutcome,
    },
    /// A partial scan was asked for, so that Plex finds a file it does not have yet.
    Scan {
        /// When the request came back (ms since the epoch).
        at: u64,
        /// The section.
        section: String,
        /// The folder.
        folder: String,
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// Plex is still down (one line every so often, not one per probe).
    OutageSummary {
        /// When the line was due (ms since the epoch).
        at: u64,
        /// The outage so far.
        outage: Outage,
    },
    /// Plex is back.
    OutageEnded {
        /// When the breaker closed (ms since the epoch).
        at: u64,
        /// The outage, closed.
        outage: Outage,
    },
    /// The watch on Plex heard something worth a line.
    Watch {
        /// When (ms since the epoch).
        at: u64,
        /// What.
        what: WatchEvent,
    },
    /// Work stopped.
    Stopped {
        /// When the engine decided to stop (ms since the epoch).
        at: u64,
        /// What ended the work.
        reason: StopReason,
    },
}

impl Event {
    /// How loud it is.
    pub fn level(&self) -> Level {
        match self {
            Event::Transition { transition, .. } => match transition.to {
                State::Open | State::ForcedOpen => Level::Warn,
                State::HalfOpen | State::Closed => Level::Info,
            },
            Event::Probe { .. } => Level::Debug,
            Event::Job { outcome, .. } => match outcome {
                JobOutcome::Updated { .. } | JobOutcome::Unchanged | JobOutcome::LeaseLost => {
                    Level::Debug
                }
                // A job held back by an outage says nothing the breaker's lines do not, nor
                // one waiting for a scan that the scan's own line does not.
                JobOutcome::Retry { class, .. } => match class {
                    ErrorClass::NotFound => Level::Debug,
                    _ => match class.scope() {
                        Scope::Server | Scope::Settings | Scope::None => Level::Debug,
                        Scope::Job => Level::Info,
                    },
                },
                JobOutcome::DeadLettered { .. } => Level::Warn,
            },
            Event::Scan { error: None, .. } => Level::Info,
            Event::Scan { .. } => Level::Warn,
            Event::OutageSummary { .. } => Level::Warn,
            Event::OutageEnded { .. } => Level::Info,
            Event::Watch { what, .. } => match what {
                WatchEvent::Connected { first: true, .. }
                | WatchEvent::Optimising { .. }
                | WatchEvent::Optimised { .. } => Level::Info,
                WatchEvent::Connected { first: false, .. } | WatchEvent::Lost => Level::Debug,
            },
            Event::Stopped { reason, .. } => match reason {
                StopReason::Configuration(_) => Level::Error,
                StopReason::OutageTooLong { .. } | StopReason::ForcedOpen => Level::Warn,
                StopReason::Drained | StopReason::Requested => Level::Info,
            },
        }
    }

    /// One line for a log, without time or level (the logger adds those).
    pub fn render(&self) -> String {
        match self {
            Event::Transition {
                transition: t,
                first_failure,
            } => {
                let line = format!("breaker {} -> {}: {}", t.from, t.to, cause_text(t.cause));
                match first_failure {
                    Some(first) => format!("{line}; the first: {first}"),
                    None => line,
                }
            }
            Event::Probe { record, .. } => {
                let report = &record.report;
                let stages: Vec<String> = report
                    .stages
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {:.1} ms",
                            s.stage.as_str(),
                            if s.passed { "ok" } else { "failed" },
                            s.latency.as_secs_f64() * 1_000.0
                        )
                    })
                    .collect();
                match &report.failure {
                    None => format!("probe: healthy ({})", stages.join(", ")),
                    Some(e) => format!("probe: {} ({}): {e}", e.kind(), stages.join(", ")),
                }
            }
            Event::Job { at, key, outcome } => match outcome {
                JobOutcome::Updated { sent } => format!("{key}: updated in Plex ({sent} values)"),
                JobOutcome::Unchanged => format!("{key}: already up to date in Plex"),
                JobOutcome::Retry {
                    at: next,
                    class,
                    counted,
                    error,
                } => format!(
                    "{key}: {class}, retry in {}{}: {error}",
                    duration(next.saturating_sub(*at)),
                    if *counted { "" } else { " (no retry spent)" }
                ),
                JobOutcome::DeadLettered { class, error } => {
                    format!("{key}: {class}, moved to the dead-letter queue: {error}")
                }
                JobOutcome::LeaseLost => {
                    format!("{key}: taken over by another worker; left to it")
                }
            },
            Event::Scan {
                section,
                folder,
                error,
                ..
            } => match error {
                None => format!("asked Plex to scan {folder} (section {section})"),
                Some(e) => format!("could not ask Plex to scan {folder}: {e}"),
            },
            Event::OutageSummary { at, outage } => format!(
                "Plex still down after {}: {}, {} failed during it; first failure: {}",
                duration(at.saturating_sub(outage.started_at)),
                count(outage.probes, "probe", "probes"),
                count(outage.jobs_affected, "job", "jobs"),
                outage.error.as_deref().unwrap_or(&outage.cause)
            ),
            Event::OutageEnded { outage, .. } => format!(
                "Plex is back after {} ({}; {}, {} failed during it)",
                duration(outage.duration(outage.ended_at.unwrap_or(outage.started_at))),
                outage.story(),
                count(outage.probes, "probe", "probes"),
                count(outage.jobs_affected, "job", "jobs")
            ),
            Event::Watch { what, .. } => match what {
                WatchEvent::Connected { via, .. } => format!("watching Plex: {}", via.as_str()),
                WatchEvent::Lost => "the watch lost Plex; checking it now".to_owned(),
                WatchEvent::Optimising { title } => {
                    format!("Plex says it is busy: {title}; jobs wait until it is done")
                }
                WatchEvent::Optimised { title, took_ms } => {
                    format!("Plex is done: {title} (took {})", duration(*took_ms))
                }
            },
            Event::Stopped { reason, at } => match reason {
                StopReason::Drained => "queue drained".to_owned(),
                StopReason::Requested => "stopped on request".to_owned(),
                StopReason::Configuration(message) => format!("stopped: {message}"),
                StopReason::OutageTooLong { since } => format!(
                    "stopped: Plex has been down for {}; the jobs stay queued for the next run",
                    duration(at.saturating_sub(*since))
                ),
                StopReason::ForcedOpen => {
                    "stopped: the breaker was opened by hand (plexsync breaker reset resumes)"
                        .to_owned()
                }
            },
        }
    }
}

/// What the watch heard that is worth a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "what")]
pub enum WatchEvent {
    /// It reaches Plex (`first`: for the first time in this run).
    Connected {
        /// How.
        via: crate::watch::WatchVia,
        /// Whether it is the run's first.
        first: bool,
    },
    /// It lost Plex.
    Lost,
    /// Plex announced a database optimisation.
    Optimising {
        /// What Plex calls it.
        title: String,
    },
    /// Plex said the optimisation is over.
    Optimised {
        /// What Plex calls it.
        title: String,
        /// How long it lasted, as heard.
        took_ms: u64,
    },
}

fn cause_text(cause: Cause) -> &'static str {
    match cause {
        Cause::FailureThreshold => "Plex failed too many requests in a row",
        Cause::OpenWaitElapsed => "the open wait is over; trying a job",
        Cause::ProbeHealthy => "a probe found Plex healthy; trying a job",
        Cause::ProbeUnhealthy => "a probe found Plex unhealthy again",
        Cause::TrialFailed => "the trial job failed",
        Cause::TrialsSucceeded => "trial jobs succeeded",
        Cause::ForcedOpen => "opened by hand",
        Cause::Reset => "reset by hand",
    }
}

/// A count and its noun, singular or plural: `1 probe`, `3 probes`.
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A duration for people: `45 s`, `3 min 20 s`, `2 h 5 min`.
pub fn duration(ms: u64) -> String {
    let s = ms / 1_000;
    match s {
        0 => format!("{ms} ms"),
        1..=59 => format!("{s} s"),
        60..=3_599 => match s % 60 {
            0 => format!("{} min", s / 60),
            r => format!("{} min {r} s", s / 60),
        },
        _ => match (s / 60) % 60 {
            0 => format!("{} h", s / 3_600),
            m => format!("{} h {m} min", s / 3_600),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::{count, duration};

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0u64, "probe", "probes"), "0 probes");
        assert_eq!(count(1u64, "probe", "probes"), "1 probe");
        assert_eq!(count(2u32, "job", "jobs"), "2 jobs");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        for (ms, text) in [
            (999, "999 ms"),
            (1_000, "1 s"),
            (59_999, "59 s"),
            (60_000, "1 min"),
            (200_000, "3 min 20 s"),
            (3_600_000, "1 h"),
            (7_500_000, "2 h 5 min"),
        ] {
            assert_eq!(duration(ms), text);
        }
    }
}
