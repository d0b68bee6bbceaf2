//! Journal records. The in-memory view is only ever changed by applying these, whether they
//! were just written by this process or replayed from disk, so every process that reads the
//! journal reaches the same state.

use serde::{Deserialize, Serialize};

use super::job::{DeadJob, Job, JobId, Payload};
use crate::line;

/// Schema of the snapshot files. Schema 1 (plexsync before 0.1.0) wrote journal lines without
/// their offset, and its first version tagged records internally (`{"op": "enqueue", ...}`);
/// both are still read ([`read_op`], [`read_record`]) and carried forward by the first writer.
pub(crate) const SCHEMA: u32 = 2;

/// The record kinds this version knows, by the name they are written under.
const OP_KINDS: [&str; 11] = [
    "enqueue", "lease", "extend", "expire", "ack", "retry", "dead", "requeue", "purge", "rebase",
    "seal",
];
const RECORD_KINDS: [&str; 4] = ["header", "live", "dead", "trailer"];

/// A line of the queue's files, as read.
#[derive(Debug)]
pub(crate) enum Parsed<T> {
    /// A record in today's format; for a journal line, the offset it states.
    Current(Option<u64>, T),
    /// A record in schema 1's format.
    Legacy(T),
    /// An intact line naming a kind of record this version does not know: a newer plexsync
    /// wrote it.
    Foreign(String),
    /// Damage: a checksum that does not match, or contents that are no record.
    Damaged,
}

/// Reads a journal line (without its newline).
pub(crate) fn read_op(raw: &[u8]) -> Parsed<Op> {
    read(raw, "op", &OP_KINDS, &RECORD_KINDS)
}

/// Reads a snapshot line (without its newline).
pub(crate) fn read_record(raw: &[u8]) -> Parsed<Record> {
    read(raw, "kind", &RECORD_KINDS, &OP_KINDS)
}

/// `known`: the kinds of this file's records; `elsewhere`: those of the other kind of file
/// (a line of the other kind where this one should be is damage, not a newer format).
fn read<T: serde::de::DeserializeOwned>(
    raw: &[u8],
    tag: &str,
    known: &[&str],
    elsewhere: &[&str],
) -> Parsed<T> {
    let Some((offset, body)) = line::frame(raw) else {
        return Parsed::Damaged;
    };
    if let Ok(record) = serde_json::from_slice::<T>(body) {
        return match (offset, tag) {
            // Journal lines have stated their offset since schema 2.
            (None, "op") => Parsed::Legacy(record),
            _ => Parsed::Current(offset, record),
        };
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Parsed::Damaged;
    };
    let (kind, external) = match &value {
        serde_json::Value::String(kind) => (kind.clone(), value.clone()),
        serde_json::Value::Object(fields) => match fields.get(tag) {
            // Schema 1's first version: the kind is a field of the record.
            Some(serde_json::Value::String(kind)) if offset.is_none() => {
                let mut rest = fields.clone();
                rest.remove(tag);
                let external = serde_json::json!({ kind.clone(): rest });
                (kind.clone(), external)
            }
            _ if fields.len() == 1 => {
                let kind = fields.keys().next().expect("one field").clone();
                (kind, value.clone())
            }
            _ => return Parsed::Damaged,
        },
        _ => return Parsed::Damaged,
    };
    if !known.contains(&kind.as_str()) {
        return if elsewhere.contains(&kind.as_str()) {
            Parsed::Damaged
        } else {
            Parsed::Foreign(kind)
        };
    }
    // Through text: a payload is kept as raw JSON, which only text can be read into.
    match serde_json::from_str::<T>(&external.to_string()) {
        Ok(record) if offset.is_none() => Parsed::Legacy(record),
        _ => Parsed::Damaged,
    }
}

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
        /// back. Schema 1 did not say: 0, never after the present.
        #[serde(default)]
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
        /// Schema 1 did not say.
        #[serde(default)]
        class: String,
        error: String,
    },
    Dead {
        id: JobId,
        token: u64,
        at: u64,
        /// Schema 1 did not say.
        #[serde(default)]
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
