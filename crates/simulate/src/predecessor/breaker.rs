//! The predecessor's circuit breaker, as `worker/circuit_breaker.py` (Stash2Plex v1.6.14)
//! writes it: five failures in a row open it; it turns HALF_OPEN when read 60 s after it
//! opened; in HALF_OPEN every job goes through; one success closes it, one failure opens it
//! again. Times are milliseconds on the simulation's clock.

use breaker_core::State;

/// `CircuitBreaker(failure_threshold=5, recovery_timeout=60.0, success_threshold=1)`
/// (`worker/processor.py:111-117`).
const FAILURE_THRESHOLD: u32 = 5;
const RECOVERY_TIMEOUT_MS: u64 = 60_000;

/// What the breaker did, for the log and the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// `_open` (`circuit_breaker.py:262-273`).
    Opened,
    /// The `state` property's OPEN → HALF_OPEN (`circuit_breaker.py:195-203`).
    HalfOpened,
    /// `_close` (`circuit_breaker.py:275-287`).
    Closed,
}

#[derive(Debug, Default)]
pub(super) struct Breaker {
    state: Phase,
    failures: u32,
    opened_at: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Closed,
    Open,
    HalfOpen,
}

impl Breaker {
    /// The `state` property: reading it past the recovery timeout moves OPEN to HALF_OPEN
    /// (`circuit_breaker.py:195-203`).
    pub(super) fn state(&mut self, now: u64) -> (State, Option<Change>) {
        if self.state == Phase::Open && now.saturating_sub(self.opened_at) >= RECOVERY_TIMEOUT_MS {
            self.state = Phase::HalfOpen;
            return (State::HalfOpen, Some(Change::HalfOpened));
        }
        (self.public(), None)
    }

    /// When reading the state turns OPEN into HALF_OPEN (`u64::MAX` if it is not OPEN).
    pub(super) fn half_open_at(&self) -> u64 {
        match self.state {
            Phase::Open => self.opened_at.saturating_add(RECOVERY_TIMEOUT_MS),
            Phase::Closed | Phase::HalfOpen => u64::MAX,
        }
    }

    /// Without reading the clock (the code reads `self._state` directly there).
    pub(super) fn public(&self) -> State {
        match self.state {
            Phase::Closed => State::Closed,
            Phase::Open => State::Open,
            Phase::HalfOpen => State::HalfOpen,
        }
    }

    /// `can_execute`: anything but OPEN (`circuit_breaker.py:205-213`).
    pub(super) fn can_execute(&mut self, now: u64) -> (bool, Option<Change>) {
        let (state, change) = self.state(now);
        (state != State::Open, change)
    }

    /// `record_success` (`circuit_breaker.py:215-232`): closes a HALF_OPEN breaker (one
    /// success is enough), and clears the count in CLOSED.
    pub(super) fn record_success(&mut self) -> Option<Change> {
        match self.state {
            Phase::HalfOpen => {
                self.close();
                Some(Change::Closed)
            }
            Phase::Closed | Phase::Open => {
                self.failures = 0;
                None
            }
        }
    }

    /// `record_failure` (`circuit_breaker.py:234-251`): a HALF_OPEN failure opens it again at
    /// once; in CLOSED the fifth in a row opens it.
    pub(super) fn record_failure(&mut self, now: u64) -> Option<Change> {
        match self.state {
            Phase::HalfOpen => {
                self.open(now);
                Some(Change::Opened)
            }
            Phase::Closed | Phase::Open => {
                self.failures += 1;
                if self.failures >= FAILURE_THRESHOLD {
                    self.open(now);
                    Some(Change::Opened)
                } else {
                    None
                }
            }
        }
    }

    fn open(&mut self, now: u64) {
        self.state = Phase::Open;
        self.opened_at = now;
        self.failures = 0;
    }

    fn close(&mut self) {
        self.state = Phase::Closed;
        self.failures = 0;
    }
}
