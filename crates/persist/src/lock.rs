//! An exclusive or shared lock on a sidecar lock file, taken with a timeout.
//!
//! The lock is `flock(2)` through `fs4`: it belongs to the open file, so it is released when
//! the process dies however it dies, and a stale lock file on disk means nothing. Waiting is a
//! poll with a short, growing pause (50 µs up to 2 ms), so a waiter never blocks past its
//! timeout even if the holder is stopped; a Stash hook must never hang.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fsutil;

/// How long to wait for a lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// A lock file, opened once and locked as often as needed.
#[derive(Debug)]
pub(crate) struct LockFile {
    file: File,
    path: PathBuf,
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct Held<'a> {
    file: &'a File,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // Closing the file would release the lock too; unlocking makes it prompt.
        let _ = fs4::FileExt::unlock(self.file);
    }
}

/// A lock file locked for as long as the value lives.
#[derive(Debug)]
pub(crate) struct Holding(LockFile);

impl Drop for Holding {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.0.file);
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Mode {
    Exclusive,
    Shared,
}

impl LockFile {
    /// Opens (creating, mode 0600) the lock file at `path`.
    pub(crate) fn open(path: &Path) -> Result<LockFile> {
        let file = fsutil::private()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io("open the lock file", path))?;
        Ok(LockFile {
            file,
            path: path.to_owned(),
        })
    }

    /// Opens an existing lock file for reading only, creating nothing; `None` if there is none.
    /// A shared lock can be taken through it even where the directory is not writable.
    pub(crate) fn open_existing(path: &Path) -> Result<Option<LockFile>> {
        match File::open(path) {
            Ok(file) => Ok(Some(LockFile {
                file,
                path: path.to_owned(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("open the lock file", path)(e)),
        }
    }

    /// A counter kept in the lock file, read with the lock held. The queue bumps it whenever
    /// it adds or removes files, so that other processes can tell whether the directory
    /// listing they cached is still right without listing it again.
    pub(crate) fn generation(&self) -> Result<u64> {
        let mut bytes = [0u8; 8];
        let mut file = &self.file;
        let mut read = 0;
        file.seek(SeekFrom::Start(0))
            .map_err(Error::io("read the lock file", &self.path))?;
        while read < bytes.len() {
            match file.read(&mut bytes[read..]) {
                Ok(0) => break,
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("read the lock file", &self.path)(e)),
            }
        }
        Ok(u64::from_le_bytes(bytes))
    }

    /// Increases the counter [`LockFile::generation`] reads.
    pub(crate) fn bump_generation(&self) -> Result<()> {
        let next = self.generation()?.wrapping_add(1);
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&next.to_le_bytes()))
            .map_err(Error::io("write the lock file", &self.path))
    }

    /// Takes the lock, waiting up to `timeout`, and keeps it with the file.
    pub(crate) fn hold(self, mode: Mode, timeout: Duration) -> Result<Holding> {
        let held = self.acquire(mode, timeout)?;
        // The lock belongs to the open file: forgetting the guard keeps it until the file is
        // unlocked by `Holding`'s drop (or closed).
        std::mem::forget(held);
        Ok(Holding(self))
    }

    /// Takes the lock, waiting up to `timeout`.
    pub(crate) fn acquire(&self, mode: Mode, timeout: Duration) -> Result<Held<'_>> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(50);
        loop {
            let attempt = match mode {
                Mode::Exclusive => fs4::FileExt::try_lock(&self.file),
                Mode::Shared => fs4::FileExt::try_lock_shared(&self.file),
            };
            match attempt {
                Ok(()) => return Ok(Held { file: &self.file }),
                Err(fs4::TryLockError::WouldBlock) => {}
                Err(fs4::TryLockError::Error(e)) => return Err(lock_error(self.path.clone(), e)),
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::LockTimeout {
                    path: self.path.clone(),
                    waited,
                });
            }
            thread::sleep(pause.min(timeout - waited));
            pause = (pause * 2).min(Duration::from_millis(2));
        }
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

/// An exclusive lock that is tried, never waited for: "one drainer at a time".
///
/// [`WorkerLock::try_acquire`] returns at once, with the lock or with [`Error::Held`] naming
/// the holder's process id. The lock is `flock(2)` on an open file, so it is released when the
/// guard is dropped or the process dies however it dies; the file left on disk means nothing.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("persist-worker-doc-{}", std::process::id()));
/// use persist::{Error, WorkerLock};
///
/// let path = dir.join("worker.lock");
/// let held = WorkerLock::try_acquire(&path)?;
/// assert_eq!(WorkerLock::holder(&path)?, Some(Some(std::process::id())));
/// drop(held);
/// assert_eq!(WorkerLock::holder(&path)?, None);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug)]
pub struct WorkerLock {
    file: File,
    path: PathBuf,
}

impl WorkerLock {
    /// Takes the lock at `path` (creating the file, mode 0600, and its directory, mode 0700),
    /// or fails at once with [`Error::Held`] if another process holds it.
    pub fn try_acquire(path: impl AsRef<Path>) -> Result<WorkerLock> {
        let path = path.as_ref();
        fsutil::ensure_dir(fsutil::parent(path))?;
        let file = fsutil::private()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(Error::io("open the lock file", path))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(Error::Held {
                    path: path.to_owned(),
                    pid: read_pid(&file),
                });
            }
            Err(fs4::TryLockError::Error(e)) => return Err(lock_error(path.to_owned(), e)),
        }
        // The pid is only a hint for the message another process shows.
        let mut writer = &file;
        let _ = file
            .set_len(0)
            .and_then(|_| writer.seek(SeekFrom::Start(0)))
            .and_then(|_| writer.write_all(std::process::id().to_string().as_bytes()));
        Ok(WorkerLock {
            file,
            path: path.to_owned(),
        })
    }

    /// Who holds the lock at `path`, without taking it or creating anything: `None` if nobody
    /// does, `Some(pid)` if a process does (`Some(None)` if it wrote no pid).
    pub fn holder(path: impl AsRef<Path>) -> Result<Option<Option<u32>>> {
        let path = path.as_ref();
        let Some(lock) = LockFile::open_existing(path)? else {
            return Ok(None);
        };
        match fs4::FileExt::try_lock_shared(&lock.file) {
            Ok(()) => {
                let _ = fs4::FileExt::unlock(&lock.file);
                Ok(None)
            }
            Err(fs4::TryLockError::WouldBlock) => Ok(Some(read_pid(&lock.file))),
            Err(fs4::TryLockError::Error(e)) => Err(lock_error(path.to_owned(), e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WorkerLock {
    fn drop(&mut self) {
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

fn read_pid(file: &File) -> Option<u32> {
    let mut text = String::new();
    let mut reader = file;
    reader.seek(SeekFrom::Start(0)).ok()?;
    reader.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
