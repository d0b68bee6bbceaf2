//! One typed state file, read and updated under a lock.

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::lock::{DEFAULT_LOCK_TIMEOUT, LockFile, Mode};

/// A JSON file holding one value of type `T`, with a schema version.
///
/// - [`StateFile::load`] reads without a lock: writers replace the file by rename, so a reader
///   sees the old contents or the new, never a mixture.
/// - [`StateFile::update`] is read-modify-write under an exclusive lock on `<name>.lock`, so two
///   processes updating at once both see their change land. It waits for the lock up to the
///   lock timeout (10 s by default) and then fails; it never skips the save.
/// - A missing file, or a missing directory, reads as `T::default()`; `update` creates the
///   directory (mode 0700) and the file (mode 0600).
/// - A file that cannot be read (truncated, not JSON, not the right shape, another schema) is
///   moved to `<name>.corrupt-<unix millis>` and reported as [`Error::Corrupt`] or
///   [`Error::FutureSchema`]. The caller decides what to do; calling again starts from the
///   default, because the file is gone from its place.
/// - On a filesystem without file locks `update` fails with [`Error::LockUnsupported`] rather
///   than risk losing updates.
#[derive(Debug)]
pub struct StateFile<T> {
    path: PathBuf,
    lock_path: PathBuf,
    schema: u32,
    lock_timeout: Duration,
    _value: PhantomData<fn() -> T>,
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
            _value: PhantomData,
        }
    }

    /// Waits this long for the lock before giving up.
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Where the state lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the current state; a missing file is the default.
    pub fn load(&self) -> Result<T> {
        match fsutil::read_if_exists(&self.path)? {
            None => Ok(T::default()),
            Some(bytes) => match self.decode(&bytes) {
                Ok(state) => Ok(state),
                // Recheck under the lock: only then is moving the file aside safe.
                Err(_) => self.with_lock(|| self.read_locked()),
            },
        }
    }

    /// Applies `change` to the current state and stores the result durably, under the lock.
    /// If `change` panics nothing is written.
    pub fn update<R>(&self, change: impl FnOnce(&mut T) -> R) -> Result<R> {
        fsutil::ensure_dir(fsutil::parent(&self.path))?;
        self.with_lock(|| {
            let mut state = self.read_locked()?;
            let result = change(&mut state);
            let bytes = serde_json::to_vec(&Envelope {
                schema: self.schema,
                state: &state,
            })
            .map_err(|source| Error::Encode {
                path: self.path.clone(),
                source,
            })?;
            fsutil::write_atomic(&self.path, &bytes)?;
            Ok(result)
        })
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

    /// Reads under the lock, moving an unreadable file aside.
    fn read_locked(&self) -> Result<T> {
        let Some(bytes) = fsutil::read_if_exists(&self.path)? else {
            return Ok(T::default());
        };
        match self.decode(&bytes) {
            Ok(state) => Ok(state),
            Err(Bad::Future(found)) => Err(Error::FutureSchema {
                moved_to: fsutil::move_aside(&self.path)?,
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
        if bytes.is_empty() {
            return Err(Bad::Unreadable("the file is empty".into()));
        }
        let header: Header = serde_json::from_slice(bytes)
            .map_err(|e| Bad::Unreadable(format!("not a plexsync state file: {e}")))?;
        if header.schema > self.schema {
            return Err(Bad::Future(header.schema));
        }
        if header.schema < self.schema {
            return Err(Bad::Unreadable(format!(
                "schema {} is older than any this version reads ({})",
                header.schema, self.schema
            )));
        }
        let contents: Contents<T> = serde_json::from_slice(bytes)
            .map_err(|e| Bad::Unreadable(format!("unexpected contents: {e}")))?;
        Ok(contents.state)
    }
}

enum Bad {
    Future(u32),
    Unreadable(String),
}
