//! Files another process has open: `plexsync status` reads the state and the queue while a
//! worker replaces the one and compacts the other, and a virus scanner may open anything. On
//! Unix that is never in question. On Windows a rename over a file open elsewhere fails for
//! as long as it is open (unless the system renames with POSIX semantics, as NTFS on recent
//! Windows does and wine does not): persist tries again for about a second, which outlasts any
//! reader's read; a file held open for longer is a clear error that loses nothing.

use persist::{Queue, QueueOptions, StateFile};

use crate::{Talking, check, path_arg, queue_keys, temp_dir};

pub(crate) fn files_held_open_elsewhere_are_replaced_or_refused_losing_nothing()
-> Result<(), String> {
    let tmp = temp_dir("open-elsewhere");
    let state_path = tmp.path().join("state.json");
    let state: StateFile<Vec<String>> = StateFile::new(&state_path, 1);
    state
        .update(|v| v.push("first".into()))
        .map_err(|e| e.to_string())?;
    let first = std::fs::read(&state_path).map_err(|e| e.to_string())?;
    let dir = tmp.path().join("queue");
    let mut queue = Queue::open(&dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    for i in 0..5 {
        queue
            .enqueue(&format!("before-{i}"), &serde_json::json!(i), 1)
            .map_err(|e| e.to_string())?;
    }
    queue.compact().map_err(|e| e.to_string())?;
    queue
        .enqueue("before-5", &serde_json::json!(5), 1)
        .map_err(|e| e.to_string())?;
    let mut held = vec![state_path.clone()];
    for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
        held.push(entry.map_err(|e| e.to_string())?.path());
    }
    let args: Vec<&str> = held.iter().map(|p| path_arg(p)).collect();
    let reader = Talking::start("hold-open", &args, &format!("open {}", held.len()))?;

    // With every file open in the reader: the state replaced, the queue drained, compacted
    // (its old files removed) and written to.
    let replaced = state.update(|v| v.push("while-open".into()));
    if cfg!(windows) {
        if let Err(e) = &replaced {
            // Held open throughout: refused, clearly, and nothing lost.
            let e = e.to_string();
            check(
                e.contains("could not rename the temporary file over") && e.contains("state.json"),
                || format!("unclear error: {e}"),
            )?;
            check(!tmp.path().join("state.json.tmp").exists(), || {
                "a temporary file was left behind".into()
            })?;
        }
    } else if let Err(e) = &replaced {
        return Err(format!("replacing the state open elsewhere: {e}"));
    }
    let expected: &[&str] = match replaced {
        Ok(()) => &["first", "while-open"],
        Err(_) => &["first"],
    };
    while let Some(lease) = queue.lease(60_000, 2).map_err(|e| e.to_string())? {
        queue.ack(&lease).map_err(|e| e.to_string())?;
    }
    queue
        .compact()
        .map_err(|e| format!("compacting a queue open elsewhere: {e}"))?;
    queue
        .enqueue("after", &serde_json::json!(0), 3)
        .map_err(|e| format!("appending to a queue open elsewhere: {e}"))?;

    // The reader still reads what it opened: the old state, whole.
    let lengths = reader.finish()?;
    let first_len = lengths.split_whitespace().next().unwrap_or("");
    check(first_len == first.len().to_string(), || {
        format!(
            "the reader's open state file read {first_len} bytes, not the {} it had",
            first.len()
        )
    })?;

    let kept = state.load().map_err(|e| e.to_string())?;
    check(kept == expected, || format!("the state after: {kept:?}"))?;
    let keys = queue_keys(&dir)?;
    check(keys == ["after"], || format!("the queue after: {keys:?}"))
}

/// A reader in another process opening, reading and closing the state and the queue's files
/// over and over, as a polling `status` or a scanner would, while they are replaced, appended
/// to and compacted: every write goes through.
pub(crate) fn files_read_over_and_over_elsewhere_are_replaced() -> Result<(), String> {
    let tmp = temp_dir("read-elsewhere");
    let state_path = tmp.path().join("state.json");
    let state: StateFile<u64> = StateFile::new(&state_path, 1);
    state.update(|n| *n = 0).map_err(|e| e.to_string())?;
    let dir = tmp.path().join("queue");
    let options = QueueOptions {
        compact_min_records: 10,
        ..QueueOptions::default()
    };
    let mut queue = Queue::open(&dir, options).map_err(|e| e.to_string())?;
    let reader = Talking::start(
        "read-over-and-over",
        &[path_arg(&state_path), path_arg(&dir)],
        "reading",
    )?;
    for i in 0..200u64 {
        state
            .update(|n| *n += 1)
            .map_err(|e| format!("update {i} with a reader at work: {e}"))?;
        queue
            .enqueue(&format!("job-{i}"), &serde_json::json!(i), i)
            .map_err(|e| format!("enqueue {i} with a reader at work: {e}"))?;
        if let Some(lease) = queue.lease(60_000, i).map_err(|e| e.to_string())? {
            queue.ack(&lease).map_err(|e| e.to_string())?;
        }
        if i % 20 == 19 {
            queue
                .compact()
                .map_err(|e| format!("compaction {i} with a reader at work: {e}"))?;
        }
    }
    let reads = reader.finish()?;
    let reads: u64 = reads
        .trim()
        .parse()
        .map_err(|_| format!("the reader said {reads:?}"))?;
    check(reads > 0, || "the reader read nothing".into())?;
    check(state.load().map_err(|e| e.to_string())? == 200, || {
        "an update was lost".into()
    })?;
    let mut fresh = Queue::open(&dir, options).map_err(|e| e.to_string())?;
    let left = fresh.jobs().map_err(|e| e.to_string())?.len();
    check(left == 0, || format!("{left} jobs left, none expected"))
}
