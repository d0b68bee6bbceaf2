//! A durable job queue with at-least-once delivery, shared by any number of processes; or the
//! same queue in memory.

mod compact;
mod job;
mod journal;
mod load;
mod op;
mod view;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use job::{Attempt, DeadJob, Job, JobId, Lease, Payload, Selection, Stats};
use journal::{Access, Durability, Journal};
use load::Loaded;
use op::{Op, Parsed, Record};
use serde::Serialize;
use view::{Loc, Meta, View};

use crate::error::{Error, Result};
use crate::lock::{DEFAULT_LOCK_TIMEOUT, LockFile, Mode};
use crate::{fsutil, line};

/// The longest job key, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// The longest a read-only queue waits for the lock.
const READ_ONLY_WAIT: Duration = Duration::from_secs(1);

/// Tuning for a [`Queue`].
#[derive(Clone, Copy, Debug)]
pub struct QueueOptions {
    /// How long an operation waits for another process to release the queue (a read-only
    /// queue waits at most 1 s).
    pub lock_timeout: Duration,
    /// Compaction runs once the journal holds more than this many records and more than
    /// twice as many as there are jobs; so the disk holds O(jobs) whatever the history.
    pub compact_min_records: u64,
    /// A journal segment that reaches this size is closed and a new one started.
    pub max_segment_bytes: u64,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            compact_min_records: 1_000,
            max_segment_bytes: 64 << 20,
        }
    }
}

/// What loading the queue found wrong and worked around.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Lines skipped because their checksum or contents were wrong.
    pub damaged_lines: u64,
    /// Files that held damage. They are moved aside, not removed, when compaction retires
    /// them.
    pub damaged_files: Vec<PathBuf>,
    /// What was found, one sentence each, e.g. that bytes went missing before an offset or
    /// that a closed segment was cut short.
    pub details: Vec<String>,
    /// Files in an older plexsync's format, read as they are. The first operation that
    /// writes carries them forward into today's format (a compaction) and removes them.
    pub old_format: Vec<PathBuf>,
    /// Files moved aside, now or before, because they held damage: what could be read of
    /// them is in the queue; they are kept for a person to look at.
    pub moved_aside: Vec<PathBuf>,
    /// Files of an older format this process carried forward (and removed): their jobs are
    /// in today's format now.
    pub carried_forward: Vec<PathBuf>,
}

impl Recovery {
    /// Whether anything was found damaged in the files read (files moved aside earlier
    /// aside).
    pub fn found_damage(&self) -> bool {
        self.damaged_lines > 0 || !self.damaged_files.is_empty() || !self.details.is_empty()
    }
}

/// A job queue. See the crate documentation for the guarantees.
///
/// On disk ([`Queue::open`]) every operation takes the queue's lock for its own duration
/// only. [`Queue::enqueue`] only appends; everything else first brings this process's view of
/// the queue up to date by reading what other processes appended since (or the whole queue,
/// the first time). [`Queue::open_read_only`] reads the same files and changes nothing.
/// [`Queue::in_memory`] keeps everything in memory: the same records applied to the same
/// view, so the same semantics, without a file or a lock.
#[derive(Debug)]
pub struct Queue {
    options: QueueOptions,
    backend: Backend,
    /// Acks written and not yet synced.
    unsynced: usize,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one queue is made per process or simulation; its size does not matter"
)]
enum Backend {
    Disk(Disk),
    Memory(Memory),
}

#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    /// The files, and what this process may do with them.
    journal: Journal,
    loaded: Option<Loaded>,
}

#[derive(Debug, Default)]
struct Memory {
    view: View,
    bodies: HashMap<JobId, (String, Payload)>,
    /// The next record's position; each record gets its own, as on disk.
    next: u64,
}

/// What is left unsynced is synced when the queue goes (an error then is not reported: the
/// acks are written, and a crash of the machine would only make their jobs run again).
impl Drop for Queue {
    fn drop(&mut self) {
        if self.unsynced > 0 {
            let _ = self.sync();
        }
    }
}

