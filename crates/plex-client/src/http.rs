//! One request to Plex: headers, timeouts, the body limit, and turning every failure into a
//! [`FailureKind`].

use std::error::Error as _;
use std::io;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};

use crate::config::{ConfigError, PlexConfig, redact};
use crate::error::{FailureKind, PlexError};

/// Bodies read from error responses are capped far lower: only a few markers matter.
const ERROR_BODY_LIMIT: usize = 64 << 10;

#[derive(Debug)]
pub(crate) struct Transport {
    /// Keeps connections alive between requests. Built when first needed: building a client
    /// for `https://` reads the system's trust store, which costs more than a whole health
    /// check on loopback.
    http: OnceLock<Result<reqwest::Client, String>>,
    /// Opens a new connection for every request: for the health check, which must judge the
    /// server as a new client finds it, and for the one retry of a GET whose reused
    /// connection the server had closed.
    fresh: OnceLock<Result<reqwest::Client, String>>,
    headers: HeaderMap,
    config: PlexConfig,
    token: HeaderValue,
    /// The server's clock as its last answer's `Date` header gave it, and this machine's
    /// clock when that answer came.
    clock: std::sync::Mutex<Option<(SystemTime, SystemTime)>>,
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
        Ok(Transport {
            http: OnceLock::new(),
            fresh: OnceLock::new(),
            headers,
            config,
            token,
            clock: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn config(&self) -> &PlexConfig {
        &self.config
    }

    /// The headers every request carries (the token aside).
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The token, as a header value marked sensitive.
    pub(crate) fn token(&self) -> &HeaderValue {
        &self.token
    }

    /// The pooled client, or the one that opens a connection per request.
    fn client(&self, connection: Connection) -> Result<&reqwest::Client, PlexError> {
        let slot = match connection {
            Connection::Pooled => &self.http,
            Connection::Fresh => &self.fresh,
        };
        let built = slot.get_or_init(|| {
            let config = &self.config;
            let mut builder = reqwest::Client::builder()
                .default_headers(self.headers.clone())
                .connect_timeout(config.connect_timeout)
                .read_timeout(config.read_timeout)
                .danger_accept_invalid_certs(config.accept_invalid_certs)
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy();
            if config.base_url.scheme() == "http" {
                // Every URL is the base URL's, and nothing redirects: no certificate is ever
                // checked, so none is loaded.
                builder = builder.tls_certs_only(Vec::new());
            }
            if connection == Connection::Fresh {
                builder = builder.pool_max_idle_per_host(0);
            }
            builder.build().map_err(|e| e.to_string())
        });
        built.as_ref().map_err(|e| {
            PlexError::new(
                FailureKind::Tls,
                self.config.redacted_url(),
                format!("could not set up HTTP: {e}"),
            )
        })
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
    ///
    /// A request whose connection, reused from the pool, fails before any answer arrives was
    /// most likely sent on a connection the server had already closed; it is sent once more
    /// on a new connection (RFC 9112 §9.3.1: a client may retry an idempotent request). Every
    /// request plexsync makes is idempotent: GETs, and PUTs that set fields to values.
    pub(crate) async fn send(&self, request: Request<'_>) -> Result<Vec<u8>, PlexError> {
        let shown = redact(&request.url);
        let client = self.client(request.connection)?;
        let response = match self.build(client, &request).send().await {
            Ok(response) => response,
            Err(e)
                if idempotent(&request.method)
                    && request.connection == Connection::Pooled
                    && classify(&e) == FailureKind::ConnectionLost =>
            {
                self.build(self.client(Connection::Fresh)?, &request)
                    .send()
                    .await
                    .map_err(|e| PlexError::new(classify(&e), &shown, cause(&e)))?
            }
            Err(e) => return Err(PlexError::new(classify(&e), &shown, cause(&e))),
        };
        if let Some(date) = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        {
            if let Ok(mut clock) = self.clock.lock() {
                *clock = Some((date, SystemTime::now()));
            }
        }
        let status = response.status();
        if status.is_success() {
            return read_body(response, self.config.max_body_bytes, &shown).await;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|to| where_to(&request.url, to));
        let body = read_body(response, ERROR_BODY_LIMIT, &shown)
            .await
            .unwrap_or_default();
        let refusal = Refusal {
            status,
            auth: request.auth,
            retry_after,
            location,
            body: &body,
        };
        Err(status_error(&refusal, &shown))
    }

    /// The server's clock from its last answer's `Date` header, and this machine's clock
    /// when that answer came (to a second: that is all the header says).
    pub(crate) fn server_clock(&self) -> Option<(SystemTime, SystemTime)> {
        self.clock.lock().ok().and_then(|c| *c)
    }

    fn build(&self, client: &reqwest::Client, request: &Request<'_>) -> reqwest::RequestBuilder {
        let mut builder = client
            .request(request.method.clone(), request.url.clone())
            .timeout(request.timeout);
        if request.auth == Auth::Token {
            builder = builder.header("x-plex-token", self.token.clone());
        }
        for (name, value) in request.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder
    }
}

/// A `Retry-After` value: a number of seconds, or an HTTP date (how long from `now`).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a request carries the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Auth {
    /// With the `X-Plex-Token` header.
    Token,
    /// Without it (`/identity` needs none).
    Anonymous,
}

/// Which connection a request goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Connection {
    /// One kept alive from an earlier request, if there is one.
    Pooled,
    /// A new one of its own: the health check judges the server as a new client finds it.
    Fresh,
}

/// A request about to be sent.
pub(crate) struct Request<'a> {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) auth: Auth,
    pub(crate) timeout: Duration,
    pub(crate) headers: &'a [(&'static str, String)],
    pub(crate) connection: Connection,
}

