//! A fake Stash on loopback: the GraphQL queries plexsync makes (`findScene`, `findScenes`
//! with paging and an `updated_at` filter, `configuration { plugins }`), answered from scenes
//! the test sets up, with Stash's session-cookie or API-key authentication; and
//! `runPluginTask`, which runs the plugin as Stash runs it, one job at a time ([`Plugin`],
//! [`Job`]).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use fake_stash::{FakeStash, Options, scene};
//!
//! let stash = FakeStash::start(Options::default()).await?;
//! stash.add_scene(scene("1", "Sintel", "/data/Sintel.mkv"));
//! println!("{}", stash.port());
//! # Ok(()) }
//! ```
//!
//! It is a test double, not Stash: a query it does not recognise gets a GraphQL error, so a
//! test cannot pass by asking for something the fake silently ignores.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

mod runner;

use runner::{Connection, Runner};
pub use runner::{Job, JobStatus, Plugin};

/// How the fake behaves.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// With a value, requests must carry `Cookie: session=<value>` or the API key.
    pub session: Option<String>,
    /// An API key Stash accepts in the `ApiKey` header.
    pub api_key: Option<String>,
    /// The plugin installed, which `runPluginTask` runs; none: the mutation is refused.
    pub plugin: Option<Plugin>,
    /// Serve HTTPS with this certificate and key (PEM), as Stash does when it finds
    /// `stash.crt` and `stash.key`.
    pub tls: Option<Tls>,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

/// A certificate and its private key, PEM.
#[derive(Clone, Debug)]
pub struct Tls {
    /// The certificate (chain).
    pub cert_pem: Vec<u8>,
    /// Its private key.
    pub key_pem: Vec<u8>,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The GraphQL document and variables, as sent.
    pub body: Value,
    /// Whether it was let in.
    pub authorised: bool,
}

#[derive(Debug, Default)]
struct Shared {
    options: Options,
    scenes: Mutex<Vec<Value>>,
    plugins: Mutex<Map<String, Value>>,
    requests: Mutex<Vec<RecordedRequest>>,
    runner: Option<Runner>,
    connection: Option<Connection>,
}

