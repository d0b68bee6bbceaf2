//! The driver: one loop that asks the core what to do, does it with what is plugged in, and
//! tells the core how it went. It decides nothing.

use persist::Lease;
use rand::Rng;

use crate::action::{Action, Input, Synced, UnexpectedInput};
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
    // The jobs leased for the batch being gathered or in flight.
    let mut leases: Vec<Lease> = Vec::new();
    loop {
        if ports.clock.stop_requested() {
            engine.request_stop();
        }
        let now = ports.clock.now();
        while let Some(notice) = ports.clock.take_notice() {
            let rng = &mut ports.rng;
            ports
                .state
                .update(|s| engine.handle(s, Input::Notice(notice), now, rng))
                .map_err(state_error)??;
        }
        let rng = &mut ports.rng;
        let action = ports
            .state
            .update(|s| engine.poll(s, now, rng))
            .map_err(state_error)?;
        flush(engine, &mut ports.events, now);
        let input = match action {
            Action::Probe { depth, deadline } => {
                // Only a probe's result is judged by the local day (Plex's maintenance hours):
                // the offset is looked up then, not on every turn of a drain.
                engine.set_utc_offset(ports.clock.utc_offset_ms(now));
                Input::Probed(ports.plex.probe(depth, deadline).await)
            }
            Action::Inspect => Input::Inspected(ports.queue.counts(now)?),
            Action::Take { visibility_ms } => {
                let lease = ports.queue.lease(visibility_ms, now)?;
                let job = lease.as_ref().map(|l| l.job.clone());
                leases.extend(lease);
                Input::Taken(job)
            }
            Action::Sync { jobs, deadline } => {
                let options = &engine.policy().engine.sync;
                let (plex, clock) = (&ports.plex, &ports.clock);
                let syncs = jobs.iter().map(|job| async move {
                    let start = clock.now();
                    let (result, requests) = sync_job(plex, job, options, deadline).await;
                    Synced::new(result, clock.now().saturating_sub(start), requests)
                });
                Input::Synced(crate::join::all(syncs.collect()).await)
            }
            Action::Finish { key, disposition } => {
                let at = leases
                    .iter()
                    .position(|l| l.job.key == key)
                    .expect("the core finishes only jobs the driver leased");
                let held = leases.swap_remove(at);
                let now = ports.clock.now();
                Input::Finished(ports.queue.finish(&held, &disposition, now)?)
            }
            Action::Scan { target, deadline } => Input::Scanned(
                ports
                    .plex
                    .scan(&target.section, &target.folder, deadline)
                    .await,
            ),
            Action::Wait { until } => {
                // What finished before the sleep is made durable first.
                ports.queue.settle()?;
                match ports.clock.sleep_until(until).await {
                    Wake::Deadline => continue,
                    Wake::Nudged => Input::Nudged,
                    Wake::Stop => {
                        engine.request_stop();
                        continue;
                    }
                }
            }
            Action::Stop(reason) => {
                ports.queue.settle()?;
                flush(engine, &mut ports.events, now);
                return Ok(reason);
            }
        };
        let now = ports.clock.now();
        let rng = &mut ports.rng;
        ports
            .state
            .update(|s| engine.handle(s, input, now, rng))
            .map_err(state_error)??;
        flush(engine, &mut ports.events, now);
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
