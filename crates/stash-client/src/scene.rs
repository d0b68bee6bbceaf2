//! The scene fields plexsync reads.

use serde::Deserialize;

/// A scene, as the `SCENE_FIELDS` selection returns it. Missing fields read as empty.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Scene {
    /// Stash's id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// Stash's `details`: the summary.
    pub details: Option<String>,
    /// Release date, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// When the scene last changed (RFC 3339).
    pub updated_at: Option<String>,
    /// Its files, as Stash sees them.
    pub files: Vec<File>,
    /// Its studio.
    pub studio: Option<Studio>,
    /// Its performers.
    pub performers: Vec<Named>,
    /// Its tags.
    pub tags: Vec<Named>,
}

/// A scene's file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct File {
    /// Its path, as Stash sees it.
    pub path: String,
}

/// A studio.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Studio {
    /// Its name.
    pub name: String,
}

/// A performer or a tag.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Named {
    /// Its name.
    pub name: String,
}

/// The GraphQL selection that fills a [`Scene`].
pub(crate) const SCENE_FIELDS: &str = "id title details date updated_at files { path } studio { name } performers { name } tags { name }";
