//! The locked state file: defaults, round trips, bad files, locks, permissions.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use persist::{Error, StateFile};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Counter {
    count: u64,
    note: String,
}

fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("persist-state-{name}-"))
        .tempdir()
        .unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn corrupt_files(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    found.sort();
    found
}

#[test]
fn a_missing_file_or_directory_reads_as_the_default() {
    let tmp = temp_dir("missing");
    let file: StateFile<Counter> = StateFile::new(tmp.path().join("nowhere/deeper/state.json"), 1);
    assert_eq!(file.load().unwrap(), Counter::default());
    assert!(!tmp.path().join("nowhere").exists(), "load creates nothing");
}

#[test]
fn update_creates_private_files_and_round_trips() {
    let tmp = temp_dir("roundtrip");
    let path = tmp.path().join("data/state.json");
    let file: StateFile<Counter> = StateFile::new(&path, 3);
    let returned = file
        .update(|c| {
            c.count += 5;
            c.note = "hello".into();
            c.count * 2
        })
        .unwrap();
    assert_eq!(returned, 10);
    assert_eq!(
        file.load().unwrap(),
        Counter {
            count: 5,
            note: "hello".into()
        }
    );
    // On Windows a file's privacy is its directory's ACL (see persist's `fsutil::private`).
    #[cfg(unix)]
    {
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&tmp.path().join("data/state.json.lock")), 0o600);
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
    }
    let raw: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(raw["schema"], 3);
    assert_eq!(raw["state"]["count"], 5);
    assert!(!tmp.path().join("data/state.json.tmp").exists());
    assert_eq!(file.path(), path);
}

#[test]
fn threads_updating_at_once_lose_nothing() {
    let tmp = temp_dir("threads");
    let path = tmp.path().join("state.json");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let file: StateFile<Counter> = StateFile::new(&path, 1);
                for _ in 0..50 {
                    file.update(|c| c.count += 1).unwrap();
                }
            });
        }
    });
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    assert_eq!(file.load().unwrap().count, 200);
}

fn bad_file_cases() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = br#"{"schema":1,"state":{"count":7,"note":"x"}}"#.to_vec();
    vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "not a plexsync state file",
        ),
        ("zero-length", Vec::new(), "the file is empty"),
        (
            "garbage",
            b"\x00\xffnot json at all".to_vec(),
            "not a plexsync state file",
        ),
        (
            "no schema",
            br#"{"state":{"count":1}}"#.to_vec(),
            "not a plexsync state file",
        ),
        (
            "wrong shape",
            br#"{"schema":1,"state":{"count":"seven"}}"#.to_vec(),
            "unexpected contents",
        ),
        (
            "older schema",
            br#"{"schema":0,"state":{"count":7}}"#.to_vec(),
            "schema 0 is older than any this version reads (1)",
        ),
        // serde reads a struct from an array too: only the envelope written here is accepted.
        ("bare array", b"[1]".to_vec(), "not a JSON object"),
        (
            "envelope as an array",
            br#"[1, {"count":7,"note":"x"}]"#.to_vec(),
            "not a JSON object",
        ),
    ]
}

#[test]
fn unreadable_files_are_moved_aside_and_reported() {
    for (name, bytes, cause) in bad_file_cases() {
        let tmp = temp_dir("bad");
        let path = tmp.path().join("state.json");
        fs::write(&path, &bytes).unwrap();
        let file: StateFile<Counter> = StateFile::new(&path, 1);
        let err = file.load().unwrap_err();
        let Error::Corrupt {
            path: reported,
            moved_to,
            cause: why,
        } = &err
        else {
            panic!("{name}: expected Corrupt, got {err:?}")
        };
        assert_eq!(reported, &path, "{name}");
        assert!(why.contains(cause), "{name}: {why}");
        assert_eq!(
            fs::read(moved_to).unwrap(),
            bytes,
            "{name}: moved, not changed"
        );
        assert_eq!(
            corrupt_files(tmp.path()),
            std::slice::from_ref(moved_to),
            "{name}"
        );
        let message = err.to_string();
        assert!(
            message.contains("state.json could not be read"),
            "{message}"
        );
        assert!(message.contains("it was moved to"), "{message}");
        // The caller decides: going on starts from the default.
        assert_eq!(file.load().unwrap(), Counter::default(), "{name}");
        file.update(|c| c.count = 1).unwrap();
        assert_eq!(file.load().unwrap().count, 1);
    }
}

