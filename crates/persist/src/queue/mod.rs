//! A durable job queue with at-least-once delivery, shared by any number of processes.

mod job;
mod journal;
mod op;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use job::{Attempt, DeadJob, Job, JobId, Lease, Payload, Selection, Stats};
use journal::{Files, Journal};
use op::{Op, Record, SCHEMA};
use serde::Serialize;
use view::{Loc, Meta, View};

use crate::error::{Error, Result};
use crate::lock::{DEFAULT_LOCK_TIMEOUT, LockFile, Mode};
use crate::{fsutil, line};

/// The longest job key, in bytes.
pub const MAX_KEY_LEN: usize = 256;

/// Tuning for a [`Queue`].
#[derive(Clone, Copy, Debug)]
pub struct QueueOptions {
    /// How long an operation waits for another process to release the queue.
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
    /// Files those lines were in. They are moved aside, not removed, when compaction
    /// retires them.
    pub damaged_files: Vec<PathBuf>,
}

/// A job queue in a directory. See the crate documentation for the guarantees.
///
/// Every operation takes the queue's lock for its own duration only. [`Queue::enqueue`] only
/// appends; everything else first brings this process's view of the queue up to date by
/// reading what other processes appended since (or the whole queue, the first time).
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    lock: std::sync::Arc<LockFile>,
    journal: Journal,
    options: QueueOptions,
    loaded: Option<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    view: View,
    /// The snapshot the view was built from (0: none).
    snapshot: u64,
    /// Bytes consumed per segment.
    positions: BTreeMap<u64, u64>,
    /// Records in the journal after the snapshot.
    records: u64,
    recovery: Recovery,
    damaged: BTreeSet<PathBuf>,
}

impl Queue {
    /// The queue in `dir`, which is created (mode 0700) if missing. Nothing is read yet.
    pub fn open(dir: impl Into<PathBuf>, options: QueueOptions) -> Result<Queue> {
        let dir = dir.into();
        fsutil::ensure_dir(&dir)?;
        let lock = std::sync::Arc::new(LockFile::open(&dir.join("lock"))?);
        Ok(Queue {
            journal: Journal::new(dir.clone(), lock.clone()),
            lock,
            dir,
            options,
            loaded: None,
        })
    }

    /// The queue's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds a job; it is on disk when this returns. Costs one append whatever the length of
    /// the queue. A pending job with the same `key` is superseded by this one; if the older
    /// one is in flight, this one waits until it is finished.
    pub fn enqueue(&mut self, key: &str, payload: &impl Serialize, now: u64) -> Result<JobId> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Error::BadKey {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let payload = Payload::encode(payload).map_err(|source| Error::Encode {
            path: self.dir.clone(),
            source,
        })?;
        let _held = self
            .lock
            .acquire(Mode::Exclusive, self.options.lock_timeout)?;
        let mut id = JobId(0);
        let dir = self.dir.clone();
        self.journal
            .append(self.options.max_segment_bytes, true, |segment, offset| {
                id = JobId::at(segment, offset);
                encode(
                    &[Op::Enqueue {
                        id,
                        key: key.to_owned(),
                        payload: payload.clone(),
                        at: now,
                    }],
                    &dir,
                )
            })?;
        Ok(id)
    }

    /// Leases the next ready job for `visibility_ms`, or returns `None` if none is ready at
    /// `now`. Jobs waiting for a retry are not looked at; a lease whose holder missed its
    /// deadline is released first.
    pub fn lease(&mut self, visibility_ms: u64, now: u64) -> Result<Option<Lease>> {
        self.exclusive(|q| {
            let expired = q.view()?.expired(now);
            if !expired.is_empty() {
                let ops: Vec<Op> = expired
                    .into_iter()
                    .map(|(id, token)| Op::Expire { id, token, at: now })
                    .collect();
                // Losing these to a power cut only delays the release to the next lease call.
                q.write(false, |_, _| ops)?;
            }
            let Some(id) = q.view_mut()?.next_ready(now) else {
                return Ok(None);
            };
            let until = now.saturating_add(visibility_ms);
            let mut token = 0;
            // A lease lost to a power cut only means the job is delivered again, which
            // at-least-once delivery allows; the ack that follows is synced, and so is the
            // segment before it.
            q.write(false, |segment, offset| {
                token = JobId::at(segment, offset).0;
                vec![Op::Lease { id, token, until }]
            })?;
            let job = q.job(id)?;
            Ok(Some(Lease { job, until, token }))
        })
    }

