//! `cargo xtask dist` for Windows: `plexsync.exe` built with Debian's mingw-w64 (its C for the
//! TLS library too), packed in a zip with a plexsync.yml whose `exec` names `plexsync.exe`,
//! listed in the plugin source, and run as Stash runs it under wine where wine is installed (a
//! hook against a fake Stash, then its Process Queue task into a fake Plex).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd;
use crate::dist::{Package, Runner, check_zip, on_path, release_for, write_zip};

pub(crate) const TARGET: &str = "x86_64-pc-windows-gnu";
pub(crate) const CC: &str = "x86_64-w64-mingw32-gcc";

/// Builds, packs and checks the Windows plugin; `None` (and why, on stderr) if this machine
/// has no mingw-w64 to build it with.
pub(crate) fn package(source: &Path) -> Result<Option<Package>, String> {
    if !on_path(CC) {
        eprintln!(
            "xtask: dist: skipping {TARGET}: no {CC} (Debian's gcc-mingw-w64-x86-64) to build it with"
        );
        return Ok(None);
    }
    release_for(TARGET, CC, CC)?;
    let binary = cmd::root()
        .join("target")
        .join(TARGET)
        .join("release/plexsync.exe");
    pe_x86_64(&binary)?;
    let yml = std::fs::read_to_string(cmd::root().join("crates/plexsync-cli/plugin/plexsync.yml"))
        .map_err(|e| e.to_string())?;
    let yml = windows_yml(&yml)?;
    let name = format!("plexsync-{}-{TARGET}.zip", env!("CARGO_PKG_VERSION"));
    let path = source.join(&name);
    let exe = std::fs::read(&binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let (sha256, size) = write_zip(
        &path,
        &[
            ("plexsync.exe", &exe, 0o755),
            ("plexsync.yml", yml.as_bytes(), 0o644),
        ],
    )?;
    eprintln!(
        "xtask: dist: {} ({:.1} MiB), plexsync.exe and its plexsync.yml",
        path.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    match wine()? {
        Some(runner) => {
            check_zip(&path, Some(&runner))?;
            windows_ways(&binary, &runner)?;
        }
        None => {
            eprintln!("xtask: dist: {TARGET} built but not run (install wine64 to run it here)")
        }
    }
    Ok(Some(Package {
        id: "plexsync-windows".into(),
        name: "plexsync (Windows)".into(),
        path: name,
        sha256,
    }))
}

/// What differs on Windows, checked under wine: the data directory defaults to
/// `%APPDATA%\plexsync`.
fn windows_ways(binary: &Path, runner: &Runner) -> Result<(), String> {
    let runtime = cmd::runtime()?;
    let mut library = fake_plex::Library::demo();
    library.add_movie("1", "Seven", "/data/Movies/seven.mkv");
    let plex = runtime
        .block_on(fake_plex::FakePlex::start(library))
        .map_err(|e| format!("cannot start the fake Plex: {e}"))?;
    // wine gives a program the %APPDATA% of its prefix's user, whatever this environment says.
    let prefix = runner
        .env
        .iter()
        .find(|(k, _)| k == "WINEPREFIX")
        .map(|(_, v)| PathBuf::from(v))
        .ok_or("wine runs without a WINEPREFIX")?;
    let roaming: Vec<PathBuf> = std::fs::read_dir(prefix.join("drive_c/users"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|user| user.path().join("AppData/Roaming"))
        .filter(|dir| dir.is_dir())
        .collect();
    for dir in &roaming {
        let _ = std::fs::remove_dir_all(dir.join("plexsync"));
    }
    let command = |args: &[&str]| {
        let mut c = Command::new(&runner.program);
        c.env_clear()
            .envs(runner.env.iter().cloned())
            .env("PLEX_URL", plex.url())
            .env("PLEX_TOKEN", plex.token())
            .arg(binary)
            .args(args)
            .stdin(std::process::Stdio::null());
        c
    };
    let enqueued = command(&[
        "enqueue",
        "--scene",
        "7",
        "--file",
        "/data/Movies/seven.mkv",
    ])
    .output()
    .map_err(|e| e.to_string())?;
    let kept = roaming
        .iter()
        .any(|dir| dir.join("plexsync/queue").is_dir());
    if !enqueued.status.success() || !kept {
        return Err(format!(
            "plexsync.exe kept no queue in %APPDATA%\\plexsync (under {}):\n{}",
            prefix.join("drive_c/users").display(),
            String::from_utf8_lossy(&enqueued.stderr)
        ));
    }
    eprintln!("xtask: dist: plexsync.exe under wine keeps its data in %APPDATA%\\plexsync");
    Ok(())
}

/// plexsync.yml with `exec` naming the Windows binary.
fn windows_yml(yml: &str) -> Result<String, String> {
    const UNIX: &str = "  - ./plexsync\n";
    if !yml.contains(UNIX) {
        return Err("plexsync.yml no longer execs ./plexsync: update dist_windows.rs".into());
    }
    Ok(yml.replacen(UNIX, "  - ./plexsync.exe\n", 1))
}

/// Fails unless `path` is a PE executable for x86-64 (`MZ`, `PE\0\0`, machine 0x8664).
fn pe_x86_64(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let not = |why: &str| {
        format!(
            "{} is not an x86-64 Windows executable: {why}",
            path.display()
        )
    };
    if bytes.get(..2) != Some(b"MZ".as_slice()) {
        return Err(not("no MZ header"));
    }
    let pe = bytes
        .get(0x3c..0x40)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or_else(|| not("cut short"))?;
    if bytes.get(pe..pe + 4) != Some(b"PE\0\0".as_slice()) {
        return Err(not("no PE signature"));
    }
    if bytes.get(pe + 4..pe + 6) != Some([0x64, 0x86].as_slice()) {
        return Err(not("built for another machine"));
    }
    Ok(())
}

/// wine, with a prefix of its own under `target/` that has what Rust's standard library needs
/// and wine 8 lacks (`xtask/wine/bcryptprimitives.c`); `None` if wine is not installed.
pub(crate) fn wine() -> Result<Option<Runner>, String> {
    let program = ["/usr/lib/wine/wine64", "/usr/bin/wine64", "/usr/bin/wine"]
        .into_iter()
        .find(|p| Path::new(p).is_file());
    let Some(program) = program else {
        return Ok(None);
    };
    let prefix = cmd::root().join("target/wine-prefix");
    let env = vec![
        ("WINEPREFIX".to_owned(), prefix.display().to_string()),
        ("WINEDEBUG".to_owned(), "-all".to_owned()),
        // No window, no display: wine runs the console program and nothing else.
        ("WINEDLLOVERRIDES".to_owned(), "mscoree,mshtml=".to_owned()),
    ];
    let system32 = prefix.join("drive_c/windows/system32");
    if !system32.is_dir() {
        // The first run of wine makes the prefix.
        let _ = Command::new(program)
            .arg("cmd")
            .args(["/c", "exit"])
            .env_clear()
            .envs(env.iter().cloned())
            .output()
            .map_err(|e| format!("wine does not start: {e}"))?;
    }
    let shim = system32.join("bcryptprimitives.dll");
    if !shim.is_file() {
        let source: PathBuf = cmd::root().join("xtask/wine/bcryptprimitives.c");
        cmd::run(
            Command::new(CC)
                .args(["-shared", "-O2", "-o"])
                .arg(&shim)
                .arg(&source)
                .arg("-ladvapi32"),
        )?;
    }
    Ok(Some(Runner {
        program: program.to_owned(),
        env,
    }))
}

#[cfg(test)]
mod tests {
    use super::windows_yml;

    #[test]
    fn the_windows_plugin_file_execs_the_exe() {
        let yml = include_str!("../../crates/plexsync-cli/plugin/plexsync.yml");
        let windows = windows_yml(yml).unwrap();
        assert!(windows.contains("  - ./plexsync.exe\n"));
        assert_eq!(windows.replace("./plexsync.exe", "./plexsync"), yml);
    }
}
