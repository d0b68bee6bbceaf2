//! Outage history: every outage with its start, end, probes, jobs affected and transitions;
//! capped, with totals kept for MTTR, MTBF and availability.

use std::collections::VecDeque;

use breaker_core::Transition;
use serde::{Deserialize, Serialize};

/// Closed outages kept in full; older ones live on only in the totals.
pub const KEPT_OUTAGES: usize = 50;
/// Transitions kept per outage.
const KEPT_TRANSITIONS: usize = 20;
/// What probes found, kept per outage (each change, in order).
const KEPT_STAGES: usize = 8;
/// The least watched time over which availability and MTBF say anything: below it, one
/// start-up outage would read as "2 % available".
pub const MEANINGFUL_WATCH_MS: u64 = 24 * 60 * 60 * 1_000;

/// One outage: from the breaker opening to its closing again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outage {
    /// When the breaker opened.
    pub started_at: u64,
    /// When it closed again; `None` while it lasts.
    pub ended_at: Option<u64>,
    /// Probes run during it.
    pub probes: u32,
    /// Jobs that failed during it, each counted once however often it was tried (including those
    /// whose failures tripped the breaker).
    pub jobs_affected: u32,
    /// When the run of failures that opened it began (its first failing job was sent);
    /// `None` in outages recorded before this was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<u64>,
    /// The last time a probe or a job said anything about Plex during it.
    pub last_evidence_at: u64,
    /// What the failure that opened it was, e.g. `refused`.
    pub cause: String,
    /// The first failure of the run that opened it, for people: the URL and what to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the probes found, each change in order (`refused`, `connect_timeout`,
    /// `maintenance`): a restart reads as the stages it went through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<String>,
    /// When a probe first found Plex answering with its library not ready (loading,
    /// optimising): how long that lasts is what a nightly window teaches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loading_since: Option<u64>,
    /// How it ended: `recovered`, `reset`, or `closed by another process`.
    pub ended_by: Option<String>,
    /// Its transitions, oldest first (the first ones, if there were many).
    pub transitions: Vec<Transition>,
}

impl Outage {
    /// When the failures that led to it began: a job that has failed since then is already
    /// counted.
    pub fn failing_since(&self) -> u64 {
        self.failing_since.unwrap_or(self.started_at)
    }

    /// What Plex went through: the cause, then each change the probes found
    /// (`refused → connect_timeout → maintenance`).
    pub fn story(&self) -> String {
        let mut seen = vec![self.cause.as_str()];
        for stage in &self.stages {
            if seen.last() != Some(&stage.as_str()) {
                seen.push(stage);
            }
        }
        seen.join(" → ")
    }

    /// How long it lasted, or has lasted up to `now`.
    pub fn duration(&self, now: u64) -> u64 {
        self.ended_at.unwrap_or(now).saturating_sub(self.started_at)
    }
}

#[cfg(test)]
impl Outage {
    /// A refused-port outage from `started_at` that lasted `length_ms` and is over, for
    /// tests.
    pub(crate) fn closed(started_at: u64, length_ms: u64) -> Outage {
        Outage {
            started_at,
            ended_at: Some(started_at + length_ms),
            probes: 1,
            jobs_affected: 0,
            failing_since: None,
            last_evidence_at: started_at,
            cause: "refused".into(),
            error: None,
            stages: Vec::new(),
            loading_since: None,
            ended_by: Some("recovered".into()),
            transitions: Vec::new(),
        }
    }
}

/// Everything known of Plex's outages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The outage going on, if any.
    pub current: Option<Outage>,
    /// Closed outages, oldest first, at most [`KEPT_OUTAGES`].
    pub recent: VecDeque<Outage>,
    /// Closed outages ever.
    pub count: u64,
    /// Their total duration.
    pub downtime_ms: u64,
    /// When plexsync first watched this server (0: never).
    pub watching_since: u64,
}

/// MTTR, MTBF and availability over what has been watched.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reliability {
    /// Closed outages counted.
    pub outages: u64,
    /// Mean time to recovery: the mean outage duration.
    pub mttr_ms: Option<u64>,
    /// Mean time between failures: the mean time up between outages; `None` until plexsync
    /// has watched for [`MEANINGFUL_WATCH_MS`].
    pub mtbf_ms: Option<u64>,
    /// The share of the watched time Plex was up (0..=1); `None` until plexsync has watched
    /// for [`MEANINGFUL_WATCH_MS`].
    pub availability: Option<f64>,
    /// How long plexsync has watched.
    pub watched_ms: u64,
}

