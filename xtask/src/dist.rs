//! `cargo xtask dist`: the Stash plugin as users install it. A statically linked musl build of
//! `plexsync` (runs on Alpine, where Stash's Docker images are, and on any other Linux), packed
//! with plexsync.yml two ways: an archive that unpacks straight into Stash's plugins folder,
//! and a plugin source for Stash's own installer (`stash-source/`: an `index.yml` listing a
//! zip per architecture, with its SHA-256, as `pkg/pkg` reads it), and a `SHA256SUMS` of it
//! all. Then checked: the binary must be static, and must work as Stash runs it, with an empty
//! environment, from the unpacked archive and from the zip installed as Stash installs it (file
//! modes kept): a hook queues a scene from a fake Stash, and Stash's Process Queue task syncs
//! it into a fake Plex.
//! Another architecture's binary (aarch64, built with Debian's glibc cross compiler for its C)
//! runs under qemu's user-mode emulation where `qemu-<arch>` is installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::cmd;

const TARGETS: &[(&str, &str)] = &[
    ("x86_64-unknown-linux-musl", "x86_64"),
    ("aarch64-unknown-linux-musl", "aarch64"),
];

pub(crate) fn dist(args: &[&str]) -> Result<(), String> {
    cmd::no_arguments(args)?;
    if !cfg!(target_os = "linux") {
        return Err("dist builds Linux binaries and must run on Linux".into());
    }
    let out = cmd::root().join("target/dist");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut built = Vec::new();
    let source = out.join("stash-source");
    let _ = std::fs::remove_dir_all(&source);
    std::fs::create_dir_all(&source)
        .map_err(|e| format!("cannot create {}: {e}", source.display()))?;
    let mut packages = Vec::new();
    for &(target, arch) in TARGETS {
        let Some(cc) = c_compiler(arch) else {
            eprintln!(
                "xtask: dist: skipping {target}: no C compiler for {arch} (the TLS library has C in it); install {arch}-linux-musl-gcc to build it"
            );
            continue;
        };
        let archive = build(target, arch, &cc, &out)?;
        let package = zip_package(target, arch, &out, &source)?;
        // Another architecture's binary runs under qemu's user-mode emulation, if installed.
        let emulator = format!("qemu-{arch}");
        let runner = if std::env::consts::ARCH == arch {
            Some(None)
        } else if on_path(&emulator) {
            Some(Some(Runner::program(&emulator)))
        } else {
            None
        };
        match runner {
            Some(runner) => {
                check(&archive, runner.as_ref())?;
                check_zip(&source.join(&package.path), runner.as_ref())?;
            }
            None => eprintln!(
                "xtask: dist: {target} built but not run (this machine is {}; install qemu-user to run it)",
                std::env::consts::ARCH
            ),
        }
        built.push(archive);
        packages.push(package);
    }
    if built.is_empty() {
        return Err("no target could be built".into());
    }
    if let Some(package) = crate::dist_windows::package(&source)? {
        packages.push(package);
    }
    let index = source.join("index.yml");
    std::fs::write(&index, index_yml(&packages)).map_err(|e| e.to_string())?;
    built.push(index);
    let mut summed = built.clone();
    summed.extend(packages.iter().map(|p| source.join(&p.path)));
    built.push(sha256sums(&out, &summed)?);
    let share = out.join("share");
    let _ = std::fs::remove_dir_all(&share);
    built.extend(crate::manuals::generate(&share)?);
    for archive in built {
        println!("{}", archive.display());
    }
    Ok(())
}

/// Whether `name` is a program on the PATH.
pub(crate) fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// A C compiler for musl on `arch`: a musl cross compiler if there is one; else, on the same
/// architecture the host's own compiler, and on another Debian's glibc cross compiler
/// (`gcc-aarch64-linux-gnu`): the code it builds needs nothing from the C library that musl
/// lacks, and the final link is Rust's, against its own musl.
fn c_compiler(arch: &str) -> Option<String> {
    let cross = [
        format!("{arch}-linux-musl-gcc"),
        "musl-gcc".to_owned(),
        format!("{arch}-linux-gnu-gcc"),
    ];
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

/// Adds `target` to the toolchain with rustup if it lacks it.
pub(crate) fn ensure_target(target: &str) -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == target)
        })
        .unwrap_or(false);
    if !installed {
        eprintln!(
            "xtask: dist builds for {target}, which this toolchain lacks: adding it with rustup (once; about 30 MB)"
        );
        cmd::run(Command::new("rustup").args(["target", "add", target]))?;
    }
    Ok(())
}

