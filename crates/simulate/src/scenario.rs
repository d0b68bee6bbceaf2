//! The scenarios: what the server goes through, and the work that arrives meanwhile. Each is
//! built from a seed, the same for every policy, so that policies meet the same world.

use std::collections::HashMap;
use std::sync::Arc;

use plex_client::MetadataEdit;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::plex::Latency;
use crate::timeline::Timeline;
use crate::workload::{Bulk, Editor, Sessions};
use crate::world::Hook;
use fake_plex::ServerPhase;

/// Where simulated time starts (a plausible wall clock, in ms since the epoch).
pub const START: u64 = 1_700_000_000_000;

const S: u64 = 1_000;
const MIN: u64 = 60 * S;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

/// Which of the defaults' targets a scenario is held to (`docs/policy.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// A refused port or maintenance (503), up to 10 minutes: cheap to watch, so the
    /// recovery is seen within 5 s (p95).
    Quick,
    /// The 8-hour window: the recovery seen within 15 s (p95) however long start-up
    /// maintenance lasts, and at most 20 log lines.
    Window,
    /// Plex's maintenance window: against the same defaults blind to it, at most a third of
    /// the deep requests to a not-ready server inside the window, recovery seen no later
    /// (p95), and outages outside the window seen no later either.
    Nightly,
    /// A drain on a loaded server of this class, against the defaults before they paced
    /// themselves (one job at a time): on medium and strong servers at least 4 times
    /// shorter (median); Plex's p95 answer time while it drains at most twice its idle p95
    /// (worst run), and on weak servers no worse than one job at a time's (median, worst).
    Pacing(Class),
    /// No target of its own (nothing lost, no outage dead letters, no false closes and no
    /// more deep requests to a server that is not ready than the predecessor still hold).
    None,
}

/// How much a simulated server can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A NAS or a Pi: 40-120 requests a second.
    Weak,
    /// 200-500 requests a second.
    Medium,
    /// 800-2,000 requests a second.
    Strong,
}

/// One scenario.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// Its name, for `--scenario`.
    pub name: &'static str,
    /// What happens, in a line.
    pub about: &'static str,
    /// The target it is held to.
    pub target: Target,
    /// Draws the plan; the seed is given too, for a scenario that takes turns by it.
    plan: fn(&mut SmallRng, u64) -> Plan,
}

/// What a scenario draws from its seed.
#[derive(Clone, Debug)]
struct Plan {
    /// The values drawn, by name, for the record.
    drawn: Vec<(&'static str, u64)>,
    /// `(from, phase)`, relative to the start.
    phases: Vec<(u64, ServerPhase)>,
    /// How long it lasts (the run goes on until the queue is empty).
    length: u64,
    /// Scenes in the library.
    library: u64,
    sessions: Sessions,
    bulk: Option<Bulk>,
    latency: Latency,
    /// Plex's maintenance window (`ButlerStartHour`, `ButlerEndHour`, UTC), as a worker
    /// reads it from Plex.
    butler: Option<(u8, u8)>,
}

impl Plan {
    fn new(length: u64, phases: Vec<(u64, ServerPhase)>) -> Plan {
        Plan {
            drawn: Vec::new(),
            phases,
            length,
            library: 2_000,
            sessions: Sessions::default(),
            bulk: None,
            latency: Latency::default(),
            butler: None,
        }
    }
}

/// An edit asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intended {
    /// Of which scene.
    pub scene: u64,
    /// When the hook came.
    pub at: u64,
    /// What it asked for.
    pub edit: MetadataEdit,
}

