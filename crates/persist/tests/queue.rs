//! The job queue, one process: delivery, retries, superseding, dead letters, compaction,
//! damaged files, permissions.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use persist::{Error, JobId, Queue, QueueOptions, Selection};
use proptest::prelude::*;
use serde_json::json;

const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("persist-queue-")
        .tempdir()
        .unwrap()
}

fn queue(dir: &Path) -> Queue {
    Queue::open(dir.join("queue"), QueueOptions::default()).unwrap()
}

fn small_queue(dir: &Path) -> Queue {
    let options = QueueOptions {
        compact_min_records: 10,
        ..QueueOptions::default()
    };
    Queue::open(dir.join("queue"), options).unwrap()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("queue"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn keys(q: &mut Queue) -> Vec<String> {
    q.jobs().unwrap().into_iter().map(|j| j.key).collect()
}

#[test]
fn jobs_come_out_in_the_order_they_went_in() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            q.enqueue(&format!("scene-{i}"), &json!({"n": i}), T0 + i)
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
    for i in 0..5u64 {
        let lease = q.lease(MINUTE, T0 + 10).unwrap().expect("a job is ready");
        assert_eq!(lease.job.key, format!("scene-{i}"));
        assert_eq!(lease.job.payload, json!({"n": i}));
        assert_eq!(lease.job.enqueued_at, T0 + i);
        assert_eq!(lease.job.deliveries, 1);
        assert_eq!(lease.until, T0 + 10 + MINUTE);
        q.ack(&lease).unwrap();
    }
    assert!(q.lease(MINUTE, T0 + 10).unwrap().is_none());
    assert_eq!(q.stats(T0 + 10).unwrap(), persist::Stats::default());
}

#[test]
fn another_process_sees_what_was_stored() {
    let tmp = temp_dir();
    let mut first = queue(tmp.path());
    first.enqueue("a", &json!(1), T0).unwrap();
    first.enqueue("b", &json!(2), T0).unwrap();
    let lease = first.lease(MINUTE, T0).unwrap().unwrap();
    let mut second = queue(tmp.path());
    assert_eq!(keys(&mut second), ["a", "b"]);
    assert_eq!(second.stats(T0).unwrap().leased, 1);
    // And the first sees what the second does.
    second.enqueue("c", &json!(3), T0).unwrap();
    first.ack(&lease).unwrap();
    assert_eq!(keys(&mut first), ["b", "c"]);
    assert_eq!(keys(&mut second), ["b", "c"]);
}

#[test]
fn a_job_waiting_for_its_retry_is_not_handed_out() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("slow", &json!({}), T0).unwrap();
    let lease = q.lease(MINUTE, T0).unwrap().unwrap();
    q.retry(
        &lease,
        T0 + 30_000,
        true,
        "transient",
        "HTTP 503 maintenance",
        T0 + 1,
    )
    .unwrap();
    assert!(q.lease(MINUTE, T0 + 29_999).unwrap().is_none());
    let stats = q.stats(T0 + 29_999).unwrap();
    assert_eq!(
        (
            stats.pending,
            stats.ready_now,
            stats.waiting_for_retry,
            stats.leased
        ),
        (1, 0, 1, 0)
    );
    assert_eq!(stats.earliest_retry_at, Some(T0 + 30_000));
    let again = q.lease(MINUTE, T0 + 30_000).unwrap().unwrap();
    assert_eq!(again.job.attempts, 1);
    assert_eq!(again.job.deliveries, 2);
    assert_eq!(again.job.next_retry_at, Some(T0 + 30_000));
    assert_eq!(again.job.history.len(), 1);
    assert_eq!(again.job.history[0].error, "HTTP 503 maintenance");
    assert!(again.job.history[0].counted);
    q.retry(
        &again,
        T0 + 40_000,
        false,
        "transient",
        "connection refused",
        T0 + 30_001,
    )
    .unwrap();
    let third = q.lease(MINUTE, T0 + 40_000).unwrap().unwrap();
    assert_eq!(
        third.job.attempts, 1,
        "a server-down retry spends no attempt"
    );
    assert_eq!(third.job.history.len(), 2);
    assert!(!third.job.history[1].counted);
}

#[test]
fn many_waiting_jobs_do_not_hide_a_ready_one_or_grow_the_journal() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    for i in 0..300 {
        q.enqueue(&format!("waiting-{i}"), &json!(i), T0).unwrap();
        let lease = q.lease(MINUTE, T0).unwrap().unwrap();
        q.retry(
            &lease,
            T0 + 3_600_000,
            true,
            "transient",
            "not found in Plex",
            T0,
        )
        .unwrap();
    }
    let journal_bytes = |dir: &Path| -> u64 {
        fs::read_dir(dir.join("queue"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    let before = journal_bytes(tmp.path());
    for _ in 0..100 {
        assert!(q.lease(MINUTE, T0 + 1).unwrap().is_none());
    }
    assert_eq!(
        journal_bytes(tmp.path()),
        before,
        "looking for work writes nothing"
    );
    q.enqueue("fresh", &json!("now"), T0 + 2).unwrap();
    let lease = q.lease(MINUTE, T0 + 2).unwrap().unwrap();
    assert_eq!(lease.job.key, "fresh");
    let stats = q.stats(T0 + 2).unwrap();
    assert_eq!((stats.waiting_for_retry, stats.leased), (300, 1));
}

#[test]
fn an_expired_lease_is_delivered_again_and_the_old_holder_is_refused() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    let id = q.enqueue("scene-1", &json!({}), T0).unwrap();
    let first = q.lease(1_000, T0).unwrap().unwrap();
    assert!(q.lease(1_000, T0 + 999).unwrap().is_none(), "still leased");
    assert_eq!(q.stats(T0 + 999).unwrap().leased, 1);
    let stats = q.stats(T0 + 1_000).unwrap();
    assert_eq!(
        (stats.leased, stats.ready_now),
        (0, 1),
        "an expired lease counts as ready"
    );
    let second = q.lease(1_000, T0 + 1_000).unwrap().unwrap();
    assert_eq!(second.job.id, id);
    assert_eq!(second.job.deliveries, 2);
    let err = q.ack(&first).unwrap_err();
    assert!(
        matches!(err, Error::LeaseLost { job } if job == id),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("lease on job {id} is no longer held"))
    );
    assert!(q.retry(&first, T0, true, "transient", "x", T0).is_err());
    assert!(q.dead_letter(&first, "permanent", "x", T0).is_err());
    q.ack(&second).unwrap();
    assert!(
        matches!(q.ack(&second), Err(Error::LeaseLost { .. })),
        "acked once only"
    );
    assert!(q.jobs().unwrap().is_empty());
}

