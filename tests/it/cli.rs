use crate::harness::plexsync;

#[test]
fn version_prints_the_package_version() {
    let run = plexsync(&["--version"]);
    assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
    assert_eq!(
        run.stdout.trim(),
        format!("plexsync {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_describes_the_tool() {
    let run = plexsync(&["--help"]);
    assert_eq!(run.status, Some(0), "stderr: {}", run.stderr);
    assert!(run.stdout.contains("Usage: plexsync"), "{}", run.stdout);
    assert!(run.stdout.contains("Plex"), "{}", run.stdout);
}

#[test]
fn an_unknown_flag_is_a_usage_error_on_stderr() {
    let run = plexsync(&["--no-such-flag"]);
    assert_eq!(run.status, Some(2));
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(run.stderr.contains("--no-such-flag"), "{}", run.stderr);
}