    /// The job is done: remove it.
    pub fn ack(&mut self, lease: &Lease) -> Result<()> {
        let (id, token) = (lease.job.id, lease.token);
        self.finish(lease, Op::Ack { id, token })
    }

    /// The job failed and should run again no earlier than `next_retry_at`. `counted` says
    /// whether this spends one of its attempts (a "server down" failure does not).
    pub fn retry(
        &mut self,
        lease: &Lease,
        next_retry_at: u64,
        counted: bool,
        error: &str,
        now: u64,
    ) -> Result<()> {
        let op = Op::Retry {
            id: lease.job.id,
            token: lease.token,
            at: now,
            next: next_retry_at,
            counted,
            error: error.to_owned(),
        };
        self.finish(lease, op)
    }

    /// The job cannot succeed: move it to the dead-letter queue with `error`.
    pub fn dead_letter(&mut self, lease: &Lease, error: &str, now: u64) -> Result<()> {
        let op = Op::Dead {
            id: lease.job.id,
            token: lease.token,
            at: now,
            error: error.to_owned(),
        };
        self.finish(lease, op)
    }

    /// The dead-lettered jobs, oldest id first.
    pub fn dead_letters(&mut self) -> Result<Vec<DeadJob>> {
        self.read_only(|q| {
            let ids: Vec<JobId> = q.view()?.dead().map(|(id, _)| id).collect();
            ids.into_iter().map(|id| q.dead_job(id)).collect()
        })
    }

    /// The live jobs, in id order.
    pub fn jobs(&mut self) -> Result<Vec<Job>> {
        self.read_only(|q| {
            let ids = q.view()?.live_ids();
            ids.into_iter().map(|id| q.job(id)).collect()
        })
    }

    /// Counts as of `now`.
    pub fn stats(&mut self, now: u64) -> Result<Stats> {
        self.shared(|view| view.stats(now))
    }

    /// Moves dead-lettered jobs back to the queue, ready at `now`, with their attempts reset.
    /// Returns how many were requeued. A job whose key already has a newer job queued is
    /// dropped instead, since the newer one carries the latest change.
    pub fn requeue_dead(&mut self, which: Selection, now: u64) -> Result<usize> {
        self.exclusive(|q| {
            let ids: Vec<JobId> = q
                .view()?
                .dead()
                .filter(|(id, d)| match which {
                    Selection::One(one) => *id == one,
                    Selection::All => true,
                    Selection::DeadBetween { from, to } => (from..=to).contains(&d.dead_at),
                })
                .map(|(id, _)| id)
                .collect();
            let count = ids.len();
            if count > 0 {
                q.write(true, |_, _| {
                    ids.into_iter()
                        .map(|id| Op::Requeue { id, at: now })
                        .collect()
                })?;
            }
            Ok(count)
        })
    }

    /// Deletes dead-lettered jobs that died at least `older_than_ms` before `now`. Returns how
    /// many were deleted.
    pub fn purge_dead(&mut self, older_than_ms: u64, now: u64) -> Result<usize> {
        self.exclusive(|q| {
            let ids: Vec<JobId> = q
                .view()?
                .dead()
                .filter(|(_, d)| now.saturating_sub(d.dead_at) >= older_than_ms)
                .map(|(id, _)| id)
                .collect();
            let count = ids.len();
            if count > 0 {
                q.write(true, |_, _| {
                    ids.into_iter().map(|id| Op::Purge { id }).collect()
                })?;
            }
            Ok(count)
        })
    }