#[test]
fn a_late_ack_within_an_unclaimed_expired_lease_still_counts() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("k", &json!({}), T0).unwrap();
    let lease = q.lease(1_000, T0).unwrap().unwrap();
    // Nobody else leased it in the meantime, so the work done is accepted.
    q.ack(&lease).unwrap();
    assert!(q.lease(1_000, T0 + 5_000).unwrap().is_none());
}

#[test]
fn a_newer_job_supersedes_a_pending_one_with_the_same_key() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("scene-7", &json!({"title": "old"}), T0).unwrap();
    q.enqueue("scene-8", &json!({}), T0).unwrap();
    q.enqueue("scene-7", &json!({"title": "new"}), T0 + 1)
        .unwrap();
    let jobs = q.jobs().unwrap();
    assert_eq!(jobs.len(), 2);
    let first = q.lease(MINUTE, T0 + 2).unwrap().unwrap();
    assert_eq!(first.job.key, "scene-8");
    let second = q.lease(MINUTE, T0 + 2).unwrap().unwrap();
    assert_eq!(second.job.payload, json!({"title": "new"}));
}

#[test]
fn a_newer_job_waits_while_the_older_one_is_in_flight() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("scene-7", &json!(1), T0).unwrap();
    let in_flight = q.lease(MINUTE, T0).unwrap().unwrap();
    q.enqueue("scene-7", &json!(2), T0 + 1).unwrap();
    q.enqueue("scene-7", &json!(3), T0 + 2).unwrap();
    assert!(
        q.lease(MINUTE, T0 + 3).unwrap().is_none(),
        "blocked behind the one in flight"
    );
    let stats = q.stats(T0 + 3).unwrap();
    assert_eq!((stats.pending, stats.ready_now, stats.leased), (1, 0, 1));
    q.ack(&in_flight).unwrap();
    let next = q.lease(MINUTE, T0 + 4).unwrap().unwrap();
    assert_eq!(
        next.job.payload,
        json!(3),
        "the newest superseded the middle one"
    );
    q.ack(&next).unwrap();
    assert!(q.jobs().unwrap().is_empty());
}

#[test]
fn a_failed_job_with_a_newer_one_waiting_gives_way_to_it() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("scene-7", &json!("old"), T0).unwrap();
    let old = q.lease(MINUTE, T0).unwrap().unwrap();
    q.enqueue("scene-7", &json!("new"), T0 + 1).unwrap();
    q.retry(&old, T0 + 10_000, true, "transient", "timeout", T0 + 2)
        .unwrap();
    let jobs = q.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload, json!("new"));
    let next = q.lease(MINUTE, T0 + 3).unwrap().unwrap();
    assert_eq!(
        next.job.payload,
        json!("new"),
        "ready at once, not at the old retry time"
    );
    // An expired lease gives way the same way.
    q.enqueue("scene-7", &json!("newest"), T0 + 4).unwrap();
    let after = q.lease(MINUTE, T0 + 3 + MINUTE).unwrap().unwrap();
    assert_eq!(after.job.payload, json!("newest"));
    assert_eq!(q.jobs().unwrap().len(), 1);
}

