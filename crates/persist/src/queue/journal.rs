//! The queue's files: numbered journal segments, numbered snapshots, and a lock.
//!
//! ```text
//! queue/
//!   lock                      flock(2) target for every operation
//!   snapshot-0000000007.jsonl the state as of the end of segment 7 (header line, then records)
//!   segment-0000000008.jsonl  operations since, one framed line each
//!   segment-0000000009.jsonl
//! ```
//!
//! Writers append to the newest segment. Compaction first starts a new segment, then writes a
//! snapshot covering every older one, then removes what the snapshot covers; a crash between
//! any two steps leaves files that still replay to the same state. Files that held damaged
//! lines are moved aside instead of removed.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;

use super::job::MAX_SEGMENT;

const SEGMENT: (&str, &str) = ("segment-", ".jsonl");
const SNAPSHOT: (&str, &str) = ("snapshot-", ".jsonl");

/// What is in the queue directory right now.
#[derive(Debug, Default)]
pub(crate) struct Files {
    /// Segment numbers, ascending.
    pub(crate) segments: Vec<u64>,
    /// Snapshot numbers, ascending; the last one is current.
    pub(crate) snapshots: Vec<u64>,
}

impl Files {
    pub(crate) fn scan(dir: &Path) -> Result<Files> {
        let mut files = Files::default();
        let entries = fs::read_dir(dir).map_err(Error::io("list the queue directory", dir))?;
        for entry in entries {
            let entry = entry.map_err(Error::io("list the queue directory", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(n) = number(name, SEGMENT) {
                files.segments.push(n);
            } else if let Some(n) = number(name, SNAPSHOT) {
                files.snapshots.push(n);
            }
        }
        files.segments.sort_unstable();
        files.snapshots.sort_unstable();
        Ok(files)
    }

    /// The segment number the current snapshot covers up to (0: no snapshot).
    pub(crate) fn covered(&self) -> u64 {
        self.snapshots.last().copied().unwrap_or(0)
    }

    /// Segments after the current snapshot, in replay order.
    pub(crate) fn live_segments(&self) -> impl Iterator<Item = u64> + '_ {
        let covered = self.covered();
        self.segments.iter().copied().filter(move |&n| n > covered)
    }

    /// The number a new segment gets.
    pub(crate) fn next_segment(&self) -> u64 {
        self.segments
            .last()
            .copied()
            .unwrap_or(0)
            .max(self.covered())
            + 1
    }
}

fn number(name: &str, (prefix, suffix): (&str, &str)) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{}{n:010}{}", SEGMENT.0, SEGMENT.1))
}

pub(crate) fn snapshot_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{}{n:010}{}", SNAPSHOT.0, SNAPSHOT.1))
}

/// Appends bytes to the newest segment, or to a new one when there is none after the snapshot
/// or the newest has reached `max_bytes`. `encode` receives the segment number and the offset
/// the bytes will start at. The bytes are on disk when this returns.
pub(crate) fn append(
    dir: &Path,
    files: &Files,
    max_bytes: u64,
    encode: impl FnOnce(u64, u64) -> Result<Vec<u8>>,
) -> Result<()> {
    let current = files.live_segments().last();
    let (segment, mut file, len) = match current {
        Some(n) => {
            let path = segment_path(dir, n);
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(Error::io("open the journal segment", &path))?;
            let len = drop_torn_tail(&mut file, &path)?;
            if len < max_bytes {
                (n, file, len)
            } else {
                create_segment(dir, files.next_segment())?
            }
        }
        None => create_segment(dir, files.next_segment())?,
    };
    let path = segment_path(dir, segment);
    let bytes = encode(segment, len)?;
    file.seek(SeekFrom::Start(len))
        .and_then(|_| file.write_all(&bytes))
        .map_err(Error::io("append to the journal segment", &path))?;
    file.sync_data()
        .map_err(Error::io("sync the journal segment", &path))
}

/// Creates segment `n`, durably, and returns it open for writing at length 0.
pub(crate) fn create_segment(dir: &Path, n: u64) -> Result<(u64, File, u64)> {
    if n > MAX_SEGMENT {
        return Err(Error::Io {
            action: "start a new journal segment in",
            path: dir.to_owned(),
            source: std::io::Error::other(
                "segment numbers are exhausted; compact the queue into a new directory",
            ),
        });
    }
    let path = segment_path(dir, n);
    let file = fsutil::private()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(Error::io("create the journal segment", &path))?;
    fsutil::sync_dir(dir)?;
    Ok((n, file, 0))
}

/// A process killed while appending leaves a line without its newline. No one was told that
/// line was stored, so it is cut off before anything is appended after it.
fn drop_torn_tail(file: &mut File, path: &Path) -> Result<u64> {
    let len = file
        .metadata()
        .map_err(Error::io("read the size of", path))?
        .len();
    let mut end = len;
    let mut buf = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(chunk))
            .map_err(Error::io("read the end of", path))?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
    }
    if end != len {
        file.set_len(end)
            .and_then(|_| file.sync_data())
            .map_err(Error::io("cut the unfinished line from", path))?;
    }
    Ok(end)
}

/// Reads `path` from `offset` to its end; `None` if the file is gone.
pub(crate) fn read_from(path: &Path, offset: u64) -> Result<Option<Vec<u8>>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(Error::io("read", path))?;
    Ok(Some(bytes))
}
