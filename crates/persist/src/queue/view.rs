//! The queue's state in memory, built only by applying journal records.
//!
//! Memory per job is kept small and free of per-job allocations: the job's key is held as a
//! 128-bit keyed hash and its payload not at all. Both stay on disk, where the entry's [`Loc`]
//! points; they are read back when a job is handed out or listed. The hash keys are drawn at
//! random per process, so two different keys collide with probability about n²/2¹²⁹.

use std::cmp::Reverse;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::num::NonZeroU64;

use super::job::{Attempt, HISTORY, JobId, OFFSET_BITS, Stats};
use super::op::{Op, Record};

/// Where a job's key and payload are on disk: the record that enqueued it, or after
/// compaction its line in a snapshot. It is where the record was read, which is where its id
/// says it was written unless the file was damaged since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    /// In journal segment `segment`, at byte `offset`.
    Segment { segment: u64, offset: u64 },
    /// In snapshot `number`, at byte `offset`.
    Snapshot { number: u64, offset: u64 },
}

impl Loc {
    const SNAPSHOT: u64 = 1 << 63;

    fn pack(self) -> u64 {
        match self {
            Loc::Segment { segment, offset } => JobId::at(segment, offset).0,
            Loc::Snapshot { number, offset } => {
                Loc::SNAPSHOT | (number << OFFSET_BITS) | (offset & ((1 << OFFSET_BITS) - 1))
            }
        }
    }

    fn unpack(packed: u64) -> Loc {
        if packed & Loc::SNAPSHOT == 0 {
            let id = JobId(packed);
            Loc::Segment {
                segment: id.segment(),
                offset: id.offset(),
            }
        } else {
            let rest = packed & !Loc::SNAPSHOT;
            Loc::Snapshot {
                number: rest >> OFFSET_BITS,
                offset: rest & ((1 << OFFSET_BITS) - 1),
            }
        }
    }
}

type KeyId = u128;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Waiting to be leased once `ready_at` has come, unless a job with the same key is in
    /// flight (`blocked`).
    Pending {
        ready_at: u64,
        blocked: bool,
    },
    Leased {
        token: u64,
        until: u64,
    },
}

/// Failures, kept only for jobs that had any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Failures {
    pub(crate) next_retry_at: Option<u64>,
    pub(crate) history: Vec<Attempt>,
}

/// What is known of a job besides its key and payload, packed: it is kept for every job.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    key: KeyId,
    loc: u64,
    pub(crate) enqueued_at: u64,
    pub(crate) attempts: u32,
    pub(crate) deliveries: u16,
    /// Pending behind an in-flight job with the same key (meaningful only while pending).
    blocked: bool,
    failures: Option<Box<Failures>>,
}

impl Meta {
    pub(crate) fn loc(&self) -> Loc {
        Loc::unpack(self.loc)
    }

    pub(crate) fn failures(&self) -> Failures {
        self.failures.as_deref().cloned().unwrap_or_default()
    }
}

#[derive(Debug)]
struct Entry {
    meta: Meta,
    /// `ready_at` while pending, `until` while leased.
    time: u64,
    /// The lease token while leased; `None` while pending.
    token: Option<NonZeroU64>,
    /// When the current status began. A `since` after the present means the clock stepped
    /// back, and `time - since` is the wait the status was meant to have.
    since: u64,
}

impl Entry {
    fn new(meta: Meta, status: Status, since: u64) -> Entry {
        let mut entry = Entry {
            meta,
            time: 0,
            token: None,
            since,
        };
        entry.set_status(status);
        entry
    }

    fn status(&self) -> Status {
        match self.token {
            None => Status::Pending {
                ready_at: self.time,
                blocked: self.meta.blocked,
            },
            Some(token) => Status::Leased {
                token: token.get(),
                until: self.time,
            },
        }
    }

    fn set_status(&mut self, status: Status) {
        match status {
            Status::Pending { ready_at, blocked } => {
                self.time = ready_at;
                self.token = None;
                self.meta.blocked = blocked;
            }
            Status::Leased { token, until } => {
                self.time = until;
                // No token is 0 (a token is a record's position); a 0 read from a damaged
                // snapshot leaves the job pending, where it is delivered again.
                self.token = NonZeroU64::new(token);
                self.meta.blocked = false;
            }
        }
    }
}

