//! The predecessor, Stash2Plex v1.6.14 (commit 7ad362d), modelled from its own code rule by
//! rule, on the same virtual clock, simulated Plex and hooks as plexsync's runs: its
//! background worker loop (`worker/processor.py:571-718`), its breaker, its probes, its retry
//! rules, its rate limiter and its log lines. `docs/policy.md` lists every rule with the
//! file and line it comes from.
//!
//! This is a model of another program, not plexsync: nothing here runs plexsync's engine.
//! It drains as v1.6.14's worker does during a task (hooks only queue: `Stash2Plex.py:1595`
//! starts no worker for a hook), and the task-time recovery check (`Stash2Plex.py:1611-1612`)
//! runs only when a task starts, which a worker that runs on has done once: it is left out.

mod breaker;
mod client;
mod limiter;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use breaker_core::State;
use engine::{ErrorClass, Level, SyncJob, SyncOptions};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::library::Library;
use crate::metrics::{self, Leftovers};
use crate::plex::SimPlex;
use crate::run::{OVERTIME_MS, Run, Trace};
use crate::scenario::Setup;
use crate::world::{Recorder, World};
use breaker::{Breaker, Change};
use client::{Client, Raised};
use limiter::{Limiter, Said};

/// Which predecessor: how its worker stands with Plex when an outage begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// A worker that has connected once: python-plexapi keeps the server object, and the
    /// matcher swallows every failure of a search as "not found" (no breaker, no probes).
    Warm,
    /// A worker started during the outage (a new task): it must connect first, and
    /// python-plexapi turns a 503 into `BadRequest`, which the predecessor dead-letters.
    /// Modelled as a fresh process at the start of every outage, which stays connected once
    /// it has connected.
    Cold,
}

impl Variant {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Warm => "predecessor-warm",
            Variant::Cold => "predecessor-cold",
        }
    }
}

/// `get_retry_params` (`worker/backoff.py:60-90`): (base, cap, max retries) in ms.
const NOT_FOUND_RETRY: (u64, u64, u32) = (30_000, 600_000, 12);
const TRANSIENT_RETRY: (u64, u64, u32) = (5_000, 80_000, 5);
/// `config.poll_interval` (`validation/config.py:40`): the OPEN wait is `int(1.0 * 2)`
/// sleeps of 0.5 s (`processor.py:631-634`).
const POLL_MS: u64 = 1_000;
/// `get_pending(timeout=2)` (`processor.py:660`).
const GET_TIMEOUT_MS: u64 = 2_000;
/// `time.sleep(0.15)` after a success (`processor.py:712-713`).
const PAUSE_MS: u64 = 150;
/// `time.sleep(0.1)` between not-ready nacks (`processor.py:704`).
const NACK_MS: u64 = 100;
/// A task waits for its worker at most 600 s (`worker/stats.py:120-150`).
const SESSION_MS: u64 = 600_000;
/// `_dlq_log_interval = 10` (`processor.py:91`): the batch summary every ten jobs.
const SUMMARY_EVERY: u32 = 10;

/// One queued job: `SQLiteAckQueue` rows in `_id` order; a nack leaves a row where it is, a
/// retry is a new row at the end (`processor.py:381-406`).
#[derive(Clone, Debug)]
struct Row {
    /// The hook whose data the job carries (after hydration, the latest hook of its scene
    /// then).
    hook: usize,
    enqueued_at: u64,
    retry_count: u32,
    next_retry_at: u64,
    /// Its data was read from Stash when it was first worked on, and stays with it.
    hydrated: bool,
}

/// The predecessor's worker, on the simulation's world.
struct Worker<'a> {
    setup: &'a Setup,
    world: Rc<World>,
    plex: SimPlex,
    variant: Variant,
    rng: SmallRng,
    client: Client,
    breaker: Breaker,
    limiter: Limiter,
    was_in_recovery: bool,
    last_health_check: u64,
    health_interval: u64,
    health_failures: u32,
    not_ready: u64,
    earliest_retry_at: u64,
    queue: VecDeque<Row>,
    dead: Vec<(SyncJob, ErrorClass)>,
    /// `_recently_synced`: scenes synced this session (`processor.py:574`); a session is
    /// one task's worker, which ends when the queue is empty or at the task's timeout, 600 s
    /// at most (`Stash2Plex.py:1663-1677`, `worker/stats.py:120-150`).
    recently_synced: HashSet<String>,
    session_started: u64,
    /// `sync_timestamps`: when each scene was last synced (`processor.py:580-583`).
    synced_at: BTreeMap<String, u64>,
    delivered: usize,
    /// The latest hook delivered for each scene, for hydration.
    latest: std::collections::HashMap<String, usize>,
    successes: u32,
    recorder: Recorder,
    depth: Vec<(u64, usize)>,
    options: SyncOptions,
    /// The outages' starts, for the cold worker's restarts.
    outages: Vec<u64>,
    next_outage: usize,
}

