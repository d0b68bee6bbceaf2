//! The driver: one loop that asks the core what to do, does it with what is plugged in, and
//! tells the core how it went. It decides nothing.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use persist::Lease;
use rand::Rng;

use crate::action::{Action, Input, SyncResult, Synced, UnexpectedInput};
use crate::core::Engine;
use crate::event::StopReason;
use crate::ports::{Clock, EventSink, JobStore, Plex, StateStore, Wake};
use crate::sync::sync_job;

/// What the driver runs with.
#[derive(Debug)]
pub struct Ports<P, Q, S, C, E, R> {
    /// Plex.
    pub plex: P,
    /// The job queue.
    pub queue: Q,
    /// The engine's state.
    pub state: S,
    /// Time.
    pub clock: C,
    /// Where events go.
    pub events: E,
    /// Jitter.
    pub rng: R,
}

/// The queue or the state store failed: the driver cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The job queue failed.
    #[error("the job queue failed: {0}")]
    Queue(#[from] persist::Error),
    /// The state store failed.
    #[error("the engine's state file: {0}")]
    State(Box<dyn std::error::Error + Send + Sync>),
    /// The engine refused an answer: a bug in the driver.
    #[error("{0}")]
    Engine(#[from] UnexpectedInput),
}

/// A job in flight: its key, when it was sent (µs), and its requests under way.
struct Flying<'a> {
    key: String,
    sent_us: u64,
    sync: Pin<Box<dyn Future<Output = (SyncResult, u32)> + 'a>>,
}

/// Runs `engine` until it stops, and says why.
pub async fn drive<P, Q, S, C, E, R>(
    engine: &mut Engine,
    ports: &mut Ports<P, Q, S, C, E, R>,
) -> Result<StopReason, DriveError>
where
    P: Plex,
    Q: JobStore,
    S: StateStore,
    C: Clock,
    E: EventSink,
    R: Rng,
{
    let Ports {
        plex,
        queue,
        state,
        clock,
        events,
        rng,
    } = ports;
    let plex: &P = plex;
    let options = engine.policy().engine.sync.clone();
    let options = &options;
    // The jobs leased and not yet finished.
    let mut leases: Vec<Lease> = Vec::new();
    let mut flying: Vec<Flying<'_>> = Vec::new();
    // Jobs that landed, not yet told to the engine.
    let mut landed: VecDeque<(String, Synced)> = VecDeque::new();
    loop {
        if clock.stop_requested() {
            engine.request_stop();
        }
        let now = clock.now();
        while let Some(notice) = clock.take_notice() {
            state
                .update(|s| engine.handle(s, Input::Notice(notice), now, rng))
                .map_err(state_error)??;
        }
        let action = state
            .update(|s| engine.poll(s, now, rng))
            .map_err(state_error)?;
        flush(engine, events, now);
        let input = match action {
            Action::Probe { depth, deadline } => {
                // Only a probe's result is judged by the local day (Plex's maintenance hours):
                // the offset is looked up then, not on every turn of a drain.
                engine.set_utc_offset(clock.utc_offset_ms(now));
                Input::Probed(plex.probe(depth, deadline).await)
            }
            Action::Inspect => Input::Inspected(queue.counts(now)?),
            Action::Take { visibility_ms } => {
                let lease = queue.lease(visibility_ms, now)?;
                let job = lease.as_ref().map(|l| l.job.clone());
                leases.extend(lease);
                Input::Taken(job)
            }
            Action::Sync { key, job, deadline } => {
                let sync = Box::pin(async move { sync_job(plex, &job, options, deadline).await });
                flying.push(Flying {
                    key,
                    sent_us: clock.now_us(),
                    sync,
                });
                continue;
            }
            Action::Finish { key, disposition } => {
                let at = leases
                    .iter()
                    .position(|l| l.job.key == key)
                    .expect("the core finishes only jobs the driver leased");
                let held = leases.swap_remove(at);
                let now = clock.now();
                Input::Finished(queue.finish(&held, &disposition, now)?)
            }
            Action::Scan { target, deadline } => {
                Input::Scanned(plex.scan(&target.section, &target.folder, deadline).await)
            }
            Action::Wait { until } => {
                if flying.is_empty() && landed.is_empty() {
                    // What finished before the sleep is made durable first.
                    queue.settle()?;
                }
                let woke = match landed.pop_front() {
                    Some(done) => Woke::Landed(done),
                    None => land_or_sleep(&mut flying, &mut landed, clock, until).await,
                };
                match woke {
                    Woke::Landed((key, synced)) => Input::Synced { key, synced },
                    Woke::Clock(Wake::Deadline) => continue,
                    Woke::Clock(Wake::Nudged) => Input::Nudged,
                    Woke::Clock(Wake::Stop) => {
                        engine.request_stop();
                        continue;
                    }
                }
            }
            Action::Stop(reason) => {
                queue.settle()?;
                flush(engine, events, now);
                return Ok(reason);
            }
        };
        let now = clock.now();
        state
            .update(|s| engine.handle(s, input, now, rng))
            .map_err(state_error)??;
        flush(engine, events, now);
    }
}

/// What ended a wait.
enum Woke {
    /// A job in flight landed: its key, and how it went.
    Landed((String, Synced)),
    /// The clock woke the driver.
    Clock(Wake),
}

/// Waits until a job in flight lands or the clock wakes the driver, whichever comes first.
/// Jobs that land together are kept in `landed` (a finished future is never polled again).
async fn land_or_sleep<C: Clock>(
    flying: &mut Vec<Flying<'_>>,
    landed: &mut VecDeque<(String, Synced)>,
    clock: &mut C,
    until: u64,
) -> Woke {
    let mut done: VecDeque<(String, (SyncResult, u32), u64)> = VecDeque::new();
    let woke = {
        let mut sleep = std::pin::pin!(clock.sleep_until(until));
        std::future::poll_fn(|cx| {
            // Newest first: on a virtual clock, polling a sleeper may move time, so every job
            // just sent must have asked for its first request before an older one's may end.
            for i in (0..flying.len()).rev() {
                if let Poll::Ready(out) = flying[i].sync.as_mut().poll(cx) {
                    let job = flying.remove(i);
                    done.push_back((job.key, out, job.sent_us));
                }
            }
            if !done.is_empty() {
                return Poll::Ready(None);
            }
            sleep.as_mut().poll(cx).map(Some)
        })
        .await
    };
    let now_us = clock.now_us();
    for (key, (result, requests), sent_us) in done {
        let took = Duration::from_micros(now_us.saturating_sub(sent_us));
        landed.push_back((key, Synced::new(result, took, requests)));
    }
    match (woke, landed.pop_front()) {
        (_, Some(first)) => Woke::Landed(first),
        (Some(wake), None) => Woke::Clock(wake),
        (None, None) => unreachable!("the wait ends when a job lands or the clock wakes"),
    }
}

fn flush<E: EventSink>(engine: &mut Engine, sink: &mut E, now: u64) {
    while let Some(event) = engine.poll_event() {
        sink.emit(event, now);
    }
}

fn state_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> DriveError {
    DriveError::State(Box::new(e))
}
