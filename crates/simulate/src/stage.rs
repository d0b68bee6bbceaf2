//! What the simulated server is doing at each moment: its stages, on a timeline.

use serde::Serialize;

/// One stage of a Plex server's life, as `../shared/PLEX.md` describes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The port is closed: every connection is refused at once (Plex stopped, restarting).
    Refused,
    /// Nothing answers a connection: it hangs until the connect timeout (host down, network
    /// gone).
    Unreachable,
    /// Connections are accepted and nothing is ever answered: every request runs into its
    /// deadline (a hung process).
    Silent,
    /// HTTP answers, but every request, `/identity` included, gets 503 Maintenance.
    Maintenance,
    /// `/identity` answers; everything that needs the library still gets 503 (partial
    /// readiness: the HTTP server is up before the database).
    Starting,
    /// Every request is answered, slowly: the latency is drawn between the stage's bounds,
    /// and requests that take longer than their timeout fail.
    Slow,
    /// Ready, but the token is refused (401): a configuration error, not an outage.
    TokenRevoked,
    /// Ready.
    Ready,
}

impl Stage {
    /// Every stage, in the order the pictures draw them.
    pub const ALL: [Stage; 8] = [
        Stage::Refused,
        Stage::Unreachable,
        Stage::Silent,
        Stage::Maintenance,
        Stage::Starting,
        Stage::Slow,
        Stage::TokenRevoked,
        Stage::Ready,
    ];

    /// A short name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Refused => "refused",
            Stage::Unreachable => "unreachable",
            Stage::Silent => "silent",
            Stage::Maintenance => "maintenance",
            Stage::Starting => "starting",
            Stage::Slow => "slow",
            Stage::TokenRevoked => "token revoked",
            Stage::Ready => "ready",
        }
    }

    /// The server runs and takes connections, but cannot do work: a request there costs it
    /// something, unlike a refused or unreachable port.
    pub fn is_live_not_ready(self) -> bool {
        matches!(
            self,
            Stage::Silent | Stage::Maintenance | Stage::Starting | Stage::Slow
        )
    }

    /// Plex cannot do work for anyone (the token case is the user's, not the server's).
    pub fn is_outage(self) -> bool {
        !matches!(self, Stage::Ready | Stage::TokenRevoked)
    }
}

/// The stages a server goes through: `(from, stage)` pairs in time order, in milliseconds
/// on the simulation's clock. Before the first one the server is ready.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Timeline(Vec<(u64, Stage)>);

impl Timeline {
    /// A timeline from `(from, stage)` pairs in any order; a later pair for the same instant
    /// wins, and a pair that repeats the stage before it is dropped.
    pub fn new(mut changes: Vec<(u64, Stage)>) -> Timeline {
        changes.sort_by_key(|(at, _)| *at);
        let mut merged: Vec<(u64, Stage)> = Vec::with_capacity(changes.len());
        for (at, stage) in changes {
            if merged.last().is_some_and(|(last, _)| *last == at) {
                merged.pop();
            }
            let before = merged.last().map_or(Stage::Ready, |(_, s)| *s);
            if before != stage {
                merged.push((at, stage));
            }
        }
        Timeline(merged)
    }

    /// The stage at `at`.
    pub fn at(&self, at: u64) -> Stage {
        match self.0.partition_point(|(from, _)| *from <= at) {
            0 => Stage::Ready,
            i => self.0[i - 1].1,
        }
    }

    /// When the stage next changes after `at`.
    pub fn next_change(&self, at: u64) -> Option<u64> {
        let i = self.0.partition_point(|(from, _)| *from <= at);
        self.0.get(i).map(|(from, _)| *from)
    }

    /// The changes, in order.
    pub fn changes(&self) -> &[(u64, Stage)] {
        &self.0
    }

    /// Maximal spans `[from, to)` in which `pick` holds of the stage; the last may run to
    /// `u64::MAX`.
    pub fn spans(&self, pick: impl Fn(Stage) -> bool) -> Vec<(u64, u64)> {
        let mut spans = Vec::new();
        let mut open: Option<u64> = None;
        for &(at, stage) in &self.0 {
            match (open, pick(stage)) {
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
        let mut before = Stage::Ready;
        let mut out = Vec::new();
        for &(at, stage) in &self.0 {
            if stage == Stage::Ready && before != Stage::Ready {
                out.push(at);
            }
            before = stage;
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
            (50, Stage::Ready),
            (10, Stage::Refused),
            (20, Stage::Refused),
            (30, Stage::Starting),
            (30, Stage::Maintenance),
        ]);
        assert_eq!(
            t.changes(),
            &[
                (10, Stage::Refused),
                (30, Stage::Maintenance),
                (50, Stage::Ready)
            ]
        );
        assert_eq!(t.at(0), Stage::Ready);
        assert_eq!(t.at(10), Stage::Refused);
        assert_eq!(t.at(49), Stage::Maintenance);
        assert_eq!(t.at(50), Stage::Ready);
        assert_eq!(t.next_change(10), Some(30));
        assert_eq!(t.next_change(50), None);
        assert_eq!(t.recoveries(), vec![50]);
        assert_eq!(t.spans(Stage::is_outage), vec![(10, 50)]);
        assert_eq!(t.spans(Stage::is_live_not_ready), vec![(30, 50)]);
    }

    #[test]
    fn an_outage_that_never_ends_runs_to_the_end_of_time() {
        let t = Timeline::new(vec![(5, Stage::Silent)]);
        assert_eq!(t.spans(Stage::is_outage), vec![(5, u64::MAX)]);
        assert!(t.recoveries().is_empty());
    }
}
