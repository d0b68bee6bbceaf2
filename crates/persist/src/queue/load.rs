//! Building the view from the files, and keeping it up to date.
//!
//! A full load restores the base snapshot, then replays every later segment in order; a
//! snapshot that is not proven whole contributes what is intact in it, at its place in that
//! order, and hides nothing. Everything found wrong is reported in [`Recovery`] and the file
//! holding it is marked to be moved aside, never removed. After a full load the view follows
//! the files incrementally, and anything unexpected there (a line not at the offset it
//! states, a damaged line, a file shorter than what was read) makes the next refresh a full
//! load again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Error, Result};

use super::Recovery;
use super::journal::{self, Files, Journal};
use super::op::{Op, Parsed, Record, SCHEMA, read_op, read_record};
use super::view::{Loc, View};

#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) view: View,
    /// The proven snapshot the view was built from (0: none).
    pub(crate) base: u64,
    /// Bytes consumed per live segment.
    pub(crate) positions: BTreeMap<u64, u64>,
    /// Unproven snapshots whose intact records are in the view.
    pub(crate) merged: BTreeSet<u64>,
    /// Records in the journal after the base.
    pub(crate) records: u64,
    pub(crate) recovery: Recovery,
    /// Files to move aside rather than remove when they are retired.
    pub(crate) damaged: BTreeSet<PathBuf>,
    /// Files in an older format, read as they are: the first writer carries them forward.
    pub(crate) old_format: BTreeSet<PathBuf>,
}

impl Loaded {
    fn empty(base: u64) -> Loaded {
        Loaded {
            view: View::default(),
            base,
            positions: BTreeMap::new(),
            merged: BTreeSet::new(),
            records: 0,
            recovery: Recovery::default(),
            damaged: BTreeSet::new(),
            old_format: BTreeSet::new(),
        }
    }

    /// The view now rests on the proven snapshot `covered`, which holds every record read
    /// so far: nothing is consumed of the segment after it, nothing is merged, and no file
    /// that held damage is left to retire.
    pub(crate) fn rebase_on(&mut self, covered: u64) {
        self.base = covered;
        self.positions = BTreeMap::from([(covered + 1, 0)]);
        self.merged = BTreeSet::new();
        self.records = 0;
        self.damaged.clear();
        self.old_format.clear();
    }

    fn old_format(&mut self, path: PathBuf) {
        if self.old_format.insert(path.clone()) {
            self.recovery.old_format.push(path);
        }
    }

    fn report(&mut self, path: PathBuf, problems: &[String]) {
        if problems.is_empty() {
            return;
        }
        self.recovery
            .details
            .push(format!("{}: {}", path.display(), problems.join("; ")));
        if self.damaged.insert(path.clone()) {
            self.recovery.damaged_files.push(path);
        }
    }
}

/// Brings `loaded` up to date with the files (loading them whole if there is nothing yet, or
/// if the files changed in a way only a full load can follow). Called with the lock held.
pub(crate) fn refresh(journal: &mut Journal, loaded: &mut Option<Loaded>) -> Result<()> {
    let files = journal.sync_layout()?.clone();
    let current = match loaded.as_mut() {
        Some(l)
            if l.base == files.base
                && files.unproven_snapshots().all(|n| l.merged.contains(&n)) =>
        {
            l
        }
        _ => {
            *loaded = Some(full_load(journal, &files)?);
            return Ok(());
        }
    };
    for segment in files.live_segments() {
        let position = current.positions.get(&segment).copied().unwrap_or(0);
        let mut trouble = false;
        let mut foreign = None;
        let mut records = 0;
        let view = &mut current.view;
        let extent = journal.read_segment(segment, position, |offset, raw| {
            if trouble {
                return;
            }
            match read_op(raw) {
                Parsed::Current(Some(stated), op) if stated == offset => {
                    records += 1;
                    view.apply(op, Loc::Segment { segment, offset });
                }
                Parsed::Foreign(kind) => {
                    foreign = Some(kind);
                    trouble = true;
                }
                _ => trouble = true,
            }
        })?;
        if let Some(kind) = foreign {
            return Err(Error::Foreign {
                path: journal::segment_path(journal.dir(), segment),
                kind,
            });
        }
        current.records += records;
        let shrank = extent.is_some_and(|e| e.length < position);
        if trouble || shrank {
            *loaded = Some(full_load(journal, &files)?);
            return Ok(());
        }
        if let Some(extent) = extent {
            current
                .positions
                .insert(segment, position + extent.consumed);
        }
    }
    Ok(())
}

