//! Queues written by older plexsync versions (schema 1): read as they are by readers, carried
//! forward by the first writer, never lost and never silently empty. Files from the commits
//! that wrote them are in `fixtures/`; random histories are written in both of schema 1's
//! encodings by a model of its writer. A record of a kind no version here knows (a newer
//! plexsync's) is refused by readers and writers alike, with nothing changed.

use std::fs;
use std::path::{Path, PathBuf};

use persist::{Error, Queue, QueueOptions};
use proptest::prelude::*;
use serde_json::{Value, json};

const T: u64 = 1_764_000_000_000;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("persist-legacy-")
        .tempdir()
        .unwrap()
}

/// A copy of fixture `name` (e.g. `schema1-174f121/journal`) in a fresh directory.
fn fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = temp_dir();
    let dir = tmp.path().join("queue");
    fs::create_dir(&dir).unwrap();
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    for entry in fs::read_dir(&from).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    (tmp, dir)
}

/// Every file of the queue directory but its locks, with its contents.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "lock") && !p.ends_with("lock"))
        .map(|p| {
            let bytes = fs::read(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    all.sort();
    all
}

/// (key, title or error) pairs.
type Pairs = Vec<(String, String)>;

/// The live jobs as (key, title) and the dead ones as (key, error).
fn contents(queue: &mut Queue) -> (Pairs, Pairs) {
    let live = queue
        .jobs()
        .unwrap()
        .into_iter()
        .map(|j| {
            let payload: Value = j.payload.decode().unwrap();
            (j.key, payload["edit"]["title"].as_str().unwrap().to_owned())
        })
        .collect();
    let dead = queue
        .dead_letters()
        .unwrap()
        .into_iter()
        .map(|d| (d.job.key, d.error))
        .collect();
    (live, dead)
}

/// The live jobs both fixtures hold: the last edit of each scene.
const EDITED: [(&str, &str); 3] = [
    ("scene-1", "Sintel, edited"),
    ("scene-2", "Big Buck Bunny, edited"),
    ("scene-3", "Elephants Dream, edited"),
];

fn pairs(items: &[(&str, &str)]) -> Pairs {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const COMMITS: [&str; 2] = ["schema1-174f121", "schema1-92880ae"];

#[test]
fn a_reader_sees_every_job_of_an_older_format_and_changes_nothing() {
    for commit in COMMITS {
        let (_tmp, dir) = fixture(&format!("{commit}/journal"));
        let before = files(&dir);
        let mut queue = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
        let (live, dead) = contents(&mut queue);
        assert_eq!(live, pairs(&EDITED), "{commit}");
        assert!(dead.is_empty());
        let stats = queue.stats(T + 60_000).unwrap();
        assert_eq!((stats.pending, stats.ready_now), (3, 3), "{commit}");
        let recovery = queue.recovery().unwrap();
        assert!(!recovery.found_damage(), "{commit}: {recovery:?}");
        assert_eq!(recovery.old_format.len(), 1, "{commit}: {recovery:?}");
        assert_eq!(files(&dir), before, "{commit}: a reader writes nothing");
    }
}

#[test]
fn an_older_snapshot_keeps_its_retries_its_lease_and_its_dead_letters() {
    for commit in COMMITS {
        let (_tmp, dir) = fixture(&format!("{commit}/snapshot"));
        let mut queue = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
        let (live, dead) = contents(&mut queue);
        assert_eq!(live, pairs(&EDITED), "{commit}");
        assert_eq!(dead, pairs(&[("scene-9", "not in Plex")]), "{commit}");
        let jobs = queue.jobs().unwrap();
        assert_eq!(jobs[0].next_retry_at, Some(T + 20), "{commit}");
        assert_eq!(jobs[0].history.len(), 1);
        assert_eq!(jobs[0].history[0].error, "Plex is down");
        let stats = queue.stats(T + 40).unwrap();
        assert_eq!((stats.leased, stats.dead_lettered), (1, 1), "{commit}");
        let recovery = queue.recovery().unwrap();
        assert!(!recovery.found_damage(), "{commit}: {recovery:?}");
        assert_eq!(recovery.old_format.len(), 2, "{commit}: {recovery:?}");
    }
}

#[test]
fn the_first_writer_carries_an_older_format_forward_and_loses_nothing() {
    for name in ["journal", "snapshot"] {
        for commit in COMMITS {
            let (_tmp, dir) = fixture(&format!("{commit}/{name}"));
            let expected =
                contents(&mut Queue::open_read_only(&dir, QueueOptions::default()).unwrap());
            let old: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
            let mut queue = Queue::open(&dir, QueueOptions::default()).unwrap();
            // A job lease: the first write, after which only today's format is left.
            let released = queue.release_leases(T + 100).unwrap();
            assert_eq!(released, usize::from(name == "snapshot"), "{commit}/{name}");
            assert_eq!(contents(&mut queue), expected, "{commit}/{name}");
            let now: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
            assert!(
                old.iter().all(|f| !now.contains(f)),
                "{commit}/{name}: {old:?} left in {now:?}"
            );
            let snapshot = files(&dir)
                .into_iter()
                .find(|(n, _)| n.starts_with("snapshot-"))
                .unwrap();
            assert!(
                String::from_utf8_lossy(&snapshot.1).contains(r#"{"header":{"schema":2}}"#),
                "{commit}/{name}"
            );
            let mut reader = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
            assert_eq!(contents(&mut reader), expected);
            let recovery = reader.recovery().unwrap();
            assert!(
                recovery.old_format.is_empty() && !recovery.found_damage(),
                "{recovery:?}"
            );
            // And the queue works on: every live job is delivered.
            let mut keys = Vec::new();
            while let Some(lease) = queue.lease(60_000, T + 200_000).unwrap() {
                keys.push(lease.job.key.clone());
                queue.ack(&lease).unwrap();
            }
            keys.sort();
            assert_eq!(keys, ["scene-1", "scene-2", "scene-3"], "{commit}/{name}");
        }
    }
}

#[test]
fn an_enqueue_into_an_older_queue_adds_its_job_beside_the_old_ones() {
    for commit in COMMITS {
        let (_tmp, dir) = fixture(&format!("{commit}/journal"));
        let mut queue = Queue::open(&dir, QueueOptions::default()).unwrap();
        let payload = json!({"edit": {"title": "Interstate 60, edited"}});
        queue.enqueue("scene-4", &payload, T + 5).unwrap();
        let mut reader = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
        let (live, _) = contents(&mut reader);
        let keys: Vec<&str> = live.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["scene-1", "scene-2", "scene-3", "scene-4"],
            "{commit}"
        );
    }
}

/// One step of a history, as schema 1's writer would have recorded it.
#[derive(Clone, Debug)]
enum Step {
    Enqueue(u8),
    /// Lease the next ready job, then: 0 ack, 1 retry, 2 dead-letter, 3 keep it leased.
    Take(u8),
    RequeueDead,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..6).prop_map(Step::Enqueue),
        3 => (0u8..4).prop_map(Step::Take),
        1 => Just(Step::RequeueDead),
    ]
}

/// Schema 1's journal writer: `<crc> <json>` lines without offsets, records tagged inside
/// (`{"op": "enqueue", ...}`, as 174f121 wrote) or outside (`{"enqueue": {...}}`, as 92880ae
/// did). A job's id is its record's position: segment 1, at its offset.
struct OldWriter {
    bytes: Vec<u8>,
    inside: bool,
}

impl OldWriter {
    fn put(&mut self, kind: &str, fields: Value) -> u64 {
        let at = self.bytes.len() as u64;
        let json = if self.inside {
            let mut fields = fields;
            fields["op"] = json!(kind);
            fields
        } else {
            json!({ kind: fields })
        };
        let text = json.to_string();
        self.bytes.extend_from_slice(
            format!("{:08x} {text}\n", crc32fast::hash(text.as_bytes())).as_bytes(),
        );
        (1 << 40) | at
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any history schema 1 could have recorded, in either of its encodings, reads back as
    /// today's queue holds the same history: the same live jobs in the same state, the same
    /// dead letters; and carried forward, it stays so.
    #[test]
    fn any_older_history_reads_as_today_s_queue_reads_the_same_history(
        steps in proptest::collection::vec(step(), 1..40),
        inside in any::<bool>(),
    ) {
        let tmp = temp_dir();
        let dir = tmp.path().join("queue");
        fs::create_dir(&dir).unwrap();
        let mut old = OldWriter { bytes: Vec::new(), inside };
        let mut today = Queue::in_memory();
        // Today's ids differ from schema 1's (positions in another encoding): mapped here.
        let mut ids: std::collections::HashMap<persist::JobId, u64> = Default::default();
        for (n, step) in steps.iter().enumerate() {
            let now = T + n as u64 * 1_000;
            match step {
                Step::Enqueue(scene) => {
                    let key = format!("scene-{scene}");
                    let payload = json!({"edit": {"title": format!("title {n}")}});
                    let id = today.enqueue(&key, &payload, now).unwrap();
                    let position = (1u64 << 40) | old.bytes.len() as u64;
                    old.put("enqueue", json!({"id": position, "key": key, "payload": payload, "at": now}));
                    ids.insert(id, position);
                }
                Step::Take(outcome) => {
                    let Some(lease) = today.lease(60_000, now).unwrap() else { continue };
                    let id = ids[&lease.job.id];
                    // Schema 1's lease token is the position of the lease's own record.
                    let position = (1u64 << 40) | old.bytes.len() as u64;
                    let token = old.put("lease", json!({"id": id, "token": position, "until": now + 60_000}));
                    match outcome {
                        0 => {
                            today.ack(&lease).unwrap();
                            old.put("ack", json!({"id": id, "token": token}));
                        }
                        1 => {
                            today.retry(&lease, now + 5_000, true, "", "Plex is down", now).unwrap();
                            old.put("retry", json!({"id": id, "token": token, "at": now, "next": now + 5_000, "counted": true, "error": "Plex is down"}));
                        }
                        2 => {
                            today.dead_letter(&lease, "", "not in Plex", now).unwrap();
                            old.put("dead", json!({"id": id, "token": token, "at": now, "error": "not in Plex"}));
                        }
                        _ => {}
                    }
                }
                Step::RequeueDead => {
                    let dead = today.dead_letters().unwrap();
                    let Some(first) = dead.first() else { continue };
                    let id = ids[&first.job.id];
                    today
                        .requeue_dead(persist::Selection::One(first.job.id), now)
                        .unwrap();
                    old.put("requeue", json!({"id": id, "at": now}));
                }
            }
        }
        fs::write(dir.join("segment-0000000001.jsonl"), &old.bytes).unwrap();
        let summary = |q: &mut Queue| {
            let mut live: Vec<(String, u32, Option<u64>, usize)> = q
                .jobs()
                .unwrap()
                .into_iter()
                .map(|j| (j.key, j.attempts, j.next_retry_at, j.history.len()))
                .collect();
            live.sort();
            let mut dead: Vec<(String, String)> = q
                .dead_letters()
                .unwrap()
                .into_iter()
                .map(|d| (d.job.key, d.error))
                .collect();
            dead.sort();
            let stats = q.stats(T + 1_000_000).unwrap();
            (live, dead, stats.leased)
        };
        let expected = summary(&mut today);
        let mut reader = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
        prop_assert_eq!(summary(&mut reader), expected.clone());
        let recovery = reader.recovery().unwrap();
        prop_assert!(!recovery.found_damage(), "{:?}", recovery);
        let mut writer = Queue::open(&dir, QueueOptions::default()).unwrap();
        writer.compact().unwrap();
        prop_assert_eq!(summary(&mut writer), expected.clone());
        let mut reader = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
        prop_assert_eq!(summary(&mut reader), expected);
        prop_assert!(reader.recovery().unwrap().old_format.is_empty());
    }

    /// An intact record of a kind no version here knows, anywhere in the journal or a
    /// snapshot: readers and writers refuse with the kind named, and nothing is changed.
    #[test]
    fn a_record_of_an_unknown_kind_is_refused_and_nothing_is_changed(
        kind in "[a-z_]{3,12}",
        jobs in 1usize..6,
        at in 0usize..6,
        in_snapshot in any::<bool>(),
    ) {
        let known = [
            "enqueue", "lease", "extend", "expire", "ack", "retry", "dead", "requeue", "purge",
            "rebase", "seal", "header", "live", "trailer",
        ];
        prop_assume!(!known.contains(&kind.as_str()));
        let tmp = temp_dir();
        let dir = tmp.path().join("queue");
        let mut queue = Queue::open(&dir, QueueOptions::default()).unwrap();
        for n in 0..jobs {
            queue.enqueue(&format!("scene-{n}"), &json!(n), T).unwrap();
        }
        if in_snapshot {
            queue.compact().unwrap();
        }
        drop(queue);
        // A newer plexsync's record, framed as the file's own lines are.
        let prefix = if in_snapshot { "snapshot-" } else { "segment-" };
        let path = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .max()
            .unwrap();
        let bytes = fs::read(&path).unwrap();
        let mut lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        let at = if in_snapshot { (1 + at).min(lines.len() - 1) } else { at.min(lines.len()) };
        let offset: usize = lines[..at].iter().map(|l| l.len()).sum();
        let body = json!({ kind.clone(): {"id": 7} }).to_string();
        let framed = if in_snapshot {
            body
        } else {
            format!("{offset:016x} {body}")
        };
        let line = format!("{:08x} {framed}\n", crc32fast::hash(framed.as_bytes()));
        lines.insert(at, line.as_bytes());
        fs::write(&path, lines.concat()).unwrap();
        let before = files(&dir);
        let mut reader = Queue::open_read_only(&dir, QueueOptions::default()).unwrap();
        let err = reader.jobs().unwrap_err();
        prop_assert!(matches!(&err, Error::Foreign { kind: k, .. } if *k == kind), "{:?}", err);
        prop_assert!(err.to_string().contains("upgrade plexsync"), "{}", err);
        let mut writer = Queue::open(&dir, QueueOptions::default()).unwrap();
        prop_assert!(writer.lease(60_000, T).is_err());
        prop_assert!(writer.compact().is_err());
        prop_assert_eq!(files(&dir), before);
    }
}

#[test]
fn an_enqueue_refuses_a_journal_that_ends_in_a_newer_plexsync_s_record() {
    let tmp = temp_dir();
    let dir = tmp.path().join("queue");
    let mut queue = Queue::open(&dir, QueueOptions::default()).unwrap();
    queue.enqueue("scene-1", &json!(1), T).unwrap();
    let path = dir.join("segment-0000000001.jsonl");
    let mut bytes = fs::read(&path).unwrap();
    let framed = format!("{:016x} {}", bytes.len(), json!({"pause": {"until": 5}}));
    bytes.extend_from_slice(
        format!("{:08x} {framed}\n", crc32fast::hash(framed.as_bytes())).as_bytes(),
    );
    fs::write(&path, &bytes).unwrap();
    let before = files(&dir);
    let mut fresh = Queue::open(&dir, QueueOptions::default()).unwrap();
    let err = fresh.enqueue("scene-2", &json!(2), T).unwrap_err();
    assert!(
        matches!(&err, Error::Foreign { kind, .. } if kind == "pause"),
        "{err:?}"
    );
    assert_eq!(files(&dir), before);
}
