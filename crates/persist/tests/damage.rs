//! Damage a hostile disk might do to a queue, generated at random: bytes inserted into a
//! segment, lines deleted from one, a closed segment cut short, a bogus "newer" snapshot, a
//! garbled snapshot line. Whatever the damage:
//!
//! - it is reported, and the file holding it is moved aside by compaction, never removed;
//! - every job whose records the damage did not touch is exactly as it was;
//! - every operation keeps working, on a fresh queue and on one that was open all along;
//! - a compaction leaves no stray files behind, and the queue it leaves loads clean.
//!
//! Case counts: `PERSIST_DAMAGE_CASES` (default 48).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use persist::{DeadJob, Job, Queue, QueueOptions, Selection};
use proptest::prelude::*;
use serde_json::{Value, json};

const T0: u64 = 1_700_000_000_000;
const MINUTE: u64 = 60_000;
const FAR: u64 = T0 + 365 * 86_400_000;

fn options() -> QueueOptions {
    QueueOptions {
        compact_min_records: 40,
        max_segment_bytes: 900,
        ..QueueOptions::default()
    }
}

#[derive(Clone, Debug)]
enum Step {
    Enqueue(u8),
    Lease,
    Ack(usize),
    Retry(usize),
    Dead(usize),
    Requeue,
    Compact,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..12).prop_map(Step::Enqueue),
        5 => Just(Step::Lease),
        3 => any::<usize>().prop_map(Step::Ack),
        2 => any::<usize>().prop_map(Step::Retry),
        1 => any::<usize>().prop_map(Step::Dead),
        1 => Just(Step::Requeue),
        1 => Just(Step::Compact),
    ]
}

#[derive(Clone, Debug)]
enum Damage {
    /// Whole garbage lines at a line boundary of a segment.
    InsertLines {
        file: usize,
        line: usize,
        garbage: Vec<u8>,
    },
    /// Bytes anywhere inside a segment (not appended at its end).
    InsertBytes {
        file: usize,
        at: usize,
        garbage: Vec<u8>,
    },
    /// One line of a segment, unless it is the last of the newest (indistinguishable from a
    /// write that never happened).
    DeleteLine { file: usize, line: usize },
    /// A segment that is not the newest, cut anywhere, to zero included.
    TruncateClosed { file: usize, at: usize },
    /// A file named like a snapshot newer than any, with no valid content.
    BogusSnapshot {
        ahead: u64,
        kind: u8,
        bytes: Vec<u8>,
    },
    /// One byte of one line of the current snapshot.
    GarbleSnapshot { line: usize, byte: usize },
}

fn damage() -> impl Strategy<Value = Damage> {
    let garbage = proptest::collection::vec(
        any::<u8>().prop_filter("no newline", |b| *b != b'\n'),
        1..80,
    );
    prop_oneof![
        (any::<usize>(), any::<usize>(), garbage.clone()).prop_map(|(file, line, garbage)| {
            Damage::InsertLines {
                file,
                line,
                garbage,
            }
        }),
        (
            any::<usize>(),
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..80)
        )
            .prop_map(|(file, at, garbage)| Damage::InsertBytes { file, at, garbage }),
        (any::<usize>(), any::<usize>()).prop_map(|(file, line)| Damage::DeleteLine { file, line }),
        (any::<usize>(), any::<usize>()).prop_map(|(file, at)| Damage::TruncateClosed { file, at }),
        (
            1u64..5,
            0u8..3,
            proptest::collection::vec(any::<u8>(), 0..200)
        )
            .prop_map(|(ahead, kind, bytes)| Damage::BogusSnapshot { ahead, kind, bytes }),
        (any::<usize>(), any::<usize>())
            .prop_map(|(line, byte)| Damage::GarbleSnapshot { line, byte }),
    ]
}

fn queue_dir(root: &Path) -> PathBuf {
    root.join("queue")
}

fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(".jsonl")
        })
        .collect();
    found.sort();
    found
}