impl Queue {
    /// The queue in `dir`, which is created (mode 0700) if missing. Nothing is read yet.
    pub fn open(dir: impl Into<PathBuf>, options: QueueOptions) -> Result<Queue> {
        let dir = dir.into();
        fsutil::ensure_dir(&dir)?;
        let lock = Arc::new(LockFile::open(&dir.join("lock"))?);
        Ok(Queue {
            options,
            backend: Backend::Disk(Disk {
                journal: Journal::new(dir.clone(), Access::ReadWrite(lock)),
                dir,
                loaded: None,
            }),
            unsynced: 0,
        })
    }

    /// The queue in `dir` for reading only: it creates, truncates, moves and writes nothing,
    /// works where the directory is not writable, and waits at most one second for a writer
    /// before giving up with [`Error::Busy`]. A missing directory is an empty queue. Every
    /// operation that would change the queue fails with [`Error::ReadOnly`].
    pub fn open_read_only(dir: impl Into<PathBuf>, options: QueueOptions) -> Result<Queue> {
        let dir = dir.into();
        let lock = LockFile::open_existing(&dir.join("lock"))?.map(Arc::new);
        Ok(Queue {
            options: QueueOptions {
                lock_timeout: options.lock_timeout.min(READ_ONLY_WAIT),
                ..options
            },
            backend: Backend::Disk(Disk {
                journal: Journal::new(dir.clone(), Access::ReadOnly(lock)),
                dir,
                loaded: None,
            }),
            unsynced: 0,
        })
    }

    /// An empty queue in memory, for tests and simulations: nothing is written anywhere and
    /// nothing survives the value.
    pub fn in_memory() -> Queue {
        Queue {
            options: QueueOptions::default(),
            backend: Backend::Memory(Memory {
                next: 1,
                ..Memory::default()
            }),
            unsynced: 0,
        }
    }

