//! The simulated Plex: the engine's [`Plex`] on virtual time. Its phase follows a
//! [`Timeline`]; every request takes time (a drawn latency, or a timeout where nothing
//! answers); it holds a library that edits change; it records what reached it.

use std::cell::{Ref, RefCell};
use std::rc::Rc;
use std::time::Duration;

use engine::{Plex, ProbeDepth};
use plex_client::{
    FailureKind, HealthReport, Identity, Item, Located, Location, Media, Part, PlexError, Section,
    Stage,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::library::Library;
use crate::timeline::Timeline;
use crate::world::World;
use fake_plex::ServerPhase;

/// The address in errors (never a real one).
const URL: &str = "http://plex.sim:32400/";
/// The library's one section, and the folder it scans.
pub(crate) const SECTION_KEY: &str = "1";
pub(crate) const LIBRARY_ROOT: &str = "/data/Movies";
/// How long the sections stay cached, as `engine::RealPlex` keeps them.
const SECTIONS_TTL_MS: u64 = 300_000;

/// How long requests take. A ready server answers in `min_ms` plus an exponential tail of
/// mean `mean_extra_ms`; one request in `1 / spike_chance` takes `spike_ms` more. A slow
/// server takes anything between `slow_ms.0` and `slow_ms.1`.
///
/// With a `capacity_rps`, a server has a load: the requests it serves (their rate over the
/// last seconds, as a moving average) and what `streaming` already takes of it make its
/// utilisation `u`, and a request takes `1 / (1 - u)` times as long (a queue's waiting time,
/// `u` taken at most at 0.95): a weak server slows down under a drain sooner than a strong
/// one, and sooner still while it streams.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// The least a request takes.
    pub min_ms: u64,
    /// The mean of the tail above that.
    pub mean_extra_ms: u64,
    /// The chance of a spike.
    pub spike_chance: f64,
    /// A spike's length.
    pub spike_ms: u64,
    /// The bounds of a slow server's latency.
    pub slow_ms: (u64, u64),
    /// Requests a second the server can serve (0: no load model; latency never grows).
    pub capacity_rps: f64,
    /// The share of that capacity taken by other work (streaming, transcoding), 0 to 1.
    pub streaming: f64,
}

/// How long the server's load is remembered: the time constant of its moving average.
const LOAD_MEMORY_MS: f64 = 2_000.0;
/// The most of its capacity a server is taken to be using: beyond, latency stops growing.
const MAX_UTILISATION: f64 = 0.95;

impl Latency {
    /// How many times longer than at rest a request takes with `rate_rps` requests a second
    /// coming in.
    pub fn slowdown(&self, rate_rps: f64) -> f64 {
        if self.capacity_rps <= 0.0 {
            return 1.0;
        }
        let u = (self.streaming + rate_rps / self.capacity_rps).clamp(0.0, MAX_UTILISATION);
        1.0 / (1.0 - u)
    }

    /// A request's time with the server otherwise idle: `min_ms` plus the tail drawn from
    /// `u` (uniform in 0..1), plus a spike if `spiked`, times `slowdown`.
    fn draw(&self, u: f64, spiked: bool, slowdown: f64) -> u64 {
        let tail = (-(1.0 - u).ln() * self.mean_extra_ms as f64).min(10_000.0);
        let spike = if spiked { self.spike_ms } else { 0 };
        ((self.min_ms as f64 + tail) * slowdown) as u64 + spike
    }

    /// The 95th percentile of a request's time with no request but this one (what streaming
    /// takes still counts), from `samples` draws seeded with `seed`.
    pub fn idle_p95_ms(&self, seed: u64, samples: usize) -> u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let slowdown = self.slowdown(0.0);
        let mut drawn: Vec<u64> = (0..samples.max(1))
            .map(|_| {
                let u: f64 = rng.random();
                self.draw(u, rng.random_bool(self.spike_chance), slowdown)
            })
            .collect();
        drawn.sort_unstable();
        drawn[(drawn.len() * 95).div_ceil(100).clamp(1, drawn.len()) - 1]
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            min_ms: 4,
            mean_extra_ms: 25,
            spike_chance: 0.005,
            spike_ms: 2_000,
            slow_ms: (15_000, 60_000),
            capacity_rps: 0.0,
            streaming: 0.0,
        }
    }
}