/// Runs `steps` and returns which key each job id was enqueued with.
fn build(dir: &Path, steps: &[Step]) -> HashMap<u64, String> {
    let mut q = Queue::open(dir, options()).unwrap();
    let mut keys = HashMap::new();
    let mut leases = Vec::new();
    let mut now = T0;
    for (n, step) in steps.iter().enumerate() {
        now += 1_000;
        match step {
            Step::Enqueue(k) => {
                let key = format!("scene-{k}");
                let id = q
                    .enqueue(&key, &json!({"n": n, "title": "x".repeat(n % 7)}), now)
                    .unwrap();
                keys.insert(id.get(), key);
            }
            Step::Lease => {
                if let Some(lease) = q.lease(10 * MINUTE, now).unwrap() {
                    leases.push(lease);
                }
            }
            Step::Ack(i) | Step::Retry(i) | Step::Dead(i) if !leases.is_empty() => {
                let lease = leases.remove(i % leases.len());
                match step {
                    Step::Ack(_) => q.ack(&lease).unwrap(),
                    Step::Retry(_) => q
                        .retry(&lease, now + 5_000, true, "transient", "503", now)
                        .unwrap(),
                    _ => q.dead_letter(&lease, "permanent", "400", now).unwrap(),
                }
            }
            Step::Requeue => {
                q.requeue_dead(Selection::All, now).unwrap();
            }
            Step::Compact => q.compact().unwrap(),
            _ => {}
        }
    }
    keys
}

/// The lines of a file with where each starts.
fn lines(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            out.push((start, &bytes[start..i]));
            start = i + 1;
        }
    }
    out
}

/// The key a journal or snapshot line is about, if it is about a job.
fn key_of(line: &[u8], keys: &HashMap<u64, String>) -> Option<String> {
    let text = std::str::from_utf8(line).ok()?;
    let json_start = text.find('{')?;
    let value: Value = serde_json::from_str(&text[json_start..]).ok()?;
    let (kind, body) = value.as_object()?.iter().next()?;
    // Journal lines state their offset before the JSON; snapshot lines do not.
    let journal = json_start > 9;
    match kind.as_str() {
        _ if journal => keys.get(&body.get("id")?.as_u64()?).cloned(),
        "live" => body["job"]["key"].as_str().map(String::from),
        "dead" => body["dead"]["job"]["key"].as_str().map(String::from),
        _ => None,
    }
}

/// What a damage did: which keys it may have touched, which file it changed, and whether the
/// jobs of a copied snapshot may come back (delivered again, never lost).
struct Applied {
    touched: BTreeSet<String>,
    file: PathBuf,
    may_add: bool,
}