#[test]
fn dead_letters_keep_their_history_and_can_be_requeued_or_purged() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    let day = 86_400_000;
    let mut ids = Vec::new();
    for (i, dies_at) in [T0, T0 + day, T0 + 2 * day].into_iter().enumerate() {
        let id = q.enqueue(&format!("s{i}"), &json!(i), dies_at).unwrap();
        ids.push(id);
        let lease = q.lease(MINUTE, dies_at).unwrap().unwrap();
        q.retry(&lease, dies_at, true, "transient", "HTTP 500", dies_at)
            .unwrap();
        let lease = q.lease(MINUTE, dies_at).unwrap().unwrap();
        q.dead_letter(
            &lease,
            "permanent",
            "HTTP 401: check the Plex token",
            dies_at,
        )
        .unwrap();
    }
    let dead = q.dead_letters().unwrap();
    assert_eq!(dead.len(), 3);
    assert_eq!(dead[0].error, "HTTP 401: check the Plex token");
    assert_eq!(dead[0].job.history.len(), 1);
    assert_eq!(dead[0].job.history[0].error, "HTTP 500");
    assert_eq!(dead[1].dead_at, T0 + day);
    assert_eq!(q.stats(T0).unwrap().dead_lettered, 3);

    // Requeue those that died in an outage window.
    let window = Selection::DeadBetween {
        from: T0 + day - 1,
        to: T0 + day + 1,
    };
    assert_eq!(q.requeue_dead(window, T0 + 3 * day).unwrap(), 1);
    let back = q.lease(MINUTE, T0 + 3 * day).unwrap().unwrap();
    assert_eq!(back.job.id, ids[1]);
    assert_eq!(back.job.attempts, 0, "requeue resets the attempts");
    assert_eq!(back.job.history.len(), 1, "and keeps the history");
    q.ack(&back).unwrap();

    // A job that is not dead-lettered is named as not found.
    let missing = JobId::from_u64(12345);
    match q.requeue_dead(Selection::One(missing), T0) {
        Err(Error::NotFound { job }) => assert_eq!(job, missing),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        q.purge_dead(Selection::One(missing)),
        Err(Error::NotFound { .. })
    ));
    // Purge the ones dead for more than 2.5 days at T0 + 3 days: only the first.
    let older = Selection::DeadBetween {
        from: 0,
        to: T0 + 3 * day - (2 * day + day / 2),
    };
    assert_eq!(q.purge_dead(older).unwrap(), 1);
    let left: Vec<JobId> = q.dead_letters().unwrap().iter().map(|d| d.job.id).collect();
    assert_eq!(left, [ids[2]]);
    assert_eq!(q.requeue_dead(Selection::All, T0 + 3 * day).unwrap(), 1);
    assert!(q.dead_letters().unwrap().is_empty());
    assert_eq!(q.stats(T0 + 3 * day).unwrap().ready_now, 1);
}

#[test]
fn requeueing_a_dead_job_gives_way_to_a_newer_one_with_its_key() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("s", &json!("old"), T0).unwrap();
    let lease = q.lease(MINUTE, T0).unwrap().unwrap();
    q.dead_letter(&lease, "permanent", "bad request", T0)
        .unwrap();
    q.enqueue("s", &json!("new"), T0 + 1).unwrap();
    assert_eq!(q.requeue_dead(Selection::All, T0 + 2).unwrap(), 1);
    let jobs = q.jobs().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload, json!("new"));
    assert!(q.dead_letters().unwrap().is_empty());
}

#[test]
fn stats_report_ages_and_counts() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("a", &json!(0), T0).unwrap();
    q.enqueue("b", &json!(0), T0 + 100).unwrap();
    q.enqueue("c", &json!(0), T0 + 200).unwrap();
    let a = q.lease(MINUTE, T0 + 300).unwrap().unwrap();
    let b = q.lease(MINUTE, T0 + 300).unwrap().unwrap();
    q.retry(&b, T0 + 5_000, true, "transient", "e", T0 + 300)
        .unwrap();
    let stats = q.stats(T0 + 1_000).unwrap();
    assert_eq!(stats.pending, 2);
    assert_eq!(stats.ready_now, 1);
    assert_eq!(stats.waiting_for_retry, 1);
    assert_eq!(stats.leased, 1);
    assert_eq!(stats.oldest_age_ms, Some(1_000));
    assert_eq!(stats.earliest_retry_at, Some(T0 + 5_000));
    q.ack(&a).unwrap();
    assert_eq!(q.stats(T0 + 1_000).unwrap().oldest_age_ms, Some(900));
}

#[test]
fn keys_must_be_sensible() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    let err = q.enqueue("", &json!(0), T0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a job key must be 1 to 256 bytes long (got 0)"
    );
    assert!(q.enqueue(&"k".repeat(257), &json!(0), T0).is_err());
    assert!(q.enqueue(&"k".repeat(256), &json!(0), T0).is_ok());
    assert!(
        q.enqueue("line\nbreak \u{1F600} \"quoted\"", &json!("\n"), T0)
            .is_ok()
    );
    assert_eq!(queue(tmp.path()).jobs().unwrap().len(), 2);
}

#[test]
fn compaction_keeps_the_state_and_bounds_the_files() {
    let tmp = temp_dir();
    let mut q = small_queue(tmp.path());
    for round in 0..50u64 {
        for i in 0..4 {
            q.enqueue(
                &format!("r{round}-{i}"),
                &json!({"round": round}),
                T0 + round,
            )
            .unwrap();
        }
        for _ in 0..3 {
            let lease = q.lease(MINUTE, T0 + round).unwrap().unwrap();
            q.ack(&lease).unwrap();
        }
        let names = files(tmp.path());
        let journal: Vec<&String> = names.iter().filter(|n| n.ends_with(".jsonl")).collect();
        assert!(journal.len() <= 3, "round {round}: {names:?}");
    }
    let live = keys(&mut q);
    assert_eq!(live.len(), 50);
    let reopened = keys(&mut small_queue(tmp.path()));
    assert_eq!(reopened, live);
    let segments_bytes: u64 = fs::read_dir(tmp.path().join("queue"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        segments_bytes < 60_000,
        "{segments_bytes} bytes on disk for 50 jobs"
    );
}

#[test]
fn explicit_compaction_of_everything_round_trips_every_state() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("leased", &json!(2), T0).unwrap();
    q.enqueue("waiting", &json!(3), T0).unwrap();
    q.enqueue("dead", &json!(4), T0).unwrap();
    let leased = q.lease(MINUTE, T0).unwrap().unwrap();
    let waiting = q.lease(MINUTE, T0).unwrap().unwrap();
    q.retry(&waiting, T0 + MINUTE, true, "transient", "503", T0)
        .unwrap();
    let dead = q.lease(MINUTE, T0).unwrap().unwrap();
    q.dead_letter(&dead, "permanent", "400", T0).unwrap();
    q.enqueue("pending", &json!(1), T0 + 1).unwrap();
    q.enqueue("leased", &json!("behind"), T0 + 1).unwrap();
    q.enqueue("pending", &json!(5), T0 + 2).unwrap();
    let before = (
        q.jobs().unwrap(),
        q.dead_letters().unwrap(),
        q.stats(T0 + 3).unwrap(),
    );
    q.compact().unwrap();
    let names = files(tmp.path());
    assert!(
        names.iter().any(|n| n.starts_with("snapshot-")),
        "{names:?}"
    );
    let mut fresh = queue(tmp.path());
    let after = (
        fresh.jobs().unwrap(),
        fresh.dead_letters().unwrap(),
        fresh.stats(T0 + 3).unwrap(),
    );
    assert_eq!(after, before);
    // The lease survives compaction: its holder can still ack it, and what waited behind it goes.
    fresh.ack(&leased).unwrap();
    let behind = fresh.lease(MINUTE, T0 + 4).unwrap().unwrap();
    assert_eq!(behind.job.payload, json!("behind"), "ready since T0 + 1");
    let pending = fresh.lease(MINUTE, T0 + 4).unwrap().unwrap();
    assert_eq!(pending.job.payload, json!(5), "ready since T0 + 2");
}