/// A scenario drawn for one seed: everything a run needs, identical whatever the policy.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The scenario's name.
    pub name: String,
    /// The target it is held to.
    pub target: Target,
    /// The seed.
    pub seed: u64,
    /// The server's phases.
    pub timeline: Timeline,
    /// When it starts.
    pub start: u64,
    /// When it ends: the run goes on past it until the work is done.
    pub end: u64,
    /// The hooks, in time order (shared by every run of the setup).
    pub hooks: Arc<[Hook]>,
    /// Scenes `0..library` are in Plex from the start.
    pub library: u64,
    /// New scenes, whose files Plex finds only when it scans their folders.
    pub unscanned: Vec<u64>,
    /// Every edit asked for, by the title it gives (which names the scene and the edit).
    pub intended: Arc<HashMap<String, Intended>>,
    /// Request latency.
    pub latency: Latency,
    /// The scenes edited at once, if any (their start in absolute time).
    pub bulk: Option<Bulk>,
    /// The values this seed drew (lengths in ms, counts), by name.
    pub drawn: Vec<(&'static str, u64)>,
    /// Plex's maintenance window (start and end hours, UTC), known to the worker from the
    /// start as if read from Plex; `None`: Plex's setting is not read.
    pub butler: Option<(u8, u8)>,
}

impl Setup {
    /// Whether `at` falls in Plex's maintenance window.
    pub fn in_window(&self, at: u64) -> bool {
        self.butler.is_some_and(|(start, end)| {
            engine::Window {
                start,
                end,
                source: engine::WindowSource::Plex,
            }
            .contains(at, 0)
        })
    }
}

impl Scenario {
    /// Draws the scenario for `seed`.
    pub fn setup(&self, seed: u64) -> Setup {
        let mut rng = SmallRng::seed_from_u64(seed ^ fnv(self.name));
        let plan = (self.plan)(&mut rng, seed);
        Setup::build(self.name, self.target, plan, seed, &mut rng)
    }
}

impl Setup {
    /// A scenario of one's own: the server goes through `phases` (`(from, phase)`, in ms
    /// from the start; ready before the first), over `length` ms of the default workload.
    pub fn custom(name: &str, phases: Vec<(u64, ServerPhase)>, length: u64, seed: u64) -> Setup {
        let mut rng = SmallRng::seed_from_u64(seed ^ fnv(name));
        Setup::build(
            name,
            Target::None,
            Plan::new(length, phases),
            seed,
            &mut rng,
        )
    }

    /// The same with `bulk` scenes edited at once besides (its `at` from the start) on a
    /// server with a load: `capacity_rps` and `streaming` as [`Latency`] has them.
    pub fn custom_bulk(
        name: &str,
        phases: Vec<(u64, ServerPhase)>,
        length: u64,
        seed: u64,
        bulk: Bulk,
        load: (f64, f64),
    ) -> Setup {
        let mut rng = SmallRng::seed_from_u64(seed ^ fnv(name));
        let mut plan = Plan::new(length, phases);
        plan.library = plan.library.max(u64::from(bulk.scenes) + 100);
        plan.bulk = Some(bulk);
        plan.latency.capacity_rps = load.0;
        plan.latency.streaming = load.1;
        Setup::build(name, Target::None, plan, seed, &mut rng)
    }

    fn build(name: &str, target: Target, plan: Plan, seed: u64, rng: &mut SmallRng) -> Setup {
        let rng = &mut *rng;
        let timeline = Timeline::new(
            plan.phases
                .iter()
                .map(|(at, phase)| (START + at, *phase))
                .collect(),
        );
        let end = START + plan.length;
        let mut editor = Editor::new(plan.library);
        editor.sessions(&plan.sessions, START, end, plan.library, rng);
        let bulk = plan.bulk.map(|bulk| Bulk {
            at: START + bulk.at,
            ..bulk
        });
        if let Some(bulk) = &bulk {
            editor.bulk(bulk, plan.library, rng);
        }
        let outages = timeline.spans(|s| s != ServerPhase::Ready);
        let within: Vec<(u64, u64)> = outages.iter().map(|&(a, b)| (a, b.min(end))).collect();
        editor.during(&within, plan.library, rng);
        let (hooks, unscanned) = editor.finish();
        let intended = hooks
            .iter()
            .filter_map(|h| {
                let title = h.job.edit.title.clone()?;
                let scene = h.job.scene_id.parse().ok()?;
                Some((
                    title,
                    Intended {
                        scene,
                        at: h.at,
                        edit: h.job.edit.clone(),
                    },
                ))
            })
            .collect();
        Setup {
            name: name.to_owned(),
            target,
            seed,
            timeline,
            start: START,
            end,
            hooks: hooks.into(),
            library: plan.library,
            unscanned,
            intended: Arc::new(intended),
            latency: plan.latency,
            bulk,
            drawn: plan.drawn,
            butler: plan.butler,
        }
    }
}

