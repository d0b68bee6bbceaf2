//! The queue's state in memory, built only by applying journal records.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::job::{Attempt, DeadJob, HISTORY, Job, JobId, Stats};
use super::op::{Op, Record};

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

#[derive(Clone, Debug)]
struct Entry {
    job: Job,
    status: Status,
}

/// Per key: the job in flight and the one waiting behind it. At most one of each.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    leased: Option<JobId>,
    pending: Option<JobId>,
}

#[derive(Debug, Default)]
pub(crate) struct View {
    live: HashMap<JobId, Entry>,
    /// Unblocked pending jobs by `(ready_at, id)`: jobs waiting for a retry sort after the
    /// ready ones and are never looked at early.
    ready: BTreeSet<(u64, JobId)>,
    /// Leased jobs by `(until, id)`.
    leased: BTreeSet<(u64, JobId)>,
    keys: HashMap<String, Slot>,
    dead: BTreeMap<JobId, DeadJob>,
}

impl View {
    pub(crate) fn live_len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn dead_len(&self) -> usize {
        self.dead.len()
    }

    /// Applies one record; records that do not fit the state (a stale token, an unknown id)
    /// change nothing, as they did not when they were first applied.
    pub(crate) fn apply(&mut self, op: Op) {
        match op {
            Op::Enqueue {
                id,
                key,
                payload,
                at,
            } => {
                if self.live.contains_key(&id) || self.dead.contains_key(&id) {
                    return;
                }
                let slot = self.keys.entry(key.clone()).or_default();
                let superseded = slot.pending.replace(id);
                let blocked = slot.leased.is_some();
                if let Some(old) = superseded {
                    self.remove_live(old);
                }
                let job = Job {
                    id,
                    key,
                    payload,
                    enqueued_at: at,
                    attempts: 0,
                    deliveries: 0,
                    next_retry_at: None,
                    history: Vec::new(),
                };
                self.insert_pending(job, at, blocked);
            }
            Op::Lease { id, token, until } => {
                let Some(entry) = self.live.get_mut(&id) else {
                    return;
                };
                let Status::Pending {
                    ready_at,
                    blocked: false,
                } = entry.status
                else {
                    return;
                };
                self.ready.remove(&(ready_at, id));
                entry.status = Status::Leased { token, until };
                entry.job.deliveries = entry.job.deliveries.saturating_add(1);
                self.leased.insert((until, id));
                let slot = self.keys.entry(entry.job.key.clone()).or_default();
                slot.leased = Some(id);
                slot.pending = None;
            }
            Op::Expire { id, token, at } => {
                if self.take_lease(id, token).is_some() {
                    self.requeue_or_drop(id, at, None);
                }
            }
            Op::Ack { id, token } => {
                if self.take_lease(id, token).is_some() {
                    let entry = self.remove_live(id);
                    self.finish_key(entry.map(|e| e.job.key));
                }
            }
            Op::Retry {
                id,
                token,
                at,
                next,
                counted,
                error,
            } => {
                if self.take_lease(id, token).is_some() {
                    let attempt = Attempt { at, error, counted };
                    self.requeue_or_drop(id, next, Some(attempt));
                }
            }
            Op::Dead {
                id,
                token,
                at,
                error,
            } => {
                if self.take_lease(id, token).is_some() {
                    if let Some(entry) = self.remove_live(id) {
                        let key = entry.job.key.clone();
                        self.dead.insert(
                            id,
                            DeadJob {
                                job: entry.job,
                                dead_at: at,
                                error,
                            },
                        );
                        self.finish_key(Some(key));
                    }
                }
            }
            Op::Requeue { id, at } => {
                let Some(dead) = self.dead.remove(&id) else {
                    return;
                };
                let mut job = dead.job;
                let slot = self.keys.entry(job.key.clone()).or_default();
                if slot.pending.is_some() {
                    // A newer edit of the same key is already queued and carries the latest
                    // metadata; requeueing the old one would only redo stale work.
                    return;
                }
                slot.pending = Some(id);
                let blocked = slot.leased.is_some();
                job.attempts = 0;
                job.next_retry_at = None;
                self.insert_pending(job, at, blocked);
            }
            Op::Purge { id } => {
                self.dead.remove(&id);
            }
        }
    }