/// A dead-lettered job.
#[derive(Clone, Debug)]
pub(crate) struct Dead {
    pub(crate) meta: Meta,
    pub(crate) dead_at: u64,
    pub(crate) class: String,
    pub(crate) error: String,
}

/// Per key: the job in flight and the one waiting behind it, at most one of each. Ids are
/// kept as `NonZeroU64` (no real id is 0) so that a slot is two words.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    leased: Option<NonZeroU64>,
    pending: Option<NonZeroU64>,
}

impl Slot {
    fn leased(&self) -> Option<JobId> {
        self.leased.map(|id| JobId(id.get()))
    }

    fn pending(&self) -> Option<JobId> {
        self.pending.map(|id| JobId(id.get()))
    }

    fn set_leased(&mut self, id: Option<JobId>) {
        self.leased = id.and_then(|id| NonZeroU64::new(id.0));
    }

    /// Sets the pending job and returns the one it replaces.
    fn replace_pending(&mut self, id: Option<JobId>) -> Option<JobId> {
        let old = self.pending();
        self.pending = id.and_then(|id| NonZeroU64::new(id.0));
        old
    }
}

/// Live entries in a vector sorted by id. Ids grow in enqueue order, so new jobs are pushed at
/// the end; removed ones leave a hole until holes outnumber jobs. Denser than a hash map, and
/// its growth never needs the old and new tables at once.
#[derive(Debug, Default)]
struct LiveJobs {
    slots: Vec<(JobId, Option<Entry>)>,
    live: usize,
}

impl LiveJobs {
    fn find(&self, id: JobId) -> Result<usize, usize> {
        self.slots.binary_search_by_key(&id, |(slot, _)| *slot)
    }

    fn len(&self) -> usize {
        self.live
    }

    fn contains_key(&self, id: &JobId) -> bool {
        self.get(id).is_some()
    }

    fn get(&self, id: &JobId) -> Option<&Entry> {
        self.find(*id).ok().and_then(|i| self.slots[i].1.as_ref())
    }

    fn get_mut(&mut self, id: &JobId) -> Option<&mut Entry> {
        self.find(*id).ok().and_then(|i| self.slots[i].1.as_mut())
    }

    fn insert(&mut self, id: JobId, entry: Entry) {
        match self.find(id) {
            Ok(i) => {
                if self.slots[i].1.replace(entry).is_none() {
                    self.live += 1;
                }
            }
            Err(i) => {
                self.slots.insert(i, (id, Some(entry)));
                self.live += 1;
            }
        }
    }

    fn remove(&mut self, id: &JobId) -> Option<Entry> {
        let i = self.find(*id).ok()?;
        let entry = self.slots[i].1.take()?;
        self.live -= 1;
        if self.slots.len() > 64 && self.live * 2 < self.slots.len() {
            self.slots.retain(|(_, entry)| entry.is_some());
        }
        Some(entry)
    }

    fn iter(&self) -> impl Iterator<Item = (JobId, &Entry)> {
        self.slots
            .iter()
            .filter_map(|(id, entry)| entry.as_ref().map(|e| (*id, e)))
    }

    fn values(&self) -> impl Iterator<Item = &Entry> {
        self.iter().map(|(_, entry)| entry)
    }
}

/// How a live job stands, for a snapshot.
pub(crate) struct Standing {
    pub(crate) lease: Option<(u64, u64)>,
    pub(crate) ready_at: u64,
    pub(crate) since: u64,
}

#[derive(Debug)]
pub(crate) struct View {
    live: LiveJobs,
    /// Unblocked pending jobs by `(ready_at, id)`, earliest first: jobs waiting for a retry
    /// sort after the ready ones and are never looked at early. Entries are not removed when
    /// a job stops being ready; they are dropped when they reach the top and no longer match.
    ready: BinaryHeap<Reverse<(u64, JobId)>>,
    /// Leased jobs by `(until, id)`.
    leased: BTreeSet<(u64, JobId)>,
    keys: HashMap<KeyId, Slot>,
    dead: BTreeMap<JobId, Dead>,
    hashers: (RandomState, RandomState),
    /// No live entry's `since` is later than this (a bound, not always the maximum): while
    /// `now` is not earlier, the clock cannot have stepped back under any of them.
    latest: u64,
}