#[test]
fn update_on_an_unreadable_file_reports_it_and_writes_nothing() {
    let tmp = temp_dir("bad-update");
    let path = tmp.path().join("state.json");
    fs::write(&path, b"{{{{").unwrap();
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    let mut called = false;
    let err = file.update(|_| called = true).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(!called);
    assert!(!path.exists());
    assert_eq!(corrupt_files(tmp.path()).len(), 1);
}

#[test]
fn a_file_from_a_newer_version_is_left_where_it_is_and_refused_every_time() {
    let tmp = temp_dir("future");
    let path = tmp.path().join("state.json");
    let bytes = br#"{"schema":9,"state":{"brand":"new"}}"#;
    fs::write(&path, bytes).unwrap();
    let file: StateFile<Counter> = StateFile::new(&path, 2);
    for _ in 0..2 {
        let err = file.load().unwrap_err();
        assert!(
            matches!(
                err,
                Error::FutureSchema {
                    found: 9,
                    supported: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(
                "written by a newer plexsync (schema 9; this one reads up to 2); it was left as it is: upgrade plexsync"
            ),
            "{err}"
        );
        // An update refuses too, and writes nothing.
        assert!(matches!(
            file.update(|c| c.count += 1),
            Err(Error::FutureSchema { .. })
        ));
        assert_eq!(fs::read(&path).unwrap(), bytes);
    }
    assert!(corrupt_files(tmp.path()).is_empty(), "nothing moved aside");
}

#[test]
fn moving_aside_never_overwrites_an_earlier_corrupt_file() {
    let tmp = temp_dir("twice");
    let path = tmp.path().join("state.json");
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    for round in 0..3u8 {
        fs::write(&path, [b'x', round]).unwrap();
        assert!(file.load().is_err());
    }
    let kept: Vec<Vec<u8>> = corrupt_files(tmp.path())
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert_eq!(kept.len(), 3);
    for round in 0..3u8 {
        assert!(kept.contains(&vec![b'x', round]));
    }
}

#[test]
fn a_held_lock_times_out_with_a_clear_error() {
    let tmp = temp_dir("timeout");
    let path = tmp.path().join("state.json");
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let holder_path = path.clone();
        s.spawn(move || {
            let file: StateFile<Counter> = StateFile::new(&holder_path, 1);
            file.update(|c| {
                locked_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                c.count = 1;
            })
            .unwrap();
        });
        locked_rx.recv().unwrap();
        let impatient: StateFile<Counter> =
            StateFile::new(&path, 1).with_lock_timeout(Duration::from_millis(30));
        let err = impatient.update(|c| c.count = 99).unwrap_err();
        match &err {
            Error::LockTimeout { path: lock, waited } => {
                assert!(lock.ends_with("state.json.lock"));
                assert!(*waited >= Duration::from_millis(30));
            }
            other => panic!("expected LockTimeout, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains("another plexsync process is holding it")
        );
        release_tx.send(()).unwrap();
    });
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    assert_eq!(
        file.load().unwrap().count,
        1,
        "the timed-out update changed nothing"
    );
}

#[test]
fn a_panicking_change_writes_nothing_and_releases_the_lock() {
    let tmp = temp_dir("panic");
    let path = tmp.path().join("state.json");
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    file.update(|c| c.count = 3).unwrap();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        file.update(|c| {
            c.count = 100;
            panic!("the caller's bug");
        })
    }));
    assert!(outcome.is_err());
    let quick: StateFile<Counter> =
        StateFile::new(&path, 1).with_lock_timeout(Duration::from_millis(100));
    quick.update(|c| c.count += 1).unwrap();
    assert_eq!(file.load().unwrap().count, 4);
}

#[test]
fn a_state_that_cannot_be_encoded_leaves_the_old_one() {
    let tmp = temp_dir("encode");
    let path = tmp.path().join("state.json");
    let file: StateFile<HashMap<(u8, u8), u8>> = StateFile::new(&path, 1);
    let err = file.update(|m| {
        m.insert((1, 2), 3);
    });
    assert!(matches!(err, Err(Error::Encode { .. })), "{err:?}");
    assert!(!path.exists());
    assert!(
        err.unwrap_err()
            .to_string()
            .contains("could not encode the new contents of")
    );
}