/// The client's timeouts, as plex-client's defaults have them.
#[derive(Clone, Copy, Debug)]
struct Timeouts {
    connect_ms: u64,
    read_ms: u64,
    health_ms: u64,
}

const TIMEOUTS: Timeouts = Timeouts {
    connect_ms: 5_000,
    read_ms: 30_000,
    health_ms: 5_000,
};

/// What a request asks of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// `/identity`: no token, answered without the database.
    Identity,
    /// `/`, the server's own description: with the token, answered without the database
    /// (it says `startState` while Plex starts).
    Root,
    /// Anything else: with the token, and the database must be up.
    Library,
}

/// One probe as the server saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeSeen {
    /// When it began.
    pub at: u64,
    /// The server's phase then.
    pub phase: ServerPhase,
    /// Whether it passed.
    pub healthy: bool,
}

/// What reached the server.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seen {
    pub(crate) probes: Vec<ProbeSeen>,
    pub(crate) requests: u64,
    /// Requests of any kind that reached a server that was up but not ready.
    pub(crate) requests_not_ready: u64,
    /// Requests that needed the library (a probe's last phase, every job request) and
    /// reached a server that was up but not ready: what a loading server pays for.
    pub(crate) deep_not_ready: u64,
    /// When each of those came.
    pub(crate) deep_not_ready_at: Vec<u64>,
    pub(crate) scans: u64,
    /// With a load model: when each ready answer came, and how long it took.
    pub(crate) answered: Vec<(u64, u64)>,
    /// Job requests in flight now, and the most there were at once.
    pub(crate) in_flight: u32,
    pub(crate) most_in_flight: u32,
    /// Job requests sent while the breaker was half-open and another was in flight.
    pub(crate) trials_overlapping: u64,
}

/// The simulated server. It serves requests in flight together (each waits on the world's
/// virtual time), so what changes as they are served is behind a cell.
#[derive(Debug)]
pub(crate) struct SimPlex {
    world: Rc<World>,
    timeline: Timeline,
    latency: Latency,
    inner: RefCell<Inner>,
}

/// What serving requests changes.
#[derive(Debug)]
struct Inner {
    rng: SmallRng,
    library: Library,
    sections: Option<u64>,
    /// The requests a second coming in, as a moving average, when it was last updated.
    load: (f64, u64),
    seen: Seen,
}

impl SimPlex {
    pub(crate) fn new(
        world: Rc<World>,
        timeline: Timeline,
        latency: Latency,
        seed: u64,
        library: Library,
    ) -> SimPlex {
        SimPlex {
            world,
            timeline,
            latency,
            inner: RefCell::new(Inner {
                rng: SmallRng::seed_from_u64(seed),
                library,
                sections: None,
                load: (0.0, 0),
                seen: Seen::default(),
            }),
        }
    }

