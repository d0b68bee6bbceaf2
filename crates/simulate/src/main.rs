//! `cargo xtask simulate`: the outage simulator's command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use engine::Policy;
use simulate::{Contender, Outcome, Run, Suite, Variant, scenario, scenarios};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELP: &str = "\
Usage: cargo xtask simulate [options]

Runs plexsync's engine through outage scenarios on a virtual clock and prints, per scenario
and policy, how fast it noticed Plex was back, what it cost the server, and whether anything
was lost. Without options: every scenario, four contenders, 40 seeds. Exits 1 when
plexsync's defaults, run unchanged, miss a target of docs/policy.md.

Options:
  --seeds N           seeds 1..=N (default 40)
  --seed N            only seed N
  --scenario NAME     only this scenario (repeatable); see --list
  --policy P          plexsync, naive, predecessor-warm, predecessor-cold, or a policy file
                      (.json or .toml, every part optional); repeatable (default: all four)
  --set [POLICY:]PATH=VALUE
                      changes POLICY (by default every policy run), e.g.
                      --set plexsync:probes.not_ready.cap_ms=20000 (VALUE is JSON, or else
                      a string)
  --json              prints the summaries and every run's figures as JSON
  --plot DIR          writes one SVG per scenario into DIR (the first seed)
  --log               prints the log lines of each scenario's first seed
  --threads N         threads to run on (default: every core)
  --list              lists the scenarios and presets
";

struct Options {
    seeds: u64,
    seed: Option<u64>,
    scenarios: Vec<String>,
    policies: Vec<String>,
    sets: Vec<Set>,
    json: bool,
    plot: Option<PathBuf>,
    log: bool,
    threads: usize,
    list: bool,
}

