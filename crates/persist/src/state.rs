//! One typed state file, read and updated under a lock.

use std::any::Any;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::lock::{DEFAULT_LOCK_TIMEOUT, LockFile, Mode};

/// The largest state file read unless told otherwise.
pub const DEFAULT_MAX_STATE_BYTES: u64 = 16 << 20;

/// Turns the JSON of one schema's state into the JSON of the next; the message of an `Err`
/// says why this file cannot be carried forward.
pub type Migration = fn(serde_json::Value) -> Result<serde_json::Value, String>;

/// A JSON file holding one value of type `T`, with a schema version.
///
/// - [`StateFile::load`] reads without a lock: writers replace the file by rename, so a reader
///   sees the old contents or the new, never a mixture.
/// - [`StateFile::update`] is read-modify-write under an exclusive lock on `<name>.lock`, so two
///   processes updating at once both see their change land. It waits for the lock up to the
///   lock timeout (10 s by default) and then fails; it never skips the save.
///   [`StateFile::update_if_changed`] skips the write, and its fsync, when nothing changed.
/// - A missing file, or a missing directory, reads as `T::default()`; `update` creates the
///   directory (mode 0700) and the file (mode 0600).
/// - A file written under an older schema is carried forward by the [`Migration`]s given with
///   [`StateFile::with_migration`]; it is rewritten in the current schema by the next update.
/// - A file that cannot be read (truncated, not JSON, not the envelope this crate writes, the
///   wrong shape, an older schema with no migration) is moved to `<name>.corrupt-<unix
///   millis>` and reported as [`Error::Corrupt`]. The caller decides what to do; calling again
///   starts from the default, because the file is gone from its place.
/// - A file written by a newer version (a higher schema) is left where it is and reported as
///   [`Error::FutureSchema`], every time: a downgrade must not lose the newer version's state.
/// - Only a regular file is read, and only up to a size limit (16 MiB by default): a FIFO, a
///   device or an oversized file at the path is refused with [`Error::NotAFile`] or
///   [`Error::TooLarge`], and left where it is.
/// - [`StateFile::peek`] is for readers that must change nothing (a health check): it
///   creates, moves and locks nothing.
/// - On a filesystem without file locks `update` fails with [`Error::LockUnsupported`] rather
///   than risk losing updates.
#[derive(Debug)]
pub struct StateFile<T> {
    path: PathBuf,
    lock_path: PathBuf,
    schema: u32,
    lock_timeout: Duration,
    max_bytes: u64,
    migrations: Vec<(u32, Migration)>,
    /// The state as this value last read or wrote it, for [`StateFile::update_if_changed`].
    cache: Mutex<Option<Cached>>,
    _value: PhantomData<fn() -> T>,
}

/// A state kept from one update to the next, and how to tell it is still the file's: the
/// lock file's counter, which every write under the lock increases, and the file's length and
/// modification time (for a writer that does not count).
struct Cached {
    stamp: Stamp,
    state: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("stamp", &self.stamp)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    generation: u64,
    file: Option<(u64, Option<SystemTime>)>,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    schema: u32,
    state: &'a T,
}

#[derive(Deserialize)]
struct Header {
    schema: u32,
}

#[derive(Deserialize)]
struct Contents<T> {
    state: T,
}

#[derive(Deserialize)]
struct RawContents {
    state: serde_json::Value,
}

