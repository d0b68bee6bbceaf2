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

use crate::library::{Library, RecordedEdit, value_text};
use crate::render;
use crate::{Fault, Phase, RecordedRequest};

/// Plex's maintenance answer (PLEX.md).
pub(crate) const MAINTENANCE: &str = r#"<Response code="503" title="Maintenance" status="Plex Media Server is currently running database migrations."/>"#;
const UNAUTHORIZED: &str =
    "<html><head><title>Unauthorized</title></head><body><h1>401 Unauthorized</h1></body></html>";

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) library: Mutex<Library>,
    pub(crate) edits: Mutex<Vec<RecordedEdit>>,
    pub(crate) requests: Mutex<Vec<RecordedRequest>>,
    pub(crate) faults: Mutex<Vec<(Option<String>, Fault)>>,
    pub(crate) token: String,
    pub(crate) machine_id: String,
    pub(crate) version: String,
    pub(crate) phase: watch::Sender<Phase>,
    /// The phase the listener has caught up with (the port really closed or reopened).
    pub(crate) applied: watch::Sender<Phase>,
}

type Body = Full<Bytes>;

/// A connection closed on purpose without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

/// Listens at `addr` while the phase is not `Closed`, and stops listening (the port closes)
/// while it is.
pub(crate) async fn run(first: TcpListener, addr: SocketAddr, shared: Arc<Shared>) {
    let mut phases = shared.phase.subscribe();
    let mut listener = Some(first);
    loop {
        let phase = *phases.borrow_and_update();
        if phase == Phase::Closed {
            listener = None;
            shared.applied.send_replace(phase);
            if phases.changed().await.is_err() {
                return;
            }
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

async fn connection(mut socket: TcpStream, phase: Phase, shared: Arc<Shared>) {
    if phase == Phase::Silent {
        // Accept, read, never answer: Plex's port is open before its HTTP server is.
        let mut sink = [0u8; 1024];
        while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
        return;
    }
    let service = hyper::service::service_fn(move |request| handle(shared.clone(), request));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(socket), service)
        .await;
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = request.into_parts();
    // Read the whole request before answering, as a server does.
    let _ = body.collect().await;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    lock(&shared.requests).push(RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
    });
    let json = parts
        .headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));

    let faults: Vec<Fault> = lock(&shared.faults)
        .iter()
        .filter(|(prefix, _)| prefix.as_deref().is_none_or(|p| path.starts_with(p)))
        .map(|(_, fault)| *fault)
        .collect();
    for fault in faults {
        match fault {
            Fault::Latency(delay) => tokio::time::sleep(delay).await,
            Fault::Hang => std::future::pending::<()>().await,
            Fault::Drop => return Err(Dropped),
            Fault::Status(code) => return Ok(status_response(code)),
        }
    }
    let phase = *shared.phase.borrow();
    match phase {
        Phase::Silent => std::future::pending::<()>().await,
        Phase::Maintenance { identity_ok } if !(identity_ok && path == "/identity") => {
            return Ok(status_response(503));
        }
        _ => {}
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
        if token != Some(shared.token.as_str()) {
            return Ok(status_response(401));
        }
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let container = match (&parts.method, segments.as_slice()) {
        (&Method::GET, [""]) => root(&shared),
        (&Method::GET, ["identity"]) => object(json!({
            "size": 0, "claimed": true,
            "machineIdentifier": shared.machine_id, "version": shared.version
        })),
        (&Method::GET, ["library"]) => object(json!({
            "size": 2, "allowSync": false, "identifier": "com.plexapp.plugins.library",
            "mediaTagPrefix": "/system/bundle/media/flags/", "title1": "Plex Library",
            "Directory": [{"key": "sections", "title": "Library Sections"}]
        })),
        (&Method::GET, ["library", "sections"]) => sections(&lock(&shared.library)),
        (&Method::GET, ["library", "sections", section, "all"]) => {
            let start = header("x-plex-container-start")
                .or(param("X-Plex-Container-Start"))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0usize);
            let size = header("x-plex-container-size")
                .or(param("X-Plex-Container-Size"))
                .and_then(|v| v.parse().ok());
            let library = lock(&shared.library);
            match listing(&library, section, param("type"), param("file"), start, size) {
                Some(container) => container,
                None => return Ok(status_response(404)),
            }
        }
        (&Method::PUT, ["library", "sections", section, "all"]) => {
            let Some(id) = param("id") else {
                return Ok(status_response(400));
            };
            if !lock(&shared.library).apply(id, &params) {
                return Ok(status_response(404));
            }
            lock(&shared.edits).push(RecordedEdit {
                section: (*section).to_owned(),
                rating_key: id.to_owned(),
                raw_query: query.clone(),
                pairs: params.clone(),
            });
            return Ok(Response::new(Full::new(Bytes::new())));
        }
        (&Method::GET, ["library", "metadata", key]) => {
            let library = lock(&shared.library);
            let Some(item) = library.item(key) else {
                return Ok(status_response(404));
            };
            let mut item = item.clone();
            let section = item
                .get("librarySectionID")
                .map(value_text)
                .unwrap_or_default();
            item.insert(
                "librarySectionKey".into(),
                json!(format!("/library/sections/{section}")),
            );
            object(json!({
                "size": 1, "identifier": "com.plexapp.plugins.library",
                "librarySectionID": item.get("librarySectionID").cloned().unwrap_or(Value::Null),
                "Metadata": [item]
            }))
        }
        _ => return Ok(status_response(404)),
    };
    Ok(ok(&container, json))
}

fn root(shared: &Shared) -> Map<String, Value> {
    object(json!({
        "size": 0, "allowCameraUpload": false, "allowSync": false,
        "friendlyName": "fake-plex", "machineIdentifier": shared.machine_id,
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

fn listing(
    library: &Library,
    section: &str,
    type_number: Option<&str>,
    file: Option<&str>,
    start: usize,
    size: Option<usize>,
) -> Option<Map<String, Value>> {
    let spec = library.sections.iter().find(|s| s.key == section)?;
    let kind = match type_number {
        Some("1") => Some("movie"),
        Some("2") => Some("show"),
        Some("4") => Some("episode"),
        _ => None,
    };
    let matching: Vec<&Map<String, Value>> = library
        .in_section(section, kind)
        .filter(|item| match file {
            // Like Plex, `file=` matches loosely: any part whose path contains the value.
            Some(file) => files_of(item).any(|f| f.contains(file)),
            None => true,
        })
        .collect();
    let total = matching.len();
    let page: Vec<Value> = matching
        .into_iter()
        .skip(start)
        .take(size.unwrap_or(usize::MAX))
        .map(|i| Value::Object(i.clone()))
        .collect();
    Some(object(json!({
        "size": page.len(), "totalSize": total, "offset": start,
        "allowSync": true, "identifier": "com.plexapp.plugins.library",
        "librarySectionID": section.parse::<u64>().unwrap_or(0),
        "librarySectionTitle": spec.title, "viewGroup": spec.kind,
        "Metadata": page
    })))
}

fn files_of(item: &Map<String, Value>) -> impl Iterator<Item = &str> {
    item.get("Media")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("Part").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| p.get("file").and_then(Value::as_str))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn ok(container: &Map<String, Value>, json: bool) -> Response<Body> {
    let (body, kind) = if json {
        (render::json(container), "application/json")
    } else {
        (render::xml(container), "text/xml;charset=utf-8")
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    response
}

fn status_response(code: u16) -> Response<Body> {
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
