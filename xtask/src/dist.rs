//! `cargo xtask dist`: the Stash plugin as users install it. A statically linked musl build of
//! `plexsync` (runs on Alpine, where Stash's Docker images are, and on any other Linux), packed
//! with plexsync.yml into an archive that unpacks straight into Stash's plugins folder; then
//! checked: the binary must be static, and must work as Stash runs it, with an empty
//! environment, from the unpacked folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cmd;

const TARGETS: &[(&str, &str)] = &[
    ("x86_64-unknown-linux-musl", "x86_64"),
    ("aarch64-unknown-linux-musl", "aarch64"),
];

pub(crate) fn dist(args: &[&str]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("unexpected argument `{arg}`"));
    }
    if !cfg!(target_os = "linux") {
        return Err("dist builds Linux binaries and must run on Linux".into());
    }
    let out = cmd::root().join("target/dist");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut built = Vec::new();
    for &(target, arch) in TARGETS {
        let Some(cc) = c_compiler(arch) else {
            eprintln!(
                "xtask: dist: skipping {target}: no C compiler for {arch} (the TLS library has C in it); install {arch}-linux-musl-gcc to build it"
            );
            continue;
        };
        let archive = build(target, arch, &cc, &out)?;
        if std::env::consts::ARCH == arch {
            check(&archive)?;
        } else {
            eprintln!(
                "xtask: dist: {target} built but not run (this machine is {})",
                std::env::consts::ARCH
            );
        }
        built.push(archive);
    }
    if built.is_empty() {
        return Err("no target could be built".into());
    }
    for archive in built {
        println!("{}", archive.display());
    }
    Ok(())
}

/// A C compiler for musl on `arch`: a musl cross compiler if there is one; on the same
/// architecture the host's own compiler does, since the code it builds needs nothing from the
/// C library that musl lacks and the final link is Rust's, against its own musl.
fn c_compiler(arch: &str) -> Option<String> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
    };
    let cross = [format!("{arch}-linux-musl-gcc"), "musl-gcc".to_owned()];
    if let Some(found) = cross
        .iter()
        .find(|c| on_path(c) && (c.starts_with(arch) || std::env::consts::ARCH == arch))
    {
        return Some(found.clone());
    }
    if std::env::consts::ARCH == arch {
        return ["cc", "gcc", "clang"]
            .iter()
            .find(|c| on_path(c))
            .map(|c| (*c).to_owned());
    }
    None
}

fn build(target: &str, arch: &str, cc: &str, out: &Path) -> Result<PathBuf, String> {
    cmd::run(Command::new("rustup").args(["target", "add", target]))?;
    let env_target = target.replace('-', "_");
    cmd::run(
        cmd::cargo()
            .args([
                "build",
                "--release",
                "--locked",
                "--bin",
                "plexsync",
                "--target",
                target,
            ])
            .env(format!("CC_{env_target}"), cc)
            .env(
                format!("CARGO_TARGET_{}_LINKER", env_target.to_uppercase()),
                if std::env::consts::ARCH == arch {
                    "cc"
                } else {
                    cc
                },
            )
            // A release for users: no debug information, no symbols (the workspace's release
            // profile keeps them for profiling).
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "symbols"),
    )?;
    let binary = cmd::root()
        .join("target")
        .join(target)
        .join("release/plexsync");
    static_elf(&binary)?;
    let stage = out.join(format!("stage-{target}"));
    let _ = std::fs::remove_dir_all(&stage);
    let folder = stage.join("plexsync");
    std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
    std::fs::copy(&binary, folder.join("plexsync")).map_err(|e| e.to_string())?;
    std::fs::copy(
        cmd::root().join("crates/plexsync-cli/plugin/plexsync.yml"),
        folder.join("plexsync.yml"),
    )
    .map_err(|e| e.to_string())?;
    let version = env!("CARGO_PKG_VERSION");
    let archive = out.join(format!("plexsync-{version}-{target}.tar.gz"));
    cmd::run(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
            .arg(&archive)
            .arg("-C")
            .arg(&stage)
            .arg("plexsync"),
    )?;
    let _ = std::fs::remove_dir_all(&stage);
    let size = std::fs::metadata(&archive).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "xtask: dist: {} ({:.1} MiB), a static binary",
        archive.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(archive)
}