    /// Rewrites the queue as one snapshot of its live and dead jobs and retires the journal.
    /// This happens on its own as the journal grows; calling it is never required.
    pub fn compact(&mut self) -> Result<()> {
        self.exclusive(|q| q.compact_locked())
    }

    /// What the last load had to work around.
    pub fn recovery(&mut self) -> Result<Recovery> {
        self.shared(|_| ())?;
        Ok(self
            .loaded
            .as_ref()
            .map(|l| l.recovery.clone())
            .unwrap_or_default())
    }

    fn finish(&mut self, lease: &Lease, op: Op) -> Result<()> {
        self.exclusive(|q| {
            if !q.view()?.holds(lease.job.id, lease.token) {
                return Err(Error::LeaseLost { job: lease.job.id });
            }
            q.write(true, |_, _| vec![op])
        })
    }

    fn exclusive<R>(&mut self, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let lock = self.lock.clone();
        let _held = lock.acquire(Mode::Exclusive, self.options.lock_timeout)?;
        self.refresh()?;
        let result = body(self)?;
        if self.due_for_compaction() {
            self.compact_locked()?;
        }
        Ok(result)
    }

    /// Runs `body` under the shared lock with the view up to date; `body` may read jobs'
    /// keys and payloads from disk but must not write.
    fn read_only<R>(&mut self, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let lock = self.lock.clone();
        let _held = lock.acquire(Mode::Shared, self.options.lock_timeout)?;
        self.refresh()?;
        body(self)
    }

    /// Runs `read` with the view and the journal that jobs' keys and payloads are read from.
    fn with_journal<R>(
        &mut self,
        read: impl FnOnce(&mut Journal, &View) -> Result<R>,
    ) -> Result<R> {
        let Queue {
            journal, loaded, ..
        } = self;
        let view = &loaded
            .as_ref()
            .expect("the view is loaded under the lock")
            .view;
        read(journal, view)
    }

    /// The live job `id`, with its key and payload read back from disk.
    fn job(&mut self, id: JobId) -> Result<Job> {
        self.with_journal(|journal, view| materialize(journal, view, id))
    }

    /// The dead-lettered job `id`, with its key and payload read back from disk.
    fn dead_job(&mut self, id: JobId) -> Result<DeadJob> {
        self.with_journal(|journal, view| materialize_dead(journal, view, id))
    }

    fn shared<R>(&mut self, body: impl FnOnce(&View) -> R) -> Result<R> {
        self.read_only(|q| Ok(body(q.view()?)))
    }

    fn view_mut(&mut self) -> Result<&mut View> {
        if self.loaded.is_none() {
            self.refresh()?;
        }
        Ok(&mut self.loaded.as_mut().expect("refresh loads the view").view)
    }

    fn view(&mut self) -> Result<&View> {
        if self.loaded.is_none() {
            self.refresh()?;
        }
        Ok(&self.loaded.as_ref().expect("refresh loads the view").view)
    }

    /// Appends the records `ops` returns (given the segment and offset they will start at)
    /// and applies them by reading them back, exactly as another process would.
    fn write(&mut self, durable: bool, ops: impl FnOnce(u64, u64) -> Vec<Op>) -> Result<()> {
        let dir = self.dir.clone();
        self.journal.append(
            self.options.max_segment_bytes,
            durable,
            |segment, offset| encode(&ops(segment, offset), &dir),
        )?;
        self.refresh()
    }

    /// Brings the view up to date with the files. Called with the lock held.
    fn refresh(&mut self) -> Result<()> {
        let files = self.journal.sync_layout()?.clone();
        let reload = match &self.loaded {
            None => true,
            // Someone compacted: what we had read may be gone, so start from their snapshot.
            Some(loaded) => files.covered() > loaded.snapshot,
        };
        if reload {
            self.loaded = Some(self.load(&files)?);
        }
        let Queue {
            journal, loaded, ..
        } = self;
        let loaded = loaded.as_mut().expect("loaded above");
        for segment in files.live_segments() {
            let path = journal::segment_path(journal.dir(), segment);
            let Loaded {
                view,
                positions,
                records,
                recovery,
                damaged,
                ..
            } = &mut *loaded;
            let position = positions.entry(segment).or_insert(0);
            let consumed = journal.read_segment(segment, *position, |_, raw| {
                *records += 1;
                match line::decode::<Op>(raw) {
                    Some(op) => view.apply(op),
                    None => {
                        recovery.damaged_lines += 1;
                        if damaged.insert(path.clone()) {
                            recovery.damaged_files.push(path.clone());
                        }
                    }
                }
            })?;
            *position += consumed;
        }
        Ok(())
    }

