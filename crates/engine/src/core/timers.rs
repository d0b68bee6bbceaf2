//! The engine's own deadlines, in one table.

/// One of the engine's deadlines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// No job before this: the pause between jobs.
    Pause,
    /// A long-running worker with nothing ready looks at the queue again then.
    Idle,
    /// While Plex is down, the next summary line is due then.
    Summary,
    /// No job is taken before this: the pacer spaces jobs out, or Plex asked to be left
    /// alone (`Retry-After`). Probes do not wait for it.
    Hold,
}

impl Timer {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        match self {
            Timer::Pause => 0,
            Timer::Idle => 1,
            Timer::Summary => 2,
            Timer::Hold => 3,
        }
    }
}

/// When each [`Timer`] fires, if it is set; and the interval the summary line doubles.
#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    at: [Option<u64>; Timer::COUNT],
    /// The gap after the next summary line, doubling up to the policy's cap.
    pub(super) summary_interval: u64,
}

impl Timers {
    pub(super) fn get(&self, timer: Timer) -> Option<u64> {
        self.at[timer.index()]
    }

    pub(super) fn set(&mut self, timer: Timer, at: u64) {
        self.at[timer.index()] = Some(at);
    }

    pub(super) fn clear(&mut self, timer: Timer) {
        self.at[timer.index()] = None;
    }
}
