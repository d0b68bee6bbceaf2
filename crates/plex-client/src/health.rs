//! The staged deep health check: TCP connect, `/identity` without a token, then an
//! authenticated request that needs the library database.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

use crate::client::{PlexClient, not_plex_if_missing};
use crate::error::{FailureKind, PlexError};
use crate::http::connect_kind;
use crate::model::{Envelope, Identity, SectionList, ServerInfo};

/// A stage of the deep health check, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A TCP connection to the server's port.
    Connect,
    /// `GET /identity` without a token: the HTTP server answers.
    Identity,
    /// `GET /library/sections` with the token: the database is open and the token is good.
    Library,
}

impl Stage {
    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Connect => "connect",
            Stage::Identity => "identity",
            Stage::Library => "library",
        }
    }
}

/// How one stage went. Serialized with its latency as `latency_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageResult {
    /// Which stage.
    pub stage: Stage,
    /// How long it took, passing or failing.
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// Whether it passed.
    pub passed: bool,
}

/// What the deep health check found. Every field is public, so that a simulated Plex or a
/// test can make any report; none of them ever holds the token.
///
/// Serialized as `{"healthy", "reached", "stages", "identity", "failure", "elapsed_ms"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Every stage passed.
    pub healthy: bool,
    /// The last stage that passed, if any.
    pub reached: Option<Stage>,
    /// Each stage that ran, in order.
    pub stages: Vec<StageResult>,
    /// What `/identity` said, if it answered.
    pub identity: Option<Identity>,
    /// Why it failed.
    pub failure: Option<PlexError>,
    /// The whole check's duration.
    #[serde(rename = "elapsed_ms", with = "millis")]
    pub elapsed: Duration,
}

impl HealthReport {
    /// The failure's kind, if it failed.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        self.failure.as_ref().map(PlexError::kind)
    }

    /// A report of a check that passed every stage, each taking `latency`.
    pub fn passed(identity: Identity, latency: Duration) -> HealthReport {
        let stages = [Stage::Connect, Stage::Identity, Stage::Library]
            .into_iter()
            .map(|stage| StageResult {
                stage,
                latency,
                passed: true,
            })
            .collect();
        HealthReport {
            healthy: true,
            reached: Some(Stage::Library),
            stages,
            identity: Some(identity),
            failure: None,
            elapsed: latency * 3,
        }
    }

    /// A report of a check that failed at `stage` with `failure` after `latency`, every
    /// earlier stage having passed (each taking `latency` too). `identity` is what
    /// `/identity` said, if that stage passed.
    pub fn failed_at(
        stage: Stage,
        failure: PlexError,
        identity: Option<Identity>,
        latency: Duration,
    ) -> HealthReport {
        let order = [Stage::Connect, Stage::Identity, Stage::Library];
        let stages: Vec<StageResult> = order
            .into_iter()
            .take_while(|s| *s <= stage)
            .map(|s| StageResult {
                stage: s,
                latency,
                passed: s != stage,
            })
            .collect();
        let reached = order.into_iter().take_while(|s| *s < stage).last();
        HealthReport {
            healthy: false,
            reached,
            elapsed: latency * stages.len() as u32,
            stages,
            identity: identity.filter(|_| stage > Stage::Identity),
            failure: Some(failure),
        }
    }
}

/// Durations as milliseconds with a fraction, which reads well in JSON and keeps microseconds.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1_000.0)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(ms / 1_000.0).unwrap_or(Duration::ZERO))
    }
}

impl PlexClient {
    /// Runs the deep health check within the configured deadline (5 s by default, separate
    /// from the 30 s read timeout). A server that accepts the connection and never answers
    /// fails with a read timeout at the deadline; nothing here waits longer.
    pub async fn check_health(&self) -> HealthReport {
        self.check_health_until(Stage::Library).await
    }

    /// The full health check and, if it passed, the server's name and version from `/`: every
    /// request inside the one health deadline, whatever the server does (a container's
    /// health check is killed when it runs over).
    pub async fn check_health_and_server(&self) -> (HealthReport, Option<ServerInfo>) {
        let start = Instant::now();
        let report = self.check_health().await;
        let left = self
            .config()
            .health_deadline
            .saturating_sub(start.elapsed());
        let server = if report.healthy && !left.is_zero() {
            self.server_info_within(left).await.ok()
        } else {
            None
        };
        (report, server)
    }

