//! Shell completions and man pages for plexsync, generated from its clap definitions (the
//! same ones the binary parses with), for `cargo xtask dist`.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// Writes `completions/` (bash, zsh, fish, PowerShell, elvish) and `man/` (plexsync.1 and a
/// page per command) under `out`; returns the files written.
pub(crate) fn generate(out: &Path) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    let completions = out.join("completions");
    std::fs::create_dir_all(&completions).map_err(|e| e.to_string())?;
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        let mut command = plexsync_cli::args::Cli::command();
        let path = clap_complete::generate_to(shell, &mut command, "plexsync", &completions)
            .map_err(|e| format!("could not write the {shell} completions: {e}"))?;
        written.push(path);
    }
    let man = out.join("man");
    std::fs::create_dir_all(&man).map_err(|e| e.to_string())?;
    let command = plexsync_cli::args::Cli::command();
    clap_mangen::generate_to(command, &man)
        .map_err(|e| format!("could not write the man pages: {e}"))?;
    for entry in std::fs::read_dir(&man).map_err(|e| e.to_string())? {
        written.push(entry.map_err(|e| e.to_string())?.path());
    }
    written.sort();
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// The completions are valid shell (bash parses them) and offer every command; the man
    /// pages name every command and render without a warning where `man` is present.
    #[test]
    fn completions_and_man_pages_cover_every_command() {
        let dir = std::env::temp_dir().join(format!("plexsync-manuals-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = super::generate(&dir).unwrap();
        let bash = dir.join("completions/plexsync.bash");
        assert!(files.contains(&bash), "{files:?}");
        let text = std::fs::read_to_string(&bash).unwrap();
        for command in [
            "health", "status", "enqueue", "process", "run", "dlq", "breaker", "stash", "outages",
            "queue",
        ] {
            assert!(
                text.contains(command),
                "{command} missing from the bash completions"
            );
            let page = dir.join(format!("man/plexsync-{command}.1"));
            assert!(
                files.contains(&page),
                "no man page for {command}: {files:?}"
            );
        }
        let parsed = Command::new("bash").arg("-n").arg(&bash).status().unwrap();
        assert!(parsed.success(), "bash cannot parse the completions");
        let main = std::fs::read_to_string(dir.join("man/plexsync.1")).unwrap();
        assert!(
            main.starts_with(".ie") || main.contains(".TH plexsync 1"),
            "{main}"
        );
        if let Ok(out) = Command::new("man")
            .args(["--warnings", "-l", "-Tutf8"])
            .arg(dir.join("man/plexsync.1"))
            .output()
        {
            if out.status.success() {
                let shown = String::from_utf8_lossy(&out.stdout);
                assert!(shown.contains("plexsync"), "{shown}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
