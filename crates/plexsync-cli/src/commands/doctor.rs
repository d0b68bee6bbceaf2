//! `plexsync doctor`: what is wrong with this set-up, in one command. Each check says what it
//! found, a verdict, and what to do; the whole fits in [`DEADLINE`], each check in its share.
//! It changes nothing: the one request that could is an edit of no field, to learn whether
//! the token may edit.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use breaker_core::State;
use engine::{SyncJob, wall_ms};
use plex_client::{Located, PlexClient, Section};
use serde::Serialize;

use persist::{DeadJob, Job, Stats};

use super::storage::Storage;
use super::{Failure, peek_state, print_json, read_queue};
use crate::config::Settings;
use crate::text::say;
use crate::time::ago;

/// The most a whole `doctor` takes, however slow Plex is.
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);
/// The most one request to Plex may take.
const EACH: Duration = Duration::from_secs(3);
/// Queued or dead-lettered files looked up in Plex, at most.
const SAMPLE: usize = 10;
/// Items read per section to learn where Plex keeps its files.
const PAGE: u32 = 500;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    Ok,
    Warning,
    Problem,
}

/// One check: what it looked at, what it found, and what to do.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) verdict: Verdict,
    pub(crate) found: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) todo: Option<String>,
}

impl Check {
    pub(crate) fn new(name: &'static str, verdict: Verdict, found: impl Into<String>) -> Check {
        Check {
            name,
            verdict,
            found: found.into(),
            todo: None,
        }
    }

    pub(crate) fn todo(mut self, todo: impl Into<String>) -> Check {
        self.todo = Some(todo.into());
        self
    }
}

/// Every check's outcome.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) checks: Vec<Check>,
    pub(crate) problems: usize,
    pub(crate) warnings: usize,
}

impl Report {
    /// Adds a check made elsewhere (the Stash task's check of Stash).
    pub(crate) fn push(&mut self, check: Check) {
        match check.verdict {
            Verdict::Problem => self.problems += 1,
            Verdict::Warning => self.warnings += 1,
            Verdict::Ok => {}
        }
        self.checks.push(check);
    }
}