impl Default for View {
    fn default() -> Self {
        View {
            live: LiveJobs::default(),
            ready: BinaryHeap::new(),
            leased: BTreeSet::new(),
            keys: HashMap::new(),
            dead: BTreeMap::new(),
            hashers: (RandomState::new(), RandomState::new()),
            latest: 0,
        }
    }
}

impl View {
    fn key_id(&self, key: &str) -> KeyId {
        (u128::from(self.hashers.0.hash_one(key)) << 64) | u128::from(self.hashers.1.hash_one(key))
    }

    pub(crate) fn live_len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn dead_len(&self) -> usize {
        self.dead.len()
    }

    /// Whether the queue holds job `id`, live or dead.
    pub(crate) fn contains(&self, id: JobId) -> bool {
        self.live.contains_key(&id) || self.dead.contains_key(&id)
    }

    /// Applies one record, found at `loc`; records that do not fit the state (a stale token,
    /// an unknown id) change nothing, as they did not when they were first applied.
    pub(crate) fn apply(&mut self, op: Op, loc: Loc) {
        match op {
            Op::Enqueue { id, key, at, .. } => self.enqueued(id, &key, at, loc),
            Op::Lease {
                id,
                token,
                until,
                at,
            } => self.leased(id, token, until, at),
            Op::Extend {
                id,
                token,
                until,
                at,
            } => self.extended(id, token, until, at),
            Op::Expire { id, token, at } => {
                if self.take_lease(id, token) {
                    self.requeue_or_drop(id, at, at, None);
                }
            }
            Op::Ack { id, token } => self.acked(id, token),
            Op::Retry {
                id,
                token,
                at,
                next,
                counted,
                class,
                error,
            } => {
                if self.take_lease(id, token) {
                    let attempt = Attempt {
                        at,
                        class,
                        error,
                        counted,
                    };
                    self.requeue_or_drop(id, next, at, Some(attempt));
                }
            }
            Op::Dead {
                id,
                token,
                at,
                class,
                error,
            } => self.died(id, token, at, class, error),
            Op::Requeue { id, at } => self.requeued(id, at),
            Op::Purge { id } => {
                self.dead.remove(&id);
            }
            Op::Rebase { at } => self.rebase(at),
            Op::Seal => {}
        }
    }

    fn enqueued(&mut self, id: JobId, key: &str, at: u64, loc: Loc) {
        if self.live.contains_key(&id) || self.dead.contains_key(&id) {
            return;
        }
        let key = self.key_id(key);
        let slot = self.keys.entry(key).or_default();
        let superseded = slot.replace_pending(Some(id));
        let blocked = slot.leased().is_some();
        if let Some(old) = superseded {
            self.remove_live(old);
        }
        let meta = Meta {
            key,
            loc: loc.pack(),
            enqueued_at: at,
            attempts: 0,
            deliveries: 0,
            blocked: false,
            failures: None,
        };
        self.insert_pending(id, meta, at, blocked, at);
    }

    fn leased(&mut self, id: JobId, token: u64, until: u64, at: u64) {
        let Some(entry) = self.live.get_mut(&id) else {
            return;
        };
        let Status::Pending { blocked: false, .. } = entry.status() else {
            return;
        };
        entry.set_status(Status::Leased { token, until });
        entry.since = at;
        entry.meta.deliveries = entry.meta.deliveries.saturating_add(1);
        self.latest = self.latest.max(at);
        self.leased.insert((until, id));
        let slot = self.keys.entry(entry.meta.key).or_default();
        slot.set_leased(Some(id));
        slot.replace_pending(None);
    }

    fn extended(&mut self, id: JobId, token: u64, until: u64, at: u64) {
        let Some(entry) = self.live.get_mut(&id) else {
            return;
        };
        let Status::Leased {
            token: held,
            until: old,
        } = entry.status()
        else {
            return;
        };
        if held != token {
            return;
        }
        entry.set_status(Status::Leased { token, until });
        entry.since = at;
        self.latest = self.latest.max(at);
        self.leased.remove(&(old, id));
        self.leased.insert((until, id));
    }

    fn acked(&mut self, id: JobId, token: u64) {
        if self.take_lease(id, token) {
            if let Some(entry) = self.remove_live(id) {
                self.finish_key(entry.meta.key);
            }
        }
    }

