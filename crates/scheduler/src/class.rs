//! The one vocabulary for failures: what kind of failure a job met, and so whose it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of failure a job met. Every failure plexsync meets has exactly one class; the
/// class says whose trouble it is ([`Scope`]) and which [`RetryRule`](crate::RetryRule)
/// applies. Stored by its [`ErrorClass::as_str`] name (`server_down`, `not_found`, …), which
/// [`FromStr`] reads back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Refused, DNS, connect timeout: nothing is there to answer. An outage.
    ServerDown,
    /// Something answered but could not work: a read timeout, a connection cut short, a 5xx,
    /// maintenance, a request to slow down. An outage.
    Outage,
    /// An answer that could not be used (malformed, too large): this job's, worth trying
    /// again soon.
    Transient,
    /// Plex answers, but fails this one item while it serves others (a 5xx on the same job,
    /// again and again): the job's own failure, not an outage.
    ItemError,
    /// The item is not in Plex (yet): worth trying again after a library scan.
    NotFound,
    /// Plex refused the request as invalid: trying again cannot help.
    Permanent,
    /// The settings are wrong (the token refused, no Plex at the URL, a certificate, a
    /// redirect): nothing is retried until the user changes something, and it is not an
    /// outage.
    Configuration,
    /// The queued job cannot be read by this version: it can never run.
    InvalidJob,
    /// The job was put back untouched because the breaker stopped admitting calls between
    /// its lease and its request (another process changed it).
    Deferred,
}

/// Whose trouble a failure is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Plex's health: the breaker counts it, and it never spends a job's retries under
    /// plexsync's defaults.
    Server,
    /// The job's own: it spends the job's retries, and the breaker leaves it alone.
    Job,
    /// The user's settings: work stops until they are put right.
    Settings,
    /// Nobody's: the job was not tried.
    None,
}

/// A name that is not an [`ErrorClass`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown failure class {given:?}; the classes are {}",
    ErrorClass::names()
)]
pub struct UnknownClass {
    given: String,
}

impl ErrorClass {
    /// Every class, in the order reports list them.
    pub const ALL: [ErrorClass; 9] = [
        ErrorClass::ServerDown,
        ErrorClass::Outage,
        ErrorClass::Transient,
        ErrorClass::ItemError,
        ErrorClass::NotFound,
        ErrorClass::Permanent,
        ErrorClass::Configuration,
        ErrorClass::InvalidJob,
        ErrorClass::Deferred,
    ];

    /// The name it is stored and shown under.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ServerDown => "server_down",
            ErrorClass::Outage => "outage",
            ErrorClass::Transient => "transient",
            ErrorClass::ItemError => "item_error",
            ErrorClass::NotFound => "not_found",
            ErrorClass::Permanent => "permanent",
            ErrorClass::Configuration => "configuration",
            ErrorClass::InvalidJob => "invalid_job",
            ErrorClass::Deferred => "deferred",
        }
    }

    /// Whose trouble it is.
    pub fn scope(self) -> Scope {
        match self {
            ErrorClass::ServerDown | ErrorClass::Outage => Scope::Server,
            ErrorClass::Transient
            | ErrorClass::ItemError
            | ErrorClass::NotFound
            | ErrorClass::Permanent
            | ErrorClass::InvalidJob => Scope::Job,
            ErrorClass::Configuration => Scope::Settings,
            ErrorClass::Deferred => Scope::None,
        }
    }

    /// Whether it says Plex is unwell (and so counts against the breaker).
    pub fn is_outage(self) -> bool {
        self.scope() == Scope::Server
    }

    /// Every name, comma-separated, for messages.
    pub fn names() -> String {
        ErrorClass::ALL.map(ErrorClass::as_str).join(", ")
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ErrorClass {
    type Err = UnknownClass;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownClass {
                given: s.to_owned(),
            })
    }
}
