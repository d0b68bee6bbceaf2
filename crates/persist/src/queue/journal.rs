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
//!
//! Listing the directory and opening files on every operation would cost more than the
//! operation itself, so [`Journal`] caches the listing and keeps segments open. Whoever adds or
//! removes a file bumps a counter in the lock file first; a cached listing is used only while
//! the counter is unchanged.

use std::collections::{BTreeMap, btree_map};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::lock::LockFile;

use super::job::MAX_SEGMENT;
use super::view::Loc;

const SEGMENT: (&str, &str) = ("segment-", ".jsonl");
const SNAPSHOT: (&str, &str) = ("snapshot-", ".jsonl");

/// What is in the queue directory.
#[derive(Clone, Debug, Default)]
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

/// The queue directory as this process last saw it, and the segments it holds open. Every
/// method must be called with the queue's lock held.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    lock: Arc<LockFile>,
    /// The lock file's counter when `files` was listed; `None` forces a new listing.
    generation: Option<u64>,
    files: Files,
    open: BTreeMap<u64, File>,
    snapshots: BTreeMap<u64, File>,
}

impl Journal {
    pub(crate) fn new(dir: PathBuf, lock: Arc<LockFile>) -> Journal {
        Journal {
            dir,
            lock,
            generation: None,
            files: Files::default(),
            open: BTreeMap::new(),
            snapshots: BTreeMap::new(),
        }
    }

    /// Lists the directory again if anyone changed it since the last listing.
    pub(crate) fn sync_layout(&mut self) -> Result<&Files> {
        let now = self.lock.generation()?;
        if self.generation != Some(now) {
            self.files = Files::scan(&self.dir)?;
            self.open.clear();
            self.snapshots.clear();
            self.generation = Some(now);
        }
        Ok(&self.files)
    }

    /// Announces that this process is about to add or remove files.
    pub(crate) fn changing_layout(&mut self) -> Result<()> {
        self.lock.bump_generation()?;
        self.generation = None;
        Ok(())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn segment(&mut self, n: u64) -> Result<Option<&mut File>> {
        if !self.open.contains_key(&n) {
            let path = segment_path(&self.dir, n);
            match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(file) => {
                    self.open.insert(n, file);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("open the journal segment", &path)(e)),
            }
        }
        Ok(self.open.get_mut(&n))
    }

