//! `cargo xtask macos`: plexsync compiled for macOS (x86_64 and aarch64), its C (the TLS
//! library's) by zig's clang from the Python registry's `ziglang`, every Rust crate with
//! rustc; what cannot be done here is the link. plexsync trusts certificates as the system
//! does (rustls-platform-verifier: the Keychain), which links the Security and CoreFoundation
//! frameworks, and those come only with Apple's SDK, which Apple licenses for its own
//! hardware. So this checks everything up to the link, which is where macOS-only code breaks
//! (a dependency's backend chosen by platform, a `cfg` never compiled on Linux).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd;
use crate::dist::{cross, ensure_target};

const TARGETS: &[(&str, &str)] = &[
    ("x86_64-apple-darwin", "x86_64-macos"),
    ("aarch64-apple-darwin", "aarch64-macos"),
];

pub(crate) fn macos(args: &[&str]) -> Result<(), String> {
    cmd::no_arguments(args)?;
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| zig_works(p))
        .ok_or(
            "no zig to compile C for macOS with: install it with `python3 -m pip install ziglang`",
        )?;
    let wrappers = cmd::root().join("target/zig");
    std::fs::create_dir_all(&wrappers).map_err(|e| e.to_string())?;
    for &(target, zig_target) in TARGETS {
        ensure_target(target)?;
        let cc = wrapper(
            &wrappers,
            &format!("cc-{zig_target}"),
            python,
            &["cc", "-target", zig_target],
        )?;
        let ar = wrapper(&wrappers, "ar", python, &["ar"])?;
        cmd::run(
            cross(cmd::cargo(), target, &cc, None)
                .args([
                    "check",
                    "--release",
                    "--locked",
                    "--bin",
                    "plexsync",
                    "--target",
                    target,
                ])
                .env(format!("AR_{}", target.replace('-', "_")), &ar),
        )?;
        eprintln!(
            "xtask: macos: plexsync compiles for {target}; not linked: the Security and CoreFoundation frameworks are in Apple's SDK only"
        );
    }
    Ok(())
}

/// Whether `python -m ziglang` runs.
fn zig_works(python: &str) -> bool {
    Command::new(python)
        .args(["-m", "ziglang", "version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A script in `dir` that runs `python -m ziglang` with `args` and its own arguments: cc-rs
/// takes a compiler as one program. cc-rs's `--target=` (an LLVM triple zig does not parse)
/// is dropped: the script names zig's own.
fn wrapper(dir: &Path, name: &str, python: &str, args: &[&str]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    let script = format!(
        "#!/bin/sh\nfor arg do\n  shift\n  case \"$arg\" in --target=*) ;; *) set -- \"$@\" \"$arg\" ;; esac\ndone\nexec {python} -m ziglang {} \"$@\"\n",
        args.join(" ")
    );
    std::fs::write(&path, script).map_err(|e| format!("{}: {e}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}
