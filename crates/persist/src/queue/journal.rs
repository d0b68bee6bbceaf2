//! The queue's files: numbered journal segments, numbered snapshots, and a lock.
//!
//! ```text
//! queue/
//!   lock                      flock(2) target for every operation
//!   snapshot-0000000007.jsonl the state as of the end of segment 7 (header, jobs, trailer)
//!   segment-0000000008.jsonl  operations since, one framed line each, ending with a seal
//!   segment-0000000009.jsonl  the segment appended to
//! ```
//!
//! Writers append to the newest segment, and only while its last line is intact at the offset
//! it states: then no record can have been removed or shifted, and a new record's offset (and
//! so a new job's id) is one no earlier record had. Otherwise, or when the segment is full,
//! the segment is sealed and a new one started. Only the newest segment may end without a
//! seal; bytes after its last newline are a write that never finished.
//!
//! Compaction writes a snapshot covering every segment, then starts a new segment, then
//! removes what the snapshot covers; a crash between any two steps leaves files that still
//! replay to the same state. A snapshot covers older files only once its trailer proves it
//! whole; files that held damage are moved aside instead of removed.
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
use crate::lock::LockFile;
use crate::{fsutil, line};

use super::job::MAX_SEGMENT;
use super::op::{self, Op, Parsed, Record, SCHEMA};
use super::view::Loc;

const SEGMENT: (&str, &str) = ("segment-", ".jsonl");
const SNAPSHOT: (&str, &str) = ("snapshot-", ".jsonl");

/// What is in the queue directory.
#[derive(Clone, Debug, Default)]
pub(crate) struct Files {
    /// Segment numbers, ascending.
    pub(crate) segments: Vec<u64>,
    /// Snapshot numbers, ascending, whole or not.
    pub(crate) snapshots: Vec<u64>,
    /// The newest snapshot whose trailer proves it whole (0: none). It covers every file
    /// numbered up to it.
    pub(crate) base: u64,
    /// Files named like the queue's own that are not regular files; they are never opened.
    pub(crate) foreign: Vec<(PathBuf, &'static str)>,
    /// A snapshot whose header names a schema newer than this version's, and that schema:
    /// nothing may be written to this queue.
    pub(crate) newer: Option<(PathBuf, u32)>,
    /// Queue files moved aside because they held damage (`<name>.corrupt-<millis>`).
    pub(crate) aside: Vec<PathBuf>,
}

impl Files {
    fn scan(dir: &Path) -> Result<Files> {
        let mut files = Files::default();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(Error::io("list the queue directory", dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(Error::io("list the queue directory", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some((kept, _)) = name.split_once(".corrupt-") {
                if number(kept, SEGMENT).is_some() || number(kept, SNAPSHOT).is_some() {
                    files.aside.push(entry.path());
                }
                continue;
            }
            let found = if let Some(n) = number(name, SEGMENT) {
                Some((n, &mut files.segments))
            } else {
                number(name, SNAPSHOT).map(|n| (n, &mut files.snapshots))
            };
            let Some((n, list)) = found else { continue };
            let file_type = entry
                .file_type()
                .map_err(Error::io("list the queue directory", dir))?;
            if file_type.is_file() {
                list.push(n);
            } else {
                files
                    .foreign
                    .push((entry.path(), fsutil::kind_of(&file_type)));
            }
        }
        files.segments.sort_unstable();
        files.snapshots.sort_unstable();
        files.foreign.sort();
        files.aside.sort();
        Ok(files)
    }

    /// The files numbered up to `covered`: what a snapshot numbered so replaces.
    pub(crate) fn upto(&self, covered: u64) -> Files {
        Files {
            segments: self
                .segments
                .iter()
                .copied()
                .filter(|&n| n <= covered)
                .collect(),
            snapshots: self
                .snapshots
                .iter()
                .copied()
                .filter(|&n| n <= covered)
                .collect(),
            ..self.clone()
        }
    }

    /// Segments after the base snapshot, in replay order.
    pub(crate) fn live_segments(&self) -> impl Iterator<Item = u64> + '_ {
        let base = self.base;
        self.segments.iter().copied().filter(move |&n| n > base)
    }

    /// Snapshots after the base: not proven whole, so they hide nothing, but what is intact
    /// in them may be all that is left of their jobs.
    pub(crate) fn unproven_snapshots(&self) -> impl Iterator<Item = u64> + '_ {
        let base = self.base;
        self.snapshots.iter().copied().filter(move |&n| n > base)
    }

    /// The number a new segment gets: after every segment and snapshot, so that replay order
    /// stays the order of history. A file with an absurd number (nothing legitimate gets near
    /// the limit) is not followed into exhausting the numbers.
    pub(crate) fn next_segment(&self) -> u64 {
        let known = self.segments.last().copied().unwrap_or(0).max(self.base) + 1;
        let after_all = self.snapshots.last().map_or(known, |&n| known.max(n + 1));
        if after_all <= MAX_SEGMENT {
            after_all
        } else {
            known
        }
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

/// How a segment ends, judged from its last line alone.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tail {
    /// No lines.
    Empty,
    /// An intact record at the offset it states: safe to append after.
    Intact,
    /// A seal: the segment is complete.
    Sealed,
    /// Anything else: damage, a record that is not where it says, or an older format's.
    Suspect,
    /// A record of a kind a newer plexsync writes.
    Foreign(String),
}

/// How much of a segment was read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extent {
    /// Bytes taken by complete lines from the offset read.
    pub(crate) consumed: u64,
    /// The file's length.
    pub(crate) length: u64,
}

/// What this process may do with the queue's files, and the lock it takes to do it.
#[derive(Clone, Debug)]
pub(crate) enum Access {
    /// Read and write, under this lock.
    ReadWrite(Arc<LockFile>),
    /// Read only, under this lock if the queue has one yet (a queue never written has none).
    ReadOnly(Option<Arc<LockFile>>),
}

impl Access {
    /// The lock to take, if there is one.
    pub(crate) fn lock(&self) -> Option<&Arc<LockFile>> {
        match self {
            Access::ReadWrite(lock) => Some(lock),
            Access::ReadOnly(lock) => lock.as_ref(),
        }
    }