impl<'a> Request<'a> {
    /// A `method` request for `url` with the token, the given timeout, on a pooled
    /// connection, with no extra headers.
    pub(crate) fn new(method: Method, url: Url, timeout: Duration) -> Request<'a> {
        Request {
            method,
            url,
            auth: Auth::Token,
            timeout,
            headers: &[],
            connection: Connection::Pooled,
        }
    }

    /// The same request without the token.
    pub(crate) fn anonymous(self) -> Request<'a> {
        Request {
            auth: Auth::Anonymous,
            ..self
        }
    }

    /// The same request on a connection of its own.
    pub(crate) fn fresh(self) -> Request<'a> {
        Request {
            connection: Connection::Fresh,
            ..self
        }
    }

    /// The same request with these extra headers.
    pub(crate) fn with_headers(self, headers: &'a [(&'static str, String)]) -> Request<'a> {
        Request { headers, ..self }
    }
}

/// A refusal as it arrived: the status, the body's first bytes, a `Retry-After`, where a
/// redirect points (scheme, host and port only), and whether the request had carried the
/// token.
pub(crate) struct Refusal<'a> {
    pub(crate) status: StatusCode,
    pub(crate) auth: Auth,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) location: Option<String>,
    pub(crate) body: &'a [u8],
}

/// Whether a method may be sent again when its connection failed before any answer.
fn idempotent(method: &Method) -> bool {
    *method == Method::GET || *method == Method::PUT
}

/// Where a redirect from `from` to `location` points, as `scheme://host[:port]`: never its
/// path or query, which may carry a token.
pub(crate) fn where_to(from: &Url, location: &str) -> String {
    match from.join(location) {
        Ok(to) => {
            let host = to.host_str().unwrap_or("?");
            match to.port() {
                Some(port) => format!("{}://{host}:{port}", to.scheme()),
                None => format!("{}://{host}", to.scheme()),
            }
        }
        Err(_) => "an address that is not a URL".to_owned(),
    }
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
    // A body that breaks off (fewer bytes than announced, then a close) is a connection lost,
    // not an answer that could not be understood.
    let broken = |e: reqwest::Error| {
        let kind = if e.is_timeout() {
            FailureKind::ReadTimeout
        } else {
            FailureKind::ConnectionLost
        };
        PlexError::new(kind, shown, cause(&e))
    };
    while let Some(chunk) = response.chunk().await.map_err(broken)? {
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

/// The failure a refusal names, for the request to `shown`. A 401 to a request that carried
/// no token was not Plex refusing the token.
pub(crate) fn status_error(refusal: &Refusal<'_>, shown: &str) -> PlexError {
    let status = refusal.status;
    let code = status.as_u16();
    let kind = match (code, refusal.auth) {
        (503, _) if is_maintenance(refusal.body) => FailureKind::Maintenance,
        (401 | 403, Auth::Token) => FailureKind::Unauthorized,
        (401 | 403, Auth::Anonymous) => FailureKind::AuthenticationRequired,
        (404, _) => FailureKind::NotFound,
        (429, _) => FailureKind::RateLimited,
        (400 | 409 | 412, _) => FailureKind::Rejected { status: code },
        (300..=399, _) => FailureKind::Redirect { status: code },
        _ => FailureKind::UnexpectedStatus { status: code },
    };
    let retry_after = if matches!(code, 429 | 503) {
        refusal.retry_after
    } else {
        None
    };
    let detail = match (&kind, &refusal.location) {
        (FailureKind::Redirect { .. }, Some(to)) => format!("HTTP {status}, to {to}"),
        _ => format!("HTTP {status}"),
    };
    PlexError::new(kind, shown, detail).with_retry_after(retry_after)
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

/// The innermost cause, for the error detail (reqwest's own message would name the URL); a
/// TLS failure in words, not as rustls's debug names.
fn cause(err: &reqwest::Error) -> String {
    let chain = causes_of(err);
    if let Some(tls) = chain.iter().find_map(|e| e.downcast_ref::<rustls::Error>()) {
        return tls_words(tls);
    }
    chain
        .last()
        .map_or_else(|| classify(err).as_str().to_owned(), |e| e.to_string())
}

/// What a TLS failure means for the person who set the URL, and what to check.
pub(crate) fn tls_words(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "the server's certificate is not signed by an authority this machine trusts (a self-signed certificate?)".into(),
            C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the server's certificate is not valid yet (is this machine's clock right?)".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the server's certificate is for another name than the URL's host".into()
            }
            C::Revoked => "the server's certificate has been revoked".into(),
            C::BadSignature | C::BadEncoding => "the server's certificate is damaged or badly signed".into(),
            C::Other(other) if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "the server presents a certificate authority's own certificate as its certificate".into()
            }
            _ => "the server's certificate was not accepted".into(),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::PeerIncompatible(_) => {
            "the TLS handshake failed: the server does not speak TLS as expected (an https URL for a plain-http port?)".into()
        }
        rustls::Error::AlertReceived(_) => "the server ended the TLS handshake".into(),
        _ => "the TLS handshake failed".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every certificate failure reads as words: no rustls type names, no debug brackets.
    #[test]
    fn tls_failures_read_as_words() {
        use rustls::CertificateError as C;
        let failures = [
            rustls::Error::InvalidCertificate(C::UnknownIssuer),
            rustls::Error::InvalidCertificate(C::Expired),
            rustls::Error::InvalidCertificate(C::NotValidYet),
            rustls::Error::InvalidCertificate(C::NotValidForName),
            rustls::Error::InvalidCertificate(C::BadSignature),
            rustls::Error::InvalidCertificate(C::Revoked),
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
            rustls::Error::General("x".into()),
        ];
        for e in failures {
            let words = tls_words(&e);
            assert!(
                !words.contains('(') || words.contains("?)"),
                "{e:?}: {words}"
            );
            assert!(
                !words.contains("Error") && !words.contains("::"),
                "{e:?}: {words}"
            );
        }
    }

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

#[cfg(test)]
mod retry_after_tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}

