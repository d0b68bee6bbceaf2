//! What the binary does with stored files it cannot take at face value: a queue in an older
//! format (from the commits that wrote it), a damaged queue, files kept aside, a state file
//! that is unreadable or from a newer plexsync, a queue from a newer plexsync, a client-id
//! file left empty.

use std::path::Path;

use fake_plex::ServerPhase;
use proptest::prelude::*;

use crate::harness::{DataDir, Plex, QUICK_POLICY, tree};

/// Copies the persist crate's fixture `name` into `data`'s queue directory.
fn old_queue(data: &DataDir, name: &str) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/persist/tests/fixtures")
        .join(name);
    let to = data.path().join("queue");
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// The titles the fake Plex was asked to set.
fn titles_edited(plex: &Plex) -> Vec<String> {
    let mut titles: Vec<String> = plex
        .fake
        .edits()
        .into_iter()
        .flat_map(|e| e.pairs)
        .filter(|(k, _)| k == "title.value")
        .map(|(_, v)| v)
        .collect();
    titles.sort();
    titles
}

#[test]
fn a_queue_an_older_plexsync_wrote_is_shown_synced_and_carried_forward() {
    for commit in ["schema1-174f121", "schema1-92880ae"] {
        let plex = Plex::start(0, ServerPhase::Ready);
        let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
        old_queue(&data, &format!("{commit}/snapshot"));
        let ps = data.plexsync();
        let before = tree(data.path());
        // Readers see the jobs and say the format is older, and change nothing.
        let status = ps.run(&["status"]);
        assert_eq!(status.status, Some(0), "{status:?}");
        assert!(
            status.stdout.contains("3 ready") && status.stdout.contains("1 dead-lettered"),
            "{commit}: {}",
            status.stdout
        );
        assert!(
            status.stdout.contains("in an older plexsync's format")
                && status
                    .stdout
                    .contains("the next `plexsync process` carries it forward"),
            "{}",
            status.stdout
        );
        let json = ps.run(&["status", "--json"]).json();
        assert_eq!(json["queue"]["pending"], 3, "{json}");
        assert_eq!(json["storage"]["older_format"].as_array().unwrap().len(), 2);
        assert_eq!(json["storage"]["records_lost"], 0);
        let dlq = ps.run(&["dlq", "list"]);
        assert!(dlq.stdout.contains("scene-9"), "{dlq:?}");
        let health = ps.run(&["health"]);
        assert_eq!(health.status, Some(0), "{health:?}");
        assert!(
            health
                .stdout
                .contains("warning: in an older plexsync's format"),
            "{}",
            health.stdout
        );
        assert_eq!(
            tree(data.path()),
            before,
            "{commit}: readers changed something"
        );
        // The worker carries the files forward, says so once, and syncs every job.
        let run = ps.run(&["process"]);
        assert_eq!(run.status, Some(0), "{commit}: {run:?}");
        assert!(
            run.stderr
                .contains("carried 2 queue files of an older plexsync's format forward"),
            "{}",
            run.stderr
        );
        assert_eq!(
            titles_edited(&plex),
            [
                "Big Buck Bunny, edited",
                "Elephants Dream, edited",
                "Sintel, edited"
            ],
            "{commit}"
        );
        let json = ps.run(&["status", "--json"]).json();
        assert_eq!(json["queue"]["pending"], 0);
        assert_eq!(json["queue"]["dead_lettered"], 1, "the dead letter is kept");
        assert!(
            json["storage"]["older_format"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn damage_is_reported_by_status_health_and_process_and_what_is_intact_syncs() {
    let plex = Plex::start(3, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    for i in 0..3 {
        let run = ps.run(&[
            "enqueue",
            "--scene",
            &i.to_string(),
            "--file",
            &format!("/data/Movies/m{i}.mkv"),
            "--title",
            &format!("T{i}"),
        ]);
        assert_eq!(run.status, Some(0), "{run:?}");
    }
    // One byte of the second job's record, changed: its checksum no longer matches.
    let segment = data.path().join("queue/segment-0000000001.jsonl");
    let mut bytes = std::fs::read(&segment).unwrap();
    let second = bytes.iter().position(|b| *b == b'\n').unwrap() + 40;
    bytes[second] ^= 0x20;
    std::fs::write(&segment, &bytes).unwrap();
    // And a file kept aside by an earlier compaction.
    std::fs::write(
        data.path()
            .join("queue/segment-0000000000.jsonl.corrupt-1700000000000"),
        b"x",
    )
    .unwrap();
    let status = ps.run(&["status"]);
    assert!(
        status
            .stdout
            .contains("storage      the queue's files hold damage: 1 record skipped"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("segment-0000000001.jsonl: 1 damaged line(s) skipped"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("kept aside for a person to look at"),
        "{}",
        status.stdout
    );
    let json = ps.run(&["status", "--json"]).json();
    assert_eq!(json["storage"]["records_lost"], 1, "{json}");
    assert_eq!(
        json["storage"]["damaged_files"].as_array().unwrap().len(),
        1
    );
    assert_eq!(json["storage"]["moved_aside"].as_array().unwrap().len(), 1);
    let health = ps.run(&["health"]);
    assert!(
        health
            .stdout
            .contains("warning: the queue's files hold damage"),
        "{}",
        health.stdout
    );
    let run = ps.run(&["process"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    let warned = run
        .stderr
        .lines()
        .filter(|l| l.contains("the queue's files hold damage"))
        .count();
    assert_eq!(warned, 1, "said once: {}", run.stderr);
    assert!(
        !run.stderr.contains("kept aside for a person"),
        "old news is status's: {}",
        run.stderr
    );
    assert_eq!(plex.title_of("/data/Movies/m0.mkv").as_deref(), Some("T0"));
    assert_eq!(plex.title_of("/data/Movies/m2.mkv").as_deref(), Some("T2"));
}

#[test]
fn an_unreadable_state_file_is_moved_aside_and_the_run_goes_on_with_a_warning() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    let state = data.path().join("state.json");
    std::fs::write(&state, b"{\"schema\": 1, \"state\": tru").unwrap();
    let run = ps.run(&[
        "enqueue",
        "--scene",
        "0",
        "--file",
        "/data/Movies/m0.mkv",
        "--title",
        "New",
    ]);
    assert_eq!(run.status, Some(0), "{run:?}");
    let run = ps.run(&["process"]);
    assert_eq!(run.status, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("could not be read")
            && run.stderr.contains("going on from a fresh state"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("could not be stored"),
        "{}",
        run.stderr
    );
    assert_eq!(plex.title_of("/data/Movies/m0.mkv").as_deref(), Some("New"));
    let aside: Vec<_> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("state.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(stored["schema"].is_u64());
}

#[test]
fn a_state_file_or_queue_from_a_newer_plexsync_is_left_alone_and_refused_with_status_2() {
    let plex = Plex::start(1, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    let run = ps.run(&[
        "enqueue",
        "--scene",
        "0",
        "--file",
        "/data/Movies/m0.mkv",
        "--title",
        "A",
    ]);
    assert_eq!(run.status, Some(0), "{run:?}");
    let state = data.path().join("state.json");
    std::fs::write(
        &state,
        br#"{"schema": 999, "state": {"from": "the future"}}"#,
    )
    .unwrap();
    let before = tree(data.path());
    for args in [&["process"][..], &["breaker", "reset"], &["run"]] {
        let run = ps.run(args);
        assert_eq!(run.status, Some(2), "{args:?}: {run:?}");
        assert!(
            run.stderr
                .contains("written by a newer plexsync (schema 999")
                && run.stderr.contains("upgrade plexsync"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(tree(data.path()), before, "nothing moved or written");
    std::fs::remove_file(&state).unwrap();
    // A queue snapshot from a newer plexsync: an enqueue refuses before writing anything.
    let snapshot = data.path().join("queue/snapshot-0000000001.jsonl");
    let header = r#"{"header":{"schema":99}}"#;
    let crc = crc32(header.as_bytes());
    std::fs::write(&snapshot, format!("{crc:08x} {header}\n")).unwrap();
    let before = tree(&data.path().join("queue"));
    let run = ps.run(&[
        "enqueue",
        "--scene",
        "1",
        "--file",
        "/data/Movies/m0.mkv",
        "--title",
        "B",
    ]);
    assert_eq!(run.status, Some(2), "{run:?}");
    assert!(run.stderr.contains("upgrade plexsync"), "{}", run.stderr);
    assert!(!run.stderr.contains("move the queue"), "{}", run.stderr);
    assert_eq!(tree(&data.path().join("queue")), before);
}

#[test]
fn an_empty_or_garbled_client_id_file_is_written_again_whole() {
    let plex = Plex::start(0, ServerPhase::Ready);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync();
    let path = data.path().join("client-id");
    for left in [&b""[..], b"\n", b"\x00\x00\x00", b"two words"] {
        std::fs::write(&path, left).unwrap();
        let run = ps.run(&["process"]);
        assert_eq!(run.status, Some(0), "{run:?}");
        let id = std::fs::read_to_string(&path).unwrap();
        assert!(
            id.starts_with("plexsync-") && id.ends_with('\n'),
            "{left:?} -> {id:?}"
        );
        assert!(!data.path().join("client-id.tmp").exists());
    }
    // A stored identifier is kept as it is, whatever the data directory would derive.
    std::fs::write(&path, "plexsync-from-another-life\n").unwrap();
    assert_eq!(ps.run(&["process"]).status, Some(0));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "plexsync-from-another-life\n"
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    // CRC-32 (IEEE), as the queue's files use, bit by bit.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Whatever bytes the state file holds, `process` neither fails nor loses the queue: an
    /// unreadable file is moved aside with a warning, a newer one refused with status 2, and
    /// the jobs are synced or kept.
    #[test]
    fn any_state_file_leaves_the_worker_going_or_refusing_clearly(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            (0u32..4, "[a-z{}\":,0-9 ]{0,30}").prop_map(|(schema, rest)| {
                format!(r#"{{"schema": {schema}, "state": {rest}"#).into_bytes()
            }),
        ],
    ) {
        let plex = Plex::start(1, ServerPhase::Ready);
        let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
        let ps = data.plexsync();
        let run = ps.run(&["enqueue", "--scene", "0", "--file", "/data/Movies/m0.mkv", "--title", "Kept"]);
        prop_assert_eq!(run.status, Some(0));
        std::fs::write(data.path().join("state.json"), &bytes).unwrap();
        let run = ps.run(&["process"]);
        prop_assert!(matches!(run.status, Some(0) | Some(2)), "{:?}", run);
        if run.status == Some(0) {
            let title = plex.title_of("/data/Movies/m0.mkv");
            prop_assert_eq!(title.as_deref(), Some("Kept"));
        } else {
            prop_assert!(run.stderr.contains("newer plexsync"), "{}", run.stderr);
            let status = ps.run(&["status", "--json"]).json();
            prop_assert_eq!(&status["queue"]["pending"], 1);
        }
    }
}
