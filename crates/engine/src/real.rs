//! plex-client as the engine's [`Plex`], on the wall clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plex_client::{
    FailureKind, HealthReport, Item, Located, PlexClient, PlexError, Section, Stage,
};

use crate::action::ProbeDepth;
use crate::ports::Plex;

/// Sections are fetched again after this long, so that a section added in Plex is found.
const SECTIONS_TTL_MS: u64 = 300_000;

/// This many lookups within a minute make a drain: the sections are walked once, and the
/// next lookups read their items by rating key at once (one request a job fewer).
const WALK_AFTER: u32 = 64;

/// A real Plex server through [`PlexClient`]. Deadlines are wall-clock milliseconds.
#[derive(Debug)]
pub struct RealPlex {
    client: PlexClient,
    /// The sections, and when they were fetched (a lock: the jobs in flight share them).
    sections: std::sync::Mutex<Option<(Vec<Section>, u64)>>,
    /// Lookups since the minute that began then: `(start, count)`.
    lookups: std::sync::Mutex<(u64, u32)>,
    /// Whether a drain walks the sections.
    walks: bool,
}

impl RealPlex {
    /// Wraps `client`.
    pub fn new(client: PlexClient) -> RealPlex {
        RealPlex {
            client,
            sections: std::sync::Mutex::new(None),
            lookups: std::sync::Mutex::new((0, 0)),
            walks: true,
        }
    }

    /// Never walks the sections for a drain: every lookup searches (how plexsync looked items
    /// up before; for comparisons).
    pub fn without_walks(mut self) -> RealPlex {
        self.walks = false;
        self
    }

    /// The client.
    pub fn client(&self) -> &PlexClient {
        &self.client
    }

    /// Counts a lookup at `now`; whether it is the one that makes a drain of the minute.
    fn drain_begins(&self, now: u64) -> bool {
        let mut lookups = lock(&self.lookups);
        if now.saturating_sub(lookups.0) >= 60_000 {
            *lookups = (now, 0);
        }
        lookups.1 += 1;
        lookups.1 == WALK_AFTER
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

/// A lock whose value is replaced whole or counted, so a panic elsewhere leaves nothing
/// half-written.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch.
pub fn wall_ms() -> u64 {
    wall_us() / 1_000
}

/// Microseconds since the Unix epoch: what a wall clock's [`crate::Clock::now_us`] says.
pub fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
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
        if let Some((sections, at)) = &*lock(&self.sections) {
            if *at <= now && now - at < SECTIONS_TTL_MS {
                return Ok(sections.clone());
            }
        }
        let sections = self.within(deadline, self.client.sections()).await?;
        *lock(&self.sections) = Some((sections.clone(), now));
        Ok(sections)
    }

    async fn find(
        &self,
        sections: &[Section],
        file: &str,
        deadline: u64,
    ) -> Result<(Located, bool), PlexError> {
        if self.walks && self.drain_begins(wall_ms()) {
            // A failed walk only costs the lookups it would have saved.
            let _ = self
                .within(deadline, self.client.walk_sections(sections))
                .await;
        }
        self.within(deadline, self.client.find_for_sync(sections, file))
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
