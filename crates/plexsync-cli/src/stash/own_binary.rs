//! The plugin runs its own binary. Stash looks `exec`'s program up on its `PATH` first
//! (`pkg/plugin/config.go`, `getExecCommand`), so a `plexsync` installed there would run with
//! this folder's plexsync.yml: plexsync.yml names `./plexsync`, which no `PATH` lookup finds,
//! and a binary started from anywhere but the plugin's folder hands the input over to the one
//! in it, so that the binary and plexsync.yml always come from the same package.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

/// The binary's name in the plugin's folder.
const NAME: &str = if cfg!(windows) {
    "plexsync.exe"
} else {
    "plexsync"
};

/// Runs the plugin folder's binary on `input` if this is another one; its exit status, or
/// `None` to go on here (this is the folder's binary, or the folder has none).
pub(super) fn hand_over(input: &str) -> Option<ExitCode> {
    let folder = plugin_dir(input)?;
    let own = folder.join(NAME);
    let this = std::env::current_exe().ok()?;
    if same_file(&own, &this) || !own.is_file() {
        return None;
    }
    tracing::debug!(
        "{} is not the plugin's own binary; handing over to {}",
        this.display(),
        own.display()
    );
    let mut child = Command::new(&own)
        .arg("stash")
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let status = child.wait().ok()?;
    Some(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// `server_connection.PluginDir`, if the input names one.
fn plugin_dir(input: &str) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Document {
        server_connection: Connection,
    }
    #[derive(serde::Deserialize)]
    struct Connection {
        #[serde(rename = "PluginDir")]
        plugin_dir: Option<String>,
    }
    let doc: Document = serde_json::from_str(input).ok()?;
    doc.server_connection
        .plugin_dir
        .filter(|d| !d.trim().is_empty())
        .map(PathBuf::from)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
