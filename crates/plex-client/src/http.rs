//! One request to Plex: headers, timeouts, the body limit, and turning every failure into a
//! [`FailureKind`].

use std::error::Error as _;
use std::io;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

use crate::config::{ConfigError, PlexConfig, redact};
use crate::error::{FailureKind, PlexError};

/// Bodies read from error responses are capped far lower: only a few markers matter.
const ERROR_BODY_LIMIT: usize = 64 << 10;

#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    config: PlexConfig,
    token: HeaderValue,
}

impl Transport {
    pub(crate) fn new(config: PlexConfig) -> Result<Transport, ConfigError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let fixed = [
            ("x-plex-client-identifier", config.client_id.as_str()),
            ("x-plex-product", "plexsync"),
            ("x-plex-version", env!("CARGO_PKG_VERSION")),
            ("x-plex-platform", std::env::consts::OS),
            ("x-plex-device-name", "plexsync"),
        ];
        for (name, value) in fixed {
            let value = HeaderValue::from_str(value)
                .map_err(|_| ConfigError::new(format!("{name} cannot be sent as a header")))?;
            headers.insert(HeaderName::from_static(name), value);
        }
        let mut token = HeaderValue::from_str(config.token.expose())
            .map_err(|_| ConfigError::new("the Plex token cannot be sent as a header"))?;
        token.set_sensitive(true);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .danger_accept_invalid_certs(config.accept_invalid_certs)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|e| ConfigError::new(format!("could not set up HTTP: {e}")))?;
        Ok(Transport {
            http,
            config,
            token,
        })
    }

    pub(crate) fn config(&self) -> &PlexConfig {
        &self.config
    }

    /// The URL for `path` (which starts with `/`) under the base URL, which may itself have a
    /// path (a reverse proxy).
    pub(crate) fn url(&self, path: &str) -> Url {
        let mut url = self.config.base_url.clone();
        let joined = format!("{}{}", url.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    /// Sends one request and returns the body of a successful answer.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Vec<u8>, PlexError> {
        let shown = redact(&request.url);
        let mut builder = self
            .http
            .request(request.method, request.url)
            .timeout(request.timeout);
        if request.authenticated {
            builder = builder.header("x-plex-token", self.token.clone());
        }
        for (name, value) in request.headers {
            builder = builder.header(*name, value.as_str());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| PlexError::new(classify(&e), &shown, cause(&e)))?;
        let status = response.status();
        if status.is_success() {
            return read_body(response, self.config.max_body_bytes, &shown).await;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = read_body(response, ERROR_BODY_LIMIT, &shown)
            .await
            .unwrap_or_default();
        Err(status_error(status, retry_after, &body, &shown))
    }
}

/// A request about to be sent.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) authenticated: bool,
    pub(crate) timeout: Duration,
    pub(crate) headers: &'a [(&'static str, String)],
}