/// 10,000 scenes edited during a 10-40 min outage (refused), 5-10 min into the run.
fn backlog(rng: &mut SmallRng) -> Plan {
    let mut drawn = Vec::new();
    let at = draw(rng, &mut drawn, "starts_after_ms", 5 * MIN..10 * MIN);
    let outage = draw(rng, &mut drawn, "outage_ms", 10 * MIN..40 * MIN);
    let bulk_at = at + draw(rng, &mut drawn, "bulk_after_ms", 0..outage / 2);
    let over = draw(
        rng,
        &mut drawn,
        "bulk_over_ms",
        5 * MIN..(outage / 2).max(5 * MIN + 1),
    );
    let mut plan = Plan::new(
        HOUR,
        vec![
            (at, ServerPhase::Refused),
            (at + outage, ServerPhase::Ready),
        ],
    );
    plan.drawn = drawn;
    plan.library = 12_000;
    plan.bulk = Some(Bulk {
        at: bulk_at,
        scenes: 10_000,
        over_ms: over,
    });
    plan
}

/// `plan` on a server of `capacity` requests a second with `streaming` percent of it taken.
fn loaded(
    mut plan: Plan,
    rng: &mut SmallRng,
    capacity: std::ops::Range<u64>,
    streaming: std::ops::Range<u64>,
) -> Plan {
    let capacity = draw(rng, &mut plan.drawn, "capacity_rps", capacity);
    let streaming = draw(rng, &mut plan.drawn, "streaming_percent", streaming);
    plan.latency.capacity_rps = capacity as f64;
    plan.latency.streaming = streaming as f64 / 100.0;
    plan
}

/// A first "Sync All Scenes" on a healthy server of `capacity` requests a second with
/// `streaming` percent of it taken: 10,000 scenes of a 12,000-scene library queued within
/// 10-60 s, 1-5 min into the run.
fn bulk_on(
    rng: &mut SmallRng,
    capacity: std::ops::Range<u64>,
    streaming: std::ops::Range<u64>,
) -> Plan {
    let mut drawn = Vec::new();
    let at = draw(rng, &mut drawn, "bulk_at_ms", MIN..5 * MIN);
    let over = draw(rng, &mut drawn, "bulk_over_ms", 10 * S..60 * S);
    let mut plan = Plan::new(HOUR, Vec::new());
    plan.drawn = drawn;
    plan.library = 12_000;
    plan.bulk = Some(Bulk {
        at,
        scenes: 10_000,
        over_ms: over,
    });
    loaded(plan, rng, capacity, streaming)
}

