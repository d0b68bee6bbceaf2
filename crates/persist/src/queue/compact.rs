//! Compaction: the queue rewritten as one snapshot of its live and dead jobs, and the journal
//! it covers retired. Crash-safe at every step: the snapshot is written whole to a temporary
//! file, a new segment takes later appends, the rename makes the snapshot count, and only
//! then is what it covers removed (or moved aside, if it held damage).

use std::io::Write;

use super::journal::{self};
use super::op::{Record, SCHEMA};
use super::view::Loc;
use super::{Backend, DeadJob, JobId, Queue, body_on_disk, job_of};
use crate::error::{Error, Result};
use crate::{fsutil, line};

/// Compaction with the lock held and the view up to date: the snapshot first, then a new
/// segment, then the rename that makes the snapshot count, then retiring what it covers.
pub(super) fn compact_locked(queue: &mut Queue) -> Result<()> {
    let Backend::Disk(disk) = &mut queue.backend else {
        return Ok(());
    };
    // Compaction reads every record anyway; it works from the files as they are now, so
    // that damage done since this process loaded them is found and its files kept.
    disk.reload()?;
    let files = disk.journal.sync_layout()?.clone();
    let Some(covered) = files.live_segments().last() else {
        return Ok(());
    };
    let dir = disk.dir.clone();
    let loaded = disk
        .loaded
        .as_mut()
        .expect("the view is loaded under the lock");
    let snapshot = journal::snapshot_path(&dir, covered);
    let live = loaded.view.live_ids();
    let dead: Vec<JobId> = loaded.view.dead().map(|(id, _)| id).collect();
    let mut offsets = Vec::with_capacity(live.len() + dead.len());
    let journal = &mut disk.journal;
    let view = &loaded.view;
    // 1. The snapshot, whole, in a temporary file: a failure here changes nothing.
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
    // 2. New appends go to a fresh segment, so the snapshot covers every existing one.
    if let Err(e) = disk.journal.start_segment(covered + 1) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // 3. The snapshot counts from here on. A file already at its name was not proven
    // whole (or it would be the base); what was intact in it is in the view.
    if snapshot.exists() {
        fsutil::move_aside(&snapshot)?;
    }
    fsutil::commit_temp(&tmp, &snapshot)?;
    for (id, offset) in live.into_iter().chain(dead).zip(offsets) {
        loaded.view.relocate(
            id,
            Loc::Snapshot {
                number: covered,
                offset,
            },
        );
    }
    // 4. Retire what it covers; damaged files are kept, moved aside.
    disk.journal.changing_layout()?;
    let retired = files
        .segments
        .iter()
        .filter(|&&n| n <= covered)
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
            fsutil::move_aside(&path)?;
        } else {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove the compacted file", &path)(e)),
            }
        }
    }
    fsutil::sync_dir(&dir)?;
    disk.journal.sync_layout()?;
    loaded.rebase_on(covered);
    Ok(())
}
