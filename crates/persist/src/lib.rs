//! Crash-safe, multi-process storage for plexsync: locked JSON state files and a durable job
//! queue that never loses a job.
//!
//! ```
//! use persist::{Queue, QueueOptions, StateFile};
//! # let dir = std::env::temp_dir().join(format!("persist-doc-{}", std::process::id()));
//!
//! // A typed state file, updated read-modify-write under a lock.
//! let counter: StateFile<u64> = StateFile::new(dir.join("counter.json"), 1);
//! counter.update(|n| *n += 1)?;
//! assert_eq!(counter.load()?, 1);
//!
//! // A job queue: enqueue is durable when it returns; a lease must be acked before it expires.
//! let mut queue = Queue::open(dir.join("queue"), QueueOptions::default())?;
//! let now = 1_700_000_000_000;
//! queue.enqueue("scene-42", &serde_json::json!({"scene": 42}), now)?;
//! let lease = queue.lease(30_000, now)?.expect("a job is ready");
//! assert_eq!(lease.job.key, "scene-42");
//! queue.ack(&lease)?;
//! assert_eq!(queue.stats(now)?.pending, 0);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), persist::Error>(())
//! ```
//!
//! # Guarantees
//!
//! Stash kills plugin processes without warning and runs several at once; everything here
//! assumes a process can die between any two instructions and that another is running beside
//! it.
//!
//! - **Every write is atomic and durable.** State files are replaced by writing a temporary
//!   file in the same directory, syncing it, renaming it over the target and syncing the
//!   directory. Journal records are appended and synced before the call returns, except a
//!   lease's (and an extension's): losing one to a power cut only means the job is delivered
//!   again, which at-least-once delivery allows, and it halves the syncs of a lease-and-ack.
//!   [`StateFile::update_if_changed`] skips the write when nothing changed.
//! - **No lost updates.** Every read-modify-write holds an exclusive `flock(2)` on a sidecar
//!   lock file. A busy lock is waited for (10 s by default, then a clear error); a save is
//!   never skipped. Locks die with their process. [`WorkerLock`] is the one lock that is
//!   tried and never waited for: one drainer at a time.
//! - **Jobs are delivered at least once.** A leased job comes back when its visibility deadline
//!   passes without an ack, unless its holder [extends](Queue::extend) the lease; an ack or a
//!   retry from a holder whose lease was taken over is refused ([`Error::LeaseLost`]), so a job
//!   is never finished twice.
//! - **Jobs waiting for a retry cost nothing.** Ready jobs are kept ordered by the time they
//!   become ready, so leasing never walks past jobs that are not ready.
//! - **A clock that steps back stalls nothing.** Every lease and retry remembers when it was
//!   set; one set "after" the present is brought within its own wait of the present, so a
//!   dead holder's job and a pending retry wait at most their own window, never the size of
//!   the step.
//! - **Cost follows the live jobs, not the history.** Enqueueing appends one record without
//!   reading the queue's records; [`Queue::enqueue_many`] appends a batch with one sync. The journal is
//!   compacted into a snapshot automatically once it holds more than twice as many records as
//!   there are jobs, crash-safely. In memory a job costs under 200 bytes: its key is kept as
//!   a 128-bit hash and its payload stays on disk until the job is handed out.
//! - **Damage is contained and kept.** Every line carries a CRC-32, and every journal line the
//!   offset it was written at, so bytes inserted or removed anywhere are noticed; every closed
//!   segment ends with a seal, so one cut short is noticed; a snapshot hides older files only
//!   once its trailer proves it whole. What is damaged is skipped and reported
//!   ([`Queue::recovery`]); every intact record is used; appends never go where damage could
//!   make a new job's id collide with an old one's. Nothing is deleted because it could not be
//!   read: a bad state file is moved to `<name>.corrupt-<millis>`, and damaged queue files are
//!   moved aside when compaction retires them. Only regular files of bounded size are read: a
//!   FIFO or a device where a file should be is refused, never waited on.
//! - **Readers can change nothing.** [`Queue::open_read_only`] and [`StateFile::peek`] create,
//!   move, truncate and write nothing, and give up on a busy lock within a second
//!   ([`Error::Busy`]): what a health check needs.
//! - **Upgrades keep state, downgrades touch nothing.** A state file from an older schema is
//!   carried forward by [`StateFile::with_migration`]; only one that cannot be is moved aside.
//!   A queue of an older format is read as it is and carried forward by the first write. A
//!   state file or queue written by a newer version ([`Error::FutureSchema`],
//!   [`Error::TooNew`], [`Error::Foreign`]) is refused by readers and writers alike and left
//!   exactly as it is: nothing is added to what this version could not read back.
//! - **Nobody waits on a compaction.** The snapshot is written without the queue's lock: the
//!   lock is taken only to start a new segment before, and to rename the snapshot into place
//!   after.
//!
//! [`Queue::in_memory`] is the same queue without a disk: the same records applied to the same
//! view, for tests and simulations that cannot afford a sync per operation.
//!
//! Time is passed in (`now`, wall-clock milliseconds) so that callers, tests and the
//! simulator decide what time it is.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod fsutil;
mod line;
mod lock;
mod queue;
mod state;

pub use error::{Error, Result};
pub use lock::{DEFAULT_LOCK_TIMEOUT, WorkerLock};
pub use queue::{
    Attempt, DeadJob, Job, JobId, Lease, MAX_KEY_LEN, Payload, Queue, QueueOptions, Recovery,
    Selection, Stats,
};
pub use state::{DEFAULT_MAX_STATE_BYTES, Migration, StateFile};

/// Writes a small file whole or not at all (mode 0600 on Unix): the bytes go to a temporary
/// file beside it, which is synced and renamed over `path`, and the directory is synced. A
/// failure (a full disk, say) leaves what was at `path` as it was.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    fsutil::write_atomic(path, bytes)
}
