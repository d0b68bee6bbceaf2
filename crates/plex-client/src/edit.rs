//! A metadata edit, and the one PUT that applies the part of it that differs from Plex.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::Item;

/// A field plexsync can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `title`
    Title,
    /// `titleSort`
    TitleSort,
    /// `summary`
    Summary,
    /// `tagline`
    Tagline,
    /// `studio`
    Studio,
    /// `originallyAvailableAt`, `YYYY-MM-DD`
    OriginallyAvailableAt,
    /// `contentRating`
    ContentRating,
    /// `genre` tags
    Genres,
    /// `actor` tags (performers)
    Actors,
    /// `collection` tags
    Collections,
}

impl Field {
    /// Every field, in the order they are sent.
    pub const ALL: [Field; 10] = [
        Field::Title,
        Field::TitleSort,
        Field::Summary,
        Field::Tagline,
        Field::Studio,
        Field::OriginallyAvailableAt,
        Field::ContentRating,
        Field::Genres,
        Field::Actors,
        Field::Collections,
    ];

    /// The name Plex uses in edit requests.
    pub fn plex_name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::TitleSort => "titleSort",
            Field::Summary => "summary",
            Field::Tagline => "tagline",
            Field::Studio => "studio",
            Field::OriginallyAvailableAt => "originallyAvailableAt",
            Field::ContentRating => "contentRating",
            Field::Genres => "genre",
            Field::Actors => "actor",
            Field::Collections => "collection",
        }
    }
}

/// The metadata a sync wants Plex to show. `None` leaves a field as it is in Plex; for tags,
/// `Some(vec![])` clears them. Serializable, so that it can be the payload of a queued job;
/// every field may be left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetadataEdit {
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The title used for sorting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_sort: Option<String>,
    /// Summary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Tagline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    /// Studio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub studio: Option<String>,
    /// Release date, `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub originally_available_at: Option<String>,
    /// Content rating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_rating: Option<String>,
    /// Genres (Stash tags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genres: Option<Vec<String>>,
    /// Actors (Stash performers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actors: Option<Vec<String>>,
    /// Collections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collections: Option<Vec<String>>,
    /// Fields to lock when they are written, so Plex's agents do not overwrite them.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub lock: BTreeSet<Field>,
}

impl MetadataEdit {
    /// Checks that Plex can take every value: a release date that is a real `YYYY-MM-DD`
    /// date, and tag names (genres, actors, collections) that are not blank.
    ///
    /// ```
    /// use plex_client::MetadataEdit;
    /// let edit = MetadataEdit { originally_available_at: Some("2020-13-45".into()), ..Default::default() };
    /// assert!(edit.check().unwrap_err().contains("2020-13-45"));
    /// ```
    pub fn check(&self) -> Result<(), String> {
        if let Some(date) = &self.originally_available_at {
            if !is_date(date) {
                return Err(format!(
                    "the release date {date:?} is not a date: write it as YYYY-MM-DD, e.g. 2010-09-30"
                ));
            }
        }
        for (what, list) in [
            ("genre", &self.genres),
            ("actor", &self.actors),
            ("collection", &self.collections),
        ] {
            if list.iter().flatten().any(|name| name.trim().is_empty()) {
                return Err(format!("a {what} name is blank: leave it out, or name it"));
            }
        }
        Ok(())
    }

