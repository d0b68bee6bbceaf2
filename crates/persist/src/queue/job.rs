//! The values the queue hands out and reports.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Identifies a job. Ids increase in enqueue order and are never reused, because each is the
/// position at which the job's record was written (segment number and byte offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub(crate) u64);

/// Bits of an id that hold the byte offset; the rest hold the segment number.
pub(crate) const OFFSET_BITS: u32 = 40;

impl JobId {
    pub(crate) fn at(segment: u64, offset: u64) -> JobId {
        JobId(segment << OFFSET_BITS | offset)
    }

    /// The segment its record was written to.
    pub(crate) fn segment(self) -> u64 {
        self.0 >> OFFSET_BITS
    }

    /// The byte offset of its record in that segment.
    pub(crate) fn offset(self) -> u64 {
        self.0 & ((1 << OFFSET_BITS) - 1)
    }

    /// The id as a number, e.g. for a command line.
    pub fn get(self) -> u64 {
        self.0
    }

    /// An id as printed by [`JobId::get`].
    pub fn from_u64(raw: u64) -> JobId {
        JobId(raw)
    }
}

/// Segment numbers must leave room for the offset in a 64-bit id, and its top bit free (the
/// view marks snapshot locations with it).
pub(crate) const MAX_SEGMENT: u64 = (1 << (63 - OFFSET_BITS)) - 1;

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A job's payload: JSON kept as the text it was stored as, which costs far less memory than
/// a parsed value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(Box<RawValue>);

impl Payload {
    pub(crate) fn encode(value: &impl Serialize) -> serde_json::Result<Payload> {
        serde_json::value::to_raw_value(value).map(Payload)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The payload as a `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Payload) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Payload {}

/// Compares the JSON values, not their text.
impl PartialEq<serde_json::Value> for Payload {
    fn eq(&self, other: &serde_json::Value) -> bool {
        self.decode::<serde_json::Value>()
            .is_ok_and(|v| v == *other)
    }
}

/// One failed attempt, kept for the dead-letter report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it failed.
    pub at: u64,
    /// The caller's name for the kind of failure (plexsync's error classes: `server_down`,
    /// `transient`, `not_found`, `permanent`), so that failures can be counted and grouped.
    #[serde(default)]
    pub class: String,
    /// What went wrong.
    pub error: String,
    /// Whether it spent one of the job's retries (a "server down" failure does not).
    pub counted: bool,
}

/// Failed attempts kept per job; older ones are dropped.
pub(crate) const HISTORY: usize = 20;

/// A job and its bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The dedupe key (a scene id): a newer job with the same key supersedes this one.
    pub key: String,
    /// What to do, opaque to the queue.
    pub payload: Payload,
    /// When it was enqueued.
    pub enqueued_at: u64,
    /// Retries spent.
    pub attempts: u32,
    /// Times it has been leased.
    pub deliveries: u32,
    /// When it may run again after a failure.
    pub next_retry_at: Option<u64>,
    /// The most recent failures, oldest first.
    pub history: Vec<Attempt>,
}

/// A job in the dead-letter queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadJob {
    /// The job as it was when it was given up on.
    pub job: Job,
    /// When it was dead-lettered.
    pub dead_at: u64,
    /// The class of the failure that ended it (see [`Attempt::class`]).
    #[serde(default)]
    pub class: String,
    /// The error that ended it.
    pub error: String,
}

/// A leased job: deliver it, then [`ack`](crate::Queue::ack), [`retry`](crate::Queue::retry)
/// or [`dead_letter`](crate::Queue::dead_letter) it before `until`, after which the queue may
/// hand it to someone else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The job handed out.
    pub job: Job,
    /// Until when (ms) no one else is handed the job.
    pub until: u64,
    pub(crate) token: u64,
}

/// Which dead-lettered jobs to requeue or purge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// One job; asking for a job that is not dead-lettered is [`Error::NotFound`](crate::Error::NotFound).
    One(JobId),
    /// Every dead-lettered job.
    All,
    /// Jobs dead-lettered between `from` and `to` inclusive (an outage window).
    DeadBetween {
        /// Start of the window.
        from: u64,
        /// End of the window.
        to: u64,
    },
    /// Jobs whose final failure had this class.
    Class(String),
}

impl Selection {
    pub(crate) fn matches(&self, id: JobId, dead_at: u64, class: &str) -> bool {
        match self {
            Selection::One(one) => id == *one,
            Selection::All => true,
            Selection::DeadBetween { from, to } => (*from..=*to).contains(&dead_at),
            Selection::Class(wanted) => class == wanted,
        }
    }
}

/// Counts for `plexsync status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Live jobs not currently leased (ready, waiting for a retry, or queued behind an
    /// in-flight job with the same key).
    pub pending: usize,
    /// Jobs that could be leased now.
    pub ready_now: usize,
    /// Jobs waiting for their next retry time.
    pub waiting_for_retry: usize,
    /// Jobs leased and within their visibility deadline.
    pub leased: usize,
    /// Jobs in the dead-letter queue.
    pub dead_lettered: usize,
    /// Age of the oldest live job.
    pub oldest_age_ms: Option<u64>,
    /// The earliest time a waiting job becomes ready.
    pub earliest_retry_at: Option<u64>,
}
