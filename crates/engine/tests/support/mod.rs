//! A scripted Plex on a virtual clock, a shared state store, and a driver run to completion:
//! the pieces of the engine's tests. Every request takes virtual time, as a real one does.

#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use engine::{
    Clock, Engine, EngineState, Event, Mode, Plex, Policy, Ports, ProbeDepth, StateStore,
    StopReason, SyncJob, VirtualClock, block_on, drive,
};
pub use fake_plex::ServerPhase;
use persist::Queue;
use plex_client::{
    FailureKind, HealthReport, Identity, Item, Located, MetadataEdit, PlexError, Section, Stage,
    apply_pairs,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;

pub const T0: u64 = 1_700_000_000_000;
pub const URL: &str = "http://plex.test:32400/";

/// An edit as the scripted server saw it: the item, the pairs, when.
pub type SeenEdit = (String, Vec<(String, String)>, u64);

/// What the scripted server saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub edits: Vec<SeenEdit>,
    /// For every job request: the breaker's state as stored, and its trials in flight.
    pub breaker_at_request: Vec<(breaker_core::State, u32)>,
    pub probes: Vec<(u64, ServerPhase, ProbeDepth)>,
    pub requests: Vec<(u64, ServerPhase, &'static str)>,
    pub scans: Vec<(String, String, u64)>,
}

pub struct ScriptedPlex {
    pub clock: VirtualClock,
    /// `(from, phase)`, ascending.
    pub script: Vec<(u64, ServerPhase)>,
    pub items: Rc<RefCell<BTreeMap<String, Item>>>,
    /// Items on disk that appear when their folder is scanned.
    pub unscanned: Rc<RefCell<BTreeMap<String, Item>>>,
    pub seen: Rc<RefCell<Seen>>,
    pub latency_ms: u64,
    pub timeout_ms: u64,
    /// Files whose edits Plex rejects (400).
    pub rejects: Rc<RefCell<std::collections::BTreeSet<String>>>,
    /// Files whose edits fail with a server error (500) while everything else works.
    pub poisoned: Rc<RefCell<std::collections::BTreeSet<String>>>,
    /// The engine's stored state, to look at when a request arrives.
    pub watch: Option<SharedState>,
}

pub fn item(key: &str, title: &str, file: &str) -> Item {
    serde_json::from_value(serde_json::json!({
        "ratingKey": key, "type": "movie", "title": title, "librarySectionID": 1,
        "Media": [{"Part": [{"file": file}]}]
    }))
    .unwrap()
}

pub fn section() -> Section {
    serde_json::from_value(serde_json::json!({
        "key": "1", "type": "movie", "title": "Movies", "Location": [{"path": "/data/Movies"}]
    }))
    .unwrap()
}

impl ScriptedPlex {
    pub fn new(clock: &VirtualClock, script: Vec<(u64, ServerPhase)>) -> ScriptedPlex {
        ScriptedPlex {
            clock: clock.clone(),
            script,
            items: Rc::default(),
            unscanned: Rc::default(),
            seen: Rc::default(),
            latency_ms: 20,
            timeout_ms: 5_000,
            rejects: Rc::default(),
            poisoned: Rc::default(),
            watch: None,
        }
    }

    pub fn with_movies(self, count: usize) -> ScriptedPlex {
        for i in 0..count {
            let file = format!("/data/Movies/movie-{i}.mkv");
            self.items.borrow_mut().insert(
                file.clone(),
                item(&format!("{}", 100 + i), &format!("Old {i}"), &file),
            );
        }
        self
    }

    pub fn phase(&self) -> ServerPhase {
        let now = self.clock.now();
        self.script
            .iter()
            .rev()
            .find(|(from, _)| *from <= now)
            .map_or(ServerPhase::Ready, |(_, up)| *up)
    }

    /// One request: takes its latency, or the whole timeout if nothing answers; fails as the
    /// phase says. `needs_db` is false for `/identity`.
    fn request(&self, what: &'static str, needs_db: bool, deadline: u64) -> Result<(), PlexError> {
        let phase = self.phase();
        if let (Some(watch), true) = (
            &self.watch,
            what != "connect" && what != "identity" && what != "library",
        ) {
            let stored = watch.0.borrow().breaker;
            let breaker = breaker_core::Breaker::restore(breaker_core::Config::default(), stored);
            self.seen
                .borrow_mut()
                .breaker_at_request
                .push((breaker.state(), breaker.trials_in_flight()));
        }
        self.seen
            .borrow_mut()
            .requests
            .push((self.clock.now(), phase, what));
        // Where nothing answers, the request takes its whole timeout (or what is left of the
        // deadline); anything that answers takes the latency.
        let took = match phase {
            ServerPhase::Refused => 1,
            // Slower than any deadline a test sets.
            ServerPhase::Unreachable | ServerPhase::Silent | ServerPhase::Slow => self
                .timeout_ms
                .min(deadline.saturating_sub(self.clock.now())),
            ServerPhase::Optimizing if needs_db => self
                .timeout_ms
                .min(deadline.saturating_sub(self.clock.now())),
            ServerPhase::Maintenance
            | ServerPhase::Starting
            | ServerPhase::Optimizing
            | ServerPhase::TokenRevoked
            | ServerPhase::Ready => self.latency_ms,
        };
        self.clock.advance(took);
        let fail = |kind, detail: &str| Err(PlexError::new(kind, URL, detail));
        match phase {
            ServerPhase::Refused => fail(FailureKind::Refused, "connection refused"),
            ServerPhase::Unreachable => fail(FailureKind::ConnectTimeout, "no connection"),
            ServerPhase::Silent | ServerPhase::Slow => fail(FailureKind::ReadTimeout, "no answer"),
            ServerPhase::Optimizing if needs_db => fail(FailureKind::ReadTimeout, "no answer"),
            ServerPhase::Maintenance => fail(FailureKind::Maintenance, "HTTP 503"),
            ServerPhase::Starting if needs_db => fail(FailureKind::Maintenance, "HTTP 503"),
            ServerPhase::TokenRevoked if needs_db => fail(FailureKind::Unauthorized, "HTTP 401"),
            ServerPhase::Starting
            | ServerPhase::Optimizing
            | ServerPhase::TokenRevoked
            | ServerPhase::Ready => Ok(()),
        }
    }
}

impl ScriptedPlex {
    /// The staged check; its report's elapsed time is the clock's.
    fn check(&self, depth: ProbeDepth, deadline: Option<u64>) -> HealthReport {
        let phase = self.phase();
        self.seen
            .borrow_mut()
            .probes
            .push((self.clock.now(), phase, depth));
        let identity = Identity {
            machine_id: "m".into(),
            version: "1".into(),
            claimed: true,
        };
        let latency = Duration::from_millis(self.latency_ms);
        let own = self.clock.now() + self.timeout_ms;
        let deadline = deadline.map_or(own, |d| d.min(own));
        if let Err(e) = self.request("connect", false, deadline) {
            if e.kind() == FailureKind::Refused {
                return HealthReport::failed_at(Stage::Connect, e, None, latency);
            }
        }
        if let Err(e) = self.request("identity", false, deadline) {
            return HealthReport::failed_at(Stage::Identity, e, None, latency);
        }
        if depth == ProbeDepth::Identity {
            let mut report = HealthReport::passed(identity, latency);
            report.stages.pop();
            report.reached = Some(Stage::Identity);
            return report;
        }
        match self.request("library", true, deadline) {
            Ok(()) => HealthReport::passed(identity, latency),
            Err(e) => HealthReport::failed_at(Stage::Library, e, Some(identity), latency),
        }
    }
}

impl Plex for ScriptedPlex {
    async fn probe(&self, depth: ProbeDepth, deadline: Option<u64>) -> HealthReport {
        let start = self.clock.now();
        let mut report = self.check(depth, deadline);
        report.elapsed = Duration::from_millis(self.clock.now() - start);
        report
    }

    async fn sections(&self, deadline: u64) -> Result<Vec<Section>, PlexError> {
        self.request("sections", true, deadline)?;
        Ok(vec![section()])
    }

    async fn find(
        &self,
        _: &[Section],
        file: &str,
        deadline: u64,
    ) -> Result<(Located, bool), PlexError> {
        self.request("find", true, deadline)?;
        match self.items.borrow().get(file) {
            Some(item) => Ok((
                Located {
                    section: section(),
                    item: item.clone(),
                },
                false,
            )),
            None => Err(PlexError::new(FailureKind::NotFound, URL, "no such file")),
        }
    }

    async fn read(&self, located: &Located, deadline: u64) -> Result<Item, PlexError> {
        self.request("read", true, deadline)?;
        let file = located.item.files().next().unwrap_or_default().to_owned();
        Ok(self.items.borrow()[&file].clone())
    }

    async fn edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
        deadline: u64,
    ) -> Result<(), PlexError> {
        self.request("edit", true, deadline)?;
        let file = located.item.files().next().unwrap_or_default().to_owned();
        if self.poisoned.borrow().contains(&file) {
            return Err(PlexError::new(
                FailureKind::UnexpectedStatus { status: 500 },
                URL,
                "HTTP 500 Internal Server Error",
            ));
        }
        if self.rejects.borrow().contains(&file) {
            return Err(PlexError::new(
                FailureKind::Rejected { status: 400 },
                URL,
                "HTTP 400",
            ));
        }
        let mut items = self.items.borrow_mut();
        let item = items.get_mut(&file).unwrap();
        apply_pairs(item, pairs);
        self.seen.borrow_mut().edits.push((
            item.rating_key.clone(),
            pairs.to_vec(),
            self.clock.now(),
        ));
        Ok(())
    }

    async fn scan(&self, section: &str, folder: &str, deadline: u64) -> Result<(), PlexError> {
        self.request("scan", true, deadline)?;
        self.seen.borrow_mut().scans.push((
            section.to_owned(),
            folder.to_owned(),
            self.clock.now(),
        ));
        let found: Vec<String> = self
            .unscanned
            .borrow()
            .keys()
            .filter(|f| f.starts_with(&format!("{folder}/")))
            .cloned()
            .collect();
        for file in found {
            let item = self.unscanned.borrow_mut().remove(&file).unwrap();
            self.items.borrow_mut().insert(file, item);
        }
        Ok(())
    }
}