    /// The queue's directory; `None` for a queue in memory.
    pub fn dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Disk(disk) => Some(&disk.dir),
            Backend::Memory(_) => None,
        }
    }

    /// Adds a job; it is on disk when this returns. Costs one append whatever the length of
    /// the queue. A pending job with the same `key` is superseded by this one; if the older
    /// one is in flight, this one waits until it is finished.
    pub fn enqueue(&mut self, key: &str, payload: &impl Serialize, now: u64) -> Result<JobId> {
        let ids = self.enqueue_many([(key, payload)], now)?;
        Ok(ids[0])
    }

    /// Adds many jobs with one append and one sync, in order (so a later one with the same
    /// key as an earlier one supersedes it). Either all are stored or, on error, none is
    /// acknowledged.
    pub fn enqueue_many<K, P>(
        &mut self,
        jobs: impl IntoIterator<Item = (K, P)>,
        now: u64,
    ) -> Result<Vec<JobId>>
    where
        K: AsRef<str>,
        P: Serialize,
    {
        let mut prepared = Vec::new();
        for (key, payload) in jobs {
            let key = key.as_ref();
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(Error::BadKey {
                    len: key.len(),
                    max: MAX_KEY_LEN,
                });
            }
            let payload = Payload::encode(&payload).map_err(|source| Error::Encode {
                path: self.dir().map(Path::to_owned).unwrap_or_default(),
                source,
            })?;
            prepared.push((key.to_owned(), payload));
        }
        if prepared.is_empty() {
            return Ok(Vec::new());
        }
        let count = prepared.len();
        let mut prepared = prepared.into_iter();
        let mut build = |_: usize, id: JobId| {
            let (key, payload) = prepared.next().expect("one op per job");
            Op::Enqueue {
                id,
                key,
                payload,
                at: now,
            }
        };
        match &mut self.backend {
            Backend::Memory(memory) => Ok(memory.write(count, build)),
            Backend::Disk(disk) => {
                // An enqueue only appends: it never reads the queue, whatever its length.
                let lock = disk.writable_lock()?;
                let _held = lock.acquire(Mode::Exclusive, self.options.lock_timeout)?;
                let mut ids = Vec::with_capacity(count);
                let dir = disk.dir.clone();
                disk.journal.append(
                    self.options.max_segment_bytes,
                    Durability::Synced,
                    |segment, offset| {
                        encode_ops(count, segment, offset, &dir, &mut ids, &mut build)
                    },
                )?;
                Ok(ids)
            }
        }
    }

    /// Leases the next ready job for `visibility_ms`, or returns `None` if none is ready at
    /// `now`. Jobs waiting for a retry are not looked at; a lease whose holder missed its
    /// deadline is released first. A `now` earlier than times already recorded means the
    /// clock stepped back: every lease and retry set after it is brought within its own wait
    /// of `now`, so that nothing stalls by the size of the step.
    pub fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>> {
        self.exclusive(|q| {
            if q.view()?.needs_rebase(now) {
                // Losing this to a power cut only means it is written again next time.
                q.write(Durability::Written, 1, |_, _| Op::Rebase { at: now })?;
            }
            let expired = q.view()?.expired(now);
            if !expired.is_empty() {
                // Losing these to a power cut only delays the release to the next lease call.
                let mut ops =
                    expired
                        .into_iter()
                        .map(|(id, token)| Op::Expire { id, token, at: now });
                q.write(Durability::Written, ops.len(), |_, _| {
                    ops.next().expect("one per lease")
                })?;
            }
            q.retrying_after_reload(|q| {
                let Some(id) = q.view()?.next_ready(now) else {
                    return Ok(None);
                };
                // Read the job before writing anything: a job that cannot be read back must
                // not be left leased to nobody.
                let mut job = q.job_by_id(id)?;
                let until = now.saturating_add(visibility_ms);
                // A lease lost to a power cut only means the job is delivered again, which
                // at-least-once delivery allows; the ack that follows is synced.
                let tokens = q.write(Durability::Written, 1, |_, position| Op::Lease {
                    id,
                    token: position.0,
                    until,
                    at: now,
                })?;
                job.deliveries += 1;
                Ok(Some(Lease {
                    job,
                    until,
                    token: tokens[0].0,
                }))
            })
        })
    }

    /// Releases every lease still held, so that their jobs are ready again at once; returns
    /// how many. For a worker that holds the [`WorkerLock`](crate::WorkerLock) of every
    /// worker, and so knows that whoever leased them has stopped (killed, say): without this
    /// they would wait out their visibility deadline.
    pub fn release_leases(&mut self, now: u64) -> Result<usize> {
        self.exclusive(|q| {
            let held = q.view()?.expired(u64::MAX);
            let released = held.len();
            if released > 0 {
                // Losing these to a power cut only means they wait out their deadline.
                let mut ops = held
                    .into_iter()
                    .map(|(id, token)| Op::Expire { id, token, at: now });
                q.write(Durability::Written, released, |_, _| {
                    ops.next().expect("one per lease")
                })?;
            }
            Ok(released)
        })
    }

    /// Moves the deadline of a lease still held to `until`, so a slow but live job is not
    /// delivered to someone else. Fails with [`Error::LeaseLost`] if the lease already ran
    /// out and was taken over, or the job was finished.
    pub fn extend(&mut self, lease: &mut Lease, until: u64, now: u64) -> Result<()> {
        let (id, token) = (lease.job.id, lease.token);
        self.exclusive(|q| {
            if !q.view()?.holds(id, token) {
                return Err(Error::LeaseLost { job: id });
            }
            q.write(Durability::Written, 1, |_, _| Op::Extend {
                id,
                token,
                until,
                at: now,
            })?;
            Ok(())
        })?;
        lease.until = until;
        Ok(())
    }

    /// The job is done: remove it.
    pub fn ack(&mut self, lease: &Lease) -> Result<()> {
        let (id, token) = (lease.job.id, lease.token);
        self.finish(lease, Op::Ack { id, token }, Durability::Synced)
    }

    /// [`Queue::ack`], written but not yet synced to disk, so that several acks share one
    /// sync ([`Queue::sync`]). Every other process sees it at once, and it outlives this
    /// process however it ends; only a crash of the whole machine before the sync may lose it,
    /// and then the job runs again: each job is still done at least once.
    pub fn ack_unsynced(&mut self, lease: &Lease) -> Result<()> {
        let (id, token) = (lease.job.id, lease.token);
        self.finish(lease, Op::Ack { id, token }, Durability::Written)?;
        self.unsynced += 1;
        Ok(())
    }

    /// Acks written by [`Queue::ack_unsynced`] since the last [`Queue::sync`].
    pub fn unsynced_acks(&self) -> usize {
        self.unsynced
    }

    /// Makes everything this queue has written durable, [`Queue::ack_unsynced`]'s acks too.
    pub fn sync(&mut self) -> Result<()> {
        if let Backend::Disk(disk) = &mut self.backend {
            disk.journal.sync_written()?;
        }
        self.unsynced = 0;
        Ok(())
    }

    /// The job failed and should run again no earlier than `next_retry_at`. `counted` says
    /// whether this spends one of its attempts (a "server down" failure does not); `class`
    /// names the kind of failure, `error` describes it.
    pub fn retry(
        &mut self,
        lease: &Lease,
        next_retry_at: u64,
        counted: bool,
        class: &str,
        error: &str,
        now: u64,
    ) -> Result<()> {
        let op = Op::Retry {
            id: lease.job.id,
            token: lease.token,
            at: now,
            next: next_retry_at,
            counted,
            class: class.to_owned(),
            error: error.to_owned(),
        };
        self.finish(lease, op, Durability::Synced)
    }

    /// The job cannot succeed: move it to the dead-letter queue, with the class and the
    /// message of the failure that ended it.
    pub fn dead_letter(&mut self, lease: &Lease, class: &str, error: &str, now: u64) -> Result<()> {
        let op = Op::Dead {
            id: lease.job.id,
            token: lease.token,
            at: now,
            class: class.to_owned(),
            error: error.to_owned(),
        };
        self.finish(lease, op, Durability::Synced)
    }

    /// The dead-lettered jobs, oldest id first.
    pub fn dead_letters(&mut self) -> Result<Vec<DeadJob>> {
        self.reading(|q| {
            q.retrying_after_reload(|q| {
                let ids: Vec<JobId> = q.view()?.dead().map(|(id, _)| id).collect();
                ids.into_iter().map(|id| q.dead_job_by_id(id)).collect()
            })
        })
    }

    /// The live jobs, in id order.
    pub fn jobs(&mut self) -> Result<Vec<Job>> {
        self.reading(|q| {
            q.retrying_after_reload(|q| {
                let ids = q.view()?.live_ids();
                ids.into_iter().map(|id| q.job_by_id(id)).collect()
            })
        })
    }

    /// One live job; [`Error::NotFound`] if the queue has no such live job.
    pub fn job(&mut self, id: JobId) -> Result<Job> {
        self.reading(|q| q.retrying_after_reload(|q| q.job_by_id(id)))
    }

    /// How many live jobs there are (ready, waiting for a retry, or leased): what
    /// [`Queue::stats`] counts as `pending + leased`, without a pass over every job.
    pub fn len(&mut self) -> Result<usize> {
        self.reading(|q| Ok(q.view()?.live_len()))
    }

    /// Whether no live job is left (dead letters aside).
    pub fn is_empty(&mut self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Counts as of `now`.
    pub fn stats(&mut self, now: u64) -> Result<Stats> {
        self.reading(|q| Ok(q.view()?.stats(now)))
    }

    /// Moves the selected dead-lettered jobs back to the queue, ready at `now`, with their
    /// attempts reset. Returns how many were requeued. A job whose key already has a newer
    /// job queued is dropped instead, since the newer one carries the latest change.
    pub fn requeue_dead(&mut self, which: Selection, now: u64) -> Result<usize> {
        self.change_dead(&which, |id| Op::Requeue { id, at: now })
    }

    /// Deletes the selected dead-lettered jobs. Returns how many were deleted.
    pub fn purge_dead(&mut self, which: Selection) -> Result<usize> {
        self.change_dead(&which, |id| Op::Purge { id })
    }

    /// Rewrites the queue as one snapshot of its live and dead jobs and retires the journal.
    /// This happens on its own as the journal grows; calling it is never required.
    pub fn compact(&mut self) -> Result<()> {
        match &self.backend {
            Backend::Memory(_) => return Ok(()),
            Backend::Disk(disk) => disk.writable_lock()?,
        };
        let Some(compacting) = compact::claim(self, self.options.lock_timeout)? else {
            return Err(Error::LockTimeout {
                path: self
                    .dir()
                    .map(|d| d.join("compact.lock"))
                    .unwrap_or_default(),
                waited: self.options.lock_timeout,
            });
        };
        if let Some(prepared) = self.locked(true, |q| compact::prepare(q, compacting))? {
            self.finish_compaction(prepared)?;
        }
        Ok(())
    }

    /// Steps 2 and 3 of a compaction: the snapshot written without the queue's lock, then
    /// committed with it.
    fn finish_compaction(&mut self, prepared: compact::Prepared) -> Result<()> {
        let built = compact::build(self, prepared)?;
        // The commit replaces the view whole: no need to bring the old one up to date first.
        self.locked(false, |q| compact::commit(q, built))
    }

    /// What loading the queue had to work around.
    pub fn recovery(&mut self) -> Result<Recovery> {
        self.reading(|q| {
            Ok(match &q.backend {
                Backend::Disk(disk) => disk
                    .loaded
                    .as_ref()
                    .map(|l| l.recovery.clone())
                    .unwrap_or_default(),
                Backend::Memory(_) => Recovery::default(),
            })
        })
    }

    fn change_dead(&mut self, which: &Selection, op: impl Fn(JobId) -> Op) -> Result<usize> {
        self.exclusive(|q| {
            let ids: Vec<JobId> = q
                .view()?
                .dead()
                .filter(|(id, d)| which.matches(*id, d.dead_at, &d.class))
                .map(|(id, _)| id)
                .collect();
            if let (Selection::One(id), true) = (which, ids.is_empty()) {
                return Err(Error::NotFound { job: *id });
            }
            let count = ids.len();
            if count > 0 {
                q.write(Durability::Synced, count, |i, _| op(ids[i]))?;
            }
            Ok(count)
        })
    }

    fn finish(&mut self, lease: &Lease, op: Op, durability: Durability) -> Result<()> {
        self.exclusive(|q| {
            if !q.view()?.holds(lease.job.id, lease.token) {
                return Err(Error::LeaseLost { job: lease.job.id });
            }
            let mut op = Some(op);
            q.write(durability, 1, |_, _| op.take().expect("one record"))?;
            Ok(())
        })
    }

    /// Runs `body` with the view up to date and the right to write: under the exclusive lock
    /// on disk. An automatic compaction that follows is best-effort: its failure is recorded
    /// in [`Queue::recovery`], never reported as the failure of what `body` did.
    fn exclusive<R>(&mut self, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let lock = match &self.backend {
            Backend::Memory(_) => {
                let result = body(self)?;
                if let Backend::Memory(memory) = &mut self.backend {
                    memory.collect_garbage();
                }
                return Ok(result);
            }
            Backend::Disk(disk) => disk.writable_lock()?,
        };
        let held = lock.acquire(Mode::Exclusive, self.options.lock_timeout)?;
        self.refresh()?;
        if self.holds_old_format() {
            // Carried forward before anything is written: a writer leaves only today's format.
            compact::compact_locked(self)?;
        }
        let result = body(self)?;
        // A compaction due is prepared now, and written after the lock is released, so that
        // no one waits for it.
        let prepared = if self.due_for_compaction() {
            // Another process already compacting: this one leaves it to them.
            match compact::claim(self, Duration::ZERO) {
                Ok(Some(compacting)) => compact::prepare(self, compacting),
                other => other.map(|_| None),
            }
        } else {
            Ok(None)
        };
        drop(held);
        let compacted = match prepared {
            Ok(Some(prepared)) => self.finish_compaction(prepared),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = compacted {
            if let Backend::Disk(disk) = &mut self.backend {
                if let Some(loaded) = disk.loaded.as_mut() {
                    loaded
                        .recovery
                        .details
                        .push(format!("compaction was put off: {e}"));
                }
            }
        }
        Ok(result)
    }

    /// Runs `body` under the exclusive lock, with the view brought up to date first if
    /// `refresh`, and nothing else (no compaction after it).
    fn locked<R>(&mut self, refresh: bool, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let lock = match &self.backend {
            Backend::Memory(_) => return body(self),
            Backend::Disk(disk) => disk.writable_lock()?,
        };
        let _held = lock.acquire(Mode::Exclusive, self.options.lock_timeout)?;
        if refresh {
            self.refresh()?;
        }
        body(self)
    }

    /// Runs `body` with the view up to date, under the shared lock on disk; `body` may read
    /// jobs' keys and payloads but must not write.
    fn reading<R>(&mut self, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let (lock, read_only) = match &self.backend {
            Backend::Memory(_) => return body(self),
            Backend::Disk(disk) => {
                let access = disk.journal.access();
                (access.lock().cloned(), access.writable().is_none())
            }
        };
        let _held = match &lock {
            Some(lock) => match lock.acquire(Mode::Shared, self.options.lock_timeout) {
                Ok(held) => Some(held),
                Err(Error::LockTimeout { path, waited }) if read_only => {
                    return Err(Error::Busy { path, waited });
                }
                Err(e) => return Err(e),
            },
            None => None,
        };
        self.refresh()?;
        body(self)
    }

    /// Runs `body`; if it met a record that is not where the view says (the files changed
    /// under this process), reads the whole queue again and runs it once more.
    fn retrying_after_reload<R>(
        &mut self,
        mut body: impl FnMut(&mut Self) -> Result<R>,
    ) -> Result<R> {
        match body(self) {
            Err(Error::Damaged { .. }) if matches!(self.backend, Backend::Disk(_)) => {
                if let Backend::Disk(disk) = &mut self.backend {
                    disk.reload()?;
                }
                body(self)
            }
            other => other,
        }
    }

    /// The view, loaded if it is not yet.
    fn view(&mut self) -> Result<&mut View> {
        if let Backend::Disk(disk) = &mut self.backend {
            if disk.loaded.is_none() {
                disk.refresh()?;
            }
        }
        Ok(match &mut self.backend {
            Backend::Memory(memory) => &mut memory.view,
            Backend::Disk(disk) => &mut disk.loaded.as_mut().expect("refresh loads the view").view,
        })
    }

    /// Appends `count` records, the `i`th made by `build(i, its position)`, and applies them
    /// by reading them back, exactly as another process would. Returns their positions.
    fn write(
        &mut self,
        durability: Durability,
        count: usize,
        mut build: impl FnMut(usize, JobId) -> Op,
    ) -> Result<Vec<JobId>> {
        match &mut self.backend {
            Backend::Memory(memory) => Ok(memory.write(count, build)),
            Backend::Disk(disk) => {
                let dir = disk.dir.clone();
                let mut positions = Vec::with_capacity(count);
                disk.journal.append(
                    self.options.max_segment_bytes,
                    durability,
                    |segment, offset| {
                        encode_ops(count, segment, offset, &dir, &mut positions, &mut build)
                    },
                )?;
                disk.refresh()?;
                Ok(positions)
            }
        }
    }

    fn refresh(&mut self) -> Result<()> {
        match &mut self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Disk(disk) => disk.refresh(),
        }
    }

    /// The live job `id`, with its key and payload.
    fn job_by_id(&mut self, id: JobId) -> Result<Job> {
        let meta = self
            .view()?
            .meta(id)
            .cloned()
            .ok_or(Error::NotFound { job: id })?;
        let (key, payload) = self.body(id, meta.loc())?;
        Ok(job_of(id, key, payload, &meta))
    }

    /// The dead-lettered job `id`, with its key and payload.
    fn dead_job_by_id(&mut self, id: JobId) -> Result<DeadJob> {
        let dead = self
            .view()?
            .dead_entry(id)
            .cloned()
            .ok_or(Error::NotFound { job: id })?;
        let (key, payload) = self.body(id, dead.meta.loc())?;
        Ok(DeadJob {
            job: job_of(id, key, payload, &dead.meta),
            dead_at: dead.dead_at,
            class: dead.class,
            error: dead.error,
        })
    }

    /// A job's key and payload: in memory, or from the record at `loc`.
    fn body(&mut self, id: JobId, loc: Loc) -> Result<(String, Payload)> {
        match &mut self.backend {
            Backend::Memory(memory) => memory
                .bodies
                .get(&id)
                .cloned()
                .ok_or(Error::NotFound { job: id }),
            Backend::Disk(disk) => body_on_disk(&mut disk.journal, loc, id),
        }
    }

    fn holds_old_format(&self) -> bool {
        matches!(&self.backend, Backend::Disk(disk)
            if disk.loaded.as_ref().is_some_and(|l| !l.old_format.is_empty()))
    }

    fn due_for_compaction(&self) -> bool {
        match &self.backend {
            Backend::Disk(disk) if disk.loaded.is_some() => {
                let l = disk.loaded.as_ref().expect("checked");
                let size = (l.view.live_len() + l.view.dead_len()) as u64;
                l.records > self.options.compact_min_records && l.records > 2 * size
            }
            _ => false,
        }
    }
}