#[test]
fn every_writer_refuses_a_queue_a_newer_plexsync_wrote_before_writing() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("a", &json!(0), T0).unwrap();
    q.compact().unwrap();
    // A snapshot from a newer version: anything that read it would refuse to go on.
    let snapshot = paths_starting(tmp.path(), "snapshot-").pop().unwrap();
    let header = br#"{"header":{"schema":99}}"#;
    let line = format!(
        "{:08x} {}\n",
        crc32(header),
        std::str::from_utf8(header).unwrap()
    );
    fs::write(&snapshot, &line).unwrap();
    let files = |dir: &Path| {
        let mut all: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_none_or(|e| e != "lock") && !p.ends_with("lock"))
            .map(|p| (p.display().to_string(), fs::read(&p).unwrap()))
            .collect();
        all.sort();
        all
    };
    let before = files(&tmp.path().join("queue"));
    let mut fresh = queue(tmp.path());
    // Enqueue reads the snapshot's header only, and refuses: the job would be acknowledged
    // and then never seen by this version.
    let err = fresh.enqueue("b", &json!(1), T0).unwrap_err();
    assert!(matches!(err, Error::TooNew { found: 99, .. }), "{err:?}");
    let err = fresh.enqueue_many([("c", json!(2))], T0).unwrap_err();
    assert!(matches!(err, Error::TooNew { found: 99, .. }), "{err:?}");
    let err = fresh.lease(MINUTE, T0).unwrap_err();
    assert!(matches!(err, Error::TooNew { found: 99, .. }), "{err:?}");
    assert!(err.to_string().contains("upgrade plexsync"));
    assert!(!err.to_string().contains("move the queue"), "{err}");
    assert_eq!(
        files(&tmp.path().join("queue")),
        before,
        "a newer queue is left as it is"
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    // The same CRC-32 (IEEE) the journal uses, bit by bit.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn paths_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.join("queue"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    paths.sort();
    paths
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    paths_starting(dir, "segment-")
}

#[test]
fn a_damaged_line_is_skipped_and_reported_and_its_file_kept() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    for i in 0..5 {
        q.enqueue(&format!("k{i}"), &json!(i), T0).unwrap();
    }
    let segment = segment_paths(tmp.path()).pop().unwrap();
    let text = fs::read_to_string(&segment).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[2] = lines[2].replace("\"k2\"", "\"kX\""); // checksum no longer matches
    fs::write(&segment, lines.join("\n") + "\n").unwrap();
    let mut fresh = queue(tmp.path());
    assert_eq!(keys(&mut fresh), ["k0", "k1", "k3", "k4"]);
    let recovery = fresh.recovery().unwrap();
    assert_eq!(recovery.damaged_lines, 1);
    assert_eq!(recovery.damaged_files, std::slice::from_ref(&segment));
    fresh.compact().unwrap();
    let names = files(tmp.path());
    assert!(
        names.iter().any(|n| n.contains(".corrupt-")),
        "the damaged segment is moved aside, not removed: {names:?}"
    );
    assert_eq!(keys(&mut queue(tmp.path())), ["k0", "k1", "k3", "k4"]);
    assert_eq!(queue(tmp.path()).recovery().unwrap().damaged_lines, 0);
}

#[test]
fn an_unfinished_last_line_is_dropped_before_the_next_append() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("whole", &json!(0), T0).unwrap();
    let segment = segment_paths(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    let whole_len = bytes.len();
    bytes.extend_from_slice(b"0badc0de {\"op\":\"enqueue\",\"id\":99,\"ke");
    fs::write(&segment, &bytes).unwrap();
    let mut fresh = queue(tmp.path());
    assert_eq!(keys(&mut fresh), ["whole"]);
    assert_eq!(
        fresh.recovery().unwrap().damaged_lines,
        0,
        "a torn write is not damage"
    );
    fresh.enqueue("next", &json!(1), T0).unwrap();
    assert_eq!(keys(&mut queue(tmp.path())), ["whole", "next"]);
    let text = fs::read_to_string(&segment).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.len() > whole_len && !text.contains("0badc0de"));
}

