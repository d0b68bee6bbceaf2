//! The README's examples are what the binary prints: the README is walked as a user would
//! (a healthy Plex, jobs queued while it restarts, status, queue, outages, the dead-letter
//! queue, the breaker by hand), and each example's output is compared with the real output
//! once numbers, times, durations, URLs and the data directory are normalised away. Every
//! line the README shows must be printed, in that order.

use std::collections::HashMap;
use std::time::Duration;

use fake_plex::ServerPhase;
use regex::Regex;

use crate::harness::{DataDir, Plex, Plexsync, QUICK_POLICY, Run, wait};

/// Each example in the README, in order: its command line (the first line, without `$ `),
/// and the output lines shown under it.
fn all_examples() -> Vec<(String, Vec<String>)> {
    let readme = include_str!("../../README.md");
    let mut found = Vec::new();
    let mut in_block = false;
    let mut current: Option<(String, Vec<String>)> = None;
    let mut continued = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            found.extend(current.take());
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            found.extend(current.take());
            continued = command.ends_with('\\');
            current = Some((command.to_owned(), Vec::new()));
        } else if continued {
            continued = line.ends_with('\\');
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line.to_owned());
        }
    }
    found
}

/// The README's examples by command line (the last, where a command is shown more than once).
fn examples() -> HashMap<String, Vec<String>> {
    all_examples().into_iter().collect()
}

/// A line with what changes from run to run taken out.
struct Normal {
    rules: Vec<(Regex, &'static str)>,
}

impl Normal {
    fn new(data: &[&str]) -> Normal {
        let mut rules = Vec::new();
        for dir in data {
            rules.push((Regex::new(&regex::escape(dir)).unwrap(), "DATA"));
        }
        let causes = "refused|read timeout|connect timeout|maintenance|dns|connection lost|unexpected status|tls";
        for (pattern, to) in [
            // The log's own timestamp, before the level.
            (r"^\d{4}-\d\d-\d\dT[\d:.]+Z\s+", ""),
            (r"/home/me/\.local/share/plexsync", "DATA"),
            (r"https?://(localhost|127\.0\.0\.1):\d+", "URL"),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "TIME"),
            (r"\bjust now\b", "DUR ago"),
            (r"\d+(\.\d+)? (h|min|s|ms)( \d+(\.\d+)? (min|s))?\b", "DUR"),
            (r"\d+(\.\d+)?", "N"),
            (r"\bN (job|probe|outage|file|record|update)s\b", "N $1"),
            (r"\bN (job|probe|outage)\(s\)", "N $1"),
            (r"\b(wait|waits)\b", "wait"),
        ] {
            rules.push((Regex::new(pattern).unwrap(), to));
        }
        // What Plex went through: the same restart may be seen at more or fewer stages.
        rules.push((
            Regex::new(&format!(r"\b({causes})( → ({causes}))*")).unwrap(),
            "STORY",
        ));
        rules.push((Regex::new(r"\s+").unwrap(), " "));
        Normal { rules }
    }

    fn line(&self, line: &str) -> String {
        let mut text = line.trim().to_owned();
        for (pattern, to) in &self.rules {
            text = pattern.replace_all(&text, *to).into_owned();
        }
        text.trim().to_owned()
    }

    /// The lines that say something stable: a probe's line in `status` depends on when the
    /// probes fell, and `...` in the README stands for lines left out.
    fn lines(&self, text: &[String]) -> Vec<String> {
        let probe = Regex::new(r"^DUR ago .*\(DUR\)$").unwrap();
        text.iter()
            .map(|l| self.line(l))
            .filter(|l| !l.is_empty() && l != "..." && !probe.is_match(l))
            .collect()
    }
}

/// Checks that the README's example for `command` is printed by `run` (standard output and
/// standard error together, in the README's order).
fn shown(examples: &HashMap<String, Vec<String>>, normal: &Normal, command: &str, printed: &str) {
    let expected = examples
        .get(command)
        .unwrap_or_else(|| panic!("the README has no example `$ {command}`"));
    let expected = normal.lines(expected);
    assert!(!expected.is_empty(), "`{command}` shows nothing");
    let actual = normal.lines(&printed.lines().map(String::from).collect::<Vec<_>>());
    let mut at = 0;
    for line in &expected {
        match actual[at..].iter().position(|l| l == line) {
            Some(i) => at += i + 1,
            None => panic!(
                "`$ {command}`: the README shows\n    {line}\nwhich the binary did not print (normalised):\n{}",
                actual.join("\n")
            ),
        }
    }
}

