//! Figures over seeds, per scenario and policy; the table; the targets the defaults meet.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::run::Run;
use crate::scenario::Target;

/// A duration figure over seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// No sample (no recovery had work waiting).
    Absent,
    /// Some recovery's waiting work was never synced.
    Never,
    /// Milliseconds.
    Ms(u64),
}

impl Figure {
    /// Whether it is at most `ms` (an absent figure is).
    pub fn within(self, ms: u64) -> bool {
        match self {
            Figure::Absent => true,
            Figure::Never => false,
            Figure::Ms(v) => v <= ms,
        }
    }

    fn show(self) -> String {
        match self {
            Figure::Absent => "-".to_owned(),
            Figure::Never => "never".to_owned(),
            Figure::Ms(ms) => seconds(ms),
        }
    }
}

impl Serialize for Figure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Figure::Absent => s.serialize_none(),
            Figure::Never => s.serialize_str("never"),
            Figure::Ms(ms) => s.serialize_u64(*ms),
        }
    }
}

/// One scenario under one policy, over every seed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// The scenario.
    pub scenario: String,
    /// The policy.
    pub policy: String,
    /// The target the scenario is held to.
    pub target: Target,
    /// Seeds run.
    pub runs: usize,
    /// Recoveries with work waiting, over all seeds.
    pub recoveries: usize,
    /// Detection delay, median (ms).
    pub delay_p50_ms: Figure,
    /// Detection delay, 95th percentile (ms).
    pub delay_p95_ms: Figure,
    /// Probes per run, mean.
    pub probes_mean: f64,
    /// Probes per run, most.
    pub probes_max: u64,
    /// Probes reaching a live-but-not-ready server per run, mean.
    pub probes_not_ready_mean: f64,
    /// Requests of any kind reaching a live-but-not-ready server per run, mean.
    pub requests_not_ready_mean: f64,
    /// Requests needing the library reaching a live-but-not-ready server per run, mean.
    pub deep_not_ready_mean: f64,
    /// False closures, all runs.
    pub false_closures: u64,
    /// Jobs lost, all runs.
    pub lost: u64,
    /// Jobs dead-lettered for an outage, all runs.
    pub outage_dead_letters: u64,
    /// Jobs dead-lettered for any reason, all runs.
    pub dead_letters: u64,
    /// Edits not as intended, all runs.
    pub wrong_edits: u64,
    /// Jobs synced per run, mean.
    pub synced_mean: f64,
    /// Time from recovery to an empty queue, median over runs (ms).
    pub drain_p50_ms: Figure,
    /// The same, longest.
    pub drain_max_ms: Figure,
    /// Log lines per run, mean.
    pub log_lines_mean: f64,
    /// Log lines during outages (and five minutes after) per run, mean.
    pub outage_log_lines_mean: f64,
    /// The same, most in a run.
    pub outage_log_lines_max: u64,
    /// Jobs still queued at the end, all runs.
    pub left_queued: u64,
}

/// Sums up `runs` (all of one scenario and one policy).
pub fn summarize(runs: &[&Run], target: Target) -> Summary {
    let first = runs[0];
    let n = runs.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Run) -> u64| runs.iter().map(|r| f(r) as f64).sum::<f64>() / n;
    let sum = |f: &dyn Fn(&Run) -> u64| runs.iter().map(|r| f(r)).sum::<u64>();
    let max = |f: &dyn Fn(&Run) -> u64| runs.iter().map(|r| f(r)).max().unwrap_or(0);
    let delays: Vec<Option<u64>> = runs
        .iter()
        .flat_map(|r| r.metrics.delays_ms.iter().copied())
        .collect();
    let drains: Vec<Option<u64>> = runs
        .iter()
        .filter(|r| !r.metrics.delays_ms.is_empty())
        .map(|r| r.metrics.drain_ms)
        .collect();
    Summary {
        scenario: first.scenario.clone(),
        policy: first.policy.clone(),
        target,
        runs: runs.len(),
        recoveries: delays.len(),
        delay_p50_ms: percentile(&delays, 0.50),
        delay_p95_ms: percentile(&delays, 0.95),
        probes_mean: mean(&|r| r.metrics.probes),
        probes_max: max(&|r| r.metrics.probes),
        probes_not_ready_mean: mean(&|r| r.metrics.probes_not_ready),
        requests_not_ready_mean: mean(&|r| r.metrics.requests_not_ready),
        deep_not_ready_mean: mean(&|r| r.metrics.deep_not_ready),
        false_closures: sum(&|r| r.metrics.false_closures),
        lost: sum(&|r| r.metrics.lost),
        outage_dead_letters: sum(&|r| r.metrics.outage_dead_letters),
        dead_letters: sum(&|r| r.metrics.dead_letters),
        wrong_edits: sum(&|r| r.metrics.wrong_edits),
        synced_mean: mean(&|r| r.metrics.synced),
        drain_p50_ms: percentile(&drains, 0.50),
        drain_max_ms: percentile(&drains, 1.0),
        log_lines_mean: mean(&|r| r.metrics.log_lines),
        outage_log_lines_mean: mean(&|r| r.metrics.outage_log_lines),
        outage_log_lines_max: max(&|r| r.metrics.outage_log_lines),
        left_queued: sum(&|r| r.metrics.left_queued),
    }
}

