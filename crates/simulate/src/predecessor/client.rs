//! How the predecessor talks to Plex: python-plexapi behind `plex/client.py`, the matcher
//! of `plex/matcher.py`, the metadata update of `worker/processor.py`, and what
//! `plex/exceptions.py` makes of each failure (Stash2Plex v1.6.14). Its requests go to the
//! same simulated server as plexsync's.

use engine::{ErrorClass, SyncJob, SyncOptions, plan};
use plex_client::{FailureKind, PlexError};

use rand::RngExt;
use rand::rngs::SmallRng;

use crate::plex::{Asked, SimPlex};

/// `PlexServer(..., timeout=self._read_timeout)`: one 30 s timeout for connecting and
/// reading alike (`plex/client.py:89-95, 141-146`; the 5 s connect timeout is stored and
/// unused).
const TIMEOUT_MS: u64 = 30_000;
/// `check_plex_health(client, timeout=5.0)` (`worker/processor.py:606`).
const PROBE_TIMEOUT_MS: u64 = 5_000;
/// tenacity: `stop_after_attempt(3)` (`plex/client.py:127-133`).
const CONNECT_ATTEMPTS: u32 = 3;

/// Which exception `_process_job` ends with (`plex/exceptions.py:19-66`).
#[derive(Debug)]
pub(super) enum Raised {
    /// `PlexServerDown`: nacked, a breaker failure, no retry spent.
    ServerDown,
    /// `PlexTemporaryError`: a breaker failure, a retry spent.
    Temporary(PlexError),
    /// `PlexNotFound`: a retry spent on the not-found schedule, the breaker left alone.
    /// `swallowed`: the class of the failure the matcher turned into it, if it did (the
    /// predecessor does not know; the simulator's accounts do).
    NotFound { swallowed: Option<ErrorClass> },
    /// `PlexPermanentError`: the dead-letter queue at once.
    Permanent(PlexError),
}

/// `translate_plex_exception` (`plex/exceptions.py:83-155`) over what python-plexapi and
/// requests raise for each failure (`plexapi/server.py:761-770`: 401 `Unauthorized`, 404
/// `NotFound`, anything else `BadRequest`).
pub(super) fn translate(e: PlexError) -> Raised {
    match e.kind() {
        // requests' ConnectionError, whose text names "Connection refused" or "Max retries
        // exceeded" (`exceptions.py:69-80, 125-129`).
        FailureKind::Refused | FailureKind::Dns | FailureKind::ConnectTimeout => Raised::ServerDown,
        // requests' Timeout (`exceptions.py:131-132`), and a ConnectionError without those
        // words (`exceptions.py:130`).
        FailureKind::ReadTimeout | FailureKind::ConnectionLost => Raised::Temporary(e),
        FailureKind::NotFound => Raised::NotFound { swallowed: None },
        // Unauthorized, and BadRequest for every other status: a 503 during maintenance
        // included (`exceptions.py:116-121`).
        FailureKind::Unauthorized
        | FailureKind::AuthenticationRequired
        | FailureKind::NotPlex
        | FailureKind::Maintenance
        | FailureKind::RateLimited
        | FailureKind::Rejected { .. }
        | FailureKind::Redirect { .. }
        | FailureKind::UnexpectedStatus { .. } => Raised::Permanent(e),
        // Anything else is transient, "safer" (`exceptions.py:154-155`).
        FailureKind::Tls | FailureKind::InvalidBody | FailureKind::BodyTooLarge => {
            Raised::Temporary(e)
        }
    }
}

/// Whether tenacity retries the connection after this failure: ConnectionError, Timeout
/// and OSError (`plex/client.py:34-49`).
fn retriable(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::Refused
            | FailureKind::Dns
            | FailureKind::ConnectTimeout
            | FailureKind::ReadTimeout
            | FailureKind::ConnectionLost
    )
}

/// A log line the predecessor writes at warning level while matching.
pub(super) type Warning = String;

/// The predecessor's `PlexClient`: connected once `PlexServer(...)` has succeeded
/// (`plex/client.py:158-172` caches it).
#[derive(Debug)]
pub(super) struct Client {
    pub(super) connected: bool,
}