fn both(run: &Run) -> String {
    format!("{}{}", run.stderr, run.stdout)
}

#[test]
fn the_readme_s_examples_are_what_the_binary_prints() {
    let examples = examples();
    let plex = Plex::start(0, ServerPhase::Ready);
    // Plex's maintenance window away from now, in the zone the binary is told: the README's
    // outage was not inside it, whatever the hour the test runs at.
    let hour = crate::harness::utc_hour();
    plex.fake.set_butler_hours((hour + 3) % 24, (hour + 6) % 24);
    let data = DataDir::new(&plex.fake.url(), plex.fake.token(), QUICK_POLICY);
    let ps = data.plexsync().env("TZ", "UTC");
    let path = data.path().display().to_string();
    let normal = Normal::new(&[&path]);

    // A setting that cannot work.
    let bare = tempfile::tempdir().unwrap();
    let bare_path = bare.path().display().to_string();
    let missing = Plexsync::new()
        .env("PLEXSYNC_DATA_DIR", bare.path())
        .env("PLEX_URL", plex.fake.url())
        .run(&["health"]);
    assert_eq!(missing.status, Some(2));
    let bare_normal = Normal::new(&[&bare_path]);
    // The README's first `health` is the healthy one; the error is in its own block.
    let errors: HashMap<String, Vec<String>> = examples_with_output_starting("plexsync:");
    shown(&errors, &bare_normal, "plexsync health", &both(&missing));

    let health = ps.run(&["health"]);
    assert_eq!(health.status, Some(0), "{health:?}");
    let healthy: HashMap<String, Vec<String>> = examples_with_output_starting("Plex at");
    shown(&healthy, &normal, "plexsync health", &both(&health));
    // plexsync has reached this Plex: a refusal from now on is an outage.
    assert_eq!(ps.run(&["process"]).status, Some(0));

    // Plex goes down; jobs are queued; it comes back through its stages.
    plex.set_phase(ServerPhase::Refused);
    let sintel = ps.run(&[
        "enqueue",
        "--scene",
        "57",
        "--file",
        "/data/Movies/Sintel (2010).mkv",
        "--title",
        "Sintel",
        "--studio",
        "Blender Foundation",
        "--performer",
        "Halina Reijn",
        "--tag",
        "Animation",
        "--tag",
        "Fantasy",
    ]);
    shown(
        &examples,
        &normal,
        r#"plexsync enqueue --scene 57 --file "/data/Movies/Sintel (2010).mkv" --title Sintel \"#,
        &both(&sintel),
    );
    let json = r#"{"scene_id":"108","files":["/data/Movies/Interstate 60 (2002).mkv"],"edit":{"title":"Interstate 60"},"edited_at":0}"#;
    let from_json = ps.stdin(json.as_bytes()).run(&["enqueue", "--json", "-"]);
    shown(
        &examples,
        &normal,
        &format!("echo '{json}' | plexsync enqueue --json -"),
        &both(&from_json),
    );
    let ps = data.plexsync().env("TZ", "UTC");
    for i in 0..10 {
        let file = format!("/data/Movies/extra-{i}.mkv");
        plex.fake.with_library(|l| {
            l.add_movie("1", &format!("Extra {i}"), &file);
        });
        let run = ps.run(&[
            "enqueue",
            "--scene",
            &format!("{}", 60 + i),
            "--file",
            &file,
            "--title",
            "New",
        ]);
        assert_eq!(run.status, Some(0), "{run:?}");
    }
    // A file Plex has not scanned yet.
    let unscanned = ps.run(&[
        "enqueue",
        "--scene",
        "51",
        "--file",
        "/data/Movies/new/Unscanned.mkv",
        "--title",
        "New",
    ]);
    assert_eq!(unscanned.status, Some(0));
    plex.schedule(Duration::from_millis(600), ServerPhase::Silent);
    plex.schedule(Duration::from_millis(1_400), ServerPhase::Maintenance);
    plex.schedule(Duration::from_millis(2_200), ServerPhase::Starting);
    plex.schedule(Duration::from_millis(2_800), ServerPhase::Ready);
    let mut worker = ps.spawn(&["process", "--max-outage", "never"]);
    let process = wait(&mut worker, Duration::from_secs(90));
    assert_eq!(process.status, Some(0), "{process:?}");
    shown(&examples, &normal, "plexsync process", &both(&process));

    shown(
        &examples,
        &normal,
        "plexsync status",
        &both(&ps.run(&["status"])),
    );
    let metrics = ps.run(&["status", "--prometheus"]);
    let head: String = metrics
        .stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .take(4)
        .map(|l| format!("{l}\n"))
        .collect();
    shown(
        &examples,
        &normal,
        "plexsync status --prometheus | grep -v '^#' | head -4",
        &head,
    );
    shown(
        &examples,
        &normal,
        "plexsync queue",
        &both(&ps.run(&["queue"])),
    );
    shown(
        &examples,
        &normal,
        "plexsync outages",
        &both(&ps.run(&["outages"])),
    );

    // The breaker by hand, with a job queued.
    let queued = ps.run(&[
        "enqueue",
        "--scene",
        "57",
        "--file",
        "/data/Movies/Sintel (2010).mkv",
        "--title",
        "Sintel",
    ]);
    assert_eq!(queued.status, Some(0));
    let open = ps.run(&["breaker", "open"]);
    shown(
        &examples,
        &normal,
        "plexsync breaker open          # e.g. before planned maintenance: nothing reaches Plex",
        &both(&open),
    );
    shown(
        &examples,
        &normal,
        "plexsync breaker show",
        &both(&ps.run(&["breaker", "show"])),
    );
    let forced: HashMap<String, Vec<String>> = examples_with_output_starting("...");
    shown(
        &forced,
        &normal,
        "plexsync health",
        &both(&ps.run(&["health"])),
    );
    shown(
        &examples,
        &normal,
        "plexsync breaker reset",
        &both(&ps.run(&["breaker", "reset"])),
    );

    // The dead-letter queue, with not-found jobs given up at once.
    let dlq_data = DataDir::new(
        &plex.fake.url(),
        plex.fake.token(),
        "[policy.retry]\nnot_found = \"dead_letter\"\n",
    );
    let dps = dlq_data.plexsync();
    let dlq_path = dlq_data.path().display().to_string();
    let dlq_normal = Normal::new(&[&dlq_path]);
    assert_eq!(
        dps.run(&[
            "enqueue",
            "--scene",
            "999",
            "--file",
            "/data/Movies/gone.mkv",
            "--title",
            "Gone"
        ])
        .status,
        Some(0)
    );
    assert_eq!(dps.run(&["process"]).status, Some(0));
    shown(
        &examples,
        &dlq_normal,
        "plexsync dlq list",
        &both(&dps.run(&["dlq", "list"])),
    );
    shown(
        &examples,
        &dlq_normal,
        "plexsync dlq requeue --class not_found        # or --id N, --since/--until TIME, --all",
        &both(&dps.run(&["dlq", "requeue", "--class", "not_found"])),
    );
    shown(
        &examples,
        &dlq_normal,
        "plexsync dlq purge --until 2026-11-01",
        &both(&dps.run(&["dlq", "purge", "--until", "2026-11-01"])),
    );

    // doctor, where Stash sees Plex's files under another folder.
    let elsewhere = DataDir::new(&plex.fake.url(), plex.fake.token(), "");
    let eps = elsewhere.plexsync().env("TZ", "UTC");
    for i in 0..2 {
        plex.fake.with_library(|l| {
            l.add_movie("1", &format!("M{i}"), &format!("/data/Movies/m{i}.mkv"));
        });
        let file = format!("/mnt/media/films/m{i}.mkv");
        let run = eps.run(&[
            "enqueue",
            "--scene",
            &i.to_string(),
            "--file",
            &file,
            "--title",
            "T",
        ]);
        assert_eq!(run.status, Some(0));
    }
    let doctor_normal = Normal::new(&[&elsewhere.path().display().to_string()]);
    shown(
        &examples,
        &doctor_normal,
        "plexsync doctor",
        &both(&eps.run(&["doctor"])),
    );
}

/// The examples of `command`s whose first output line starts with `start` (the README shows
/// `plexsync health` several times, each in another setting).
fn examples_with_output_starting(start: &str) -> HashMap<String, Vec<String>> {
    all_examples()
        .into_iter()
        .filter(|(_, output)| output.first().is_some_and(|l| l.starts_with(start)))
        .collect()
}