/// Reads `files` whole, as a new process would.
pub(crate) fn full_load(journal: &mut Journal, files: &Files) -> Result<Loaded> {
    let mut loaded = Loaded::empty(files.base);
    loaded.recovery.moved_aside = files.aside.clone();
    for (path, kind) in &files.foreign {
        loaded.recovery.details.push(format!(
            "{} is {kind}, not a queue file; it was left alone",
            path.display()
        ));
    }
    if files.base > 0 {
        restore_snapshot(journal, files.base, true, &mut loaded)?;
    }
    let live: Vec<u64> = files.live_segments().collect();
    let mut expected = files.base + 1;
    for &n in &live {
        if n > expected {
            let missing = if n - 1 == expected {
                format!("segment {expected} is missing")
            } else {
                format!("segments {expected} to {} are missing", n - 1)
            };
            loaded.recovery.details.push(format!(
                "{}: {missing}; jobs only it held are lost",
                journal.dir().display()
            ));
        }
        expected = n + 1;
    }
    // A snapshot describes the state at the end of the segment with its number.
    let mut order: Vec<(u64, bool)> = live
        .iter()
        .map(|&n| (n, false))
        .chain(files.unproven_snapshots().map(|n| (n, true)))
        .collect();
    order.sort_unstable();
    let newest = live.last().copied();
    for (n, is_snapshot) in order {
        if is_snapshot {
            restore_snapshot(journal, n, false, &mut loaded)?;
            loaded.merged.insert(n);
        } else {
            replay_segment(journal, n, Some(n) == newest, &mut loaded)?;
        }
    }
    Ok(loaded)
}

fn replay_segment(journal: &mut Journal, n: u64, newest: bool, loaded: &mut Loaded) -> Result<()> {
    let path = journal::segment_path(journal.dir(), n);
    let mut damaged_lines = 0u64;
    let mut shifted: Option<(u64, u64)> = None;
    let mut sealed = false;
    let mut after_seal = false;
    let mut old_format = false;
    let mut foreign = None;
    let mut records = 0u64;
    let view = &mut loaded.view;
    let extent = journal.read_segment(n, 0, |offset, raw| {
        records += 1;
        let op = match read_op(raw) {
            Parsed::Current(Some(stated), op) => {
                if stated != offset && shifted.is_none() {
                    shifted = Some((stated, offset));
                }
                op
            }
            // Schema 1 stated no offsets and wrote no seals.
            Parsed::Legacy(op) => {
                old_format = true;
                op
            }
            Parsed::Foreign(kind) => {
                foreign.get_or_insert(kind);
                return;
            }
            Parsed::Current(None, _) | Parsed::Damaged => {
                damaged_lines += 1;
                return;
            }
        };
        if sealed {
            after_seal = true;
        }
        if matches!(op, Op::Seal) {
            sealed = true;
        }
        view.apply(op, Loc::Segment { segment: n, offset });
    })?;
    if let Some(kind) = foreign {
        return Err(Error::Foreign { path, kind });
    }
    let Some(extent) = extent else {
        return Ok(());
    };
    if old_format {
        loaded.old_format(path.clone());
    }
    loaded.records += records;
    loaded.positions.insert(n, extent.consumed);
    loaded.recovery.damaged_lines += damaged_lines;
    let mut problems = Vec::new();
    if damaged_lines > 0 {
        problems.push(format!("{damaged_lines} damaged line(s) skipped"));
    }
    if let Some((stated, actual)) = shifted {
        problems.push(if actual < stated {
            format!(
                "{} bytes are missing before offset {actual}",
                stated - actual
            )
        } else {
            format!(
                "{} bytes were added before offset {stated}",
                actual - stated
            )
        });
    }
    if after_seal {
        problems.push("records follow its seal".to_owned());
    }
    if !newest {
        if extent.consumed < extent.length {
            problems.push("it ends in the middle of a line: it was cut short".to_owned());
        } else if !sealed && !old_format {
            problems.push("it ends without its seal: it was cut short".to_owned());
        }
    }
    loaded.report(path, &problems);
    Ok(())
}

