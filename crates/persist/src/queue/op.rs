//! Journal records. The in-memory view is only ever changed by applying these, whether they
//! were just written by this process or replayed from disk, so every process that reads the
//! journal reaches the same state.

use serde::{Deserialize, Serialize};

use super::job::{DeadJob, Job, JobId, Payload};

/// Schema of the snapshot files.
pub(crate) const SCHEMA: u32 = 2;

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
        /// When it was granted; a lease granted "after" the present means the clock stepped
        /// back.
        at: u64,
    },
    /// The holder moved its deadline.
    Extend {
        id: JobId,
        token: u64,
        until: u64,
        at: u64,
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
        class: String,
        error: String,
    },
    Dead {
        id: JobId,
        token: u64,
        at: u64,
        class: String,
        error: String,
    },
    Requeue {
        id: JobId,
        at: u64,
    },
    Purge {
        id: JobId,
    },
    /// The clock stepped back to `at`: every deadline set "after" it is brought within its own
    /// window of `at`.
    Rebase {
        at: u64,
    },
    /// The segment is complete; appends go to the next one.
    Seal,
}

/// A line of a snapshot file: a header, the jobs, and a trailer that proves the file whole.
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
        /// When its current status began.
        #[serde(default)]
        since: u64,
    },
    Dead {
        dead: DeadJob,
    },
    Trailer {
        /// The segment the snapshot covers up to: its own file number.
        covers: u64,
        /// Job lines between header and trailer.
        records: u64,
        /// CRC-32 of every byte before this line.
        crc: u32,
    },
}
