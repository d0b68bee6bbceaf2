//! A fake Plex Media Server on loopback, for plexsync's tests, its outage simulator and demos.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use fake_plex::{FakePlex, Library, ServerPhase};
//!
//! let plex = FakePlex::start(Library::demo()).await?;
//! // Plex restarting: the port closes, then opens without answering, then answers 503, then
//! // answers /identity while the library still answers 503.
//! plex.set_phase(ServerPhase::Refused).await;
//! plex.set_phase(ServerPhase::Silent).await;
//! plex.set_phase(ServerPhase::Maintenance).await;
//! plex.set_phase(ServerPhase::Starting).await;
//! plex.set_phase(ServerPhase::Ready).await;
//! println!("serving {} with token {}", plex.url(), plex.token());
//! # Ok(())
//! # }
//! ```
//!
//! # Scope
//!
//! A real HTTP/1.1 server (hyper) on `127.0.0.1`. It models:
//!
//! - **What Plex is doing** as [`ServerPhase`]s, the vocabulary the outage simulator and the
//!   engine's tests share: the port closed (refused), connections that never complete
//!   (unreachable: the listen queue is kept full, so the kernel drops new connection
//!   attempts), open but silent, HTTP answering 503 maintenance, `/identity` passing while the
//!   library answers 503 (starting), every answer slow, the token refused, ready;
//!   [`FakePlex::schedule`] changes phase at a given time.
//! - **A library** of sections and items with files, in the JSON shapes of real captures:
//!   movies, shows, seasons and episodes. Items are kept whole (every tag with its id and
//!   filter, streams, field locks) and served whole by `/library/metadata/{id}`; listings
//!   truncate tag lists as Plex's do. Listings filter (`title`, `year`, `file`, `studio`,
//!   tags, `==` for equal, `!` to negate), page (with `X-Plex-Container-Total-Size`), and
//!   answer 400 to a filter the fake does not know rather than ignore it. `/library/all`,
//!   `children`, `allLeaves` and `/hubs/search` answer as Plex does.
//! - **Scans**: `GET /library/sections/{id}/refresh[?path=…]` and `PUT
//!   /library/metadata/{id}/refresh` are recorded ([`FakePlex::refreshes`]); a scan makes the
//!   files it covers that were [staged](Library::stage_movie) appear, as Plex's would.
//! - **Both formats**: XML unless `Accept: application/json`, with the same names, so
//!   third-party clients such as python-plexapi can connect, read `/identity` and list the
//!   library.
//! - **Edits**: `PUT /library/sections/{id}/all?…` applies `field.value`, `field.locked` (1
//!   locks, 0 unlocks), tag lists and tag removals (each tag percent-encoded once more, as
//!   python-plexapi sends them) to every item in `id=` (comma-separated for several) and is
//!   recorded ([`FakePlex::edits`]) exactly as received.
//! - **Faults**: latency, hung requests, any status, redirects, dropped connections, dropped
//!   reused connections ([`Fault`]), on every request, one path prefix, or those a
//!   [`Target`] picks; and idle keep-alive connections closed without a word
//!   ([`Options::idle_timeout`]).
//!
//! `cargo xtask fake-plex --port 32400` runs one from the command line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod busy;
mod library;
mod phase;
mod render;
mod server;
mod socket;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use busy::Activity;
pub use library::{Library, RecordedEdit, Refresh, SectionSpec};
pub use phase::{ServerPhase, UnknownPhase};
use server::{Shared, lock};

/// A fault injected into requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Wait this long before answering.
    Latency(Duration),
    /// Never answer.
    Hang,
    /// Close the connection without answering.
    Drop,
    /// Close the connection without answering a request that is not the first on its
    /// connection: what a client meets when it reuses a kept-alive connection the server had
    /// just closed.
    DropReused,
    /// Answer with this status (503 carries the maintenance body, 401 Plex's HTML).
    Status(u16),
    /// Answer with a redirect: this 3xx status and `Location: to`.
    Redirect {
        /// The status, 301 to 308.
        status: u16,
        /// Where it points.
        to: String,
    },
}

/// Which requests a fault applies to: a test of its own over the request as received.
pub type Target = Arc<dyn Fn(&RecordedRequest) -> bool + Send + Sync>;

/// A request as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `PUT`, …
    pub method: String,
    /// The path.
    pub path: String,
    /// The raw query string.
    pub query: String,
}

/// How to start a [`FakePlex`].
#[derive(Clone, Debug)]
pub struct Options {
    /// The token clients must send (`X-Plex-Token` header or query parameter).
    pub token: String,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The phase to start in. `Refused` still reserves the port.
    pub phase: ServerPhase,
    /// How long every answer takes in [`ServerPhase::Slow`].
    pub slow: Duration,
    /// Close a kept-alive connection once it has been idle this long (without telling the
    /// client, as servers and proxies do); `None` keeps it open.
    pub idle_timeout: Option<Duration>,
    /// What `/identity` reports.
    pub machine_id: String,
    /// What `/identity` reports.
    pub version: String,
    /// The server's name (`friendlyName` at `/`), as its owner typed it.
    pub name: String,
    /// A second token that may read but not change anything, as a managed user's may not.
    pub read_only_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token: "fake-plex-token".into(),
            port: 0,
            phase: ServerPhase::Ready,
            slow: Duration::from_secs(20),
            idle_timeout: None,
            machine_id: "fakeplex0000000000000000000000000000000a".into(),
            version: "1.40.0.7998-fake".into(),
            name: "fake-plex".into(),
            read_only_token: None,
        }
    }
}