    /// Restores one snapshot record.
    pub(crate) fn restore(&mut self, record: Record) {
        match record {
            Record::Header { .. } => {}
            Record::Live {
                job,
                lease,
                ready_at,
            } => {
                let id = job.id;
                if self.live.contains_key(&id) {
                    return;
                }
                let slot = self.keys.entry(job.key.clone()).or_default();
                match lease {
                    Some((token, until)) if slot.leased.is_none() => {
                        slot.leased = Some(id);
                        if let Some(pending) = slot.pending {
                            self.block(pending);
                        }
                        self.leased.insert((until, id));
                        self.live.insert(
                            id,
                            Entry {
                                job,
                                status: Status::Leased { token, until },
                            },
                        );
                    }
                    _ if slot.pending.is_none() => {
                        slot.pending = Some(id);
                        let blocked = slot.leased.is_some();
                        self.insert_pending(job, ready_at, blocked);
                    }
                    // A second job for a slot that is taken: the snapshot was damaged or
                    // edited. Keep the job rather than lose it; it simply does not block.
                    _ => {
                        self.live.insert(
                            id,
                            Entry {
                                job,
                                status: Status::Pending {
                                    ready_at,
                                    blocked: false,
                                },
                            },
                        );
                        self.ready.insert((ready_at, id));
                    }
                }
            }
            Record::Dead { dead } => {
                self.dead.insert(dead.job.id, dead);
            }
        }
    }