    /// The health check, stopping after `last`: [`Stage::Identity`] is the shallow check
    /// others use (the predecessor's, the official Docker image's), healthy once `/identity`
    /// answers. It never runs a later stage.
    pub async fn check_health_until(&self, last: Stage) -> HealthReport {
        let deadline = self.config().health_deadline;
        let start = Instant::now();
        let mut report = HealthReport {
            healthy: false,
            reached: None,
            stages: Vec::new(),
            identity: None,
            failure: None,
            elapsed: Duration::ZERO,
        };
        let mut current = (Stage::Connect, start);
        let finished = tokio::time::timeout(
            deadline,
            self.run_stages(start, deadline, last, &mut report, &mut current),
        )
        .await;
        if finished.is_err() {
            // The deadline struck inside a stage whose own timeout had not yet fired.
            let (stage, began) = current;
            let kind = if stage == Stage::Connect {
                FailureKind::ConnectTimeout
            } else {
                FailureKind::ReadTimeout
            };
            report.stages.push(StageResult {
                stage,
                latency: began.elapsed(),
                passed: false,
            });
            report.failure = Some(PlexError::new(
                kind,
                self.config().redacted_url(),
                format!(
                    "health check deadline of {} reached during {}",
                    crate::error::human(deadline),
                    stage.as_str()
                ),
            ));
        }
        report.healthy = report.failure.is_none() && report.reached == Some(last);
        report.elapsed = start.elapsed();
        report
    }

    async fn run_stages(
        &self,
        start: Instant,
        deadline: Duration,
        last: Stage,
        report: &mut HealthReport,
        current: &mut (Stage, Instant),
    ) {
        let remaining = || deadline.saturating_sub(start.elapsed());

        *current = (Stage::Connect, Instant::now());
        let connected = self.connect(remaining()).await;
        if !record(report, *current, connected) || last == Stage::Connect {
            return;
        }

        // Each stage on a connection of its own: the check judges the server as a new client
        // finds it, and a pooled connection the server closed while idle would make a healthy
        // server look ill.
        *current = (Stage::Identity, Instant::now());
        let identity: Result<Envelope<Identity>, PlexError> = self
            .fetch(
                self.get_within("/identity", &[], remaining())
                    .anonymous()
                    .fresh(),
            )
            .await
            .map_err(not_plex_if_missing);
        match identity {
            Ok(envelope) => {
                record(report, *current, Ok(()));
                report.identity = Some(envelope.container);
            }
            Err(e) => {
                record(report, *current, Err(e));
                return;
            }
        }
        if last == Stage::Identity {
            return;
        }

        *current = (Stage::Library, Instant::now());
        let library: Result<Envelope<SectionList>, PlexError> = self
            .fetch(
                self.get_within("/library/sections", &[], remaining())
                    .fresh(),
            )
            .await;
        record(report, *current, library.map(|_| ()));
    }

    /// Stage 1: resolve the host and open a TCP connection to it.
    async fn connect(&self, budget: Duration) -> Result<(), PlexError> {
        let config = self.config();
        let url = &config.base_url;
        let shown = config.redacted_url();
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(32400);
        let budget = budget.min(config.connect_timeout);
        let attempt = async {
            let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| PlexError::new(FailureKind::Dns, &shown, e.to_string()))?
                .collect();
            let mut last = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
            let err = last.ok_or_else(|| {
                PlexError::new(FailureKind::Dns, &shown, "the host name has no addresses")
            })?;
            let kind = connect_kind(Some(err.kind()), &err.to_string().to_ascii_lowercase());
            Err(PlexError::new(kind, &shown, err.to_string()))
        };
        match tokio::time::timeout(budget, attempt).await {
            Ok(result) => result,
            Err(_) => Err(PlexError::new(
                FailureKind::ConnectTimeout,
                &shown,
                format!("no connection within {}", crate::error::human(budget)),
            )),
        }
    }
}

/// Records a stage's outcome; `true` if it passed.
fn record(
    report: &mut HealthReport,
    (stage, began): (Stage, Instant),
    outcome: Result<(), PlexError>,
) -> bool {
    let passed = outcome.is_ok();
    report.stages.push(StageResult {
        stage,
        latency: began.elapsed(),
        passed,
    });
    match outcome {
        Ok(()) => report.reached = Some(stage),
        Err(e) => report.failure = Some(e),
    }
    passed
}
