//! What the engine keeps between processes, in one state file.

use std::collections::{BTreeMap, VecDeque};

use breaker_core::Snapshot;
use plex_client::HealthReport;
use scheduler::{ProbeOutcome, ProbeState, RampState};
use serde::{Deserialize, Serialize};

use crate::outage::History;

/// The schema of [`EngineState`] as stored.
pub const STATE_SCHEMA: u32 = 1;
/// Probe results kept.
pub const KEPT_PROBES: usize = 20;
/// Folders whose last partial scan is remembered.
const KEPT_SCANS: usize = 500;

/// The breaker, the probe schedule, the ramp, the outage history and what was seen last:
/// everything one process leaves for the next. It holds no secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineState {
    /// The breaker.
    pub breaker: Snapshot,
    /// When to probe next.
    pub probe: ProbeState,
    /// The ramp after a recovery, while it lasts.
    pub ramp: Option<RampState>,
    /// Outages.
    pub outages: History,
    /// The last probes, oldest first.
    pub probes: VecDeque<ProbeRecord>,
    /// The last job that reached Plex.
    pub last_sync: Option<LastSync>,
    /// When each folder was last scanned, by `section:folder`.
    pub scans: BTreeMap<String, u64>,
    /// Why work stopped, when it stopped for a configuration error; cleared once Plex
    /// accepts requests again.
    pub halt: Option<Halt>,
    /// The run of outage-class failures going on, from its first; `None` once a job syncs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing: Option<Failing>,
    /// What was seen of Plex's health lately, to tell a job's own server errors from Plex's.
    pub evidence: Evidence,
    /// The Plex URL last seen answering: a URL never seen answering that refuses connections
    /// is a setting to fix, not an outage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<Reached>,
    /// Plex's scheduled-maintenance window as last read from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub butler: Option<crate::window::ButlerHours>,
    /// What `plexsync run`'s watch on Plex last heard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::watch::WatchState>,
}

/// A run of outage-class failures: when its first job began, and what that job met.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failing {
    /// When the first failing job was sent (ms since the epoch).
    pub since: u64,
    /// What it met, for people: the URL and what to check.
    pub error: String,
    /// The jobs that met it, each once (a job retried in the run is one job held back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// Jobs named in a run of failures before the breaker opens; past this, only the count
/// matters and the breaker has long opened.
pub(crate) const FAILING_KEYS: usize = 64;

/// A Plex URL seen answering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reached {
    /// The URL, without credentials or query.
    pub url: String,
    /// When it last answered (ms since the epoch).
    pub at: u64,
}

/// Server errors (a 5xx other than 503) are Plex's trouble, unless Plex is seen working
/// while one job keeps meeting them: then they are that job's (an item Plex cannot edit).
/// This keeps what tells the two apart.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// When Plex was last seen working (a probe passed, or a job synced) while a job was
    /// under suspicion: the only time it is read.
    pub working_at: u64,
    /// When Plex was last seen failing: a probe failed, or a job met an outage that was not
    /// a server error.
    pub failing_at: u64,
    /// The last server errors jobs met, oldest first: when, and the job's key.
    pub server_errors: VecDeque<(u64, String)>,
    /// Jobs that met a server error, by key: when the first came.
    pub suspects: BTreeMap<String, u64>,
}

/// Server errors remembered.
const KEPT_SERVER_ERRORS: usize = 16;
/// Jobs under suspicion remembered.
const KEPT_SUSPECTS: usize = 500;

impl Evidence {
    /// Plex worked at `at`. Recorded only while a job is under suspicion: the time is read
    /// only to judge a suspect's server error, by whether Plex worked after it, so one from
    /// before any suspect tells nothing. Otherwise every job of a healthy drain would change
    /// the state, and cost a write of it.
    pub fn working(&mut self, at: u64) {
        if !self.suspects.is_empty() {
            self.working_at = self.working_at.max(at);
        }
    }

    /// Plex failed at `at`.
    pub fn failing(&mut self, at: u64) {
        self.failing_at = self.failing_at.max(at);
    }

