//! A durable job queue with at-least-once delivery, shared by any number of processes.

mod job;
mod journal;
mod op;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use job::{Attempt, DeadJob, Job, JobId, Lease, Selection, Stats};
use journal::Files;
use op::{Op, Record, SCHEMA};
use view::View;

use crate::error::{Error, Result};
use crate::lock::{self, DEFAULT_LOCK_TIMEOUT, Mode};
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
    lock_path: PathBuf,
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
        Ok(Queue {
            lock_path: dir.join("lock"),
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
    pub fn enqueue(&mut self, key: &str, payload: &serde_json::Value, now: u64) -> Result<JobId> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Error::BadKey {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let _held = lock::acquire(&self.lock_path, Mode::Exclusive, self.options.lock_timeout)?;
        let files = Files::scan(&self.dir)?;
        let mut id = JobId(0);
        journal::append(
            &self.dir,
            &files,
            self.options.max_segment_bytes,
            |segment, offset| {
                id = JobId::at(segment, offset);
                encode(
                    &[Op::Enqueue {
                        id,
                        key: key.to_owned(),
                        payload: payload.clone(),
                        at: now,
                    }],
                    &self.dir,
                )
            },
        )?;
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
                q.write(|_, _| ops)?;
            }
            let Some(id) = q.view()?.next_ready(now) else {
                return Ok(None);
            };
            let until = now.saturating_add(visibility_ms);
            let mut token = 0;
            q.write(|segment, offset| {
                token = JobId::at(segment, offset).0;
                vec![Op::Lease { id, token, until }]
            })?;
            let job = q
                .view()?
                .job(id)
                .cloned()
                .ok_or(Error::LeaseLost { job: id })?;
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
        self.shared(|view| view.dead().cloned().collect())
    }

    /// The live jobs, in id order.
    pub fn jobs(&mut self) -> Result<Vec<Job>> {
        self.shared(|view| {
            let mut jobs: Vec<Job> = view.jobs().cloned().collect();
            jobs.sort_by_key(|j| j.id);
            jobs
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
                .filter(|d| match which {
                    Selection::One(id) => d.job.id == id,
                    Selection::All => true,
                    Selection::DeadBetween { from, to } => (from..=to).contains(&d.dead_at),
                })
                .map(|d| d.job.id)
                .collect();
            let count = ids.len();
            if count > 0 {
                q.write(|_, _| {
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
                .filter(|d| now.saturating_sub(d.dead_at) >= older_than_ms)
                .map(|d| d.job.id)
                .collect();
            let count = ids.len();
            if count > 0 {
                q.write(|_, _| ids.into_iter().map(|id| Op::Purge { id }).collect())?;
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
            q.write(|_, _| vec![op])
        })
    }

    fn exclusive<R>(&mut self, body: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        let _held = lock::acquire(&self.lock_path, Mode::Exclusive, self.options.lock_timeout)?;
        self.refresh()?;
        let result = body(self)?;
        if self.due_for_compaction() {
            self.compact_locked()?;
        }
        Ok(result)
    }

    fn shared<R>(&mut self, body: impl FnOnce(&View) -> R) -> Result<R> {
        let _held = lock::acquire(&self.lock_path, Mode::Shared, self.options.lock_timeout)?;
        self.refresh()?;
        Ok(body(self.view()?))
    }

    fn view(&mut self) -> Result<&View> {
        if self.loaded.is_none() {
            self.refresh()?;
        }
        Ok(&self.loaded.as_ref().expect("refresh loads the view").view)
    }

    /// Appends the records `ops` returns (given the segment and offset they will start at)
    /// and applies them by reading them back, exactly as another process would.
    fn write(&mut self, ops: impl FnOnce(u64, u64) -> Vec<Op>) -> Result<()> {
        let files = Files::scan(&self.dir)?;
        let dir = self.dir.clone();
        journal::append(
            &self.dir,
            &files,
            self.options.max_segment_bytes,
            |segment, offset| encode(&ops(segment, offset), &dir),
        )?;
        self.refresh()
    }

    /// Brings the view up to date with the files. Called with the lock held.
    fn refresh(&mut self) -> Result<()> {
        let files = Files::scan(&self.dir)?;
        let reload = match &self.loaded {
            None => true,
            // Someone compacted: what we had read may be gone, so start from their snapshot.
            Some(loaded) => files.covered() > loaded.snapshot,
        };
        if reload {
            self.loaded = Some(self.load(&files)?);
        }
        let loaded = self.loaded.as_mut().expect("loaded above");
        for segment in files.live_segments() {
            let path = journal::segment_path(&self.dir, segment);
            let position = loaded.positions.entry(segment).or_insert(0);
            let Some(bytes) = journal::read_from(&path, *position)? else {
                continue;
            };
            let (lines, _torn) = line::complete_lines(&bytes);
            let mut consumed = 0u64;
            for raw in lines {
                consumed += raw.len() as u64 + 1;
                loaded.records += 1;
                match line::decode::<Op>(raw) {
                    Some(op) => loaded.view.apply(op),
                    None => {
                        loaded.recovery.damaged_lines += 1;
                        if loaded.damaged.insert(path.clone()) {
                            loaded.recovery.damaged_files.push(path.clone());
                        }
                    }
                }
            }
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
        let bytes = journal::read_from(&path, 0)?.unwrap_or_default();
        let (lines, torn) = line::complete_lines(&bytes);
        let mut header = false;
        let mut damaged = torn as u64 > 0;
        for (i, raw) in lines.enumerate() {
            match line::decode::<Record>(raw) {
                Some(Record::Header { schema }) if i == 0 => {
                    if schema > SCHEMA {
                        return Err(Error::TooNew {
                            path,
                            found: schema,
                            supported: SCHEMA,
                        });
                    }
                    header = true;
                }
                Some(record @ (Record::Live { .. } | Record::Dead { .. })) => {
                    loaded.view.restore(record);
                }
                _ => {
                    loaded.recovery.damaged_lines += 1;
                    damaged = true;
                }
            }
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
        let files = Files::scan(&self.dir)?;
        let Some(covered) = files.live_segments().last() else {
            return Ok(());
        };
        // New appends go to a fresh segment, so the snapshot can cover every existing one.
        let (next, _, _) = journal::create_segment(&self.dir, covered + 1)?;
        let loaded = self
            .loaded
            .as_mut()
            .expect("the view is loaded under the lock");
        let mut bytes = Vec::new();
        let header = Record::Header { schema: SCHEMA };
        for record in std::iter::once(header).chain(loaded.view.records()) {
            line::encode(&record, &mut bytes).map_err(|source| Error::Encode {
                path: self.dir.clone(),
                source,
            })?;
        }
        fsutil::write_atomic(&journal::snapshot_path(&self.dir, covered), &bytes)?;
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
        loaded.snapshot = covered;
        loaded.positions = BTreeMap::from([(next, 0)]);
        loaded.records = 0;
        loaded.damaged.clear();
        Ok(())
    }
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
