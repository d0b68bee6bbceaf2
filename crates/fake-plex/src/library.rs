//! The fake server's library: sections, items with files, and the edits made to them.

use serde_json::{Map, Value, json};

/// A library section and the folders it scans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionSpec {
    /// Its id.
    pub key: String,
    /// `movie` or `show`.
    pub kind: String,
    /// Its name.
    pub title: String,
    /// Folders.
    pub locations: Vec<String>,
}

/// An edit as Plex received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEdit {
    /// The section in the URL.
    pub section: String,
    /// The item's rating key (`id=`).
    pub rating_key: String,
    /// The query exactly as sent.
    pub raw_query: String,
    /// The query's pairs, decoded, in order.
    pub pairs: Vec<(String, String)>,
}

/// Sections and items. Items are kept in Plex's JSON shape, so what is served is what a real
/// server would send.
#[derive(Clone, Debug)]
pub struct Library {
    pub(crate) sections: Vec<SectionSpec>,
    pub(crate) items: Vec<Map<String, Value>>,
}

impl Library {
    /// An empty library.
    pub fn new() -> Library {
        Library {
            sections: Vec::new(),
            items: Vec::new(),
        }
    }

    /// The captured movies and episodes: a "Movies" section at `/data/Movies` (4 movies) and a
    /// "TV Shows" section at `/data/TV-Shows` (3 episodes).
    pub fn demo() -> Library {
        let mut library = Library::new();
        library.add_section("1", "movie", "Movies", &["/data/Movies"]);
        library.add_section("2", "show", "TV Shows", &["/data/TV-Shows"]);
        for (file, section) in [
            (include_str!("../data/movie_library.json"), "1"),
            (include_str!("../data/tv_episodes.json"), "2"),
        ] {
            let parsed: Value = serde_json::from_str(file).expect("bundled fixtures are JSON");
            let items = parsed["MediaContainer"]["Metadata"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for item in items {
                if let Value::Object(item) = item {
                    library.add_item(section, item);
                }
            }
        }
        library
    }

    /// Adds a section.
    pub fn add_section(&mut self, key: &str, kind: &str, title: &str, locations: &[&str]) {
        self.sections.push(SectionSpec {
            key: key.into(),
            kind: kind.into(),
            title: title.into(),
            locations: locations.iter().map(|s| (*s).into()).collect(),
        });
    }

    /// Adds an item in Plex's JSON shape to section `section`.
    pub fn add_item(&mut self, section: &str, mut item: Map<String, Value>) {
        item.insert(
            "librarySectionID".into(),
            json!(section.parse::<u64>().unwrap_or(0)),
        );
        self.items.push(item);
    }

    /// Adds a movie with one file, and returns its rating key.
    pub fn add_movie(&mut self, section: &str, title: &str, file: &str) -> String {
        let key = (self.items.len() as u64 + 1_000).to_string();
        let item = json!({
            "ratingKey": key, "key": format!("/library/metadata/{key}"), "type": "movie",
            "title": title, "summary": "", "addedAt": 1_700_000_000u64,
            "Media": [{"id": 1, "Part": [{"id": 1, "file": file}]}]
        });
        if let Value::Object(item) = item {
            self.add_item(section, item);
        }
        key
    }

    /// The item with `rating_key`, as served.
    pub fn item(&self, rating_key: &str) -> Option<&Map<String, Value>> {
        self.items
            .iter()
            .find(|i| i.get("ratingKey").and_then(Value::as_str) == Some(rating_key))
    }

    pub(crate) fn item_mut(&mut self, rating_key: &str) -> Option<&mut Map<String, Value>> {
        self.items
            .iter_mut()
            .find(|i| i.get("ratingKey").and_then(Value::as_str) == Some(rating_key))
    }

    pub(crate) fn in_section<'a>(
        &'a self,
        section: &'a str,
        kind: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Map<String, Value>> + 'a {
        self.items.iter().filter(move |i| {
            i.get("librarySectionID").map(value_text).as_deref() == Some(section)
                && kind.is_none_or(|k| i.get("type").and_then(Value::as_str) == Some(k))
        })
    }

    /// Applies an edit's query pairs to an item as Plex does: `field.value`, `field.locked`,
    /// `tag[i].tag.tag` replacing the list, `tag[].tag.tag-` removing from it. Returns
    /// `false` if there is no such item.
    pub(crate) fn apply(&mut self, rating_key: &str, pairs: &[(String, String)]) -> bool {
        let Some(item) = self.item_mut(rating_key) else {
            return false;
        };
        let mut replaced: Vec<(String, Vec<String>)> = Vec::new();
        let mut removed: Vec<(String, Vec<String>)> = Vec::new();
        let mut locked: Vec<String> = Vec::new();
        for (key, value) in pairs {
            if let Some(field) = key.strip_suffix(".value") {
                item.insert(field.into(), Value::String(value.clone()));
            } else if let Some(field) = key.strip_suffix(".locked") {
                if value == "1" {
                    locked.push(field.into());
                }
            } else if let Some(tag) = key.strip_suffix("[].tag.tag-") {
                removed.push((tag.into(), value.split(',').map(String::from).collect()));
            } else if let Some((tag, _)) = key.split_once('[') {
                if key.ends_with("].tag.tag") {
                    match replaced.iter_mut().find(|(t, _)| t == tag) {
                        Some((_, list)) => list.push(value.clone()),
                        None => replaced.push((tag.into(), vec![value.clone()])),
                    }
                }
            }
        }
        for (tag, list) in replaced {
            let tags: Vec<Value> = list.into_iter().map(|t| json!({"tag": t})).collect();
            item.insert(tag_key(&tag), Value::Array(tags));
        }
        for (tag, gone) in removed {
            if let Some(Value::Array(tags)) = item.get_mut(&tag_key(&tag)) {
                tags.retain(|t| {
                    !gone
                        .iter()
                        .any(|g| t.get("tag").and_then(Value::as_str) == Some(g))
                });
            }
        }
        if !locked.is_empty() {
            let fields = item
                .entry("Field")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(fields) = fields {
                for name in locked {
                    fields.retain(|f| f.get("name").and_then(Value::as_str) != Some(&name));
                    fields.push(json!({"locked": true, "name": name}));
                }
            }
        }
        true
    }
}

impl Default for Library {
    fn default() -> Self {
        Library::new()
    }
}

/// The JSON key Plex uses for a tag list named in an edit.
fn tag_key(tag: &str) -> String {
    match tag {
        "actor" => "Role".into(),
        other => {
            let mut chars = other.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
    }
}

/// A scalar as text, as a query string would carry it.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
