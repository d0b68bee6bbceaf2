//! A full disk, made with `ulimit -f` in sh: Unix only (Windows has no per-process limit on
//! file size to make one with).

use std::process::Command;

use persist::{Queue, QueueOptions, StateFile};

use crate::{check, path_arg, temp_dir};

pub(crate) fn a_write_that_fails_for_lack_of_space_leaves_the_old_state() -> Result<(), String> {
    let tmp = temp_dir("full");
    let path = tmp.path().join("state.json");
    let file: StateFile<Vec<String>> = StateFile::new(&path, 1);
    file.update(|v| v.push("precious".into()))
        .map_err(|e| e.to_string())?;
    // The child may write files of at most 8 KiB (ulimit -f counts 512-byte blocks in sh), and
    // ignores SIGXFSZ so that the write fails with EFBIG, as a full disk fails with ENOSPC.
    let output = with_small_files(&["grow", path_arg(&path)])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    check(output.status.code() == Some(3), || {
        format!(
            "the child should report a failed write, got {} / {stderr}",
            output.status
        )
    })?;
    check(
        stderr.contains("could not write the temporary file"),
        || format!("unclear error: {stderr}"),
    )?;
    check(stderr.contains("state.json.tmp"), || {
        format!("the error names no file: {stderr}")
    })?;
    let kept = file.load().map_err(|e| e.to_string())?;
    check(kept == ["precious"], || {
        format!("the old state was lost: {kept:?}")
    })?;
    check(!tmp.path().join("state.json.tmp").exists(), || {
        "a half-written temporary file was left behind".into()
    })
}

/// Runs this binary as a child that may write files of at most 8 KiB (`ulimit -f` counts
/// 512-byte blocks in sh) and ignores SIGXFSZ, so that a write past the limit fails with
/// EFBIG, as a write to a full disk fails with ENOSPC.
fn with_small_files(args: &[&str]) -> Result<std::process::Output, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new("/bin/sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$0\" child \"$@\"")
        .arg(&exe)
        .args(args)
        .output()
        .map_err(|e| e.to_string())
}

pub(crate) fn a_queue_append_that_fails_for_lack_of_space_loses_nothing() -> Result<(), String> {
    let tmp = temp_dir("full-queue");
    let dir = tmp.path().join("queue");
    let mut queue = Queue::open(&dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    for i in 0..3 {
        queue
            .enqueue(&format!("before-{i}"), &serde_json::json!(i), 1)
            .map_err(|e| e.to_string())?;
    }
    let output = with_small_files(&["enqueue-big", path_arg(&dir)])?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    check(output.status.code() == Some(3), || {
        format!(
            "the child should report a failed append, got {} / {stderr}",
            output.status
        )
    })?;
    check(
        stderr.contains("could not append to the journal segment"),
        || format!("unclear error: {stderr}"),
    )?;
    let keys = crate::queue_keys(&dir)?;
    let mut fresh = Queue::open(&dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    check(keys == ["before-0", "before-1", "before-2"], || {
        format!("jobs after the failed append: {keys:?}")
    })?;
    let recovery = fresh.recovery().map_err(|e| e.to_string())?;
    check(recovery.damaged_lines == 0, || format!("{recovery:?}"))?;
    fresh
        .enqueue("after", &serde_json::json!(0), 2)
        .map_err(|e| e.to_string())?;
    let count = fresh.jobs().map_err(|e| e.to_string())?.len();
    check(count == 4, || {
        format!("{count} jobs after the next enqueue")
    })
}
