//! Tests with real processes: several at once, and processes killed (SIGKILL on Unix,
//! TerminateProcess on Windows: no destructor runs either way).
//!
//! This binary is its own helper: run without arguments (as `cargo test` does) it runs the
//! tests, which start copies of it with `child <role> …` to do the work. It speaks enough of
//! libtest's command line for `--list` and name filters to work.

mod children;
#[cfg(unix)]
mod full_disk;
mod open_elsewhere;
mod torture;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use persist::{Error, Queue, QueueOptions, StateFile, WorkerLock};

type TestFn = fn() -> Result<(), String>;

/// The tests: those that need a Unix shell are left out elsewhere.
fn tests() -> Vec<(&'static str, TestFn)> {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut tests: Vec<(&'static str, TestFn)> = vec![
        (
            "eight_processes_incrementing_lose_nothing",
            eight_processes_incrementing_lose_nothing,
        ),
        (
            "eight_processes_enqueue_and_drain_every_job_once",
            eight_processes_enqueue_and_drain_every_job_once,
        ),
        (
            "the_worker_lock_is_refused_to_others_until_its_holder_dies",
            the_worker_lock_is_refused_to_others_until_its_holder_dies,
        ),
        (
            "files_held_open_elsewhere_are_replaced_or_refused_losing_nothing",
            open_elsewhere::files_held_open_elsewhere_are_replaced_or_refused_losing_nothing,
        ),
        (
            "files_read_over_and_over_elsewhere_are_replaced",
            open_elsewhere::files_read_over_and_over_elsewhere_are_replaced,
        ),
        (
            "acks_not_yet_synced_outlive_a_killed_process",
            acks_not_yet_synced_outlive_a_killed_process,
        ),
        ("crash_torture", torture::crash_torture),
    ];
    #[cfg(unix)]
    tests.extend([
        (
            "a_write_that_fails_for_lack_of_space_leaves_the_old_state",
            full_disk::a_write_that_fails_for_lack_of_space_leaves_the_old_state as TestFn,
        ),
        (
            "a_queue_append_that_fails_for_lack_of_space_loses_nothing",
            full_disk::a_queue_append_that_fails_for_lack_of_space_loses_nothing,
        ),
    ]);
    tests
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        return children::run(&args[1..]);
    }
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests() {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let all = tests();
    let selected: Vec<&(&str, TestFn)> = all
        .iter()
        .filter(|(name, _)| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if exact {
                        *name == f.as_str()
                    } else {
                        name.contains(f.as_str())
                    }
                })
        })
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let start = Instant::now();
        match test() {
            Ok(()) => println!("test {name} ... ok ({:.1?})", start.elapsed()),
            Err(why) => {
                println!("test {name} ... FAILED\n    {why}");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// A fresh temporary directory, removed when dropped.
pub(crate) fn temp_dir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("persist-{name}-"))
        .tempdir()
        .expect("a temporary directory")
}

/// A command running this binary as a child with `role` and `args`.
pub(crate) fn child(role: &str, args: &[&str]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.arg("child").arg(role).args(args);
    command
}

/// A child that says one line when it is ready and another when told to finish.
pub(crate) struct Talking {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl Talking {
    /// Starts this binary as a child with `role` and `args`, and waits until it says `ready`.
    pub(crate) fn start(role: &str, args: &[&str], ready: &str) -> Result<Talking, String> {
        use std::process::Stdio;
        let mut child = child(role, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start the {role} child: {e}"))?;
        let out = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut talking = Talking { child, out };
        let said = talking.line()?;
        check(said == ready, || format!("the {role} child said {said:?}"))?;
        Ok(talking)
    }

    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.out, &mut line).map_err(|e| e.to_string())?;
        Ok(line.trim().to_owned())
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// Tells it to finish, and returns what it said last; it must end well.
    pub(crate) fn finish(mut self) -> Result<String, String> {
        use std::io::Write;
        let mut stdin = self.child.stdin.take().ok_or("no stdin")?;
        stdin.write_all(b"done\n").map_err(|e| e.to_string())?;
        drop(stdin);
        let said = self.line()?;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        check(status.success(), || format!("the child ended {status}"))?;
        Ok(said)
    }

