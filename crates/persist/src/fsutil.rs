//! The file operations every store here is built from: private files, atomic replacement,
//! moving a bad file aside.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Creates `dir` and its parents if missing, readable by the owner only.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(Error::io("create the directory", dir))
}

/// Options that create files readable and writable by the owner only.
pub(crate) fn private() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes a rename or a new file in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("sync the directory", dir))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The directory a file lives in (`.` for a bare file name).
pub(crate) fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` so that a crash at any moment leaves either the old contents
/// or the new, never a mixture: write a temporary file beside it, sync it, rename it over the
/// target, sync the directory. The caller holds the lock that makes the temporary name free.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |out, tmp| {
        out.write_all(bytes)
            .map_err(Error::io("write the temporary file", tmp))
    })
}

/// [`write_atomic`] for contents written piece by piece by `fill`, which is given a buffered
/// writer and the temporary file's path (for its errors).
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<()> {
    let tmp = sibling(path, ".tmp");
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove the stale temporary file", &tmp)(e)),
    }
    let result = (|| {
        let file = private()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(Error::io("create the temporary file", &tmp))?;
        let mut out = BufWriter::with_capacity(64 << 10, file);
        fill(&mut out, &tmp)?;
        let file = out
            .into_inner()
            .map_err(|e| Error::io("write the temporary file", &tmp)(e.into_error()))?;
        file.sync_all()
            .map_err(Error::io("sync the temporary file", &tmp))?;
        fs::rename(&tmp, path).map_err(Error::io("rename the temporary file over", path))
    })();
    if result.is_err() {
        // The target is untouched; do not leave a half-written file behind either.
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(parent(path))
}

/// `path` with `suffix` appended to its file name.
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Renames a file that cannot be used to `<name>.corrupt-<unix millis>`, never overwriting
/// an earlier one, and returns the new path.
pub(crate) fn move_aside(path: &Path) -> Result<PathBuf> {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut target = sibling(path, &format!(".corrupt-{millis}"));
    let mut n = 1;
    while target.exists() {
        target = sibling(path, &format!(".corrupt-{millis}-{n}"));
        n += 1;
    }
    fs::rename(path, &target).map_err(Error::io("move aside the unreadable file", path))?;
    sync_dir(parent(path))?;
    Ok(target)
}

/// Reads a whole file; `None` if it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path)(e)),
    }
}
