use crate::State;
use crate::leases::Leases;

/// Everything a [`Breaker`](crate::Breaker) knows besides its [`Config`](crate::Config),
/// to persist between processes.
///
/// [`Breaker::restore`](crate::Breaker::restore) of a snapshot gives back a breaker equal to the
/// one it was taken from. Any snapshot that deserializes is a valid one: counts above the
/// thresholds of a new configuration take effect on the next input, not as an error.
///
/// ```
/// use breaker_core::{Breaker, Config, Snapshot, State};
///
/// let mut breaker = Breaker::new(Config::default());
/// let _ = breaker.force_open(1_000);
/// let saved: String = serde_json::to_string(&breaker.snapshot()).unwrap();
///
/// // Another process, later:
/// let snapshot: Snapshot = serde_json::from_str(&saved).unwrap();
/// assert_eq!((snapshot.state(), snapshot.since()), (State::ForcedOpen, 1_000));
/// assert_eq!(Breaker::restore(Config::default(), snapshot), breaker);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    pub(crate) phase: Phase,
    pub(crate) generation: u64,
    pub(crate) reopens: u32,
    /// The latest `now` seen while a deadline was pending (OPEN or HALF_OPEN), to notice a
    /// clock that steps back. Inputs in CLOSED leave it alone, so that an input that changes
    /// nothing leaves the snapshot as it was and costs its owner no write.
    pub(crate) last_seen: u64,
    pub(crate) next_lease: u64,
    /// When the current state was entered (0 for the initial CLOSED, and in snapshots written
    /// before this field existed).
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) since: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[allow(
    clippy::large_enum_variant,
    reason = "the breaker allocates nothing, so the leases live inline in the one phase that has them"
)]
pub(crate) enum Phase {
    Closed { failures: u32 },
    Open { until: u64 },
    HalfOpen { successes: u32, leases: Leases },
    ForcedOpen,
}

impl Snapshot {
    pub(crate) const INITIAL: Snapshot = Snapshot {
        phase: Phase::Closed { failures: 0 },
        generation: 0,
        reopens: 0,
        last_seen: 0,
        next_lease: 0,
        since: 0,
    };

    /// The state at the time of the snapshot.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// The generation at the time of the snapshot.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// When the state at the time of the snapshot was entered; see [`Breaker::since`](crate::Breaker::since).
    pub fn since(&self) -> u64 {
        self.since
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::INITIAL
    }
}

impl Phase {
    pub(crate) fn state(&self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
            Phase::ForcedOpen => State::ForcedOpen,
        }
    }
}