    /// Appends bytes to the newest segment, or to a new one when there is none after the
    /// snapshot or the newest has reached `max_bytes`. `encode` receives the segment number and
    /// the offset the bytes will start at. With `durable` the bytes are on disk when this
    /// returns; without, they are written but may be lost to a power cut (never to a crash of
    /// the process).
    pub(crate) fn append(
        &mut self,
        max_bytes: u64,
        durable: bool,
        encode: impl FnOnce(u64, u64) -> Result<Vec<u8>>,
    ) -> Result<()> {
        self.sync_layout()?;
        let mut target = None;
        if let Some(n) = self.files.live_segments().last() {
            let path = segment_path(&self.dir, n);
            if let Some(file) = self.segment(n)? {
                let len = drop_torn_tail(file, &path)?;
                if len < max_bytes {
                    target = Some((n, len));
                } else {
                    // Everything before the new segment must be as durable as what follows.
                    file.sync_data()
                        .map_err(Error::io("sync the journal segment", &path))?;
                }
            }
        }
        let (segment, offset) = match target {
            Some(found) => found,
            None => (self.start_segment(self.files.next_segment())?, 0),
        };
        let path = segment_path(&self.dir, segment);
        let bytes = encode(segment, offset)?;
        let file = self.segment(segment)?.ok_or_else(|| {
            Error::io("open the journal segment", &path)(std::io::ErrorKind::NotFound.into())
        })?;
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(&bytes))
            .map_err(Error::io("append to the journal segment", &path))?;
        if durable {
            file.sync_data()
                .map_err(Error::io("sync the journal segment", &path))?;
        }
        Ok(())
    }

    /// Creates segment `n`, durably, and returns `n`.
    pub(crate) fn start_segment(&mut self, n: u64) -> Result<u64> {
        if n > MAX_SEGMENT {
            return Err(Error::Io {
                action: "start a new journal segment in",
                path: self.dir.clone(),
                source: std::io::Error::other(
                    "segment numbers are exhausted; compact the queue into a new directory",
                ),
            });
        }
        self.changing_layout()?;
        let path = segment_path(&self.dir, n);
        let file = fsutil::private()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io("create the journal segment", &path))?;
        fsutil::sync_dir(&self.dir)?;
        self.sync_layout()?;
        self.open.insert(n, file);
        Ok(n)
    }

    /// The record (one line, without its newline) at `loc`.
    pub(crate) fn read_record(&mut self, loc: Loc) -> Result<Vec<u8>> {
        let (path, offset) = match loc {
            Loc::Segment(id) => (segment_path(&self.dir, id.segment()), id.offset()),
            Loc::Snapshot { number, offset } => (snapshot_path(&self.dir, number), offset),
        };
        let file = match loc {
            Loc::Segment(id) => self.segment(id.segment())?,
            Loc::Snapshot { number, .. } => match self.snapshots.entry(number) {
                btree_map::Entry::Occupied(open) => Some(open.into_mut()),
                btree_map::Entry::Vacant(slot) => {
                    let file = File::open(&path).map_err(Error::io("open the snapshot", &path))?;
                    Some(slot.insert(file))
                }
            },
        };
        let file =
            file.ok_or_else(|| Error::io("open", &path)(std::io::ErrorKind::NotFound.into()))?;
        read_line_at(file, &path, offset)
    }

    /// Calls `line` with the offset and contents of each complete line of segment `n` from
    /// `offset` on (without its newline) and returns how many bytes those lines took (0 if
    /// the segment is gone).
    pub(crate) fn read_segment(
        &mut self,
        n: u64,
        offset: u64,
        line: impl FnMut(u64, &[u8]),
    ) -> Result<u64> {
        let path = segment_path(&self.dir, n);
        match self.segment(n)? {
            Some(file) => read_lines(file, &path, offset, line),
            None => Ok(0),
        }
    }
}

/// A process killed while appending leaves a line without its newline. No one was told that
/// line was stored, so it is cut off before anything is appended after it. Returns the length
/// the file has after that.
fn drop_torn_tail(file: &mut File, path: &Path) -> Result<u64> {
    let len = file
        .metadata()
        .map_err(Error::io("read the size of", path))?
        .len();
    let mut end = len;
    let mut buf = [0u8; 4096];
    // Almost always the last byte is a newline and one byte is all that is read.
    let mut chunk_len = 1;
    while end > 0 {
        let start = end.saturating_sub(chunk_len);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(chunk))
            .map_err(Error::io("read the end of", path))?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            end = start + i as u64 + 1;
            break;
        }
        end = start;
        chunk_len = buf.len() as u64;
    }
    if end != len {
        file.set_len(end)
            .and_then(|_| file.sync_data())
            .map_err(Error::io("cut the unfinished line from", path))?;
    }
    Ok(end)
}

/// Calls `line` with the offset and contents of each complete line of `file` from `offset` on
/// (without its newline) and returns how many bytes those lines took. Bytes after the last newline are a write that never
/// finished and are left alone.
pub(crate) fn read_lines(
    file: &mut File,
    path: &Path,
    offset: u64,
    mut line: impl FnMut(u64, &[u8]),
) -> Result<u64> {
    file.seek(SeekFrom::Start(offset))
        .map_err(Error::io("read", path))?;
    let mut reader = BufReader::with_capacity(64 << 10, file);
    let mut buf = Vec::new();
    let mut consumed = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(Error::io("read", path))?;
        if n == 0 || buf.last() != Some(&b'\n') {
            return Ok(consumed);
        }
        line(offset + consumed, &buf[..n - 1]);
        consumed += n as u64;
    }
}

/// The line starting at `offset`, read in small pieces: records are short, and reading a
/// large buffer for each would cost more than the record.
fn read_line_at(file: &mut File, path: &Path, offset: u64) -> Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))
        .map_err(Error::io("read", path))?;
    let mut line = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = file.read(&mut chunk).map_err(Error::io("read", path))?;
        if n == 0 {
            return Ok(line);
        }
        if let Some(end) = chunk[..n].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&chunk[..end]);
            return Ok(line);
        }
        line.extend_from_slice(&chunk[..n]);
    }
}
