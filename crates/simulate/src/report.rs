//! Figures over seeds, per scenario and policy; the table; the targets the defaults meet.

use std::fmt::Write as _;

use serde::{Serialize, Serializer};

use crate::run::Run;
use crate::scenario::{Class, Target};

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
    /// Whether it is later than `other`: never is later than any time, and no sample at
    /// all is earlier.
    pub fn later_than(self, other: Figure) -> bool {
        let rank = |f: Figure| match f {
            Figure::Absent => (0, 0),
            Figure::Ms(ms) => (1, ms),
            Figure::Never => (2, 0),
        };
        rank(self) > rank(other)
    }

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
    /// Those sent inside Plex's maintenance window, per run, mean.
    pub deep_not_ready_in_window_mean: f64,
    /// Detection delay after outages that began inside Plex's maintenance window, p95.
    pub delay_in_window_p95_ms: Figure,
    /// Detection delay after outages that began outside it, p95.
    pub delay_outside_p95_ms: Figure,
    /// The same, mean (ms; `None`: no such recovery, or one never seen).
    pub delay_outside_mean_ms: Option<f64>,
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
    /// Scenes edited at once: from the first to an empty queue (from Plex back, if they were
    /// edited during an outage), median.
    pub bulk_drain_p50_ms: Figure,
    /// The same, longest.
    pub bulk_drain_max_ms: Figure,
    /// Plex's p95 answer time while draining over its idle p95, per run: the median (`None`
    /// without a load model).
    pub drain_slowdown_p50: Option<f64>,
    /// The same, worst.
    pub drain_slowdown_max: Option<f64>,
}

/// Sums up `runs` (all of one scenario and one policy).
pub fn summarize(runs: &[&Run], target: Target) -> Summary {
    let first = runs[0];
    let n = runs.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Run) -> u64| runs.iter().map(|r| f(r) as f64).sum::<f64>() / n;
    let sum = |f: &dyn Fn(&Run) -> u64| runs.iter().map(|r| f(r)).sum::<u64>();
    let max = |f: &dyn Fn(&Run) -> u64| runs.iter().map(|r| f(r)).max().unwrap_or(0);
    let all = |f: &dyn Fn(&Run) -> &Vec<Option<u64>>| -> Vec<Option<u64>> {
        runs.iter().flat_map(|r| f(r).iter().copied()).collect()
    };
    let delays = all(&|r| &r.metrics.delays_ms);
    let drains: Vec<Option<u64>> = runs
        .iter()
        .filter(|r| !r.metrics.delays_ms.is_empty())
        .map(|r| r.metrics.drain_ms)
        .collect();
    let bulk_drains: Vec<Option<u64>> = runs
        .iter()
        .filter(|r| r.metrics.bulk_drain_ms.is_some() || r.metrics.idle_latency_p95_ms.is_some())
        .map(|r| {
            if r.metrics.delays_ms.is_empty() {
                r.metrics.bulk_drain_ms
            } else {
                r.metrics.drain_ms
            }
        })
        .collect();
    let mut slowdowns: Vec<f64> = runs
        .iter()
        .filter_map(|r| {
            let idle = r.metrics.idle_latency_p95_ms?.max(1) as f64;
            Some(r.metrics.drain_latency_p95_ms? as f64 / idle)
        })
        .collect();
    slowdowns.sort_by(f64::total_cmp);
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
        deep_not_ready_in_window_mean: mean(&|r| r.metrics.deep_not_ready_in_window),
        delay_in_window_p95_ms: percentile(&all(&|r| &r.metrics.delays_in_window_ms), 0.95),
        delay_outside_p95_ms: percentile(&all(&|r| &r.metrics.delays_outside_ms), 0.95),
        delay_outside_mean_ms: mean_of(&all(&|r| &r.metrics.delays_outside_ms)),
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
        bulk_drain_p50_ms: percentile(&bulk_drains, 0.50),
        bulk_drain_max_ms: percentile(&bulk_drains, 1.0),
        drain_slowdown_p50: slowdowns
            .get(slowdowns.len().saturating_sub(1) / 2)
            .copied(),
        drain_slowdown_max: slowdowns.last().copied(),
    }
}

