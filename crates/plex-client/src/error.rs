//! What went wrong talking to Plex, and what the worker should make of it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use scheduler::ErrorClass;

/// The kind of failure, precise enough to tell a user what to check.
///
/// Serialized as a snake_case name (`"refused"`, `"maintenance"`), or for the kinds that
/// carry a status as `{"rejected": {"status": 400}}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// 401 or 403 to a request that carried the token: the token was refused.
    Unauthorized,
    /// 401 or 403 to a request that carried no token: something in front of Plex (a reverse
    /// proxy, an authenticating gateway) demands credentials of its own.
    AuthenticationRequired,
    /// `/identity` is not there: the URL does not point at a Plex server.
    NotPlex,
    /// 404, or no item matched.
    NotFound,
    /// 429: the server asks to slow down.
    RateLimited,
    /// 400, 409 or 412: the request itself was refused.
    Rejected {
        /// The status code.
        status: u16,
    },
    /// 3xx: Plex's URL sends clients elsewhere (a reverse proxy sending `http` to `https`,
    /// say). plexsync follows no redirect: the URL must be changed to where it points.
    Redirect {
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
    /// The one class the worker acts on: this is the one place that decides whether a
    /// failure is Plex's health (an outage), the job's own, or the settings'.
    pub fn class(self) -> ErrorClass {
        match self {
            FailureKind::Refused | FailureKind::Dns | FailureKind::ConnectTimeout => {
                ErrorClass::ServerDown
            }
            FailureKind::ReadTimeout
            | FailureKind::ConnectionLost
            | FailureKind::Maintenance
            | FailureKind::RateLimited => ErrorClass::Outage,
            FailureKind::UnexpectedStatus { status } if status >= 500 => ErrorClass::Outage,
            FailureKind::InvalidBody | FailureKind::BodyTooLarge => ErrorClass::Transient,
            FailureKind::NotFound => ErrorClass::NotFound,
            FailureKind::Unauthorized
            | FailureKind::AuthenticationRequired
            | FailureKind::NotPlex
            | FailureKind::Tls
            | FailureKind::Redirect { .. } => ErrorClass::Configuration,
            FailureKind::Rejected { .. } | FailureKind::UnexpectedStatus { .. } => {
                ErrorClass::Permanent
            }
        }
    }

    /// Whether the failure says the settings are wrong (the token, the URL, the certificate),
    /// rather than anything about the health of Plex: trying again cannot help until the user
    /// changes something, and it is not an outage.
    pub fn is_configuration(self) -> bool {
        self.class() == ErrorClass::Configuration
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
            FailureKind::AuthenticationRequired => "authentication required",
            FailureKind::NotPlex => "not plex",
            FailureKind::NotFound => "not found",
            FailureKind::RateLimited => "rate limited",
            FailureKind::Rejected { .. } => "rejected",
            FailureKind::Redirect { .. } => "redirect",
            FailureKind::UnexpectedStatus { .. } => "unexpected status",
            FailureKind::InvalidBody => "invalid body",
            FailureKind::BodyTooLarge => "body too large",
        }
    }

    fn hint(self) -> &'static str {
        match self {
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
            FailureKind::AuthenticationRequired => {
                "something in front of Plex (a reverse proxy?) demands authentication for a request that needs none; let plexsync reach Plex directly, or allow /identity through (a configuration error, not an outage)"
            }
            FailureKind::NotPlex => {
                "there is no Plex server at this URL (/identity is not there): check the Plex URL's host, port and path (a configuration error, not an outage)"
            }
            FailureKind::NotFound => "not found in Plex (it may not have been scanned yet)",
            FailureKind::RateLimited => "Plex asked us to slow down",
            FailureKind::Rejected { .. } => "Plex refused the request as invalid",
            FailureKind::Redirect { .. } => {
                "the Plex URL redirects elsewhere (a reverse proxy sending http to https?): set the Plex URL to where it points (a configuration error, not an outage)"
            }
            FailureKind::UnexpectedStatus { .. } => "Plex answered with an unexpected status",
            FailureKind::InvalidBody => "Plex's answer could not be understood",
            FailureKind::BodyTooLarge => "Plex's answer was larger than the configured limit",
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
///
/// Serialized as `{"kind", "class", "url", "detail", "retry_after_ms", "message"}`; the class
/// and the message are derived, and ignored when read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlexError {
    kind: FailureKind,
    url: String,
    detail: String,
    retry_after: Option<Duration>,
}

