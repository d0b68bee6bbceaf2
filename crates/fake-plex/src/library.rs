//! The fake server's library: sections, whole items, what listings show of them, the edits
//! made to them, and files waiting for a scan.

use std::collections::BTreeMap;

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
    /// The item's rating key (one per item when `id=` lists several).
    pub rating_key: String,
    /// The query exactly as sent.
    pub raw_query: String,
    /// The query's pairs, decoded, in order.
    pub pairs: Vec<(String, String)>,
}

/// A scan or a metadata refresh someone asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// `GET /library/sections/{section}/refresh[?path=…]`: a scan of the section, or of one
    /// folder of it (a partial scan). `section` is `all` for every section.
    Scan {
        /// The section in the URL.
        section: String,
        /// The folder, for a partial scan.
        path: Option<String>,
    },
    /// `PUT /library/metadata/{rating_key}/refresh`: fetch an item's metadata again.
    Item {
        /// The item.
        rating_key: String,
    },
}

/// The tag lists of an item: the JSON key and the name edits and filters use.
const TAGS: [(&str, &str); 9] = [
    ("Genre", "genre"),
    ("Director", "director"),
    ("Writer", "writer"),
    ("Producer", "producer"),
    ("Country", "country"),
    ("Collection", "collection"),
    ("Role", "actor"),
    ("Label", "label"),
    ("Similar", "similar"),
];

/// How many tags of a list a section listing shows; lists not named here are not shown at
/// all, the rest in full. Real listings truncate: item 108 lists 2 of its 4 genres and 3 of
/// its 22 actors.
const LISTED: [(&str, usize); 7] = [
    ("Genre", 2),
    ("Director", 2),
    ("Writer", 2),
    ("Country", 2),
    ("Role", 3),
    ("Collection", usize::MAX),
    ("Label", usize::MAX),
];

/// Sections and items. Items are kept whole, in Plex's JSON shape; a listing shows them as
/// Plex's listings do, truncated.
#[derive(Clone, Debug)]
pub struct Library {
    pub(crate) sections: Vec<SectionSpec>,
    pub(crate) items: Vec<Map<String, Value>>,
    /// Items whose files are on disk but that Plex has not scanned yet.
    staged: Vec<Map<String, Value>>,
    /// Tag ids by (list, name), so that the same tag keeps its id.
    tag_ids: BTreeMap<(String, String), u64>,
    /// Where each item is in `items`, by rating key: a library of tens of thousands of items
    /// answers a lookup at once, as Plex's does.
    positions: std::collections::HashMap<String, usize>,
    /// Beside each item, what listings filter on first; edits never change it.
    summaries: Vec<Summary>,
    next_key: u64,
}

/// An item's section, type and files, kept beside it so that a listing need not dig them
/// out of the JSON of every item.
#[derive(Clone, Debug)]
pub(crate) struct Summary {
    section: String,
    kind: String,
    files: Vec<String>,
}

impl Summary {
    fn of(item: &Map<String, Value>) -> Summary {
        Summary {
            section: item
                .get("librarySectionID")
                .map(value_text)
                .unwrap_or_default(),
            kind: item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            files: files_of(item).map(String::from).collect(),
        }
    }

    /// Whether any of its files contains `text` (Plex's loose `file=` filter).
    pub(crate) fn has_file_containing(&self, text: &str) -> bool {
        self.files.iter().any(|f| f.contains(text))
    }
}

impl Library {
    /// An empty library.
    pub fn new() -> Library {
        Library {
            sections: Vec::new(),
            items: Vec::new(),
            staged: Vec::new(),
            tag_ids: BTreeMap::new(),
            positions: std::collections::HashMap::new(),
            summaries: Vec::new(),
            next_key: 1_000,
        }
    }

