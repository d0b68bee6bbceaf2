//! The plugin's settings, and the sync job a scene becomes.

use engine::SyncJob;
use plex_client::MetadataEdit;
use serde_json::{Map, Value};
use stash_client::{Named, Scene};

/// The settings plexsync.yml declares, with their Stash types and the names Stash shows: the
/// keys [`PluginSettings`] reads.
pub(crate) const SETTINGS: &[(&str, &str, &str)] = &[
    ("plex_url", "STRING", "Plex URL"),
    ("plex_token", "STRING", "Plex token"),
    ("path_map", "STRING", "Path map"),
    ("collection_from_studio", "BOOLEAN", "Studio as collection"),
    ("preserve_plex_edits", "BOOLEAN", "Keep edits made in Plex"),
    ("auto_process", "BOOLEAN", "Sync by itself"),
    ("data_dir", "STRING", "Data folder"),
];

/// Where a user changes the setting `key` in Stash, e.g. "Settings → Plugins → plexsync →
/// Path map".
pub(crate) fn where_to_set(key: &str) -> String {
    let shown = SETTINGS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(key, |(_, _, shown)| *shown);
    format!("Settings → Plugins → plexsync → {shown}")
}

/// The plugin's settings as saved in Stash (only saved values come back: the rest are `None`).
#[derive(Debug, Default)]
pub(crate) struct PluginSettings {
    pub(crate) plex_url: Option<String>,
    pub(crate) plex_token: Option<String>,
    pub(crate) data_dir: Option<String>,
    pub(crate) path_map: PathMap,
    pub(crate) collection_from_studio: bool,
    pub(crate) preserve_plex_edits: Option<bool>,
    /// Queue a Process Queue run in Stash after a hook queued a job (on unless turned off).
    pub(crate) auto_process: bool,
}

impl PluginSettings {
    /// Reads the settings map; an unusable value is an error that names the setting.
    pub(crate) fn from_map(map: &Map<String, Value>) -> Result<PluginSettings, String> {
        for key in map.keys() {
            if !SETTINGS.iter().any(|(known, _, _)| known == key) {
                // A setting saved by another version of plexsync.yml.
                tracing::warn!(
                    "ignoring the plexsync setting {key}, which this plexsync does not know"
                );
            }
        }
        let text = |key: &str| match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            _ => None,
        };
        let flag = |key: &str| -> Result<Option<bool>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
                Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s.is_empty() => {
                    Ok(Some(false))
                }
                Some(other) => Err(format!(
                    "the plexsync setting {} must be on or off, not {other}",
                    where_to_set(key)
                )),
            }
        };
        Ok(PluginSettings {
            plex_url: text("plex_url"),
            plex_token: text("plex_token"),
            data_dir: text("data_dir"),
            path_map: PathMap::parse(text("path_map").as_deref().unwrap_or(""))?,
            collection_from_studio: flag("collection_from_studio")?.unwrap_or(false),
            preserve_plex_edits: flag("preserve_plex_edits")?,
            auto_process: flag("auto_process")?.unwrap_or(true),
        })
    }
}

/// Where Stash's files are in Plex: prefix pairs such as `/data/ => /media/`, longest first.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct PathMap(Vec<(String, String)>);

impl PathMap {
    /// Reads `FROM => TO` pairs separated by `;` or new lines.
    pub(crate) fn parse(text: &str) -> Result<PathMap, String> {
        let mut pairs = Vec::new();
        for entry in text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            let Some((from, to)) = entry.split_once("=>") else {
                return Err(format!(
                    "the plexsync setting {} has {entry:?}: write it as /stash/path/ => /plex/path/",
                    where_to_set("path_map")
                ));
            };
            let (from, to) = (from.trim(), to.trim());
            if from.is_empty() || to.is_empty() {
                return Err(format!(
                    "the plexsync setting {} has {entry:?}: both sides of => need a path",
                    where_to_set("path_map")
                ));
            }
            pairs.push((from.to_owned(), to.to_owned()));
        }
        pairs.sort_by_key(|pair| std::cmp::Reverse(pair.0.len()));
        Ok(PathMap(pairs))
    }

    /// `path` as Plex sees it. A Windows side (a drive letter, or backslashes) is matched
    /// whatever its case and separators (`C:\\Media\\` matches `c:/media/`), and what follows
    /// the prefix takes the other side's separators: `C:\\Media\\Movies\\x.mkv` through
    /// `C:\\Media\\ => /media/` is `/media/Movies/x.mkv`, and `/data/x.mkv` through
    /// `/data/ => D:\\Media\\` is `D:\\Media\\x.mkv`.
    pub(crate) fn apply(&self, path: &str) -> String {
        for (from, to) in &self.0 {
            let rest = if is_windows(from) {
                strip_windows_prefix(path, from)
            } else {
                path.strip_prefix(from.as_str())
            };
            if let Some(rest) = rest {
                // Separators change only between a Windows side and a POSIX one: on POSIX a
                // backslash is part of a name.
                let rest = match (is_windows(from), is_windows(to)) {
                    (_, true) => rest.replace('/', "\\"),
                    (true, false) => rest.replace('\\', "/"),
                    (false, false) => rest.to_owned(),
                };
                return [to.as_str(), &rest].concat();
            }
        }
        path.to_owned()
    }
}

