//! `cargo xtask <command>`: the project's automation, in Rust so it runs wherever cargo does.

mod bench;
mod bench_breakers;
mod bench_cli;
mod bench_faults;
mod bench_hook;
mod bench_queue;
mod bench_stash;
mod bench_watch;
mod checks;
mod cmd;
mod contrib;
mod demo;
mod dist;
mod dist_windows;
mod macos;
mod manuals;
mod plex;
mod stash;
mod windows_tests;

use std::process::ExitCode;

const HELP: &str = "\
Usage: cargo xtask <command> [options]

Commands:
  simulate [--help]         outage simulation of the engine on a virtual clock: every scenario,
                            plexsync's defaults beside the predecessor's and a naive policy
  demo                      plexsync riding through a Plex restart in about a minute: the real
                            binary as a fake Stash's plugin, hooks after saves, the drain as a
                            Stash job, a fake Plex stopped and started through its stages
  proptest [--cases N]      property tests of breaker-core and scheduler, N cases each (default 10000)
  mutants [--crate NAME]    cargo-mutants on breaker-core and scheduler (installs cargo-mutants if missing)
  nostd                     builds breaker-core for a bare-metal target without std
  torture [--kills N]       the persist crash-torture test with N SIGKILLs (default 2000)
  bench breaker             times breaker-core's permit/report cycle and probe decisions
  bench breakers            breaker-core beside failsafe 1.3 and recloser 1.4: a succeeding, a
                            failing and a rejected protected call, and the size of a breaker
  dist                      the Stash plugin for users: static musl builds of plexsync (x86_64, and
                            aarch64 where a C cross compiler is found) and plexsync.exe (where
                            mingw-w64 is) packed with plexsync.yml in
                            target/dist/*.tar.gz and as a Stash plugin source (stash-source/:
                            index.yml and a zip per architecture) with a SHA256SUMS, checked
                            static and run from the unpacked archive and the installed zip (a
                            hook, then Stash's Process Queue task; other architectures under
                            qemu-user, Windows under wine,
                            where they are installed);
                            shell completions and man pages in target/dist/share
  windows-tests             persist's suite and plexsync-cli's own tests built for Windows
                            (mingw-w64) and run under wine: locks, files replaced while open
                            elsewhere, the worker lock dying with a killed process, %APPDATA%
  macos                     plexsync compiled for x86_64 and aarch64 macOS (its C by zig, from
                            the Python registry's ziglang), not linked: the frameworks the
                            system's certificate check needs are in Apple's SDK only
  fake-plex [--port N] [--token T] [--phase P] [--startup]
                            serves the demo library on 127.0.0.1 (default port 32499, beside
                            a real Plex's 32400) until Ctrl-C; P is refused,
                            unreachable, silent, maintenance, starting, slow, token-revoked
                            or ready; --startup walks through Plex's startup sequence
  fake-stash [--port N] [--plex-url URL] [--plex-token T]
                            a fake Stash on 127.0.0.1 (default port 9999) with plexsync
                            installed: demo scenes, runPluginTask running this build, and hook
                            inputs to feed `plexsync stash` as Stash does after a save
  compat                    checks that python-plexapi can use the fake server (installs
                            plexapi into target/python-deps if missing)
  bench plex [--samples N]  deep health check and edit round trip against the fake server,
                            beside python-plexapi's server.query('/identity')
  bench cli [--samples N] [--backlog N]
                            the binary as a user meets it: a fresh enqueue process, health beside
                            curl --fail URL/identity (with peak RSS), and the engine's own time
                            per job draining a backlog of N jobs (default 10000), ramp off
  bench hook [--samples N] [--backlog N]
                            a Stash hook process, start to exit, with its GraphQL fetch: on an
                            idle queue, and back to back for the whole of a drain of N jobs
                            (default 10000), counting the compactions they overlapped; beside
                            it python3's floor for a hook
  bench stash [--edits N] [--before BINARY]
                            from a save in Stash to the edit in Plex with the automatic drain on
                            (the fake Stash running plexsync's jobs), over N saves in bursts
                            (default 200); the hook's own time with the drain on and off
  bench faults [--minutes N]
                            the binary against a misbehaving fake Plex: a poison item among
                            good jobs under `run` for N minutes (default 5), 1,000 jobs on
                            connections the server closes, a worker killed mid-trial
  bench watch [--trials N]  `run`, idle, against a fake Plex stopped and started N times
                            (default 10): how soon it knows Plex stopped, and how soon the job
                            queued meanwhile reaches Plex once it is back; with the watch on
                            Plex's notification socket and without
  bench queue [--compare] [--backlog N] [--dir D]
                            durable queue throughput, one enqueue from a fresh process, and peak
                            memory and disk draining a backlog of N jobs (default 100000);
                            --compare runs the same on persist-queue's SQLiteAckQueue (python3);
                            --dir puts the queues in D (e.g. /dev/shm, to see CPU cost alone)
";

/// The entries of [`HELP`] for the command `words` names (flags left out); all of it when
/// none matches.
fn help_for(words: &[&str]) -> String {
    let named: Vec<&str> = words
        .iter()
        .copied()
        .take_while(|w| !w.starts_with('-'))
        .collect();
    let mut entries: Vec<String> = Vec::new();
    for line in HELP
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
    {
        match entries.last_mut() {
            Some(entry) if line.starts_with("    ") => {
                entry.push_str(line);
                entry.push('\n');
            }
            _ => entries.push(format!("{line}\n")),
        }
    }
    let matching: Vec<&String> = entries
        .iter()
        .filter(|e| {
            let head: Vec<&str> = e.split_whitespace().take(named.len()).collect();
            !named.is_empty() && head == named
        })
        .collect();
    if matching.is_empty() {
        return HELP.to_owned();
    }
    let mut out = format!("Usage: cargo xtask {} [options]\n\n", named.join(" "));
    for e in matching {
        out.push_str(e);
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        // The simulator is its own optimised binary: a debug build runs it ten times slower.
        // Built in the open (its first build takes minutes), then run.
        ["simulate", rest @ ..] => {
            if let Err(e) =
                cmd::run(cmd::cargo().args(["build", "--release", "--package", "simulate"]))
            {
                eprintln!("xtask: {e}");
                return ExitCode::FAILURE;
            }
            return cmd::pass_through(
                std::process::Command::new(
                    std::env::var_os("CARGO_TARGET_DIR")
                        .map_or_else(|| cmd::root().join("target"), std::path::PathBuf::from)
                        .join("release/simulate"),
                )
                .args(rest),
            );
        }
        // Help for one command: its entry in the list, whatever else is on the line.
        words if words.iter().any(|a| *a == "--help" || *a == "-h") => {
            print!("{}", help_for(words));
            Ok(())
        }
        ["proptest", rest @ ..] => checks::proptest(rest),
        ["mutants", rest @ ..] => checks::mutants(rest),
        ["nostd"] => checks::nostd(),
        ["bench", rest @ ..] if cfg!(debug_assertions) => {
            // Timings of a debug build mean nothing: rerun this command optimised.
            cmd::run(
                cmd::cargo()
                    .args([
                        "run",
                        "--quiet",
                        "--release",
                        "--package",
                        "xtask",
                        "--",
                        "bench",
                    ])
                    .args(rest),
            )
        }
        ["bench", "breaker"] => bench::breaker(),
        ["bench", "breakers"] => bench_breakers::breakers(),
        ["bench", "queue", rest @ ..] => bench_queue::queue(rest),
        ["bench", "plex", rest @ ..] => plex::bench(rest),
        ["bench", "cli", rest @ ..] => bench_cli::bench(rest),
        ["bench", "hook", rest @ ..] => bench_hook::bench(rest),
        ["bench", "stash", rest @ ..] => bench_stash::bench(rest),
        ["bench", "faults", rest @ ..] => bench_faults::bench(rest),
        ["bench", "watch", rest @ ..] => bench_watch::bench(rest),
        ["fake-plex", rest @ ..] => plex::fake_plex(rest),
        ["fake-stash", rest @ ..] => stash::fake_stash(rest),
        ["compat"] => plex::compat(),
        ["bench-child", rest @ ..] => bench_queue::child(rest),
        ["torture", rest @ ..] => checks::torture(rest),
        ["dist", rest @ ..] => dist::dist(rest),
        ["windows-tests", rest @ ..] => windows_tests::windows_tests(rest),
        ["macos", rest @ ..] => macos::macos(rest),
        ["demo", rest @ ..] => demo::demo(rest),
        [] | ["help" | "--help" | "-h"] => {
            print!("{HELP}");
            Ok(())
        }
        _ => Err(format!("unknown command `{}`\n\n{HELP}", args.join(" "))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod help_tests {
    use super::help_for;

    #[test]
    fn each_command_s_help_is_its_own_entry() {
        let fake = help_for(&["fake-plex", "--help"]);
        assert!(fake.starts_with("Usage: cargo xtask fake-plex"), "{fake}");
        assert!(
            fake.contains("--startup") && !fake.contains("bench hook"),
            "{fake}"
        );
        let cli = help_for(&["bench", "cli", "-h"]);
        assert!(
            cli.contains("--backlog N") && !cli.contains("fake-plex"),
            "{cli}"
        );
        let bench = help_for(&["bench", "--help"]);
        for name in [
            "bench breaker",
            "bench cli",
            "bench hook",
            "bench stash",
            "bench queue",
        ] {
            assert!(bench.contains(name), "{name} missing: {bench}");
        }
        assert!(!bench.contains("fake-stash"), "{bench}");
        assert_eq!(help_for(&["--help"]), super::HELP);
    }
}
