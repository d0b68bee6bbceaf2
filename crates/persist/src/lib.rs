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
//!   lease's: losing one to a power cut only means the job is delivered again, which
//!   at-least-once delivery allows, and it halves the syncs of a lease-and-ack.
//! - **No lost updates.** Every read-modify-write holds an exclusive `flock(2)` on a sidecar
//!   lock file. A busy lock is waited for (10 s by default, then a clear error); a save is
//!   never skipped. Locks die with their process.
//! - **Jobs are delivered at least once.** A leased job comes back when its visibility deadline
//!   passes without an ack; an ack or a retry from a holder whose lease was taken over is
//!   refused ([`Error::LeaseLost`]), so a job is never finished twice.
//! - **Jobs waiting for a retry cost nothing.** Ready jobs are kept ordered by the time they
//!   become ready, so leasing never walks past jobs that are not ready.
//! - **Cost follows the live jobs, not the history.** Enqueueing appends one record without
//!   reading the queue. The journal is compacted into a snapshot automatically once it holds
//!   more than twice as many records as there are jobs, crash-safely. In memory a job costs
//!   about 160 bytes: its key is kept as a 128-bit hash and its payload stays on disk until
//!   the job is handed out.
//! - **Damage is contained.** Journal and snapshot lines each carry a CRC-32; a damaged line is
//!   skipped and reported while every intact one is used. A state file that cannot be read is
//!   moved to `<name>.corrupt-<millis>`, never deleted. Files are created with mode 0600 and
//!   directories with 0700.
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
pub use lock::DEFAULT_LOCK_TIMEOUT;
pub use queue::{
    Attempt, DeadJob, Job, JobId, Lease, MAX_KEY_LEN, Payload, Queue, QueueOptions, Recovery,
    Selection, Stats,
};
pub use state::StateFile;