#[cfg(test)]
mod redirect_tests {
    use proptest::prelude::*;

    use super::*;

    fn refusal(status: u16, location: Option<String>) -> PlexError {
        let from = Url::parse("http://plex.lan:32400/library/sections").unwrap();
        let refusal = Refusal {
            status: StatusCode::from_u16(status).unwrap(),
            auth: Auth::Token,
            retry_after: None,
            location: location.map(|to| where_to(&from, &to)),
            body: b"",
        };
        status_error(&refusal, "http://plex.lan:32400/library/sections")
    }

    proptest! {
        /// Any redirect, wherever it points, is a setting to fix; the message says the scheme,
        /// host and port it points to, and never its path or query.
        #[test]
        fn every_redirect_is_a_setting_to_fix_and_shows_only_where_it_points(
            status in 300u16..400,
            https in any::<bool>(),
            host in "[a-z]{1,12}(\\.[a-z]{2,8}){0,2}",
            port in proptest::option::of(1u16..),
            path in "(/[A-Za-z0-9_-]{1,10}){0,3}",
            query in "[A-Za-z0-9=&_-]{0,30}",
            relative in any::<bool>(),
        ) {
            let scheme = if https { "https" } else { "http" };
            let authority = match port {
                Some(port) => format!("{host}:{port}"),
                None => host.clone(),
            };
            let location = if relative {
                format!("{path}/hidden-path?secret{query}")
            } else {
                format!("{scheme}://{authority}{path}/hidden-path?secret{query}")
            };
            let err = refusal(status, Some(location));
            prop_assert_eq!(err.kind(), FailureKind::Redirect { status });
            prop_assert_eq!(err.class(), ErrorClass::Configuration);
            let message = err.to_string();
            prop_assert!(!message.contains("hidden-path"), "{}", message);
            prop_assert!(!message.contains("secret"), "{}", message);
            prop_assert!(message.contains("redirects elsewhere"), "{}", message);
            if !relative {
                // The URL crate drops a scheme's default port.
                let default = matches!((https, port), (true, Some(443)) | (false, Some(80)));
                let shown = if default { host.clone() } else { authority.clone() };
                let expected = format!("to {scheme}://{shown})");
                prop_assert!(message.contains(&expected), "{} lacks {}", message, expected);
            }
        }

        /// A redirect with no usable `Location` is still a redirect, and says nothing more.
        #[test]
        fn a_redirect_without_a_usable_location_is_still_a_setting_to_fix(
            status in 300u16..400,
            junk in proptest::option::of("[ -~]{0,40}"),
        ) {
            let err = refusal(status, junk);
            prop_assert_eq!(err.class(), ErrorClass::Configuration);
        }
    }

    use crate::error::ErrorClass;
}
