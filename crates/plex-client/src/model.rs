//! Plex's JSON, read leniently: only the fields plexsync uses, each optional, so that a field
//! Plex adds, drops or retypes does not break a sync.

use serde::{Deserialize, Deserializer, Serialize};

use crate::edit::Field;

#[derive(Deserialize)]
pub(crate) struct Envelope<T> {
    #[serde(rename = "MediaContainer")]
    pub(crate) container: T,
}

/// What `/identity` says about the server. Read from Plex's names; serialized as
/// `{"machine_id", "version", "claimed"}`, which reads back too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The server's unique id.
    #[serde(rename(deserialize = "machineIdentifier"), alias = "machine_id")]
    pub machine_id: String,
    /// The Plex Media Server version.
    pub version: String,
    /// Whether the server is claimed by a Plex account.
    #[serde(default, deserialize_with = "flag")]
    pub claimed: bool,
}

/// What `/` says about the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The name the server's owner gave it.
    #[serde(rename(deserialize = "friendlyName"), alias = "name", default)]
    pub name: String,
    /// The Plex Media Server version.
    #[serde(default)]
    pub version: String,
    /// The platform it runs on.
    #[serde(default)]
    pub platform: String,
}

#[derive(Deserialize)]
pub(crate) struct SectionList {
    #[serde(rename = "Directory", default)]
    pub(crate) directories: Vec<Section>,
}

/// A library section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Section {
    /// Its id, as used in URLs.
    #[serde(deserialize_with = "string_or_number")]
    pub key: String,
    /// `movie`, `show`, `artist`, `photo`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    #[serde(default)]
    pub title: String,
    /// The folders it scans.
    #[serde(rename = "Location", default)]
    pub locations: Vec<Location>,
    /// The scanner that reads its folders, e.g. `Plex Movie`.
    #[serde(default)]
    pub scanner: String,
}

/// A folder a section scans.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Location {
    /// The folder's path on the Plex server.
    pub path: String,
}

impl Section {
    /// The item type number for the videos in this section (movie 1, episode 4), if any.
    pub fn video_type(&self) -> Option<u8> {
        match self.kind.as_str() {
            "movie" => Some(1),
            "show" => Some(4),
            _ => None,
        }
    }

    /// Whether `file` lies in one of this section's folders.
    pub fn contains(&self, file: &str) -> bool {
        self.locations.iter().any(|l| {
            let folder = l.path.trim_end_matches(['/', '\\']);
            !folder.is_empty()
                && file.len() > folder.len()
                && file.starts_with(folder)
                && matches!(file.as_bytes()[folder.len()], b'/' | b'\\')
        })
    }
}

#[derive(Deserialize)]
pub(crate) struct ItemList {
    #[serde(rename = "Metadata", default)]
    pub(crate) items: Vec<Item>,
    #[serde(rename = "totalSize", default)]
    pub(crate) total_size: Option<u64>,
}

/// One library item (a movie or an episode), as much of it as a sync reads or writes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// The item's id.
    #[serde(deserialize_with = "string_or_number")]
    pub rating_key: String,
    /// `movie`, `episode`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The section it belongs to, when Plex says.
    #[serde(
        rename = "librarySectionID",
        default,
        deserialize_with = "optional_string_or_number"
    )]
    pub section_id: Option<String>,
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// The title used for sorting.
    #[serde(default)]
    pub title_sort: Option<String>,
    /// Summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Tagline.
    #[serde(default)]
    pub tagline: Option<String>,
    /// Studio.
    #[serde(default)]
    pub studio: Option<String>,
    /// Release date, `YYYY-MM-DD`.
    #[serde(default)]
    pub originally_available_at: Option<String>,
    /// Content rating, e.g. `R`.
    #[serde(default)]
    pub content_rating: Option<String>,
    /// Genres.
    #[serde(rename = "Genre", default, deserialize_with = "tags")]
    pub genres: Vec<String>,
    /// Actors (Plex calls them roles).
    #[serde(rename = "Role", default, deserialize_with = "tags")]
    pub actors: Vec<String>,
    /// Collections.
    #[serde(rename = "Collection", default, deserialize_with = "tags")]
    pub collections: Vec<String>,
    /// Media versions and their files.
    #[serde(rename = "Media", default)]
    pub media: Vec<Media>,
    /// The names of the fields locked in Plex (edited by hand, or by a tool that locked
    /// them), as Plex names them: `title`, `genre`, … Only a whole item
    /// ([`PlexClient::item`](crate::PlexClient::item)) carries them; a listing does not.
    #[serde(rename = "Field", default, deserialize_with = "locks")]
    pub locked: Vec<String>,
}

/// One version of an item.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Media {
    /// Its files.
    #[serde(rename = "Part", default)]
    pub parts: Vec<Part>,
}

/// One file of a media version.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Part {
    /// The file's path on the Plex server.
    #[serde(default)]
    pub file: Option<String>,
}

impl Item {
    /// Every file path of every version.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.media
            .iter()
            .flat_map(|m| &m.parts)
            .filter_map(|p| p.file.as_deref())
    }

    /// Whether `field` is locked in Plex.
    pub fn is_locked(&self, field: Field) -> bool {
        self.locked.iter().any(|name| name == field.plex_name())
    }

    /// The item type number used in edit requests (movie 1, show 2, season 3, episode 4).
    pub fn type_number(&self) -> Option<u8> {
        match self.kind.as_str() {
            "movie" => Some(1),
            "show" => Some(2),
            "season" => Some(3),
            "episode" => Some(4),
            _ => None,
        }
    }
}

fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Tag {
        tag: String,
    }
    let tags: Option<Vec<Tag>> = Option::deserialize(d)?;
    Ok(tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.tag)
        .collect())
}

fn locks<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    struct Lock {
        name: String,
        #[serde(default, deserialize_with = "flag")]
        locked: bool,
    }
    let fields: Option<Vec<Lock>> = Option::deserialize(d)?;
    Ok(fields
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f.locked)
        .map(|f| f.name)
        .collect())
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match StringOrNumber::deserialize(d)? {
        StringOrNumber::String(s) => s,
        StringOrNumber::Number(n) => n.to_string(),
    })
}

fn optional_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(d)?.map(|v| match v {
        StringOrNumber::String(s) => s,
        StringOrNumber::Number(n) => n.to_string(),
    }))
}

/// Plex writes flags as `true`, `1` or `"1"`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Number(i64),
        String(String),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        None => false,
        Some(Flag::Bool(b)) => b,
        Some(Flag::Number(n)) => n != 0,
        Some(Flag::String(s)) => matches!(s.as_str(), "1" | "true"),
    })
}
