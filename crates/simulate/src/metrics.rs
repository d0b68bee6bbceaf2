//! The figures of one run, and the checks behind them: nothing lost, every edit as intended.

use std::collections::{BTreeMap, HashSet};

use breaker_core::State;
use engine::{ErrorClass, SyncJob};
use serde::Serialize;

use crate::plex::SimPlex;
use crate::scenario::Setup;
use crate::world::Recorder;
use fake_plex::ServerPhase;

/// A closure followed by a re-opening within this long is false if Plex was not ready.
pub const FALSE_CLOSURE_WINDOW_MS: u64 = 60_000;

/// Lines this long after an outage still count as the outage's.
const AFTER_OUTAGE_MS: u64 = 300_000;

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// For each recovery with work waiting: from the moment Plex was ready to the first
    /// waiting job synced (`None`: none ever was).
    pub delays_ms: Vec<Option<u64>>,
    /// Probes sent.
    pub probes: u64,
    /// Probes that reached a server that was up but not ready.
    pub probes_not_ready: u64,
    /// Requests of any kind (probes' and jobs') sent.
    pub requests: u64,
    /// Requests that reached a server that was up but not ready.
    pub requests_not_ready: u64,
    /// Requests that needed the library (deep probes, trial and other jobs) and reached a
    /// server that was up but not ready.
    pub deep_not_ready: u64,
    /// Of those, the ones sent inside Plex's maintenance window (0 without one).
    pub deep_not_ready_in_window: u64,
    /// Of `delays_ms`, those of recoveries from outages that began inside Plex's maintenance
    /// window; the others are in `delays_outside_ms` (both empty without a window).
    pub delays_in_window_ms: Vec<Option<u64>>,
    /// Those of recoveries from outages that began outside it.
    pub delays_outside_ms: Vec<Option<u64>>,
    /// Closures while Plex was not ready, re-opened within a minute.
    pub false_closures: u64,
    /// Scenes whose latest edit is neither in Plex, nor queued, nor dead-lettered.
    pub lost: u64,
    /// Jobs dead-lettered for an outage (a class whose scope is the server).
    pub outage_dead_letters: u64,
    /// Jobs dead-lettered for any reason.
    pub dead_letters: u64,
    /// Edits that reached Plex but not as intended: another scene's values, an older edit
    /// after a newer one, or an item left different from the edit.
    pub wrong_edits: u64,
    /// Jobs that reached Plex (updated it, or found it up to date).
    pub synced: u64,
    /// Edits (PUTs) Plex received.
    pub edits: u64,
    /// Partial scans asked for.
    pub scans: u64,
    /// For the recovery that took longest to work off: from ready to an empty queue
    /// (`None`: it never emptied).
    pub drain_ms: Option<u64>,
    /// Lines a user sees by default.
    pub log_lines: u64,
    /// Those of them about Plex's health (the breaker, the outage, jobs held back or given up
    /// on for it) written during an outage or in the five minutes after it ended.
    pub outage_log_lines: u64,
    /// Jobs still queued when the run stopped.
    pub left_queued: u64,
    /// Times the worker was started again after a configuration stop.
    pub restarts: u32,
    /// With scenes edited at once: from the first of them to an empty queue (`None`: never).
    pub bulk_drain_ms: Option<u64>,
    /// With a load model and such a bulk: the 95th percentile of Plex's answers' times while
    /// it drained (until the queue was empty, or the run's end).
    pub drain_latency_p95_ms: Option<u64>,
    /// The same server's 95th percentile idle (streaming as in the run).
    pub idle_latency_p95_ms: Option<u64>,
    /// The most job requests in flight together.
    pub most_in_flight: u32,
    /// Job requests sent while the breaker was half-open and another was in flight: trials
    /// go one at a time, so never.
    pub trials_overlapping: u64,
}

