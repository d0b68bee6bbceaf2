//! Stash's GraphQL API, as much of it as plexsync needs.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Error;
use crate::input::Connection;
use crate::scene::{SCENE_FIELDS, Scene};

/// A client for the Stash that started this process.
#[derive(Debug)]
pub struct Stash {
    http: reqwest::Client,
    url: String,
    /// Over HTTPS: the certificate trusted for Stash (its own), if there is one.
    trusted: Option<std::path::PathBuf>,
    /// Stash's configuration folder, where its certificate would be.
    dir: Option<String>,
}

/// One page of scenes.
#[derive(Debug, Deserialize)]
pub struct ScenePage {
    /// How many scenes match, on all pages.
    pub count: u64,
    /// This page's scenes.
    pub scenes: Vec<Scene>,
}

impl Stash {
    /// A client for `connection`, sending its session cookie, or `api_key` when there is no
    /// cookie.
    pub fn new(connection: &Connection, api_key: Option<&str>) -> Result<Stash, Error> {
        let url = connection.graphql_url()?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let unusable =
            |what: &str| Error::Input(format!("{what} holds characters a header cannot carry"));
        if let Some(cookie) = &connection.session_cookie {
            let mut value = HeaderValue::from_str(&format!("{}={}", cookie.name, cookie.value))
                .map_err(|_| unusable("Stash's session cookie"))?;
            value.set_sensitive(true);
            headers.insert(COOKIE, value);
        } else if let Some(key) = api_key.map(str::trim).filter(|k| !k.is_empty()) {
            let mut value =
                HeaderValue::from_str(key).map_err(|_| unusable("the Stash API key"))?;
            value.set_sensitive(true);
            headers.insert("ApiKey", value);
        }
        // Nothing redirects (a redirect is answered as the HTTP status it is), so a plain-HTTP
        // Stash, as its plugins nearly always reach it, never has a certificate checked: load
        // no trust store, as plex-client does. Loading the system's took most of a hook's time.
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        let dir = connection.dir.clone().filter(|d| !d.trim().is_empty());
        let mut trusted = None;
        if url.starts_with("http://") {
            builder = builder.tls_certs_only([]);
        } else if let Some(path) = dir
            .as_deref()
            .and_then(|d| crate::tls::certificate_path(std::path::Path::new(d)))
        {
            // Stash's own certificate, trusted for this connection only.
            let config = crate::tls::read(&path)
                .and_then(|pem| crate::tls::config(&pem))
                .map_err(|why| {
                    Error::Input(format!(
                        "Stash's certificate {} cannot be used: {why}",
                        path.display()
                    ))
                })?;
            builder = builder.tls_backend_preconfigured(config);
            trusted = Some(path);
        }
        let http = builder
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|_| Error::Unreachable {
                url: url.clone(),
                why: "no HTTP client could be set up",
            })?;
        Ok(Stash {
            http,
            url,
            trusted,
            dir,
        })
    }

    /// The scene (`None` if Stash has no such scene) and the saved settings of `plugin`, in
    /// one request, so that a hook costs one round trip.
    pub async fn scene_and_settings(
        &self,
        id: &str,
        plugin: &str,
    ) -> Result<(Option<Scene>, Map<String, Value>), Error> {
        let query = format!(
            "query PlexsyncHook($id: ID!) {{ findScene(id: $id) {{ {SCENE_FIELDS} }} configuration {{ plugins(include: [{plugin:?}]) }} }}"
        );
        let mut data = self.query(&query, json!({ "id": id })).await?;
        let scene = match data.remove("findScene") {
            None | Some(Value::Null) => None,
            Some(value) => Some(serde_json::from_value(value).map_err(|e| {
                self.answer(format!(
                    "sent something for scene {id} that is not a scene: {e}"
                ))
            })?),
        };
        Ok((scene, settings(&data, plugin)))
    }

    /// Stash's version, e.g. `v0.28.1` (`version { version }`).
    pub async fn version(&self) -> Result<String, Error> {
        let data = self
            .query("query PlexsyncVersion { version { version } }", json!({}))
            .await?;
        Ok(data
            .get("version")
            .and_then(|v| v["version"].as_str())
            .unwrap_or("unknown")
            .to_owned())
    }

    /// The saved settings of `plugin` (only values saved in Stash: Stash sends no defaults).
    pub async fn settings(&self, plugin: &str) -> Result<Map<String, Value>, Error> {
        let query = format!(
            "query PlexsyncSettings {{ configuration {{ plugins(include: [{plugin:?}]) }} }}"
        );
        Ok(settings(&self.query(&query, json!({})).await?, plugin))
    }

    /// Scenes `page` (from 1) of `per_page`, by id; with `since` (RFC 3339), only those
    /// updated after it.
    pub async fn scenes(
        &self,
        page: u64,
        per_page: u64,
        since: Option<&str>,
    ) -> Result<ScenePage, Error> {
        let query = format!(
            "query PlexsyncScenes($filter: FindFilterType, $scene_filter: SceneFilterType) {{ findScenes(filter: $filter, scene_filter: $scene_filter) {{ count scenes {{ {SCENE_FIELDS} }} }} }}"
        );
        let scene_filter = match since {
            Some(t) => json!({ "updated_at": { "value": t, "modifier": "GREATER_THAN" } }),
            None => json!({}),
        };
        let variables = json!({
            "filter": { "page": page, "per_page": per_page, "sort": "id", "direction": "ASC" },
            "scene_filter": scene_filter,
        });
        let mut data = self.query(&query, variables).await?;
        let page = data
            .remove("findScenes")
            .ok_or_else(|| self.answer("answered without findScenes".into()))?;
        serde_json::from_value(page)
            .map_err(|e| self.answer(format!("sent a list of scenes that is not understood: {e}")))
    }

    /// Queues a run of `plugin` in Stash's job queue, as its task `task` (whose default
    /// arguments Stash applies) or, without one, with `args` alone; returns the job's id at
    /// once. The job shows in Stash's task list with its progress, and can be cancelled there.
    pub async fn run_plugin_task(
        &self,
        plugin: &str,
        task: Option<&str>,
        description: &str,
        args: Value,
    ) -> Result<String, Error> {
        let query = "mutation PlexsyncRunTask($plugin: ID!, $task: String, $description: String, $args: Map) { runPluginTask(plugin_id: $plugin, task_name: $task, description: $description, args_map: $args) }";
        let variables = json!({
            "plugin": plugin, "task": task, "description": description, "args": args,
        });
        let mut data = self.query(query, variables).await?;
        match data.remove("runPluginTask") {
            Some(Value::String(id)) => Ok(id),
            Some(Value::Number(id)) => Ok(id.to_string()),
            _ => Err(self.answer("answered runPluginTask without a job id".into())),
        }
    }

    /// A TLS failure, said as one, with what to do.
    fn certificate_error(&self, why: String) -> Error {
        let what = match (&self.trusted, &self.dir) {
            (Some(path), _) => format!(
                "its certificate was not accepted ({why}); plexsync trusts {} for Stash: make sure it is the certificate Stash serves (with its whole chain, if a certificate authority issued it)",
                path.display()
            ),
            (None, Some(dir)) => format!(
                "its certificate is not one this system trusts ({why}), and plexsync found none of Stash's own to trust instead: put Stash's certificate in {dir}/stash.crt, where Stash reads it too"
            ),
            (None, None) => format!("its certificate was not accepted ({why})"),
        };
        Error::Certificate {
            url: self.url.clone(),
            what,
        }
    }

    fn answer(&self, what: String) -> Error {
        Error::Answer {
            url: self.url.clone(),
            what,
        }
    }

    /// Runs a query; its `data`.
    async fn query(&self, query: &str, variables: Value) -> Result<Map<String, Value>, Error> {
        let body = json!({ "query": query, "variables": variables });
        let unreachable = |e: reqwest::Error| {
            if let Some(tls) = tls_cause(&e) {
                return self.certificate_error(tls);
            }
            Error::Unreachable {
                url: self.url.clone(),
                why: if e.is_timeout() {
                    "it did not answer in time"
                } else if e.is_connect() {
                    "the connection was refused or failed"
                } else {
                    "the request failed"
                },
            }
        };
        let response = self
            .http
            .post(&self.url)
            .body(body.to_string())
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(Error::Refused {
                url: self.url.clone(),
                status: status.as_u16(),
            });
        }
        let text = response.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(self.answer(format!("answered HTTP {}", status.as_u16())));
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Option<Map<String, Value>>,
            #[serde(default)]
            errors: Vec<GraphqlError>,
        }
        #[derive(Deserialize)]
        struct GraphqlError {
            message: String,
        }
        let answer: Answer = serde_json::from_str(&text)
            .map_err(|_| self.answer("did not answer with GraphQL".into()))?;
        if let Some(first) = answer.errors.first() {
            return Err(Error::Query(first.message.chars().take(300).collect()));
        }
        answer
            .data
            .ok_or_else(|| self.answer("answered without data".into()))
    }
}

/// The plugin's saved settings out of `configuration { plugins(...) }`; empty if none.
fn settings(data: &Map<String, Value>, plugin: &str) -> Map<String, Value> {
    data.get("configuration")
        .and_then(|c| c.get("plugins"))
        .and_then(|p| p.get(plugin))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The TLS failure among the causes of `error`, in words, if it is one. An I/O error's
/// `source` skips the error it wraps, so that one is looked into directly.
fn tls_cause(error: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(e) = cause {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        cause = match e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}
