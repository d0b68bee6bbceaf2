//! An exclusive or shared lock on a sidecar lock file, taken with a timeout.
//!
//! The lock is `flock(2)` through `fs4`: it belongs to the open file, so it is released when
//! the process dies however it dies, and a stale lock file on disk means nothing. Waiting is a
//! poll with a short, growing pause (50 µs up to 2 ms), so a waiter never blocks past its
//! timeout even if the holder is stopped; a Stash hook must never hang.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fsutil;

/// How long to wait for a lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct Held {
    file: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        // Closing the file releases the lock anyway; unlocking first only makes it prompt.
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Exclusive,
    Shared,
}

/// Takes the lock at `path` (creating the file, mode 0600, if needed), waiting up to `timeout`.
pub(crate) fn acquire(path: &Path, mode: Mode, timeout: Duration) -> Result<Held> {
    let file = fsutil::private()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(Error::io("open the lock file", path))?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        let attempt = match mode {
            Mode::Exclusive => fs4::FileExt::try_lock(&file),
            Mode::Shared => fs4::FileExt::try_lock_shared(&file),
        };
        match attempt {
            Ok(()) => return Ok(Held { file }),
            Err(fs4::TryLockError::WouldBlock) => {}
            Err(fs4::TryLockError::Error(e)) => return Err(lock_error(path.to_owned(), e)),
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(Error::LockTimeout {
                path: path.to_owned(),
                waited,
            });
        }
        thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(2));
    }
}

fn lock_error(path: PathBuf, source: io::Error) -> Error {
    // ENOLCK: Linux 37, the BSDs and macOS 77.
    let enolck = if cfg!(target_os = "linux") { 37 } else { 77 };
    if source.kind() == io::ErrorKind::Unsupported || source.raw_os_error() == Some(enolck) {
        Error::LockUnsupported { path, source }
    } else {
        Error::Io {
            action: "lock",
            path,
            source,
        }
    }
}