/// Applies `damage`; `None` if this queue has nothing it applies to.
fn apply(dir: &Path, damage: &Damage, keys: &HashMap<u64, String>) -> Option<Applied> {
    let segments = numbered(dir, "segment-");
    let snapshots = numbered(dir, "snapshot-");
    let mut touched = BTreeSet::new();
    let pick =
        |list: &[PathBuf], i: usize| (!list.is_empty()).then(|| list[i % list.len()].clone());
    let file = match damage {
        Damage::InsertLines {
            file,
            line,
            garbage,
        } => {
            let path = pick(&segments, *file)?;
            let bytes = fs::read(&path).unwrap();
            let all = lines(&bytes);
            if all.is_empty() {
                return None;
            }
            // A boundary before some line: the garbage is inserted in the middle, not appended.
            let at = all[line % all.len()].0;
            let mut changed = bytes[..at].to_vec();
            changed.extend_from_slice(garbage);
            changed.push(b'\n');
            changed.extend_from_slice(&bytes[at..]);
            fs::write(&path, changed).unwrap();
            path
        }
        Damage::InsertBytes { file, at, garbage } => {
            let path = pick(&segments, *file)?;
            let bytes = fs::read(&path).unwrap();
            if bytes.len() < 2 {
                return None;
            }
            let at = at % (bytes.len() - 1);
            let line = lines(&bytes)
                .into_iter()
                .rev()
                .find(|(start, _)| *start <= at)?;
            touched.extend(key_of(line.1, keys));
            let mut changed = bytes[..at].to_vec();
            changed.extend_from_slice(garbage);
            changed.extend_from_slice(&bytes[at..]);
            fs::write(&path, changed).unwrap();
            path
        }
        Damage::DeleteLine { file, line } => {
            let path = pick(&segments, *file)?;
            let newest = Some(&path) == segments.last();
            let bytes = fs::read(&path).unwrap();
            let mut all = lines(&bytes);
            if newest {
                all.pop();
            }
            if all.is_empty() {
                return None;
            }
            let (start, content) = all[line % all.len()];
            touched.extend(key_of(content, keys));
            let mut changed = bytes[..start].to_vec();
            changed.extend_from_slice(&bytes[start + content.len() + 1..]);
            fs::write(&path, changed).unwrap();
            path
        }
        Damage::TruncateClosed { file, at } => {
            if segments.len() < 2 {
                return None;
            }
            let path = pick(&segments[..segments.len() - 1], *file)?;
            let bytes = fs::read(&path).unwrap();
            let at = at % bytes.len().max(1);
            for (start, content) in lines(&bytes) {
                if start + content.len() + 1 > at {
                    touched.extend(key_of(content, keys));
                }
            }
            fs::write(&path, &bytes[..at]).unwrap();
            path
        }
        Damage::BogusSnapshot { ahead, kind, bytes } => {
            let newest = segments
                .iter()
                .chain(&snapshots)
                .map(|p| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    name.trim_start_matches("segment-")
                        .trim_start_matches("snapshot-")
                        .trim_end_matches(".jsonl")
                        .parse::<u64>()
                        .unwrap()
                })
                .max()
                .unwrap_or(0);
            let path = dir.join(format!("snapshot-{:010}.jsonl", newest + ahead));
            let content = match (kind, snapshots.last()) {
                (0, _) => bytes.clone(),
                (1, _) => Vec::new(),
                // A real snapshot under a newer name: whole, but not the one its trailer names.
                (_, Some(real)) => fs::read(real).unwrap(),
                (_, None) => return None,
            };
            fs::write(&path, content).unwrap();
            return Some(Applied {
                touched,
                file: path,
                may_add: *kind == 2,
            });
        }
        Damage::GarbleSnapshot { line, byte } => {
            let path = snapshots.last()?.clone();
            let mut bytes = fs::read(&path).unwrap();
            let all = lines(&bytes);
            let (start, content) = all[line % all.len()];
            if content.is_empty() {
                return None;
            }
            touched.extend(key_of(content, keys));
            let at = start + byte % content.len();
            bytes[at] = if bytes[at] == b'#' { b'%' } else { b'#' };
            fs::write(&path, bytes).unwrap();
            path
        }
    };
    Some(Applied {
        touched,
        file,
        may_add: false,
    })
}

type State = (BTreeMap<String, Vec<Job>>, BTreeMap<String, Vec<DeadJob>>);

fn state(q: &mut Queue) -> State {
    let mut live: BTreeMap<String, Vec<Job>> = BTreeMap::new();
    for job in q.jobs().unwrap() {
        live.entry(job.key.clone()).or_default().push(job);
    }
    let mut dead: BTreeMap<String, Vec<DeadJob>> = BTreeMap::new();
    for job in q.dead_letters().unwrap() {
        dead.entry(job.job.key.clone()).or_default().push(job);
    }
    (live, dead)
}

