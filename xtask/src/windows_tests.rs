//! `cargo xtask windows-tests`: the suite's platform-sensitive parts built as Windows binaries
//! (mingw-w64) and run under wine. persist's whole suite — the state file's locks (fs4's
//! `LockFileEx`), atomic replacement of files another process has open, fsync without a
//! directory to sync, the worker lock dying with a process killed by `TerminateProcess`, the
//! crash torture, damaged files — and plexsync-cli's own tests (the `%APPDATA%` default).
//! First the code only Windows compiles is linted; then each test binary runs with wine's
//! prefix under `target/`; a failure fails the command.

use std::process::Command;

use crate::cmd;
use crate::dist::{cross, ensure_target, on_path};
use crate::dist_windows::{CC, TARGET, wine};

/// What runs under wine: a package and which of its test targets.
const SUITES: &[(&str, &[&str])] = &[
    ("persist", &["--tests", "--lib"]),
    ("plexsync-cli", &["--lib"]),
];

pub(crate) fn windows_tests(args: &[&str]) -> Result<(), String> {
    cmd::no_arguments(args)?;
    if !on_path(CC) {
        return Err(format!(
            "no {CC} to build Windows binaries with: install Debian's gcc-mingw-w64-x86-64"
        ));
    }
    let Some(runner) = wine()? else {
        return Err("no wine to run Windows binaries with: install Debian's wine64".into());
    };
    ensure_target(TARGET)?;
    // The code only Windows compiles, linted as the host's is.
    let mut lint = cross(cmd::cargo(), TARGET, CC, Some(CC));
    lint.args(["clippy", "--locked", "--all-targets", "--target", TARGET]);
    for (package, _) in SUITES {
        lint.args(["--package", package]);
    }
    cmd::run(lint.args(["--", "-D", "warnings"]))?;
    let mut binaries = Vec::new();
    for (package, targets) in SUITES {
        binaries.extend(build(package, targets)?);
    }
    let mut failed = Vec::new();
    for binary in &binaries {
        let name = binary
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        eprintln!("xtask: windows-tests: {name} under wine");
        let status = Command::new(&runner.program)
            .envs(runner.env.iter().cloned())
            .arg(binary)
            .current_dir(cmd::root())
            .status()
            .map_err(|e| format!("wine does not start: {e}"))?;
        if !status.success() {
            failed.push(name);
        }
    }
    if failed.is_empty() {
        eprintln!(
            "xtask: windows-tests: {} Windows test binaries passed under wine",
            binaries.len()
        );
        Ok(())
    } else {
        Err(format!("failed under wine: {}", failed.join(", ")))
    }
}

/// Builds `package`'s test `targets` for Windows; the executables.
fn build(package: &str, targets: &[&str]) -> Result<Vec<std::path::PathBuf>, String> {
    let output = cross(cmd::cargo(), TARGET, CC, Some(CC))
        .args(["test", "--no-run", "--locked", "--message-format=json"])
        .args(["--package", package, "--target", TARGET])
        .args(targets)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo does not start: {e}"))?;
    if !output.status.success() {
        return Err(format!("building {package}'s tests for {TARGET} failed"));
    }
    let mut found = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] == "compiler-artifact" && message["profile"]["test"] == true {
            if let Some(exe) = message["executable"].as_str() {
                found.push(exe.into());
            }
        }
    }
    if found.is_empty() {
        return Err(format!("cargo built no test binary for {package}"));
    }
    Ok(found)
}