/// Runs every check and prints them; exit status 0 with no problem, 1 with one. With
/// `STASH_URL` set (and `STASH_API_KEY` if Stash wants one), Stash is checked too.
pub(crate) async fn run(
    settings: &Settings,
    env: &crate::config::Env,
    json: bool,
) -> Result<ExitCode, Failure> {
    let mut report = diagnose(settings).await?;
    if let Some(url) = env.get("STASH_URL").filter(|u| !u.trim().is_empty()) {
        report.push(stash(url, env.get("STASH_API_KEY").map(String::as_str)).await);
    }
    if json {
        print_json(&report)?;
    } else {
        for check in &report.checks {
            let mark = match check.verdict {
                Verdict::Ok => "ok     ",
                Verdict::Warning => "warning",
                Verdict::Problem => "PROBLEM",
            };
            say!("{mark}  {:<12} {}", check.name, check.found);
            if let Some(todo) = &check.todo {
                say!("         {:<12} → {todo}", "");
            }
        }
        say!(
            "{}, {}",
            engine::count(report.problems as u64, "problem", "problems"),
            engine::count(report.warnings as u64, "warning", "warnings")
        );
    }
    Ok(if report.problems > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs every check within [`DEADLINE`].
pub(crate) async fn diagnose(settings: &Settings) -> Result<Report, Failure> {
    diagnose_with(settings, &[]).await
}

/// [`diagnose`], looking up `more_files` too (as Plex should see them) when the queue and the
/// dead letters name fewer than [`SAMPLE`] files: the Stash task passes some scenes' files.
pub(crate) async fn diagnose_with(
    settings: &Settings,
    more_files: &[String],
) -> Result<Report, Failure> {
    let started = Instant::now();
    let config = settings.plex()?;
    let client = PlexClient::new(config).map_err(|e| Failure::Config(e.to_string()))?;
    let stored = Stored::read(settings);
    let mut checks = Vec::new();
    let budget = || {
        DEADLINE
            .saturating_sub(started.elapsed())
            .min(EACH)
            .max(Duration::from_millis(1))
    };
    let (health, server) =
        match tokio::time::timeout(budget(), client.check_health_and_server()).await {
            Ok(done) => done,
            Err(_) => {
                checks.push(
                    Check::new("plex", Verdict::Problem, "no answer in time")
                        .todo("check that Plex is running and that the Plex URL is right"),
                );
                return Ok(finish(checks, settings, &stored));
            }
        };
    let url = client.config().redacted_url();
    match &health.failure {
        None => {
            let about = server.as_ref().map_or(String::new(), |s| {
                format!(
                    ": {} (Plex Media Server {}{})",
                    crate::text::printable(&s.name),
                    s.version,
                    if s.platform.is_empty() {
                        String::new()
                    } else {
                        format!(" on {}", s.platform)
                    }
                )
            });
            checks.push(Check::new(
                "plex",
                Verdict::Ok,
                format!("{url} is healthy{about}"),
            ));
        }
        Some(e) => {
            let todo = if e.is_configuration() {
                "fix the setting the message names, then run doctor again"
            } else {
                "plexsync waits for Plex by itself; if it stays like this, look at Plex's own log"
            };
            checks.push(Check::new("plex", Verdict::Problem, e.to_string()).todo(todo));
            checks.push(Check::new(
                "token",
                Verdict::Warning,
                "not checked: Plex did not pass its health check",
            ));
            return Ok(finish(checks, settings, &stored));
        }
    }
    let sections = match tokio::time::timeout(budget(), client.sections()).await {
        Ok(Ok(sections)) => sections,
        Ok(Err(e)) => {
            checks.push(Check::new("library", Verdict::Problem, e.to_string()));
            return Ok(finish(checks, settings, &stored));
        }
        Err(_) => {
            checks.push(Check::new("library", Verdict::Problem, "no answer in time"));
            return Ok(finish(checks, settings, &stored));
        }
    };
    let mut pages: Vec<(Section, Vec<plex_client::Item>, u64)> = Vec::new();
    for section in &sections {
        if let Ok(Ok(Some((items, total)))) =
            tokio::time::timeout(budget(), client.section_page(section, PAGE)).await
        {
            pages.push((section.clone(), items, total));
        }
    }
    checks.push(clock(&client));
    checks.push(update(&client, budget()).await);
    checks.push(token(&client, &pages, budget()).await);
    checks.push(library(&sections, &pages));
    checks.push(busy(&client, budget()).await);
    checks.push(window(&client, budget()).await);
    let mut files = sample_files(&stored);
    for file in more_files {
        if files.len() >= SAMPLE {
            break;
        }
        if !files.contains(file) {
            files.push(file.clone());
        }
    }
    checks.push(paths(&client, &sections, &pages, &files, started).await);
    Ok(finish(checks, settings, &stored))
}

fn finish(mut checks: Vec<Check>, settings: &Settings, stored: &Stored) -> Report {
    checks.push(queue(settings, stored));
    let problems = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Problem)
        .count();
    let warnings = checks
        .iter()
        .filter(|c| c.verdict == Verdict::Warning)
        .count();
    Report {
        checks,
        problems,
        warnings,
    }
}

/// Stash at `url`: reachable, its version, and plexsync's settings saved there.
pub(crate) async fn stash(url: &str, api_key: Option<&str>) -> Check {
    let Some(connection) = stash_connection(url) else {
        return Check::new(
            "stash",
            Verdict::Problem,
            format!("STASH_URL {:?} is not a URL", crate::text::printable(url)),
        )
        .todo("write it like http://localhost:9999");
    };
    let client = match stash_client::Stash::new(&connection, api_key) {
        Ok(client) => client,
        Err(e) => return Check::new("stash", Verdict::Problem, e.to_string()),
    };
    let version = match tokio::time::timeout(EACH, client.version()).await {
        Ok(Ok(version)) => version,
        Ok(Err(e)) => {
            return Check::new("stash", Verdict::Problem, e.to_string())
                .todo("check STASH_URL, and STASH_API_KEY if Stash asks for a login");
        }
        Err(_) => return Check::new("stash", Verdict::Problem, "no answer in time"),
    };
    match tokio::time::timeout(EACH, client.settings("plexsync")).await {
        Ok(Ok(saved)) if saved.is_empty() => Check::new(
            "stash",
            Verdict::Warning,
            format!("reachable, Stash {version}; no plexsync setting saved there"),
        )
        .todo("install plexsync as a Stash plugin and set its Plex URL and token there"),
        Ok(Ok(saved)) => {
            let keys: Vec<&str> = saved.keys().map(String::as_str).collect();
            Check::new(
                "stash",
                Verdict::Ok,
                format!(
                    "reachable, Stash {version}; plexsync settings saved: {}",
                    keys.join(", ")
                ),
            )
        }
        Ok(Err(e)) => Check::new(
            "stash",
            Verdict::Warning,
            format!("reachable, Stash {version}; its plugin settings: {e}"),
        ),
        Err(_) => Check::new(
            "stash",
            Verdict::Warning,
            format!("reachable, Stash {version}; its plugin settings: no answer in time"),
        ),
    }
}

/// `http://host:port` as the connection a plugin would be given.
fn stash_connection(url: &str) -> Option<stash_client::Connection> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split('/').next()?;
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
        _ => (authority, if scheme == "https" { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some(stash_client::Connection {
        scheme: scheme.to_owned(),
        host: host.to_owned(),
        port,
        session_cookie: None,
        dir: None,
        plugin_dir: None,
    })
}

/// Plex's clock against this machine's, from the `Date` of its last answer.
fn clock(client: &PlexClient) -> Check {
    let Some(offset) = client.clock_offset() else {
        return Check::new(
            "clock",
            Verdict::Warning,
            "not known: Plex's answers carry no date",
        );
    };
    // The header has whole seconds, and the answer took a moment to come.
    let seconds = offset / 1_000;
    let side = if offset > 0 { "ahead of" } else { "behind" };
    if seconds.abs() <= 60 {
        Check::new(
            "clock",
            Verdict::Ok,
            format!(
                "Plex's clock and this machine's agree (within {} s)",
                seconds.abs().max(1)
            ),
        )
    } else {
        Check::new(
            "clock",
            Verdict::Warning,
            format!(
                "Plex's clock is {} {side} this machine's",
                engine::duration(seconds.unsigned_abs() * 1_000)
            ),
        )
        .todo(
            "set both clocks by NTP: maintenance windows and outage times are compared across them",
        )
    }
}

/// A Plex release waiting to be installed, as Plex last checked.
async fn update(client: &PlexClient, budget: Duration) -> Check {
    match tokio::time::timeout(budget, client.update_waiting()).await {
        Ok(Ok(None)) => Check::new("update", Verdict::Ok, "none waiting, as Plex last checked"),
        Ok(Ok(Some(release))) => Check::new(
            "update",
            Verdict::Warning,
            format!(
                "Plex {} is waiting to be installed ({})",
                crate::text::printable(&release.version),
                crate::text::printable(&release.state)
            ),
        )
        .todo("install it when convenient: Plex restarts to update, and plexsync rides through the restart"),
        Ok(Err(e)) => Check::new("update", Verdict::Ok, format!("not known ({e})")),
        Err(_) => Check::new("update", Verdict::Ok, "not known (no answer in time)"),
    }
}

/// The token was accepted (the health check read the library with it); may it edit?
async fn token(
    client: &PlexClient,
    pages: &[(Section, Vec<plex_client::Item>, u64)],
    budget: Duration,
) -> Check {
    let Some((section, item)) = pages
        .iter()
        .find_map(|(s, items, _)| items.first().map(|i| (s, i)))
    else {
        return Check::new(
            "token",
            Verdict::Warning,
            "accepted; whether it may edit is unknown (no movie or episode to try it on)",
        );
    };
    let located = Located {
        section: section.clone(),
        item: item.clone(),
    };
    match tokio::time::timeout(budget, client.can_edit(&located)).await {
        Ok(Ok(true)) => Check::new("token", Verdict::Ok, "accepted, and allowed to edit"),
        Ok(Ok(false)) => Check::new(
            "token",
            Verdict::Problem,
            "accepted for reading, refused for editing (a managed user's or a shared token?)",
        )
        .todo(
            "use the server owner's token (Plex Web: any item → Get Info → View XML, X-Plex-Token)",
        ),
        Ok(Err(e)) => Check::new(
            "token",
            Verdict::Warning,
            format!("accepted; an edit of nothing failed: {e}"),
        ),
        Err(_) => Check::new(
            "token",
            Verdict::Warning,
            "accepted; an edit of nothing got no answer in time",
        ),
    }
}

fn library(sections: &[Section], pages: &[(Section, Vec<plex_client::Item>, u64)]) -> Check {
    let described: Vec<String> = sections
        .iter()
        .map(|s| {
            let count = pages.iter().find(|(p, _, _)| p.key == s.key).map_or(
                String::new(),
                |(_, _, total)| {
                    format!(
                        ", {}",
                        engine::count(
                            *total,
                            if s.kind == "show" { "episode" } else { "item" },
                            if s.kind == "show" {
                                "episodes"
                            } else {
                                "items"
                            }
                        )
                    )
                },
            );
            let scanner = if s.scanner.is_empty() {
                String::new()
            } else {
                format!(", {}", crate::text::printable(&s.scanner))
            };
            format!(
                "{} ({}{scanner}{count})",
                crate::text::printable(&s.title),
                s.kind
            )
        })
        .collect();
    if pages.is_empty() {
        Check::new(
            "library",
            Verdict::Problem,
            format!("no movie or TV section: {}", described.join(", ")),
        )
        .todo("plexsync syncs movies and episodes: add the folders Stash's scenes are in to a Movies or TV Shows library in Plex")
    } else {
        Check::new("library", Verdict::Ok, described.join(", "))
    }
}

/// Scans, optimisations, database work in progress.
async fn busy(client: &PlexClient, budget: Duration) -> Check {
    match tokio::time::timeout(budget, client.activities()).await {
        Ok(Ok(list)) if list.is_empty() => {
            Check::new("activities", Verdict::Ok, "nothing in progress")
        }
        Ok(Ok(list)) => {
            let named: Vec<String> = list
                .iter()
                .map(|a| {
                    format!(
                        "{}{}",
                        crate::text::printable(&a.title),
                        a.progress.map_or(String::new(), |p| format!(" ({p} %)"))
                    )
                })
                .collect();
            Check::new(
                "activities",
                Verdict::Warning,
                format!("Plex is busy: {}", named.join(", ")),
            )
            .todo("syncs may be slow or wait until it is done; nothing to change")
        }
        Ok(Err(e)) => Check::new("activities", Verdict::Warning, format!("not known: {e}")),
        Err(_) => Check::new(
            "activities",
            Verdict::Warning,
            "not known: no answer in time",
        ),
    }
}

/// Plex's scheduled-maintenance window, and whether it is now.
async fn window(client: &PlexClient, budget: Duration) -> Check {
    let window = match tokio::time::timeout(budget, client.butler_window()).await {
        Ok(Ok(window)) => window,
        Ok(Err(e)) => {
            return Check::new("maintenance", Verdict::Warning, format!("not known: {e}"));
        }
        Err(_) => {
            return Check::new(
                "maintenance",
                Verdict::Warning,
                "not known: no answer in time",
            );
        }
    };
    let now = wall_ms();
    let hour = engine::local_hour(now, crate::time::local_offset_ms(now));
    let span = format!(
        "{:02}:00 to {:02}:00{}",
        window.start,
        window.end,
        if window.reported {
            ""
        } else {
            " (Plex's default)"
        }
    );
    if window.contains(hour) {
        Check::new(
            "maintenance",
            Verdict::Warning,
            format!("inside Plex's scheduled maintenance now ({span}, by this machine's clock)"),
        )
        .todo("Plex may be slow or restart until it ends; plexsync rides through it")
    } else {
        Check::new(
            "maintenance",
            Verdict::Ok,
            format!("scheduled {span} (by this machine's clock), not now"),
        )
    }
}

/// Whether Plex has `files` (of queued and dead-lettered jobs, and of scenes when Stash runs
/// it); when most are missing, the path map that would find them.
async fn paths(
    client: &PlexClient,
    sections: &[Section],
    pages: &[(Section, Vec<plex_client::Item>, u64)],
    files: &[String],
    started: Instant,
) -> Check {
    if files.is_empty() {
        return Check::new(
            "paths",
            Verdict::Ok,
            "nothing to look up: no job queued or dead-lettered",
        );
    }
    let mut missing = Vec::new();
    let mut looked = 0;
    for file in files {
        let left = DEADLINE.saturating_sub(started.elapsed());
        if left < Duration::from_millis(500) {
            break;
        }
        match tokio::time::timeout(left.min(EACH), client.find_by_file_in(sections, file)).await {
            Ok(Ok(_)) => looked += 1,
            Ok(Err(e)) if e.kind() == plex_client::FailureKind::NotFound => {
                looked += 1;
                missing.push(file.clone());
            }
            _ => break,
        }
    }
    if looked == 0 {
        return Check::new(
            "paths",
            Verdict::Warning,
            "not checked: Plex did not answer in time",
        );
    }
    if missing.is_empty() {
        return Check::new(
            "paths",
            Verdict::Ok,
            format!("Plex has all {looked} files looked up"),
        );
    }
    let plex_files: Vec<String> = pages
        .iter()
        .flat_map(|(_, items, _)| items.iter().flat_map(|i| i.files().map(str::to_owned)))
        .collect();
    let found = format!(
        "Plex does not have {} of the {looked} files looked up, e.g. {}",
        missing.len(),
        crate::text::printable(&missing[0])
    );
    let verdict = if missing.len() * 2 > looked {
        Verdict::Problem
    } else {
        Verdict::Warning
    };
    let todo = match guess_path_map(&missing, &plex_files) {
        Some((from, to)) => format!(
            "Plex has them under another folder: set Path map to `{from} => {to}` (Settings → Plugins → plexsync → Path map)"
        ),
        None => "if Plex has not scanned them yet, it will (plexsync asks for a scan of their folder); otherwise check that Plex's libraries include these folders".to_owned(),
    };
    Check::new("paths", verdict, found).todo(todo)
}

/// What the queue holds, read once for the checks that look at it (each read of a queue
/// reads its whole journal).
struct Stored {
    now: u64,
    stats: Result<Stats, String>,
    storage: Storage,
    jobs: Vec<Job>,
    dead: Vec<DeadJob>,
}

impl Stored {
    fn read(settings: &Settings) -> Stored {
        let now = wall_ms();
        match read_queue(&settings.paths) {
            Ok(mut queue) => Stored {
                now,
                stats: queue.stats(now).map_err(|e| e.to_string()),
                storage: queue.recovery().map(Storage::of).unwrap_or_default(),
                jobs: queue.jobs().unwrap_or_default(),
                dead: queue.dead_letters().unwrap_or_default(),
            },
            Err(e) => Stored {
                now,
                stats: Err(e.to_string()),
                storage: Storage::default(),
                jobs: Vec::new(),
                dead: Vec::new(),
            },
        }
    }
}

/// Files of queued jobs, then of dead letters, at most [`SAMPLE`].
fn sample_files(stored: &Stored) -> Vec<String> {
    let mut files = Vec::new();
    for job in stored.jobs.iter().chain(stored.dead.iter().map(|d| &d.job)) {
        if let Ok(sync) = job.payload.decode::<SyncJob>() {
            if let Some(file) = sync.files.first() {
                if !files.contains(file) {
                    files.push(file.clone());
                }
            }
        }
        if files.len() >= SAMPLE {
            break;
        }
    }
    files
}

/// A path's names, each with the byte where it starts, separated by `/` or `\\`.
fn components(path: &str) -> Vec<(&str, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in path.char_indices() {
        if c == '/' || c == '\\' {
            out.push((&path[start..i], start));
            start = i + 1;
        }
    }
    out.push((&path[start..], start));
    out
}

/// The prefix pair (`FROM`, `TO`, both ending in a separator) that turns most of `missing` into files
/// Plex has: each missing file is matched with a Plex file of the same name, and the folders
/// they do not share are the pair. `None` when no pair explains at least half of them.
pub(crate) fn guess_path_map(
    missing: &[String],
    plex_files: &[String],
) -> Option<(String, String)> {
    let name = |path: &str| path.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
    let mut by_name: std::collections::HashMap<String, Vec<&String>> = Default::default();
    for file in plex_files {
        by_name.entry(name(file)).or_default().push(file);
    }
    let mut votes: std::collections::HashMap<(String, String), usize> = Default::default();
    for file in missing {
        let Some(candidates) = by_name.get(&name(file)) else {
            continue;
        };
        for plex in candidates {
            let ours = components(file);
            let theirs = components(plex);
            // Names compare as they are; a Windows side's case is kept as written.
            let shared = ours
                .iter()
                .rev()
                .zip(theirs.iter().rev())
                .take_while(|((a, _), (b, _))| a == b)
                .count();
            if shared == 0 || shared >= ours.len() || shared >= theirs.len() {
                continue;
            }
            let from = file[..ours[ours.len() - shared].1].to_owned();
            let to = plex[..theirs[theirs.len() - shared].1].to_owned();
            *votes.entry((from, to)).or_default() += 1;
        }
    }
    let ((from, to), count) = votes
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))?;
    (count * 2 >= missing.len()).then_some((from, to))
}

