//! Edits reach Plex by themselves: after a hook queued a job, Stash is asked to run the drain
//! as one of its own jobs (`runPluginTask`), so that it shows in Stash's task list with its
//! progress, can be cancelled there, and no process outlives Stash's control.
//!
//! Asked at most once while a request is pending: a request leaves `drain-requested` in the
//! data directory, which the drain removes once it holds the worker lock. Not asked while a
//! worker holds the lock: it takes the job, since a drain looks at the queue again after
//! letting go of the lock, and goes on if anything is ready (`commands::work`). So a job
//! queued while a drain is finishing is never left behind.

use std::time::{Duration, SystemTime};

use serde_json::json;
use stash_client::Stash;

use super::PLUGIN_ID;
use crate::config::Paths;

/// A request older than this without a drain starting is taken for lost (Stash restarted, or
/// the job was cancelled before it ran), and made again.
const PENDING: Duration = Duration::from_secs(120);

/// What the hook did about draining.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// Stash queued a drain; its job id.
    Queued(String),
    /// A worker holds the lock: it takes the job.
    WorkerRunning,
    /// A drain asked for earlier has not started yet: it takes the job.
    Pending,
}

/// Asks Stash for a drain unless one is running or asked for.
pub(crate) async fn request(stash: &Stash, paths: &Paths) -> Result<Asked, String> {
    if persist::WorkerLock::holder(&paths.worker_lock)
        .ok()
        .flatten()
        .is_some()
    {
        return Ok(Asked::WorkerRunning);
    }
    let age = std::fs::metadata(&paths.drain_requested)
        .and_then(|m| m.modified())
        .ok()
        .map(|at| SystemTime::now().duration_since(at).unwrap_or_default());
    match age {
        Some(age) if age < PENDING => return Ok(Asked::Pending),
        // Taken for lost: asked again.
        Some(_) => {
            let _ = std::fs::remove_file(&paths.drain_requested);
        }
        None => {}
    }
    // Claimed, not just checked: of hooks running at once, one asks.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&paths.drain_requested)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Asked::Pending),
        Err(e) => return Err(format!("could not note the drain asked for: {e}")),
    }
    match stash
        .run_plugin_task(
            PLUGIN_ID,
            None,
            "plexsync: sync saved scenes to Plex",
            json!({ "mode": "process", "auto": "true" }),
        )
        .await
    {
        Ok(job) => Ok(Asked::Queued(job)),
        Err(e) => {
            let _ = std::fs::remove_file(&paths.drain_requested);
            Err(format!(
                "could not ask Stash to sync it ({e}); it stays queued: run Process Queue"
            ))
        }
    }
}