impl Client {
    /// `_get_server`: `PlexServer(...)` asks for `/` with the token; tenacity tries three
    /// times on connection errors and timeouts, waiting `wait_exponential_jitter(initial=0.1,
    /// max=0.4, jitter=0.1)` between (`plex/client.py:106-156`).
    pub(super) fn connect(&mut self, plex: &mut SimPlex, rng: &mut SmallRng) -> Result<(), Raised> {
        if self.connected {
            return Ok(());
        }
        let mut attempt = 1;
        loop {
            match plex.call(Asked::Root, TIMEOUT_MS) {
                Ok(()) => {
                    self.connected = true;
                    return Ok(());
                }
                Err(e) if retriable(e.kind()) && attempt < CONNECT_ATTEMPTS => {
                    let wait = (100u64 << (attempt - 1)).min(400) + rng.random_range(0..=100);
                    plex.wait(wait);
                    attempt += 1;
                }
                Err(e) => return Err(translate(e)),
            }
        }
    }

    /// `check_plex_health`: `client.server.query('/identity', timeout=5.0)`, any exception
    /// meaning unhealthy (`plex/health.py:60-79`). A client not yet connected connects first,
    /// with the 30 s timeout.
    pub(super) fn probe(&mut self, plex: &mut SimPlex, rng: &mut SmallRng) -> bool {
        let start = plex.now();
        let healthy =
            self.connect(plex, rng).is_ok() && plex.call(Asked::Identity, PROBE_TIMEOUT_MS).is_ok();
        plex.note_probe(start, healthy);
        healthy
    }

    /// `_process_job` for one job (`worker/processor.py:1014-1214`): the section is the one
    /// configured (`plex_library`, which its own log advises: `processor.py:1076-1093`),
    /// looked up once and cached by python-plexapi (`library.py:78-93`); the matcher searches
    /// by title, then lists the whole section, swallowing every failure of either and
    /// raising not-found (`plex/matcher.py:262-359`); the update sends the fields, then one
    /// edit per tag list, then one reload whose failure is ignored (`processor.py:1272-1352`).
    /// The warnings it logs on the way are pushed to `warnings`.
    pub(super) fn sync(
        &mut self,
        plex: &mut SimPlex,
        job: &SyncJob,
        options: &SyncOptions,
        rng: &mut SmallRng,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), Raised> {
        self.connect(plex, rng)?;
        let file = job.files.first().cloned().unwrap_or_default();
        let mut swallowed = None;
        let mut found = match plex.call(Asked::Library, TIMEOUT_MS) {
            Ok(()) => plex.library_mut().get(&file),
            Err(e) => {
                warnings.push(format!("Title search failed: {e}"));
                swallowed = Some(e.kind().class());
                None
            }
        };
        if found.is_none() {
            found = match plex.call(Asked::Library, TIMEOUT_MS) {
                Ok(()) => plex.library_mut().get(&file),
                Err(e) => {
                    warnings.push(format!("Scan failed: {e}"));
                    swallowed = Some(e.kind().class());
                    None
                }
            };
        }
        let Some(item) = found else {
            // A scene Plex truly lacks is not-found, whatever else failed on the way.
            let swallowed = swallowed.filter(|_| plex.library().title(&file).is_some());
            return Err(Raised::NotFound { swallowed });
        };
        let pairs = plan(&job.edit, &item, options).changes(&item);
        if pairs.is_empty() {
            return Ok(());
        }
        let tag_lists = [&job.edit.actors, &job.edit.genres, &job.edit.collections]
            .iter()
            .filter(|tags| tags.is_some())
            .count();
        for edit in 0..=tag_lists {
            plex.call(Asked::Library, TIMEOUT_MS).map_err(translate)?;
            if edit == 0 {
                plex.library_mut().edit(&file, &pairs);
            }
        }
        // `plex_item.reload()`: a failure is logged at debug and ignored (`processor.py:1343-1351`).
        let _ = plex.call(Asked::Library, TIMEOUT_MS);
        Ok(())
    }
}
