//! Compaction: the queue rewritten as one snapshot of its live and dead jobs, and the journal
//! it covers retired.
//!
//! It holds the queue's lock only for two short steps, so that a hook's enqueue never waits
//! on a snapshot being written:
//!
//! 1. **prepare** (locked): a new segment takes later appends, so every older file is final
//!    (only a compaction changes them, and one runs at a time, under `compact.lock`);
//! 2. **build** (unlocked): those files are read afresh, as a new process would read them,
//!    and the state at the end of the last of them is written to a temporary file;
//! 3. **commit** (locked): the rename makes the snapshot count, what it covers is retired
//!    (moved aside if it held damage), and the fresh view replaces this process's own; what
//!    others appended meanwhile is in the newer segments, and is read from there.
//!
//! Crash-safe at every step: a crash before the rename leaves the old files, which replay to
//! the same state; after it, the proven snapshot hides what it covers.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::journal::{self, Files};
use super::load::{self, Loaded};
use super::op::{Record, SCHEMA};
use super::view::Loc;
use super::{Backend, DeadJob, JobId, Queue, body_on_disk, job_of};
use crate::error::{Error, Result};
use crate::lock::{LockFile, Mode};
use crate::{fsutil, line};

/// A compaction prepared: the segment it covers up to, and the lock that keeps others from
/// compacting meanwhile.
pub(super) struct Prepared {
    covered: u64,
    files: Files,
    _compacting: Compacting,
}

/// `compact.lock`, held for as long as the value lives.
pub(super) type Compacting = crate::lock::Holding;

/// A snapshot written to its temporary file, and the view it holds.
pub(super) struct Built {
    prepared: Prepared,
    tmp: PathBuf,
    loaded: Loaded,
}

