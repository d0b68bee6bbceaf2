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
/// On Windows a new file takes the ACL of its directory: plexsync's data directory is in
/// `%APPDATA%`, which only its user (and SYSTEM and Administrators) may read.
pub(crate) fn private() -> OpenOptions {
    #[cfg(unix)]
    {
        let mut options = OpenOptions::new();
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
    }
    #[cfg(not(unix))]
    OpenOptions::new()
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
    let tmp = write_temp(path, fill)?;
    commit_temp(&tmp, path)
}

/// The first half of [`write_atomic_with`]: the contents, synced, in `<path>.tmp`, whose path
/// is returned. If anything fails the temporary file is removed and the target is untouched.
pub(crate) fn write_temp(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>, &Path) -> Result<()>,
) -> Result<PathBuf> {
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
            .map_err(Error::io("sync the temporary file", &tmp))
    })();
    if let Err(e) = result {
        // Do not leave a half-written file behind.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// The second half: renames the temporary file over `path` and makes the rename durable.
pub(crate) fn commit_temp(tmp: &Path, path: &Path) -> Result<()> {
    if let Err(e) = rename_over(tmp, path) {
        let _ = fs::remove_file(tmp);
        return Err(Error::io("rename the temporary file over", path)(e));
    }
    sync_dir(parent(path))
}

/// Renames `from` over `to`. On Windows a rename over a file that another process has open
/// fails for as long as it is open (unless the system renames with POSIX semantics): a
/// reader holds a file only while it reads it (plexsync's readers take no lock, and neither
/// do virus scanners and indexers), so the rename is tried again, for about a second in all.
fn rename_over(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        let mut wait = std::time::Duration::from_millis(1);
        loop {
            match fs::rename(from, to) {
                Err(e)
                    if e.kind() == io::ErrorKind::PermissionDenied
                        && wait <= std::time::Duration::from_millis(512) =>
                {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                done => return done,
            }
        }
    }
    #[cfg(not(windows))]
    fs::rename(from, to)
}

/// What a file being removed is renamed to first (see [`remove_out_of_sight`]).
const REMOVED: &str = ".removed";

/// Removes `path` (gone already is fine), renaming it first to a name no store reads. On
/// Windows a file removed while another process has it open stays listed, under its name
/// and not to be opened, until that process lets go (unless the system deletes with POSIX
/// semantics, as recent Windows does and wine does not); renamed, it lingers out of the way.
pub(crate) fn remove_out_of_sight(path: &Path) -> io::Result<()> {
    let gone = sibling(path, REMOVED);
    let result = match fs::rename(path, &gone) {
        Ok(()) => fs::remove_file(&gone),
        // An earlier one that lingers under that name: removed where it is.
        Err(e) if e.kind() != io::ErrorKind::NotFound => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        done => done,
    }
}

/// Removes what [`remove_out_of_sight`] left in `dir` when a crash came between its rename
/// and its removal, or that another process held open then; one still held stays.
pub(crate) fn remove_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(REMOVED) {
            let _ = fs::remove_file(entry.path());
        }
    }
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

/// Reads a whole regular file of at most `max_bytes`; `None` if it does not exist.
///
/// Anything else at the path (a FIFO, whose read would block forever; a device such as
/// `/dev/zero`, whose read never ends; a directory) is refused, as is a file over the limit,
/// without reading it.
pub(crate) fn read_regular(path: &Path, max_bytes: u64) -> Result<Option<Vec<u8>>> {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    check_regular(path, &meta, max_bytes)?;
    let mut options = OpenOptions::new();
    options.read(true);
    // Should a FIFO be swapped in after the check, opening it must not block.
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, 0o4000);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    let meta = file.metadata().map_err(Error::io("read", path))?;
    check_regular(path, &meta, max_bytes)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    io::Read::read_to_end(&mut io::Read::take(&file, max_bytes + 1), &mut bytes)
        .map_err(Error::io("read", path))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            max: max_bytes,
        });
    }
    Ok(Some(bytes))
}

fn check_regular(path: &Path, meta: &fs::Metadata, max_bytes: u64) -> Result<()> {
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
            kind: kind_of(&meta.file_type()),
        });
    }
    if meta.len() > max_bytes {
        return Err(Error::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            max: max_bytes,
        });
    }
    Ok(())
}

/// What a file that is not a regular file is, for messages.
pub(crate) fn kind_of(file_type: &fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}