/// Measures a finished run.
pub(crate) fn measure(
    setup: &Setup,
    left: &Leftovers,
    plex: &SimPlex,
    recorder: &Recorder,
    depth: &[(u64, usize)],
    restarts: u32,
) -> Metrics {
    let seen = &plex.seen();
    let (delays_ms, drain_ms, began) = recoveries(setup, recorder, depth);
    let split = |inside: bool| -> Vec<Option<u64>> {
        delays_ms
            .iter()
            .zip(&began)
            .filter(|(_, from)| setup.butler.is_some() && setup.in_window(**from) == inside)
            .map(|(d, _)| *d)
            .collect()
    };
    let (delays_in_window_ms, delays_outside_ms) = (split(true), split(false));
    let (lost, left_queued, outage_dead_letters, dead_letters) = accounts(setup, left, plex);
    let bulk_drain_ms = setup.bulk.as_ref().and_then(|bulk| {
        depth
            .iter()
            .find(|(at, d)| *at > bulk.at + bulk.over_ms && *d == 0)
            .map(|(at, _)| at - bulk.at)
    });
    let loaded = setup.latency.capacity_rps > 0.0;
    let drain_latency_p95_ms = setup.bulk.as_ref().filter(|_| loaded).and_then(|bulk| {
        let until = bulk_drain_ms.map_or(u64::MAX, |d| bulk.at + d);
        let mut during: Vec<u64> = seen
            .answered
            .iter()
            .filter(|(at, _)| (bulk.at..until).contains(at))
            .map(|(_, took)| *took)
            .collect();
        during.sort_unstable();
        let rank = (during.len() * 95).div_ceil(100);
        during.get(rank.checked_sub(1)?).copied()
    });
    let idle_latency_p95_ms = loaded.then(|| setup.latency.idle_p95_ms(setup.seed, 20_000));
    Metrics {
        delays_ms,
        probes: seen.probes.len() as u64,
        probes_not_ready: seen
            .probes
            .iter()
            .filter(|p| p.phase.is_live_not_ready())
            .count() as u64,
        requests: seen.requests,
        requests_not_ready: seen.requests_not_ready,
        deep_not_ready: seen.deep_not_ready,
        deep_not_ready_in_window: seen
            .deep_not_ready_at
            .iter()
            .filter(|at| setup.in_window(**at))
            .count() as u64,
        delays_in_window_ms,
        delays_outside_ms,
        false_closures: false_closures(setup, &recorder.breaker),
        lost,
        outage_dead_letters,
        dead_letters,
        wrong_edits: plex.library().wrong_edits,
        synced: recorder.synced.len() as u64,
        edits: plex.library().edits,
        scans: seen.scans,
        drain_ms,
        log_lines: recorder.lines.len() as u64,
        outage_log_lines: outage_lines(setup, recorder),
        left_queued,
        restarts,
        bulk_drain_ms,
        drain_latency_p95_ms,
        idle_latency_p95_ms,
        most_in_flight: seen.most_in_flight,
        trials_overlapping: seen.trials_overlapping,
    }
}

/// Detection delays and drain times, one per recovery with work waiting for it, and when
/// the outage of each began.
fn recoveries(
    setup: &Setup,
    recorder: &Recorder,
    depth: &[(u64, usize)],
) -> (Vec<Option<u64>>, Option<u64>, Vec<u64>) {
    let outages = setup.timeline.spans(|s| s != ServerPhase::Ready);
    let mut began = Vec::new();
    // Jobs of files Plex has yet to scan wait for a scan, not for Plex: leave them out.
    let unscanned: HashSet<String> = setup
        .unscanned
        .iter()
        .map(|id| format!("scene-{id}"))
        .collect();
    let mut delays = Vec::new();
    let mut drain: Option<Option<u64>> = None;
    let mut pending: HashSet<String> = HashSet::new();
    let (mut h, mut s) = (0, 0);
    for ready in setup.timeline.recoveries() {
        while let Some(hook) = setup.hooks.get(h).filter(|x| x.at < ready) {
            pending.insert(hook.job.key());
            h += 1;
        }
        while let Some((_, key)) = recorder.synced.get(s).filter(|x| x.0 < ready) {
            pending.remove(key);
            s += 1;
        }
        let waiting: HashSet<&String> =
            pending.iter().filter(|k| !unscanned.contains(*k)).collect();
        if waiting.is_empty() {
            continue;
        }
        let first = recorder.synced[s..]
            .iter()
            .find(|(_, key)| waiting.contains(key))
            .map(|(at, _)| at - ready);
        delays.push(first);
        began.push(
            outages
                .iter()
                .find(|(_, to)| *to == ready)
                .map_or(ready, |(from, _)| *from),
        );
        let emptied = depth
            .iter()
            .find(|(at, d)| *at >= ready && *d == 0)
            .map(|(at, _)| at - ready);
        drain = Some(match (drain, emptied) {
            (None, e) => e,
            (Some(None), _) | (_, None) => None,
            (Some(Some(a)), Some(b)) => Some(a.max(b)),
        });
    }
    (delays, drain.flatten(), began)
}