fn parse(args: &[&str]) -> Result<Options, String> {
    let mut o = Options {
        seeds: 40,
        seed: None,
        scenarios: Vec::new(),
        policies: Vec::new(),
        sets: Vec::new(),
        json: false,
        plot: None,
        log: false,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        list: false,
    };
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        let mut value = || {
            rest.next()
                .copied()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        let number = |v: &str| {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{arg} takes a whole number above 0, not `{v}`"))
        };
        match arg {
            "--seeds" => o.seeds = number(value()?)?,
            "--seed" => o.seed = Some(number(value()?)?),
            "--threads" => o.threads = number(value()?)? as usize,
            "--scenario" => o.scenarios.push(value()?.to_owned()),
            "--policy" => o.policies.push(value()?.to_owned()),
            "--set" => {
                let v = value()?;
                let (path, to) = v
                    .split_once('=')
                    .ok_or_else(|| format!("--set takes [POLICY:]PATH=VALUE, not `{v}`"))?;
                let (policy, path) = match path.split_once(':') {
                    Some((policy, path)) => (Some(policy.trim().to_owned()), path),
                    None => (None, path),
                };
                o.sets.push(Set {
                    policy,
                    path: path.trim().to_owned(),
                    value: to.trim().to_owned(),
                    text: v.to_owned(),
                });
            }
            "--json" => o.json = true,
            "--plot" => o.plot = Some(PathBuf::from(value()?)),
            "--log" => o.log = true,
            "--list" => o.list = true,
            "-h" | "--help" => return Err(HELP.to_owned()),
            other => return Err(format!("unexpected argument `{other}`\n\n{HELP}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match simulate(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("simulate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn simulate(args: &[&str]) -> Result<(), String> {
    let o = parse(args)?;
    if o.list {
        for s in scenarios() {
            println!("{:<10} {}", s.name, s.about);
        }
        println!(
            "\npolicies: plexsync (the defaults), naive (a deep probe every minute), and the predecessor's model: predecessor-warm, predecessor-cold; plexsync-blind (the defaults blind to Plex's maintenance window) runs on the scenarios with one, plexsync-single (one job at a time, as before pacing) on those whose server has a load"
        );
        return Ok(());
    }
    let chosen = if o.scenarios.is_empty() {
        scenarios()
    } else {
        o.scenarios
            .iter()
            .map(|name| {
                scenario(name).ok_or_else(|| {
                    format!("no scenario `{name}`: cargo xtask simulate --list shows them")
                })
            })
            .collect::<Result<_, _>>()?
    };
    let names = if o.policies.is_empty() {
        vec![
            "plexsync".into(),
            "predecessor-warm".into(),
            "predecessor-cold".into(),
            "naive".into(),
            simulate::BLIND.into(),
            simulate::SINGLE.into(),
        ]
    } else {
        o.policies.clone()
    };
    let policies = names
        .iter()
        .map(|p| load(p, &o.sets))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(stray) = o.sets.iter().find(|s| {
        s.policy
            .as_ref()
            .is_some_and(|p| !policies.iter().any(|(name, _)| name == p))
    }) {
        return Err(format!(
            "--set {}: no policy of that name is run (see --policy)",
            stray.text
        ));
    }
    let suite = Suite {
        scenarios: chosen,
        policies,
        seeds: o.seed.map_or_else(|| (1..=o.seeds).collect(), |s| vec![s]),
        threads: o.threads,
        traces: o.plot.is_some() || o.log,
        // Asked for by name, it runs everywhere.
        window_only: if o.policies.is_empty() {
            vec![simulate::BLIND.into()]
        } else {
            Vec::new()
        },
        load_only: if o.policies.is_empty() {
            vec![simulate::SINGLE.into()]
        } else {
            Vec::new()
        },
    };
    let started = Instant::now();
    let outcome = suite.run().map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let baselines: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.starts_with("predecessor"))
        .collect();
    // The defaults are held to the targets whenever they run unchanged.
    let checked = names.iter().any(|n| n == "plexsync")
        && !o
            .sets
            .iter()
            .any(|s| s.policy.as_ref().is_none_or(|p| p == "plexsync"));
    let misses = if checked {
        simulate::targets(&outcome.summaries, "plexsync", &baselines)
    } else {
        Vec::new()
    };
    if o.json {
        let json = serde_json::json!({
            "seeds": o.seeds,
            "set": o.sets.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            "summaries": outcome.summaries,
            "targets_missed": misses,
            "runs": outcome.runs,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", simulate::table(&outcome.summaries));
        let windows = simulate::windows(&outcome.summaries);
        if !windows.is_empty() {
            print!("\n{windows}");
        }
        let pacing = simulate::pacing(&outcome.summaries);
        if !pacing.is_empty() {
            print!("\n{pacing}");
        }
        let shown: Vec<&str> = names.iter().map(String::as_str).collect();
        print!("\n{}", simulate::legend(&shown));
        if checked {
            println!();
            if misses.is_empty() {
                println!("plexsync's defaults meet every target of docs/policy.md.");
            } else {
                println!("plexsync's defaults miss these targets of docs/policy.md:");
                for m in &misses {
                    println!("  {}: {}", m.scenario, m.what);
                }
            }
        }
    }
    if o.log {
        print_logs(&outcome);
    }
    if let Some(dir) = &o.plot {
        draw(&outcome, dir)?;
    }
    let runs = outcome.runs.len();
    let simulated: u64 = outcome.runs.iter().map(|r| r.stopped - r.start).sum();
    eprintln!(
        "{runs} runs, {:.0} simulated hours, in {:.2} s on {} threads",
        simulated as f64 / 3_600_000.0,
        wall.as_secs_f64(),
        o.threads
    );
    if !misses.is_empty() {
        return Err(format!(
            "plexsync's defaults miss {} of docs/policy.md",
            engine::count(misses.len() as u64, "target", "targets")
        ));
    }
    Ok(())
}

/// One `--set`.
struct Set {
    policy: Option<String>,
    path: String,
    value: String,
    text: String,
}

/// A preset, the predecessor's model or a policy file, with the `sets` for it applied.
fn load(name: &str, sets: &[Set]) -> Result<(String, Contender), String> {
    for variant in [Variant::Warm, Variant::Cold] {
        if name == variant.name() {
            if let Some(stray) = sets.iter().find(|s| s.policy.as_deref() == Some(name)) {
                return Err(format!(
                    "--set {}: {name} is a model of another program, not a plexsync policy",
                    stray.text
                ));
            }
            return Ok((name.to_owned(), Contender::Predecessor(variant)));
        }
    }
    let (label, policy) = match Policy::preset(name) {
        Some(policy) => (name.to_owned(), policy),
        None => {
            let path = Path::new(name);
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!("`{name}` is not a preset (plexsync, naive), predecessor-warm, predecessor-cold, or a readable file: {e}")
            })?;
            let policy: Policy = if path.extension().is_some_and(|e| e == "toml") {
                toml::from_str(&text).map_err(|e| format!("{name}: {e}"))?
            } else {
                serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?
            };
            let stem = path
                .file_stem()
                .map_or(name.into(), |s| s.to_string_lossy());
            (stem.into_owned(), policy)
        }
    };
    let policy = sets
        .iter()
        .filter(|s| s.policy.as_ref().is_none_or(|p| *p == label))
        .try_fold(policy, |p, s| set(p, &s.path, &s.value))?;
    policy.check().map_err(|e| format!("policy {label}: {e}"))?;
    Ok((label, Contender::Engine(Box::new(policy))))
}

/// Sets the field at dotted `path` to `value` (JSON, or else a string).
fn set(policy: Policy, path: &str, value: &str) -> Result<Policy, String> {
    let mut tree = serde_json::to_value(&policy).map_err(|e| e.to_string())?;
    let mut at = &mut tree;
    for part in path.split('.') {
        at = at
            .get_mut(part)
            .ok_or_else(|| format!("--set {path}: the policy has no `{part}` there"))?;
    }
    *at = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::from(value));
    serde_json::from_value(tree).map_err(|e| format!("--set {path}={value}: {e}"))
}

fn print_logs(outcome: &Outcome) {
    for run in outcome.runs.iter().filter(|r| !r.trace.lines.is_empty()) {
        println!(
            "\n== {} / {} / seed {} ==",
            run.scenario, run.policy, run.seed
        );
        for (at, level, line) in &run.trace.lines {
            println!(
                "{:>10}  {:<5}  {line}",
                clock(at - run.start),
                format!("{level:?}").to_uppercase()
            );
        }
    }
}

/// `h:mm:ss` since the start.
fn clock(ms: u64) -> String {
    let s = ms / 1_000;
    format!("{}:{:02}:{:02}", s / 3_600, s / 60 % 60, s % 60)
}

fn draw(outcome: &Outcome, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<&str> = outcome.runs.iter().map(|r| r.scenario.as_str()).collect();
    names.dedup();
    for name in names {
        let first = outcome
            .runs
            .iter()
            .find(|r| r.scenario == name)
            .map(|r| r.seed);
        let runs: Vec<&Run> = outcome
            .runs
            .iter()
            .filter(|r| r.scenario == name && Some(r.seed) == first)
            .collect();
        let path = dir.join(format!("{name}.svg"));
        simulate::plot(&runs, &path).map_err(|e| e.to_string())?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