impl Disk {
    fn writable_lock(&self) -> Result<Arc<LockFile>> {
        self.journal
            .access()
            .writable()
            .cloned()
            .ok_or_else(|| Error::ReadOnly {
                path: self.dir.clone(),
            })
    }

    /// Reads everything again, listing the directory afresh: the files changed in a way
    /// other plexsync processes do not announce. Called with the lock held.
    fn reload(&mut self) -> Result<()> {
        self.journal.forget_layout();
        self.loaded = None;
        self.refresh()
    }

    /// Brings the view up to date with the files. Called with the lock held.
    fn refresh(&mut self) -> Result<()> {
        load::refresh(&mut self.journal, &mut self.loaded)
    }
}

impl Memory {
    fn write(&mut self, count: usize, mut build: impl FnMut(usize, JobId) -> Op) -> Vec<JobId> {
        let mut positions = Vec::with_capacity(count);
        for i in 0..count {
            let position = JobId::at(1, self.next);
            self.next += 1;
            let op = build(i, position);
            if let Op::Enqueue {
                id, key, payload, ..
            } = &op
            {
                self.bodies.insert(*id, (key.clone(), payload.clone()));
            }
            self.view.apply(
                op,
                Loc::Segment {
                    segment: 1,
                    offset: position.offset(),
                },
            );
            positions.push(position);
        }
        positions
    }