/// Takes `compact.lock`, waiting up to `wait`: `None` if another process is compacting.
/// Taken before the queue's lock, or without waiting while holding it, so that a compaction
/// waiting for the queue's lock to commit is never waited for by its holder.
pub(super) fn claim(queue: &Queue, wait: Duration) -> Result<Option<Compacting>> {
    let Backend::Disk(disk) = &queue.backend else {
        return Ok(None);
    };
    match LockFile::open(&disk.dir.join("compact.lock"))?.hold(Mode::Exclusive, wait) {
        Ok(held) => Ok(Some(held)),
        Err(Error::LockTimeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Step 1, with the queue's lock held and `compacting` claimed: `None` if there is nothing
/// to compact.
pub(super) fn prepare(queue: &mut Queue, compacting: Compacting) -> Result<Option<Prepared>> {
    let Backend::Disk(disk) = &mut queue.backend else {
        return Ok(None);
    };
    // Listed afresh: files put there by other means than plexsync's own are announced to
    // no one, and a compaction must see every file it is to cover.
    disk.journal.forget_layout();
    let mut files = disk.journal.sync_layout()?.clone();
    if files.live_segments().next().is_none() {
        let carrying_forward = disk
            .loaded
            .as_ref()
            .is_some_and(|l| !l.old_format.is_empty());
        if !carrying_forward {
            return Ok(None);
        }
        // An older format's snapshot alone: an empty segment after it gives the new snapshot
        // something to cover, and so the right to retire it.
        disk.journal.start_segment(files.next_segment())?;
        files = disk.journal.sync_layout()?.clone();
    }
    // The snapshot covers every file there is: new segments are numbered after every
    // snapshot, but a snapshot may have been put there by other means.
    let covered = files
        .live_segments()
        .last()
        .expect("there is a live segment")
        .max(files.snapshots.last().copied().unwrap_or(0));
    // Every file there is now becomes final: appends go to the new segment.
    disk.journal.start_segment(covered + 1)?;
    let files = files.upto(covered);
    Ok(Some(Prepared {
        covered,
        files,
        _compacting: compacting,
    }))
}

/// Step 2, without the queue's lock: reads the files the snapshot covers afresh and writes
/// the snapshot to a temporary file.
pub(super) fn build(queue: &mut Queue, prepared: Prepared) -> Result<Built> {
    let Backend::Disk(disk) = &mut queue.backend else {
        unreachable!("only a queue on disk prepares a compaction");
    };
    let dir = disk.dir.clone();
    let journal = &mut disk.journal;
    // Read as a new process would: damage done since this process loaded them is found,
    // and its files kept.
    let mut loaded = load::full_load(journal, &prepared.files)?;
    let covered = prepared.covered;
    let snapshot = journal::snapshot_path(&dir, covered);
    let view = &loaded.view;
    let live = view.live_ids();
    let dead: Vec<JobId> = view.dead().map(|(id, _)| id).collect();
    let mut offsets = Vec::with_capacity(live.len() + dead.len());
    let tmp = fsutil::write_temp(&snapshot, |out, tmp| {
        let mut bytes = Vec::new();
        let mut offset = 0u64;
        let mut records = 0u64;
        let mut crc = crc32fast::Hasher::new();
        let mut put = |record: &Record,
                       out: &mut std::io::BufWriter<std::fs::File>,
                       crc: &mut crc32fast::Hasher| {
            bytes.clear();
            line::encode(record, None, &mut bytes).map_err(|source| Error::Encode {
                path: snapshot.clone(),
                source,
            })?;
            out.write_all(&bytes)
                .map_err(Error::io("write the temporary file", tmp))?;
            crc.update(&bytes);
            let at = offset;
            offset += bytes.len() as u64;
            Ok::<u64, Error>(at)
        };
        put(&Record::Header { schema: SCHEMA }, out, &mut crc)?;
        for &id in &live {
            let meta = view.meta(id).expect("a live id is live");
            let (key, payload) = body_on_disk(journal, meta.loc(), id)?;
            let standing = view.standing(id).expect("a live id is live");
            let record = Record::Live {
                job: job_of(id, key, payload, meta),
                lease: standing.lease,
                ready_at: standing.ready_at,
                since: standing.since,
            };
            offsets.push(put(&record, out, &mut crc)?);
            records += 1;
        }
        for &id in &dead {
            let entry = view.dead_entry(id).expect("a dead id is dead");
            let (key, payload) = body_on_disk(journal, entry.meta.loc(), id)?;
            let dead = DeadJob {
                job: job_of(id, key, payload, &entry.meta),
                dead_at: entry.dead_at,
                class: entry.class.clone(),
                error: entry.error.clone(),
            };
            offsets.push(put(&Record::Dead { dead }, out, &mut crc)?);
            records += 1;
        }
        let trailer = Record::Trailer {
            covers: covered,
            records,
            crc: crc.clone().finalize(),
        };
        put(&trailer, out, &mut crc)?;
        Ok(())
    })?;
    for (id, offset) in live.into_iter().chain(dead).zip(offsets) {
        loaded.view.relocate(
            id,
            Loc::Snapshot {
                number: covered,
                offset,
            },
        );
    }
    Ok(Built {
        prepared,
        tmp,
        loaded,
    })
}

/// Step 3, with the queue's lock held: the rename that makes the snapshot count, then
/// retiring what it covers; this process's view becomes the snapshot's, and catches up with
/// the newer segments at its next refresh.
pub(super) fn commit(queue: &mut Queue, built: Built) -> Result<()> {
    let Backend::Disk(disk) = &mut queue.backend else {
        unreachable!("only a queue on disk prepares a compaction");
    };
    let Built {
        prepared,
        tmp,
        mut loaded,
    } = built;
    let covered = prepared.covered;
    let dir = disk.dir.clone();
    let snapshot = journal::snapshot_path(&dir, covered);
    // A file already at its name was not proven whole (or it would be the base); what was
    // intact in it is in the view.
    disk.journal.changing_layout()?;
    let mut aside = Vec::new();
    if snapshot.exists() {
        aside.push(fsutil::move_aside(&snapshot)?);
    }
    fsutil::commit_temp(&tmp, &snapshot)?;
    let files = &prepared.files;
    let retired = files
        .segments
        .iter()
        .map(|&n| journal::segment_path(&dir, n))
        .chain(
            files
                .snapshots
                .iter()
                .filter(|&&n| n != covered)
                .map(|&n| journal::snapshot_path(&dir, n)),
        );
    for path in retired {
        if loaded.damaged.contains(&path) {
            aside.push(fsutil::move_aside(&path)?);
        } else {
            fsutil::remove_out_of_sight(&path)
                .map_err(Error::io("remove the compacted file", &path))?;
        }
    }
    fsutil::remove_leftovers(&dir);
    fsutil::sync_dir(&dir)?;
    disk.journal.sync_layout()?;
    // What was found on the way stays reported.
    let mut recovery = std::mem::take(&mut loaded.recovery);
    if let Some(old) = disk.loaded.as_mut() {
        let earlier = std::mem::take(&mut old.recovery);
        merge(&mut recovery, earlier);
    }
    let carried = std::mem::take(&mut recovery.old_format);
    recovery.carried_forward.extend(carried);
    for path in aside {
        if !recovery.moved_aside.contains(&path) {
            recovery.moved_aside.push(path);
        }
    }
    loaded.recovery = recovery;
    loaded.rebase_on(covered);
    disk.loaded = Some(loaded);
    Ok(())
}

/// Adds what `earlier` reported that `into` does not.
fn merge(into: &mut super::Recovery, earlier: super::Recovery) {
    into.damaged_lines = into.damaged_lines.max(earlier.damaged_lines);
    for path in earlier.damaged_files {
        if !into.damaged_files.contains(&path) {
            into.damaged_files.push(path);
        }
    }
    for detail in earlier.details {
        if !into.details.contains(&detail) {
            into.details.push(detail);
        }
    }
    for path in earlier.moved_aside {
        if !into.moved_aside.contains(&path) {
            into.moved_aside.push(path);
        }
    }
    into.carried_forward.extend(earlier.carried_forward);
}

/// All three steps with the queue's lock held throughout: for carrying an older format
/// forward before a write, which must see only today's format.
/// Does nothing if another process is compacting: what it writes carries the older files
/// forward as well, and until then they are read as they are.
pub(super) fn compact_locked(queue: &mut Queue) -> Result<()> {
    let Some(compacting) = claim(queue, Duration::ZERO)? else {
        return Ok(());
    };
    let Some(prepared) = prepare(queue, compacting)? else {
        return Ok(());
    };
    let built = build(queue, prepared)?;
    commit(queue, built)
}
