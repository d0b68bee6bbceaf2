//! One run: a scenario drawn for a seed, under one policy, through the engine's own driver.

use std::rc::Rc;
use std::sync::Arc;

use breaker_core::State;
use engine::{Engine, Level, Mode, Policy, Ports, StateStore, StopReason, block_on, drive};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::Serialize;

use crate::library::Library;
use crate::metrics::{self, Metrics};
use crate::plex::{ProbeSeen, SimPlex};
use crate::predecessor::{self, Variant};
use crate::scenario::Setup;
use crate::timeline::Timeline;
use crate::world::{Recorder, SimClock, SimQueue, SimState, World};
use fake_plex::ServerPhase;

/// However a run goes, it ends this long after its scenario does.
pub(crate) const OVERTIME_MS: u64 = 2 * 86_400_000;

/// What one run did, over time: what the pictures draw.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trace {
    /// The server's phases.
    pub timeline: Timeline,
    /// Breaker transitions: when, and to what.
    pub breaker: Vec<(u64, State)>,
    /// Every probe.
    pub probes: Vec<ProbeSeen>,
    /// When each job reached Plex.
    pub synced: Vec<u64>,
    /// Queue depth after each change.
    pub depth: Vec<(u64, usize)>,
    /// The lines a user would see by default: when, how loud, what.
    pub lines: Vec<(u64, Level, String)>,
}

/// One run's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The scenario.
    pub scenario: String,
    /// The policy's name.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// What the scenario drew for this seed (lengths in ms, counts), by name.
    pub drawn: std::collections::BTreeMap<&'static str, u64>,
    /// When the scenario started.
    pub start: u64,
    /// When the scenario ended.
    pub end: u64,
    /// When the run stopped (after the scenario's end, once the work was done).
    pub stopped: u64,
    /// The figures.
    pub metrics: Metrics,
    /// What happened over time; empty unless asked for.
    #[serde(skip)]
    pub trace: Trace,
}

/// The engine's driver could not go on (the memory queue failed): a bug, since nothing in
/// a simulation can fail that way.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(String);

/// What a run runs: plexsync's engine under a policy, or the predecessor's model.
#[derive(Clone, Debug)]
pub enum Contender {
    /// plexsync's engine, its core and driver, under this policy.
    Engine(Box<Policy>),
    /// Stash2Plex v1.6.14's worker, modelled from its code.
    Predecessor(Variant),
}

/// Runs `setup` with `contender` (named `name`); keeps the trace if `keep_trace`.
pub fn run_contender(
    setup: &Setup,
    name: &str,
    contender: &Contender,
    keep_trace: bool,
) -> Result<Run, RunError> {
    match contender {
        Contender::Engine(policy) => run(setup, name, policy, keep_trace),
        Contender::Predecessor(variant) => {
            let mut run = predecessor::run(setup, *variant, keep_trace);
            run.policy = name.to_owned();
            Ok(run)
        }
    }
}

/// Runs `setup` under `policy` (named `name`); keeps the trace if `keep_trace`.
pub fn run(setup: &Setup, name: &str, policy: &Policy, keep_trace: bool) -> Result<Run, RunError> {
    let world = World::new(
        setup.start,
        Arc::clone(&setup.hooks),
        setup.end,
        setup.end + OVERTIME_MS,
    );
    if policy.engine.watch_plex {
        world.watch(crate::watch::notices(
            &setup.timeline,
            setup.start,
            setup.end + OVERTIME_MS,
        ));
    }
    if let Some((start, end)) = setup.butler {
        let hours = engine::ButlerHours {
            start,
            end,
            read_at: setup.start,
        };
        let _ = SimState(Rc::clone(&world)).update(|s| s.butler = Some(hours));
    }
    let plex = SimPlex::new(
        Rc::clone(&world),
        setup.timeline.clone(),
        setup.latency,
        setup.seed ^ 0x5eed_91e7,
        Library::new(
            setup.library,
            &setup.unscanned,
            Arc::clone(&setup.intended),
            policy.engine.sync.clone(),
        ),
    );
    let mut recorder = Recorder::default();
    let mut rng = SmallRng::seed_from_u64(setup.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut restarts = 0;
    loop {
        let mut engine = Engine::new(policy.clone(), Mode::Run);
        let mut ports = Ports {
            plex: &plex,
            queue: SimQueue(Rc::clone(&world)),
            state: SimState(Rc::clone(&world)),
            clock: SimClock(Rc::clone(&world)),
            events: &mut recorder,
            rng: &mut rng,
        };
        let stopped = block_on(drive(&mut engine, &mut ports)).map_err(|e| {
            RunError(format!(
                "scenario {}, seed {}, policy {name}: {e}",
                setup.name, setup.seed
            ))
        })?;
        // A refused token stops the worker: the user puts it right, and starts it again.
        let StopReason::Configuration(_) = stopped else {
            break;
        };
        match fixed_at(&setup.timeline, world.now()) {
            Some(at) if at < setup.end + OVERTIME_MS => {
                world.jump_to(at);
                restarts += 1;
            }
            _ => break,
        }
    }
    let depth = world.take_depth();
    let left = metrics::Leftovers::of_queue(&mut world.queue());
    let metrics = metrics::measure(setup, &left, &plex, &recorder, &depth, restarts);
    let trace = if keep_trace {
        Trace {
            timeline: setup.timeline.clone(),
            breaker: recorder.breaker,
            probes: plex.seen().probes.clone(),
            synced: recorder.synced.iter().map(|(at, _)| *at).collect(),
            depth,
            lines: recorder.lines,
        }
    } else {
        Trace::default()
    };
    Ok(Run {
        scenario: setup.name.clone(),
        policy: name.to_owned(),
        seed: setup.seed,
        drawn: setup.drawn.iter().copied().collect(),
        start: setup.start,
        end: setup.end,
        stopped: world.now(),
        metrics,
        trace,
    })
}

/// When the token is taken again after `now`.
fn fixed_at(timeline: &Timeline, now: u64) -> Option<u64> {
    let mut at = now;
    while timeline.at(at) == ServerPhase::TokenRevoked {
        at = timeline.next_change(at)?;
    }
    Some(at)
}