#[test]
fn an_unwritable_target_is_an_error_naming_the_file() {
    let tmp = temp_dir("unwritable");
    // The state file's directory is a plain file: nothing can be created in it.
    let blocker = tmp.path().join("not-a-dir");
    fs::write(&blocker, b"").unwrap();
    let file: StateFile<Counter> = StateFile::new(blocker.join("state.json"), 1);
    let err = file.update(|c| c.count = 1).unwrap_err().to_string();
    assert!(err.starts_with("could not create the directory"), "{err}");
    assert!(err.contains("not-a-dir"), "{err}");
}

proptest! {
    #[test]
    fn any_bytes_load_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let tmp = temp_dir("fuzz");
        let path = tmp.path().join("state.json");
        fs::write(&path, &bytes).unwrap();
        let file: StateFile<Counter> = StateFile::new(&path, 1);
        match file.load() {
            Ok(_) => prop_assert_eq!(fs::read(&path).unwrap(), bytes),
            Err(Error::Corrupt { moved_to, .. }) => {
                prop_assert_eq!(fs::read(moved_to).unwrap(), bytes);
                prop_assert!(!path.exists());
            }
            // A newer schema is left in place, untouched.
            Err(Error::FutureSchema { .. }) => prop_assert_eq!(fs::read(&path).unwrap(), bytes),
            Err(other) => prop_assert!(false, "unexpected error {:?}", other),
        }
    }

    #[test]
    fn json_shaped_input_loads_without_panicking(
        schema in any::<u32>(),
        count in any::<i64>(),
        note in ".{0,20}",
    ) {
        let tmp = temp_dir("fuzzjson");
        let path = tmp.path().join("state.json");
        let doc = serde_json::json!({"schema": schema, "state": {"count": count, "note": note}});
        fs::write(&path, doc.to_string()).unwrap();
        let file: StateFile<Counter> = StateFile::new(&path, 1);
        let result = file.load();
        if schema == 1 && count >= 0 {
            prop_assert_eq!(result.unwrap(), Counter { count: count as u64, note });
        } else {
            prop_assert!(result.is_err());
        }
    }
}

/// Stamps `path` with a modification time long past: every write replaces the file, so a
/// file that still has it was not written (as an inode would tell, on every platform).
fn stamp_old(path: &Path) {
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_modified(old).unwrap();
    drop(file);
    assert!(still_stamped(path));
}

