//! Checks too slow or too demanding for the default test run.

use crate::cmd::{cargo, option, run};
use std::process::Command;

const PURE_CRATES: [&str; 2] = ["breaker-core", "scheduler"];
const BARE_METAL: &str = "thumbv7em-none-eabihf";

/// The property tests with many cases, in release mode so that they finish in seconds.
pub(crate) fn proptest(args: &[&str]) -> Result<(), String> {
    let cases = match option(args, "--cases")? {
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| format!("--cases takes a positive whole number, not `{n}`"))?,
        None => 10_000,
    };
    let mut command = cargo();
    command
        .args(["test", "--release", "--test", "properties"])
        .env("PROPTEST_CASES", cases.to_string());
    for krate in PURE_CRATES {
        command.args(["-p", krate]);
    }
    run(&mut command)?;
    eprintln!("xtask: every property held for {cases} cases");
    Ok(())
}

/// cargo-mutants over the pure crates. Every surviving mutant is a missing test or an
/// equivalent mutant to explain.
pub(crate) fn mutants(args: &[&str]) -> Result<(), String> {
    let crates: Vec<&str> = match option(args, "--crate")? {
        Some(name) if PURE_CRATES.contains(&name) => vec![name],
        Some(name) => {
            return Err(format!(
                "--crate takes one of {PURE_CRATES:?}, not `{name}`"
            ));
        }
        None => PURE_CRATES.to_vec(),
    };
    let installed = cargo()
        .args(["mutants", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        run(cargo().args(["install", "--locked", "cargo-mutants"]))?;
    }
    let mut command = cargo();
    command.args(["mutants", "--no-shuffle", "--test-tool", "cargo"]);
    for krate in crates {
        command.args(["--package", krate]);
    }
    run(&mut command)
}

/// Builds breaker-core (with serde) for a target that has no std at all.
pub(crate) fn nostd() -> Result<(), String> {
    run(Command::new("rustup").args(["target", "add", BARE_METAL]))?;
    run(cargo().args([
        "build",
        "--package",
        "breaker-core",
        "--no-default-features",
        "--features",
        "serde",
        "--target",
        BARE_METAL,
    ]))?;
    eprintln!("xtask: breaker-core builds for {BARE_METAL} without std");
    Ok(())
}

/// The persist crash-torture test with many more kills than the default run.
pub(crate) fn torture(args: &[&str]) -> Result<(), String> {
    let kills = match option(args, "--kills")? {
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| format!("--kills takes a whole number, not `{n}`"))?,
        None => 2_000,
    };
    run(cargo()
        .args([
            "test",
            "--release",
            "-p",
            "persist",
            "--test",
            "processes",
            "--",
            "crash_torture",
        ])
        .env("PERSIST_TORTURE_KILLS", kills.to_string()))
}