impl<T> StateFile<T>
where
    T: Serialize + DeserializeOwned + Default,
{
    /// The state file at `path`, whose current schema version is `schema`.
    pub fn new(path: impl Into<PathBuf>, schema: u32) -> Self {
        let path = path.into();
        StateFile {
            lock_path: fsutil::sibling(&path, ".lock"),
            path,
            schema,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            max_bytes: DEFAULT_MAX_STATE_BYTES,
            migrations: Vec::new(),
            cache: Mutex::new(None),
            _value: PhantomData,
        }
    }

    /// Waits this long for the lock before giving up.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Refuses files larger than this.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Carries a file of schema `from` forward to schema `from + 1`. Migrations chain: a file
    /// several schemas old goes through each in turn.
    pub fn with_migration(mut self, from: u32, migrate: Migration) -> Self {
        self.migrations.retain(|(f, _)| *f != from);
        self.migrations.push((from, migrate));
        self
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the current state; a missing file is the default.
    pub fn load(&self) -> Result<T> {
        match self.read_bytes()? {
            None => Ok(T::default()),
            Some(bytes) => match self.decode(&bytes) {
                Ok(state) => Ok(state),
                // Left as it is: nothing to lock for.
                Err(Bad::Future(found)) => Err(Error::FutureSchema {
                    path: self.path.clone(),
                    found,
                    supported: self.schema,
                }),
                // Recheck under the lock: only then is moving the file aside safe.
                Err(Bad::Unreadable(_)) => self.with_lock(|| self.read_locked()),
            },
        }
    }

    /// Reads the current state without creating, moving or locking anything; a missing file
    /// or directory is the default. A file that cannot be read is reported as
    /// [`Error::Unreadable`] and left where it is.
    pub fn peek(&self) -> Result<T> {
        match self.read_bytes()? {
            None => Ok(T::default()),
            Some(bytes) => self.decode(&bytes).map_err(|bad| Error::Unreadable {
                path: self.path.clone(),
                cause: match bad {
                    Bad::Future(found) => format!(
                        "written by a newer plexsync (schema {found}; this one reads up to {})",
                        self.schema
                    ),
                    Bad::Unreadable(cause) => cause,
                },
            }),
        }
    }

    /// Applies `change` to the current state and stores the result durably, under the lock.
    /// If `change` panics nothing is written.
    pub fn update<R>(&self, change: impl FnOnce(&mut T) -> R) -> Result<R> {
        let lock = self.lock_for_update()?;
        let _held = lock.acquire(Mode::Exclusive, self.lock_timeout)?;
        let mut state = self.read_locked()?;
        let result = change(&mut state);
        self.write_locked(&lock, &state)?;
        Ok(result)
    }

    /// [`StateFile::update`] that writes only when `change` left the state different from
    /// what it read, so an update that changes nothing costs no write and no fsync. What it
    /// read or wrote is kept, and read again only when another update (in any process) has
    /// written since: a worker that updates its state several times a job reads it once.
    pub fn update_if_changed<R>(&self, change: impl FnOnce(&mut T) -> R) -> Result<R>
    where
        T: PartialEq + Clone + Send + 'static,
    {
        let lock = self.lock_for_update()?;
        let _held = lock.acquire(Mode::Exclusive, self.lock_timeout)?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = self.stamp(&lock)?;
        let kept = cache
            .take()
            .filter(|c| c.stamp == stamp)
            .and_then(|c| c.state.downcast::<T>().ok());
        let before = match kept {
            Some(state) => *state,
            None => self.read_locked()?,
        };
        let mut state = before.clone();
        let result = change(&mut state);
        let stamp = if state == before {
            stamp
        } else {
            self.write_locked(&lock, &state)?;
            self.stamp(&lock)?
        };
        *cache = Some(Cached {
            stamp,
            state: Box::new(state),
        });
        Ok(result)
    }

    /// What tells whether the file changed since: read under the lock.
    fn stamp(&self, lock: &LockFile) -> Result<Stamp> {
        let file = match std::fs::symlink_metadata(&self.path) {
            Ok(meta) => Some((meta.len(), meta.modified().ok())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read the metadata of", &self.path)(e)),
        };
        Ok(Stamp {
            generation: lock.generation()?,
            file,
        })
    }

    /// Encodes `state` and replaces the file with it, `lock` held; then bumps the lock file's
    /// counter, so that what other values kept of the file is read again.
    fn write_locked(&self, lock: &LockFile, state: &T) -> Result<()> {
        let bytes = serde_json::to_vec(&Envelope {
            schema: self.schema,
            state,
        })
        .map_err(|source| Error::Encode {
            path: self.path.clone(),
            source,
        })?;
        fsutil::write_atomic(&self.path, &bytes)?;
        lock.bump_generation()
    }

    /// The lock file an update takes, its directory made first.
    fn lock_for_update(&self) -> Result<LockFile> {
        fsutil::ensure_dir(fsutil::parent(&self.path))?;
        LockFile::open(&self.lock_path)
    }

    fn with_lock<R>(&self, body: impl FnOnce() -> Result<R>) -> Result<R> {
        if !fsutil::parent(&self.path).exists() {
            // Nothing to lock against and nothing to read: the default, without creating
            // anything (update creates the directory before it gets here).
            return body();
        }
        let lock = LockFile::open(&self.lock_path)?;
        let _held = lock.acquire(Mode::Exclusive, self.lock_timeout)?;
        body()
    }

    fn read_bytes(&self) -> Result<Option<Vec<u8>>> {
        fsutil::read_regular(&self.path, self.max_bytes)
    }

    /// Reads under the lock, moving an unreadable file aside.
    fn read_locked(&self) -> Result<T> {
        let Some(bytes) = self.read_bytes()? else {
            return Ok(T::default());
        };
        match self.decode(&bytes) {
            Ok(state) => Ok(state),
            Err(Bad::Future(found)) => Err(Error::FutureSchema {
                path: self.path.clone(),
                found,
                supported: self.schema,
            }),
            Err(Bad::Unreadable(cause)) => Err(Error::Corrupt {
                moved_to: fsutil::move_aside(&self.path)?,
                path: self.path.clone(),
                cause,
            }),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, Bad> {
        let start = bytes.iter().position(|b| !b.is_ascii_whitespace());
        match start.map(|i| bytes[i]) {
            None => return Err(Bad::Unreadable("the file is empty".into())),
            // serde reads a struct from a JSON array too; only the object this crate writes
            // is a state file.
            Some(b'{') => {}
            Some(_) => {
                return Err(Bad::Unreadable(
                    "not a plexsync state file: not a JSON object".into(),
                ));
            }
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| Bad::Unreadable(format!("not a plexsync state file: {e}")))?;
        if header.schema > self.schema {
            return Err(Bad::Future(header.schema));
        }
        if header.schema == self.schema {
            let contents: Contents<T> = serde_json::from_slice(bytes)
                .map_err(|e| Bad::Unreadable(format!("unexpected contents: {e}")))?;
            return Ok(contents.state);
        }
        let raw: RawContents = serde_json::from_slice(bytes)
            .map_err(|e| Bad::Unreadable(format!("unexpected contents: {e}")))?;
        let mut value = raw.state;
        for from in header.schema..self.schema {
            let Some((_, migrate)) = self.migrations.iter().find(|(f, _)| *f == from) else {
                return Err(Bad::Unreadable(format!(
                    "schema {} is older than any this version reads ({}), and there is no way to carry schema {from} forward",
                    header.schema, self.schema
                )));
            };
            value = migrate(value).map_err(|why| {
                Bad::Unreadable(format!(
                    "schema {from} could not be carried forward to {}: {why}",
                    from + 1
                ))
            })?;
        }
        serde_json::from_value(value).map_err(|e| {
            Bad::Unreadable(format!(
                "schema {} carried forward to {} has unexpected contents: {e}",
                header.schema, self.schema
            ))
        })
    }
}

enum Bad {
    Future(u32),
    Unreadable(String),
}
