//! What Plex says of itself while nothing fails: the notices a watch on Plex's notification
//! socket hears (or, where the socket cannot be opened, a light look at `/identity` now and
//! then), as the engine takes them.

use serde::{Deserialize, Serialize};

/// One thing the watch heard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// The watch reaches Plex, `via` the socket or the light check.
    Connected {
        /// How it watches.
        via: WatchVia,
    },
    /// The watch lost Plex: the socket closed or stopped answering, or the light check
    /// failed. Probes look at once; this alone never opens the breaker.
    Lost,
    /// Plex began an activity: a database optimisation holds its library (`optimising`),
    /// anything else (a library scan) only keeps it busy.
    Activity {
        /// Plex's id for it.
        id: String,
        /// What Plex calls it, e.g. `Optimizing database`.
        title: String,
        /// Whether it holds the library: requests that need it wait.
        optimising: bool,
    },
    /// An activity ended.
    ActivityEnded {
        /// Plex's id for it.
        id: String,
    },
}

/// How the watch watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchVia {
    /// Plex's notification WebSocket.
    Socket,
    /// A light `/identity` check every few minutes (the socket could not be opened).
    Light,
}

impl WatchVia {
    /// In words.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchVia::Socket => "notification socket",
            WatchVia::Light => "light check of /identity",
        }
    }
}

/// What the state file keeps of the watch, for `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    /// How it watches (the last way that reached Plex).
    pub via: Option<WatchVia>,
    /// Whether it reaches Plex now.
    pub connected: bool,
    /// Since when it has (or has not).
    pub since: u64,
    /// A database optimisation Plex announced and has not yet said is over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimising: Option<Announced>,
    /// Other activities Plex announced and has not yet said are over (a library scan): Plex
    /// is busy, and holds nothing (at most [`KEPT_BUSY`], the latest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub busy: Vec<Announced>,
}

/// Activities besides an optimisation kept in [`WatchState::busy`].
pub const KEPT_BUSY: usize = 8;

/// An activity Plex announced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announced {
    /// Plex's id for the activity.
    pub id: String,
    /// What Plex calls it.
    pub title: String,
    /// When it was heard of.
    pub since: u64,
}
