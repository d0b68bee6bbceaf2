//! plex-client as the engine's [`Plex`], on the wall clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plex_client::{
    FailureKind, HealthReport, Item, Located, PlexClient, PlexError, Section, Stage,
};

use crate::action::ProbeDepth;
use crate::ports::Plex;

/// Sections are fetched again after this long, so that a section added in Plex is found.
const SECTIONS_TTL_MS: u64 = 300_000;

/// A real Plex server through [`PlexClient`]. Deadlines are wall-clock milliseconds.
#[derive(Debug)]
pub struct RealPlex {
    client: PlexClient,
    /// The sections, and when they were fetched (a lock: the jobs of a batch share them).
    sections: std::sync::Mutex<Option<(Vec<Section>, u64)>>,
}

impl RealPlex {
    /// Wraps `client`.
    pub fn new(client: PlexClient) -> RealPlex {
        RealPlex {
            client,
            sections: std::sync::Mutex::new(None),
        }
    }

    /// The client.
    pub fn client(&self) -> &PlexClient {
        &self.client
    }

    fn cached_sections(&self) -> std::sync::MutexGuard<'_, Option<(Vec<Section>, u64)>> {
        // A panic elsewhere cannot leave a half-written cache: the value is replaced whole.
        self.sections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn within<T>(
        &self,
        deadline: u64,
        call: impl std::future::Future<Output = Result<T, PlexError>>,
    ) -> Result<T, PlexError> {
        let left = Duration::from_millis(deadline.saturating_sub(wall_ms()));
        match tokio::time::timeout(left, call).await {
            Ok(result) => result,
            Err(_) => Err(PlexError::new(
                FailureKind::ReadTimeout,
                self.client.config().redacted_url(),
                "the job's time ran out",
            )),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Plex for RealPlex {
    async fn probe(&self, depth: ProbeDepth, deadline: Option<u64>) -> HealthReport {
        let check = self.client.check_health_until(depth.last_stage());
        let Some(deadline) = deadline else {
            return check.await;
        };
        let left = Duration::from_millis(deadline.saturating_sub(wall_ms()));
        match tokio::time::timeout(left, check).await {
            Ok(report) => report,
            Err(_) => HealthReport::failed_at(
                Stage::Connect,
                PlexError::new(
                    FailureKind::ReadTimeout,
                    self.client.config().redacted_url(),
                    "the wait for Plex ran out",
                ),
                None,
                left,
            ),
        }
    }

    async fn sections(&self, deadline: u64) -> Result<Vec<Section>, PlexError> {
        let now = wall_ms();
        if let Some((sections, at)) = &*self.cached_sections() {
            if *at <= now && now - at < SECTIONS_TTL_MS {
                return Ok(sections.clone());
            }
        }
        let sections = self.within(deadline, self.client.sections()).await?;
        *self.cached_sections() = Some((sections.clone(), now));
        Ok(sections)
    }

    async fn find(
        &self,
        sections: &[Section],
        file: &str,
        deadline: u64,
    ) -> Result<Located, PlexError> {
        self.within(deadline, self.client.find_by_file_in(sections, file))
            .await
    }

    async fn read(&self, located: &Located, deadline: u64) -> Result<Item, PlexError> {
        self.within(deadline, self.client.item(&located.item.rating_key))
            .await
    }

    async fn edit(
        &self,
        located: &Located,
        pairs: &[(String, String)],
        deadline: u64,
    ) -> Result<(), PlexError> {
        self.within(deadline, self.client.send_edit(located, pairs))
            .await
    }

    async fn scan(&self, section: &str, folder: &str, deadline: u64) -> Result<(), PlexError> {
        self.within(deadline, self.client.scan_folder(section, folder))
            .await
    }
}