fn untouched<T: Clone>(
    map: &BTreeMap<String, T>,
    touched: &BTreeSet<String>,
) -> BTreeMap<String, T> {
    map.iter()
        .filter(|(k, _)| !touched.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn check(damaged: &mut Queue, reference: &State, applied: &Applied) -> Result<(), TestCaseError> {
    let (live, dead) = state(damaged);
    let recovery = damaged.recovery().unwrap();
    prop_assert!(
        recovery.damaged_lines > 0 || !recovery.details.is_empty(),
        "the damage to {} was not reported: {:?}",
        applied.file.display(),
        recovery
    );
    prop_assert!(
        recovery.damaged_files.contains(&applied.file),
        "{:?}",
        recovery
    );
    let (ref_live, ref_dead) = reference;
    if applied.may_add {
        // A copied snapshot may bring old jobs back (delivered again); it must not change or
        // hide any that are there.
        for (key, jobs) in ref_live {
            for job in jobs {
                prop_assert!(
                    live.get(key).is_some_and(|l| l.contains(job)),
                    "lost {job:?}"
                );
            }
        }
        for (key, jobs) in ref_dead {
            for job in jobs {
                prop_assert!(
                    dead.get(key).is_some_and(|l| l.contains(job)),
                    "lost {job:?}"
                );
            }
        }
    } else {
        prop_assert_eq!(
            untouched(&live, &applied.touched),
            untouched(ref_live, &applied.touched)
        );
        prop_assert_eq!(
            untouched(&dead, &applied.touched),
            untouched(ref_dead, &applied.touched)
        );
    }
    Ok(())
}

/// Every operation still works on the damaged queue, compaction keeps the damaged file (moved
/// aside, as it was) and leaves nothing stray, and the result loads clean.
fn keeps_working(dir: &Path, q: &mut Queue, applied: &Applied) -> Result<(), TestCaseError> {
    let damaged_bytes = fs::read(&applied.file).unwrap();
    q.enqueue("after-damage", &json!(1), FAR).unwrap();
    let before = q.jobs().unwrap().len();
    q.compact().unwrap();
    let kept: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    // Kept as it was (a seal may have been appended to close it, nothing more).
    prop_assert!(
        kept.iter()
            .any(|p| fs::read(p).unwrap().starts_with(&damaged_bytes)),
        "the damaged file {} was not kept: {:?}",
        applied.file.display(),
        kept
    );
    prop_assert_eq!(
        numbered(dir, "segment-").len(),
        1,
        "stray segments after compaction"
    );
    prop_assert_eq!(numbered(dir, "snapshot-").len(), 1);
    let mut fresh = Queue::open(dir, options()).unwrap();
    let recovery = fresh.recovery().unwrap();
    prop_assert_eq!(recovery.damaged_lines, 0, "{:?}", recovery);
    prop_assert!(recovery.details.is_empty(), "{:?}", recovery);
    let after = fresh.jobs().unwrap().len();
    if applied.may_add {
        prop_assert!(
            after >= before,
            "{} jobs after compaction, {} before",
            after,
            before
        );
    } else {
        prop_assert_eq!(after, before);
    }
    // Every job can be had, or gives way to a newer one with its key (a lease that runs out
    // while a newer job waits): none is stuck.
    let keys: BTreeSet<String> = fresh.jobs().unwrap().into_iter().map(|j| j.key).collect();
    let mut drained = BTreeSet::new();
    while let Some(lease) = fresh.lease(MINUTE, FAR).unwrap() {
        fresh.ack(&lease).unwrap();
        drained.insert(lease.job.key);
    }
    prop_assert_eq!(drained, keys);
    prop_assert!(
        fresh.jobs().unwrap().is_empty(),
        "jobs left that could not be leased"
    );
    fresh.purge_dead(Selection::All).unwrap();
    prop_assert_eq!(fresh.stats(FAR).unwrap().pending, 0);
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PERSIST_DAMAGE_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn damage_is_reported_contained_and_kept(
        steps in proptest::collection::vec(step(), 20..70),
        damage in damage(),
        open_all_along in any::<bool>(),
    ) {
        let tmp = tempfile::Builder::new().prefix("persist-damage-").tempdir().unwrap();
        let dir = queue_dir(tmp.path());
        let keys = build(&dir, &steps);
        let reference_dir = tmp.path().join("reference");
        fs::create_dir(&reference_dir).unwrap();
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            fs::copy(&path, reference_dir.join(path.file_name().unwrap())).unwrap();
        }
        let reference = state(&mut Queue::open(&reference_dir, options()).unwrap());
        // A queue that read everything before the damage, as a long-running worker would have.
        let mut open = Queue::open(&dir, options()).unwrap();
        open.stats(T0).unwrap();
        let applied = apply(&dir, &damage, &keys);
        prop_assume!(applied.is_some());
        let applied = applied.unwrap();
        if open_all_along {
            // Its view predates the damage: what it reports of untouched jobs must still be
            // right, and everything must keep working.
            let (live, dead) = state(&mut open);
            if !applied.may_add {
                prop_assert_eq!(untouched(&live, &applied.touched), untouched(&reference.0, &applied.touched));
                prop_assert_eq!(untouched(&dead, &applied.touched), untouched(&reference.1, &applied.touched));
            }
            keeps_working(&dir, &mut open, &applied)?;
        } else {
            let mut fresh = Queue::open(&dir, options()).unwrap();
            check(&mut fresh, &reference, &applied)?;
            keeps_working(&dir, &mut fresh, &applied)?;
        }
    }
}
