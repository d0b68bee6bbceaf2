//! The watch's notices: Plex said something of itself while nothing failed. A socket that
//! closes makes the probes look at once (the breaker still learns only from them); a
//! database optimisation Plex announces holds back everything that needs its library until
//! Plex says it is over, with a deep look now and then in case that word was missed.

use breaker_core::State;

use super::Engine;
use crate::event::{Event, WatchEvent};
use crate::state::EngineState;
use crate::watch::{Announced, KEPT_BUSY, Notice, WatchState};

/// While an announced optimisation lasts, a deep probe looks this often all the same: the
/// notice of its end may have been missed.
pub(super) const OPTIMISING_LOOK_MS: u64 = 10 * 60_000;

impl Engine {
    pub(super) fn noticed(&mut self, state: &mut EngineState, notice: Notice, now: u64) {
        let breaker_closed = self.breaker(state).state() == State::Closed;
        let watch = state.watch.get_or_insert(WatchState {
            via: None,
            connected: false,
            since: now,
            optimising: None,
            busy: Vec::new(),
        });
        match notice {
            Notice::Connected { via } => {
                let first = watch.via.is_none();
                let changed = !watch.connected || watch.via != Some(via);
                if changed {
                    watch.connected = true;
                    watch.via = Some(via);
                    watch.since = now;
                    self.events.push_back(Event::Watch {
                        at: now,
                        what: WatchEvent::Connected { via, first },
                    });
                }
                // Plex answers again: look now rather than at the next probe.
                if !breaker_closed {
                    self.probe_asked = true;
                }
            }
            Notice::Lost => {
                if watch.connected {
                    watch.connected = false;
                    watch.since = now;
                }
                // Their ends will not be announced on a socket that closed.
                watch.optimising = None;
                watch.busy.clear();
                self.events.push_back(Event::Watch {
                    at: now,
                    what: WatchEvent::Lost,
                });
                self.probe_asked = true;
                self.probe_counts = breaker_closed;
            }
            Notice::Activity {
                id,
                title,
                optimising: true,
            } => {
                if watch.optimising.as_ref().is_none_or(|o| o.id != id) {
                    self.events.push_back(Event::Watch {
                        at: now,
                        what: WatchEvent::Optimising {
                            title: title.clone(),
                        },
                    });
                }
                watch.optimising = Some(Announced {
                    id,
                    title,
                    since: now,
                });
            }
            Notice::Activity { id, title, .. } => {
                watch.busy.retain(|b| b.id != id);
                watch.busy.push(Announced {
                    id,
                    title,
                    since: now,
                });
                if watch.busy.len() > KEPT_BUSY {
                    watch.busy.remove(0);
                }
            }
            Notice::ActivityEnded { id } => {
                watch.busy.retain(|b| b.id != id);
                if watch.optimising.as_ref().is_some_and(|o| o.id == id) {
                    let over = watch.optimising.take().expect("just checked");
                    self.events.push_back(Event::Watch {
                        at: now,
                        what: WatchEvent::Optimised {
                            title: over.title,
                            took_ms: now.saturating_sub(over.since),
                        },
                    });
                    self.forget_queue();
                    if !breaker_closed {
                        self.probe_asked = true;
                    }
                }
            }
        }
    }

    /// While Plex says it is optimising its database: when to look deep all the same, if
    /// nothing that needs the library may go out before then.
    pub(super) fn optimising_until(&self, state: &EngineState) -> Option<u64> {
        if !self.policy.engine.watch_plex {
            return None;
        }
        let busy = state.watch.as_ref()?.optimising.as_ref()?;
        let looked = state
            .probes
            .back()
            .map_or(busy.since, |p| p.at.max(busy.since));
        Some(looked.saturating_add(OPTIMISING_LOOK_MS))
    }
}
