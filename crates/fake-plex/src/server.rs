//! The accept loop, which follows the phase, and the request handler, which routes like Plex.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::library::{Library, RecordedEdit, Refresh, object, value_text};
use crate::render;
use crate::{Fault, RecordedRequest, ServerPhase, Target};

/// Plex's maintenance answer (docs/plex.md).
pub(crate) const MAINTENANCE: &str = r#"<Response code="503" title="Maintenance" status="Plex Media Server is currently running database migrations."/>"#;
const UNAUTHORIZED: &str =
    "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>";

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) library: Mutex<Library>,
    pub(crate) edits: Mutex<Vec<RecordedEdit>>,
    pub(crate) refreshes: Mutex<Vec<Refresh>>,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) token: String,
    pub(crate) machine_id: String,
    pub(crate) version: String,
    pub(crate) name: String,
    /// A token that may read but not change anything (a managed user's).
    pub(crate) read_only_token: Option<String>,
    pub(crate) busy: Mutex<crate::busy::Busy>,
    pub(crate) phase: watch::Sender<ServerPhase>,
    /// The phase the listener has caught up with (the port really closed or reopened).
    pub(crate) applied: watch::Sender<ServerPhase>,
    /// How long every answer takes while slow.
    pub(crate) slow: Mutex<Duration>,
    /// Idle kept-alive connections are closed after this long.
    pub(crate) idle_timeout: Option<Duration>,
    /// Connections accepted so far.
    pub(crate) connections: std::sync::atomic::AtomicUsize,
    /// What the notification sockets send (JSON text), to every one open.
    pub(crate) notify: tokio::sync::broadcast::Sender<String>,
    /// Notification sockets open now.
    pub(crate) sockets: std::sync::atomic::AtomicUsize,
}

pub(crate) type Body = Full<Bytes>;

/// The faults injected, each with the requests it applies to.
#[derive(Default)]
pub(crate) struct Faults(pub(crate) Vec<(Target, Fault)>);

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(_, fault)| fault))
            .finish()
    }
}

/// A connection closed on purpose without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Listens at `addr` as the phase says: not at all while refused (the port closes), with a
/// full listen queue while unreachable, and otherwise accepting.
pub(crate) async fn run(first: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut phases = shared.phase.subscribe();
    let mut listener = Some(first);
    loop {
        let phase = *phases.borrow_and_update();
        if matches!(phase, ServerPhase::Refused | ServerPhase::Unreachable) {
            listener = None;
            // While unreachable, a listener whose queue is full: the kernel drops every new
            // connection attempt, so a client's connect hangs until its timeout.
            let jammed = match phase {
                ServerPhase::Unreachable => jam(addr).await,
                _ => None,
            };
            shared.applied.send_replace(phase);
            if phases.changed().await.is_err() {
                return;
            }
            drop(jammed);
            continue;
        }
        if listener.is_none() {
            listener = rebind(addr).await;
        }
        shared.applied.send_replace(phase);
        let Some(open) = &listener else { return };
        tokio::select! {
            accepted = open.accept() => {
                if let Ok((socket, _)) = accepted {
                    shared.connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(connection(socket, phase, shared.clone()));
                }
            }
            changed = phases.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn rebind(addr: SocketAddr) -> Option<TcpListener> {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A listener at `addr` with a listen queue of one, filled by connections of its own that
/// are never accepted; the listener and those connections, to keep until the phase ends.
async fn jam(addr: SocketAddr) -> Option<(TcpListener, Vec<TcpStream>)> {
    for _ in 0..50 {
        let Ok(socket) = tokio::net::TcpSocket::new_v4() else {
            return None;
        };
        let _ = socket.set_reuseaddr(true);
        if socket.bind(addr).is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let Ok(listener) = socket.listen(1) else {
            return None;
        };
        let mut fillers = Vec::new();
        // Fill the queue until a connection no longer completes at once.
        while fillers.len() < 16 {
            match tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => fillers.push(stream),
                _ => break,
            }
        }
        return Some((listener, fillers));
    }
    None
}

async fn connection(mut socket: TcpStream, phase: ServerPhase, shared: Arc<Shared>) {
    let phases = shared.phase.subscribe();
    if phase == ServerPhase::Silent {
        // Accept, read, never answer: Plex's port is open before its HTTP server is.
        let mut sink = [0u8; 1024];
        while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    let idle_timeout = shared.idle_timeout;
    let activity = Arc::new(Activity::default());
    let seen = activity.clone();
    let service = hyper::service::service_fn(move |request| {
        let activity = seen.clone();
        let shared = shared.clone();
        async move {
            if crate::socket::asked(&request) {
                return Ok(crate::socket::open(shared, request).await);
            }
            let served = activity.begin();
            let answer = handle(shared, request, served).await;
            activity.end();
            answer
        }
    });
    // With upgrades: the notification socket is a WebSocket.
    let connection = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(socket), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    // A Plex that stops takes its connections with it: each closes (a refused phase), as the
    // process that held them is gone.
    let mut stopped = phases;
    let stop = async move {
        let _ = stopped.wait_for(|p| *p == ServerPhase::Refused).await;
    };
    let mut stop = std::pin::pin!(stop);
    let Some(idle) = idle_timeout else {
        tokio::select! {
            _ = connection.as_mut() => {}
            () = stop.as_mut() => {}
        }
        return;
    };
    // Closes the connection once it has been idle `idle` long, without a word to the client.
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = stop.as_mut() => return,
            () = tokio::time::sleep(idle) => {
                if activity.idle_for() >= idle {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                    return;
                }
            }
        }
    }
}

/// What a connection is doing: how many requests it has begun, whether one is in progress,
/// and when the last one ended.
#[derive(Debug)]
struct Activity {
    begun: std::sync::atomic::AtomicUsize,
    state: Mutex<(bool, std::time::Instant)>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            begun: std::sync::atomic::AtomicUsize::new(0),
            state: Mutex::new((false, std::time::Instant::now())),
        }
    }
}