    fn load(&self, files: &Files) -> Result<Loaded> {
        let mut loaded = Loaded {
            view: View::default(),
            snapshot: files.covered(),
            positions: BTreeMap::new(),
            records: 0,
            recovery: Recovery::default(),
            damaged: BTreeSet::new(),
        };
        if loaded.snapshot == 0 {
            return Ok(loaded);
        }
        let path = journal::snapshot_path(&self.dir, loaded.snapshot);
        let mut header = false;
        let mut too_new = None;
        let mut damaged = false;
        let mut first = true;
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(e) => return Err(Error::io("open the snapshot", &path)(e)),
        };
        let length = file
            .metadata()
            .map_err(Error::io("read the size of", &path))?
            .len();
        let number = loaded.snapshot;
        let consumed = journal::read_lines(&mut file, &path, 0, |offset, raw| {
            match line::decode::<Record>(raw) {
                Some(Record::Header { schema }) if first => {
                    if schema > SCHEMA {
                        too_new = Some(schema);
                    }
                    header = true;
                }
                Some(record @ (Record::Live { .. } | Record::Dead { .. })) if too_new.is_none() => {
                    loaded
                        .view
                        .restore(record, Loc::Snapshot { number, offset });
                }
                _ => {
                    loaded.recovery.damaged_lines += 1;
                    damaged = true;
                }
            }
            first = false;
        })?;
        if let Some(found) = too_new {
            return Err(Error::TooNew {
                path,
                found,
                supported: SCHEMA,
            });
        }
        // A snapshot is written whole, so bytes after its last newline are damage too.
        if consumed < length {
            damaged = true;
        }
        if damaged || !header {
            loaded.damaged.insert(path.clone());
            loaded.recovery.damaged_files.push(path);
        }
        Ok(loaded)
    }

    fn due_for_compaction(&self) -> bool {
        self.loaded.as_ref().is_some_and(|l| {
            let size = (l.view.live_len() + l.view.dead_len()) as u64;
            l.records > self.options.compact_min_records && l.records > 2 * size
        })
    }

    /// Compaction with the lock held and the view up to date.
    fn compact_locked(&mut self) -> Result<()> {
        let files = self.journal.sync_layout()?.clone();
        let Some(covered) = files.live_segments().last() else {
            return Ok(());
        };
        // New appends go to a fresh segment, so the snapshot can cover every existing one.
        let next = self.journal.start_segment(covered + 1)?;
        let loaded = self
            .loaded
            .as_mut()
            .expect("the view is loaded under the lock");
        let snapshot = journal::snapshot_path(&self.dir, covered);
        let live = loaded.view.live_ids();
        let dead: Vec<JobId> = loaded.view.dead().map(|(id, _)| id).collect();
        let mut offsets = Vec::with_capacity(live.len() + dead.len());
        let journal = &mut self.journal;
        let view = &loaded.view;
        fsutil::write_atomic_with(&snapshot, |out, tmp| {
            let mut bytes = Vec::new();
            let mut offset = 0u64;
            let mut put = |record: &Record, out: &mut std::io::BufWriter<std::fs::File>| {
                bytes.clear();
                line::encode(record, &mut bytes).map_err(|source| Error::Encode {
                    path: snapshot.clone(),
                    source,
                })?;
                out.write_all(&bytes)
                    .map_err(Error::io("write the temporary file", tmp))?;
                let at = offset;
                offset += bytes.len() as u64;
                Ok::<u64, Error>(at)
            };
            put(&Record::Header { schema: SCHEMA }, out)?;
            for &id in &live {
                let job = materialize(journal, view, id)?;
                let standing = view.standing(id).expect("a live id is live");
                let record = Record::Live {
                    job,
                    lease: standing.lease,
                    ready_at: standing.ready_at,
                };
                offsets.push(put(&record, out)?);
            }
            for &id in &dead {
                let dead = materialize_dead(journal, view, id)?;
                offsets.push(put(&Record::Dead { dead }, out)?);
            }
            Ok(())
        })?;
        for (id, offset) in live.into_iter().chain(dead).zip(offsets) {
            loaded.view.relocate(
                id,
                Loc::Snapshot {
                    number: covered,
                    offset,
                },
            );
        }
        self.journal.changing_layout()?;
        let retired = files
            .segments
            .iter()
            .map(|&n| journal::segment_path(&self.dir, n))
            .chain(
                files
                    .snapshots
                    .iter()
                    .map(|&n| journal::snapshot_path(&self.dir, n)),
            );
        for path in retired {
            if loaded.damaged.contains(&path) {
                fsutil::move_aside(&path)?;
            } else {
                std::fs::remove_file(&path)
                    .map_err(Error::io("remove the compacted file", &path))?;
            }
        }
        fsutil::sync_dir(&self.dir)?;
        self.journal.sync_layout()?;
        loaded.snapshot = covered;
        loaded.positions = BTreeMap::from([(next, 0)]);
        loaded.records = 0;
        loaded.damaged.clear();
        Ok(())
    }
}