    /// The lock, if writing is allowed.
    pub(crate) fn writable(&self) -> Option<&Arc<LockFile>> {
        match self {
            Access::ReadWrite(lock) => Some(lock),
            Access::ReadOnly(_) => None,
        }
    }
}

/// Whether an append is on disk when it returns, or only written (lost to a power cut, never
/// to a crash of the process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Synced to disk before the call returns.
    Synced,
    /// Written, not synced: for records whose loss only delays or repeats something.
    Written,
}

/// The queue directory as this process last saw it, and the segments it holds open. Every
/// method must be called with the queue's lock held, if it has one.
#[derive(Debug)]
pub(crate) struct Journal {
    dir: PathBuf,
    access: Access,
    /// The lock file's counter when `files` was listed; `None` forces a new listing.
    generation: Option<u64>,
    files: Files,
    open: BTreeMap<u64, File>,
    snapshots: BTreeMap<u64, File>,
    /// Segments written to since they were last synced.
    unsynced: std::collections::BTreeSet<u64>,
}

impl Journal {
    pub(crate) fn new(dir: PathBuf, access: Access) -> Journal {
        Journal {
            dir,
            access,
            generation: None,
            files: Files::default(),
            open: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            unsynced: std::collections::BTreeSet::new(),
        }
    }

    /// Lists the directory again if anyone changed it since the last listing.
    pub(crate) fn sync_layout(&mut self) -> Result<&Files> {
        let now = match self.access.lock() {
            Some(lock) => Some(lock.generation()?),
            None => None,
        };
        if now.is_none() || self.generation != now {
            self.files = Files::scan(&self.dir)?;
            self.open.clear();
            self.snapshots.clear();
            self.files.base = self.proven_base()?;
            self.files.newer = self.newer_snapshot()?;
            self.generation = now;
        }
        Ok(&self.files)
    }