/// The mean of `samples`, if there are any and all came.
fn mean_of(samples: &[Option<u64>]) -> Option<f64> {
    let all: Option<Vec<u64>> = samples.iter().copied().collect();
    let all = all.filter(|a| !a.is_empty())?;
    Some(all.iter().sum::<u64>() as f64 / all.len() as f64)
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

/// For scenarios with a maintenance window: what happened inside it and outside, per
/// contender; empty if none has one.
pub fn windows(summaries: &[Summary]) -> String {
    let mut out = String::new();
    for s in summaries.iter().filter(|s| s.target == Target::Nightly) {
        if out.is_empty() {
            out.push_str("Plex's maintenance window        deep at not-ready inside  delay p95 inside  delay p95 outside  mean outside\n");
        }
        let _ = writeln!(
            out,
            "{:<14} {:<18} {:>24.1}  {:>16}  {:>17}  {:>12}",
            s.scenario,
            s.policy,
            s.deep_not_ready_in_window_mean,
            s.delay_in_window_p95_ms.show(),
            s.delay_outside_p95_ms.show(),
            s.delay_outside_mean_ms
                .map_or("never".into(), |m| seconds(m as u64))
        );
    }
    out
}

/// For scenarios with a server that slows under load: how long the bulk took to drain and
/// how much slower Plex answered meanwhile; empty if none has one.
pub fn pacing(summaries: &[Summary]) -> String {
    let mut out = String::new();
    for s in summaries.iter().filter(|s| s.drain_slowdown_p50.is_some()) {
        if out.is_empty() {
            out.push_str("Draining 10,000 scenes             drain p50      drain max  shorter  Plex p95 / idle p95: median  worst  target\n");
        }
        let single = summaries
            .iter()
            .find(|o| o.policy == SINGLE && o.scenario == s.scenario && s.policy != SINGLE);
        let shorter = match (single.map(|o| o.bulk_drain_p50_ms), s.bulk_drain_p50_ms) {
            (Some(Figure::Ms(theirs)), Figure::Ms(mine)) if mine > 0 => {
                format!("{:.1}x", theirs as f64 / mine as f64)
            }
            _ => String::new(),
        };
        let verdict = match s.target {
            Target::Pacing(class) if s.policy == "plexsync" => {
                if !pacing_misses(s, single, class, DRAIN_SPEEDUP_FLOOR).is_empty() {
                    "MISSED"
                } else if pacing_misses(s, single, class, DRAIN_SPEEDUP).is_empty() {
                    "met"
                } else {
                    "under 4x"
                }
            }
            _ => "",
        };
        let _ = writeln!(
            out,
            "{:<16} {:<16} {:>11}  {:>13}  {:>7}  {:>26.2}  {:>5.2}  {verdict}",
            s.scenario,
            s.policy,
            s.bulk_drain_p50_ms.show(),
            s.bulk_drain_max_ms.show(),
            shorter,
            s.drain_slowdown_p50.unwrap_or(0.0),
            s.drain_slowdown_max.unwrap_or(0.0),
        );
    }
    out
}

/// What the table's columns and contenders mean, for the contenders in `names`.
pub fn legend(names: &[&str]) -> String {
    const COLUMNS: [(&str, &str); 9] = [
        (
            "delay p50, p95",
            "from Plex back to the first waiting job synced, median and 95th percentile over all recoveries (never: one whose work was not synced by the end)",
        ),
        ("probes", "health checks per run, mean"),
        (
            "deep at not-ready",
            "requests needing the library that reached a server answering but not ready, per run, mean: the load that slows a starting server",
        ),
        (
            "false closes",
            "the breaker closed while Plex was still down, all seeds",
        ),
        (
            "lost",
            "edits neither in Plex, nor queued, nor dead-lettered at the end, all seeds",
        ),
        (
            "outage DLQ",
            "jobs given up (dead-lettered) for an outage, all seeds",
        ),
        ("synced", "jobs synced per run, mean"),
        ("drain", "from Plex back to an empty queue, median"),
        (
            "outage lines",
            "log lines a user sees during outages and five minutes after, per run, mean",
        ),
    ];
    const CONTENDERS: [(&str, &str); 6] = [
        ("plexsync", "this build's defaults (docs/policy.md)"),
        (
            "predecessor-warm",
            "Stash2Plex v1.6.14's worker, modelled from its code, connected to Plex before the outage",
        ),
        (
            "predecessor-cold",
            "the same worker started during the outage: its first connection meets it",
        ),
        (
            "naive",
            "plexsync with a deep probe every minute, no backoff, no jitter",
        ),
        (
            BLIND,
            "this build's defaults blind to Plex's maintenance window (run where a scenario has one)",
        ),
        (
            SINGLE,
            "this build's defaults one job at a time, with the ramp after an outage, as before pacing (run where the server has a load)",
        ),
    ];
    let rows: Vec<(&str, &str)> = COLUMNS
        .iter()
        .copied()
        .chain([("", "")])
        .chain(
            CONTENDERS
                .iter()
                .filter(|(name, _)| names.contains(name))
                .copied(),
        )
        .collect();
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, about) in rows {
        if name.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{name:<width$}  {about}");
        }
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
            Target::Nightly => nightly(s, summaries, &mut miss),
            Target::Pacing(class) => {
                let single = summaries
                    .iter()
                    .find(|o| o.policy == SINGLE && o.scenario == s.scenario);
                for what in pacing_misses(s, single, class, DRAIN_SPEEDUP_FLOOR) {
                    miss(what);
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
        // jobs through the outage (or among all, if none did). A baseline that dead-letters
        // a job at the first 503 sends that job no library request, and that is no saving a
        // user would want.
        let rivals: Vec<&Summary> = summaries
            .iter()
            .filter(|o| baselines.contains(&o.policy.as_str()) && o.scenario == s.scenario)
            .collect();
        let kept: Vec<&Summary> = rivals
            .iter()
            .copied()
            .filter(|o| o.outage_dead_letters == 0)
            .collect();
        let base = if kept.is_empty() { rivals } else { kept }
            .into_iter()
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

/// The contender the `nightly` scenario holds the defaults against: the same defaults,
/// blind to Plex's maintenance window.
pub const BLIND: &str = "plexsync-blind";

/// The contender the drains on loaded servers hold the defaults against: the defaults
/// before they paced themselves, one job at a time.
pub const SINGLE: &str = "plexsync-single";

/// Plex's p95 answer time while a drain runs, over its idle p95, that no run may exceed.
pub(crate) const MOST_SLOWDOWN: f64 = 2.0;

/// How much shorter a drain on a medium or strong server should be than one job at a
/// time's: the aim, shown in the table.
pub(crate) const DRAIN_SPEEDUP: u64 = 4;

/// How much shorter it must be, or the run fails: a floor under the aim, so that the check
/// catches a pacer that lost its way without failing on the seeds' noise around the aim.
pub(crate) const DRAIN_SPEEDUP_FLOOR: u64 = 3;

/// What `s` (the defaults on a loaded server of `class`) misses against `single`, the
/// defaults one job at a time on the same seeds (`None`: not run, only the bound holds).
fn pacing_misses(s: &Summary, single: Option<&Summary>, class: Class, speedup: u64) -> Vec<String> {
    let mut misses = Vec::new();
    let worst = s.drain_slowdown_max.unwrap_or(f64::INFINITY);
    // On a weak server one job at a time may itself pass the bound: then no worse than it.
    let bound = match (class, single.and_then(|o| o.drain_slowdown_max)) {
        (Class::Weak, Some(theirs)) => MOST_SLOWDOWN.max(theirs),
        _ => MOST_SLOWDOWN,
    };
    if worst > bound {
        misses.push(format!(
            "Plex answered {worst:.2} times slower than idle (p95, worst run) while draining, over {bound:.2}"
        ));
    }
    if let (Class::Medium | Class::Strong, Some(single)) = (class, single) {
        let fast_enough = match (s.bulk_drain_p50_ms, single.bulk_drain_p50_ms) {
            (Figure::Ms(mine), Figure::Ms(theirs)) => mine.saturating_mul(speedup) <= theirs,
            (_, Figure::Never) => !matches!(s.bulk_drain_p50_ms, Figure::Never),
            _ => false,
        };
        if !fast_enough {
            misses.push(format!(
                "drained in {} (median), not {speedup} times shorter than one job at a time's {}",
                s.bulk_drain_p50_ms.show(),
                single.bulk_drain_p50_ms.show()
            ));
        }
    }
    misses
}

/// How much later the mean recovery from an outage outside the window may be seen than the
/// blind defaults' before it counts as an effect. Jitter alone moves that mean by a second or
/// two between runs (`docs/policy.md`); the rhythm acting outside its window would put a
/// loading library's probes off by minutes.
pub(crate) const OUTSIDE_MEAN_NOISE_MS: f64 = 5_000.0;

/// The `nightly` targets: against the defaults blind to Plex's rhythm, on the same runs.
fn nightly(s: &Summary, summaries: &[Summary], miss: &mut dyn FnMut(String)) {
    let Some(blind) = summaries
        .iter()
        .find(|o| o.policy == BLIND && o.scenario == s.scenario)
    else {
        return;
    };
    if s.deep_not_ready_in_window_mean * 3.0 > blind.deep_not_ready_in_window_mean {
        miss(format!(
            "{:.1} deep requests reach a not-ready server inside the window, more than a third of {BLIND}'s {:.1}",
            s.deep_not_ready_in_window_mean, blind.deep_not_ready_in_window_mean
        ));
    }
    if s.delay_in_window_p95_ms
        .later_than(blind.delay_in_window_p95_ms)
    {
        miss(format!(
            "recovery inside the window seen {} after Plex was back (p95), later than {BLIND}'s {}",
            s.delay_in_window_p95_ms.show(),
            blind.delay_in_window_p95_ms.show()
        ));
    }
    match (s.delay_outside_mean_ms, blind.delay_outside_mean_ms) {
        (Some(mine), Some(theirs)) if mine <= theirs + OUTSIDE_MEAN_NOISE_MS => {}
        (None, None) => {}
        (mine, theirs) => miss(format!(
            "recovery outside the window seen {} after Plex was back on average, later than {BLIND}'s {}",
            mine.map_or("never".into(), |m| seconds(m as u64)),
            theirs.map_or("never".into(), |m| seconds(m as u64))
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, policy: &str, target: Target) -> Summary {
        Summary {
            scenario: scenario.into(),
            policy: policy.into(),
            target,
            runs: 40,
            recoveries: 40,
            delay_p50_ms: Figure::Ms(1_000),
            delay_p95_ms: Figure::Ms(3_000),
            probes_mean: 10.0,
            probes_max: 12,
            probes_not_ready_mean: 0.0,
            requests_not_ready_mean: 0.0,
            deep_not_ready_mean: 0.0,
            deep_not_ready_in_window_mean: 0.0,
            delay_in_window_p95_ms: Figure::Absent,
            delay_outside_p95_ms: Figure::Absent,
            delay_outside_mean_ms: None,
            false_closures: 0,
            lost: 0,
            outage_dead_letters: 0,
            dead_letters: 0,
            wrong_edits: 0,
            synced_mean: 70.0,
            drain_p50_ms: Figure::Ms(2_000),
            drain_max_ms: Figure::Ms(9_000),
            log_lines_mean: 30.0,
            outage_log_lines_mean: 4.0,
            outage_log_lines_max: 6,
            left_queued: 0,
            bulk_drain_p50_ms: Figure::Absent,
            bulk_drain_max_ms: Figure::Absent,
            drain_slowdown_p50: None,
            drain_slowdown_max: None,
        }
    }

    const BASES: [&str; 2] = ["warm", "cold"];

    #[test]
    fn a_paced_drain_is_held_to_the_bound_and_the_speed_up_floor() {
        let drain = |policy: &str, class: Class, minutes: u64, worst: f64| {
            let mut r = row("bulk", policy, Target::Pacing(class));
            r.bulk_drain_p50_ms = Figure::Ms(minutes * 60_000);
            r.drain_slowdown_p50 = Some(worst * 0.8);
            r.drain_slowdown_max = Some(worst);
            r
        };
        let check = |mine: Summary, single: Summary| {
            let single = Summary {
                policy: SINGLE.into(),
                ..single
            };
            misses(&[mine, single])
        };
        // 23 min one at a time: 5 min is over 4x, 7 min over the 3x floor, 8 min not.
        let single = drain(SINGLE, Class::Medium, 23, 1.2);
        assert!(check(drain("plexsync", Class::Medium, 5, 1.9), single.clone()).is_empty());
        assert!(check(drain("plexsync", Class::Medium, 7, 1.9), single.clone()).is_empty());
        let slow = check(drain("plexsync", Class::Medium, 8, 1.9), single.clone());
        assert!(slow[0].contains("not 3 times shorter"), "{slow:?}");
        let hot = check(drain("plexsync", Class::Strong, 5, 2.1), single.clone());
        assert!(hot[0].contains("2.10 times slower"), "{hot:?}");
        // A weak server one job at a time already past the bound: no worse than it.
        let weak_single = drain(SINGLE, Class::Weak, 30, 2.3);
        assert!(check(drain("plexsync", Class::Weak, 40, 2.2), weak_single.clone()).is_empty());
        let worse = check(drain("plexsync", Class::Weak, 20, 2.4), weak_single);
        assert_eq!(worse.len(), 1, "{worse:?}");
        // The table says which aim each met.
        let mine = drain("plexsync", Class::Medium, 7, 1.9);
        let single = Summary {
            policy: SINGLE.into(),
            ..single
        };
        let table = pacing(&[mine, single]);
        assert!(table.contains("under 4x"), "{table}");
        assert!(table.contains("3.3x"), "{table}");
    }

    fn misses(rows: &[Summary]) -> Vec<String> {
        targets(rows, "plexsync", &BASES)
            .into_iter()
            .map(|m| format!("{}: {}", m.scenario, m.what))
            .collect()
    }

    #[test]
    fn quick_recoveries_are_held_to_5_s_and_a_window_to_15_s_and_20_lines() {
        for (target, p95, lines, missed) in [
            (Target::Quick, Figure::Ms(5_000), 99, 0),
            (Target::Quick, Figure::Ms(5_001), 0, 1),
            (Target::Quick, Figure::Never, 0, 1),
            (Target::Quick, Figure::Absent, 0, 0),
            (Target::Window, Figure::Ms(15_000), 20, 0),
            (Target::Window, Figure::Ms(15_001), 20, 1),
            (Target::Window, Figure::Ms(1_000), 21, 1),
            (Target::Window, Figure::Never, 21, 2),
            (Target::None, Figure::Never, 99, 0),
        ] {
            let mut s = row("x", "plexsync", target);
            s.delay_p95_ms = p95;
            s.outage_log_lines_max = lines;
            assert_eq!(
                misses(&[s]).len(),
                missed,
                "{target:?} {p95:?} {lines} lines"
            );
        }
    }

    #[test]
    fn anything_lost_dead_lettered_wrong_or_closed_early_is_a_miss_whatever_the_scenario() {
        let mut s = row("x", "plexsync", Target::None);
        s.lost = 1;
        s.outage_dead_letters = 2;
        s.wrong_edits = 3;
        s.false_closures = 4;
        let m = misses(&[s]);
        assert_eq!(
            m,
            [
                "x: 4 false closures",
                "x: 1 jobs lost",
                "x: 2 jobs dead-lettered by an outage",
                "x: 3 edits not as intended"
            ]
        );
        // Another policy's rows are no one's business.
        let mut other = row("x", "naive", Target::Quick);
        other.lost = 9;
        other.delay_p95_ms = Figure::Never;
        assert!(misses(&[other]).is_empty());
    }

    #[test]
    fn deep_requests_are_held_to_the_better_baseline_that_kept_its_jobs() {
        let with = |deep: f64, warm: (f64, u64), cold: (f64, u64)| {
            let mut p = row("x", "plexsync", Target::None);
            p.deep_not_ready_mean = deep;
            let mut w = row("x", "warm", Target::None);
            (w.deep_not_ready_mean, w.outage_dead_letters) = warm;
            let mut c = row("x", "cold", Target::None);
            (c.deep_not_ready_mean, c.outage_dead_letters) = cold;
            // A baseline of another scenario does not count.
            let mut elsewhere = row("y", "cold", Target::None);
            elsewhere.deep_not_ready_mean = 0.0;
            misses(&[p, w, c, elsewhere])
        };
        // Cold sends none because it gave its jobs up: warm is the bar.
        assert!(with(5.0, (6.0, 0), (0.0, 12)).is_empty());
        assert_eq!(
            with(7.0, (6.0, 0), (0.0, 12)),
            ["x: 7.0 deep requests reach a live-but-not-ready server, more than warm's 6.0"]
        );
        // Both kept their jobs: the better of the two.
        assert_eq!(with(5.0, (6.0, 0), (4.0, 0)).len(), 1);
        assert!(with(4.0, (6.0, 0), (4.0, 0)).is_empty());
        // Neither did: still the better of the two, not no bar at all.
        assert_eq!(
            with(1.0, (6.0, 3), (0.5, 12)),
            ["x: 1.0 deep requests reach a live-but-not-ready server, more than cold's 0.5"]
        );
        // No baseline ran: no bar.
        let mut alone = row("x", "plexsync", Target::None);
        alone.deep_not_ready_mean = 1e9;
        assert!(misses(&[alone]).is_empty());
    }

    #[test]
    fn the_legend_names_only_the_contenders_that_ran() {
        let text = legend(&["plexsync", "naive"]);
        assert!(text.contains("outage DLQ"));
        assert!(text.contains("naive "));
        assert!(!text.contains("predecessor-warm"));
        let text = legend(&["predecessor-warm", "predecessor-cold"]);
        assert!(text.contains("Stash2Plex v1.6.14"));
        assert!(!text.contains("this build's defaults"));
    }
}