/// A running fake Stash; it stops when dropped.
#[derive(Debug)]
pub struct FakeStash {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStash {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A scene with one file and nothing else set; `updated_at` is 2026-11-01.
pub fn scene(id: &str, title: &str, file: &str) -> Value {
    json!({
        "id": id,
        "title": title,
        "details": null,
        "date": null,
        "updated_at": "2026-11-01T00:00:00Z",
        "files": [{ "path": file }],
        "studio": null,
        "performers": [],
        "tags": [],
    })
}

impl FakeStash {
    /// Starts on a free loopback port, in the current tokio runtime.
    pub async fn start(options: Options) -> std::io::Result<FakeStash> {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let acceptor = options.tls.as_ref().map(acceptor).transpose()?;
        let connection = Connection {
            scheme: if acceptor.is_some() { "https" } else { "http" },
            port: addr.port(),
            cookie: options.session.clone(),
        };
        let runner = options
            .plugin
            .clone()
            .map(|plugin| Runner::new(plugin, connection.clone()));
        let shared = Arc::new(Shared {
            options,
            runner,
            connection: Some(connection),
            ..Shared::default()
        });
        let serving = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let shared = serving.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&shared, request).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        None => {
                            let _ = http.serve_connection(TokioIo::new(socket), service).await;
                        }
                        Some(acceptor) => {
                            // A client that does not trust the certificate gives up here.
                            if let Ok(tls) = acceptor.accept(socket).await {
                                let _ = http.serve_connection(TokioIo::new(tls), service).await;
                            }
                        }
                    }
                });
            }
        });
        Ok(FakeStash { addr, shared, task })
    }

    /// `http` or `https`, for the plugin input's `Scheme`.
    pub fn scheme(&self) -> &'static str {
        self.shared.connection.as_ref().map_or("http", |c| c.scheme)
    }

    /// The port, for the plugin input's `Port`.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Adds a scene (a JSON object as `findScene` returns it), replacing one with its id.
    pub fn add_scene(&self, scene: Value) {
        let mut scenes = lock(&self.shared.scenes);
        scenes.retain(|s| s["id"] != scene["id"]);
        scenes.push(scene);
    }

    /// Changes a scene in place.
    pub fn edit_scene(&self, id: &str, change: impl FnOnce(&mut Map<String, Value>)) {
        let mut scenes = lock(&self.shared.scenes);
        if let Some(Value::Object(scene)) = scenes.iter_mut().find(|s| s["id"] == id) {
            change(scene);
        }
    }

    /// Saves a plugin's settings, as Stash's settings page would.
    pub fn set_plugin_settings(&self, plugin: &str, settings: Value) {
        lock(&self.shared.plugins).insert(plugin.to_owned(), settings);
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The jobs `runPluginTask` queued, oldest first.
    pub fn jobs(&self) -> Vec<Job> {
        self.shared
            .runner
            .as_ref()
            .map(Runner::jobs)
            .unwrap_or_default()
    }

    /// Waits until every job queued so far has finished, at most `limit`; whether they had.
    pub fn wait_for_jobs(&self, limit: std::time::Duration) -> bool {
        self.shared
            .runner
            .as_ref()
            .is_none_or(|r| r.wait_idle(limit))
    }

    /// The input document Stash writes for its plugin with `args` (for a hook, `args` holds
    /// its `hookContext`), as a job of the fake's would get it. Panics without a plugin.
    pub fn plugin_input(&self, args: Value) -> Value {
        let plugin = self
            .shared
            .options
            .plugin
            .as_ref()
            .expect("the fake Stash was started with a plugin");
        let connection = self.shared.connection.as_ref().expect("set at start");
        let args = match args {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        runner::input(plugin, connection, &args)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::POST || request.uri().path() != "/graphql" {
        return reply(StatusCode::NOT_FOUND, json!({ "message": "not found" }));
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorised = match &shared.options.session {
        None => true,
        Some(session) => {
            let cookie_ok = header("cookie").is_some_and(|c| {
                c.split(';')
                    .any(|kv| kv.trim() == format!("session={session}"))
            });
            let key_ok = shared
                .options
                .api_key
                .as_ref()
                .is_some_and(|k| header("apikey").as_deref() == Some(k.as_str()));
            cookie_ok || key_ok
        }
    };
    let bytes = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, json!({ "message": "bad body" })),
    };
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    lock(&shared.requests).push(RecordedRequest {
        body: body.clone(),
        authorised,
    });
    if !authorised {
        return reply(
            StatusCode::UNAUTHORIZED,
            json!({ "message": "Unauthorized" }),
        );
    }
    let query = body["query"].as_str().unwrap_or_default();
    let variables = &body["variables"];
    let mut data = Map::new();
    if query.contains("findScenes(") {
        data.insert("findScenes".into(), find_scenes(shared, variables));
    } else if query.contains("findScene(") {
        let id = match &variables["id"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let found = lock(&shared.scenes)
            .iter()
            .find(|s| s["id"] == id.as_str())
            .cloned();
        data.insert("findScene".into(), found.unwrap_or(Value::Null));
    }
    if query.contains("runPluginTask(") {
        let text = |name: &str| variables[name].as_str().map(str::to_owned);
        let args = match &variables["args"] {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        let queued = match (&shared.options.plugin, &shared.runner, text("plugin")) {
            (Some(plugin), Some(runner), Some(id)) if id == plugin.id => runner.queue(
                plugin,
                text("task").as_deref(),
                text("description").as_deref(),
                args,
            ),
            (_, _, id) => Err(format!("no plugin with ID {}", id.unwrap_or_default())),
        };
        return match queued {
            Ok(job) => reply(StatusCode::OK, json!({ "data": { "runPluginTask": job } })),
            Err(message) => reply(
                StatusCode::OK,
                json!({ "errors": [{ "message": message }], "data": null }),
            ),
        };
    }
    if query.contains("version {") {
        data.insert(
            "version".into(),
            json!({ "version": "v0.28.1-fake", "hash": "fake", "build_time": "" }),
        );
    }
    if query.contains("configuration") && query.contains("plugins(include:") {
        let plugins = lock(&shared.plugins);
        let included: Map<String, Value> = plugins
            .iter()
            .filter(|(id, _)| query.contains(&format!("\"{id}\"")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        data.insert("configuration".into(), json!({ "plugins": included }));
    }
    if data.is_empty() {
        return reply(
            StatusCode::OK,
            json!({ "errors": [{ "message": "the fake Stash does not know this query" }], "data": null }),
        );
    }
    reply(StatusCode::OK, json!({ "data": data }))
}

/// `findScenes`: by id, paged, optionally only those updated after a time.
fn find_scenes(shared: &Shared, variables: &Value) -> Value {
    let page = variables["filter"]["page"].as_u64().unwrap_or(1).max(1);
    let per_page = variables["filter"]["per_page"]
        .as_u64()
        .unwrap_or(25)
        .max(1);
    let since = variables["scene_filter"]["updated_at"]["value"].as_str();
    let mut scenes: Vec<Value> = lock(&shared.scenes)
        .iter()
        .filter(|s| match since {
            // RFC 3339 times in UTC compare as text.
            Some(t) => s["updated_at"].as_str().is_some_and(|u| u > t),
            None => true,
        })
        .cloned()
        .collect();
    scenes.sort_by_key(|s| {
        s["id"]
            .as_str()
            .and_then(|i| i.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    });
    let count = scenes.len();
    let start = ((page - 1) * per_page) as usize;
    let paged: Vec<Value> = scenes
        .into_iter()
        .skip(start)
        .take(per_page as usize)
        .collect();
    json!({ "count": count, "scenes": paged })
}

/// A TLS acceptor serving `tls`.
fn acceptor(tls: &Tls) -> std::io::Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_owned());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&tls.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| bad("the certificate is not PEM"))?;
    let key = PrivateKeyDer::from_pem_slice(&tls.key_pem).map_err(|_| bad("the key is not PEM"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