/// Builds the release `plexsync` for `target`, its C compiled by `cc` and linked by `linker`,
/// as users get it: no debug information, no symbols (the workspace's release profile keeps
/// them for profiling).
pub(crate) fn release_for(target: &str, cc: &str, linker: &str) -> Result<(), String> {
    ensure_target(target)?;
    cmd::run(
        cross(cmd::cargo(), target, cc, Some(linker))
            .args([
                "build",
                "--release",
                "--locked",
                "--bin",
                "plexsync",
                "--target",
                target,
            ])
            .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
            .env("CARGO_PROFILE_RELEASE_STRIP", "symbols"),
    )
}

/// `cargo`, with the C that `target`'s crates build compiled by `cc`, and linked by
/// `linker` if given (the environment variables cc-rs and cargo read, per target).
pub(crate) fn cross(
    mut cargo: Command,
    target: &str,
    cc: impl AsRef<std::ffi::OsStr>,
    linker: Option<&str>,
) -> Command {
    let env_target = target.replace('-', "_");
    cargo.env(format!("CC_{env_target}"), cc);
    if let Some(linker) = linker {
        cargo.env(
            format!("CARGO_TARGET_{}_LINKER", env_target.to_uppercase()),
            linker,
        );
    }
    cargo
}

fn build(target: &str, arch: &str, cc: &str, out: &Path) -> Result<PathBuf, String> {
    let linker = if std::env::consts::ARCH == arch {
        "cc"
    } else {
        cc
    };
    release_for(target, cc, linker)?;
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

/// One package of the plugin source: what `index.yml` says of it.
pub(crate) struct Package {
    pub(crate) id: String,
    pub(crate) name: String,
    /// The zip, relative to index.yml.
    pub(crate) path: String,
    pub(crate) sha256: String,
}

/// The zip Stash's installer unpacks into `plugins/<id>/`: the binary (mode 0755) and
/// plexsync.yml at its root.
fn zip_package(target: &str, arch: &str, out: &Path, source: &Path) -> Result<Package, String> {
    let _ = out;
    let binary = cmd::root()
        .join("target")
        .join(target)
        .join("release/plexsync");
    let yml = cmd::root().join("crates/plexsync-cli/plugin/plexsync.yml");
    let version = env!("CARGO_PKG_VERSION");
    let name = format!("plexsync-{version}-{target}.zip");
    let path = source.join(&name);
    let read = |from: &Path| std::fs::read(from).map_err(|e| format!("{}: {e}", from.display()));
    let (sha256, size) = write_zip(
        &path,
        &[
            ("plexsync", &read(&binary)?, 0o755),
            ("plexsync.yml", &read(&yml)?, 0o644),
        ],
    )?;
    // One id per architecture: Stash's sources know nothing of architectures.
    let (id, name_shown) = if arch == "x86_64" {
        ("plexsync".to_owned(), "plexsync".to_owned())
    } else {
        (format!("plexsync-{arch}"), format!("plexsync ({arch})"))
    };
    eprintln!("xtask: dist: {} ({size} bytes)", path.display());
    Ok(Package {
        id,
        name: name_shown,
        path: name,
        sha256,
    })
}

/// Writes a zip of `entries` (name, bytes, Unix mode) at `path`, as Stash's installer unpacks
/// it; its SHA-256 and size.
pub(crate) fn write_zip(
    path: &Path,
    entries: &[(&str, &[u8], u32)],
) -> Result<(String, u64), String> {
    use sha2::Digest;
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    for &(entry, bytes, mode) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        zip.start_file(entry, options).map_err(|e| e.to_string())?;
        zip.write_all(bytes).map_err(|e| e.to_string())?;
    }
    zip.finish().map_err(|e| e.to_string())?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok((
        format!("{:x}", sha2::Sha256::digest(&bytes)),
        bytes.len() as u64,
    ))
}

/// A plugin source's `index.yml`, as Stash's `pkg.RemotePackage` reads it.
fn index_yml(packages: &[Package]) -> String {
    let version = env!("CARGO_PKG_VERSION");
    let date = source_date();
    let mut out = String::new();
    for p in packages {
        out.push_str(&format!(
            "- id: {}\n  name: {}\n  metadata:\n    description: Keeps Plex in step with the scenes you edit in Stash, and rides through Plex outages without losing an edit.\n  version: {version}\n  date: \"{date}\"\n  path: {}\n  sha256: {}\n  requires: []\n",
            p.id, yaml_string(&p.name), p.path, p.sha256
        ));
    }
    out
}

