//! What the simulated server is doing at each moment: its phases, on a timeline.

use fake_plex::ServerPhase;
use serde::Serialize;

/// The phases a server goes through: `(from, phase)` pairs in time order, in milliseconds
/// on the simulation's clock. Before the first one the server is ready.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline(Vec<(u64, ServerPhase)>);

impl Timeline {
    /// A timeline from `(from, phase)` pairs in any order; a later pair for the same instant
    /// wins, and a pair that repeats the phase before it is dropped.
    pub fn new(mut changes: Vec<(u64, ServerPhase)>) -> Timeline {
        changes.sort_by_key(|(at, _)| *at);
        let mut merged: Vec<(u64, ServerPhase)> = Vec::with_capacity(changes.len());
        for (at, phase) in changes {
            if merged.last().is_some_and(|(last, _)| *last == at) {
                merged.pop();
            }
            let before = merged.last().map_or(ServerPhase::Ready, |(_, s)| *s);
            if before != phase {
                merged.push((at, phase));
            }
        }
        Timeline(merged)
    }

    /// The phase at `at`.
    pub fn at(&self, at: u64) -> ServerPhase {
        match self.0.partition_point(|(from, _)| *from <= at) {
            0 => ServerPhase::Ready,
            i => self.0[i - 1].1,
        }
    }

    /// When the phase next changes after `at`.
    pub fn next_change(&self, at: u64) -> Option<u64> {
        let i = self.0.partition_point(|(from, _)| *from <= at);
        self.0.get(i).map(|(from, _)| *from)
    }

    /// The changes, in order.
    pub fn changes(&self) -> &[(u64, ServerPhase)] {
        &self.0
    }

    /// Maximal spans `[from, to)` in which `pick` holds of the phase; the last may run to
    /// `u64::MAX`.
    pub fn spans(&self, pick: impl Fn(ServerPhase) -> bool) -> Vec<(u64, u64)> {
        let mut spans = Vec::new();
        let mut open: Option<u64> = None;
        for &(at, phase) in &self.0 {
            match (open, pick(phase)) {
                (None, true) => open = Some(at),
                (Some(from), false) => {
                    spans.push((from, at));
                    open = None;
                }
                _ => {}
            }
        }
        if let Some(from) = open {
            spans.push((from, u64::MAX));
        }
        spans
    }

    /// The moments the server became ready after not being so: the recoveries whose
    /// detection the report times. A token put right counts: work can resume then.
    pub fn recoveries(&self) -> Vec<u64> {
        let mut before = ServerPhase::Ready;
        let mut out = Vec::new();
        for &(at, phase) in &self.0 {
            if phase == ServerPhase::Ready && before != ServerPhase::Ready {
                out.push(at);
            }
            before = phase;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_merges_and_answers_by_instant() {
        let t = Timeline::new(vec![
            (50, ServerPhase::Ready),
            (10, ServerPhase::Refused),
            (20, ServerPhase::Refused),
            (30, ServerPhase::Starting),
            (30, ServerPhase::Maintenance),
        ]);
        assert_eq!(
            t.changes(),
            &[
                (10, ServerPhase::Refused),
                (30, ServerPhase::Maintenance),
                (50, ServerPhase::Ready)
            ]
        );
        assert_eq!(t.at(0), ServerPhase::Ready);
        assert_eq!(t.at(10), ServerPhase::Refused);
        assert_eq!(t.at(49), ServerPhase::Maintenance);
        assert_eq!(t.at(50), ServerPhase::Ready);
        assert_eq!(t.next_change(10), Some(30));
        assert_eq!(t.next_change(50), None);
        assert_eq!(t.recoveries(), vec![50]);
        assert_eq!(t.spans(ServerPhase::is_outage), vec![(10, 50)]);
        assert_eq!(t.spans(ServerPhase::is_live_not_ready), vec![(30, 50)]);
    }

    #[test]
    fn an_outage_that_never_ends_runs_to_the_end_of_time() {
        let t = Timeline::new(vec![(5, ServerPhase::Silent)]);
        assert_eq!(t.spans(ServerPhase::is_outage), vec![(5, u64::MAX)]);
        assert!(t.recoveries().is_empty());
    }
}