    pub(crate) fn library(&self) -> Ref<'_, Library> {
        Ref::map(self.inner.borrow(), |i| &i.library)
    }

    pub(crate) fn seen(&self) -> Ref<'_, Seen> {
        Ref::map(self.inner.borrow(), |i| &i.seen)
    }

    /// How long a request that reaches a ready server at `now` takes.
    fn latency(&self, now: u64) -> u64 {
        let l = self.latency;
        let inner = &mut *self.inner.borrow_mut();
        let u: f64 = inner.rng.random();
        let spiked = inner.rng.random_bool(l.spike_chance);
        if l.capacity_rps <= 0.0 {
            return l.draw(u, spiked, 1.0);
        }
        // Each request adds 1/τ to a rate that decays with time constant τ.
        let (rate, at) = inner.load;
        let decayed = rate * (-(now.saturating_sub(at) as f64) / LOAD_MEMORY_MS).exp();
        let rate = decayed + 1_000.0 / LOAD_MEMORY_MS;
        inner.load = (rate, now);
        let took = l.draw(u, spiked, l.slowdown(rate));
        inner.seen.answered.push((now, took));
        took
    }

    /// One request for `what`: it takes its time, then passes or fails as the phase says. A
    /// request waiting on a hung or slow server is answered when the server recovers, and
    /// lost if it goes away.
    async fn request(&self, what: Asked, timeout_ms: u64, deadline: u64) -> Result<(), PlexError> {
        let library = what == Asked::Library;
        let token = what != Asked::Identity;
        let start = self.world.now();
        let phase = self.timeline.at(start);
        {
            let seen = &mut self.inner.borrow_mut().seen;
            seen.requests += 1;
            if phase.is_live_not_ready() {
                seen.requests_not_ready += 1;
                if library {
                    seen.deep_not_ready += 1;
                    seen.deep_not_ready_at.push(start);
                }
            }
        }
        let give_up = start.saturating_add(timeout_ms).min(deadline.max(start));
        let fail = |kind, detail: &str| Err(PlexError::new(kind, URL, detail));
        loop {
            let now = self.world.now();
            let phase = self.timeline.at(now);
            // When a hung or slow server would answer, if it stayed as it is.
            let waiting = match phase {
                ServerPhase::Silent => Some(u64::MAX),
                ServerPhase::Optimizing if library => Some(u64::MAX),
                ServerPhase::Slow => {
                    let (low, high) = self.latency.slow_ms;
                    let took = self
                        .inner
                        .borrow_mut()
                        .rng
                        .random_range(low..=high.max(low));
                    Some(now.saturating_add(took))
                }
                _ => None,
            };
            if let Some(answer_at) = waiting {
                let change = self.timeline.next_change(now).unwrap_or(u64::MAX);
                if change < answer_at.min(give_up) {
                    self.world.sleep_until(change).await;
                    if matches!(
                        self.timeline.at(change),
                        ServerPhase::Refused | ServerPhase::Unreachable
                    ) {
                        return fail(FailureKind::ConnectionLost, "the connection was reset");
                    }
                    continue;
                }
                if answer_at > give_up {
                    self.world.sleep_until(give_up).await;
                    return fail(FailureKind::ReadTimeout, "no answer in time");
                }
                self.world.sleep_until(answer_at).await;
                return Ok(());
            }
            return match phase {
                ServerPhase::Refused => {
                    self.world.sleep_until(now.saturating_add(1)).await;
                    fail(FailureKind::Refused, "connection refused")
                }
                ServerPhase::Unreachable => {
                    let at = now.saturating_add(TIMEOUTS.connect_ms).min(give_up);
                    self.world.sleep_until(at).await;
                    fail(FailureKind::ConnectTimeout, "no connection in time")
                }
                _ => {
                    let took = self.latency(now);
                    if now.saturating_add(took) > give_up {
                        self.world.sleep_until(give_up).await;
                        return fail(FailureKind::ReadTimeout, "no answer in time");
                    }
                    self.world.sleep_until(now.saturating_add(took)).await;
                    match phase {
                        ServerPhase::Maintenance => {
                            fail(FailureKind::Maintenance, "HTTP 503: Maintenance")
                        }
                        ServerPhase::Starting if library => {
                            fail(FailureKind::Maintenance, "HTTP 503: Maintenance")
                        }
                        ServerPhase::TokenRevoked if token => {
                            fail(FailureKind::Unauthorized, "HTTP 401")
                        }
                        _ => Ok(()),
                    }
                }
            };
        }
    }

    /// One request for `what` with its own `timeout_ms`, as a client other than plexsync's
    /// sends it (the predecessor's model).
    pub(crate) fn call(&mut self, what: Asked, timeout_ms: u64) -> Result<(), PlexError> {
        let deadline = self.world.now().saturating_add(timeout_ms);
        engine::block_on(self.request(what, timeout_ms, deadline))
    }

    /// A health check that started at `at` and found the server `healthy` or not.
    pub(crate) fn note_probe(&mut self, at: u64, healthy: bool) {
        let phase = self.timeline.at(at);
        let seen = &mut self.inner.get_mut().seen;
        seen.probes.push(ProbeSeen { at, phase, healthy });
    }

    /// The time on the simulation's clock.
    pub(crate) fn now(&self) -> u64 {
        self.world.now()
    }

    /// A client waits `ms` between two requests.
    pub(crate) fn wait(&mut self, ms: u64) {
        self.world.advance(ms);
    }

    pub(crate) fn library_mut(&mut self) -> &mut Library {
        &mut self.inner.get_mut().library
    }

    async fn job_request(&self, deadline: u64) -> Result<(), PlexError> {
        {
            let seen = &mut self.inner.borrow_mut().seen;
            seen.in_flight += 1;
            seen.most_in_flight = seen.most_in_flight.max(seen.in_flight);
            if seen.in_flight > 1 && self.world.breaker_state() == breaker_core::State::HalfOpen {
                seen.trials_overlapping += 1;
            }
        }
        let answer = self
            .request(Asked::Library, TIMEOUTS.read_ms, deadline)
            .await;
        self.inner.borrow_mut().seen.in_flight -= 1;
        answer
    }

    fn file_of(located: &Located) -> String {
        located.item.files().next().unwrap_or_default().to_owned()
    }
}