impl Activity {
    /// A request begins; returns how many came before it on this connection.
    fn begin(&self) -> usize {
        lock(&self.state).0 = true;
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    fn end(&self) {
        *lock(&self.state) = (false, std::time::Instant::now());
    }

    /// How long no request has been in progress since the last one ended. A connection
    /// that has not finished its first request is not idle: servers time that out on a
    /// timer of its own (nginx's `client_header_timeout`, 60 s), not the keep-alive one.
    fn idle_for(&self) -> Duration {
        let (busy, since) = *lock(&self.state);
        if busy || self.begun.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            Duration::ZERO
        } else {
            since.elapsed()
        }
    }
}

/// Answers one request, the `served`th before it on its connection.
async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    served: usize,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = request.into_parts();
    // Read the whole request before answering, as a server does.
    let _ = body.collect().await;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
    };
    lock(&shared.requests).push(recorded.clone());
    let json = parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));

    let faults: Vec<Fault> = lock(&shared.faults)
        .0
        .iter()
        .filter(|(target, _)| target(&recorded))
        .map(|(_, fault)| fault.clone())
        .collect();
    for fault in faults {
        match fault {
            Fault::Latency(delay) => tokio::time::sleep(delay).await,
            Fault::Hang => std::future::pending::<()>().await,
            Fault::Drop => return Err(Dropped),
            Fault::DropReused if served > 0 => return Err(Dropped),
            Fault::DropReused => {}
            Fault::Status(code) => return Ok(status_response(code)),
            Fault::Redirect { status, to } => {
                let mut response = status_response(status);
                if let Ok(to) = HeaderValue::from_str(&to) {
                    response.headers_mut().insert(hyper::header::LOCATION, to);
                }
                return Ok(response);
            }
        }
    }
    let phase = *shared.phase.borrow();
    match phase {
        // A connection made before Plex stopped: it is closed without an answer.
        ServerPhase::Refused => return Err(Dropped),
        // One made before the host went away: nothing comes back.
        ServerPhase::Silent | ServerPhase::Unreachable => std::future::pending::<()>().await,
        ServerPhase::Maintenance => return Ok(status_response(503)),
        ServerPhase::Starting if path != "/identity" => return Ok(status_response(503)),
        ServerPhase::Optimizing if path.starts_with("/library") => {
            std::future::pending::<()>().await;
        }
        ServerPhase::Slow => {
            let slow = *lock(&shared.slow);
            tokio::time::sleep(slow).await;
        }
        ServerPhase::TokenRevoked if path != "/identity" => return Ok(status_response(401)),
        ServerPhase::Starting
        | ServerPhase::Optimizing
        | ServerPhase::TokenRevoked
        | ServerPhase::Ready => {}
    }

    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());

    if path != "/identity" {
        let token = header("x-plex-token").or(param("X-Plex-Token"));
        let reads_only = token.is_some() && token == shared.read_only_token.as_deref();
        if token != Some(shared.token.as_str())
            && !(reads_only && parts.method == Method::GET && !path.ends_with("/refresh"))
        {
            return Ok(status_response(401));
        }
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let paging = Paging {
        start: header("x-plex-container-start")
            .or(param("X-Plex-Container-Start"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        size: header("x-plex-container-size")
            .or(param("X-Plex-Container-Size"))
            .and_then(|v| v.parse().ok()),
        limit: param("limit").and_then(|v| v.parse().ok()),
    };
    let answer = match (&parts.method, segments.as_slice()) {
        (&Method::GET, [""]) => Answer::Container(root(&shared)),
        (&Method::GET, ["activities"]) => {
            Answer::Container(crate::busy::activities(&lock(&shared.busy)))
        }
        (&Method::GET, ["butler"]) => Answer::Document(crate::busy::butler()),
        (&Method::GET, ["updater", "status"]) => {
            Answer::Container(crate::busy::updater(&lock(&shared.busy)))
        }
        (&Method::GET, [":", "prefs"]) => {
            Answer::Container(crate::busy::prefs(&lock(&shared.busy), &shared.name))
        }
        (&Method::GET, ["identity"]) => Answer::Container(object(json!({
            "size": 0, "claimed": true,
            "machineIdentifier": shared.machine_id, "version": shared.version
        }))),
        (&Method::GET, ["library"]) => Answer::Container(object(json!({
            "size": 2, "allowSync": false, "identifier": "com.plexapp.plugins.library",
            "mediaTagPrefix": "/system/bundle/media/flags/", "title1": "Plex Library",
            "Directory": [{"key": "sections", "title": "Library Sections"}]
        }))),
        (&Method::GET, ["library", "sections"]) => {
            Answer::Container(sections(&lock(&shared.library)))
        }
        (&Method::GET, ["library", "sections", section, "all"]) => {
            listing(&lock(&shared.library), Some(section), &params, paging)
        }
        (&Method::GET, ["library", "all"]) => {
            listing(&lock(&shared.library), None, &params, paging)
        }
        (&Method::PUT, ["library", "sections", section, "all"]) => {
            let Some(ids) = param("id") else {
                return Ok(status_response(400));
            };
            let mut library = lock(&shared.library);
            let mut edited = Vec::new();
            // python-plexapi's multiEdit sends several ids, comma-separated.
            for id in ids.split(',').filter(|id| !id.is_empty()) {
                if library.apply(id, &params) {
                    edited.push(id.to_owned());
                }
            }
            drop(library);
            if edited.is_empty() {
                return Ok(status_response(404));
            }
            let mut edits = lock(&shared.edits);
            for id in edited {
                edits.push(RecordedEdit {
                    section: (*section).to_owned(),
                    rating_key: id,
                    raw_query: query.clone(),
                    pairs: params.clone(),
                });
            }
            Answer::Empty
        }
        (&Method::GET | &Method::PUT, ["library", "sections", section, "refresh"]) => {
            let known = *section == "all"
                || lock(&shared.library)
                    .sections
                    .iter()
                    .any(|s| s.key == *section);
            if !known {
                return Ok(status_response(404));
            }
            let folder = param("path").map(str::to_owned);
            lock(&shared.library).scan(section, folder.as_deref());
            lock(&shared.refreshes).push(Refresh::Scan {
                section: (*section).to_owned(),
                path: folder,
            });
            Answer::Empty
        }
        (&Method::PUT, ["library", "metadata", key, "refresh"]) => {
            if lock(&shared.library).item(key).is_none() {
                return Ok(status_response(404));
            }
            lock(&shared.refreshes).push(Refresh::Item {
                rating_key: (*key).to_owned(),
            });
            Answer::Empty
        }
        (&Method::GET, ["library", "metadata", keys]) => {
            let library = lock(&shared.library);
            // Several ids, comma-separated, as python-plexapi's fetchItems([...]) asks.
            let items: Vec<Value> = keys
                .split(',')
                .filter_map(|key| library.item(key))
                .map(|item| Value::Object(whole_item(&library, item)))
                .collect();
            if items.is_empty() {
                return Ok(status_response(404));
            }
            let section = items[0]
                .get("librarySectionID")
                .cloned()
                .unwrap_or(Value::Null);
            Answer::Container(object(json!({
                "size": items.len(), "identifier": "com.plexapp.plugins.library",
                "librarySectionID": section, "Metadata": items
            })))
        }
        (
            &Method::GET,
            [
                "library",
                "metadata",
                key,
                which @ ("children" | "allLeaves"),
            ],
        ) => {
            let library = lock(&shared.library);
            if library.item(key).is_none() {
                return Ok(status_response(404));
            }
            let items = if *which == "children" {
                library.children(key)
            } else {
                library.leaves(key)
            };
            page(
                items.into_iter().map(crate::library::listing).collect(),
                paging,
                Map::new(),
            )
        }
        (&Method::GET, ["hubs", "search"]) => Answer::Container(hubs(
            &lock(&shared.library),
            param("query").unwrap_or(""),
            param("sectionId"),
            paging.limit,
        )),
        _ => return Ok(status_response(404)),
    };
    Ok(match answer {
        Answer::Empty => Response::new(Full::new(Bytes::new())),
        Answer::Container(container) => ok(&container, json, &[]),
        Answer::Page {
            container,
            start,
            total,
        } => ok(
            &container,
            json,
            &[
                ("x-plex-container-start", start.to_string()),
                ("x-plex-container-total-size", total.to_string()),
            ],
        ),
        Answer::Document(value) => {
            let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Answer::Status(code) => status_response(code),
    })
}

/// What a route answers.
enum Answer {
    /// 200 with no body.
    Empty,
    /// A `MediaContainer`.
    Container(Map<String, Value>),
    /// A page of a longer list, with the headers that say where it is.
    Page {
        container: Map<String, Value>,
        start: usize,
        total: usize,
    },
    /// A JSON document whose top level is not a `MediaContainer` (`/butler`'s
    /// `ButlerTasks`), sent as JSON whatever was asked.
    Document(Value),
    /// An error status.
    Status(u16),
}

/// Which part of a list is asked for.
#[derive(Clone, Copy)]
struct Paging {
    start: usize,
    size: Option<usize>,
    limit: Option<usize>,
}

/// Query keys that steer an answer rather than filter it.
fn is_control(key: &str) -> bool {
    matches!(
        key,
        "type" | "limit" | "sort" | "query" | "sectionId" | "id"
    ) || ["X-Plex-", "include", "check", "async", "exclude", "skip"]
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// A listing of `section` (or of every section): `type` picks the kind (the section's own
/// kind if absent), the other parameters filter, paging picks a window.
fn listing(
    library: &Library,
    section: Option<&str>,
    params: &[(String, String)],
    paging: Paging,
) -> Answer {
    let spec = match section {
        Some(key) => match library.sections.iter().find(|s| s.key == key) {
            Some(spec) => Some(spec),
            None => return Answer::Status(404),
        },
        None => None,
    };
    let type_number = params
        .iter()
        .find(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str());
    let kind = match type_number {
        Some("1") => Some("movie"),
        Some("2") => Some("show"),
        Some("3") => Some("season"),
        Some("4") => Some("episode"),
        Some(_) => return Answer::Status(400),
        None => spec.map(|s| s.kind.as_str()),
    };
    let filters: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !is_control(k))
        .cloned()
        .collect();
    let mut matching = Vec::new();
    for (summary, item) in library.listed(section, kind) {
        match crate::library::passes(summary, item, &filters) {
            Some(true) => matching.push(crate::library::listing(item)),
            Some(false) => {}
            // A filter the fake does not know: say so rather than ignore it.
            None => return Answer::Status(400),
        }
    }
    let mut extra = Map::new();
    if let Some(spec) = spec {
        extra.insert(
            "librarySectionID".into(),
            json!(spec.key.parse::<u64>().unwrap_or(0)),
        );
        extra.insert("librarySectionTitle".into(), json!(spec.title));
        extra.insert("viewGroup".into(), json!(kind.unwrap_or(&spec.kind)));
    }
    page(matching, paging, extra)
}

fn page(
    items: Vec<Map<String, Value>>,
    paging: Paging,
    mut container: Map<String, Value>,
) -> Answer {
    let total = items.len();
    let take = paging
        .size
        .unwrap_or(usize::MAX)
        .min(paging.limit.unwrap_or(usize::MAX));
    let shown: Vec<Value> = items
        .into_iter()
        .skip(paging.start)
        .take(take)
        .map(Value::Object)
        .collect();
    container.insert("size".into(), json!(shown.len()));
    container.insert("totalSize".into(), json!(total));
    container.insert("offset".into(), json!(paging.start));
    container.insert("allowSync".into(), json!(true));
    container.insert("identifier".into(), json!("com.plexapp.plugins.library"));
    container.insert("Metadata".into(), Value::Array(shown));
    Answer::Page {
        container,
        start: paging.start,
        total,
    }
}

/// An item whole, as `GET /library/metadata/{key}` serves it.
fn whole_item(library: &Library, item: &Map<String, Value>) -> Map<String, Value> {
    let mut item = item.clone();
    let section = item
        .get("librarySectionID")
        .map(value_text)
        .unwrap_or_default();
    let title = library
        .sections
        .iter()
        .find(|s| s.key == section)
        .map(|s| s.title.clone())
        .unwrap_or_default();
    item.insert(
        "librarySectionKey".into(),
        json!(format!("/library/sections/{section}")),
    );
    item.insert("librarySectionTitle".into(), json!(title));
    item
}

/// `/hubs/search`: items whose title contains `query`, one hub per kind.
fn hubs(
    library: &Library,
    query: &str,
    section: Option<&str>,
    limit: Option<usize>,
) -> Map<String, Value> {
    let wanted = query.to_lowercase();
    let mut hubs = Vec::new();
    for (kind, title) in [
        ("movie", "Movies"),
        ("show", "Shows"),
        ("episode", "Episodes"),
    ] {
        let items: Vec<Value> = library
            .listed(section, Some(kind))
            .map(|(_, item)| item)
            .filter(|i| {
                !wanted.is_empty()
                    && i.get("title")
                        .and_then(Value::as_str)
                        .is_some_and(|t| t.to_lowercase().contains(&wanted))
            })
            .take(limit.unwrap_or(usize::MAX))
            .map(|i| Value::Object(crate::library::listing(i)))
            .collect();
        hubs.push(json!({
            "hubKey": format!("/library/metadata/{}", items.iter().filter_map(|i| i.get("ratingKey")).map(value_text).collect::<Vec<_>>().join(",")),
            "hubIdentifier": kind, "type": kind, "title": title,
            "size": items.len(), "more": false, "style": "shelf", "Metadata": items
        }));
    }
    object(json!({"size": hubs.len(), "Hub": hubs}))
}

fn root(shared: &Shared) -> Map<String, Value> {
    object(json!({
        "size": 0, "allowCameraUpload": false, "allowSync": false,
        "friendlyName": shared.name, "machineIdentifier": shared.machine_id,
        "version": shared.version, "platform": "Linux", "platformVersion": "fake",
        "myPlex": false, "multiuser": false, "transcoderActiveVideoSessions": 0,
        "updatedAt": 1_700_000_000u64
    }))
}

fn sections(library: &Library) -> Map<String, Value> {
    let directories: Vec<Value> = library
        .sections
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let locations: Vec<Value> = s
                .locations
                .iter()
                .enumerate()
                .map(|(j, path)| json!({"id": i * 10 + j + 1, "path": path}))
                .collect();
            json!({
                "allowSync": true, "art": "/:/resources/movie-fanart.jpg", "composite": "",
                "filters": true, "refreshing": false, "thumb": "/:/resources/movie.png",
                "key": s.key, "type": s.kind, "title": s.title,
                "agent": "tv.plex.agents.none", "scanner": "Plex Video Files Scanner",
                "language": "xn", "uuid": format!("00000000-0000-0000-0000-{:012}", i + 1),
                "updatedAt": 1_700_000_000u64, "createdAt": 1_700_000_000u64,
                "scannedAt": 1_700_000_000u64, "content": true, "directory": true,
                "contentChangedAt": 1u64, "hidden": 0, "Location": locations
            })
        })
        .collect();
    object(json!({
        "size": directories.len(), "allowSync": false, "title1": "Plex Library",
        "Directory": directories
    }))
}

fn ok(
    container: &Map<String, Value>,
    json: bool,
    headers: &[(&'static str, String)],
) -> Response<Body> {
    let (body, kind) = if json {
        (render::json(container), "application/json")
    } else {
        (render::xml(container), "text/xml;charset=utf-8")
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            response.headers_mut().insert(*name, value);
        }
    }
    response
}

pub(crate) fn status_response(code: u16) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (body, kind) = match code {
        503 => (MAINTENANCE.to_owned(), "text/xml;charset=utf-8"),
        401 => (UNAUTHORIZED.to_owned(), "text/html"),
        _ => (
            format!("<html><body><h1>{status}</h1></body></html>"),
            "text/html",
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not take the server down with it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