async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    shown: &str,
) -> Result<Vec<u8>, PlexError> {
    let too_large = || {
        PlexError::new(
            FailureKind::BodyTooLarge,
            shown,
            format!("over {limit} bytes"),
        )
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| PlexError::new(classify(&e), shown, cause(&e)))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a 503 body is Plex's maintenance answer (as Kometa recognises it).
pub(crate) fn is_maintenance(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    [
        "title=\"maintenance\"",
        "startup maintenance tasks",
        "currently running maintenance tasks",
        "running database migrations",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

pub(crate) fn status_error(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
    shown: &str,
) -> PlexError {
    let code = status.as_u16();
    let kind = match code {
        503 if is_maintenance(body) => FailureKind::Maintenance,
        401 | 403 => FailureKind::Unauthorized,
        404 => FailureKind::NotFound,
        429 => FailureKind::RateLimited { retry_after },
        400 | 409 | 412 => FailureKind::Rejected { status: code },
        _ => FailureKind::UnexpectedStatus { status: code },
    };
    PlexError::new(kind, shown, format!("HTTP {status}"))
}

/// Names a transport failure by walking the error's causes.
pub(crate) fn classify(err: &reqwest::Error) -> FailureKind {
    let chain = causes(err);
    let io_kind = io_kind(err);
    if err.is_timeout() || io_kind == Some(io::ErrorKind::TimedOut) {
        return if err.is_connect() {
            FailureKind::ConnectTimeout
        } else {
            FailureKind::ReadTimeout
        };
    }
    if err.is_connect() {
        if has_tls_cause(err) {
            return FailureKind::Tls;
        }
        return connect_kind(io_kind, &chain);
    }
    if err.is_decode() {
        return FailureKind::InvalidBody;
    }
    FailureKind::ConnectionLost
}

/// A connection that never got established: refused, unresolved, or a failed handshake.
pub(crate) fn connect_kind(io_kind: Option<io::ErrorKind>, chain: &str) -> FailureKind {
    if io_kind == Some(io::ErrorKind::ConnectionRefused) {
        FailureKind::Refused
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        FailureKind::Dns
    } else if ["certificate", "tls", "ssl", "handshake"]
        .iter()
        .any(|w| chain.contains(w))
    {
        FailureKind::Tls
    } else if io_kind == Some(io::ErrorKind::TimedOut) {
        FailureKind::ConnectTimeout
    } else {
        FailureKind::Refused
    }
}

/// Every cause of `err`, outermost first. An I/O error that wraps another error hides it
/// from `source()`, so the walk looks inside with `get_ref`.
fn causes_of(err: &reqwest::Error) -> Vec<&(dyn std::error::Error + 'static)> {
    let mut found = Vec::new();
    let mut next = err.source();
    while let Some(e) = next {
        found.push(e);
        next = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    found
}

/// Whether a rustls error is among the causes.
fn has_tls_cause(err: &reqwest::Error) -> bool {
    causes_of(err).iter().any(|e| e.is::<rustls::Error>())
}

/// The innermost I/O error's kind among the causes.
fn io_kind(err: &reqwest::Error) -> Option<io::ErrorKind> {
    causes_of(err)
        .iter()
        .rev()
        .find_map(|e| e.downcast_ref::<io::Error>().map(io::Error::kind))
}

/// Every cause's message, lower-cased and joined; reqwest's own message names the URL, so
/// only the causes are used.
fn causes(err: &reqwest::Error) -> String {
    causes_of(err)
        .iter()
        .map(|e| e.to_string().to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(": ")
}

/// The innermost cause, for the error detail (reqwest's own message would name the URL).
fn cause(err: &reqwest::Error) -> String {
    causes_of(err)
        .last()
        .map_or_else(|| classify(err).as_str().to_owned(), |e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_named_by_their_causes() {
        let cases = [
            (
                Some(io::ErrorKind::ConnectionRefused),
                "tcp connect error: connection refused",
                FailureKind::Refused,
            ),
            (
                None,
                "dns error: failed to lookup address information: name or service not known",
                FailureKind::Dns,
            ),
            (
                Some(io::ErrorKind::Other),
                "client error (connect): invalid peer certificate: unknownissuer",
                FailureKind::Tls,
            ),
            (
                None,
                "received corrupt message of type invalidcontenttype: tls handshake",
                FailureKind::Tls,
            ),
            (
                Some(io::ErrorKind::TimedOut),
                "tcp connect error: timed out",
                FailureKind::ConnectTimeout,
            ),
            (
                Some(io::ErrorKind::Other),
                "something else entirely",
                FailureKind::Refused,
            ),
        ];
        for (kind, chain, expected) in cases {
            assert_eq!(connect_kind(kind, chain), expected, "{chain}");
        }
    }

    #[test]
    fn maintenance_is_recognised_by_its_body() {
        assert!(is_maintenance(
            br#"<Response code="503" title="Maintenance" status="x"/>"#
        ));
        assert!(is_maintenance(b"Plex is running startup maintenance tasks"));
        assert!(is_maintenance(
            b"Currently running maintenance tasks, try later"
        ));
        assert!(!is_maintenance(b"<html>Service Unavailable</html>"));
        assert!(!is_maintenance(b""));
    }
}