/// Engine state shared with the test, so that it can look (or meddle) between steps.
#[derive(Clone, Default)]
pub struct SharedState(pub Rc<RefCell<EngineState>>);

impl StateStore for SharedState {
    type Error = Infallible;

    fn update<R>(&mut self, change: impl FnOnce(&mut EngineState) -> R) -> Result<R, Infallible> {
        Ok(change(&mut self.0.borrow_mut()))
    }
}

pub fn job(i: usize, title: &str) -> SyncJob {
    SyncJob {
        scene_id: format!("{i}"),
        files: vec![format!("/data/Movies/movie-{i}.mkv")],
        edit: MetadataEdit {
            title: Some(title.to_owned()),
            ..MetadataEdit::default()
        },
        edited_at: T0,
    }
}

pub fn enqueue(queue: &mut Queue, job: &SyncJob, now: u64) {
    queue.enqueue(&job.key(), job, now).unwrap();
}

/// A world: the clock, Plex, the queue, the state.
pub struct World {
    pub clock: VirtualClock,
    pub plex: ScriptedPlex,
    pub queue: Queue,
    pub state: SharedState,
    pub events: Vec<Event>,
}

impl World {
    pub fn new(script: Vec<(u64, ServerPhase)>, movies: usize) -> World {
        let clock = VirtualClock::new(T0);
        // However a test goes wrong, it ends: a year of virtual time is the most any runs.
        clock.stop_at(T0 + 365 * 86_400_000);
        World {
            plex: ScriptedPlex::new(&clock, script).with_movies(movies),
            clock,
            queue: Queue::in_memory(),
            state: SharedState::default(),
            events: Vec::new(),
        }
    }