impl History {
    /// Notes that plexsync watches from `now` on, if it did not already.
    pub fn watch_from(&mut self, now: u64) {
        if self.watching_since == 0 {
            self.watching_since = now;
        }
    }

    /// An outage begins at `at` (nothing happens if one is going on), after `cause`
    /// (`error` in full) met by `jobs_affected` jobs in a run of failures that began at
    /// `failing_since`.
    pub fn start(
        &mut self,
        at: u64,
        cause: &str,
        error: Option<String>,
        jobs_affected: u32,
        failing_since: Option<u64>,
    ) {
        self.watch_from(at);
        if self.current.is_none() {
            self.current = Some(Outage {
                started_at: at,
                ended_at: None,
                probes: 0,
                jobs_affected,
                failing_since,
                last_evidence_at: at,
                stages: Vec::new(),
                loading_since: None,
                cause: cause.to_owned(),
                error,
                ended_by: None,
                transitions: Vec::new(),
            });
        }
    }

    /// The current outage ends at `at`.
    pub fn end(&mut self, at: u64, by: &str) -> Option<Outage> {
        let mut outage = self.current.take()?;
        // A clock that stepped back must not make an outage end before it began.
        let at = at.max(outage.started_at);
        outage.ended_at = Some(at);
        outage.ended_by = Some(by.to_owned());
        self.count += 1;
        self.downtime_ms = self.downtime_ms.saturating_add(at - outage.started_at);
        self.recent.push_back(outage.clone());
        while self.recent.len() > KEPT_OUTAGES {
            self.recent.pop_front();
        }
        Some(outage)
    }

    /// Records a transition in the current outage.
    pub fn note_transition(&mut self, transition: Transition) {
        if let Some(outage) = &mut self.current {
            if outage.transitions.len() < KEPT_TRANSITIONS {
                outage.transitions.push(transition);
            }
        }
    }

    /// Records a probe at `at` in the current outage, and what it found (`None`: healthy).
    pub fn note_probe(&mut self, at: u64, found: Option<&str>) {
        if let Some(outage) = &mut self.current {
            outage.probes = outage.probes.saturating_add(1);
            if let Some(found) = found {
                let last = outage
                    .stages
                    .last()
                    .map_or(outage.cause.as_str(), String::as_str);
                if last != found && outage.stages.len() < KEPT_STAGES {
                    outage.stages.push(found.to_owned());
                }
            }
            outage.last_evidence_at = outage.last_evidence_at.max(at);
        }
    }

    /// A probe at `at` found Plex answering with its library not ready.
    pub fn note_loading(&mut self, at: u64) {
        if let Some(outage) = &mut self.current {
            outage.loading_since.get_or_insert(at);
        }
    }

    /// Records a job attempt that failed because of the current outage; `new` if the job had
    /// not already been held back by it.
    pub fn note_job(&mut self, at: u64, new: bool) {
        if let Some(outage) = &mut self.current {
            outage.jobs_affected = outage.jobs_affected.saturating_add(u32::from(new));
            outage.last_evidence_at = outage.last_evidence_at.max(at);
        }
    }

    /// MTTR, MTBF and availability as of `now`, the current outage counted up to `now`.
    pub fn reliability(&self, now: u64) -> Reliability {
        let watched = if self.watching_since == 0 {
            0
        } else {
            now.saturating_sub(self.watching_since)
        };
        let current = self.current.as_ref().map_or(0, |o| o.duration(now));
        let down = self.downtime_ms.saturating_add(current);
        let mttr = (self.count > 0).then(|| self.downtime_ms / self.count);
        let failures = self.count + u64::from(self.current.is_some());
        let meaningful = watched >= MEANINGFUL_WATCH_MS;
        let mtbf = (meaningful && failures > 0).then(|| watched.saturating_sub(down) / failures);
        let availability = meaningful.then(|| 1.0 - (down.min(watched) as f64 / watched as f64));
        Reliability {
            outages: self.count,
            mttr_ms: mttr,
            mtbf_ms: mtbf,
            availability,
            watched_ms: watched,
        }
    }
}