    /// The newest snapshot whose last line is a trailer naming it: a snapshot is written
    /// whole and renamed into place, so a trailer at its end proves nothing was cut off.
    fn proven_base(&mut self) -> Result<u64> {
        for &n in self.files.snapshots.iter().rev() {
            let path = snapshot_path(&self.dir, n);
            let Some(mut file) = open_regular(&path, false)? else {
                continue;
            };
            let Some(last) = last_line(&mut file, &path)? else {
                continue;
            };
            let length = file
                .metadata()
                .map_err(Error::io("read the size of", &path))?
                .len();
            let whole = last.end + 1 == length;
            let proven = match op::read_record(&last.bytes) {
                Parsed::Current(_, Record::Trailer { covers, .. }) => covers == n,
                // Schema 1 wrote a snapshot whole and renamed it into place, without a trailer:
                // one that ends in an intact record is whole.
                Parsed::Current(_, _) | Parsed::Legacy(_) => {
                    header_schema(&mut file, &path)? == Some(1)
                }
                Parsed::Foreign(_) | Parsed::Damaged => false,
            };
            if whole && proven {
                return Ok(n);
            }
        }
        Ok(0)
    }

    /// The first snapshot whose header names a schema newer than this version reads.
    fn newer_snapshot(&mut self) -> Result<Option<(PathBuf, u32)>> {
        for &n in &self.files.snapshots {
            let path = snapshot_path(&self.dir, n);
            let Some(mut file) = open_regular(&path, false)? else {
                continue;
            };
            if let Some(found) = header_schema(&mut file, &path)?.filter(|s| *s > SCHEMA) {
                return Ok(Some((path, found)));
            }
        }
        Ok(None)
    }

    /// Drops the cached listing, so that the next use lists the directory again: for when
    /// something other than a plexsync process may have changed it.
    pub(crate) fn forget_layout(&mut self) {
        self.generation = None;
    }

    /// Announces that this process is about to add or remove files, and lets go of the files
    /// it has open: on Windows a file removed while open anywhere lingers, listed but not to
    /// be opened, until its last handle closes (they reopen as they are needed).
    pub(crate) fn changing_layout(&mut self) -> Result<()> {
        if let Some(lock) = self.access.lock() {
            lock.bump_generation()?;
        }
        self.generation = None;
        self.open.clear();
        self.snapshots.clear();
        Ok(())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn access(&self) -> &Access {
        &self.access
    }

    fn segment(&mut self, n: u64) -> Result<Option<&mut File>> {
        if let btree_map::Entry::Vacant(slot) = self.open.entry(n) {
            let path = segment_path(&self.dir, n);
            match open_regular(&path, self.access.writable().is_some())? {
                Some(file) => {
                    slot.insert(file);
                }
                None => return Ok(None),
            }
        }
        Ok(self.open.get_mut(&n))
    }

    /// Appends the bytes `encode` makes (given the segment number and the offset they will
    /// start at) to the newest segment, or to a new one when there is none after the base
    /// snapshot or the newest is full, sealed or suspect, as durably as `durability` says.
    pub(crate) fn append(
        &mut self,
        max_bytes: u64,
        durability: Durability,
        encode: impl FnOnce(u64, u64) -> Result<Vec<u8>>,
    ) -> Result<()> {
        self.sync_layout()?;
        // Nothing goes into a queue this version cannot read: the job would be acknowledged
        // and then never seen.
        if let Some((path, found)) = &self.files.newer {
            return Err(Error::TooNew {
                path: path.clone(),
                found: *found,
                supported: SCHEMA,
            });
        }
        let mut target = None;
        if let Some(n) = self.files.live_segments().last() {
            let path = segment_path(&self.dir, n);
            if let Some(file) = self.segment(n)? {
                let len = drop_torn_tail(file, &path)?;
                let tail = tail(file, &path, len)?;
                if let Tail::Foreign(kind) = tail {
                    return Err(Error::Foreign { path, kind });
                }
                if len < max_bytes && matches!(tail, Tail::Empty | Tail::Intact) {
                    target = Some((n, len));
                } else if tail != Tail::Sealed {
                    seal(file, &path, len)?;
                }
            }
        }
        let (segment, offset) = match target {
            Some(found) => found,
            None => {
                let n = self.files.next_segment();
                self.create_segment(n)?;
                (n, 0)
            }
        };
        let path = segment_path(&self.dir, segment);
        let bytes = encode(segment, offset)?;
        let file = self.segment(segment)?.ok_or_else(|| {
            Error::io("open the journal segment", &path)(std::io::ErrorKind::NotFound.into())
        })?;
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(&bytes))
            .map_err(Error::io("append to the journal segment", &path))?;
        if durability == Durability::Synced {
            file.sync_data()
                .map_err(Error::io("sync the journal segment", &path))?;
            self.unsynced.remove(&segment);
        } else {
            self.unsynced.insert(segment);
        }
        Ok(())
    }

