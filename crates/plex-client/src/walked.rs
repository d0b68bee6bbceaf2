//! Sections listed whole, remembered for a while, so that files Plex does not have cost one
//! walk of their section rather than one per lookup.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a walk answers for its section. A scan of the section forgets it at once.
pub(crate) const REUSE: Duration = Duration::from_secs(60);

/// Files seen in one walk, with their items' rating keys.
type Files = HashMap<String, String>;

/// Per section key: when it was walked, and what it saw.
#[derive(Debug, Default)]
pub(crate) struct Walked(Mutex<HashMap<String, (Instant, Files)>>);

/// What a recent walk says of a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Known {
    /// No recent walk of the section.
    Unknown,
    /// The walk saw it: the item's rating key.
    At(String),
    /// The walk did not see it.
    Absent,
}

impl Walked {
    pub(crate) fn lookup(&self, section: &str, file: &str) -> Known {
        let walks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match walks.get(section) {
            Some((at, files)) if at.elapsed() < REUSE => match files.get(file) {
                Some(key) => Known::At(key.clone()),
                None => Known::Absent,
            },
            _ => Known::Unknown,
        }
    }

    /// Whether a recent walk answers for `section`.
    pub(crate) fn covers(&self, section: &str) -> bool {
        let walks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        walks
            .get(section)
            .is_some_and(|(at, _)| at.elapsed() < REUSE)
    }

    pub(crate) fn remember(&self, section: &str, files: Files) {
        let mut walks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        walks.insert(section.to_owned(), (Instant::now(), files));
    }

    pub(crate) fn forget(&self, section: &str) {
        let mut walks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        walks.remove(section);
    }
}