impl PlexError {
    /// A failure of `kind` for the request to `url` (shown to users: it must carry no
    /// credentials and no query), with `detail` saying what was seen, e.g. `HTTP 503`.
    pub fn new(kind: FailureKind, url: impl Into<String>, detail: impl Into<String>) -> Self {
        PlexError {
            kind,
            url: url.into(),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// The same failure, with how long the server asked to be left alone.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// What happened.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What the worker should do about it.
    pub fn class(&self) -> ErrorClass {
        self.kind.class()
    }

    /// Whether the settings are wrong; see [`FailureKind::is_configuration`].
    pub fn is_configuration(&self) -> bool {
        self.kind.is_configuration()
    }

    /// The request's URL, without credentials or query.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What was seen, e.g. `HTTP 503 Service Unavailable`.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The `Retry-After` of a 429 or 503 answer, if the server sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for PlexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plex at {}: {}", self.url, self.kind.hint())?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        if let Some(wait) = self.retry_after {
            write!(f, "; it asked for {} s before the next try", wait.as_secs())?;
        }
        Ok(())
    }
}

impl std::error::Error for PlexError {}

#[derive(Serialize, Deserialize)]
struct PlexErrorData {
    kind: FailureKind,
    #[serde(default, skip_deserializing)]
    class: Option<ErrorClass>,
    url: String,
    #[serde(default)]
    detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
    #[serde(default, skip_deserializing)]
    message: String,
}

impl Serialize for PlexError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        PlexErrorData {
            kind: self.kind,
            class: Some(self.class()),
            url: self.url.clone(),
            detail: self.detail.clone(),
            retry_after_ms: self.retry_after.map(|d| d.as_millis() as u64),
            message: self.to_string(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PlexError {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let data = PlexErrorData::deserialize(deserializer)?;
        Ok(PlexError::new(data.kind, data.url, data.detail)
            .with_retry_after(data.retry_after_ms.map(Duration::from_millis)))
    }
}

/// A duration for people: `250 ms`, `5 s`, `1.5 s` (never `4.999998397s`).
pub(crate) fn human(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..=999 => format!("{ms} ms"),
        _ if ms % 1_000 < 50 || ms % 1_000 >= 950 => format!("{} s", (ms + 500) / 1_000),
        _ => format!("{:.1} s", d.as_secs_f64()),
    }
}

#[cfg(test)]
mod human_tests {
    use super::human;
    use std::time::Duration;

    proptest::proptest! {
        /// Any duration reads as a person would write it: a number and `ms` or `s`, with at
        /// most one decimal, and within 50 ms of the truth.
        #[test]
        fn durations_read_as_people_write_them(nanos in 0u64..86_400_000_000_000) {
            let d = Duration::from_nanos(nanos);
            let text = human(d);
            let (number, unit) = text.split_once(' ').unwrap();
            let value: f64 = number.parse().unwrap();
            let decimals = number.split_once('.').map_or(0, |(_, f)| f.len());
            proptest::prop_assert!(decimals <= 1, "{}", text);
            let ms = match unit {
                "ms" => value,
                "s" => value * 1_000.0,
                other => return Err(proptest::test_runner::TestCaseError::fail(other.to_owned())),
            };
            proptest::prop_assert!((ms - d.as_secs_f64() * 1_000.0).abs() <= 50.0, "{} for {:?}", text, d);
        }
    }

    #[test]
    fn a_deadline_just_short_of_five_seconds_is_five_seconds() {
        assert_eq!(human(Duration::from_nanos(4_999_998_397)), "5 s");
        assert_eq!(human(Duration::from_millis(1_500)), "1.5 s");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }
}
