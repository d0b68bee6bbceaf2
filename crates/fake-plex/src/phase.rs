//! What a Plex server is doing: the one vocabulary shared by the fake server, the outage
//! simulator and the engine's tests.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// One phase of a Plex server's life, from the outside: what a client meets when it connects
/// and asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerPhase {
    /// The port is closed: every connection is refused at once (Plex stopped, restarting).
    Refused,
    /// Nothing answers a connection: it hangs until the connect timeout (host down, network
    /// gone, a firewall dropping packets).
    Unreachable,
    /// Connections are accepted and nothing is ever answered: every request runs into its
    /// deadline (a hung process, or a port open before the HTTP server is).
    Silent,
    /// HTTP answers, but every request, `/identity` included, gets 503 Maintenance (database
    /// migrations at start-up).
    Maintenance,
    /// `/identity` answers; everything that needs the library still gets 503 (partial
    /// readiness: the HTTP server is up before the database).
    Starting,
    /// `/identity` answers; every request that needs the library hangs (a database
    /// optimisation holding its lock).
    Optimizing,
    /// Every request is answered, slowly.
    Slow,
    /// Ready, but the token is refused (401): a configuration error, not an outage.
    TokenRevoked,
    /// Ready.
    Ready,
}

/// A name that is not a [`ServerPhase`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPhase(String);

impl fmt::Display for UnknownPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ServerPhase::ALL.iter().map(|p| p.as_str()).collect();
        write!(
            f,
            "unknown phase {:?}; the phases are {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPhase {}

impl ServerPhase {
    /// Every phase, in the order pictures draw them.
    pub const ALL: [ServerPhase; 9] = [
        ServerPhase::Refused,
        ServerPhase::Unreachable,
        ServerPhase::Silent,
        ServerPhase::Maintenance,
        ServerPhase::Starting,
        ServerPhase::Optimizing,
        ServerPhase::Slow,
        ServerPhase::TokenRevoked,
        ServerPhase::Ready,
    ];

    /// A short name. [`FromStr`] reads it, with `-` for a space as well.
    pub fn as_str(self) -> &'static str {
        match self {
            ServerPhase::Refused => "refused",
            ServerPhase::Unreachable => "unreachable",
            ServerPhase::Silent => "silent",
            ServerPhase::Maintenance => "maintenance",
            ServerPhase::Starting => "starting",
            ServerPhase::Optimizing => "optimizing",
            ServerPhase::Slow => "slow",
            ServerPhase::TokenRevoked => "token revoked",
            ServerPhase::Ready => "ready",
        }
    }

    /// The server runs and takes connections, but cannot do work: a request there costs it
    /// something, unlike a refused or unreachable port.
    pub fn is_live_not_ready(self) -> bool {
        match self {
            ServerPhase::Silent
            | ServerPhase::Maintenance
            | ServerPhase::Starting
            | ServerPhase::Optimizing
            | ServerPhase::Slow => true,
            ServerPhase::Refused
            | ServerPhase::Unreachable
            | ServerPhase::TokenRevoked
            | ServerPhase::Ready => false,
        }
    }

    /// Plex cannot do work for anyone (a refused token is the user's trouble, not the
    /// server's).
    pub fn is_outage(self) -> bool {
        !matches!(self, ServerPhase::Ready | ServerPhase::TokenRevoked)
    }

    /// `/identity` answers 200.
    pub fn identity_answers(self) -> bool {
        matches!(
            self,
            ServerPhase::Starting
                | ServerPhase::Optimizing
                | ServerPhase::Slow
                | ServerPhase::TokenRevoked
                | ServerPhase::Ready
        )
    }
}

impl fmt::Display for ServerPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServerPhase {
    type Err = UnknownPhase;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServerPhase::ALL
            .into_iter()
            .find(|p| p.as_str() == s || p.as_str().replace(' ', "-") == s)
            .ok_or_else(|| UnknownPhase(s.to_owned()))
    }
}
