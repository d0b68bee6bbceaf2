//! Checks of the service files in `contrib/`: the systemd unit verified by systemd itself,
//! the Dockerfile built where a Docker daemon runs and linted everywhere.

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::Command;

    use crate::cmd::root;

    /// systemd's own verifier accepts the user unit as a user would install it (with the
    /// binary and the environment file in place), with nothing to warn about.
    #[test]
    fn the_systemd_unit_verifies() {
        let unit = root().join("contrib/plexsync.service");
        let text = std::fs::read_to_string(&unit).unwrap();
        assert!(
            text.contains("ExecStart=%h/.cargo/bin/plexsync run"),
            "{text}"
        );
        assert!(text.contains("RestartPreventExitStatus=2"), "{text}");
        if Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .is_err()
        {
            // Not a systemd machine: what can be checked without systemd was checked above.
            return;
        }
        let home = tempfile_dir("plexsync-unit");
        let runtime = home.join("run");
        std::fs::create_dir_all(home.join(".cargo/bin")).unwrap();
        std::fs::create_dir_all(home.join(".config")).unwrap();
        std::fs::create_dir_all(&runtime).unwrap();
        set_mode(&runtime, 0o700);
        std::fs::copy("/bin/true", home.join(".cargo/bin/plexsync")).unwrap();
        std::fs::write(
            home.join(".config/plexsync.env"),
            "PLEX_URL=http://127.0.0.1:32400\n",
        )
        .unwrap();
        let out = Command::new("systemd-analyze")
            .args(["--user", "--man=no", "verify"])
            .arg(&unit)
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "systemd-analyze verify failed: {said}"
        );
        assert!(said.trim().is_empty(), "systemd-analyze warned: {said}");
        let _ = std::fs::remove_dir_all(&home);
    }

    /// Every line of the Dockerfile is an instruction Docker knows (or a comment or a
    /// continuation); it starts from a base image, copies only what exists, builds plexsync
    /// statically, runs it as a user that is not root, and checks health with `plexsync
    /// health`. Where a Docker daemon answers, it is built too.
    #[test]
    fn the_dockerfile_lints_and_builds_where_it_can() {
        let path = root().join("contrib/Dockerfile");
        let text = std::fs::read_to_string(&path).unwrap();
        const KNOWN: [&str; 18] = [
            "FROM",
            "RUN",
            "CMD",
            "LABEL",
            "EXPOSE",
            "ENV",
            "ADD",
            "COPY",
            "ENTRYPOINT",
            "VOLUME",
            "USER",
            "WORKDIR",
            "ARG",
            "ONBUILD",
            "STOPSIGNAL",
            "HEALTHCHECK",
            "SHELL",
            "MAINTAINER",
        ];
        let mut instructions = Vec::new();
        let mut continued = false;
        for (n, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if continued {
                continued = trimmed.ends_with('\\');
                continue;
            }
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let word = trimmed.split_whitespace().next().unwrap();
            assert!(
                KNOWN.contains(&word),
                "line {}: unknown instruction {word}",
                n + 1
            );
            continued = trimmed.ends_with('\\');
            instructions.push((word, trimmed.to_owned()));
        }
        assert_eq!(instructions.first().map(|i| i.0), Some("FROM"));
        for (word, line) in &instructions {
            if *word == "COPY" && !line.contains("--from=") {
                let source = line.split_whitespace().nth(1).unwrap();
                assert!(root().join(source).exists(), "COPY of a missing {source}");
            }
        }
        let has = |needle: &str| instructions.iter().any(|(_, l)| l.contains(needle));
        assert!(
            has("HEALTHCHECK") && has(r#"CMD ["plexsync", "health""#),
            "no health check"
        );
        assert!(has("cargo build --release --locked --package plexsync"));
        assert!(has("USER plexsync"), "runs as root");
        assert!(has("ENV PLEXSYNC_DATA_DIR=/data"));
        assert!(!has("PLEX_TOKEN"), "a token baked into the image");
        let daemon = Command::new("docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success());
        if daemon {
            let built = Command::new("docker")
                .args(["build", "-f"])
                .arg(&path)
                .args(["-t", "plexsync-ci", "."])
                .current_dir(root())
                .status()
                .unwrap();
            assert!(built.success(), "docker build failed");
        }
    }

    /// The licences the manifests declare are in the repository (and in breaker-core's
    /// package), and the docs stand alone: nothing cites notes outside the repository.
    #[test]
    fn licences_are_present_and_docs_cite_only_what_is_here() {
        for dir in ["", "crates/breaker-core"] {
            for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
                let path = root().join(dir).join(file);
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                assert!(text.contains(if file.ends_with("MIT") {
                    "MIT License"
                } else {
                    "Apache License"
                }));
            }
        }
        let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains(r#"license = "MIT OR Apache-2.0""#));
        let mut files = vec![root().join("README.md"), root().join("CHANGELOG.md")];
        let mut dirs = vec![
            root().join("docs"),
            root().join("crates"),
            root().join("xtask/src"),
            root().join("tests"),
        ];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "md" || e == "rs") {
                    files.push(path);
                }
            }
        }
        // Spelled in two pieces so that this file does not cite them itself.
        let outside = [
            format!("../{}/", "shared"),
            format!("{}.md", "STASH"),
            format!("{}.md", "PLEX"),
        ];
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for cited in &outside {
                assert!(
                    !text.contains(cited.as_str()),
                    "{} cites {cited}, which is not in the repository",
                    path.display()
                );
            }
        }
    }

    fn tempfile_dir(prefix: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}
