//! What the core and the driver say to each other: the actions the core asks for, the inputs
//! that answer them, and what becomes of a job.

use persist::Job;
use plex_client::{HealthReport, PlexError, Stage};
use scheduler::ErrorClass;
use serde::{Deserialize, Serialize};

use crate::job::SyncJob;

/// How long the engine works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Until nothing is ready (`plexsync process`, a Stash task).
    Drain,
    /// Until asked to stop (`plexsync run`).
    Run,
}

/// How deep a probe goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeDepth {
    /// Connect and `/identity` only (the predecessor's probe).
    Identity,
    /// Connect, `/identity`, and an authenticated request that needs the database.
    Library,
}

impl ProbeDepth {
    /// The last stage a probe of this depth runs.
    pub fn last_stage(self) -> Stage {
        match self {
            ProbeDepth::Identity => Stage::Identity,
            ProbeDepth::Library => Stage::Library,
        }
    }
}

/// A folder to have Plex scan: `folder`, as Plex sees it, in the section whose key is
/// `section`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanTarget {
    /// The section's key.
    pub section: String,
    /// The folder, as Plex sees it.
    pub folder: String,
}

/// What to do with the job just worked on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// It is done: remove it.
    Ack,
    /// Run it again no earlier than `at`; `counted` says whether this spends one of its
    /// retries; `class` and `error` say what went wrong.
    Retry {
        /// The earliest time it runs again.
        at: u64,
        /// Whether this spends one of its retries.
        counted: bool,
        /// The failure's class.
        class: ErrorClass,
        /// What went wrong, for people.
        error: String,
    },
    /// Give up on it: to the dead-letter queue with the failure's `class` and `error`.
    DeadLetter {
        /// The failure's class.
        class: ErrorClass,
        /// What went wrong, for people.
        error: String,
    },
}

/// What the driver should do next.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Run the health check to `depth`; answer with [`Input::Probed`].
    Probe {
        /// The last stage to check.
        depth: ProbeDepth,
        /// When the check must be over, if sooner than its own deadline (ms since the epoch).
        deadline: Option<u64>,
    },
    /// Count the queue; answer with [`Input::Inspected`].
    Inspect,
    /// Lease the next ready job, hidden from other workers for `visibility_ms`; answer with
    /// [`Input::Taken`].
    Take {
        /// How long the job stays invisible to others.
        visibility_ms: u64,
    },
    /// Send the job leased under `key` to Plex, every request over by `deadline`, and poll
    /// again at once: other jobs may follow it while it is in flight. When it lands, answer
    /// with [`Input::Synced`] (at any time; the engine says [`Action::Wait`] when it has
    /// nothing to do but wait for it).
    Sync {
        /// The job's key in the queue.
        key: String,
        /// What to make Plex show.
        job: Box<SyncJob>,
        /// When the job's time runs out.
        deadline: u64,
    },
    /// Do this with the job leased under `key`; answer with [`Input::Finished`].
    Finish {
        /// The job's key in the queue.
        key: String,
        /// What to do with it.
        disposition: Disposition,
    },
    /// Ask Plex to scan a folder, over by `deadline`; answer with [`Input::Scanned`].
    Scan {
        /// Which folder.
        target: ScanTarget,
        /// When the request's time runs out.
        deadline: u64,
    },
    /// Nothing to do before `until`; poll again then, or sooner on [`Input::Nudged`] or when
    /// a job in flight lands.
    Wait {
        /// When to poll again.
        until: u64,
    },
    /// Work is over, for the reason given.
    Stop(crate::event::StopReason),
}

/// How many jobs the queue holds, as far as the engine cares: `ready` now, `waiting` for a
/// retry, the first of which is ready at `earliest_retry_at`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Jobs ready now.
    pub ready: usize,
    /// Jobs waiting for a retry.
    pub waiting: usize,
    /// When the first waiting job becomes ready.
    pub earliest_retry_at: Option<u64>,
}

/// How a sync went.
#[derive(Clone, Debug, PartialEq)]
pub enum SyncResult {
    /// Plex was changed with these query pairs.
    Updated {
        /// What was sent.
        sent: Vec<(String, String)>,
    },
    /// Plex already matched.
    Unchanged,
    /// It failed with `error`; `scan` is the folder to scan when the file was not found in a
    /// folder Plex watches.
    Failed {
        /// What went wrong.
        error: PlexError,
        /// Where Plex should look, for a file it does not have.
        scan: Option<ScanTarget>,
    },
}

/// How a job in flight went, and what it cost.
#[derive(Clone, Debug, PartialEq)]
pub struct Synced {
    /// How the sync went.
    pub result: SyncResult,
    /// How long it took, all its requests together (µs: a job on a fast network may take
    /// less than a millisecond, and the pacer's samples must still tell jobs apart).
    pub took_us: u64,
    /// How many requests it sent (the cached list of sections not counted).
    pub requests: u32,
}

impl Synced {
    /// A result that took `took` over `requests` requests.
    pub fn new(result: SyncResult, took: std::time::Duration, requests: u32) -> Synced {
        Synced {
            result,
            took_us: u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            requests,
        }
    }
}

/// How finishing a job went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Done as asked.
    Done,
    /// Another process had taken the job over.
    LeaseLost,
}

/// The answer to an [`Action`], or news.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// The health check's report.
    Probed(HealthReport),
    /// The queue's counts.
    Inspected(QueueCounts),
    /// The job leased, or none.
    Taken(Option<Job>),
    /// How the job in flight under `key` went.
    Synced {
        /// The job's key.
        key: String,
        /// How it went.
        synced: Synced,
    },
    /// How finishing went.
    Finished(Finished),
    /// How the scan request went.
    Scanned(Result<(), PlexError>),
    /// Something changed outside (a job was queued): look again.
    Nudged,
    /// The watch heard something from Plex (at any time, like [`Input::Nudged`]).
    Notice(crate::watch::Notice),
}

impl Input {
    /// The input's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Input::Probed(_) => "Probed",
            Input::Inspected(_) => "Inspected",
            Input::Taken(_) => "Taken",
            Input::Synced { .. } => "Synced",
            Input::Finished(_) => "Finished",
            Input::Scanned(_) => "Scanned",
            Input::Nudged => "Nudged",
            Input::Notice(_) => "Notice",
        }
    }
}

/// An input that answers no action the engine has out: a bug in whoever drives it. The
/// engine is left as it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the engine got {got} while {expected}")]
pub struct UnexpectedInput {
    /// What came.
    pub got: &'static str,
    /// What the engine was waiting for, in words.
    pub expected: &'static str,
}

/// Counts of what one run did, for its summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    /// Jobs that changed Plex.
    pub updated: u64,
    /// Jobs Plex already matched.
    pub unchanged: u64,
    /// Jobs put back for a later retry.
    pub retried: u64,
    /// Jobs sent to the dead-letter queue.
    pub dead_lettered: u64,
    /// Jobs another process took over.
    pub lease_lost: u64,
    /// Probes run.
    pub probes: u64,
    /// Partial scans asked for.
    pub scans: u64,
}

impl std::ops::AddAssign for RunStats {
    fn add_assign(&mut self, other: RunStats) {
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.retried += other.retried;
        self.dead_lettered += other.dead_lettered;
        self.lease_lost += other.lease_lost;
        self.probes += other.probes;
        self.scans += other.scans;
    }
}