    /// Everything needed to rebuild this view, for a snapshot.
    pub(crate) fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let mut ids: Vec<&JobId> = self.live.keys().collect();
        ids.sort();
        let live = ids.into_iter().map(|id| {
            let entry = &self.live[id];
            let (lease, ready_at) = match entry.status {
                Status::Pending { ready_at, .. } => (None, ready_at),
                Status::Leased { token, until } => (Some((token, until)), until),
            };
            Record::Live {
                job: entry.job.clone(),
                lease,
                ready_at,
            }
        });
        let dead = self
            .dead
            .values()
            .map(|dead| Record::Dead { dead: dead.clone() });
        live.chain(dead)
    }

    /// Leases whose holders missed their deadline by `now`.
    pub(crate) fn expired(&self, now: u64) -> Vec<(JobId, u64)> {
        self.leased
            .range(..=(now, JobId(u64::MAX)))
            .filter_map(|&(_, id)| match self.live.get(&id)?.status {
                Status::Leased { token, .. } => Some((id, token)),
                Status::Pending { .. } => None,
            })
            .collect()
    }

    /// The job to lease next at `now`: the earliest ready one, by ready time then id.
    pub(crate) fn next_ready(&self, now: u64) -> Option<JobId> {
        self.ready
            .first()
            .filter(|&&(ready_at, _)| ready_at <= now)
            .map(|&(_, id)| id)
    }

    /// Whether `token` is the current lease on `id`.
    pub(crate) fn holds(&self, id: JobId, token: u64) -> bool {
        matches!(
            self.live.get(&id).map(|e| e.status),
            Some(Status::Leased { token: held, .. }) if held == token
        )
    }

    pub(crate) fn job(&self, id: JobId) -> Option<&Job> {
        self.live.get(&id).map(|e| &e.job)
    }

    pub(crate) fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.live.values().map(|e| &e.job)
    }

    pub(crate) fn dead(&self) -> impl Iterator<Item = &DeadJob> {
        self.dead.values()
    }

    pub(crate) fn stats(&self, now: u64) -> Stats {
        let mut stats = Stats {
            dead_lettered: self.dead.len(),
            ..Stats::default()
        };
        for entry in self.live.values() {
            match entry.status {
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
            .map(|e| e.job.enqueued_at)
            .min()
            .map(|oldest| now.saturating_sub(oldest));
        stats.earliest_retry_at = self
            .ready
            .range((now.saturating_add(1), JobId(0))..)
            .next()
            .map(|&(at, _)| at);
        stats
    }

    fn insert_pending(&mut self, job: Job, ready_at: u64, blocked: bool) {
        let id = job.id;
        if !blocked {
            self.ready.insert((ready_at, id));
        }
        self.live.insert(
            id,
            Entry {
                job,
                status: Status::Pending { ready_at, blocked },
            },
        );
    }

    fn block(&mut self, id: JobId) {
        if let Some(entry) = self.live.get_mut(&id) {
            if let Status::Pending { ready_at, .. } = entry.status {
                self.ready.remove(&(ready_at, id));
                entry.status = Status::Pending {
                    ready_at,
                    blocked: true,
                };
            }
        }
    }

    /// Ends the lease `token` on `id`; `None` if that is not the current lease.
    fn take_lease(&mut self, id: JobId, token: u64) -> Option<()> {
        let entry = self.live.get(&id)?;
        let Status::Leased { token: held, until } = entry.status else {
            return None;
        };
        if held != token {
            return None;
        }
        self.leased.remove(&(until, id));
        if let Some(slot) = self.keys.get_mut(&entry.job.key) {
            if slot.leased == Some(id) {
                slot.leased = None;
            }
        }
        Some(())
    }

    /// A job whose lease ended without success: back to pending at `ready_at`, unless a newer
    /// job with the same key is waiting, which supersedes it.
    fn requeue_or_drop(&mut self, id: JobId, ready_at: u64, failure: Option<Attempt>) {
        let Some(mut entry) = self.live.remove(&id) else {
            return;
        };
        let key = entry.job.key.clone();
        let slot = self.keys.entry(key.clone()).or_default();
        if slot.pending.is_some() {
            self.finish_key(Some(key));
            return;
        }
        slot.pending = Some(id);
        if let Some(attempt) = failure {
            if attempt.counted {
                entry.job.attempts = entry.job.attempts.saturating_add(1);
            }
            entry.job.next_retry_at = Some(ready_at);
            entry.job.history.push(attempt);
            if entry.job.history.len() > HISTORY {
                entry.job.history.remove(0);
            }
        }
        self.insert_pending(entry.job, ready_at, false);
    }

    /// The job in flight for `key` is gone: let the one waiting behind it go.
    fn finish_key(&mut self, key: Option<String>) {
        let Some(key) = key else { return };
        let Some(slot) = self.keys.get(&key).copied() else {
            return;
        };
        match slot.pending {
            Some(pending) if slot.leased.is_none() => {
                if let Some(entry) = self.live.get_mut(&pending) {
                    if let Status::Pending {
                        ready_at,
                        blocked: true,
                    } = entry.status
                    {
                        entry.status = Status::Pending {
                            ready_at,
                            blocked: false,
                        };
                        self.ready.insert((ready_at, pending));
                    }
                }
            }
            None if slot.leased.is_none() => {
                self.keys.remove(&key);
            }
            _ => {}
        }
    }

    fn remove_live(&mut self, id: JobId) -> Option<Entry> {
        let entry = self.live.remove(&id)?;
        match entry.status {
            Status::Pending { ready_at, .. } => {
                self.ready.remove(&(ready_at, id));
            }
            Status::Leased { until, .. } => {
                self.leased.remove(&(until, id));
            }
        }
        if let Some(slot) = self.keys.get_mut(&entry.job.key) {
            if slot.pending == Some(id) {
                slot.pending = None;
            }
            if slot.leased == Some(id) {
                slot.leased = None;
            }
        }
        Some(entry)
    }
}