#[test]
fn damaged_snapshots_keep_every_intact_record() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    for i in 0..4 {
        q.enqueue(&format!("k{i}"), &json!(i), T0).unwrap();
    }
    q.compact().unwrap();
    let snapshot = paths_starting(tmp.path(), "snapshot-").pop().unwrap();
    let text = fs::read_to_string(&snapshot).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "a header, four jobs and a trailer");
    // Lose the header and garble one job; truncate the last, and lose the trailer.
    let last = lines[4];
    let damaged = format!(
        "{}\ngarbage\n{}\n{}",
        lines[1],
        lines[3],
        &last[..last.len() / 2]
    );
    fs::write(&snapshot, damaged).unwrap();
    let mut fresh = queue(tmp.path());
    assert_eq!(keys(&mut fresh), ["k0", "k2"]);
    let recovery = fresh.recovery().unwrap();
    assert_eq!(recovery.damaged_lines, 1);
    assert_eq!(recovery.damaged_files, [snapshot]);
    // A zero-length snapshot: nothing to keep, reported, and the queue still works.
    fresh.compact().unwrap();
    let snapshot = paths_starting(tmp.path(), "snapshot-").pop().unwrap();
    fs::write(&snapshot, b"").unwrap();
    let mut emptied = queue(tmp.path());
    assert!(emptied.jobs().unwrap().is_empty());
    assert_eq!(emptied.recovery().unwrap().damaged_files, [snapshot]);
    emptied.enqueue("after", &json!(0), T0).unwrap();
    assert_eq!(keys(&mut emptied), ["after"]);
}

/// On Windows a file's privacy is its directory's ACL (see persist's `fsutil::private`).
#[cfg(unix)]
#[test]
fn files_are_private() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("a", &json!(0), T0).unwrap();
    q.compact().unwrap();
    q.enqueue("b", &json!(0), T0).unwrap();
    let dir = tmp.path().join("queue");
    assert_eq!(
        fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", entry.file_name());
    }
}

#[test]
fn a_full_segment_rolls_over_to_a_new_one() {
    let tmp = temp_dir();
    let options = QueueOptions {
        max_segment_bytes: 500,
        ..QueueOptions::default()
    };
    let mut q = Queue::open(tmp.path().join("queue"), options).unwrap();
    for i in 0..20 {
        q.enqueue(&format!("k{i}"), &json!({"padding": "x".repeat(50)}), T0)
            .unwrap();
    }
    assert!(segment_paths(tmp.path()).len() >= 4);
    assert_eq!(keys(&mut q).len(), 20);
    for _ in 0..20 {
        let lease = q.lease(MINUTE, T0).unwrap().unwrap();
        q.ack(&lease).unwrap();
    }
    assert!(q.jobs().unwrap().is_empty());
}

proptest! {
    #[test]
    fn any_bytes_in_a_segment_or_snapshot_load_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        as_snapshot in any::<bool>(),
    ) {
        let tmp = temp_dir();
        let dir = tmp.path().join("queue");
        fs::create_dir_all(&dir).unwrap();
        let name = if as_snapshot { "snapshot-0000000003.jsonl" } else { "segment-0000000001.jsonl" };
        fs::write(dir.join(name), &bytes).unwrap();
        let mut q = queue(tmp.path());
        match q.stats(T0) {
            Ok(_) => {
                q.enqueue("after", &json!(0), T0).unwrap();
                prop_assert!(q.jobs().unwrap().iter().any(|j| j.key == "after"));
            }
            Err(Error::TooNew { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn valid_lines_with_arbitrary_contents_load_without_panicking(
        lines in proptest::collection::vec(".{0,80}", 0..20),
    ) {
        let tmp = temp_dir();
        let dir = tmp.path().join("queue");
        fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for body in &lines {
            text.push_str(&format!("{:08x} {body}\n", crc32(body.as_bytes())));
        }
        fs::write(dir.join("segment-0000000001.jsonl"), text).unwrap();
        let mut q = queue(tmp.path());
        let stats = q.stats(T0).unwrap();
        prop_assert_eq!(stats.pending, 0);
    }
}

#[test]
fn a_queue_that_another_compacted_under_it_writes_to_the_new_files() {
    let tmp = temp_dir();
    let mut first = queue(tmp.path());
    let mut second = queue(tmp.path());
    first.enqueue("a", &json!("a"), T0).unwrap();
    second.enqueue("b", &json!("b"), T0).unwrap();
    assert_eq!(keys(&mut second), ["a", "b"]);
    // The second has listed the directory and holds the segment open; the first retires it.
    first.compact().unwrap();
    first.enqueue("c", &json!("c"), T0).unwrap();
    first.compact().unwrap();
    second.enqueue("d", &json!("d"), T0).unwrap();
    assert_eq!(keys(&mut queue(tmp.path())), ["a", "b", "c", "d"]);
    // Payloads are read back from wherever compaction moved them.
    let lease = second.lease(MINUTE, T0).unwrap().unwrap();
    assert_eq!(
        (lease.job.key.as_str(), lease.job.payload.get()),
        ("a", "\"a\"")
    );
    second.ack(&lease).unwrap();
    let dead = second.lease(MINUTE, T0).unwrap().unwrap();
    second.dead_letter(&dead, "permanent", "gone", T0).unwrap();
    first.compact().unwrap();
    let letters = second.dead_letters().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].job.payload, json!("b"));
    assert_eq!(keys(&mut first), ["c", "d"]);
}

#[test]
fn a_holder_can_extend_its_lease_before_it_runs_out() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("slow", &json!(1), T0).unwrap();
    let mut lease = q.lease(MINUTE, T0).unwrap().unwrap();
    q.extend(&mut lease, T0 + 5 * MINUTE, T0 + 50_000).unwrap();
    assert_eq!(lease.until, T0 + 5 * MINUTE);
    // Past the first deadline the job is still held: nobody else gets it.
    assert!(q.lease(MINUTE, T0 + 2 * MINUTE).unwrap().is_none());
    assert_eq!(q.stats(T0 + 2 * MINUTE).unwrap().leased, 1);
    // Another process sees the extension too.
    assert!(
        queue(tmp.path())
            .lease(MINUTE, T0 + 4 * MINUTE)
            .unwrap()
            .is_none()
    );
    q.ack(&lease).unwrap();
    assert!(q.jobs().unwrap().is_empty());
    // A lease that ran out and was taken over cannot be extended.
    q.enqueue("late", &json!(2), T0).unwrap();
    let mut first = q.lease(MINUTE, T0).unwrap().unwrap();
    let second = q.lease(MINUTE, T0 + 2 * MINUTE).unwrap().unwrap();
    assert!(matches!(
        q.extend(&mut first, T0 + 10 * MINUTE, T0 + 2 * MINUTE),
        Err(Error::LeaseLost { .. })
    ));
    assert_eq!(
        first.until,
        T0 + MINUTE,
        "a refused extension changes nothing"
    );
    q.ack(&second).unwrap();
}

