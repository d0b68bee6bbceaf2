//! A hook: fetch the scene (and the settings, in the same request), queue its job, ask Stash
//! to run the drain as one of its jobs, exit. No draining here, no Plex, no worker lock: the
//! user's save in Stash waits for this process.

use engine::wall_ms;
use serde_json::{Value, json};

use stash_client::{HookContext, Input, Stash};

use super::drain::{self, Asked};
use super::scene::{PluginSettings, job};
use super::{PLUGIN_ID, api_key, resolve};
use crate::commands::open_queue;
use crate::config::Env;

pub(super) async fn run(input: &Input, hook: &HookContext, env: &Env) -> Result<Value, String> {
    if !hook.kind.starts_with("Scene.") {
        return Ok(
            json!({ "queued": false, "reason": format!("plexsync acts on scene hooks, not {}", hook.kind) }),
        );
    }
    let id = hook.id().map_err(|e| e.to_string())?;
    let stash = Stash::new(&input.server_connection, api_key(env)).map_err(|e| e.to_string())?;
    let (scene, plugin) = stash
        .scene_and_settings(&id, PLUGIN_ID)
        .await
        .map_err(|e| e.to_string())?;
    let plugin = PluginSettings::from_map(&plugin)?;
    let settings = resolve(input, &plugin, env)?;
    let Some(scene) = scene else {
        tracing::info!("scene {id} is no longer in Stash; nothing to queue");
        return Ok(
            json!({ "queued": false, "reason": format!("scene {id} is no longer in Stash") }),
        );
    };
    let now = wall_ms();
    let job = match job(&scene, &plugin, now) {
        Ok(job) => job,
        Err(why) => {
            tracing::info!("{why}; nothing to queue");
            return Ok(json!({ "queued": false, "reason": why }));
        }
    };
    job.check()
        .map_err(|e| format!("scene {id} cannot be queued: {e}"))?;
    let mut queue = open_queue(&settings.paths).map_err(|e| e.to_string())?;
    let job_id = queue
        .enqueue(&job.key(), &job, now)
        .map_err(|e| format!("could not queue scene {id}: {e}"))?;
    tracing::info!(
        "queued scene {id}{} for Plex",
        job.edit
            .title
            .as_deref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default()
    );
    let drain = if plugin.auto_process {
        match drain::request(&stash, &settings.paths).await {
            Ok(Asked::Queued(job)) => {
                tracing::debug!("asked Stash to sync it (job {job})");
                json!({ "queued_job": job })
            }
            Ok(Asked::WorkerRunning) => json!("a worker is running"),
            Ok(Asked::Pending) => json!("already asked"),
            Err(why) => {
                tracing::warn!("{why}");
                json!({ "error": why })
            }
        }
    } else {
        json!("off")
    };
    Ok(json!({ "queued": true, "scene": id, "job": job_id.get(), "drain": drain }))
}