fn still_stamped(path: &Path) -> bool {
    let old = std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    fs::metadata(path).unwrap().modified().unwrap() == old
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct CounterV3 {
    total: u64,
    label: String,
    client_id: String,
}

fn v1_to_v2(mut v: serde_json::Value) -> Result<serde_json::Value, String> {
    // v2 renamed `count` to `total`.
    let map = v.as_object_mut().ok_or("state is not an object")?;
    let count = map.remove("count").ok_or("no count")?;
    map.insert("total".into(), count);
    Ok(v)
}

fn v2_to_v3(mut v: serde_json::Value) -> Result<serde_json::Value, String> {
    // v3 renamed `note` to `label` and added a client id that must survive upgrades.
    let map = v.as_object_mut().ok_or("state is not an object")?;
    let note = map.remove("note").unwrap_or_default();
    map.insert("label".into(), note);
    map.entry("client_id").or_insert("generated".into());
    Ok(v)
}

#[test]
fn an_older_schema_is_carried_forward_by_its_migrations() {
    let tmp = temp_dir("migrate");
    let path = tmp.path().join("state.json");
    let v1 = br#"{"schema":1,"state":{"count":41,"note":"kept","client_id":"a1b2"}}"#;
    fs::write(&path, v1).unwrap();
    let file: StateFile<CounterV3> = StateFile::new(&path, 3)
        .with_migration(1, v1_to_v2)
        .with_migration(2, v2_to_v3);
    let expected = CounterV3 {
        total: 41,
        label: "kept".into(),
        client_id: "a1b2".into(),
    };
    assert_eq!(file.load().unwrap(), expected);
    assert_eq!(file.peek().unwrap(), expected);
    assert_eq!(fs::read(&path).unwrap(), v1, "reading changes nothing");
    // The next update writes the current schema.
    file.update(|s| s.total += 1).unwrap();
    let written: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(written["schema"], 3);
    assert_eq!(written["state"]["total"], 42);
    assert_eq!(written["state"]["client_id"], "a1b2");
    assert!(
        corrupt_files(tmp.path()).is_empty(),
        "nothing was moved aside"
    );
}

#[test]
fn a_file_that_cannot_be_carried_forward_is_moved_aside_with_the_reason() {
    let cases: [(&[u8], &str); 2] = [
        // No migration from schema 0.
        (
            br#"{"schema":0,"state":{}}"#,
            "no way to carry schema 0 forward",
        ),
        // The migration refuses it.
        (
            br#"{"schema":1,"state":{"note":"no count"}}"#,
            "schema 1 could not be carried forward to 2: no count",
        ),
    ];
    for (bytes, cause) in cases {
        let tmp = temp_dir("migrate-bad");
        let path = tmp.path().join("state.json");
        fs::write(&path, bytes).unwrap();
        let file: StateFile<CounterV3> = StateFile::new(&path, 3)
            .with_migration(1, v1_to_v2)
            .with_migration(2, v2_to_v3);
        match file.load() {
            Err(Error::Corrupt {
                cause: why,
                moved_to,
                ..
            }) => {
                assert!(why.contains(cause), "{why}");
                assert_eq!(fs::read(moved_to).unwrap(), bytes);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn an_update_that_changes_nothing_writes_nothing() {
    let tmp = temp_dir("unchanged");
    let path = tmp.path().join("state.json");
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    file.update_if_changed(|c| c.count = 1).unwrap();
    stamp_old(&path);
    let seen = file.update_if_changed(|c| c.count).unwrap();
    assert_eq!(seen, 1);
    file.update_if_changed(|c| c.note.clear()).unwrap();
    assert!(still_stamped(&path), "no write when nothing changed");
    file.update_if_changed(|c| c.count += 1).unwrap();
    assert!(!still_stamped(&path), "a change is written");
    assert_eq!(file.load().unwrap().count, 2);
    // Nothing at all is created for an update that changes nothing on a missing file.
    let fresh: StateFile<Counter> = StateFile::new(tmp.path().join("other.json"), 1);
    fresh.update_if_changed(|_| ()).unwrap();
    assert!(!tmp.path().join("other.json").exists());
}

/// Every entry under `dir`, with its contents (or "dir"/"fifo"), to see that nothing changed.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.push((path.clone(), b"dir".to_vec()));
                out.extend(tree(&path));
            } else if meta.is_file() {
                out.push((path.clone(), fs::read(&path).unwrap()));
            } else {
                out.push((path, b"other".to_vec()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn peek_creates_moves_and_locks_nothing() {
    let tmp = temp_dir("peek");
    let missing: StateFile<Counter> = StateFile::new(tmp.path().join("no/dir/state.json"), 1);
    assert_eq!(missing.peek().unwrap(), Counter::default());
    for (name, bytes, cause) in bad_file_cases() {
        let path = tmp.path().join(format!("{}.json", name.replace(' ', "-")));
        fs::write(&path, &bytes).unwrap();
        let before = tree(tmp.path());
        let file: StateFile<Counter> = StateFile::new(&path, 1);
        match file.peek() {
            Err(Error::Unreadable {
                path: p,
                cause: why,
            }) => {
                assert_eq!(p, path);
                assert!(why.contains(cause), "{name}: {why}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(tree(tmp.path()), before, "{name}: peek changed something");
    }
    let future = tmp.path().join("future.json");
    fs::write(&future, br#"{"schema":7,"state":{}}"#).unwrap();
    let err = StateFile::<Counter>::new(&future, 1).peek().unwrap_err();
    assert!(
        err.to_string().contains("newer plexsync (schema 7"),
        "{err}"
    );
    assert!(err.to_string().contains("it was left as it is"), "{err}");
    assert!(future.exists());
}

#[cfg(unix)]
fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// Runs `f` on another thread and fails if it takes more than a few seconds: what is under
/// test is that it does not hang, and a hang must fail the test rather than stall it.
fn within_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the call hung instead of refusing the file")
}

#[test]
fn only_a_bounded_regular_file_is_read() {
    let tmp = temp_dir("special");
    let mut cases = Vec::new();
    // Windows has no FIFO in the file system and no device file to link to.
    #[cfg(unix)]
    {
        let fifo = tmp.path().join("fifo.json");
        make_fifo(&fifo);
        cases.push((fifo, "is a FIFO, not a regular file"));
        let zero = tmp.path().join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        cases.push((zero, "is a device, not a regular file"));
    }
    let big = tmp.path().join("big.json");
    // 256 MiB, sparse: it takes no disk, and must not be read into memory either.
    fs::File::create(&big).unwrap().set_len(256 << 20).unwrap();
    let dir = tmp.path().join("dir.json");
    fs::create_dir(&dir).unwrap();
    cases.push((
        big,
        "is 268435456 bytes, more than the 16777216 bytes allowed",
    ));
    cases.push((dir, "is a directory, not a regular file"));
    for (path, expect) in cases {
        let shown = path.clone();
        let (load, peek, update) = within_seconds(move || {
            let file: StateFile<Counter> = StateFile::new(&shown, 1);
            (
                file.load().map(|_| ()).map_err(|e| e.to_string()),
                file.peek().map(|_| ()).map_err(|e| e.to_string()),
                file.update(|c| c.count = 1).map_err(|e| e.to_string()),
            )
        });
        for result in [load, peek, update] {
            let err = result.expect_err("a special file is refused");
            assert!(err.contains(expect), "{}: {err}", path.display());
        }
        assert!(fs::symlink_metadata(&path).is_ok(), "left where it was");
    }
    assert!(
        corrupt_files(tmp.path()).is_empty(),
        "nothing was moved aside"
    );
    // A smaller limit applies to ordinary files too.
    let small = tmp.path().join("small.json");
    fs::write(
        &small,
        br#"{"schema":1,"state":{"count":1,"note":"a long enough note"}}"#,
    )
    .unwrap();
    let err = StateFile::<Counter>::new(&small, 1)
        .with_max_bytes(16)
        .load()
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { max: 16, .. }), "{err:?}");
}

#[derive(Debug, Clone)]
enum Writer {
    /// `update_if_changed` through handle 0 or 1 (each keeps what it read).
    Kept(usize, u64),
    /// `update` through handle 0 or 1.
    Plain(usize, u64),
    /// A change that changes nothing, through handle 0 or 1.
    Unchanged(usize),
    /// `load` through handle 0 or 1: what it reads must be the latest.
    Check(usize),
}

fn writer() -> impl Strategy<Value = Writer> {
    prop_oneof![
        (0..2usize, 1..5u64).prop_map(|(h, n)| Writer::Kept(h, n)),
        (0..2usize, 1..5u64).prop_map(|(h, n)| Writer::Plain(h, n)),
        (0..2usize).prop_map(Writer::Unchanged),
        (0..2usize).prop_map(Writer::Check),
    ]
}

proptest! {
    /// Two values on one file stand for two processes: whatever one writes, the other's next
    /// update starts from it, although it keeps what it read last.
    #[test]
    fn an_update_always_starts_from_the_latest_write_of_anyone(
        steps in proptest::collection::vec(writer(), 1..40),
    ) {
        let tmp = temp_dir("kept");
        let path = tmp.path().join("state.json");
        let handles: [StateFile<Counter>; 2] = [StateFile::new(&path, 1), StateFile::new(&path, 1)];
        let mut model = 0u64;
        for step in steps {
            match step {
                Writer::Kept(h, n) => {
                    let seen = handles[h].update_if_changed(|c| { let seen = c.count; c.count += n; seen }).unwrap();
                    prop_assert_eq!(seen, model);
                    model += n;
                }
                Writer::Plain(h, n) => {
                    let seen = handles[h].update(|c| { let seen = c.count; c.count += n; seen }).unwrap();
                    prop_assert_eq!(seen, model);
                    model += n;
                }
                Writer::Unchanged(h) => {
                    let seen = handles[h].update_if_changed(|c| c.count).unwrap();
                    prop_assert_eq!(seen, model);
                }
                Writer::Check(h) => prop_assert_eq!(handles[h].load().unwrap().count, model),
            }
        }
    }
}

#[test]
fn a_file_replaced_by_a_writer_that_keeps_no_count_is_read_again() {
    let tmp = temp_dir("foreign");
    let path = tmp.path().join("state.json");
    let file: StateFile<Counter> = StateFile::new(&path, 1);
    file.update_if_changed(|c| c.count = 1).unwrap();
    // An older plexsync, or a person, writes the file without touching the lock's counter.
    fs::write(
        &path,
        br#"{"schema":1,"state":{"count":41,"note":"written by hand"}}"#,
    )
    .unwrap();
    let seen = file.update_if_changed(|c| c.count).unwrap();
    assert_eq!(seen, 41);
}