#[test]
fn failures_keep_their_class_and_dead_letters_can_be_chosen_by_it() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    for (key, class) in [("a", "not_found"), ("b", "permanent"), ("c", "not_found")] {
        q.enqueue(key, &json!(key), T0).unwrap();
        let lease = q.lease(MINUTE, T0).unwrap().unwrap();
        q.retry(&lease, T0, false, "server_down", "refused", T0)
            .unwrap();
        let lease = q.lease(MINUTE, T0).unwrap().unwrap();
        q.dead_letter(&lease, class, "gave up", T0 + 1).unwrap();
    }
    let dead = queue(tmp.path()).dead_letters().unwrap();
    let classes: Vec<&str> = dead.iter().map(|d| d.class.as_str()).collect();
    assert_eq!(classes, ["not_found", "permanent", "not_found"]);
    assert_eq!(dead[0].job.history[0].class, "server_down");
    assert!(!dead[0].job.history[0].counted);
    // Classes survive compaction.
    q.compact().unwrap();
    let dead = queue(tmp.path()).dead_letters().unwrap();
    assert_eq!(dead[1].class, "permanent");
    assert_eq!(dead[2].job.history[0].class, "server_down");
    let not_found = Selection::Class("not_found".into());
    assert_eq!(q.requeue_dead(not_found.clone(), T0 + 2).unwrap(), 2);
    assert_eq!(q.requeue_dead(not_found, T0 + 2).unwrap(), 0);
    assert_eq!(
        q.purge_dead(Selection::Class("permanent".into())).unwrap(),
        1
    );
    assert!(q.dead_letters().unwrap().is_empty());
    assert_eq!(keys(&mut q), ["a", "c"]);
}

#[test]
fn a_batch_is_one_append_in_order_with_superseding() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    let batch: Vec<(String, serde_json::Value)> = (0..500)
        .map(|i| (format!("scene-{}", i % 400), json!(i)))
        .collect();
    let ids = q
        .enqueue_many(batch.iter().map(|(k, v)| (k.as_str(), v)), T0)
        .unwrap();
    assert_eq!(ids.len(), 500);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let mut fresh = queue(tmp.path());
    let jobs = fresh.jobs().unwrap();
    assert_eq!(jobs.len(), 400, "the last 100 superseded the first 100");
    let first = jobs.iter().find(|j| j.key == "scene-0").unwrap();
    assert_eq!(first.payload, json!(400));
    assert_eq!(first.id, ids[400]);
    // A bad key anywhere stores nothing.
    let before = fs::read(segment_paths(tmp.path()).pop().unwrap()).unwrap();
    let long = "k".repeat(300);
    let err = q
        .enqueue_many([("fine", json!(1)), (long.as_str(), json!(2))], T0)
        .unwrap_err();
    assert!(matches!(err, Error::BadKey { len: 300, .. }));
    assert_eq!(
        fs::read(segment_paths(tmp.path()).pop().unwrap()).unwrap(),
        before
    );
    assert!(
        q.enqueue_many(Vec::<(&str, u8)>::new(), T0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_job_that_is_not_there_is_not_found() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    let id = q.enqueue("a", &json!(1), T0).unwrap();
    assert_eq!(q.job(id).unwrap().key, "a");
    let lease = q.lease(MINUTE, T0).unwrap().unwrap();
    q.ack(&lease).unwrap();
    let err = q.job(id).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { job } if job == id),
        "{err:?}"
    );
    assert_eq!(err.to_string(), format!("no job {id} in the queue"));
    // Finishing a lease on a finished job is still a lost lease, not a missing job.
    assert!(matches!(q.ack(&lease), Err(Error::LeaseLost { .. })));
}