    /// The captured library: a "Movies" section at `/data/Movies` (4 movies, Interstate 60
    /// whole as captured) and a "TV Shows" section at `/data/TV-Shows` (2 shows, a season of
    /// The 100 and 3 of its episodes).
    pub fn demo() -> Library {
        let mut library = Library::new();
        library.add_section("1", "movie", "Movies", &["/data/Movies"]);
        library.add_section("2", "show", "TV Shows", &["/data/TV-Shows"]);
        let whole_108 = &captured(include_str!("../data/metadata_108.json"))[0];
        for movie in captured(include_str!("../data/movie_library.json")) {
            let whole = if movie.get("ratingKey") == whole_108.get("ratingKey") {
                whole_108.clone()
            } else {
                movie
            };
            library.add_item("1", whole);
        }
        for show in captured(include_str!("../data/tv_library.json")) {
            library.add_item("2", show);
        }
        let episodes = captured(include_str!("../data/tv_episodes.json"));
        if let Some(first) = episodes.first() {
            let season = first
                .get("parentRatingKey")
                .map(value_text)
                .unwrap_or_default();
            library.add_item(
                "2",
                object(json!({
                    "ratingKey": season, "key": format!("/library/metadata/{season}/children"),
                    "type": "season", "title": first.get("parentTitle").cloned().unwrap_or(json!("Season 1")),
                    "index": first.get("parentIndex").cloned().unwrap_or(json!(1)),
                    "parentRatingKey": first.get("grandparentRatingKey").map(value_text),
                    "parentKey": first.get("grandparentKey").cloned(),
                    "parentTitle": first.get("grandparentTitle").cloned(),
                    "leafCount": episodes.len(), "viewedLeafCount": 0,
                    "addedAt": 1_579_514_154u64, "updatedAt": 1_579_514_245u64
                })),
            );
        }
        for episode in episodes {
            library.add_item("2", episode);
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

    /// Adds an item in Plex's JSON shape to section `section`. It is kept whole: every tag
    /// gets an id and a filter, every file its streams.
    pub fn add_item(&mut self, section: &str, item: Map<String, Value>) {
        let item = self.whole(section, item);
        self.insert(item);
    }

    fn insert(&mut self, item: Map<String, Value>) {
        self.positions
            .insert(rating_key_of(&item), self.items.len());
        self.summaries.push(Summary::of(&item));
        self.items.push(item);
    }

    /// Adds a movie with one file, and returns its rating key.
    pub fn add_movie(&mut self, section: &str, title: &str, file: &str) -> String {
        let (key, item) = self.new_movie(title, file);
        self.add_item(section, item);
        key
    }

    /// A movie whose file is on disk but that Plex has not scanned yet: it appears when a scan
    /// of its section, or of a folder holding its file, is asked for. Returns its rating key.
    pub fn stage_movie(&mut self, section: &str, title: &str, file: &str) -> String {
        let (key, item) = self.new_movie(title, file);
        let item = self.whole(section, item);
        self.staged.push(item);
        key
    }

    /// The item with `rating_key`, whole, as `GET /library/metadata/{rating_key}` serves it.
    pub fn item(&self, rating_key: &str) -> Option<&Map<String, Value>> {
        self.positions.get(rating_key).map(|&i| &self.items[i])
    }

    fn new_movie(&mut self, title: &str, file: &str) -> (String, Map<String, Value>) {
        let key = self.next_key.to_string();
        self.next_key += 1;
        let item = object(json!({
            "ratingKey": key, "key": format!("/library/metadata/{key}"), "type": "movie",
            "title": title, "summary": "", "addedAt": 1_700_000_000u64,
            "Media": [{"id": self.next_key, "Part": [{"id": self.next_key, "file": file}]}]
        }));
        (key, item)
    }

    fn item_mut(&mut self, rating_key: &str) -> Option<&mut Map<String, Value>> {
        let i = *self.positions.get(rating_key)?;
        Some(&mut self.items[i])
    }

    /// The id of tag `name` in list `list` (`Genre`, `Role`, …), the same every time.
    fn tag_id(&mut self, list: &str, name: &str) -> u64 {
        let next = 10_000 + self.tag_ids.len() as u64;
        *self
            .tag_ids
            .entry((list.to_owned(), name.to_owned()))
            .or_insert(next)
    }

    /// `item` as Plex holds it: in `section`, tags with ids and filters, files with streams.
    fn whole(&mut self, section: &str, mut item: Map<String, Value>) -> Map<String, Value> {
        item.insert(
            "librarySectionID".into(),
            json!(section.parse::<u64>().unwrap_or(0)),
        );
        for (list, filter) in TAGS {
            let Some(Value::Array(tags)) = item.get(list).cloned() else {
                continue;
            };
            let tags: Vec<Value> = tags
                .into_iter()
                .filter_map(|tag| {
                    let mut tag = match tag {
                        Value::Object(tag) => tag,
                        _ => return None,
                    };
                    let name = tag.get("tag").map(value_text)?;
                    let id = match tag.get("id").and_then(Value::as_u64) {
                        Some(id) => {
                            self.tag_ids.insert((list.to_owned(), name), id);
                            id
                        }
                        None => self.tag_id(list, &name),
                    };
                    tag.insert("id".into(), json!(id));
                    tag.insert("filter".into(), json!(format!("{filter}={id}")));
                    Some(Value::Object(tag))
                })
                .collect();
            item.insert(list.into(), Value::Array(tags));
        }
        if let Some(Value::Array(media)) = item.get_mut("Media") {
            for part in media
                .iter_mut()
                .filter_map(|m| m.get_mut("Part"))
                .filter_map(Value::as_array_mut)
                .flatten()
            {
                if let Value::Object(part) = part {
                    part.entry("Stream").or_insert_with(|| {
                        json!([
                            {"id": 1, "streamType": 1, "codec": "h264", "index": 0, "displayTitle": "1080p (H.264)"},
                            {"id": 2, "streamType": 2, "codec": "aac", "index": 1, "selected": true, "displayTitle": "English (AAC Stereo)"}
                        ])
                    });
                }
            }
        }
        item
    }

    /// Edits one item as a person does in Plex's own interface (which locks what it changes,
    /// given `field.locked=1`), with the same pairs an edit request carries; `false` if there
    /// is no such item.
    pub fn edit(&mut self, rating_key: &str, pairs: &[(&str, &str)]) -> bool {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.apply(rating_key, &pairs)
    }

    /// Applies an edit's query pairs to one item as Plex does: `field.value` sets a field,
    /// `field.locked` (1 or 0) locks or unlocks it, `tag[i].tag.tag` replaces a tag list (in
    /// the order of `i`, not of the query), `tag[].tag.tag-` removes tags (a comma-separated
    /// list, each percent-encoded once more, as python-plexapi sends them). Returns `false` if
    /// there is no such item.
    pub(crate) fn apply(&mut self, rating_key: &str, pairs: &[(String, String)]) -> bool {
        let mut replaced: BTreeMap<String, BTreeMap<u64, String>> = BTreeMap::new();
        let mut removed: Vec<(String, Vec<String>)> = Vec::new();
        let mut locks: Vec<(String, bool)> = Vec::new();
        let mut values: Vec<(String, String)> = Vec::new();
        for (key, value) in pairs {
            if let Some(field) = key.strip_suffix(".value") {
                values.push((field.into(), value.clone()));
            } else if let Some(field) = key.strip_suffix(".locked") {
                locks.push((field.into(), value != "0"));
            } else if let Some(tag) = key.strip_suffix("[].tag.tag-") {
                let gone = value.split(',').map(percent_decode).collect();
                removed.push((tag.into(), gone));
            } else if let Some((tag, rest)) = key.split_once('[') {
                if let Some(index) = rest.strip_suffix("].tag.tag") {
                    let index = index.parse().unwrap_or(u64::MAX);
                    replaced
                        .entry(tag.into())
                        .or_default()
                        .insert(index, value.clone());
                }
            }
        }
        let mut ids = Vec::new();
        for (tag, list) in &replaced {
            let json_key = tag_key(tag);
            for name in list.values() {
                ids.push((json_key.clone(), name.clone(), self.tag_id(&json_key, name)));
            }
        }
        let Some(item) = self.item_mut(rating_key) else {
            return false;
        };
        for (field, value) in values {
            item.insert(field, Value::String(value));
        }
        for (tag, _) in replaced {
            let json_key = tag_key(&tag);
            let filter = TAGS
                .iter()
                .find(|(list, _)| *list == json_key)
                .map_or(tag.as_str(), |(_, f)| f);
            let tags: Vec<Value> = ids
                .iter()
                .filter(|(list, _, _)| *list == json_key)
                .map(|(_, name, id)| json!({"id": id, "filter": format!("{filter}={id}"), "tag": name}))
                .collect();
            item.insert(json_key, Value::Array(tags));
        }
        for (tag, gone) in removed {
            if let Some(Value::Array(tags)) = item.get_mut(&tag_key(&tag)) {
                tags.retain(|t| {
                    let name = t.get("tag").and_then(Value::as_str);
                    !gone.iter().any(|g| name == Some(g.as_str()))
                });
            }
        }
        if !locks.is_empty() {
            let fields = item
                .entry("Field")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(fields) = fields {
                for (name, locked) in locks {
                    fields.retain(|f| f.get("name").and_then(Value::as_str) != Some(&name));
                    if locked {
                        fields.push(json!({"locked": true, "name": name}));
                    }
                }
            }
        }
        true
    }

    /// A scan of `section` (every section for `all`), or of the folder `path` in it: staged
    /// items whose files it covers join the library. Returns how many did.
    pub(crate) fn scan(&mut self, section: &str, path: Option<&str>) -> usize {
        let covered = |item: &Map<String, Value>| {
            let in_section = section == "all"
                || item.get("librarySectionID").map(value_text).as_deref() == Some(section);
            in_section
                && path.is_none_or(|folder| {
                    let folder = folder.trim_end_matches('/');
                    files_of(item).any(|f| {
                        f.strip_prefix(folder)
                            .is_some_and(|rest| rest.starts_with('/'))
                    })
                })
        };
        let (found, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.staged)
            .into_iter()
            .partition(covered);
        self.staged = waiting;
        let count = found.len();
        for item in found {
            self.insert(item);
        }
        count
    }

    /// The items of `section` (every section for `None`) of `kind`, as listings show them,
    /// each with its summary.
    pub(crate) fn listed<'a>(
        &'a self,
        section: Option<&'a str>,
        kind: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Summary, &'a Map<String, Value>)> + 'a {
        self.summaries
            .iter()
            .zip(&self.items)
            .filter(move |(s, _)| {
                section.is_none_or(|key| s.section == key) && kind.is_none_or(|k| s.kind == k)
            })
    }

    /// The children of `rating_key`: a show's seasons, a season's episodes.
    pub(crate) fn children(&self, rating_key: &str) -> Vec<&Map<String, Value>> {
        self.items
            .iter()
            .filter(|i| i.get("parentRatingKey").map(value_text).as_deref() == Some(rating_key))
            .collect()
    }

    /// Every episode under `rating_key` (a show or a season).
    pub(crate) fn leaves(&self, rating_key: &str) -> Vec<&Map<String, Value>> {
        self.items
            .iter()
            .filter(|i| {
                i.get("type").and_then(Value::as_str) == Some("episode")
                    && ["parentRatingKey", "grandparentRatingKey"]
                        .iter()
                        .any(|k| i.get(*k).map(value_text).as_deref() == Some(rating_key))
            })
            .collect()
    }
}

impl Default for Library {
    fn default() -> Self {
        Library::new()
    }
}

/// What a section listing shows of a whole item: some tags of some lists, tags without ids,
/// files without streams, no locks.
pub(crate) fn listing(item: &Map<String, Value>) -> Map<String, Value> {
    let mut shown = Map::new();
    for (key, value) in item {
        match (key.as_str(), value) {
            ("Field", _) => {}
            ("Media", Value::Array(media)) => {
                let mut media = media.clone();
                for part in media
                    .iter_mut()
                    .filter_map(|m| m.get_mut("Part"))
                    .filter_map(Value::as_array_mut)
                    .flatten()
                {
                    if let Value::Object(part) = part {
                        part.remove("Stream");
                    }
                }
                shown.insert(key.clone(), Value::Array(media));
            }
            (list, Value::Array(tags)) if TAGS.iter().any(|(l, _)| *l == list) => {
                let Some((_, limit)) = LISTED.iter().find(|(l, _)| *l == list) else {
                    continue;
                };
                let tags: Vec<Value> = tags
                    .iter()
                    .take(*limit)
                    .filter_map(|t| t.get("tag").map(|name| json!({"tag": name})))
                    .collect();
                shown.insert(key.clone(), Value::Array(tags));
            }
            _ => {
                shown.insert(key.clone(), value.clone());
            }
        }
    }
    shown
}

/// Whether `item` passes every filter: `title`, `titleSort`, `studio`, `summary`,
/// `contentRating` contain the value (`==` for equal), ignoring case; `year` and
/// `originallyAvailableAt` are equal; `file` is contained in a file's path; a tag list (`genre`,
/// `actor`, …) holds a tag with that id or name. A name ending in `!` negates. `None` if a
/// filter is one the fake does not know.
pub(crate) fn passes(
    summary: &Summary,
    item: &Map<String, Value>,
    filters: &[(String, String)],
) -> Option<bool> {
    for (name, value) in filters {
        let (name, negate) = match name.strip_suffix('!') {
            Some(name) => (name, true),
            None => (name.as_str(), false),
        };
        let (value, exact) = match value.strip_prefix('=') {
            Some(value) => (value, true),
            None => (value.as_str(), false),
        };
        let wanted = value.to_lowercase();
        let text_matches = |text: &str| {
            let text = text.to_lowercase();
            if exact {
                text == wanted
            } else {
                text.contains(&wanted)
            }
        };
        let matched = match name {
            "title" | "titleSort" | "studio" | "summary" | "contentRating" => item
                .get(name)
                .map(value_text)
                .is_some_and(|t| text_matches(&t)),
            "year" | "originallyAvailableAt" => {
                item.get(name).map(value_text).is_some_and(|t| t == value)
            }
            "file" => summary.has_file_containing(value),
            tag => {
                let (list, _) = TAGS.iter().find(|(_, filter)| *filter == tag)?;
                item.get(*list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|t| {
                        t.get("id").map(value_text).as_deref() == Some(value)
                            || t.get("tag")
                                .and_then(Value::as_str)
                                .is_some_and(|n| n.to_lowercase() == wanted)
                    })
            }
        };
        if matched == negate {
            return Some(false);
        }
    }
    Some(true)
}

pub(crate) fn files_of(item: &Map<String, Value>) -> impl Iterator<Item = &str> {
    item.get("Media")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("Part").and_then(Value::as_array))
        .flatten()
        .filter_map(|p| p.get("file").and_then(Value::as_str))
}

fn rating_key_of(item: &Map<String, Value>) -> String {
    item.get("ratingKey").map(value_text).unwrap_or_default()
}

/// The JSON key Plex uses for a tag list named in an edit.
fn tag_key(tag: &str) -> String {
    match TAGS.iter().find(|(_, filter)| *filter == tag) {
        Some((list, _)) => (*list).to_owned(),
        None => {
            let mut chars = tag.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        }
    }
}

/// Decodes `%XX` escapes; anything else is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|b| hex(*b)),
                bytes.get(i + 2).and_then(|b| hex(*b)),
            ) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The items of a captured response.
fn captured(text: &str) -> Vec<Map<String, Value>> {
    let parsed: Value = serde_json::from_str(text).expect("bundled fixtures are JSON");
    parsed["MediaContainer"]["Metadata"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i.as_object().cloned())
        .collect()
}

pub(crate) fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A scalar as text, as a query string would carry it.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