    fn died(&mut self, id: JobId, token: u64, at: u64, class: String, error: String) {
        if !self.take_lease(id, token) {
            return;
        }
        if let Some(entry) = self.remove_live(id) {
            let key = entry.meta.key;
            self.dead.insert(
                id,
                Dead {
                    meta: entry.meta,
                    dead_at: at,
                    class,
                    error,
                },
            );
            self.finish_key(key);
        }
    }

    fn requeued(&mut self, id: JobId, at: u64) {
        let Some(dead) = self.dead.remove(&id) else {
            return;
        };
        let mut meta = dead.meta;
        let slot = self.keys.entry(meta.key).or_default();
        if slot.pending().is_some() {
            // A newer edit of the same key is already queued and carries the latest
            // metadata; requeueing the old one would only redo stale work.
            return;
        }
        slot.replace_pending(Some(id));
        let blocked = slot.leased().is_some();
        meta.attempts = 0;
        if let Some(failures) = meta.failures.as_deref_mut() {
            failures.next_retry_at = None;
        }
        self.insert_pending(id, meta, at, blocked, at);
    }

    /// Whether some deadline was set after `now`, so that the clock must have stepped back
    /// under it. Costs a walk over the jobs only when `now` is earlier than the latest time
    /// seen.
    pub(crate) fn needs_rebase(&mut self, now: u64) -> bool {
        if now >= self.latest {
            return false;
        }
        let ahead = self.live.values().any(|e| e.since > now);
        if !ahead {
            self.latest = now;
        }
        ahead
    }

    /// Brings every status that began after `at` back within its own wait of `at`: a lease
    /// runs out at most one visibility window after `at`, a retry waits at most its delay.
    fn rebase(&mut self, at: u64) {
        let mut moved = Vec::new();
        for (id, entry) in self.live.iter() {
            if entry.since > at {
                moved.push(id);
            }
        }
        for id in moved {
            let Some(entry) = self.live.get_mut(&id) else {
                continue;
            };
            let wait = entry.time.saturating_sub(entry.since);
            let time = at.saturating_add(wait).min(entry.time);
            entry.since = at;
            match entry.status() {
                Status::Leased { token, until } => {
                    entry.set_status(Status::Leased { token, until: time });
                    self.leased.remove(&(until, id));
                    self.leased.insert((time, id));
                }
                Status::Pending { blocked, .. } => {
                    entry.set_status(Status::Pending {
                        ready_at: time,
                        blocked,
                    });
                    if !blocked {
                        self.push_ready(time, id);
                    }
                }
            }
        }
        self.latest = at;
    }

    /// Restores one snapshot record found at `loc`.
    pub(crate) fn restore(&mut self, record: Record, loc: Loc) {
        let (job, lease, ready_at, since, dead) = match record {
            Record::Header { .. } | Record::Trailer { .. } => return,
            Record::Live {
                job,
                lease,
                ready_at,
                since,
            } => (job, lease, ready_at, since, None),
            Record::Dead { dead } => {
                let death = (dead.dead_at, dead.class, dead.error);
                (dead.job, None, 0, 0, Some(death))
            }
        };
        let id = job.id;
        if self.live.contains_key(&id) || self.dead.contains_key(&id) {
            return;
        }
        let failures = (job.next_retry_at.is_some() || !job.history.is_empty()).then(|| {
            Box::new(Failures {
                next_retry_at: job.next_retry_at,
                history: job.history,
            })
        });
        let meta = Meta {
            key: self.key_id(&job.key),
            loc: loc.pack(),
            enqueued_at: job.enqueued_at,
            attempts: job.attempts,
            deliveries: u16::try_from(job.deliveries).unwrap_or(u16::MAX),
            blocked: false,
            failures,
        };
        if let Some((dead_at, class, error)) = dead {
            self.dead.insert(
                id,
                Dead {
                    meta,
                    dead_at,
                    class,
                    error,
                },
            );
            return;
        }
        self.latest = self.latest.max(since);
        let key = meta.key;
        let slot = self.keys.entry(key).or_default();
        match lease {
            Some((token, until)) if slot.leased().is_none() => {
                slot.set_leased(Some(id));
                if let Some(pending) = slot.pending() {
                    self.block(pending);
                }
                self.leased.insert((until, id));
                self.live
                    .insert(id, Entry::new(meta, Status::Leased { token, until }, since));
            }
            _ if slot.pending().is_none() => {
                slot.replace_pending(Some(id));
                let blocked = slot.leased().is_some();
                self.insert_pending(id, meta, ready_at, blocked, since);
            }
            // A second job for a slot that is taken: the snapshot was damaged or edited.
            // Keep the job rather than lose it; it simply does not block.
            _ => {
                let status = Status::Pending {
                    ready_at,
                    blocked: false,
                };
                self.live.insert(id, Entry::new(meta, status, since));
                self.push_ready(ready_at, id);
            }
        }
    }

