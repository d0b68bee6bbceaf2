//! Syncing one job: find the item by its file, read it whole (unless the lookup did), work out
//! the edit the settings allow, send it if anything differs. The steps are fixed; what to make
//! of the result is the core's to decide.

use plex_client::{FailureKind, Field, Item, MetadataEdit, PlexError};

use crate::action::{ScanTarget, SyncResult};
use crate::job::SyncJob;
use crate::policy::SyncOptions;
use crate::ports::Plex;

/// Syncs `job` with `plex`, everything over by `deadline`; says how it went and how many
/// requests it sent (the list of sections, which the port caches, not counted).
pub async fn sync_job<P: Plex>(
    plex: &P,
    job: &SyncJob,
    options: &SyncOptions,
    deadline: u64,
) -> (SyncResult, u32) {
    let requests = std::cell::Cell::new(0);
    let result = sync_counting(plex, job, options, deadline, &requests).await;
    (result, requests.get())
}

async fn sync_counting<P: Plex>(
    plex: &P,
    job: &SyncJob,
    options: &SyncOptions,
    deadline: u64,
    requests: &std::cell::Cell<u32>,
) -> SyncResult {
    let sent = || requests.set(requests.get() + 1);
    let failed = |error: PlexError| SyncResult::Failed { error, scan: None };
    let sections = match plex.sections(deadline).await {
        Ok(sections) => sections,
        Err(e) => return failed(e),
    };
    let mut missing = None;
    for file in &job.files {
        sent();
        let (located, whole) = match plex.find(&sections, file, deadline).await {
            Ok(found) => found,
            Err(e) if e.kind() == FailureKind::NotFound => {
                missing.get_or_insert(e);
                continue;
            }
            Err(e) => return failed(e),
        };
        let item = if whole {
            located.item.clone()
        } else {
            sent();
            match plex.read(&located, deadline).await {
                Ok(item) => item,
                Err(e) => return failed(e),
            }
        };
        let pairs = plan(&job.edit, &item, options).changes(&item);
        if pairs.is_empty() {
            return SyncResult::Unchanged;
        }
        sent();
        return match plex.edit(&located, &pairs, deadline).await {
            Ok(()) => SyncResult::Updated { sent: pairs },
            Err(e) => failed(e),
        };
    }
    // Not in Plex: if a file lies in a folder Plex watches, Plex has not scanned it yet.
    let scan = job.files.iter().find_map(|file| {
        let section = sections.iter().find(|s| s.contains(file))?;
        Some(ScanTarget {
            section: section.key.clone(),
            folder: parent(file).to_owned(),
        })
    });
    let error = missing
        .unwrap_or_else(|| PlexError::new(FailureKind::NotFound, "", "the job names no file"));
    SyncResult::Failed { error, scan }
}

/// The edit the settings allow: only the fields enabled, and with `preserve_plex_edits`
/// none that is locked in Plex; locked when written if [`SyncOptions::locks_written`].
pub fn plan(edit: &MetadataEdit, item: &Item, options: &SyncOptions) -> MetadataEdit {
    let allowed = |field: Field| {
        options.fields.contains(&field) && !(options.preserve_plex_edits && item.is_locked(field))
    };
    let take_s = |field: Field, value: &Option<String>| value.clone().filter(|_| allowed(field));
    let take_v =
        |field: Field, value: &Option<Vec<String>>| value.clone().filter(|_| allowed(field));
    let mut planned = MetadataEdit {
        title: take_s(Field::Title, &edit.title),
        title_sort: take_s(Field::TitleSort, &edit.title_sort),
        summary: take_s(Field::Summary, &edit.summary),
        tagline: take_s(Field::Tagline, &edit.tagline),
        studio: take_s(Field::Studio, &edit.studio),
        originally_available_at: take_s(
            Field::OriginallyAvailableAt,
            &edit.originally_available_at,
        ),
        content_rating: take_s(Field::ContentRating, &edit.content_rating),
        genres: take_v(Field::Genres, &edit.genres),
        actors: take_v(Field::Actors, &edit.actors),
        collections: take_v(Field::Collections, &edit.collections),
        lock: Default::default(),
    };
    planned.lock = Field::ALL
        .into_iter()
        .filter(|field| allowed(*field) && (options.locks_written() || edit.lock.contains(field)))
        .collect();
    planned
}

/// The folder holding `file`.
fn parent(file: &str) -> &str {
    match file.rfind(['/', '\\']) {
        Some(0) => "/",
        Some(i) => &file[..i],
        None => file,
    }
}
