//! The staged deep health check: TCP connect, `/identity` without a token, then an
//! authenticated request that needs the library database.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::client::PlexClient;
use crate::error::{FailureKind, PlexError};
use crate::http::connect_kind;
use crate::model::{Envelope, Identity, SectionList};

/// A stage of the deep health check, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// How one stage went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageResult {
    /// Which stage.
    pub stage: Stage,
    /// How long it took, passing or failing.
    pub latency: Duration,
    /// Whether it passed.
    pub passed: bool,
}

/// What the deep health check found.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub elapsed: Duration,
}

impl HealthReport {
    /// The failure's kind, if it failed.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        self.failure.as_ref().map(PlexError::kind)
    }
}

impl PlexClient {
    /// Runs the deep health check within the configured deadline (5 s by default, separate
    /// from the 30 s read timeout). A server that accepts the connection and never answers
    /// fails with a read timeout at the deadline; nothing here waits longer.
    pub async fn check_health(&self) -> HealthReport {
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
            self.run_stages(start, deadline, &mut report, &mut current),
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
                    "health check deadline of {deadline:?} reached during {}",
                    stage.as_str()
                ),
            ));
        }
        report.healthy = report.failure.is_none() && report.reached == Some(Stage::Library);
        report.elapsed = start.elapsed();
        report
    }

    async fn run_stages(
        &self,
        start: Instant,
        deadline: Duration,
        report: &mut HealthReport,
        current: &mut (Stage, Instant),
    ) {
        let remaining = || deadline.saturating_sub(start.elapsed());

        *current = (Stage::Connect, Instant::now());
        let connected = self.connect(remaining()).await;
        if !record(report, *current, connected) {
            return;
        }

        *current = (Stage::Identity, Instant::now());
        let identity: Result<Envelope<Identity>, PlexError> =
            self.get("/identity", &[], false, remaining(), &[]).await;
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

        *current = (Stage::Library, Instant::now());
        let library: Result<Envelope<SectionList>, PlexError> = self
            .get("/library/sections", &[], true, remaining(), &[])
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
                format!("no connection within {budget:?}"),
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