    /// Live job ids, ascending.
    pub(crate) fn live_ids(&self) -> Vec<JobId> {
        self.live.iter().map(|(id, _)| id).collect()
    }

    pub(crate) fn meta(&self, id: JobId) -> Option<&Meta> {
        self.live.get(&id).map(|e| &e.meta)
    }

    pub(crate) fn standing(&self, id: JobId) -> Option<Standing> {
        self.live.get(&id).map(|e| match e.status() {
            Status::Pending { ready_at, .. } => Standing {
                lease: None,
                ready_at,
                since: e.since,
            },
            Status::Leased { token, until } => Standing {
                lease: Some((token, until)),
                ready_at: until,
                since: e.since,
            },
        })
    }

    pub(crate) fn dead_entry(&self, id: JobId) -> Option<&Dead> {
        self.dead.get(&id)
    }

    pub(crate) fn dead(&self) -> impl Iterator<Item = (JobId, &Dead)> {
        self.dead.iter().map(|(id, d)| (*id, d))
    }

    /// Records that a job's key and payload have moved to `loc` (compaction).
    pub(crate) fn relocate(&mut self, id: JobId, loc: Loc) {
        if let Some(entry) = self.live.get_mut(&id) {
            entry.meta.loc = loc.pack();
        } else if let Some(dead) = self.dead.get_mut(&id) {
            dead.meta.loc = loc.pack();
        }
    }

    /// Leases whose holders missed their deadline by `now`.
    pub(crate) fn expired(&self, now: u64) -> Vec<(JobId, u64)> {
        self.leased
            .range(..=(now, JobId(u64::MAX)))
            .filter_map(|&(_, id)| match self.live.get(&id)?.status() {
                Status::Leased { token, .. } => Some((id, token)),
                Status::Pending { .. } => None,
            })
            .collect()
    }

    /// The job to lease next at `now`: the earliest ready one, by ready time then id.
    pub(crate) fn next_ready(&mut self, now: u64) -> Option<JobId> {
        while let Some(&Reverse((ready_at, id))) = self.ready.peek() {
            if self.is_ready_entry(ready_at, id) {
                return (ready_at <= now).then_some(id);
            }
            self.ready.pop();
        }
        None
    }

    /// Whether a `ready` entry still describes its job.
    fn is_ready_entry(&self, ready_at: u64, id: JobId) -> bool {
        self.live.get(&id).is_some_and(|e| {
            e.status()
                == Status::Pending {
                    ready_at,
                    blocked: false,
                }
        })
    }

    fn push_ready(&mut self, ready_at: u64, id: JobId) {
        self.ready.push(Reverse((ready_at, id)));
        if self.ready.len() > 2 * self.live.len() + 64 {
            // Mostly stale entries: rebuild from the jobs that are ready.
            let fresh: Vec<Reverse<(u64, JobId)>> = self
                .live
                .iter()
                .filter_map(|(id, e)| match e.status() {
                    Status::Pending {
                        ready_at,
                        blocked: false,
                    } => Some(Reverse((ready_at, id))),
                    _ => None,
                })
                .collect();
            self.ready = BinaryHeap::from(fresh);
        }
    }

    /// Whether `token` is the current lease on `id`.
    pub(crate) fn holds(&self, id: JobId, token: u64) -> bool {
        matches!(
            self.live.get(&id).map(Entry::status),
            Some(Status::Leased { token: held, .. }) if held == token
        )
    }

