//! What went wrong talking to Plex, and what the worker should make of it.

use std::fmt;
use std::time::Duration;

pub use scheduler::ErrorClass;

/// The kind of failure, precise enough to tell a user what to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// Nothing listens on the port.
    Refused,
    /// The host name did not resolve.
    Dns,
    /// No TCP connection within the connect timeout.
    ConnectTimeout,
    /// Connected, but the server did not answer in time.
    ReadTimeout,
    /// The TLS handshake failed (certificate not trusted, wrong protocol).
    Tls,
    /// The connection was closed or reset before a whole response arrived.
    ConnectionLost,
    /// Plex answered 503 while it runs startup or database maintenance.
    Maintenance,
    /// 401 or 403: the token was refused.
    Unauthorized,
    /// 404, or no item matched.
    NotFound,
    /// 429, possibly with how long to wait.
    RateLimited {
        /// The `Retry-After` delay, if the server sent one.
        retry_after: Option<Duration>,
    },
    /// 400, 409 or 412: the request itself was refused.
    Rejected {
        /// The status code.
        status: u16,
    },
    /// Any other status that is not a success.
    UnexpectedStatus {
        /// The status code.
        status: u16,
    },
    /// The response was not what Plex sends.
    InvalidBody,
    /// The response was larger than the configured limit.
    BodyTooLarge,
}

impl FailureKind {
    /// The one class the worker acts on.
    pub fn class(self) -> ErrorClass {
        match self {
            FailureKind::Refused | FailureKind::Dns | FailureKind::ConnectTimeout => {
                ErrorClass::ServerDown
            }
            FailureKind::ReadTimeout
            | FailureKind::ConnectionLost
            | FailureKind::Maintenance
            | FailureKind::RateLimited { .. }
            | FailureKind::InvalidBody
            | FailureKind::BodyTooLarge => ErrorClass::Transient,
            FailureKind::UnexpectedStatus { status } if status >= 500 => ErrorClass::Transient,
            FailureKind::NotFound => ErrorClass::NotFound,
            FailureKind::Unauthorized
            | FailureKind::Tls
            | FailureKind::Rejected { .. }
            | FailureKind::UnexpectedStatus { .. } => ErrorClass::Permanent,
        }
    }

    /// A short name for reports: `refused`, `maintenance`, `unauthorized`, …
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::Dns => "dns",
            FailureKind::ConnectTimeout => "connect timeout",
            FailureKind::ReadTimeout => "read timeout",
            FailureKind::Tls => "tls",
            FailureKind::ConnectionLost => "connection lost",
            FailureKind::Maintenance => "maintenance",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::NotFound => "not found",
            FailureKind::RateLimited { .. } => "rate limited",
            FailureKind::Rejected { .. } => "rejected",
            FailureKind::UnexpectedStatus { .. } => "unexpected status",
            FailureKind::InvalidBody => "invalid body",
            FailureKind::BodyTooLarge => "body too large",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed request to Plex. The message names the (redacted) URL and says what to do; it
/// never contains the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlexError {
    kind: FailureKind,
    url: String,
    detail: String,
}

impl PlexError {
    pub(crate) fn new(
        kind: FailureKind,
        url: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        PlexError {
            kind,
            url: url.into(),
            detail: detail.into(),
        }
    }

    /// What happened.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What the worker should do about it.
    pub fn class(&self) -> ErrorClass {
        self.kind.class()
    }

    /// The request's URL, without credentials or query.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for PlexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = match self.kind {
            FailureKind::Refused => {
                "nothing is listening: is Plex running, and is the URL's port right?"
            }
            FailureKind::Dns => "the host name does not resolve: check the Plex URL",
            FailureKind::ConnectTimeout => "no connection in time: Plex may be down or unreachable",
            FailureKind::ReadTimeout => "Plex accepted the connection but did not answer in time",
            FailureKind::Tls => {
                "TLS failed: check the certificate, or use http:// for a local server"
            }
            FailureKind::ConnectionLost => "the connection closed before Plex finished answering",
            FailureKind::Maintenance => "Plex is starting up or running database maintenance",
            FailureKind::Unauthorized => {
                "the Plex token was refused: check the token setting (a configuration error, not an outage)"
            }
            FailureKind::NotFound => "not found in Plex (it may not have been scanned yet)",
            FailureKind::RateLimited { .. } => "Plex asked us to slow down",
            FailureKind::Rejected { .. } => "Plex refused the request as invalid",
            FailureKind::UnexpectedStatus { .. } => "Plex answered with an unexpected status",
            FailureKind::InvalidBody => "Plex's answer could not be understood",
            FailureKind::BodyTooLarge => "Plex's answer was larger than the configured limit",
        };
        write!(f, "Plex at {}: {hint}", self.url)?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for PlexError {}
