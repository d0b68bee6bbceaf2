//! Many runs: every scenario × policy × seed, spread over the machine's cores, gathered in a
//! fixed order so that the output does not depend on which thread finished first.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::report::{Summary, summarize};
use crate::run::{Contender, Run, RunError, run_contender};
use crate::scenario::Scenario;

/// Where one task's runs land.
type Slot = Mutex<Option<Result<Run, RunError>>>;

/// What to run.
#[derive(Clone, Debug)]
pub struct Suite {
    /// The scenarios.
    pub scenarios: Vec<Scenario>,
    /// What runs, by name: plexsync's engine under a policy, or the predecessor's model.
    pub policies: Vec<(String, Contender)>,
    /// The seeds.
    pub seeds: Vec<u64>,
    /// Threads to run on (at least one).
    pub threads: usize,
    /// Keep the trace of the first seed's runs (for pictures).
    pub traces: bool,
    /// Contenders, by name, run only on scenarios with a maintenance window (elsewhere they
    /// would run exactly as the defaults do).
    pub window_only: Vec<String>,
    /// Contenders, by name, run only on scenarios whose server has a load (elsewhere they
    /// would tell nothing the table needs).
    pub load_only: Vec<String>,
}

/// What a suite gave.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every run: by scenario, then seed, then policy.
    pub runs: Vec<Run>,
    /// One per scenario and policy, in the suite's order.
    pub summaries: Vec<Summary>,
}

impl Suite {
    /// Runs everything.
    pub fn run(&self) -> Result<Outcome, RunError> {
        let setups: Vec<(usize, u64)> = (0..self.scenarios.len())
            .flat_map(|s| self.seeds.iter().map(move |seed| (s, *seed)))
            .collect();
        // One task per run, so that the heavy runs spread over the threads; each scenario
        // and seed is drawn once and shared by its runs.
        // What each scenario is like, from its first seed: whether it has a maintenance
        // window, whether its server has a load, how many hooks it brings.
        let first: Vec<Option<crate::scenario::Setup>> = self
            .scenarios
            .iter()
            .map(|s| self.seeds.first().map(|seed| s.setup(*seed)))
            .collect();
        let windowed: Vec<bool> = first
            .iter()
            .map(|f| f.as_ref().is_some_and(|f| f.butler.is_some()))
            .collect();
        let loaded: Vec<bool> = first
            .iter()
            .map(|f| f.as_ref().is_some_and(|f| f.latency.capacity_rps > 0.0))
            .collect();
        let tasks: Vec<(usize, usize)> = (0..setups.len())
            .flat_map(|i| (0..self.policies.len()).map(move |p| (i, p)))
            .filter(|&(i, p)| {
                let name = &self.policies[p].0;
                (windowed[setups[i].0] || !self.window_only.contains(name))
                    && (loaded[setups[i].0] || !self.load_only.contains(name))
            })
            .collect();
        let drawn: Vec<std::sync::OnceLock<crate::scenario::Setup>> =
            setups.iter().map(|_| std::sync::OnceLock::new()).collect();
        let results: Vec<Slot> = tasks.iter().map(|_| Mutex::new(None)).collect();
        // The heaviest scenarios first, so that no thread is left with one at the end; the
        // results keep the suite's order whatever order they are run in.
        let weight: Vec<usize> = first
            .iter()
            .map(|f| f.as_ref().map_or(0, |f| f.hooks.len()))
            .collect();
        let mut order: Vec<usize> = (0..tasks.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(weight[setups[tasks[*i].0].0]));
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..self.threads.max(1).min(tasks.len().max(1)) {
                scope.spawn(|| {
                    while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (at, p) = tasks[i];
                        let (s, seed) = setups[at];
                        let keep = self.traces && Some(&seed) == self.seeds.first();
                        let setup = drawn[at].get_or_init(|| self.scenarios[s].setup(seed));
                        let (name, contender) = &self.policies[p];
                        let run = run_contender(setup, name, contender, keep);
                        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
                    }
                });
            }
        });
        let mut runs = Vec::new();
        for slot in results {
            let done = slot.into_inner().unwrap_or_else(|e| e.into_inner());
            runs.push(done.expect("every task ran")?);
        }
        let mut summaries = Vec::new();
        for scenario in &self.scenarios {
            for (name, _) in &self.policies {
                let mine: Vec<&Run> = runs
                    .iter()
                    .filter(|r| r.scenario == scenario.name && &r.policy == name)
                    .collect();
                if !mine.is_empty() {
                    summaries.push(summarize(&mine, scenario.target));
                }
            }
        }
        Ok(Outcome { runs, summaries })
    }
}