    /// Makes everything written so far durable: syncs each segment written to without.
    pub(crate) fn sync_written(&mut self) -> Result<()> {
        while let Some(&n) = self.unsynced.first() {
            let path = segment_path(&self.dir, n);
            // A segment a compaction has removed since is in a synced snapshot.
            if let Some(file) = self.segment(n)? {
                file.sync_data()
                    .map_err(Error::io("sync the journal segment", &path))?;
            }
            self.unsynced.remove(&n);
        }
        Ok(())
    }

    /// Seals the newest segment (unless it already is) and creates segment `n` after it.
    pub(crate) fn start_segment(&mut self, n: u64) -> Result<()> {
        self.sync_layout()?;
        if let Some(last) = self.files.segments.last().copied() {
            let path = segment_path(&self.dir, last);
            if let Some(file) = self.segment(last)? {
                let len = drop_torn_tail(file, &path)?;
                if tail(file, &path, len)? != Tail::Sealed {
                    seal(file, &path, len)?;
                }
            }
        }
        self.create_segment(n)
    }

    /// Creates segment `n`, durably.
    fn create_segment(&mut self, n: u64) -> Result<()> {
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
        Ok(())
    }

    /// The record (one line, without its newline) at `loc`.
    pub(crate) fn read_record(&mut self, loc: Loc) -> Result<Vec<u8>> {
        let (path, offset) = match loc {
            Loc::Segment { segment, offset } => (segment_path(&self.dir, segment), offset),
            Loc::Snapshot { number, offset } => (snapshot_path(&self.dir, number), offset),
        };
        let file = match loc {
            Loc::Segment { segment, .. } => self.segment(segment)?,
            Loc::Snapshot { number, .. } => match self.snapshots.entry(number) {
                btree_map::Entry::Occupied(open) => Some(open.into_mut()),
                btree_map::Entry::Vacant(slot) => {
                    open_regular(&path, false)?.map(|file| slot.insert(file))
                }
            },
        };
        let file =
            file.ok_or_else(|| Error::io("open", &path)(std::io::ErrorKind::NotFound.into()))?;
        read_line_at(file, &path, offset)
    }

    /// Calls `line` with the offset and contents of each complete line of segment `n` from
    /// `offset` on (without its newline). `None` if the segment is gone.
    pub(crate) fn read_segment(
        &mut self,
        n: u64,
        offset: u64,
        line: impl FnMut(u64, &[u8]),
    ) -> Result<Option<Extent>> {
        let path = segment_path(&self.dir, n);
        match self.segment(n)? {
            Some(file) => read_lines(file, &path, offset, line).map(Some),
            None => Ok(None),
        }
    }

