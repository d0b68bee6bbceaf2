//! Journal records. The in-memory view is only ever changed by applying these, whether they
//! were just written by this process or replayed from disk, so every process that reads the
//! journal reaches the same state.

use serde::{Deserialize, Serialize};

use super::job::{DeadJob, Job, JobId, Payload};

/// Schema of the snapshot files.
pub(crate) const SCHEMA: u32 = 1;

// Externally tagged: an internally tagged enum would buffer its fields, which a raw JSON
// payload cannot be read back from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Op {
    Enqueue {
        id: JobId,
        key: String,
        payload: Payload,
        at: u64,
    },
    Lease {
        id: JobId,
        token: u64,
        until: u64,
    },
    /// A lease ran out before its holder reported back.
    Expire {
        id: JobId,
        token: u64,
        at: u64,
    },
    Ack {
        id: JobId,
        token: u64,
    },
    Retry {
        id: JobId,
        token: u64,
        at: u64,
        next: u64,
        counted: bool,
        error: String,
    },
    Dead {
        id: JobId,
        token: u64,
        at: u64,
        error: String,
    },
    Requeue {
        id: JobId,
        at: u64,
    },
    Purge {
        id: JobId,
    },
}

/// A line of a snapshot file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Record {
    Header {
        schema: u32,
    },
    Live {
        job: Job,
        /// `(token, until)` if it was leased.
        lease: Option<(u64, u64)>,
        ready_at: u64,
    },
    Dead {
        dead: DeadJob,
    },
}