/// A live job, with its key and payload read back from where the view says they are.
fn materialize(journal: &mut Journal, view: &View, id: JobId) -> Result<Job> {
    let meta = view.meta(id).ok_or(Error::LeaseLost { job: id })?;
    job_of(journal, meta, id)
}

/// A dead-lettered job, likewise.
fn materialize_dead(journal: &mut Journal, view: &View, id: JobId) -> Result<DeadJob> {
    let dead = view.dead_entry(id).ok_or(Error::LeaseLost { job: id })?;
    Ok(DeadJob {
        job: job_of(journal, &dead.meta, id)?,
        dead_at: dead.dead_at,
        error: dead.error.clone(),
    })
}

fn job_of(journal: &mut Journal, meta: &Meta, id: JobId) -> Result<Job> {
    let (key, payload) = body(journal, meta.loc(), id)?;
    let failures = meta.failures();
    Ok(Job {
        id,
        key,
        payload,
        enqueued_at: meta.enqueued_at,
        attempts: meta.attempts,
        deliveries: u32::from(meta.deliveries),
        next_retry_at: failures.next_retry_at,
        history: failures.history,
    })
}

/// A job's key and payload, from the record at `loc`.
fn body(journal: &mut Journal, loc: Loc, id: JobId) -> Result<(String, Payload)> {
    let raw = journal.read_record(loc)?;
    let found = match loc {
        Loc::Segment(_) => match line::decode::<Op>(&raw) {
            Some(Op::Enqueue {
                id: stored,
                key,
                payload,
                ..
            }) if stored == id => Some((key, payload)),
            _ => None,
        },
        Loc::Snapshot { .. } => match line::decode::<Record>(&raw) {
            Some(Record::Live { job, .. }) if job.id == id => Some((job.key, job.payload)),
            Some(Record::Dead { dead }) if dead.job.id == id => {
                Some((dead.job.key, dead.job.payload))
            }
            _ => None,
        },
    };
    found.ok_or_else(|| Error::Io {
        action: "read back job",
        path: journal.dir().join(id.to_string()),
        source: std::io::Error::other(
            "its record is no longer where it was; the queue files were changed by something else",
        ),
    })
}

fn encode(ops: &[Op], dir: &Path) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    for op in ops {
        line::encode(op, &mut bytes).map_err(|source| Error::Encode {
            path: dir.to_owned(),
            source,
        })?;
    }
    Ok(bytes)
}
