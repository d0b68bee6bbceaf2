use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong in this crate. Every message names the file and what was being
/// done, and none contains the contents of a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "write the temporary file".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process held the lock for longer than the timeout.
    #[error(
        "timed out after {} waiting for the lock {path}; another plexsync process is holding it (if none is running, the lock is held by a stopped process)",
        human(waited)
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The filesystem does not support file locks.
    #[error(
        "the filesystem holding {path} does not support file locks ({source}); put the data directory on a local disk"
    )]
    LockUnsupported {
        /// The lock file.
        path: PathBuf,
        /// The error the lock call returned.
        #[source]
        source: io::Error,
    },
    /// A file could not be understood. It has been moved aside, not deleted.
    #[error(
        "{path} could not be read ({cause}); it was moved to {moved_to} and nothing in it was used"
    )]
    Corrupt {
        /// Where the file was.
        path: PathBuf,
        /// Where it is now.
        moved_to: PathBuf,
        /// What was wrong with it.
        cause: String,
    },
    /// A state file was written by a newer version. It was left as it is: a newer plexsync
    /// may still need it, and this one cannot read it.
    #[error(
        "{path} was written by a newer plexsync (schema {found}; this one reads up to {supported}); it was left as it is: upgrade plexsync"
    )]
    FutureSchema {
        /// The file.
        path: PathBuf,
        /// The schema in the file.
        found: u32,
        /// The newest schema this version reads.
        supported: u32,
    },
    /// A queue written by a newer version. Nothing was changed, moved or added: its jobs would
    /// be lost to this version, so it refuses to touch them.
    #[error(
        "{path} was written by a newer plexsync (schema {found}; this one reads up to {supported}); nothing was changed: upgrade plexsync"
    )]
    TooNew {
        /// The snapshot file.
        path: PathBuf,
        /// The schema in the file.
        found: u32,
        /// The newest schema this version reads.
        supported: u32,
    },
    /// A queue file holds a kind of record this version does not know: a newer version wrote
    /// it. Nothing was changed, moved or added.
    #[error(
        "{path} holds a record of a kind this plexsync does not know (`{kind}`), written by a newer plexsync; nothing was changed: upgrade plexsync"
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The kind the record names.
        kind: String,
    },
    /// A value could not be turned into JSON (a bug in the caller's type, not a disk problem).
    #[error("could not encode the new contents of {path}: {source}")]
    Encode {
        /// The file that was to be written.
        path: PathBuf,
        /// The serializer's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// A lease was reported after it had expired and the job had gone to another worker, or
    /// after the job was acknowledged.
    #[error("the lease on job {job} is no longer held (it expired, or the job was finished)")]
    LeaseLost {
        /// The job whose lease was lost.
        job: crate::JobId,
    },
    /// A file that cannot be read, left where it is (by a reader that must change nothing).
    #[error("{path} could not be read ({cause}); it was left as it is")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        cause: String,
    },
    /// Something other than a regular file where a file of this crate's belongs.
    #[error("{path} is {kind}, not a regular file; remove it or use another data directory")]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is: "a FIFO", "a device", "a directory", …
        kind: &'static str,
    },
    /// A file larger than this crate ever writes there.
    #[error(
        "{path} is {size} bytes, more than the {max} bytes allowed; it was left as it is (move it away to start afresh)"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size (or how much of it was read before giving up).
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A reader that may wait only briefly found the state locked by a writer.
    #[error(
        "{path} was busy: another plexsync process held its lock for {}; nothing was read, try again",
        human(waited)
    )]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// Another process holds an exclusive lock that is only ever tried, never waited for.
    #[error("{}", held_message(path, *pid))]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's process id, if it wrote one.
        pid: Option<u32>,
    },
    /// A queue opened read-only was asked to change something.
    #[error("the queue in {path} was opened read-only; nothing was changed")]
    ReadOnly {
        /// The queue's directory.
        path: PathBuf,
    },
    /// A job that the queue does not hold.
    #[error("no job {job} in the queue")]
    NotFound {
        /// The id asked for.
        job: crate::JobId,
    },
    /// A record the queue knew of could not be read back, even after reading the files again.
    #[error("{path} is damaged: {cause}; the record was skipped and everything intact was kept")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was found.
        cause: String,
    },
    /// A job key that cannot be stored.
    #[error("a job key must be 1 to {max} bytes long (got {len})")]
    BadKey {
        /// The key's length in bytes.
        len: usize,
        /// The longest allowed key.
        max: usize,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// A duration for people: `250 ms`, `5 s`, `1.5 s` (never `4.999998397s`).
fn human(d: &Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..=999 => format!("{ms} ms"),
        _ if ms % 1_000 < 50 || ms % 1_000 >= 950 => format!("{} s", (ms + 500) / 1_000),
        _ => format!("{:.1} s", d.as_secs_f64()),
    }
}

fn held_message(path: &std::path::Path, pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!(
            "another plexsync process (pid {pid}) is already working here; it holds {}",
            path.display()
        ),
        None => format!(
            "another plexsync process is already working here; it holds {}",
            path.display()
        ),
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
