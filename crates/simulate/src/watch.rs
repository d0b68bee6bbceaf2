//! The watch on Plex, as `plexsync run` keeps it, modelled on the server's timeline: what
//! its notification socket would say, and when.
//!
//! - A server that stops or restarts (refused, maintenance) closes the socket at once; a
//!   token revoked leaves an open one open (it was let in), and lets no new one in.
//! - A host or a process that goes silent (unreachable, hung) is noticed when the socket's
//!   ping goes unanswered: [`PING_NOTICE_MS`] later, if it has not come back by then.
//! - The watch reconnects 1 s after losing Plex, then 2, 4, 8 s apart, then every 10 s,
//!   and gets through when Plex answers HTTP (ready, starting, optimising, slow).
//! - A database optimisation (optimizing) is announced when it starts and when it ends;
//!   the stage where `/identity` answers before the library (starting) is not an activity
//!   and is not announced.

use std::collections::VecDeque;

use engine::{Notice, WatchVia};
use fake_plex::ServerPhase;

use crate::timeline::Timeline;

/// How long a silent socket takes to be noticed: the ping interval and its grace.
pub(crate) const PING_NOTICE_MS: u64 = 40_000;
/// The reconnection backoff: the first wait, and the longest.
const RECONNECT_FIRST_MS: u64 = 1_000;
const RECONNECT_CAP_MS: u64 = 10_000;
/// The id the simulated optimisation has.
const OPTIMISE_ID: &str = "optimize-database";

/// Whether a connection to the socket gets through in `phase`.
fn upgrades(phase: ServerPhase) -> bool {
    matches!(
        phase,
        ServerPhase::Ready | ServerPhase::Starting | ServerPhase::Optimizing | ServerPhase::Slow
    )
}

/// Whether `phase` closes an open socket at once.
fn closes(phase: ServerPhase) -> bool {
    matches!(phase, ServerPhase::Refused | ServerPhase::Maintenance)
}

/// Whether `phase` leaves the socket open but answering nothing.
fn silences(phase: ServerPhase) -> bool {
    matches!(phase, ServerPhase::Unreachable | ServerPhase::Silent)
}

/// Every notice from `start` to `limit`, in time order.
pub(crate) fn notices(timeline: &Timeline, start: u64, limit: u64) -> VecDeque<(u64, Notice)> {
    let mut out = VecDeque::new();
    let mut now = start;
    let mut connected = false;
    let mut optimising = false;
    // The next reconnection attempt, while not connected.
    let mut attempt = Some((start, RECONNECT_FIRST_MS));
    let announce = |out: &mut VecDeque<(u64, Notice)>, at: u64| {
        out.push_back((
            at,
            Notice::Activity {
                id: OPTIMISE_ID.into(),
                title: "Optimizing database".into(),
                optimising: true,
            },
        ));
    };
    while now < limit {
        let phase = timeline.at(now);
        let change = timeline.next_change(now).unwrap_or(u64::MAX).min(limit);
        if connected {
            if optimising && phase != ServerPhase::Optimizing {
                optimising = false;
                out.push_back((
                    now,
                    Notice::ActivityEnded {
                        id: OPTIMISE_ID.into(),
                    },
                ));
            }
            if phase == ServerPhase::Optimizing && !optimising {
                optimising = true;
                announce(&mut out, now);
            }
            let lost_at = if closes(phase) {
                Some(now)
            } else if silences(phase) {
                // Noticed only if it lasts until the ping gives up.
                let at = now.saturating_add(PING_NOTICE_MS);
                (at < change).then_some(at)
            } else {
                None
            };
            if let Some(at) = lost_at {
                connected = false;
                optimising = false;
                out.push_back((at, Notice::Lost));
                attempt = Some((at.saturating_add(RECONNECT_FIRST_MS), RECONNECT_FIRST_MS));
                now = at;
                continue;
            }
            now = change;
            continue;
        }
        let Some((at, wait)) = attempt else {
            now = change;
            continue;
        };
        if at >= limit {
            break;
        }
        if at >= change {
            // The phase changes before the attempt: go to the change first.
            now = change;
            continue;
        }
        if upgrades(timeline.at(at)) {
            connected = true;
            attempt = None;
            out.push_back((
                at,
                Notice::Connected {
                    via: WatchVia::Socket,
                },
            ));
            if timeline.at(at) == ServerPhase::Optimizing {
                // On connecting, the watch asks what is going on.
                optimising = true;
                announce(&mut out, at);
            }
            now = at;
            continue;
        }
        let next = (wait * 2).min(RECONNECT_CAP_MS);
        let mut following = at.saturating_add(next);
        if next == RECONNECT_CAP_MS && following < change {
            // Every attempt fails until the phase changes: skip to the first after it.
            following += (change - following).div_ceil(next) * next;
        }
        attempt = Some((following, next));
        now = at;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000;

    fn kinds(n: &VecDeque<(u64, Notice)>) -> Vec<(u64, &'static str)> {
        n.iter()
            .map(|(at, n)| {
                (
                    *at,
                    match n {
                        Notice::Connected { .. } => "connected",
                        Notice::Lost => "lost",
                        Notice::Activity { .. } => "optimising",
                        Notice::ActivityEnded { .. } => "done",
                    },
                )
            })
            .collect()
    }

    #[test]
    fn a_restart_closes_the_socket_and_the_watch_gets_back_when_plex_answers() {
        let t = Timeline::new(vec![
            (100 * S, ServerPhase::Refused),
            (120 * S, ServerPhase::Maintenance),
            (200 * S, ServerPhase::Ready),
        ]);
        let n = notices(&t, 0, 1_000 * S);
        let k = kinds(&n);
        assert_eq!(k[0], (0, "connected"));
        assert_eq!(k[1], (100 * S, "lost"));
        // Attempts at 101, 103, 107, 115, 125, 135, ... s: the first after 200 s is 205 s.
        assert_eq!(k[2], (205 * S, "connected"));
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn a_silent_host_is_noticed_by_the_ping_and_a_short_one_not_at_all() {
        let t = Timeline::new(vec![
            (100 * S, ServerPhase::Unreachable),
            (300 * S, ServerPhase::Ready),
            (400 * S, ServerPhase::Silent),
            (420 * S, ServerPhase::Ready),
        ]);
        let k = kinds(&notices(&t, 0, 1_000 * S));
        assert_eq!(k[1], (100 * S + PING_NOTICE_MS, "lost"));
        assert!(k[2].1 == "connected" && k[2].0 >= 300 * S && k[2].0 <= 310 * S);
        assert_eq!(
            k.len(),
            3,
            "20 s of silence is over before the ping gives up"
        );
    }

    #[test]
    fn an_optimisation_is_announced_at_both_ends() {
        let t = Timeline::new(vec![
            (100 * S, ServerPhase::Optimizing),
            (900 * S, ServerPhase::Ready),
        ]);
        let k = kinds(&notices(&t, 0, 2_000 * S));
        assert_eq!(
            k,
            vec![(0, "connected"), (100 * S, "optimising"), (900 * S, "done")]
        );
    }
}