/// The queue, the dead letters, the storage, the breaker and the last outage.
fn queue(settings: &Settings, stored: &Stored) -> Check {
    let now = stored.now;
    let (state, _) = peek_state(&settings.paths);
    let storage = &stored.storage;
    let stats = match &stored.stats {
        Ok(stats) => stats,
        Err(e) => return Check::new("queue", Verdict::Problem, format!("unreadable: {e}")),
    };
    let mut found = vec![format!(
        "{} ready, {} waiting for a retry, {} dead-lettered",
        stats.ready_now, stats.waiting_for_retry, stats.dead_lettered
    )];
    if let Some(age) = stats.oldest_age_ms {
        found.push(format!(
            "oldest job queued {}",
            ago(now.saturating_sub(age), now)
        ));
    }
    let mut verdict = Verdict::Ok;
    let mut todo = Vec::new();
    let waiting_scan: Vec<&Job> = stored
        .jobs
        .iter()
        .filter(|j| {
            j.next_retry_at.is_some_and(|at| at > now)
                && j.history.last().is_some_and(|a| a.class == "not_found")
        })
        .collect();
    // Since Plex first did not have one of their files.
    let since = waiting_scan
        .iter()
        .filter_map(|j| {
            j.history
                .iter()
                .find(|a| a.class == "not_found")
                .map(|a| a.at)
        })
        .min();
    if let Some(since) = since {
        found.push(format!(
            "{} for Plex to scan {}, the first since {}",
            engine::count(waiting_scan.len() as u64, "job waits", "jobs wait"),
            if waiting_scan.len() == 1 {
                "its file"
            } else {
                "their files"
            },
            ago(since, now)
        ));
    }
    let mut by_class = std::collections::BTreeMap::<&str, usize>::new();
    for d in &stored.dead {
        *by_class.entry(d.class.as_str()).or_default() += 1;
    }
    if !by_class.is_empty() {
        let list: Vec<String> = by_class.iter().map(|(c, n)| format!("{n} {c}")).collect();
        found.push(format!("dead letters: {}", list.join(", ")));
        verdict = Verdict::Warning;
        todo.push("`plexsync dlq list` shows why; `plexsync dlq requeue` tries them again");
    }
    if storage.damaged() || !storage.moved_aside.is_empty() {
        found.extend(storage.sentences());
        verdict = Verdict::Warning;
    }
    match state.breaker.state() {
        State::ForcedOpen => {
            found.push("the breaker is opened by hand".into());
            verdict = Verdict::Problem;
            todo.push("`plexsync breaker reset` lets jobs through");
        }
        State::Open | State::HalfOpen => {
            found.push(format!("the breaker is {}", state.breaker.state()));
            verdict = verdict.max(Verdict::Warning);
        }
        State::Closed => {}
    }
    if let Some(o) = &state.outages.current {
        found.push(format!(
            "Plex down since {} ({})",
            ago(o.started_at, now),
            o.story()
        ));
    } else if let Some(o) = state.outages.recent.back() {
        found.push(format!(
            "last outage {} for {} ({})",
            ago(o.started_at, now),
            engine::duration(o.duration(now)),
            o.story()
        ));
    }
    let check = Check::new("queue", verdict, found.join("; "));
    if todo.is_empty() {
        check
    } else {
        check.todo(todo.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::guess_path_map;
    use proptest::prelude::*;

    proptest! {
        /// Whatever folders Stash and Plex keep the same files under, the guessed pair turns
        /// every file Stash names into the one Plex has.
        #[test]
        fn a_guessed_path_map_finds_plex_s_files(
            ours in "(/[a-z]{1,8}){1,3}",
            theirs in "(/[A-Za-z]{1,8}){1,3}",
            names in proptest::collection::btree_set("[a-z]{1,6}/[a-z0-9 ]{1,10}\\.mkv", 1..8),
            others in proptest::collection::vec("(/[a-z]{1,6}){1,3}/[a-z]{1,6}\\.mp4", 0..20),
            windows in proptest::bool::ANY,
        ) {
            prop_assume!(ours != theirs);
            // Stash on Windows: a drive and backslashes.
            let ours = if windows { format!("D:{}", ours.replace('/', "\\")) } else { ours };
            let sep = if windows { "\\" } else { "/" };
            let missing: Vec<String> = names
                .iter()
                .map(|n| format!("{ours}{sep}{}", n.replace('/', sep)))
                .collect();
            let mut plex: Vec<String> = names.iter().map(|n| format!("{theirs}/{n}")).collect();
            plex.extend(others);
            let (from, to) = guess_path_map(&missing, &plex).expect("a pair");
            // The line doctor prints, read as the Path map setting reads it.
            let map = crate::stash::scene::PathMap::parse(&format!("{from} => {to}")).unwrap();
            for (m, p) in missing.iter().zip(names.iter().map(|n| format!("{theirs}/{n}"))) {
                prop_assert_eq!(map.apply(m), p, "{} => {}", from, to);
            }
        }
    }

    #[test]
    fn stash_urls_read_as_a_plugin_s_connection() {
        let c = super::stash_connection("http://localhost:9999/").unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.host.as_str(), c.port),
            ("http", "localhost", 9999)
        );
        let c = super::stash_connection("https://[::1]:8443").unwrap();
        assert_eq!(
            (c.scheme.as_str(), c.host.as_str(), c.port),
            ("https", "::1", 8443)
        );
        let c = super::stash_connection("https://stash.example").unwrap();
        assert_eq!(c.port, 443);
        for bad in ["localhost:9999", "ftp://x:1", "http://:9", "http://h:port"] {
            assert!(super::stash_connection(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn no_pair_when_plex_has_no_file_of_that_name() {
        let missing = vec!["/data/Movies/a.mkv".to_owned()];
        let plex = vec!["/media/Movies/b.mkv".to_owned()];
        assert_eq!(guess_path_map(&missing, &plex), None);
        let plex = vec!["/media/Movies/a.mkv".to_owned()];
        assert_eq!(
            guess_path_map(&missing, &plex),
            Some(("/data/".to_owned(), "/media/".to_owned()))
        );
    }
}