    /// The query pairs of the PUT that makes `current` match this edit, after `type` and `id`;
    /// empty when nothing differs. Only differing fields are sent, and locks on fields of
    /// the edit that Plex has not locked yet (so that its agents leave them alone even where
    /// the value already matched).
    pub fn changes(&self, current: &Item) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let scalars = [
            (Field::Title, &self.title, &current.title),
            (Field::TitleSort, &self.title_sort, &current.title_sort),
            (Field::Summary, &self.summary, &current.summary),
            (Field::Tagline, &self.tagline, &current.tagline),
            (Field::Studio, &self.studio, &current.studio),
            (
                Field::OriginallyAvailableAt,
                &self.originally_available_at,
                &current.originally_available_at,
            ),
            (
                Field::ContentRating,
                &self.content_rating,
                &current.content_rating,
            ),
        ];
        let lock = |field: Field| self.lock.contains(&field) && !current.is_locked(field);
        for (field, wanted, now) in scalars {
            let Some(wanted) = wanted else { continue };
            let same = now.as_deref().unwrap_or("") == wanted.as_str();
            let name = field.plex_name();
            if !same {
                pairs.push(([name, ".value"].concat(), wanted.clone()));
            }
            if lock(field) || (!same && self.lock.contains(&field)) {
                pairs.push(([name, ".locked"].concat(), "1".into()));
            }
        }
        let tag_fields = [
            (Field::Genres, &self.genres, &current.genres),
            (Field::Actors, &self.actors, &current.actors),
            (Field::Collections, &self.collections, &current.collections),
        ];
        for (field, wanted, now) in tag_fields {
            let Some(wanted) = wanted else { continue };
            let wanted_set: BTreeSet<&str> = wanted.iter().map(String::as_str).collect();
            let now_set: BTreeSet<&str> = now.iter().map(String::as_str).collect();
            let name = field.plex_name();
            if wanted_set == now_set {
                if lock(field) {
                    pairs.push(([name, ".locked"].concat(), "1".into()));
                }
                continue;
            }
            // Plex replaces the list with the one sent; tags to drop are named explicitly.
            for (i, tag) in wanted.iter().enumerate() {
                pairs.push((format!("{name}[{i}].tag.tag"), tag.clone()));
            }
            // Tags to drop go as one comma-separated value, each tag percent-encoded first (as
            // python-plexapi sends them), so a tag with a comma or a percent sign survives.
            let removed: Vec<String> = now_set
                .difference(&wanted_set)
                .map(|tag| encode_tag(tag))
                .collect();
            if !removed.is_empty() {
                pairs.push(([name, "[].tag.tag-"].concat(), removed.join(",")));
            }
            if self.lock.contains(&field) {
                pairs.push(([name, ".locked"].concat(), "1".into()));
            }
        }
        pairs
    }
}

/// What a Plex server makes of an edit's query pairs (as [`MetadataEdit::changes`] makes
/// them): each `field.value` sets a field, `field.locked` locks or unlocks it, a `tag[i]` list
/// replaces a tag list, a `tag[].tag.tag-` list (each tag percent-encoded) removes tags.
/// For fakes and simulations that must hold what a real server would.
pub fn apply_pairs(item: &mut Item, pairs: &[(String, String)]) {
    let mut replaced: BTreeMap<&str, BTreeMap<usize, String>> = BTreeMap::new();
    for (key, value) in pairs {
        if let Some(name) = key.strip_suffix(".value") {
            if let Some(slot) = scalar(item, name) {
                *slot = Some(value.clone());
            }
        } else if let Some(name) = key.strip_suffix(".locked") {
            item.locked.retain(|locked| locked != name);
            if value != "0" {
                item.locked.push(name.to_owned());
            }
        } else if let Some(name) = key.strip_suffix("[].tag.tag-") {
            let gone: Vec<String> = value.split(',').map(decode_tag).collect();
            if let Some(tags) = tag_list(item, name) {
                tags.retain(|tag| !gone.contains(tag));
            }
        } else if let Some((name, rest)) = key.split_once('[') {
            if let Some(index) = rest.strip_suffix("].tag.tag").and_then(|i| i.parse().ok()) {
                replaced
                    .entry(name)
                    .or_default()
                    .insert(index, value.clone());
            }
        }
    }
    for (name, tags) in replaced {
        if let Some(list) = tag_list(item, name) {
            *list = tags.into_values().collect();
        }
    }
}

fn scalar<'a>(item: &'a mut Item, name: &str) -> Option<&'a mut Option<String>> {
    Some(match name {
        "title" => &mut item.title,
        "titleSort" => &mut item.title_sort,
        "summary" => &mut item.summary,
        "tagline" => &mut item.tagline,
        "studio" => &mut item.studio,
        "originallyAvailableAt" => &mut item.originally_available_at,
        "contentRating" => &mut item.content_rating,
        _ => return None,
    })
}

fn tag_list<'a>(item: &'a mut Item, name: &str) -> Option<&'a mut Vec<String>> {
    Some(match name {
        "genre" => &mut item.genres,
        "actor" => &mut item.actors,
        "collection" => &mut item.collections,
        _ => return None,
    })
}

fn decode_tag(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |at: usize| {
            bytes
                .get(at)
                .and_then(|b| (*b as char).to_digit(16))
                .map(|d| d as u8)
        };
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push(hi * 16 + lo);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a tag as Python's `urllib.parse.quote` does with its default safe set:
/// everything but letters, digits, `_.-~` and `/`.
fn encode_tag(tag: &str) -> String {
    let mut out = String::with_capacity(tag.len());
    for b in tag.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `text` is a calendar date written `YYYY-MM-DD` (years 1000 to 9999).
pub fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &text[range];
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return false;
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    year >= 1000 && (1..=days).contains(&day)
}