/// Every entry under `dir` with its contents and modification time.
fn snapshot_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::metadata(&path).unwrap();
            let bytes = if meta.is_file() {
                fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            out.push((path, bytes, meta.modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_read_only_queue_reads_and_changes_nothing() {
    let tmp = temp_dir();
    // A queue that does not exist is empty, and is not created.
    let mut missing =
        Queue::open_read_only(tmp.path().join("nowhere"), QueueOptions::default()).unwrap();
    assert_eq!(missing.stats(T0).unwrap().pending, 0);
    assert!(missing.jobs().unwrap().is_empty());
    assert!(!tmp.path().join("nowhere").exists());

    let mut q = small_queue(tmp.path());
    for i in 0..30 {
        q.enqueue(&format!("k{i}"), &json!(i), T0).unwrap();
    }
    let lease = q.lease(MINUTE, T0).unwrap().unwrap();
    q.dead_letter(&lease, "permanent", "bad", T0).unwrap();
    let _held = q.lease(MINUTE, T0 + 1).unwrap().unwrap();
    // A torn write at the end, which a writer would cut off, and an expired lease, which a
    // writer would release: a reader does neither.
    let segment = segment_paths(tmp.path()).pop().unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    bytes.extend_from_slice(b"0000 torn");
    fs::write(&segment, &bytes).unwrap();
    let dir = tmp.path().join("queue");
    let before = snapshot_of(&dir);
    let mut reader = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
    let stats = reader.stats(T0 + 10 * MINUTE).unwrap();
    assert_eq!((stats.pending, stats.dead_lettered), (29, 1));
    assert_eq!(reader.jobs().unwrap().len(), 29);
    assert_eq!(reader.dead_letters().unwrap().len(), 1);
    assert_eq!(reader.recovery().unwrap().damaged_lines, 0);
    for err in [
        reader.lease(MINUTE, T0 + 10 * MINUTE).map(|_| ()),
        reader.enqueue("x", &json!(0), T0).map(|_| ()),
        reader.compact(),
        reader.purge_dead(Selection::All).map(|_| ()),
    ] {
        assert!(matches!(err, Err(Error::ReadOnly { .. })), "{err:?}");
    }
    assert_eq!(snapshot_of(&dir), before, "the reader changed the queue");
}

#[test]
fn a_read_only_queue_gives_up_on_a_busy_lock_within_a_second() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("a", &json!(1), T0).unwrap();
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp.path().join("queue/lock"))
        .unwrap();
    fs4::FileExt::lock(&lock).unwrap();
    let options = QueueOptions {
        lock_timeout: std::time::Duration::from_secs(30),
        ..QueueOptions::default()
    };
    let mut reader = Queue::open_read_only(tmp.path().join("queue"), options).unwrap();
    let started = std::time::Instant::now();
    let err = reader.stats(T0).unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Busy { .. }), "{err:?}");
    assert!(err.to_string().contains("was busy"), "{err}");
    fs4::FileExt::unlock(&lock).unwrap();
    assert_eq!(reader.stats(T0).unwrap().pending, 1);
}

#[derive(Clone, Debug)]
enum ClockStep {
    Enqueue,
    /// Lease a job and never report back: its holder died.
    LeaseAndDie(u64),
    /// Lease a job and retry it after a delay.
    LeaseAndRetry(u64),
    Forward(u64),
    Back(u64),
    Jump(u64),
}

fn clock_step() -> impl Strategy<Value = ClockStep> {
    prop_oneof![
        3 => Just(ClockStep::Enqueue),
        2 => (1u64..3_600_000).prop_map(ClockStep::LeaseAndDie),
        2 => (1u64..3_600_000).prop_map(ClockStep::LeaseAndRetry),
        3 => (0u64..600_000).prop_map(ClockStep::Forward),
        1 => (0u64..86_400_000 * 30).prop_map(ClockStep::Back),
        1 => (T0 - 86_400_000 * 365..T0 + 86_400_000 * 365).prop_map(ClockStep::Jump),
    ]
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Whatever the clock did, a job never waits longer than its own visibility window or
    /// retry delay from the present: a dead holder's lease and a pending retry do not stall
    /// by the size of a step back.
    #[test]
    fn no_job_stalls_longer_than_its_own_wait_whatever_the_clock_does(
        steps in proptest::collection::vec(clock_step(), 1..40),
        in_memory in any::<bool>(),
    ) {
        let tmp = temp_dir();
        let mut q = if in_memory { Queue::in_memory() } else { queue(tmp.path()) };
        let mut now = T0;
        let mut longest = 1u64;
        let mut n = 0;
        for step in steps {
            match step {
                ClockStep::Enqueue => {
                    q.enqueue(&format!("k{n}"), &json!(n), now).unwrap();
                    n += 1;
                }
                ClockStep::LeaseAndDie(window) => {
                    longest = longest.max(window);
                    let _ = q.lease(window, now).unwrap();
                }
                ClockStep::LeaseAndRetry(delay) => {
                    longest = longest.max(delay);
                    if let Some(lease) = q.lease(MINUTE, now).unwrap() {
                        q.retry(&lease, now + delay, true, "transient", "x", now).unwrap();
                    }
                }
                ClockStep::Forward(d) => now += d,
                ClockStep::Back(d) => now -= d,
                ClockStep::Jump(t) => now = t,
            }
        }
        let live = q.jobs().unwrap().len();
        // One call at the present lets the queue notice the clock; after the longest wait
        // every job can be had.
        let mut got = 0;
        if let Some(lease) = q.lease(MINUTE, now).unwrap() {
            q.ack(&lease).unwrap();
            got += 1;
        }
        while let Some(lease) = q.lease(MINUTE, now + longest).unwrap() {
            q.ack(&lease).unwrap();
            got += 1;
        }
        prop_assert_eq!(got, live, "jobs stalled past their own wait");
    }
}