    /// Calls `line` with the offset and contents of each complete line of snapshot `n`.
    /// `None` if the snapshot is gone.
    pub(crate) fn read_snapshot(
        &mut self,
        n: u64,
        line: impl FnMut(u64, &[u8]),
    ) -> Result<Option<Extent>> {
        let path = snapshot_path(&self.dir, n);
        let Some(mut file) = open_regular(&path, false)? else {
            return Ok(None);
        };
        let extent = read_lines(&mut file, &path, 0, line)?;
        self.snapshots.insert(n, file);
        Ok(Some(extent))
    }
}

/// Opens a file of the queue's if it is a regular file; `None` if it is gone. Anything else
/// (a FIFO, a device) is refused without being opened for real.
fn open_regular(path: &Path, writable: bool) -> Result<Option<File>> {
    let mut options = OpenOptions::new();
    options.read(true).write(writable);
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, 0o4000);
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", path)(e)),
    };
    let meta = file.metadata().map_err(Error::io("open", path))?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
            kind: fsutil::kind_of(&meta.file_type()),
        });
    }
    Ok(Some(file))
}

/// Appends a seal at `len`, durably: nothing goes after it.
fn seal(file: &mut File, path: &Path, len: u64) -> Result<()> {
    let mut bytes = Vec::new();
    line::encode(&Op::Seal, Some(len), &mut bytes).map_err(|source| Error::Encode {
        path: path.to_owned(),
        source,
    })?;
    file.seek(SeekFrom::Start(len))
        .and_then(|_| file.write_all(&bytes))
        .and_then(|_| file.sync_data())
        .map_err(Error::io("seal the journal segment", path))
}

/// How a segment whose torn tail was cut off at `len` ends.
fn tail(file: &mut File, path: &Path, len: u64) -> Result<Tail> {
    if len == 0 {
        return Ok(Tail::Empty);
    }
    let Some(last) = last_line(file, path)? else {
        return Ok(Tail::Suspect);
    };
    Ok(match op::read_op(&last.bytes) {
        Parsed::Current(_, Op::Seal) => Tail::Sealed,
        Parsed::Current(Some(offset), _) if offset == last.start => Tail::Intact,
        Parsed::Foreign(kind) => Tail::Foreign(kind),
        _ => Tail::Suspect,
    })
}

/// The schema a snapshot's first line names, if it is a header.
fn header_schema(file: &mut File, path: &Path) -> Result<Option<u32>> {
    let line = read_line_at(file, path, 0)?;
    Ok(match op::read_record(&line) {
        Parsed::Current(_, Record::Header { schema })
        | Parsed::Legacy(Record::Header { schema }) => Some(schema),
        _ => None,
    })
}

/// The last complete line: where it starts, and its contents without the newline. Bytes
/// after the last newline are not part of it; `end` says where that newline is.
struct LastLine {
    start: u64,
    end: u64,
    bytes: Vec<u8>,
}

fn last_line(file: &mut File, path: &Path) -> Result<Option<LastLine>> {
    let len = file
        .metadata()
        .map_err(Error::io("read the size of", path))?
        .len();
    // Records are short: the first read almost always holds the whole line.
    let mut chunk = 4096u64;
    loop {
        let start = len.saturating_sub(chunk);
        let mut buf = vec![0u8; (len - start) as usize];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(Error::io("read the end of", path))?;
        match buf.iter().rposition(|&b| b == b'\n') {
            None if start == 0 => return Ok(None),
            None => {}
            Some(newline) => {
                let begin = buf[..newline].iter().rposition(|&b| b == b'\n');
                if begin.is_some() || start == 0 {
                    let from = begin.map_or(0, |b| b + 1);
                    return Ok(Some(LastLine {
                        start: start + from as u64,
                        end: start + newline as u64,
                        bytes: buf[from..newline].to_vec(),
                    }));
                }
            }
        }
        chunk = chunk.saturating_mul(2);
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
/// (without its newline). Bytes after the last newline are left alone: in the newest segment
/// they are a write that never finished.
fn read_lines(
    file: &mut File,
    path: &Path,
    offset: u64,
    mut line: impl FnMut(u64, &[u8]),
) -> Result<Extent> {
    let length = file
        .metadata()
        .map_err(Error::io("read the size of", path))?
        .len();
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
            return Ok(Extent { consumed, length });
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
