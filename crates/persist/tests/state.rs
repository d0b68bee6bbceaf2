//! The locked state file: defaults, round trips, bad files, locks, permissions.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
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

fn mode(path: &Path) -> u32 {
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
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&tmp.path().join("data/state.json.lock")), 0o600);
    assert_eq!(mode(&tmp.path().join("data")), 0o700);
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
fn a_file_from_a_newer_version_is_moved_aside_with_its_schema_named() {
    let tmp = temp_dir("future");
    let path = tmp.path().join("state.json");
    let bytes = br#"{"schema":9,"state":{"brand":"new"}}"#;
    fs::write(&path, bytes).unwrap();
    let file: StateFile<Counter> = StateFile::new(&path, 2);
    let err = file.load().unwrap_err();
    match &err {
        Error::FutureSchema {
            found,
            supported,
            moved_to,
            ..
        } => {
            assert_eq!((*found, *supported), (9, 2));
            assert_eq!(fs::read(moved_to).unwrap(), bytes);
        }
        other => panic!("expected FutureSchema, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("written by a newer plexsync (schema 9; this one reads up to 2)")
    );
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
            Err(Error::Corrupt { moved_to, .. } | Error::FutureSchema { moved_to, .. }) => {
                prop_assert_eq!(fs::read(moved_to).unwrap(), bytes);
                prop_assert!(!path.exists());
            }
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