#[test]
fn released_leases_are_ready_at_once_and_their_old_holders_lose_them() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    for i in 0..4 {
        q.enqueue(&format!("scene-{i}"), &json!(i), T0).unwrap();
    }
    let held: Vec<_> = (0..3)
        .map(|_| q.lease(MINUTE, T0).unwrap().unwrap())
        .collect();
    assert_eq!(q.release_leases(T0 + 1).unwrap(), 3);
    assert_eq!(
        q.release_leases(T0 + 1).unwrap(),
        0,
        "nothing is held any more"
    );
    // Another process sees them ready, long before their deadline.
    let mut other = queue(tmp.path());
    let stats = other.stats(T0 + 2).unwrap();
    assert_eq!((stats.leased, stats.ready_now), (0, 4), "{stats:?}");
    let again: Vec<String> = (0..4)
        .map(|_| other.lease(MINUTE, T0 + 2).unwrap().unwrap().job.key)
        .collect();
    // By ready time: the one never leased first, then the released ones in order.
    assert_eq!(again, ["scene-3", "scene-0", "scene-1", "scene-2"]);
    // The old leases are gone: finishing one changes nothing and says so.
    assert!(matches!(q.ack(&held[0]), Err(Error::LeaseLost { .. })));
    assert_eq!(other.stats(T0 + 3).unwrap().leased, 4);
}

/// While a compaction writes its snapshot (its temporary file exists), the queue's lock is
/// free: an enqueue that does not wait at all gets in, and so a hook never waits on a
/// compaction. Then the compaction commits, and nothing is lost.
#[test]
fn the_queue_is_not_locked_while_a_compaction_writes_its_snapshot() {
    let tmp = temp_dir();
    let dir = tmp.path().join("queue");
    let mut q = Queue::open(&dir, QueueOptions::default()).unwrap();
    let jobs = 30_000;
    for batch in 0..jobs / 1_000 {
        let items: Vec<(String, serde_json::Value)> = (0..1_000)
            .map(|i| {
                (
                    format!("scene-{}", batch * 1_000 + i),
                    json!({"title": "x".repeat(200)}),
                )
            })
            .collect();
        q.enqueue_many(items, T0).unwrap();
    }
    let impatient = QueueOptions {
        lock_timeout: std::time::Duration::ZERO,
        ..QueueOptions::default()
    };
    // The size of the snapshot being written, if one is.
    let building = |dir: &Path| {
        fs::read_dir(dir).unwrap().find_map(|e| {
            let e = e.unwrap();
            e.file_name()
                .to_string_lossy()
                .ends_with(".tmp")
                .then(|| e.metadata().map(|m| m.len()).unwrap_or(0))
        })
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let got_in = std::thread::scope(|s| {
        s.spawn(|| {
            q.compact().unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut hook = Queue::open(&dir, impatient).unwrap();
        let mut got_in = 0;
        let mut n = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let Some(before) = building(&dir) else {
                std::thread::yield_now();
                continue;
            };
            n += 1;
            let enqueued = hook.enqueue(&format!("hook-{n}"), &json!(n), T0).is_ok();
            // The snapshot grew while the enqueue went in: it was being written meanwhile.
            if enqueued && building(&dir).is_some_and(|after| after > before) {
                got_in += 1;
            }
        }
        got_in
    });
    assert!(
        got_in > 0,
        "no enqueue got in while the snapshot was written"
    );
    let mut fresh = Queue::open(&dir, QueueOptions::default()).unwrap();
    let stats = fresh.stats(T0).unwrap();
    assert!(stats.pending >= jobs, "{stats:?}");
    let recovery = fresh.recovery().unwrap();
    assert!(!recovery.found_damage(), "{recovery:?}");
    assert_eq!(paths_starting(tmp.path(), "snapshot-").len(), 1);
}

#[test]
fn compaction_clears_files_a_removal_left_behind() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    q.enqueue("a", &json!(0), T0).unwrap();
    let dir = tmp.path().join("queue");
    // What a crash between a removal's rename and its end leaves: no store reads it.
    let leftover = dir.join("segment-0000000000.jsonl.removed");
    fs::write(&leftover, b"{}\n").unwrap();
    assert_eq!(keys(&mut queue(tmp.path())), ["a"]);
    q.compact().unwrap();
    assert!(!leftover.exists());
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".removed")), "{names:?}");
    assert_eq!(keys(&mut q), ["a"]);
}

#[test]
fn unsynced_acks_are_seen_at_once_and_counted_until_synced() {
    let tmp = temp_dir();
    let mut q = queue(tmp.path());
    for i in 0..5 {
        q.enqueue(&format!("k{i}"), &json!(i), T0).unwrap();
    }
    for done in 1..=3 {
        let lease = q.lease(60_000, T0).unwrap().unwrap();
        q.ack_unsynced(&lease).unwrap();
        assert_eq!(q.unsynced_acks(), done);
        // Another process sees the ack before any sync.
        assert_eq!(queue(tmp.path()).jobs().unwrap().len(), 5 - done);
    }
    q.sync().unwrap();
    assert_eq!(q.unsynced_acks(), 0);
    // An ack of a lease lost is refused and not counted.
    let lease = q.lease(1, T0).unwrap().unwrap();
    let mut other = queue(tmp.path());
    // The other takes both jobs left, the one whose lease ran out among them.
    let later = T0 + 3_600_000;
    let taken = [
        other.lease(60_000, later).unwrap().unwrap(),
        other.lease(60_000, later).unwrap().unwrap(),
    ];
    assert!(taken.iter().any(|t| t.job.key == lease.job.key));
    assert!(matches!(
        q.ack_unsynced(&lease),
        Err(Error::LeaseLost { .. })
    ));
    assert_eq!(q.unsynced_acks(), 0);
    other.ack_unsynced(&taken[0]).unwrap();
    // Dropped, the queue syncs what it left unsynced; the ack holds either way.
    drop(other);
    assert_eq!(keys(&mut queue(tmp.path())), [taken[1].job.key.clone()]);
}
