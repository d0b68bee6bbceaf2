//! `plexsync enqueue`: one job, durably queued. It only appends to the queue: it never takes
//! the worker lock and never talks to Plex.

use crate::text::say;
use std::io::Read;
use std::process::ExitCode;

use engine::{SyncJob, wall_ms};
use plex_client::MetadataEdit;

use super::{Failure, open_queue};
use crate::args::Enqueue;
use crate::config::Settings;

/// The largest job document read.
const MAX_JOB_BYTES: u64 = 4 << 20;

/// Queues the job the arguments describe.
pub(crate) fn run(settings: &Settings, args: &Enqueue) -> Result<ExitCode, Failure> {
    let job = match &args.json {
        Some(path) => read_job(path)?,
        None => from_flags(args),
    };
    job.check()
        .map_err(|e| Failure::Config(format!("the job cannot be queued: {e}")))?;
    let now = wall_ms();
    let mut queue = open_queue(&settings.paths)?;
    let id = queue.enqueue(&job.key(), &job, now)?;
    say!("queued {} (job {id})", job.key());
    Ok(ExitCode::SUCCESS)
}

fn read_job(path: &std::path::Path) -> Result<SyncJob, Failure> {
    let shown = if path.as_os_str() == "-" {
        "standard input".to_owned()
    } else {
        path.display().to_string()
    };
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_JOB_BYTES + 1)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_JOB_BYTES + 1).read_to_string(&mut text))
    };
    read.map_err(|e| Failure::Config(format!("cannot read the job from {shown}: {e}")))?;
    if text.len() as u64 > MAX_JOB_BYTES {
        return Err(Failure::Config(format!(
            "the job in {shown} is larger than {MAX_JOB_BYTES} bytes"
        )));
    }
    serde_json::from_str(&text).map_err(|e| {
        Failure::Config(format!(
            "the job in {shown} is not a sync job (line {}, column {}: {}); see `plexsync enqueue --help`",
            e.line(),
            e.column(),
            e.to_string().split(" at line").next().unwrap_or_default()
        ))
    })
}

fn from_flags(args: &Enqueue) -> SyncJob {
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    SyncJob {
        scene_id: args.scene.clone().unwrap_or_default(),
        files: args.file.clone(),
        edit: MetadataEdit {
            title: args.title.clone(),
            title_sort: args.sort_title.clone(),
            summary: args.summary.clone(),
            originally_available_at: args.date.clone(),
            studio: args.studio.clone(),
            actors: list(&args.performers),
            genres: list(&args.tags),
            collections: list(&args.collections),
            ..MetadataEdit::default()
        },
        edited_at: wall_ms(),
    }
}