/// The library's one section.
pub(crate) fn section() -> Section {
    Section {
        key: SECTION_KEY.to_owned(),
        kind: "movie".to_owned(),
        title: "Movies".to_owned(),
        locations: vec![Location {
            path: LIBRARY_ROOT.to_owned(),
        }],
        scanner: "Plex Movie".to_owned(),
    }
}

/// A movie in the library.
pub(crate) fn movie(rating_key: u64, title: &str, file: &str) -> Item {
    Item {
        rating_key: rating_key.to_string(),
        kind: "movie".to_owned(),
        section_id: Some(SECTION_KEY.to_owned()),
        title: Some(title.to_owned()),
        title_sort: None,
        summary: None,
        tagline: None,
        studio: None,
        originally_available_at: None,
        content_rating: None,
        genres: Vec::new(),
        actors: Vec::new(),
        collections: Vec::new(),
        media: vec![Media {
            parts: vec![Part {
                file: Some(file.to_owned()),
            }],
        }],
        locked: Vec::new(),
    }
}

impl Plex for SimPlex {
    async fn probe(&self, depth: ProbeDepth, deadline: Option<u64>) -> HealthReport {
        let start = self.world.now();
        let phase = self.timeline.at(start);
        let own = start + TIMEOUTS.health_ms;
        let deadline = deadline.map_or(own, |d| d.clamp(start, own));
        let identity = Identity {
            machine_id: "simulated".to_owned(),
            version: "1.41.0".to_owned(),
            claimed: true,
        };
        let report = 'check: {
            let took = |world: &World| Duration::from_millis(world.now() - start);
            // Connecting: refused and unreachable fail here; anything else takes the call.
            if matches!(phase, ServerPhase::Refused | ServerPhase::Unreachable) {
                let e = self
                    .request(Asked::Identity, TIMEOUTS.health_ms, deadline)
                    .await;
                let e = e.expect_err("a closed port fails");
                break 'check HealthReport::failed_at(Stage::Connect, e, None, took(&self.world));
            }
            if let Err(e) = self
                .request(Asked::Identity, TIMEOUTS.health_ms, deadline)
                .await
            {
                break 'check HealthReport::failed_at(Stage::Identity, e, None, took(&self.world));
            }
            if depth == ProbeDepth::Identity {
                let mut report = HealthReport::passed(identity, took(&self.world) / 3);
                report.stages.pop();
                report.reached = Some(Stage::Identity);
                break 'check report;
            }
            match self
                .request(Asked::Library, TIMEOUTS.health_ms, deadline)
                .await
            {
                Ok(()) => HealthReport::passed(identity, took(&self.world) / 3),
                Err(e) => HealthReport::failed_at(
                    Stage::Library,
                    e,
                    Some(identity),
                    took(&self.world) / 3,
                ),
            }
        };
        self.inner.borrow_mut().seen.probes.push(ProbeSeen {
            at: start,
            phase,
            healthy: report.healthy,
        });
        report
    }

    async fn sections(&self, deadline: u64) -> Result<Vec<Section>, PlexError> {
        let now = self.world.now();
        let cached = self.inner.borrow().sections;
        if cached.is_none_or(|at| now < at || now - at >= SECTIONS_TTL_MS) {
            self.job_request(deadline).await?;
            self.inner.borrow_mut().sections = Some(now);
        }
        Ok(vec![section()])
    }

    async fn find(
        &self,
        _sections: &[Section],
        file: &str,
        deadline: u64,
    ) -> Result<(Located, bool), PlexError> {
        self.job_request(deadline).await?;
        let found = self.inner.borrow_mut().library.get(file);
        match found {
            Some(item) => Ok((
                Located {
                    section: section(),
                    item,
                },
                false,
            )),
            None => Err(PlexError::new(
                FailureKind::NotFound,
                URL,
                "no item has this file",
            )),
        }
    }

    async fn read(&self, located: &Located, deadline: u64) -> Result<Item, PlexError> {
        self.job_request(deadline).await?;
        let found = self.inner.borrow_mut().library.get(&Self::file_of(located));
        found.ok_or_else(|| PlexError::new(FailureKind::NotFound, URL, "HTTP 404"))
    }

    async fn edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
        deadline: u64,
    ) -> Result<(), PlexError> {
        self.job_request(deadline).await?;
        let edited = (self.inner.borrow_mut().library).edit(&Self::file_of(located), pairs);
        if edited {
            Ok(())
        } else {
            Err(PlexError::new(FailureKind::NotFound, URL, "HTTP 404"))
        }
    }

    async fn scan(&self, section: &str, folder: &str, deadline: u64) -> Result<(), PlexError> {
        self.job_request(deadline).await?;
        if section != SECTION_KEY {
            return Err(PlexError::new(FailureKind::NotFound, URL, "HTTP 404"));
        }
        let inner = &mut *self.inner.borrow_mut();
        inner.seen.scans += 1;
        inner.library.scan(folder);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Latency;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_loaded_server_is_slower_the_more_it_is_asked_and_the_more_it_streams(
            capacity in 1.0f64..5_000.0,
            streaming in 0.0f64..0.9,
            rate in 0.0f64..10_000.0,
            more in 0.0f64..1_000.0,
        ) {
            let l = Latency { capacity_rps: capacity, streaming, ..Latency::default() };
            let at = l.slowdown(rate);
            prop_assert!((1.0..=20.0 + 1e-9).contains(&at));
            prop_assert!(l.slowdown(rate + more) >= at);
            let calmer = Latency { streaming: 0.0, ..l };
            prop_assert!(calmer.slowdown(rate) <= at);
            // Without a capacity there is no load model at all.
            let unloaded = Latency { capacity_rps: 0.0, ..l };
            prop_assert_eq!(unloaded.slowdown(rate), 1.0);
        }
    }

    #[test]
    fn the_idle_p95_is_the_tail_s_and_grows_with_streaming() {
        let l = Latency::default();
        // min 4 ms + an exponential tail of mean 25 ms: its p95 is 25 ln 20 ≈ 75 ms.
        let p95 = l.idle_p95_ms(1, 20_000);
        assert!((70..=84).contains(&p95), "{p95}");
        let streaming = Latency {
            capacity_rps: 100.0,
            streaming: 0.5,
            ..l
        };
        let doubled = streaming.idle_p95_ms(1, 20_000);
        assert!((140..=168).contains(&doubled), "{doubled}");
    }
}