fn yaml_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// When the package was made, as Stash writes package dates (UTC, `2006-01-02 15:04:05`):
/// `SOURCE_DATE_EPOCH` if set, for reproducible builds, else now.
fn source_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let days = (secs / 86_400) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Installs the zip as Stash's installer does (each entry written with the mode the zip
/// records, into `plugins/<id>/`), then runs it as the archive's check does.
pub(crate) fn check_zip(zip_path: &Path, runner: Option<&Runner>) -> Result<(), String> {
    let home = std::env::temp_dir().join(format!("plexsync-dist-zip-{}", std::process::id()));
    let plugins = home.join("plugins");
    let folder = plugins.join("plexsync");
    std::fs::create_dir_all(&folder).map_err(|e| e.to_string())?;
    let result = (|| {
        let file = std::fs::File::open(zip_path).map_err(|e| e.to_string())?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
        for i in 0..zip.len() {
            let mut entry = zip.by_index(i).map_err(|e| e.to_string())?;
            let name = entry
                .enclosed_name()
                .ok_or("a zip entry outside the folder")?;
            let to = folder.join(name);
            let mut out = std::fs::File::create(&to).map_err(|e| e.to_string())?;
            std::io::copy(&mut entry, &mut out).map_err(|e| e.to_string())?;
            use std::os::unix::fs::PermissionsExt;
            let mode = entry
                .unix_mode()
                .ok_or("a zip entry without its file mode")?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
                .map_err(|e| e.to_string())?;
        }
        run_installed(&home, &plugins, runner)?;
        eprintln!(
            "xtask: dist: {} installed as Stash installs it and run: the hook queued its scene, the Process Queue task synced it",
            zip_path.display()
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&home);
    result
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
fn check(archive: &Path, runner: Option<&Runner>) -> Result<(), String> {
    let home = std::env::temp_dir().join(format!("plexsync-dist-{}", std::process::id()));
    let plugins = home.join("plugins");
    std::fs::create_dir_all(&plugins).map_err(|e| e.to_string())?;
    let result = check_in(archive, &home, &plugins, runner);
    let _ = std::fs::remove_dir_all(&home);
    result
}

fn check_in(
    archive: &Path,
    home: &Path,
    plugins: &Path,
    runner: Option<&Runner>,
) -> Result<(), String> {
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
    run_installed(home, plugins, runner)?;
    eprintln!(
        "xtask: dist: unpacked and run with an empty environment{}: the hook queued its scene, the Process Queue task synced it",
        runner.map_or(String::new(), |r| format!(" under {}", r.program))
    );
    Ok(())
}

/// Runs the plugin installed in `plugins/plexsync` as Stash runs a hook: from its folder,
/// with an empty environment (under `runner`, an emulator, if given); fails unless it queued
/// the scene. Then drains the queue into a fake Plex that has the scene's file, and fails
/// unless the edit reached it.
fn run_installed(home: &Path, plugins: &Path, runner: Option<&Runner>) -> Result<(), String> {
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
    let exe = if plugins.join("plexsync/plexsync.exe").is_file() {
        "plexsync/plexsync.exe"
    } else {
        "plexsync/plexsync"
    };
    let binary = plugins.join(exe);
    // Every command starts with an empty environment but for what the emulator needs.
    let command = |args: &[&str]| {
        let mut c = match runner {
            Some(runner) => {
                let mut c = Command::new(&runner.program);
                c.env_clear().envs(runner.env.iter().cloned()).arg(&binary);
                c
            }
            None => {
                let mut c = Command::new(&binary);
                c.env_clear();
                c
            }
        };
        c.args(args);
        c
    };
    let answer = run_task(&command, plugins, &input)?;
    if answer["output"]["queued"] != true {
        return Err(format!(
            "the unpacked binary did not queue the scene: {answer}"
        ));
    }
    if !stash_dir.join("plexsync/queue").is_dir() {
        return Err("the unpacked binary kept no queue in Stash's config folder".into());
    }
    // The drain: Stash's Process Queue task, with the plugin's settings naming a fake Plex
    // that has the scene's file.
    let mut library = fake_plex::Library::demo();
    let key = library.add_movie("1", "Seven (old title)", "/data/Movies/seven.mkv");
    let plex = runtime
        .block_on(fake_plex::FakePlex::start(library))
        .map_err(|e| format!("cannot start the fake Plex: {e}"))?;
    stash.set_plugin_settings(
        "plexsync",
        serde_json::json!({ "plex_url": plex.url(), "plex_token": plex.token() }),
    );
    let mut task = input;
    task["args"] = serde_json::json!({ "mode": "process" });
    let answer = run_task(&command, plugins, &task)?;
    let title = plex.item(&key).and_then(|item| {
        item.get("title")
            .and_then(|t| t.as_str().map(str::to_owned))
    });
    if title.as_deref() != Some("Seven") {
        return Err(format!(
            "the unpacked binary's Process Queue task did not sync the scene (Plex's title: {title:?}): {answer}"
        ));
    }
    Ok(())
}

/// Runs `plexsync stash` from the plugin's folder as Stash runs a task or a hook: `input` on
/// stdin, its result object on stdout; the result if it succeeded.
fn run_task(
    command: &dyn Fn(&[&str]) -> Command,
    plugins: &Path,
    input: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut child = command(&["stash"])
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
    if !output.status.success() || answer.get("error").is_some_and(|e| !e.is_null()) {
        return Err(format!(
            "the unpacked binary failed the {} task: {answer}\n{}",
            input["args"]["mode"].as_str().unwrap_or("hook"),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(answer)
}

/// What runs a binary built for another machine: an emulator, with the environment it needs.
#[derive(Clone, Debug)]
pub(crate) struct Runner {
    /// The emulator.
    pub(crate) program: String,
    /// The only environment the binary's process gets.
    pub(crate) env: Vec<(String, String)>,
}

impl Runner {
    /// `program`, needing no environment.
    fn program(program: &str) -> Runner {
        Runner {
            program: program.to_owned(),
            env: Vec::new(),
        }
    }
}

/// `SHA256SUMS` over what was built (as `sha256sum --check` reads it), written beside them;
/// its path.
fn sha256sums(out: &Path, built: &[PathBuf]) -> Result<PathBuf, String> {
    use sha2::Digest;
    let mut lines = String::new();
    for path in built {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let name = path.strip_prefix(out).unwrap_or(path);
        lines.push_str(&format!(
            "{:x}  {}\n",
            sha2::Sha256::digest(&bytes),
            name.display()
        ));
    }
    let sums = out.join("SHA256SUMS");
    std::fs::write(&sums, lines).map_err(|e| e.to_string())?;
    Ok(sums)
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
    use super::{Package, index_yml, static_elf};

    #[test]
    fn the_index_lists_each_package_as_stash_s_installer_reads_it() {
        let packages = [
            Package {
                id: "plexsync".into(),
                name: "plexsync".into(),
                path: "plexsync-0.1.0-x86_64-unknown-linux-musl.zip".into(),
                sha256: "ab".repeat(32),
            },
            Package {
                id: "plexsync-aarch64".into(),
                name: "plexsync (aarch64)".into(),
                path: "plexsync-0.1.0-aarch64-unknown-linux-musl.zip".into(),
                sha256: "cd".repeat(32),
            },
        ];
        let index = index_yml(&packages);
        let entries: Vec<&str> = index.split("\n- ").collect();
        assert_eq!(entries.len(), 2, "{index}");
        for (entry, p) in entries.iter().zip(&packages) {
            // The keys of pkg.RemotePackage, with PackageVersion and PackageLocation inline.
            for key in [
                "id", "name", "metadata", "version", "date", "path", "sha256", "requires",
            ] {
                assert!(
                    entry.contains(&format!("{key}:")),
                    "{key} missing in {entry}"
                );
            }
            assert!(entry.contains(&format!("id: {}\n", p.id)));
            assert!(entry.contains(&format!("path: {}\n", p.path)));
            assert!(entry.contains(&format!("sha256: {}\n", p.sha256)));
        }
        // The date as pkg.TimeFormat writes it: 2006-01-02 15:04:05.
        let date = index
            .lines()
            .find_map(|l| l.trim().strip_prefix("date: "))
            .unwrap()
            .trim_matches('"');
        assert_eq!(date.len(), 19, "{date}");
        assert_eq!(&date[4..5], "-");
        assert_eq!(&date[10..11], " ");
        assert_eq!(&date[13..14], ":");
    }

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