    /// Drops the bodies of jobs that are gone, once they are the larger part.
    fn collect_garbage(&mut self) {
        let held = self.view.live_len() + self.view.dead_len();
        if self.bodies.len() > 2 * held + 64 {
            let view = &self.view;
            self.bodies.retain(|id, _| view.contains(*id));
        }
    }
}

/// Encodes `count` records made by `build` as journal lines starting at `offset` of
/// `segment`, each stating its own offset, and records their positions.
fn encode_ops(
    count: usize,
    segment: u64,
    offset: u64,
    dir: &Path,
    positions: &mut Vec<JobId>,
    build: &mut impl FnMut(usize, JobId) -> Op,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for i in 0..count {
        let at = offset + bytes.len() as u64;
        let position = JobId::at(segment, at);
        let op = build(i, position);
        line::encode(&op, Some(at), &mut bytes).map_err(|source| Error::Encode {
            path: dir.to_owned(),
            source,
        })?;
        positions.push(position);
    }
    Ok(bytes)
}

fn job_of(id: JobId, key: String, payload: Payload, meta: &Meta) -> Job {
    let failures = meta.failures();
    Job {
        id,
        key,
        payload,
        enqueued_at: meta.enqueued_at,
        attempts: meta.attempts,
        deliveries: u32::from(meta.deliveries),
        next_retry_at: failures.next_retry_at,
        history: failures.history,
    }
}

