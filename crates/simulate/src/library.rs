//! The simulated server's library: scenes `0..scenes` from the start, new scenes once their
//! folder is scanned. An item is made when first asked for, so that a run
//! costs what it touches, not the size of the library.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use engine::SyncOptions;
use plex_client::{Field, Item, MetadataEdit, apply_pairs};

use crate::scenario::Intended;
use crate::workload::{original, scene_of};

#[derive(Debug)]
pub(crate) struct Library {
    scenes: u64,
    unscanned: BTreeSet<u64>,
    scanned: BTreeSet<u64>,
    /// Items asked for or edited.
    touched: HashMap<u64, Item>,
    /// What each edit should leave behind, to check every edit that arrives.
    intended: Arc<HashMap<String, Intended>>,
    options: SyncOptions,
    /// The hook time of the edit each scene shows, to catch an older edit after a newer one.
    shown: HashMap<u64, u64>,
    pub(crate) edits: u64,
    pub(crate) wrong_edits: u64,
}

impl Library {
    pub(crate) fn new(
        scenes: u64,
        unscanned: &[u64],
        intended: Arc<HashMap<String, Intended>>,
        options: SyncOptions,
    ) -> Library {
        Library {
            scenes,
            unscanned: unscanned.iter().copied().collect(),
            scanned: BTreeSet::new(),
            touched: HashMap::with_capacity(intended.len().min(scenes as usize)),
            intended,
            options,
            shown: HashMap::new(),
            edits: 0,
            wrong_edits: 0,
        }
    }

    fn has(&self, id: u64) -> bool {
        (id < self.scenes && !self.unscanned.contains(&id)) || self.scanned.contains(&id)
    }

    /// The item whose file is `file`, if Plex has it.
    pub(crate) fn get(&mut self, file: &str) -> Option<Item> {
        let id = scene_of(file).filter(|id| self.has(*id))?;
        Some(
            self.touched
                .entry(id)
                .or_insert_with(|| original(id))
                .clone(),
        )
    }

    /// The title Plex shows for `file`.
    pub(crate) fn title(&self, file: &str) -> Option<String> {
        let id = scene_of(file).filter(|id| self.has(*id))?;
        match self.touched.get(&id) {
            Some(item) => item.title.clone(),
            None => original(id).title,
        }
    }

    /// Applies an edit; `false` if Plex has no such item. Checks that the item now shows an
    /// edit that was asked for, whole, and not older than the one it showed before.
    pub(crate) fn edit(&mut self, file: &str, pairs: &[(String, String)]) -> bool {
        let Some(id) = scene_of(file).filter(|id| self.has(*id)) else {
            return false;
        };
        let item = self.touched.entry(id).or_insert_with(|| original(id));
        // A field the user locked in Plex is left alone when asked to: it is not checked.
        let kept: Vec<String> = if self.options.preserve_plex_edits {
            item.locked.clone()
        } else {
            Vec::new()
        };
        apply_pairs(item, pairs);
        self.edits += 1;
        let intended = item.title.as_deref().and_then(|t| self.intended.get(t));
        let right = intended.is_some_and(|want| {
            let newer = self
                .shown
                .insert(id, want.at)
                .is_none_or(|at| at <= want.at);
            want.scene == id && newer && shows(&want.edit, item, &self.options, &kept)
        });
        if !right {
            self.wrong_edits += 1;
        }
        true
    }

    /// A partial scan of `folder`: the new files in it appear.
    pub(crate) fn scan(&mut self, folder: &str) {
        let folder = folder.trim_end_matches('/');
        let found: Vec<u64> = self
            .unscanned
            .iter()
            .copied()
            .filter(|id| {
                let file = crate::workload::file_of(*id);
                file.strip_prefix(folder)
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .collect();
        for id in found {
            self.unscanned.remove(&id);
            self.scanned.insert(id);
        }
    }
}

/// Whether `item` shows every field of `edit` that the options let through, locked if
/// they say so. Written apart from plex-client's own diff, so that it checks it.
fn shows(edit: &MetadataEdit, item: &Item, options: &SyncOptions, kept: &[String]) -> bool {
    let checked =
        |f: Field| options.fields.contains(&f) && !kept.iter().any(|k| k == f.plex_name());
    let locked = |f: Field| !options.locks_written() || item.is_locked(f);
    let scalar = |f: Field, want: &Option<String>, have: &Option<String>| {
        want.is_none() || !checked(f) || (want == have && locked(f))
    };
    let tags = |f: Field, want: &Option<Vec<String>>, have: &[String]| {
        want.as_ref().is_none_or(|want| {
            let (mut want, mut have) = (want.clone(), have.to_vec());
            want.sort();
            have.sort();
            !checked(f) || (want == have && locked(f))
        })
    };
    scalar(Field::Title, &edit.title, &item.title)
        && scalar(Field::TitleSort, &edit.title_sort, &item.title_sort)
        && scalar(Field::Summary, &edit.summary, &item.summary)
        && scalar(Field::Tagline, &edit.tagline, &item.tagline)
        && scalar(Field::Studio, &edit.studio, &item.studio)
        && scalar(
            Field::OriginallyAvailableAt,
            &edit.originally_available_at,
            &item.originally_available_at,
        )
        && scalar(
            Field::ContentRating,
            &edit.content_rating,
            &item.content_rating,
        )
        && tags(Field::Genres, &edit.genres, &item.genres)
        && tags(Field::Actors, &edit.actors, &item.actors)
        && tags(Field::Collections, &edit.collections, &item.collections)
}
