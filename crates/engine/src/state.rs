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