fn restore_snapshot(
    journal: &mut Journal,
    n: u64,
    proven: bool,
    loaded: &mut Loaded,
) -> Result<()> {
    let path = journal::snapshot_path(journal.dir(), n);
    let mut schema = None;
    let mut too_new = None;
    let mut first = true;
    let mut records = 0u64;
    let mut damaged_lines = 0u64;
    let mut crc = crc32fast::Hasher::new();
    let mut trailer: Option<(u64, u64, u32, u32)> = None;
    let mut after_trailer = false;
    let mut foreign = None;
    let view = &mut loaded.view;
    let extent = journal.read_snapshot(n, |offset, raw| {
        if trailer.is_some() {
            after_trailer = true;
            return;
        }
        let record = match read_record(raw) {
            Parsed::Current(_, record) | Parsed::Legacy(record) => Some(record),
            Parsed::Foreign(kind) => {
                foreign.get_or_insert(kind);
                None
            }
            Parsed::Damaged => None,
        };
        match record {
            Some(Record::Header { schema: found }) if first => {
                schema = Some(found);
                if found > SCHEMA {
                    too_new = Some(found);
                }
            }
            Some(Record::Trailer {
                covers,
                records: count,
                crc: sum,
            }) => {
                trailer = Some((covers, count, sum, crc.clone().finalize()));
            }
            Some(record @ (Record::Live { .. } | Record::Dead { .. })) if too_new.is_none() => {
                view.restore(record, Loc::Snapshot { number: n, offset });
                records += 1;
            }
            _ if too_new.is_some() => {}
            Some(_) | None => damaged_lines += 1,
        }
        if trailer.is_none() {
            crc.update(raw);
            crc.update(b"\n");
        }
        first = false;
    })?;
    let Some(extent) = extent else {
        return Ok(());
    };
    // A newer plexsync wrote here, whole file or not: its jobs are not ours to rewrite.
    if let Some(found) = too_new {
        return Err(Error::TooNew {
            path,
            found,
            supported: SCHEMA,
        });
    }
    if let Some(kind) = foreign {
        return Err(Error::Foreign { path, kind });
    }
    // Schema 1 wrote snapshots whole (to a temporary file, renamed into place) and without a
    // trailer.
    let old_format = schema == Some(1);
    if old_format {
        loaded.old_format(path.clone());
    }
    loaded.recovery.damaged_lines += damaged_lines;
    let mut problems = Vec::new();
    if schema.is_none() {
        problems.push("it does not start with a snapshot header".to_owned());
    }
    if damaged_lines > 0 {
        problems.push(format!("{damaged_lines} damaged line(s) skipped"));
    }
    match trailer {
        None if old_format => {}
        None => problems.push("it has no trailer: it is not whole".to_owned()),
        Some((covers, count, sum, actual)) => {
            if covers != n {
                problems.push(format!("its trailer says it is snapshot {covers}"));
            }
            if count != records {
                problems.push(format!(
                    "its trailer counts {count} jobs but {records} were read"
                ));
            }
            if sum != actual {
                problems.push("its checksum does not match".to_owned());
            }
        }
    }
    if after_trailer {
        problems.push("something follows its trailer".to_owned());
    } else if extent.consumed < extent.length {
        problems.push("it ends in the middle of a line: it was cut short".to_owned());
    }
    if !proven {
        let jobs = if records == 1 { "job was" } else { "jobs were" };
        problems.push(format!(
            "it is not proven whole, so it replaces nothing; its {records} intact {jobs} kept"
        ));
    }
    loaded.report(path, &problems);
    Ok(())
}