/// Fails unless `path` is an ELF executable that needs no dynamic loader and no shared library.
fn static_elf(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let not_static = |why: &str| format!("{} is not a static executable: {why}", path.display());
    if bytes.get(..5) != Some(b"\x7fELF\x02".as_slice()) || bytes.get(5) != Some(&1) {
        return Err(not_static("not a 64-bit little-endian ELF file"));
    }
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    let bad = || not_static("its headers are cut short");
    let phoff = u64_at(0x20).ok_or_else(bad)? as usize;
    let phentsize = usize::from(u16_at(0x36).ok_or_else(bad)?);
    let phnum = usize::from(u16_at(0x38).ok_or_else(bad)?);
    for i in 0..phnum {
        let header = phoff + i * phentsize;
        match u32_at(header).ok_or_else(bad)? {
            // PT_INTERP: it names a dynamic loader.
            3 => return Err(not_static("it asks for a dynamic loader")),
            // PT_DYNAMIC: a static PIE has one, but must need no library (DT_NEEDED).
            2 => {
                let offset = u64_at(header + 8).ok_or_else(bad)? as usize;
                let size = u64_at(header + 32).ok_or_else(bad)? as usize;
                for entry in (offset..offset + size).step_by(16) {
                    match u64_at(entry).ok_or_else(bad)? {
                        0 => break,
                        1 => return Err(not_static("it needs a shared library")),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Unpacks the archive as a user would into a plugins folder, and runs the binary there the
/// way Stash does: no environment at all, the input on standard input, a hook against a fake
/// Stash. The scene must end up queued in the data directory under Stash's config folder.
fn check(archive: &Path) -> Result<(), String> {
    let home = std::env::temp_dir().join(format!("plexsync-dist-{}", std::process::id()));
    let plugins = home.join("plugins");
    std::fs::create_dir_all(&plugins).map_err(|e| e.to_string())?;
    let result = check_in(archive, &home, &plugins);
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn check_in(archive: &Path, home: &Path, plugins: &Path) -> Result<(), String> {
    cmd::run(
        Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(plugins),
    )?;
    let mut unpacked: Vec<String> = walk(plugins)
        .iter()
        .filter_map(|p| {
            p.strip_prefix(plugins)
                .ok()
                .map(|p| p.display().to_string())
        })
        .collect();
    unpacked.sort();
    if unpacked != ["plexsync", "plexsync/plexsync", "plexsync/plexsync.yml"] {
        return Err(format!(
            "the archive should hold plexsync/plexsync and plexsync/plexsync.yml only, not {unpacked:?}"
        ));
    }
    // A worker thread of its own serves the fake while this thread waits for the binary.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stash = runtime
        .block_on(fake_stash::FakeStash::start(fake_stash::Options::default()))
        .map_err(|e| format!("cannot start the fake Stash: {e}"))?;
    stash.add_scene(fake_stash::scene("7", "Seven", "/data/Movies/seven.mkv"));
    let stash_dir = home.join("stash");
    let input = serde_json::json!({
        "server_connection": { "Scheme": "http", "Host": "0.0.0.0", "Port": stash.port(), "SessionCookie": null, "Dir": stash_dir, "PluginDir": plugins.join("plexsync") },
        "args": { "hookContext": { "id": 7, "type": "Scene.Update.Post", "input": null } },
    });
    let mut child = Command::new(plugins.join("plexsync/plexsync"))
        .arg("stash")
        .env_clear()
        .current_dir(plugins.join("plexsync"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("the unpacked binary does not start: {e}"))?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        stdin
            .write_all(input.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).map_err(|_| {
        format!("the unpacked binary's stdout is not its result object: {stdout:?}")
    })?;
    if !output.status.success() || answer["output"]["queued"] != true {
        return Err(format!(
            "the unpacked binary did not queue the scene: {answer}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if !stash_dir.join("plexsync/queue").is_dir() {
        return Err("the unpacked binary kept no queue in Stash's config folder".into());
    }
    eprintln!("xtask: dist: unpacked and run with an empty environment: the hook queued its scene");
    Ok(())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::static_elf;

    #[test]
    fn a_dynamically_linked_or_non_elf_file_is_not_taken_for_static() {
        // This test binary is linked the host's usual way, against the C library.
        let me = std::env::current_exe().unwrap();
        let error = static_elf(&me).unwrap_err();
        assert!(
            error.contains("dynamic loader") || error.contains("shared library"),
            "{error}"
        );
        let text = std::env::temp_dir().join(format!("not-elf-{}", std::process::id()));
        std::fs::write(&text, b"#!/bin/sh\necho hi\n").unwrap();
        let error = static_elf(&text).unwrap_err();
        std::fs::remove_file(&text).unwrap();
        assert!(error.contains("not a 64-bit"), "{error}");
    }
}