/// A job's key and payload, from the record at `loc`; [`Error::Damaged`] if what is there is
/// not that job's record.
fn body_on_disk(journal: &mut Journal, loc: Loc, id: JobId) -> Result<(String, Payload)> {
    let raw = journal.read_record(loc)?;
    let found = match loc {
        Loc::Segment { .. } => match op::read_op(&raw) {
            Parsed::Current(
                _,
                Op::Enqueue {
                    id: stored,
                    key,
                    payload,
                    ..
                },
            )
            | Parsed::Legacy(Op::Enqueue {
                id: stored,
                key,
                payload,
                ..
            }) if stored == id => Some((key, payload)),
            _ => None,
        },
        Loc::Snapshot { .. } => match op::read_record(&raw) {
            Parsed::Current(_, Record::Live { job, .. })
            | Parsed::Legacy(Record::Live { job, .. })
                if job.id == id =>
            {
                Some((job.key, job.payload))
            }
            Parsed::Current(_, Record::Dead { dead }) | Parsed::Legacy(Record::Dead { dead })
                if dead.job.id == id =>
            {
                Some((dead.job.key, dead.job.payload))
            }
            _ => None,
        },
    };
    found.ok_or_else(|| {
        let (path, offset) = match loc {
            Loc::Segment { segment, offset } => {
                (journal::segment_path(journal.dir(), segment), offset)
            }
            Loc::Snapshot { number, offset } => {
                (journal::snapshot_path(journal.dir(), number), offset)
            }
        };
        Error::Damaged {
            path,
            cause: format!("the record of job {id} is no longer at offset {offset}"),
        }
    })
}
