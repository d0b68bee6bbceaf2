//! Running other programs from the workspace root.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// `cargo` as the one that runs this xtask, in the workspace root.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(root());
    command
}

/// Runs `command`, failing with its description if it cannot start or exits unsuccessfully.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let shown = format!("{command:?}");
    eprintln!("xtask: running {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

/// Runs `command` as if it were this program: its output is ours, its exit code too.
pub(crate) fn pass_through(command: &mut Command) -> std::process::ExitCode {
    match command.status() {
        Ok(status) => match status.code() {
            Some(0) => std::process::ExitCode::SUCCESS,
            Some(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
            None => std::process::ExitCode::FAILURE,
        },
        Err(e) => {
            eprintln!("xtask: could not start {command:?}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Parses `--name value` from `args`.
pub(crate) fn option<'a>(args: &[&'a str], name: &str) -> Result<Option<&'a str>, String> {
    let mut found = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if *arg == name {
            found = Some(*rest.next().ok_or_else(|| format!("{name} needs a value"))?);
        } else {
            return Err(format!("unexpected argument `{arg}`"));
        }
    }
    Ok(found)
}

/// Runs `command` and parses its standard output as JSON, failing with its standard error.
pub(crate) fn json_output(mut command: Command) -> Result<serde_json::Value, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Builds the release binary; its path.
pub(crate) fn release_plexsync() -> Result<std::path::PathBuf, String> {
    run(cargo().args(["build", "--quiet", "--release", "--package", "plexsync"]))?;
    Ok(root().join("target/release/plexsync"))
}

/// A multi-threaded runtime for the fakes a bench starts.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// For a command that takes no arguments: the first one given is an error.
pub(crate) fn no_arguments(args: &[&str]) -> Result<(), String> {
    match args.first() {
        Some(arg) => Err(format!("unexpected argument `{arg}`")),
        None => Ok(()),
    }
}