    /// Job `key` met a server error at `at`; returns whether it is the job's own: Plex was
    /// seen working after the job's first server error, and since then nothing has shown
    /// Plex failing, no other job included.
    pub fn server_error(&mut self, key: &str, at: u64) -> bool {
        let seen = self.working_at;
        let own = self.suspects.get(key).is_some_and(|&first| {
            seen > first
                && self.failing_at <= seen
                && !self
                    .server_errors
                    .iter()
                    .any(|(when, other)| *when > seen && other != key)
        });
        self.server_errors.push_back((at, key.to_owned()));
        while self.server_errors.len() > KEPT_SERVER_ERRORS {
            self.server_errors.pop_front();
        }
        if !self.suspects.contains_key(key) {
            if self.suspects.len() >= KEPT_SUSPECTS {
                let oldest = self
                    .suspects
                    .iter()
                    .min_by_key(|(_, first)| **first)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    self.suspects.remove(&oldest);
                }
            }
            self.suspects.insert(key.to_owned(), at);
        }
        own
    }

    /// Job `key` is done with (synced, or given up on): it is no longer under suspicion.
    pub fn settled(&mut self, key: &str) {
        self.suspects.remove(key);
    }
}

#[cfg(test)]
mod evidence_tests {
    use super::Evidence;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Seen {
        Working,
        Failing,
        ServerError(u8),
        Settled(u8),
    }

    fn seen() -> impl Strategy<Value = Seen> {
        prop_oneof![
            4 => Just(Seen::Working),
            1 => Just(Seen::Failing),
            2 => (0..4u8).prop_map(Seen::ServerError),
            1 => (0..4u8).prop_map(Seen::Settled),
        ]
    }

    proptest! {
        /// Leaving Plex's working time as it was, where it tells nothing, never changes a
        /// verdict: beside evidence that records every one, the same answers throughout.
        #[test]
        fn a_working_time_left_unrecorded_never_changes_a_verdict(
            steps in proptest::collection::vec((seen(), 0..3_000u64), 1..120),
        ) {
            let mut lazy = Evidence::default();
            let mut every = Evidence::default();
            let mut now = 1_000u64;
            for (step, gap) in steps {
                now += gap;
                match step {
                    Seen::Working => {
                        lazy.working(now);
                        every.working_at = every.working_at.max(now);
                    }
                    Seen::Failing => {
                        lazy.failing(now);
                        every.failing(now);
                    }
                    Seen::ServerError(job) => {
                        let key = format!("job-{job}");
                        prop_assert_eq!(lazy.server_error(&key, now), every.server_error(&key, now));
                    }
                    Seen::Settled(job) => {
                        let key = format!("job-{job}");
                        lazy.settled(&key);
                        every.settled(&key);
                    }
                }
            }
        }
    }
}

/// One probe and what it found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    /// When it ran.
    pub at: u64,
    /// How the schedule took it.
    pub outcome: ProbeOutcome,
    /// What it found, stage by stage.
    pub report: HealthReport,
}

/// The last job that reached Plex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSync {
    /// When (to the second: the record changes at most once a second while draining).
    pub at: u64,
    /// The job's key.
    pub key: String,
    /// What happened: `updated`, `unchanged`.
    pub outcome: String,
}

/// Work stopped because the settings are wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Halt {
    /// When work stopped (ms since the epoch).
    pub at: u64,
    /// What to fix.
    pub message: String,
}

impl EngineState {
    /// The window Plex is known to go away in: its own setting when read, else one learned
    /// from the outages of the last week (the local day `offset_ms` ahead of UTC).
    pub fn known_window(&self, now: u64, offset_ms: i64) -> Option<crate::window::Window> {
        if let Some(b) = self.butler {
            return Some(crate::window::Window {
                start: b.start,
                end: b.end,
                source: crate::window::WindowSource::Plex,
            });
        }
        let closed: Vec<&crate::outage::Outage> = self.outages.recent.iter().collect();
        crate::window::learn(&closed, now, offset_ms)
    }

    /// Remembers a probe.
    pub fn remember_probe(&mut self, record: ProbeRecord) {
        self.probes.push_back(record);
        while self.probes.len() > KEPT_PROBES {
            self.probes.pop_front();
        }
    }

    /// Remembers a partial scan of `folder` at `at`.
    pub fn remember_scan(&mut self, folder: String, at: u64) {
        self.scans.insert(folder, at);
        while self.scans.len() > KEPT_SCANS {
            let oldest = self
                .scans
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.scans.remove(&oldest);
            }
        }
    }
}
