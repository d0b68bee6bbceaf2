//! A reference model of the breaker, written as plainly as possible: public fields, a `Vec`
//! of leases, loops instead of formulas. The property tests run it side by side with the real
//! machine and demand the same answer to every input.

use breaker_core::{Cause, State};

#[derive(Clone, Copy, Debug)]
pub(crate) struct ModelConfig {
    pub(crate) failure_threshold: u32,
    pub(crate) open_wait: u64,
    pub(crate) open_wait_factor: u32,
    pub(crate) open_wait_cap: u64,
    pub(crate) permits: u32,
    pub(crate) lease: u64,
    pub(crate) success_threshold: u32,
    pub(crate) slow_call: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModelPermit {
    pub(crate) generation: u64,
    pub(crate) lease: Option<u64>,
    pub(crate) issued_at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModelDecision {
    Permit(ModelPermit),
    Reject { state: State, retry_at: Option<u64> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ModelTransition {
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) at: u64,
    pub(crate) generation: u64,
    pub(crate) cause: Cause,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ModelOutcome {
    Success,
    Outage,
    Other,
}

#[derive(Clone, Debug)]
pub(crate) struct Model {
    pub(crate) config: ModelConfig,
    pub(crate) state: State,
    pub(crate) failures: u32,
    pub(crate) successes: u32,
    pub(crate) open_until: u64,
    pub(crate) leases: Vec<(u64, u64)>,
    pub(crate) generation: u64,
    pub(crate) reopens: u32,
    pub(crate) last_seen: u64,
    pub(crate) next_lease: u64,
    pub(crate) since: u64,
    pub(crate) log: Vec<ModelTransition>,
}

impl Model {
    pub(crate) fn new(config: ModelConfig) -> Model {
        Model {
            config,
            state: State::Closed,
            failures: 0,
            successes: 0,
            open_until: 0,
            leases: Vec::new(),
            generation: 0,
            reopens: 0,
            last_seen: 0,
            next_lease: 0,
            since: 0,
            log: Vec::new(),
        }
    }

    /// The open wait after `reopens` re-opens: multiply step by step, stop at the cap.
    pub(crate) fn wait(&self) -> u64 {
        let mut wait = self.config.open_wait;
        let mut i = 0;
        while i < self.reopens && wait < self.config.open_wait_cap {
            wait = wait.saturating_mul(self.config.open_wait_factor as u64);
            i += 1;
        }
        if wait > self.config.open_wait_cap {
            wait = self.config.open_wait_cap;
        }
        wait
    }

    fn go(&mut self, to: State, now: u64, cause: Cause) {
        self.generation = self.generation.wrapping_add(1);
        self.log.push(ModelTransition {
            from: self.state,
            to,
            at: now,
            generation: self.generation,
            cause,
        });
        self.state = to;
        self.since = now;
        if to == State::Closed {
            self.failures = 0;
        }
        // Trials and their count belong to one HALF_OPEN period.
        self.successes = 0;
        self.leases.clear();
        if to == State::Open {
            self.open_until = now.saturating_add(self.wait());
        }
    }

    pub(crate) fn take_log(&mut self) -> Vec<ModelTransition> {
        std::mem::take(&mut self.log)
    }

    pub(crate) fn advance(&mut self, now: u64) {
        if now < self.last_seen {
            if self.state == State::Open {
                let latest = now.saturating_add(self.wait());
                if self.open_until > latest {
                    self.open_until = latest;
                }
            }
            if self.state == State::HalfOpen {
                let latest = now.saturating_add(self.config.lease);
                for lease in self.leases.iter_mut() {
                    if lease.1 > latest {
                        lease.1 = latest;
                    }
                }
            }
        }
        self.last_seen = now;
        if self.state == State::Open && now >= self.open_until {
            self.go(State::HalfOpen, now, Cause::OpenWaitElapsed);
        }
        if self.state == State::HalfOpen {
            self.leases.retain(|&(_, expires)| expires > now);
        }
    }

    pub(crate) fn acquire(&mut self, now: u64) -> ModelDecision {
        self.advance(now);
        if self.state == State::Closed {
            return ModelDecision::Permit(ModelPermit {
                generation: self.generation,
                lease: None,
                issued_at: now,
            });
        }
        if self.state == State::Open {
            return ModelDecision::Reject {
                state: State::Open,
                retry_at: Some(self.open_until),
            };
        }
        if self.state == State::ForcedOpen {
            return ModelDecision::Reject {
                state: State::ForcedOpen,
                retry_at: None,
            };
        }
        if (self.leases.len() as u32) < self.config.permits {
            let id = self.next_lease;
            self.next_lease = self.next_lease.wrapping_add(1);
            self.leases
                .push((id, now.saturating_add(self.config.lease)));
            return ModelDecision::Permit(ModelPermit {
                generation: self.generation,
                lease: Some(id),
                issued_at: now,
            });
        }
        let mut earliest = u64::MAX;
        for &(_, expires) in &self.leases {
            if expires < earliest {
                earliest = expires;
            }
        }
        ModelDecision::Reject {
            state: State::HalfOpen,
            retry_at: Some(earliest),
        }
    }

    /// Returns whether the outcome was counted.
    pub(crate) fn report(&mut self, permit: ModelPermit, outcome: ModelOutcome, now: u64) -> bool {
        self.advance(now);
        if permit.generation != self.generation {
            return false;
        }
        let mut outcome = outcome;
        if outcome == ModelOutcome::Success {
            if let Some(slow) = self.config.slow_call {
                if now >= permit.issued_at && now - permit.issued_at >= slow {
                    outcome = ModelOutcome::Outage;
                }
            }
        }
        if self.state == State::Closed && permit.lease.is_none() {
            if outcome == ModelOutcome::Success {
                self.failures = 0;
            }
            if outcome == ModelOutcome::Outage {
                self.failures += 1;
                if self.failures >= self.config.failure_threshold {
                    self.reopens = 0;
                    self.go(State::Open, now, Cause::FailureThreshold);
                }
            }
            return true;
        }
        if self.state == State::HalfOpen {
            let Some(id) = permit.lease else { return false };
            let Some(pos) = self.leases.iter().position(|&(held, _)| held == id) else {
                return false;
            };
            self.leases.remove(pos);
            if outcome == ModelOutcome::Success {
                self.successes += 1;
                if self.successes >= self.config.success_threshold {
                    self.reopens = 0;
                    self.go(State::Closed, now, Cause::TrialsSucceeded);
                }
            }
            if outcome == ModelOutcome::Outage {
                self.reopens += 1;
                self.go(State::Open, now, Cause::TrialFailed);
            }
            return true;
        }
        false
    }

    pub(crate) fn probe(&mut self, healthy: bool, now: u64) {
        self.advance(now);
        if self.state == State::Open && !healthy {
            let fresh = now.saturating_add(self.wait());
            if fresh > self.open_until {
                self.open_until = fresh;
            }
        }
        if self.state == State::Open && healthy {
            self.go(State::HalfOpen, now, Cause::ProbeHealthy);
        } else if self.state == State::HalfOpen && !healthy {
            self.reopens += 1;
            self.go(State::Open, now, Cause::ProbeUnhealthy);
        }
    }

    pub(crate) fn hold_open(&mut self, until: u64, now: u64) {
        self.advance(now);
        if self.state == State::Open && until > self.open_until {
            self.open_until = until;
        }
    }

    pub(crate) fn force_open(&mut self, now: u64) {
        self.advance(now);
        if self.state != State::ForcedOpen {
            self.go(State::ForcedOpen, now, Cause::ForcedOpen);
        }
    }

    pub(crate) fn reset(&mut self, now: u64) {
        self.advance(now);
        self.reopens = 0;
        if self.state == State::Closed {
            self.failures = 0;
        } else {
            self.go(State::Closed, now, Cause::Reset);
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Open => Some(self.open_until),
            State::HalfOpen => self.leases.iter().map(|&(_, expires)| expires).min(),
            _ => None,
        }
    }
}