    /// Kills it: no destructor runs.
    pub(crate) fn kill(mut self) -> Result<(), String> {
        self.child.kill().map_err(|e| e.to_string())?;
        self.child.wait().map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The keys of the jobs in the queue at `dir`, as a fresh process reads them.
pub(crate) fn queue_keys(dir: &Path) -> Result<Vec<String>, String> {
    let mut fresh = Queue::open(dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    Ok(fresh
        .jobs()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|j| j.key)
        .collect())
}

pub(crate) fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if condition { Ok(()) } else { Err(message()) }
}

pub(crate) fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn eight_processes_incrementing_lose_nothing() -> Result<(), String> {
    let tmp = temp_dir("increments");
    let path: PathBuf = tmp.path().join("counter.json");
    let children: Vec<_> = (0..8)
        .map(|_| child("increment", &[path_arg(&path), "500"]).spawn())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("could not start a child: {e}"))?;
    for mut c in children {
        let status = c.wait().map_err(|e| e.to_string())?;
        check(status.success(), || format!("a child failed: {status}"))?;
    }
    let count = StateFile::<u64>::new(&path, 1)
        .load()
        .map_err(|e| e.to_string())?;
    check(count == 4_000, || {
        format!("final count {count}, expected 4000")
    })
}

fn eight_processes_enqueue_and_drain_every_job_once() -> Result<(), String> {
    let tmp = temp_dir("drain");
    let dir = tmp.path().join("queue");
    let logs: Vec<PathBuf> = (0..8)
        .map(|i| tmp.path().join(format!("acked-{i}")))
        .collect();
    let children: Vec<_> = logs
        .iter()
        .enumerate()
        .map(|(i, log)| {
            child(
                "enqueue-drain",
                &[path_arg(&dir), &i.to_string(), "150", path_arg(log)],
            )
            .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("could not start a child: {e}"))?;
    for mut c in children {
        let status = c.wait().map_err(|e| e.to_string())?;
        check(status.success(), || format!("a child failed: {status}"))?;
    }
    let mut acked: Vec<String> = Vec::new();
    for log in &logs {
        let text = std::fs::read_to_string(log).map_err(|e| e.to_string())?;
        acked.extend(text.lines().map(String::from));
    }
    let total = acked.len();
    acked.sort();
    acked.dedup();
    check(acked.len() == total, || {
        format!("{} jobs were acked twice", total - acked.len())
    })?;
    check(total == 8 * 150, || {
        format!("{total} jobs acked, expected 1200")
    })?;
    let mut queue = Queue::open(&dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    let left = queue.jobs().map_err(|e| e.to_string())?;
    check(left.is_empty(), || {
        format!("{} jobs left in the queue", left.len())
    })
}

fn the_worker_lock_is_refused_to_others_until_its_holder_dies() -> Result<(), String> {
    let tmp = temp_dir("worker-lock");
    let path = tmp.path().join("data/worker.lock");
    let holder = Talking::start("hold-worker-lock", &[path_arg(&path)], "locked")?;
    let pid = holder.id();
    match WorkerLock::try_acquire(&path) {
        Err(Error::Held {
            pid: Some(held_by), ..
        }) => check(held_by == pid, || {
            format!("held by {held_by}, expected {pid}")
        })?,
        other => return Err(format!("a second worker got {other:?}")),
    }
    let message = WorkerLock::try_acquire(&path).unwrap_err().to_string();
    check(message.contains(&format!("pid {pid}")), || message.clone())?;
    check(
        WorkerLock::holder(&path).map_err(|e| e.to_string())? == Some(Some(pid)),
        || "holder() does not name the holder".into(),
    )?;
    // SIGKILL: no destructor runs, and the lock must go with the process all the same.
    holder.kill()?;
    check(
        WorkerLock::holder(&path)
            .map_err(|e| e.to_string())?
            .is_none(),
        || "the lock outlived its holder".into(),
    )?;
    let mine = WorkerLock::try_acquire(&path).map_err(|e| e.to_string())?;
    check(mine.path() == path, || {
        "the guard names another file".into()
    })
}

/// A process killed (no destructor, so no sync) after acking without syncing: the acks are
/// written, and only a crash of the whole machine could undo them.
fn acks_not_yet_synced_outlive_a_killed_process() -> Result<(), String> {
    let tmp = temp_dir("unsynced");
    let dir = tmp.path().join("queue");
    let mut queue = Queue::open(&dir, QueueOptions::default()).map_err(|e| e.to_string())?;
    for i in 0..20 {
        queue
            .enqueue(&format!("job-{i}"), &serde_json::json!(i), 1)
            .map_err(|e| e.to_string())?;
    }
    drop(queue);
    Talking::start("ack-unsynced", &[path_arg(&dir)], "acked 20")?.kill()?;
    let left = queue_keys(&dir)?;
    check(left.is_empty(), || {
        format!("acked jobs came back: {left:?}")
    })
}
