//! A sync job: what one edit in Stash asks of Plex. It is the queue's payload, and carries no
//! secret.

use plex_client::MetadataEdit;
use serde::{Deserialize, Serialize};

/// The longest scene id accepted (the queue key adds a prefix).
const MAX_SCENE_ID: usize = 200;

/// Make Plex show `edit` for the item whose file is one of `files`.
///
/// ```
/// use engine::SyncJob;
/// let job: SyncJob = serde_json::from_str(r#"{
///     "scene_id": "42",
///     "files": ["/data/Movies/Sintel (2010).mkv"],
///     "edit": {"title": "Sintel", "studio": "Blender"},
///     "edited_at": 1700000000000
/// }"#)?;
/// job.check()?;
/// assert_eq!(job.key(), "scene-42");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncJob {
    /// The Stash scene: a later edit of the same scene supersedes a queued one.
    pub scene_id: String,
    /// The scene's files, as Plex sees them; the first one Plex has is used.
    pub files: Vec<String>,
    /// What Plex should show.
    pub edit: MetadataEdit,
    /// When the scene was edited (milliseconds since the epoch).
    pub edited_at: u64,
}

/// A job that cannot be queued; the message says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidJob(String);

impl SyncJob {
    /// The queue's dedupe key.
    pub fn key(&self) -> String {
        ["scene-", &self.scene_id].concat()
    }

    /// Checks that the job can be worked on: a scene id, at least one absolute file path, and
    /// values Plex can take ([`MetadataEdit::check`]).
    pub fn check(&self) -> Result<(), InvalidJob> {
        let id = self.scene_id.trim();
        if id.is_empty() || id.len() > MAX_SCENE_ID || id.chars().any(char::is_control) {
            return Err(InvalidJob(format!(
                "the scene id must be 1 to {MAX_SCENE_ID} printable characters"
            )));
        }
        if self.files.is_empty() {
            return Err(InvalidJob(
                "the job names no file: give the scene's file path as Plex sees it".into(),
            ));
        }
        for file in &self.files {
            if !(file.starts_with('/') || file.as_bytes().get(1) == Some(&b':')) {
                return Err(InvalidJob(format!(
                    "{file:?} is not an absolute path: give the file's full path as Plex sees it"
                )));
            }
        }
        self.edit.check().map_err(InvalidJob)
    }
}