/// Runs `setup` with the predecessor `variant`; keeps the trace if `keep_trace`.
pub(crate) fn run(setup: &Setup, variant: Variant, keep_trace: bool) -> Run {
    let options = SyncOptions::default();
    let world = World::new(
        setup.start,
        Vec::new().into(),
        setup.end,
        setup.end + OVERTIME_MS,
    );
    let plex = SimPlex::new(
        Rc::clone(&world),
        setup.timeline.clone(),
        setup.latency,
        setup.seed ^ 0x5eed_91e7,
        Library::new(
            setup.library,
            &setup.unscanned,
            Arc::clone(&setup.intended),
            options.clone(),
        ),
    );
    let outages = setup
        .timeline
        .spans(|p| p.is_outage())
        .into_iter()
        .map(|(from, _)| from)
        .collect();
    let mut worker = Worker {
        setup,
        world: Rc::clone(&world),
        plex,
        variant,
        rng: SmallRng::seed_from_u64(setup.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        client: Client {
            connected: variant == Variant::Warm,
        },
        breaker: Breaker::default(),
        limiter: Limiter::default(),
        was_in_recovery: false,
        last_health_check: 0,
        health_interval: 5_000,
        health_failures: 0,
        not_ready: 0,
        earliest_retry_at: u64::MAX,
        queue: VecDeque::new(),
        dead: Vec::new(),
        recently_synced: HashSet::new(),
        session_started: setup.start,
        synced_at: BTreeMap::new(),
        delivered: 0,
        latest: std::collections::HashMap::new(),
        successes: 0,
        recorder: Recorder::default(),
        depth: vec![(setup.start, 0)],
        options,
        outages,
        next_outage: 0,
    };
    worker.work();
    let left = Leftovers {
        queued: worker
            .queue
            .iter()
            .map(|r| {
                let job = &setup.hooks[r.hook].job;
                (job.key(), job.edit.title.clone())
            })
            .collect(),
        dead: worker
            .dead
            .iter()
            .map(|(job, class)| (job.key(), class.as_str().to_owned(), job.edit.title.clone()))
            .collect(),
    };
    let metrics = metrics::measure(
        setup,
        &left,
        &worker.plex,
        &worker.recorder,
        &worker.depth,
        0,
    );
    let trace = if keep_trace {
        Trace {
            timeline: setup.timeline.clone(),
            breaker: worker.recorder.breaker,
            probes: worker.plex.seen().probes.clone(),
            synced: worker.recorder.synced.iter().map(|(at, _)| *at).collect(),
            depth: worker.depth,
            lines: worker.recorder.lines,
        }
    } else {
        Trace::default()
    };
    Run {
        scenario: setup.name.clone(),
        policy: variant.name().to_owned(),
        seed: setup.seed,
        drawn: setup.drawn.iter().copied().collect(),
        start: setup.start,
        end: setup.end,
        stopped: world.now(),
        metrics,
        trace,
    }
}

impl Worker<'_> {
    fn now(&self) -> u64 {
        self.world.now()
    }

    fn sleep(&mut self, ms: u64) {
        self.world.advance(ms);
    }

    /// Hooks that have come by now join the queue, at the end, in their order; a cold
    /// worker is a new process from each outage's start.
    fn deliver(&mut self) {
        let now = self.now();
        while let Some(hook) = self.setup.hooks.get(self.delivered).filter(|h| h.at <= now) {
            self.queue.push_back(Row {
                hook: self.delivered,
                enqueued_at: hook.at,
                retry_count: 0,
                next_retry_at: 0,
                hydrated: false,
            });
            self.latest.insert(hook.job.key(), self.delivered);
            self.delivered += 1;
        }
        while self
            .outages
            .get(self.next_outage)
            .is_some_and(|at| *at <= now)
        {
            if self.variant == Variant::Cold {
                self.client.connected = false;
            }
            self.next_outage += 1;
        }
        self.note_depth();
    }

    fn note_depth(&mut self) {
        let len = self.queue.len();
        if self.depth.last().is_none_or(|(_, d)| *d != len) {
            self.depth.push((self.now(), len));
        }
        let now = self.now();
        if len == 0 || now.saturating_sub(self.session_started) >= SESSION_MS {
            // The task, and with it the session, is over.
            self.recently_synced.clear();
            self.session_started = now;
        }
    }

    fn done(&self) -> bool {
        let now = self.now();
        let settled = self.delivered == self.setup.hooks.len()
            && self.queue.is_empty()
            && self.breaker.public() == State::Closed;
        now >= self.setup.end + OVERTIME_MS || (now >= self.setup.end && settled)
    }

    fn log(&mut self, level: Level, text: String, about_health: bool) {
        let now = self.now();
        self.recorder.lines.push((now, level, text));
        if about_health {
            self.recorder.health_lines.push(now);
        }
    }

    /// Logs what the breaker did, and records it.
    fn changed(&mut self, change: Option<Change>) {
        let Some(change) = change else { return };
        let now = self.now();
        let (to, line) = match change {
            // `circuit_breaker.py:268`
            Change::Opened => (
                State::Open,
                "Circuit breaker OPENED after 5 consecutive failures".to_owned(),
            ),
            // `circuit_breaker.py:201`
            Change::HalfOpened => (
                State::HalfOpen,
                "Circuit breaker entering HALF_OPEN state after 60.0s timeout".to_owned(),
            ),
            // `circuit_breaker.py:285`
            Change::Closed => (
                State::Closed,
                "Circuit breaker CLOSED after successful recovery".to_owned(),
            ),
        };
        self.recorder.breaker.push((now, to));
        self.log(Level::Info, line, true);
    }

    /// `_worker_loop` (`processor.py:571-718`).
    fn work(&mut self) {
        loop {
            self.deliver();
            if self.done() {
                return;
            }
            let now = self.now();
            let (can, change) = self.breaker.can_execute(now);
            self.changed(change);
            if !can {
                self.while_open(now);
                continue;
            }
            // `processor.py:637-648`
            let wait = self.limiter.should_wait(now);
            if wait > 0 {
                self.sleep(wait);
                continue;
            }
            // `processor.py:650-657`
            if !self.limiter.in_recovery(now) && self.was_in_recovery {
                self.was_in_recovery = false;
                self.log(
                    Level::Info,
                    "Recovery period complete: normal processing speed resumed".into(),
                    true,
                );
            }
            // `processor.py:659-664`: `get_pending(timeout=2)` wakes when a job is put.
            if self.queue.is_empty() {
                // Polls of 2 s that find nothing change nothing: go straight to the next job,
                // or to the end of the ramp, whose end the loop logs.
                let next = self.setup.hooks.get(self.delivered).map(|h| h.at);
                let ramp_end = self
                    .was_in_recovery
                    .then(|| self.limiter.recovery_end())
                    .flatten();
                let polls = |to: u64| {
                    let ticks = to.saturating_sub(now).div_ceil(GET_TIMEOUT_MS).max(1);
                    now + ticks * GET_TIMEOUT_MS
                };
                match (next, ramp_end) {
                    (Some(at), None) => self.world.jump_to(at),
                    (Some(at), Some(end)) if polls(end) > at => self.world.jump_to(at),
                    (_, Some(end)) => self.world.jump_to(polls(end)),
                    (None, None) => {
                        let end = self.setup.end.max(now + GET_TIMEOUT_MS);
                        self.world.jump_to(polls(end));
                    }
                }
                continue;
            }
            let next_retry_at = self.queue.front().expect("not empty").next_retry_at;
            // `processor.py:666-705`: a job still in its backoff is nacked where it is.
            if next_retry_at > now {
                self.earliest_retry_at = self.earliest_retry_at.min(next_retry_at);
                self.not_ready += 1;
                let threshold = (self.queue.len() as u64).max(50);
                if self.not_ready >= threshold {
                    let until = self.earliest_retry_at.saturating_sub(now);
                    self.sleep(until.clamp(1_000, 30_000));
                    self.not_ready = 0;
                    self.earliest_retry_at = u64::MAX;
                } else {
                    self.sleep(NACK_MS);
                }
                continue;
            }
            self.not_ready = 0;
            self.earliest_retry_at = u64::MAX;
            let head = self.queue.front().expect("not empty").clone();
            if self.handle(head) {
                self.sleep(PAUSE_MS);
            }
        }
    }

    /// The OPEN branch (`processor.py:596-635`): a health check when its interval has
    /// passed, then a second's sleep. Seconds in which nothing is due are skipped at once.
    fn while_open(&mut self, now: u64) {
        let due = self.last_health_check.saturating_add(self.health_interval);
        if now < due {
            // The loop wakes every second: the first wake at or past the next probe, or past
            // the breaker's recovery timeout, or when a hook comes (the cold worker restarts).
            let mut until = due.min(self.breaker.half_open_at());
            if let Some(hook) = self.setup.hooks.get(self.delivered) {
                until = until.min(hook.at);
            }
            let ticks = until.saturating_sub(now).div_ceil(POLL_MS).max(1);
            self.sleep(ticks * POLL_MS);
            return;
        }
        {
            let healthy = self.client.probe(&mut self.plex, &mut self.rng);
            self.last_health_check = now;
            if healthy {
                // `processor.py:609-613`: a fixed 5 s after a passing probe.
                let ms = self.now() - now;
                self.log(
                    Level::Info,
                    format!("Plex health check passed ({ms}ms), recovery possible"),
                    true,
                );
                self.health_failures = 0;
                self.health_interval = 5_000;
            } else {
                // `processor.py:618-628`: `calculate_delay(k, 5, 60)`, full jitter.
                self.health_failures += 1;
                self.health_interval = self.full_jitter(self.health_failures, 5_000, 60_000);
            }
        }
        self.sleep(POLL_MS);
    }

    /// `calculate_delay` (`worker/backoff.py:17-57`): uniform(0, min(cap, base · 2^n)).
    fn full_jitter(&mut self, n: u32, base: u64, cap: u64) -> u64 {
        let ceiling = base.saturating_mul(1u64 << n.min(40)).min(cap);
        self.rng.random_range(0..=ceiling)
    }

    /// `_handle_job` (`processor.py:408-569`); whether it succeeded.
    fn handle(&mut self, mut row: Row) -> bool {
        let key = self.setup.hooks[row.hook].job.key();
        // `processor.py:435-449`: the session's and the cross-session dedup.
        let stale = self
            .synced_at
            .get(&key)
            .is_some_and(|at| row.enqueued_at <= *at && row.retry_count == 0);
        if self.recently_synced.contains(&key) || stale {
            self.queue.pop_front();
            self.note_depth();
            return false;
        }
        let started = self.now();
        if !row.hydrated {
            // Identify hooks queue deferred jobs (`Stash2Plex.py:676-690`): the scene is
            // read from Stash when the job is first worked on, and the data stays in the job
            // for its retries (`processor.py:1052-1057`, `381-406`).
            if let Some(&latest) = self.latest.get(&key) {
                row.hook = latest;
            }
            row.hydrated = true;
        }
        let mut warnings = Vec::new();
        let result = self.client.sync(
            &mut self.plex,
            &self.setup.hooks[row.hook].job,
            &self.options,
            &mut self.rng,
            &mut warnings,
        );
        for warning in warnings {
            // The matcher's warnings: every search that failed while Plex was down.
            self.log(Level::Warn, warning, true);
        }
        self.deliver();
        let now = self.now();
        if now - started >= 1_000 {
            // `processor.py:1199-1205` (on success; a failure raises before it).
            if result.is_ok() {
                self.log(
                    Level::Info,
                    format!("_process_job took {:.3}s", (now - started) as f64 / 1e3),
                    false,
                );
            }
        }
        match result {
            Ok(()) => {
                self.remove_head();
                let was = self.breaker.public();
                let change = self.breaker.record_success();
                self.changed(change);
                let _ = self.limiter.record(true, now);
                if was == State::HalfOpen && self.breaker.public() == State::Closed {
                    // `processor.py:465-474` and `rate_limiter.py:113`.
                    self.limiter.start(now);
                    self.was_in_recovery = true;
                    self.log(
                        Level::Info,
                        "Recovery period started at ..., rate will ramp from 5.0 to 20.0 jobs/sec over 300.0s".into(),
                        true,
                    );
                    self.log(
                        Level::Info,
                        "Recovery period started: graduated rate limiting enabled".into(),
                        true,
                    );
                }
                // `processor.py:476-478`
                self.log(Level::Info, format!("Job {key} completed"), false);
                self.recorder.synced.push((now, key.clone()));
                self.recently_synced.insert(key.clone());
                self.synced_at.insert(key, now);
                self.successes += 1;
                if self.successes % SUMMARY_EVERY == 0 {
                    // `processor.py:481-484`: `_log_batch_summary` (two lines, and a third
                    // while the dead-letter queue holds anything) and the match cache's rate.
                    self.log(Level::Info, "Sync summary: ...".into(), false);
                    self.log(Level::Info, "Stats: {...}".into(), false);
                    if !self.dead.is_empty() {
                        self.log(Level::Warn, "DLQ contains ... items: ...".into(), false);
                    }
                    self.log(Level::Info, "Match cache: ...% hit rate".into(), false);
                }
                true
            }
            Err(Raised::ServerDown) => {
                // `processor.py:492-499`: nacked where it is, a breaker failure.
                let change = self.breaker.record_failure(now);
                self.changed(change);
                self.limiter_record(false, now);
                if self.breaker.public() == State::Open {
                    let pending = self.queue.len();
                    self.log(
                        Level::Warn,
                        format!("Plex server is down — pausing, {pending} job(s) waiting"),
                        true,
                    );
                }
                false
            }
            Err(Raised::NotFound { swallowed }) => {
                // `processor.py:501-521`. Should the retries run out, the dead letter is put
                // down to what truly failed: an outage the matcher swallowed is an outage.
                self.retry(
                    row,
                    NOT_FOUND_RETRY,
                    swallowed.unwrap_or(ErrorClass::NotFound),
                );
                false
            }
            Err(Raised::Temporary(e)) => {
                // `processor.py:523-542`
                let change = self.breaker.record_failure(now);
                self.changed(change);
                self.limiter_record(false, now);
                if self.breaker.public() == State::Open {
                    self.log(
                        Level::Warn,
                        format!("Circuit breaker OPENED after PlexTemporaryError: {e}"),
                        true,
                    );
                }
                let class = e.class();
                self.retry(row, TRANSIENT_RETRY, class);
                false
            }
            Err(Raised::Permanent(e)) => {
                // `processor.py:544-550`: the dead-letter queue at once.
                self.remove_head();
                let class = e.class();
                self.log(
                    Level::Error,
                    format!("Job {key} permanent failure, moving to DLQ: {e}"),
                    class.is_outage(),
                );
                self.dead
                    .push((self.setup.hooks[row.hook].job.clone(), class));
                false
            }
        }
    }

    fn limiter_record(&mut self, success: bool, now: u64) {
        match self.limiter.record(success, now) {
            Some(Said::Halved) => self.log(
                Level::Warn,
                "Error rate ... exceeds threshold 30.00%, reducing rate by 50% for 60s".into(),
                true,
            ),
            Some(Said::Restored) => self.log(
                Level::Info,
                "Error rate ... recovered, restoring full rate".into(),
                true,
            ),
            None => {}
        }
    }

    fn remove_head(&mut self) {
        self.queue.pop_front();
        self.note_depth();
    }

    /// `_prepare_for_retry` and `_requeue_with_metadata` (`processor.py:326-406`), or the
    /// dead-letter queue once the retries are spent.
    fn retry(&mut self, mut row: Row, (base, cap, max): (u64, u64, u32), class: ErrorClass) {
        self.remove_head();
        let key = self.setup.hooks[row.hook].job.key();
        row.retry_count += 1;
        if row.retry_count >= max {
            self.log(
                Level::Warn,
                format!("Job {key} exceeded max retries ({max}), moving to DLQ"),
                class.is_outage(),
            );
            self.dead
                .push((self.setup.hooks[row.hook].job.clone(), class));
            return;
        }
        let delay = self.full_jitter(row.retry_count - 1, base, cap);
        row.next_retry_at = self.now() + delay;
        self.queue.push_back(row);
        self.note_depth();
    }
}