/// The nearest-rank percentile; a sample that never came counts as the longest.
pub fn percentile(samples: &[Option<u64>], q: f64) -> Figure {
    if samples.is_empty() {
        return Figure::Absent;
    }
    let mut sorted: Vec<u64> = samples.iter().map(|s| s.unwrap_or(u64::MAX)).collect();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    match sorted[rank - 1] {
        u64::MAX => Figure::Never,
        ms => Figure::Ms(ms),
    }
}

/// `4.2 s`, `1 min 3 s`, `2 h 5 min`.
pub fn seconds(ms: u64) -> String {
    if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1_000.0)
    } else {
        engine::duration(ms)
    }
}

/// The table: one row per scenario and policy.
pub fn table(summaries: &[Summary]) -> String {
    const HEAD: [&str; 13] = [
        "scenario",
        "policy",
        "delay p50",
        "p95",
        "probes",
        "deep at not-ready",
        "false closes",
        "lost",
        "outage DLQ",
        "synced",
        "drain",
        "outage lines",
        "",
    ];
    let mut rows: Vec<[String; 13]> = vec![HEAD.map(str::to_owned)];
    let mut last = "";
    for s in summaries {
        let scenario = if s.scenario == last {
            String::new()
        } else {
            s.scenario.clone()
        };
        last = &s.scenario;
        rows.push([
            scenario,
            s.policy.clone(),
            s.delay_p50_ms.show(),
            s.delay_p95_ms.show(),
            format!("{:.0}", s.probes_mean),
            format!("{:.1}", s.deep_not_ready_mean),
            s.false_closures.to_string(),
            s.lost.to_string(),
            s.outage_dead_letters.to_string(),
            format!("{:.0}", s.synced_mean),
            s.drain_p50_ms.show(),
            format!("{:.0}", s.outage_log_lines_mean),
            String::new(),
        ]);
    }
    let widths: Vec<usize> = (0..13)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        if i > 1 && !row[0].is_empty() {
            out.push('\n');
        }
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate().take(12) {
            let pad = widths[c] - cell.chars().count();
            if c < 2 {
                let _ = write!(line, "{cell}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(line, "{}{cell}  ", " ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A target the default policy misses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Miss {
    /// The scenario.
    pub scenario: String,
    /// What was missed.
    pub what: String,
}

/// Checks `policy`'s rows against the targets; `baseline` is the policy whose not-ready
/// probes it must not exceed (the predecessor), when it ran.
pub fn targets(summaries: &[Summary], policy: &str, baselines: &[&str]) -> Vec<Miss> {
    let mut misses = Vec::new();
    for s in summaries.iter().filter(|s| s.policy == policy) {
        let mut miss = |what: String| {
            misses.push(Miss {
                scenario: s.scenario.clone(),
                what,
            });
        };
        match s.target {
            Target::Quick if !s.delay_p95_ms.within(5_000) => miss(format!(
                "recovery seen {} after Plex was back (p95), over 5 s",
                s.delay_p95_ms.show()
            )),
            Target::Window => {
                if !s.delay_p95_ms.within(15_000) {
                    miss(format!(
                        "recovery seen {} after Plex was back (p95), over 15 s",
                        s.delay_p95_ms.show()
                    ));
                }
                if s.outage_log_lines_max > 20 {
                    miss(format!(
                        "{} log lines about the outage in a run, over 20",
                        s.outage_log_lines_max
                    ));
                }
            }
            Target::Quick | Target::None => {}
        }
        for (count, what) in [
            (s.false_closures, "false closures"),
            (s.lost, "jobs lost"),
            (s.outage_dead_letters, "jobs dead-lettered by an outage"),
            (s.wrong_edits, "edits not as intended"),
        ] {
            if count > 0 {
                miss(format!("{count} {what}"));
            }
        }
        // The better of the baselines: the fewest deep requests, among those that kept their
        // jobs through the outage. A baseline that dead-letters a job at the first 503 sends
        // that job no library request, and that is no saving a user would want.
        let base = summaries
            .iter()
            .filter(|o| baselines.contains(&o.policy.as_str()) && o.scenario == s.scenario)
            .filter(|o| o.outage_dead_letters == 0)
            .min_by(|a, b| a.deep_not_ready_mean.total_cmp(&b.deep_not_ready_mean));
        if let Some(base) = base {
            if s.deep_not_ready_mean > base.deep_not_ready_mean {
                miss(format!(
                    "{:.1} deep requests reach a live-but-not-ready server, more than {}'s {:.1}",
                    s.deep_not_ready_mean, base.policy, base.deep_not_ready_mean
                ));
            }
        }
    }
    misses
}