/// Lines an outage costs: about Plex's health, from its start to five minutes after it ended.
fn outage_lines(setup: &Setup, recorder: &Recorder) -> u64 {
    let spans = setup.timeline.spans(|s| s != ServerPhase::Ready);
    recorder
        .health_lines
        .iter()
        .filter(|&&at| {
            spans
                .iter()
                .any(|&(from, to)| at >= from && at < to.saturating_add(AFTER_OUTAGE_MS))
        })
        .count() as u64
}

/// Closures while the server was not ready, undone within a minute.
fn false_closures(setup: &Setup, breaker: &[(u64, State)]) -> u64 {
    breaker
        .iter()
        .enumerate()
        .filter(|(i, (at, to))| {
            *to == State::Closed
                && setup.timeline.at(*at).is_outage()
                && breaker[i + 1..]
                    .iter()
                    .take_while(|(t, _)| *t <= at + FALSE_CLOSURE_WINDOW_MS)
                    .any(|(_, s)| *s == State::Open)
        })
        .count() as u64
}

/// What a run left behind: the jobs still queued and the dead letters, each with its key and
/// the title its edit gives.
#[derive(Debug, Default)]
pub(crate) struct Leftovers {
    /// Jobs still queued (a key may have several).
    pub(crate) queued: Vec<(String, Option<String>)>,
    /// Dead letters, with the class of the failure that ended each.
    pub(crate) dead: Vec<(String, String, Option<String>)>,
}

impl Leftovers {
    /// What persist's queue holds.
    pub(crate) fn of_queue(queue: &mut persist::Queue) -> Leftovers {
        let decode = |payload: &persist::Payload| {
            payload.decode::<SyncJob>().ok().and_then(|s| s.edit.title)
        };
        Leftovers {
            queued: queue
                .jobs()
                .unwrap_or_default()
                .into_iter()
                .map(|j| {
                    let title = decode(&j.payload);
                    (j.key, title)
                })
                .collect(),
            dead: queue
                .dead_letters()
                .unwrap_or_default()
                .into_iter()
                .map(|d| {
                    let title = decode(&d.job.payload);
                    (d.job.key, d.class, title)
                })
                .collect(),
        }
    }
}

/// Every scene's latest edit must be in Plex, queued, or dead-lettered: returns the lost,
/// the queued, the dead-lettered for an outage, and all dead-lettered.
fn accounts(setup: &Setup, left: &Leftovers, plex: &SimPlex) -> (u64, u64, u64, u64) {
    let mut latest: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for hook in setup.hooks.iter() {
        let title = hook.job.edit.title.as_deref().unwrap_or_default();
        latest.insert(hook.job.key(), (hook.job.files[0].as_str(), title));
    }
    let queued: HashSet<(&str, Option<&str>)> = left
        .queued
        .iter()
        .map(|(key, title)| (key.as_str(), title.as_deref()))
        .collect();
    let outage = left
        .dead
        .iter()
        .filter(|(_, class, _)| class.parse().is_ok_and(ErrorClass::is_outage))
        .count() as u64;
    let dead: HashSet<(&str, Option<&str>)> = left
        .dead
        .iter()
        .map(|(key, _, title)| (key.as_str(), title.as_deref()))
        .collect();
    let lost = latest
        .iter()
        .filter(|(key, (file, title))| {
            let in_plex = plex.library().title(file).as_deref() == Some(*title);
            let want = (key.as_str(), Some(*title));
            !(in_plex || queued.contains(&want) || dead.contains(&want))
        })
        .count() as u64;
    (
        lost,
        left.queued.len() as u64,
        outage,
        left.dead.len() as u64,
    )
}
