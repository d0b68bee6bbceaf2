//! The work: a library of movies, and hooks from Stash arriving the way people edit, in
//! sessions of edits a few seconds to a minute apart, now and then re-editing a scene.

use std::collections::HashMap;

use engine::SyncJob;
use plex_client::{Item, MetadataEdit};
use rand::RngExt;
use rand::rngs::SmallRng;
use serde::Serialize;

use crate::plex::{LIBRARY_ROOT, movie};
use crate::world::Hook;

const GENRES: [&str; 6] = [
    "Drama",
    "Comedy",
    "Documentary",
    "Animation",
    "Thriller",
    "Family",
];
const STUDIOS: [&str; 4] = ["Blender", "Ghibli", "Aardman", "Pixar"];

/// How people edit: sessions start at random (mean gap `session_gap_ms`), hold
/// `edits_per_session` edits `edit_gap_ms` apart; some edits revisit a scene edited earlier
/// in the session, and some are of new files Plex has not scanned yet.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sessions {
    /// The mean time between the starts of two sessions.
    pub session_gap_ms: u64,
    /// The bounds of a session's number of edits.
    pub edits_per_session: (u32, u32),
    /// The bounds of the time between two edits in a session.
    pub edit_gap_ms: (u64, u64),
    /// The chance that an edit revisits a scene edited earlier in the session.
    pub revisit: f64,
    /// The chance that an edit is of a new file, not yet scanned.
    pub new_file: f64,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            session_gap_ms: 20 * 60_000,
            edits_per_session: (3, 30),
            edit_gap_ms: (3_000, 60_000),
            revisit: 0.2,
            new_file: 0.02,
        }
    }
}

/// Many hooks at once: a bulk edit in Stash (a scrape, an identify task).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bulk {
    /// When it starts.
    pub at: u64,
    /// How many scenes, each edited once.
    pub scenes: u32,
    /// Over how long.
    pub over_ms: u64,
}

/// The file of scene `id`, in a folder of its own.
pub(crate) fn file_of(id: u64) -> String {
    format!("{LIBRARY_ROOT}/Scene {id:05}/scene-{id:05}.mkv")
}

/// The scene whose file is `file`, if it is one of [`file_of`]'s.
pub(crate) fn scene_of(file: &str) -> Option<u64> {
    let name = file.rsplit('/').next()?;
    name.strip_prefix("scene-")?
        .strip_suffix(".mkv")?
        .parse()
        .ok()
}

/// Scene `id` as Plex has it before anyone edits it.
pub(crate) fn original(id: u64) -> Item {
    movie(100_000 + id, &format!("scene-{id:05}"), &file_of(id))
}

/// The title of version `version` of scene `id`: it names both, so that what reached Plex
/// can be traced back to the edit that asked for it.
pub(crate) fn title(id: u64, version: u32) -> String {
    format!("Scene {id} (edit {version})")
}

/// One edit, before the edits of its scene are numbered in time order.
#[derive(Debug)]
struct Planned {
    at: u64,
    id: u64,
    genres: Vec<String>,
    studio: &'static str,
}

/// Makes hooks, numbering each scene's edits in the order they happen.
#[derive(Debug)]
pub(crate) struct Editor {
    next_new: u64,
    /// New scenes, whose files Plex finds when their folder is scanned.
    unscanned: Vec<u64>,
    planned: Vec<Planned>,
}

impl Editor {
    pub(crate) fn new(library: u64) -> Editor {
        Editor {
            next_new: library,
            unscanned: Vec::new(),
            planned: Vec::new(),
        }
    }

    /// One edit of scene `id` at `at`.
    pub(crate) fn edit(&mut self, id: u64, at: u64, rng: &mut SmallRng) {
        let genres = GENRES
            .iter()
            .filter(|_| rng.random_bool(0.3))
            .map(|g| (*g).to_owned())
            .collect();
        self.planned.push(Planned {
            at,
            id,
            genres,
            studio: STUDIOS[rng.random_range(0..STUDIOS.len())],
        });
    }

    /// A scene whose file Plex has not scanned yet.
    pub(crate) fn new_scene(&mut self) -> u64 {
        let id = self.next_new;
        self.next_new += 1;
        self.unscanned.push(id);
        id
    }

    /// Editing sessions from `from` to `to` on a library of `library` scenes.
    pub(crate) fn sessions(
        &mut self,
        s: &Sessions,
        from: u64,
        to: u64,
        library: u64,
        rng: &mut SmallRng,
    ) {
        let mut at = from + exponential(rng, s.session_gap_ms) / 2;
        while at < to {
            let edits = rng.random_range(s.edits_per_session.0..=s.edits_per_session.1);
            let mut session: Vec<u64> = Vec::new();
            for _ in 0..edits {
                if at >= to {
                    break;
                }
                let id = if !session.is_empty() && rng.random_bool(s.revisit) {
                    session[rng.random_range(0..session.len())]
                } else if rng.random_bool(s.new_file) {
                    self.new_scene()
                } else {
                    rng.random_range(0..library)
                };
                session.push(id);
                self.edit(id, at, rng);
                at += rng.random_range(s.edit_gap_ms.0..=s.edit_gap_ms.1);
            }
            at += exponential(rng, s.session_gap_ms);
        }
    }

    /// A bulk edit of distinct scenes.
    pub(crate) fn bulk(&mut self, b: &Bulk, library: u64, rng: &mut SmallRng) {
        let scenes = u64::from(b.scenes).min(library);
        let start = rng.random_range(0..library);
        for i in 0..scenes {
            let at = b.at + b.over_ms * i / scenes.max(1);
            self.edit((start + i) % library, at, rng);
        }
    }

    /// Makes sure someone edits during each span (the case that matters: work waiting when
    /// Plex comes back).
    pub(crate) fn during(&mut self, spans: &[(u64, u64)], library: u64, rng: &mut SmallRng) {
        for &(from, to) in spans {
            if to <= from || self.planned.iter().any(|p| (from..to).contains(&p.at)) {
                continue;
            }
            let at = rng.random_range(from..to);
            let id = rng.random_range(0..library);
            self.edit(id, at, rng);
        }
    }

    /// The hooks in time order, and the files Plex has yet to scan.
    pub(crate) fn finish(mut self) -> (Vec<Hook>, Vec<u64>) {
        self.planned.sort_by_key(|p| p.at);
        let mut versions: HashMap<u64, u32> = HashMap::new();
        let hooks = self
            .planned
            .into_iter()
            .map(|p| {
                let version = versions.entry(p.id).or_default();
                *version += 1;
                let edit = MetadataEdit {
                    title: Some(title(p.id, *version)),
                    summary: Some(format!("Edited in Stash, {version} times.")),
                    studio: Some(p.studio.to_owned()),
                    genres: Some(p.genres),
                    ..MetadataEdit::default()
                };
                Hook {
                    at: p.at,
                    job: SyncJob {
                        scene_id: p.id.to_string(),
                        files: vec![file_of(p.id)],
                        edit,
                        edited_at: p.at,
                    },
                }
            })
            .collect();
        (hooks, self.unscanned)
    }
}

/// An exponential draw with mean `mean_ms`, at most ten means.
fn exponential(rng: &mut SmallRng, mean_ms: u64) -> u64 {
    let u: f64 = rng.random();
    (-(1.0 - u).ln() * mean_ms as f64).min(10.0 * mean_ms as f64) as u64
}
