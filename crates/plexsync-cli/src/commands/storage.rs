//! What reading the queue's files found: damage skipped, files kept aside, an older format.
//! `status` shows it, `health` warns of it, `process` and `run` log it once.

use std::path::{Path, PathBuf};

use persist::{Queue, Recovery, Stats};
use serde::Serialize;

/// The queue's storage, as `status --json` prints it under `storage`.
#[derive(Clone, Debug, Default, Serialize)]
pub(crate) struct Storage {
    /// Records that could not be read and were skipped.
    pub(crate) records_lost: u64,
    /// Files that hold damage; they are moved aside, not deleted, when the queue is next
    /// compacted.
    pub(crate) damaged_files: Vec<PathBuf>,
    /// Files kept aside because they held damage.
    pub(crate) moved_aside: Vec<PathBuf>,
    /// Files in an older plexsync's format, read as they are.
    pub(crate) older_format: Vec<PathBuf>,
    /// What was found, one sentence per file.
    pub(crate) details: Vec<String>,
}

impl Storage {
    pub(crate) fn of(recovery: Recovery) -> Storage {
        Storage {
            records_lost: recovery.damaged_lines,
            damaged_files: recovery.damaged_files,
            moved_aside: recovery.moved_aside,
            older_format: recovery.old_format,
            details: recovery.details,
        }
    }

    /// Whether the files read held damage (files kept aside from before aside).
    pub(crate) fn damaged(&self) -> bool {
        self.records_lost > 0 || !self.damaged_files.is_empty() || !self.details.is_empty()
    }

    /// One sentence per finding, for people.
    pub(crate) fn sentences(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.damaged() {
            out.push(format!(
                "the queue's files hold damage: {} skipped; every intact job was kept, and the damaged files are kept aside at the next compaction",
                engine::count(self.records_lost, "record", "records")
            ));
            out.extend(self.details.iter().cloned());
        }
        if !self.moved_aside.is_empty() {
            out.push(format!(
                "kept aside for a person to look at (what could be read of them is in the queue): {}",
                names(&self.moved_aside)
            ));
        }
        if !self.older_format.is_empty() {
            out.push(format!(
                "in an older plexsync's format, read as it is: {}; the next `plexsync process` carries it forward",
                names(&self.older_format)
            ));
        }
        out
    }
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The queue's counts and what reading it found, for a reader that changes nothing.
pub(crate) fn read(queue: &Path, now: u64) -> (Result<Stats, String>, Storage) {
    let opened = super::read_queue_at(queue);
    let mut queue: Queue = match opened {
        Ok(queue) => queue,
        Err(e) => return (Err(e.to_string()), Storage::default()),
    };
    let stats = queue.stats(now).map_err(|e| e.to_string());
    let storage = queue.recovery().map(Storage::of).unwrap_or_default();
    (stats, storage)
}