    pub(crate) fn stats(&self, now: u64) -> Stats {
        let mut stats = Stats {
            dead_lettered: self.dead.len(),
            ..Stats::default()
        };
        for entry in self.live.values() {
            match entry.status() {
                Status::Leased { until, .. } if until > now => stats.leased += 1,
                Status::Leased { .. } => {
                    stats.pending += 1;
                    stats.ready_now += 1;
                }
                Status::Pending { ready_at, blocked } => {
                    stats.pending += 1;
                    if !blocked && ready_at <= now {
                        stats.ready_now += 1;
                    } else if !blocked {
                        stats.waiting_for_retry += 1;
                    }
                }
            }
        }
        stats.oldest_age_ms = self
            .live
            .values()
            .map(|e| e.meta.enqueued_at)
            .min()
            .map(|oldest| now.saturating_sub(oldest));
        stats.earliest_retry_at = self
            .live
            .values()
            .filter_map(|e| match e.status() {
                Status::Pending {
                    ready_at,
                    blocked: false,
                } if ready_at > now => Some(ready_at),
                _ => None,
            })
            .min();
        stats
    }

    fn insert_pending(&mut self, id: JobId, meta: Meta, ready_at: u64, blocked: bool, since: u64) {
        self.latest = self.latest.max(since);
        self.live.insert(
            id,
            Entry::new(meta, Status::Pending { ready_at, blocked }, since),
        );
        if !blocked {
            self.push_ready(ready_at, id);
        }
    }

    fn block(&mut self, id: JobId) {
        if let Some(entry) = self.live.get_mut(&id) {
            if let Status::Pending { ready_at, .. } = entry.status() {
                entry.set_status(Status::Pending {
                    ready_at,
                    blocked: true,
                });
            }
        }
    }

    /// Ends the lease `token` on `id`; `false` if that is not the current lease.
    fn take_lease(&mut self, id: JobId, token: u64) -> bool {
        let Some(entry) = self.live.get(&id) else {
            return false;
        };
        let Status::Leased { token: held, until } = entry.status() else {
            return false;
        };
        if held != token {
            return false;
        }
        self.leased.remove(&(until, id));
        if let Some(slot) = self.keys.get_mut(&entry.meta.key) {
            if slot.leased() == Some(id) {
                slot.set_leased(None);
            }
        }
        true
    }

    /// A job whose lease ended at `at` without success: back to pending at `ready_at`, unless
    /// a newer job with the same key is waiting, which supersedes it.
    fn requeue_or_drop(&mut self, id: JobId, ready_at: u64, at: u64, failure: Option<Attempt>) {
        let Some(entry) = self.live.remove(&id) else {
            return;
        };
        let mut meta = entry.meta;
        let slot = self.keys.entry(meta.key).or_default();
        if slot.pending().is_some() {
            self.finish_key(meta.key);
            return;
        }
        slot.replace_pending(Some(id));
        if let Some(attempt) = failure {
            if attempt.counted {
                meta.attempts = meta.attempts.saturating_add(1);
            }
            let failures = meta.failures.get_or_insert_with(Box::default);
            failures.next_retry_at = Some(ready_at);
            failures.history.push(attempt);
            if failures.history.len() > HISTORY {
                failures.history.remove(0);
            }
        }
        self.insert_pending(id, meta, ready_at, false, at);
    }

    /// The job in flight for `key` is gone: let the one waiting behind it go.
    fn finish_key(&mut self, key: KeyId) {
        let Some(slot) = self.keys.get(&key).copied() else {
            return;
        };
        match slot.pending() {
            Some(pending) if slot.leased().is_none() => {
                if let Some(entry) = self.live.get_mut(&pending) {
                    if let Status::Pending {
                        ready_at,
                        blocked: true,
                    } = entry.status()
                    {
                        entry.set_status(Status::Pending {
                            ready_at,
                            blocked: false,
                        });
                        self.push_ready(ready_at, pending);
                    }
                }
            }
            None if slot.leased().is_none() => {
                self.keys.remove(&key);
            }
            _ => {}
        }
    }

    fn remove_live(&mut self, id: JobId) -> Option<Entry> {
        let entry = self.live.remove(&id)?;
        if let Status::Leased { until, .. } = entry.status() {
            self.leased.remove(&(until, id));
        }
        if let Some(slot) = self.keys.get_mut(&entry.meta.key) {
            if slot.pending() == Some(id) {
                slot.replace_pending(None);
            }
            if slot.leased() == Some(id) {
                slot.set_leased(None);
            }
        }
        Some(entry)
    }
}