    /// Runs the engine with `policy` in `mode` until it stops; returns why.
    pub fn run(&mut self, policy: Policy, mode: Mode, seed: u64) -> StopReason {
        policy.check().unwrap();
        let mut engine = Engine::new(policy, mode);
        let mut ports = Ports {
            plex: &self.plex,
            queue: &mut self.queue,
            state: self.state.clone(),
            clock: self.clock.clone(),
            events: &mut self.events,
            rng: SmallRng::seed_from_u64(seed),
        };
        let reason = block_on(drive(&mut engine, &mut ports)).unwrap();
        // Acks may share a sync while jobs run back to back, never past a stop.
        assert_eq!(
            self.queue.unsynced_acks(),
            0,
            "the driver stopped with acks unsynced"
        );
        reason
    }

    pub fn state(&self) -> EngineState {
        self.state.0.borrow().clone()
    }

    /// The lines a user would see by default.
    pub fn lines(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.level() >= engine::Level::Info)
            .map(Event::render)
            .collect()
    }
}

/// A policy with timings a test can follow: 5 failures trip, probes from 1 s doubling to 8 s,
/// a 10 s job deadline.
pub fn quick() -> Policy {
    let mut policy = Policy {
        probes: scheduler::ProbePlan {
            first: scheduler::FirstProbe::Fixed(1_000),
            ..scheduler::ProbePlan::uniform(
                scheduler::Backoff::new(1_000, 2.0, 8_000, scheduler::Jitter::None).unwrap(),
            )
        },
        ..Policy::default()
    };
    policy.engine.job_timeout_ms = 10_000;
    policy.engine.visibility_ms = 30_000;
    policy.ramp = scheduler::RampConfig::disabled();
    policy
}
