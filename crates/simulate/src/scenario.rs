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

/// Which of the defaults' targets a scenario is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Outages of at most 10 minutes: recovery detected within 12 s (p95).
    Short,
    /// The 8-hour window: detected within 60 s (p95), at most 500 probes, 20 log lines.
    Long,
    /// No target of its own (zero lost jobs and outage dead letters still hold).
    None,
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
    plan: fn(&mut SmallRng) -> Plan,
}

/// What a scenario draws from its seed.
#[derive(Clone, Debug)]
struct Plan {
    /// `(from, phase)`, relative to the start.
    phases: Vec<(u64, ServerPhase)>,
    /// How long it lasts (the run goes on until the queue is empty).
    length: u64,
    /// Scenes in the library.
    library: u64,
    sessions: Sessions,
    bulk: Option<Bulk>,
    latency: Latency,
}

impl Plan {
    fn new(length: u64, phases: Vec<(u64, ServerPhase)>) -> Plan {
        Plan {
            phases,
            length,
            library: 2_000,
            sessions: Sessions::default(),
            bulk: None,
            latency: Latency::default(),
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
    /// The hooks, in time order.
    pub hooks: Vec<Hook>,
    /// Scenes `0..library` are in Plex from the start.
    pub library: u64,
    /// New scenes, whose files Plex finds only when it scans their folders.
    pub unscanned: Vec<u64>,
    /// Every edit asked for, by the title it gives (which names the scene and the edit).
    pub intended: Arc<HashMap<String, Intended>>,
    /// Request latency.
    pub latency: Latency,
}

impl Scenario {
    /// Draws the scenario for `seed`.
    pub fn setup(&self, seed: u64) -> Setup {
        let mut rng = SmallRng::seed_from_u64(seed ^ fnv(self.name));
        let plan = (self.plan)(&mut rng);
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
        if let Some(bulk) = plan.bulk {
            let bulk = Bulk {
                at: START + bulk.at,
                ..bulk
            };
            editor.bulk(&bulk, plan.library, rng);
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
            hooks,
            library: plan.library,
            unscanned,
            intended: Arc::new(intended),
            latency: plan.latency,
        }
    }
}

/// The built-in scenarios, in the order the report lists them.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "blip",
            about: "a 30 s network blip: connections hang until the connect timeout",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                Plan::new(
                    2 * HOUR,
                    vec![
                        (at, ServerPhase::Unreachable),
                        (at + 30 * S, ServerPhase::Ready),
                    ],
                )
            },
        },
        Scenario {
            name: "restart",
            about: "a Plex restart: port closed for 10-20 s, then 3 min of database maintenance (503)",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                let up = at + rng.random_range(10 * S..20 * S);
                Plan::new(
                    2 * HOUR,
                    vec![
                        (at, ServerPhase::Refused),
                        (up, ServerPhase::Maintenance),
                        (up + 3 * MIN, ServerPhase::Ready),
                    ],
                )
            },
        },
        Scenario {
            name: "backup",
            about: "an 8-hour nightly backup window: Plex stopped, then a minute of maintenance at start-up",
            target: Target::Long,
            plan: |rng| {
                let at = HOUR + rng.random_range(0..30 * MIN);
                let back = at + 8 * HOUR - MIN;
                let mut plan = Plan::new(
                    at + 10 * HOUR,
                    vec![
                        (at, ServerPhase::Refused),
                        (back, ServerPhase::Maintenance),
                        (back + MIN, ServerPhase::Ready),
                    ],
                );
                // Nights are quiet, but someone may still edit.
                plan.sessions.session_gap_ms = 90 * MIN;
                plan
            },
        },
        Scenario {
            name: "flapping",
            about: "a flapping server: down 1-4 min (refused or 503), up 2-5 min, for an hour",
            target: Target::Short,
            plan: |rng| {
                let mut at = rng.random_range(20 * MIN..40 * MIN);
                let stop = at + HOUR;
                let mut phases = Vec::new();
                while at < stop {
                    let down = if rng.random_bool(0.5) {
                        ServerPhase::Refused
                    } else {
                        ServerPhase::Maintenance
                    };
                    phases.push((at, down));
                    at += rng.random_range(MIN..4 * MIN);
                    phases.push((at, ServerPhase::Ready));
                    at += rng.random_range(2 * MIN..5 * MIN);
                }
                let mut plan = Plan::new(stop + HOUR, phases);
                plan.sessions.session_gap_ms = 5 * MIN;
                plan
            },
        },
        Scenario {
            name: "slow",
            about: "a slow server for 10 min: answers take 15-60 s, beyond the 30 s read timeout",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                Plan::new(
                    2 * HOUR,
                    vec![(at, ServerPhase::Slow), (at + 10 * MIN, ServerPhase::Ready)],
                )
            },
        },
        Scenario {
            name: "partial",
            about: "partial readiness: /identity answers 2 min before the library does",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                let up = at + rng.random_range(10 * S..30 * S);
                Plan::new(
                    2 * HOUR,
                    vec![
                        (at, ServerPhase::Refused),
                        (up, ServerPhase::Starting),
                        (up + 2 * MIN, ServerPhase::Ready),
                    ],
                )
            },
        },
        Scenario {
            name: "token",
            about: "the token revoked mid-run (401), put right 30 min later and the worker restarted",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                Plan::new(
                    2 * HOUR,
                    vec![
                        (at, ServerPhase::TokenRevoked),
                        (at + 30 * MIN, ServerPhase::Ready),
                    ],
                )
            },
        },
        Scenario {
            name: "backlog",
            about: "10,000 scenes edited during a 20 min outage, released at recovery",
            target: Target::None,
            plan: |rng| {
                let at = rng.random_range(5 * MIN..10 * MIN);
                let mut plan = Plan::new(
                    HOUR,
                    vec![
                        (at, ServerPhase::Refused),
                        (at + 20 * MIN, ServerPhase::Ready),
                    ],
                );
                plan.library = 12_000;
                plan.bulk = Some(Bulk {
                    at: at + 2 * MIN,
                    scenes: 10_000,
                    over_ms: 10 * MIN,
                });
                plan
            },
        },
        Scenario {
            name: "host-down",
            about: "the host gone for 5-10 min: every connection hangs until its timeout",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                let back = at + rng.random_range(5 * MIN..10 * MIN);
                Plan::new(
                    2 * HOUR,
                    vec![(at, ServerPhase::Unreachable), (back, ServerPhase::Ready)],
                )
            },
        },
        Scenario {
            name: "hung",
            about: "a hung server for 5 min: connections accepted, nothing answered",
            target: Target::Short,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                Plan::new(
                    2 * HOUR,
                    vec![
                        (at, ServerPhase::Silent),
                        (at + 5 * MIN, ServerPhase::Ready),
                    ],
                )
            },
        },
        Scenario {
            name: "optimize",
            about: "40 min of database optimisation: /identity answers, the library gets 503",
            target: Target::None,
            plan: |rng| {
                let at = rng.random_range(30 * MIN..60 * MIN);
                Plan::new(
                    3 * HOUR,
                    vec![
                        (at, ServerPhase::Starting),
                        (at + 40 * MIN, ServerPhase::Ready),
                    ],
                )
            },
        },
        Scenario {
            name: "day",
            about: "a whole day: a blip, a restart, a slow spell and the nightly backup window",
            target: Target::None,
            plan: |rng| {
                let jitter = |rng: &mut SmallRng| rng.random_range(0..20 * MIN);
                let blip = 2 * HOUR + jitter(rng);
                let restart = 6 * HOUR + jitter(rng);
                let up = restart + 15 * S;
                let slow = 9 * HOUR + jitter(rng);
                let backup = 14 * HOUR + jitter(rng);
                let back = backup + 8 * HOUR - MIN;
                Plan::new(
                    24 * HOUR,
                    vec![
                        (blip, ServerPhase::Unreachable),
                        (blip + 30 * S, ServerPhase::Ready),
                        (restart, ServerPhase::Refused),
                        (up, ServerPhase::Maintenance),
                        (up + 3 * MIN, ServerPhase::Ready),
                        (slow, ServerPhase::Slow),
                        (slow + 10 * MIN, ServerPhase::Ready),
                        (backup, ServerPhase::Refused),
                        (back, ServerPhase::Maintenance),
                        (back + MIN, ServerPhase::Ready),
                    ],
                )
            },
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