/// A running fake Plex server; it stops when dropped.
#[derive(Debug)]
pub struct FakePlex {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl FakePlex {
    /// Serves `library` on a free port, ready, with the default token.
    pub async fn start(library: Library) -> std::io::Result<FakePlex> {
        FakePlex::start_with(library, Options::default()).await
    }

    /// Serves `library` as `options` say.
    pub async fn start_with(library: Library, options: Options) -> std::io::Result<FakePlex> {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let (phase, _) = watch::channel(options.phase);
        let (applied, _) = watch::channel(options.phase);
        let shared = Arc::new(Shared {
            library: Mutex::new(library),
            edits: Mutex::new(Vec::new()),
            refreshes: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::default(),
            token: options.token,
            machine_id: options.machine_id,
            version: options.version,
            name: options.name,
            read_only_token: options.read_only_token,
            busy: Mutex::default(),
            phase,
            applied,
            slow: Mutex::new(options.slow),
            idle_timeout: options.idle_timeout,
            connections: Default::default(),
            notify: tokio::sync::broadcast::channel(64).0,
            sockets: Default::default(),
        });
        let task = tokio::spawn(server::run(listener, addr, shared.clone()));
        Ok(FakePlex { addr, shared, task })
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on (whenever the phase is not `Refused`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// The current phase.
    pub fn phase(&self) -> ServerPhase {
        *self.shared.phase.borrow()
    }

    /// Moves to `phase`, and returns once the port has really closed or reopened.
    pub async fn set_phase(&self, phase: ServerPhase) {
        let mut applied = self.shared.applied.subscribe();
        self.shared.phase.send_replace(phase);
        // The accept loop acknowledges every phase it has acted on.
        let _ = applied.wait_for(|now| *now == phase).await;
    }

    /// Moves to `phase` after `delay`.
    pub fn schedule(&self, delay: Duration, phase: ServerPhase) {
        let sender = self.shared.phase.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            sender.send_replace(phase);
        });
    }

    /// Plex begins `activity`: `/activities` lists it, and every notification socket open
    /// hears it started. Returns its id (the one it has, or one given now).
    pub fn begin_activity(&self, mut activity: Activity) -> String {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        if activity.uuid.is_empty() {
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            activity.uuid = format!("a0000000-0000-4000-8000-{n:012x}");
        }
        let _ = self.shared.notify.send(activity.notification("started"));
        let uuid = activity.uuid.clone();
        lock(&self.shared.busy).activities.push(activity);
        uuid
    }

    /// The activity `uuid` ends: `/activities` no longer lists it, and every notification
    /// socket open hears it ended.
    pub fn end_activity(&self, uuid: &str) {
        let mut busy = lock(&self.shared.busy);
        if let Some(at) = busy.activities.iter().position(|a| a.uuid == uuid) {
            let mut ended = busy.activities.remove(at);
            ended.progress = 100;
            let _ = self.shared.notify.send(ended.notification("ended"));
        }
    }

    /// Notification sockets open now.
    pub fn notification_sockets(&self) -> usize {
        self.shared
            .sockets
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The activities `/activities` lists from now on (a scan, an optimisation).
    pub fn set_activities(&self, activities: Vec<Activity>) {
        lock(&self.shared.busy).activities = activities;
    }

    /// The release `/updater/status` reports as waiting (`None`: up to date).
    pub fn set_update(&self, version: Option<&str>) {
        lock(&self.shared.busy).update = version.map(str::to_owned);
    }

    /// The scheduled-maintenance window `/:/prefs` reports (`ButlerStartHour`,
    /// `ButlerEndHour`, hours of the server's day); Plex's defaults are 2 and 5.
    pub fn set_butler_hours(&self, start: u8, end: u8) {
        lock(&self.shared.busy).butler = Some((start, end));
    }

    /// How long every answer takes in [`ServerPhase::Slow`] from now on.
    pub fn set_slow(&self, slow: Duration) {
        *lock(&self.shared.slow) = slow;
    }

    /// Injects `fault` into every request.
    pub fn inject(&self, fault: Fault) {
        self.inject_when(Arc::new(|_| true), fault);
    }

    /// Injects `fault` into requests whose path starts with `prefix`.
    pub fn inject_on(&self, prefix: &str, fault: Fault) {
        let prefix = prefix.to_owned();
        self.inject_when(Arc::new(move |r| r.path.starts_with(&prefix)), fault);
    }

    /// Injects `fault` into requests that `target` picks (by method, path or query).
    pub fn inject_when(&self, target: Target, fault: Fault) {
        lock(&self.shared.faults).0.push((target, fault));
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).0.clear();
    }

    /// The edits received so far, in order.
    pub fn edits(&self) -> Vec<RecordedEdit> {
        lock(&self.shared.edits).clone()
    }

    /// The scans and item refreshes asked for so far, in order.
    pub fn refreshes(&self) -> Vec<Refresh> {
        lock(&self.shared.refreshes).clone()
    }

    /// How many connections it has accepted.
    pub fn connections(&self) -> usize {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// An item as it is now (after edits).
    pub fn item(&self, rating_key: &str) -> Option<Map<String, Value>> {
        lock(&self.shared.library).item(rating_key).cloned()
    }

    /// Changes the library, e.g. to add an item as a scan would.
    pub fn with_library<R>(&self, change: impl FnOnce(&mut Library) -> R) -> R {
        change(&mut lock(&self.shared.library))
    }
}

impl Drop for FakePlex {
    fn drop(&mut self) {
        self.task.abort();
    }
}