/// Draws `name` uniformly from `range` (ms, or a count) and records it.
fn draw(
    rng: &mut SmallRng,
    drawn: &mut Vec<(&'static str, u64)>,
    name: &'static str,
    range: std::ops::Range<u64>,
) -> u64 {
    let v = rng.random_range(range);
    drawn.push((name, v));
    v
}

/// An outage somewhere in the half hour after the first 30 minutes, of `phases` (each a
/// phase and a length range), ready afterwards; the run lasts two hours.
fn simple(
    rng: &mut SmallRng,
    phases: &[(ServerPhase, &'static str, std::ops::Range<u64>)],
) -> Plan {
    let mut drawn = Vec::new();
    let mut at = draw(rng, &mut drawn, "starts_after_ms", 30 * MIN..60 * MIN);
    let mut changes = Vec::new();
    for (phase, name, range) in phases {
        changes.push((at, *phase));
        at += draw(rng, &mut drawn, name, range.clone());
    }
    changes.push((at, ServerPhase::Ready));
    let mut plan = Plan::new(2 * HOUR, changes);
    plan.drawn = drawn;
    plan
}

/// Fourteen nights of Plex's maintenance window (three hours, starting at a drawn hour
/// between midnight and 04:00 UTC, read from Plex by the worker). Each seed has the server's
/// own nightly task, the three kinds in turn (a restart after which the library loads, a
/// database optimisation, or Plex stopped for a backup), how long it usually takes, and where
/// in the window's first hour it falls; each night draws whether it runs (85 %, one night in
/// ten an update restart instead), when (that moment plus 0-10 min) and how long it takes this
/// time (0.85-1.2 of the usual). Eight to thirteen outages come outside the window, in the day.
fn nightly(rng: &mut SmallRng, seed: u64) -> Plan {
    let mut drawn = Vec::new();
    let butler_start = draw(rng, &mut drawn, "butler_start_hour", 0..5) as u8;
    // Simulated days start at midnight UTC after START.
    let first_midnight = (START / DAY + 1) * DAY - START;
    // The kinds take turns by seed, so that each has a third of the seeds whatever their
    // number.
    let kind = seed % 3;
    drawn.push(("nightly_kind", kind));
    let usual = match kind {
        // A restart after which the library loads (0), or a database optimisation holding
        // it, its requests hanging (1).
        0 | 1 => draw(rng, &mut drawn, "usual_ms", 10 * MIN..60 * MIN),
        // Plex stopped for a backup.
        _ => draw(rng, &mut drawn, "usual_ms", 20 * MIN..2 * HOUR),
    };
    // Plex starts its tasks when the window opens, one after another: this one where it
    // falls in that queue, give or take what the tasks before it took tonight.
    let queued = draw(rng, &mut drawn, "starts_into_window_ms", 0..60 * MIN);
    let mut phases = Vec::new();
    let mut nights = 0;
    for day in 0..14 {
        let window = first_midnight + day * DAY + u64::from(butler_start) * HOUR;
        let at = window + queued + rng.random_range(0..10 * MIN);
        let roll: f64 = rng.random();
        if roll < 0.15 {
            continue;
        }
        nights += 1;
        if roll < 0.25 {
            // An update: restart, then migrations.
            let up = at + rng.random_range(10 * S..60 * S);
            phases.push((at, ServerPhase::Refused));
            phases.push((up, ServerPhase::Maintenance));
            phases.push((up + rng.random_range(MIN..5 * MIN), ServerPhase::Ready));
            continue;
        }
        let length = usual * rng.random_range(85..=120) / 100;
        match kind {
            0 => {
                phases.push((at, ServerPhase::Refused));
                let up = at + rng.random_range(10 * S..60 * S);
                phases.push((up, ServerPhase::Starting));
                phases.push((up + length, ServerPhase::Ready));
                continue;
            }
            1 => phases.push((at, ServerPhase::Optimizing)),
            _ => {
                phases.push((at, ServerPhase::Refused));
                let back = at + length;
                phases.push((back, ServerPhase::Maintenance));
                phases.push((back + rng.random_range(0..120 * S), ServerPhase::Ready));
                continue;
            }
        }
        phases.push((at + length, ServerPhase::Ready));
    }
    drawn.push(("nights", nights));
    // In the day, away from the window: a blip, a restart or a short optimisation.
    // Enough of them that their recoveries can be compared with the nights' (one most days).
    let daytime = draw(rng, &mut drawn, "daytime_outages", 8..14);
    let mut days: Vec<u64> = (0..14).collect();
    for _ in 0..daytime {
        let day = days.swap_remove(rng.random_range(0..days.len()));
        let at = first_midnight + day * DAY + 10 * HOUR + rng.random_range(0..8 * HOUR);
        match rng.random_range(0..3) {
            0 => {
                phases.push((at, ServerPhase::Refused));
                phases.push((at + rng.random_range(30 * S..90 * S), ServerPhase::Ready));
            }
            1 => {
                let up = at + rng.random_range(10 * S..30 * S);
                phases.push((at, ServerPhase::Refused));
                phases.push((up, ServerPhase::Maintenance));
                phases.push((up + rng.random_range(MIN..5 * MIN), ServerPhase::Ready));
            }
            _ => {
                phases.push((at, ServerPhase::Starting));
                phases.push((at + rng.random_range(5 * MIN..30 * MIN), ServerPhase::Ready));
            }
        }
    }
    phases.sort_by_key(|(at, _)| *at);
    let mut plan = Plan::new(first_midnight + 14 * DAY, phases);
    plan.drawn = drawn;
    plan.butler = Some((butler_start, butler_start + 3));
    // Fourteen days of editing: a session every hour or so.
    plan.sessions.session_gap_ms = HOUR;
    plan
}

/// The built-in scenarios, in the order the report lists them. Every length and start is
/// drawn per seed from the range the description gives, so that no policy can be fitted to
/// one timing.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "blip",
            about: "a network blip of 30-90 s: the port refuses connections",
            target: Target::Quick,
            plan: |rng, _| simple(rng, &[(ServerPhase::Refused, "outage_ms", 30 * S..90 * S)]),
        },
        Scenario {
            name: "blip-hang",
            about: "a network blip of 30-90 s: connections hang until their timeout",
            target: Target::None,
            plan: |rng, _| {
                simple(
                    rng,
                    &[(ServerPhase::Unreachable, "outage_ms", 30 * S..90 * S)],
                )
            },
        },
        Scenario {
            name: "restart",
            about: "a Plex restart: the port closed for 10-30 s, then 1-5 min of database maintenance (503)",
            target: Target::Quick,
            plan: |rng, _| {
                simple(
                    rng,
                    &[
                        (ServerPhase::Refused, "closed_ms", 10 * S..30 * S),
                        (ServerPhase::Maintenance, "maintenance_ms", MIN..5 * MIN),
                    ],
                )
            },
        },
        Scenario {
            name: "backup",
            about: "a nightly backup window of 7.5-8.5 h: Plex stopped, then 0-120 s of maintenance at start-up",
            target: Target::Window,
            plan: |rng, _| {
                let mut drawn = Vec::new();
                let at = HOUR + draw(rng, &mut drawn, "starts_after_ms", 0..30 * MIN);
                let back = at
                    + draw(
                        rng,
                        &mut drawn,
                        "stopped_ms",
                        7 * HOUR + 30 * MIN..8 * HOUR + 30 * MIN,
                    );
                let ready = back + draw(rng, &mut drawn, "maintenance_ms", 0..120 * S);
                let mut plan = Plan::new(
                    at + 10 * HOUR,
                    vec![
                        (at, ServerPhase::Refused),
                        (back, ServerPhase::Maintenance),
                        (ready, ServerPhase::Ready),
                    ],
                );
                plan.drawn = drawn;
                // Nights are quiet, but someone may still edit.
                plan.sessions.session_gap_ms = 90 * MIN;
                plan
            },
        },
        Scenario {
            name: "flapping",
            about: "a flapping server for an hour: down 30 s-5 min (refused or 503), up 1-8 min",
            target: Target::Quick,
            plan: |rng, _| {
                let mut drawn = Vec::new();
                let mut at = draw(rng, &mut drawn, "starts_after_ms", 20 * MIN..40 * MIN);
                let stop = at + HOUR;
                let mut phases = Vec::new();
                let mut cycles = 0;
                while at < stop {
                    let down = if rng.random_bool(0.5) {
                        ServerPhase::Refused
                    } else {
                        ServerPhase::Maintenance
                    };
                    phases.push((at, down));
                    at += rng.random_range(30 * S..5 * MIN);
                    phases.push((at, ServerPhase::Ready));
                    at += rng.random_range(MIN..8 * MIN);
                    cycles += 1;
                }
                drawn.push(("cycles", cycles));
                let mut plan = Plan::new(stop + HOUR, phases);
                plan.drawn = drawn;
                plan.sessions.session_gap_ms = 5 * MIN;
                plan
            },
        },
        Scenario {
            name: "slow",
            about: "a slow spell of 5-20 min: answers take 15-60 s, around the 30 s read timeout",
            target: Target::None,
            plan: |rng, _| simple(rng, &[(ServerPhase::Slow, "slow_ms", 5 * MIN..20 * MIN)]),
        },
        Scenario {
            name: "partial",
            about: "partial readiness: the port closed 10-30 s, then /identity answers 1-4 min before the library does",
            target: Target::None,
            plan: |rng, _| {
                simple(
                    rng,
                    &[
                        (ServerPhase::Refused, "closed_ms", 10 * S..30 * S),
                        (ServerPhase::Starting, "loading_ms", MIN..4 * MIN),
                    ],
                )
            },
        },
        Scenario {
            name: "token",
            about: "the token revoked for 10-60 min (401), then put right and the worker restarted",
            target: Target::None,
            plan: |rng, _| {
                simple(
                    rng,
                    &[(ServerPhase::TokenRevoked, "revoked_ms", 10 * MIN..60 * MIN)],
                )
            },
        },
        Scenario {
            name: "backlog",
            about: "10,000 scenes edited during a 10-40 min outage (refused), released at recovery",
            target: Target::None,
            plan: |rng, _| backlog(rng),
        },
        Scenario {
            name: "backlog-weak",
            about: "the same backlog on a weak server (40-120 requests/s), streaming 0-50% of it",
            target: Target::Pacing(Class::Weak),
            plan: |rng, _| loaded(backlog(rng), rng, 40..120, 0..50),
        },
        Scenario {
            name: "backlog-medium",
            about: "the same on a medium server (200-500 requests/s), streaming 0-30% of it",
            target: Target::Pacing(Class::Medium),
            plan: |rng, _| loaded(backlog(rng), rng, 200..500, 0..30),
        },
        Scenario {
            name: "backlog-strong",
            about: "the same on a strong server (800-2,000 requests/s), streaming 0-20% of it",
            target: Target::Pacing(Class::Strong),
            plan: |rng, _| loaded(backlog(rng), rng, 800..2_000, 0..20),
        },
        Scenario {
            name: "bulk-weak",
            about: "10,000 scenes queued at once, Plex healthy: a weak server (a NAS or a Pi: 40-120 requests/s), streaming 0-50% of it",
            target: Target::Pacing(Class::Weak),
            plan: |rng, _| bulk_on(rng, 40..120, 0..50),
        },
        Scenario {
            name: "bulk-medium",
            about: "the same on a medium server (200-500 requests/s), streaming 0-30% of it",
            target: Target::Pacing(Class::Medium),
            plan: |rng, _| bulk_on(rng, 200..500, 0..30),
        },
        Scenario {
            name: "bulk-strong",
            about: "the same on a strong server (800-2,000 requests/s), streaming 0-20% of it",
            target: Target::Pacing(Class::Strong),
            plan: |rng, _| bulk_on(rng, 800..2_000, 0..20),
        },
        Scenario {
            name: "host-down",
            about: "the host gone for 3-12 min: connections hang until their timeout (no RST)",
            target: Target::None,
            plan: |rng, _| {
                simple(
                    rng,
                    &[(ServerPhase::Unreachable, "outage_ms", 3 * MIN..12 * MIN)],
                )
            },
        },
        Scenario {
            name: "host-down-rst",
            about: "the host gone for 3-10 min behind a router that answers for it: connections refused at once (RST)",
            target: Target::Quick,
            plan: |rng, _| {
                simple(
                    rng,
                    &[(ServerPhase::Refused, "outage_ms", 3 * MIN..10 * MIN)],
                )
            },
        },
        Scenario {
            name: "hung",
            about: "a hung server for 2-10 min: connections accepted, nothing answered",
            target: Target::None,
            plan: |rng, _| simple(rng, &[(ServerPhase::Silent, "hung_ms", 2 * MIN..10 * MIN)]),
        },
        Scenario {
            name: "optimize",
            about: "database optimisation for 20-60 min: /identity answers, the library gets 503",
            target: Target::None,
            plan: |rng, _| {
                let mut plan = simple(
                    rng,
                    &[(ServerPhase::Starting, "optimizing_ms", 20 * MIN..60 * MIN)],
                );
                plan.length = 3 * HOUR;
                plan
            },
        },
        Scenario {
            name: "optimize-hang",
            about: "database optimisation for 20-60 min: /identity answers, library requests hang",
            target: Target::None,
            plan: |rng, _| {
                let mut plan = simple(
                    rng,
                    &[(ServerPhase::Optimizing, "optimizing_ms", 20 * MIN..60 * MIN)],
                );
                plan.length = 3 * HOUR;
                plan
            },
        },
        Scenario {
            name: "day",
            about: "a whole day: a blip, a restart, a slow spell and the nightly backup window",
            target: Target::None,
            plan: |rng, _| {
                let mut drawn = Vec::new();
                let mut d = |name, range| draw(rng, &mut drawn, name, range);
                let blip = 2 * HOUR + d("blip_after_ms", 0..20 * MIN);
                let blip_end = blip + d("blip_ms", 30 * S..90 * S);
                let restart = 6 * HOUR + d("restart_after_ms", 0..20 * MIN);
                let up = restart + d("closed_ms", 10 * S..30 * S);
                let ready = up + d("maintenance_ms", MIN..5 * MIN);
                let slow = 9 * HOUR + d("slow_after_ms", 0..20 * MIN);
                let slow_end = slow + d("slow_ms", 5 * MIN..20 * MIN);
                let backup = 14 * HOUR + d("backup_after_ms", 0..20 * MIN);
                let back = backup + d("stopped_ms", 7 * HOUR + 30 * MIN..8 * HOUR + 30 * MIN);
                let open = back + d("startup_maintenance_ms", 0..120 * S);
                let mut plan = Plan::new(
                    24 * HOUR,
                    vec![
                        (blip, ServerPhase::Refused),
                        (blip_end, ServerPhase::Ready),
                        (restart, ServerPhase::Refused),
                        (up, ServerPhase::Maintenance),
                        (ready, ServerPhase::Ready),
                        (slow, ServerPhase::Slow),
                        (slow_end, ServerPhase::Ready),
                        (backup, ServerPhase::Refused),
                        (back, ServerPhase::Maintenance),
                        (open, ServerPhase::Ready),
                    ],
                );
                plan.drawn = drawn;
                plan
            },
        },
        Scenario {
            name: "nightly",
            about: "14 nights of Plex's maintenance window: most nights its own task (a restart and a library loading, a database optimisation, or Plex stopped for a backup) for about as long as usual, now and then an update restart; 8-13 daytime outages (a blip, a restart or a library loading)",
            target: Target::Nightly,
            plan: nightly,
        },
    ]
}

/// A scenario by name.
pub fn scenario(name: &str) -> Option<Scenario> {
    scenarios().into_iter().find(|s| s.name == name)
}

/// A stable hash of a name, so that each scenario draws its own world from the same seed.
fn fnv(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