/// Whether `path` is a Windows one: a drive letter, a UNC share, or backslashes.
fn is_windows(path: &str) -> bool {
    let bytes = path.as_bytes();
    (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':') || path.contains('\\')
}

/// What follows `prefix` in `path`, comparing as Windows does: case and separators aside.
fn strip_windows_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let fold = |c: char| {
        if c == '\\' {
            '/'
        } else {
            c.to_ascii_lowercase()
        }
    };
    let mut chars = path.char_indices();
    for p in prefix.chars() {
        let (_, c) = chars.next()?;
        if fold(c) != fold(p) {
            return None;
        }
    }
    Some(chars.next().map_or("", |(i, _)| &path[i..]))
}

/// What a scene becomes: its sync job, or why there is none (a scene without files).
pub(crate) fn job(scene: &Scene, settings: &PluginSettings, now: u64) -> Result<SyncJob, String> {
    let files: Vec<String> = scene
        .files
        .iter()
        .filter(|f| !f.path.is_empty())
        .map(|f| settings.path_map.apply(&f.path))
        .collect();
    if files.is_empty() {
        return Err(format!(
            "scene {} has no files, so Plex cannot have it",
            scene.id
        ));
    }
    let nonempty = |v: &Option<String>| {
        v.as_ref()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let names = |v: &[Named]| -> Vec<String> {
        let mut names: Vec<String> = v
            .iter()
            .map(|n| n.name.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        names.dedup();
        names
    };
    let studio = scene
        .studio
        .as_ref()
        .map(|s| s.name.trim().to_owned())
        .filter(|s| !s.is_empty());
    let collections = match (&studio, settings.collection_from_studio) {
        (Some(name), true) => Some(vec![name.clone()]),
        _ => None,
    };
    let edited_at = scene
        .updated_at
        .as_deref()
        .and_then(|t| crate::time::parse(t).ok())
        .unwrap_or(now);
    Ok(SyncJob {
        scene_id: scene.id.clone(),
        files,
        edit: MetadataEdit {
            title: nonempty(&scene.title),
            summary: nonempty(&scene.details),
            originally_available_at: nonempty(&scene.date).filter(|date| {
                // Stash keeps whatever date it was given; one Plex cannot take is left out
                // rather than holding up the rest of the scene.
                let ok = plex_client::is_date(date);
                if !ok {
                    tracing::warn!(
                        "scene {}: the date {:?} is not YYYY-MM-DD; the rest is synced without it",
                        scene.id,
                        crate::text::printable(date)
                    );
                }
                ok
            }),
            studio,
            actors: Some(names(&scene.performers)),
            genres: Some(names(&scene.tags)),
            collections,
            ..MetadataEdit::default()
        },
        edited_at,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use stash_client::{File, Named, Studio};

    use super::*;

    #[test]
    fn every_declared_setting_is_read() {
        let saved = json!({
            "plex_url": "http://plex:32400", "plex_token": "t", "path_map": "/a/ => /b/",
            "collection_from_studio": true, "preserve_plex_edits": false, "data_dir": "d",
            "auto_process": false,
        });
        let Value::Object(map) = saved else {
            unreachable!()
        };
        assert_eq!(map.len(), SETTINGS.len());
        let s = PluginSettings::from_map(&map).unwrap();
        assert_eq!(s.plex_url.as_deref(), Some("http://plex:32400"));
        assert_eq!(s.plex_token.as_deref(), Some("t"));
        assert_eq!(s.data_dir.as_deref(), Some("d"));
        assert_eq!(s.path_map.apply("/a/x.mkv"), "/b/x.mkv");
        assert!(s.collection_from_studio);
        assert_eq!(s.preserve_plex_edits, Some(false));
        assert!(!s.auto_process);
        assert!(
            PluginSettings::from_map(&Map::new()).unwrap().auto_process,
            "on unless turned off"
        );
        let bad = json!({ "collection_from_studio": 3 });
        let Value::Object(bad) = bad else {
            unreachable!()
        };
        let error = PluginSettings::from_map(&bad).unwrap_err();
        assert!(
            error.contains("Settings → Plugins → plexsync → Studio as collection"),
            "named as Stash shows it: {error}"
        );
    }

    #[test]
    fn path_maps_take_the_longest_prefix_and_reject_what_they_cannot_read() {
        let map = PathMap::parse("/data/ => /media/ ; /data/movies/ => /films/\n").unwrap();
        assert_eq!(map.apply("/data/movies/a.mkv"), "/films/a.mkv");
        assert_eq!(map.apply("/data/tv/b.mkv"), "/media/tv/b.mkv");
        assert_eq!(map.apply("/other/c.mkv"), "/other/c.mkv");
        assert_eq!(PathMap::parse("  ").unwrap(), PathMap::default());
        for bad in ["/data/", "=> /x/", "/x/ =>"] {
            let error = PathMap::parse(bad).unwrap_err();
            assert!(error.contains("Path map"), "{error}");
        }
    }

    proptest::proptest! {
        /// Stash on Windows and Plex on Linux, or the other way round: whatever the case and
        /// separators Stash's paths come with, the map finds the prefix, and the rest keeps
        /// its names with the other side's separators.
        #[test]
        fn windows_paths_map_whatever_their_case_and_separators(
            drive in "[A-Za-z]",
            folders in proptest::collection::vec("[A-Za-z0-9 ]{1,8}", 1..3),
            rest in proptest::collection::vec("[A-Za-z0-9 ()]{1,10}", 1..4),
            upper in proptest::bool::ANY,
            slashes in proptest::bool::ANY,
        ) {
            let root = format!("{drive}:\\{}\\", folders.join("\\"));
            let map = PathMap::parse(&format!("{root} => /media/")).unwrap();
            let mut seen = format!("{root}{}", rest.join("\\"));
            if upper {
                seen = seen.to_uppercase();
            }
            if slashes {
                seen = seen.replace('\\', "/");
            }
            let expected_rest = if upper { rest.join("/").to_uppercase() } else { rest.join("/") };
            proptest::prop_assert_eq!(map.apply(&seen), format!("/media/{expected_rest}"));
            // The other way: Plex on Windows.
            let back = PathMap::parse(&format!("/data/ => {root}")).unwrap();
            let linux = format!("/data/{}", rest.join("/"));
            proptest::prop_assert_eq!(back.apply(&linux), format!("{root}{}", rest.join("\\")));
        }
    }

    #[test]
    fn a_posix_map_stays_exact() {
        let map = PathMap::parse("/Data/ => /media/").unwrap();
        assert_eq!(
            map.apply("/data/x.mkv"),
            "/data/x.mkv",
            "POSIX paths are case-sensitive"
        );
        assert_eq!(
            map.apply("/Data/a\\b.mkv"),
            "/media/a\\b.mkv",
            "a backslash is a name's"
        );
    }

    #[test]
    fn a_scene_becomes_a_job_with_trimmed_fields_and_without_empty_ones() {
        let scene = Scene {
            id: "7".into(),
            title: Some("  Title ".into()),
            details: Some("".into()),
            date: None,
            updated_at: Some("not a time".into()),
            files: vec![
                File {
                    path: "/data/a.mkv".into(),
                },
                File {
                    path: String::new(),
                },
            ],
            studio: Some(Studio { name: " ".into() }),
            performers: vec![
                Named { name: "A".into() },
                Named { name: "A".into() },
                Named { name: "".into() },
            ],
            tags: vec![],
        };
        let settings = PluginSettings {
            collection_from_studio: true,
            ..PluginSettings::default()
        };
        let job = job(&scene, &settings, 123).unwrap();
        assert_eq!(job.files, ["/data/a.mkv"]);
        assert_eq!(job.edit.title.as_deref(), Some("Title"));
        assert_eq!(job.edit.summary, None);
        assert_eq!(job.edit.studio, None);
        assert_eq!(job.edit.collections, None, "no studio, no collection");
        assert_eq!(job.edit.actors, Some(vec!["A".to_owned()]));
        assert_eq!(
            job.edit.genres,
            Some(vec![]),
            "no tags in Stash: none in Plex"
        );
        assert_eq!(job.edited_at, 123, "an unreadable time is now");
        let no_files = Scene {
            id: "8".into(),
            ..Scene::default()
        };
        assert!(job_of(&no_files).unwrap_err().contains("no files"));
    }

    /// Whatever date Stash holds, a hook's job is one Plex can take: a real date is kept, any
    /// other text is left out and the rest of the scene is synced.
    #[test]
    fn a_date_plex_cannot_take_is_left_out_and_the_rest_is_synced() {
        for (date, kept) in [
            ("2010-09-30", true),
            ("2024-02-29", true),
            ("2023-02-29", false),
            ("2020-00-00", false),
            ("2020", false),
            ("30.09.2010", false),
            ("2010-09-30\n", true), // trimmed, as every field is
        ] {
            let scene = Scene {
                id: "7".into(),
                title: Some("Sintel".into()),
                date: Some(date.into()),
                files: vec![File {
                    path: "/data/a.mkv".into(),
                }],
                ..Scene::default()
            };
            let job = job_of(&scene).unwrap();
            assert!(job.check().is_ok(), "{date:?}");
            assert_eq!(job.edit.title.as_deref(), Some("Sintel"));
            assert_eq!(job.edit.originally_available_at.is_some(), kept, "{date:?}");
        }
    }

    fn job_of(scene: &Scene) -> Result<SyncJob, String> {
        job(scene, &PluginSettings::default(), 0)
    }
}
