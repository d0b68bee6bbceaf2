//! What a client needs to know, checked before anything is sent.

use std::fmt;
use std::time::Duration;

use reqwest::Url;

/// A Plex token. It is sent only in the `X-Plex-Token` header and never printed: `Debug`
/// shows `Token(<redacted>)` and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Checks that `token` can travel in a header.
    pub fn new(token: impl Into<String>) -> Result<Token, ConfigError> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(ConfigError::new(
                "the Plex token is empty; set it to your X-Plex-Token",
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "the Plex token contains spaces or characters that cannot be sent; copy it again",
            ));
        }
        Ok(Token(token))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A setting that cannot work; the message says which and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError(message.into())
    }
}

/// How to reach one Plex server.
#[derive(Clone, Debug)]
pub struct PlexConfig {
    pub(crate) base_url: Url,
    pub(crate) token: Token,
    pub(crate) client_id: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) health_deadline: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) accept_invalid_certs: bool,
    pub(crate) page_size: u32,
}

impl PlexConfig {
    /// A server at `base_url` (e.g. `http://localhost:32400`), reached with `token`.
    /// `client_id` must be the same on every run (persist it), or Plex lists a new device
    /// each time.
    ///
    /// Defaults: connect timeout 5 s, read timeout 30 s, health-check deadline 5 s, responses
    /// up to 32 MiB, TLS certificates verified, library pages of 200 items.
    pub fn new(base_url: &str, token: Token, client_id: &str) -> Result<PlexConfig, ConfigError> {
        let given = base_url.trim();
        // `localhost:32400` or `192.168.1.5:32400`, without a scheme: say what was given, and
        // what was surely meant. Only a plain host and port is echoed (no secret fits in one).
        let plain = !given.is_empty()
            && given
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
        if plain && !given.contains("://") {
            return Err(ConfigError::new(format!(
                "the Plex URL must start with http:// or https:// (got {given}); did you mean http://{given}?"
            )));
        }
        let url = Url::parse(given).map_err(|e| {
            ConfigError::new(format!(
                "the Plex URL is not a valid URL ({e}); write it like http://localhost:32400"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(format!(
                "the Plex URL must start with http:// or https:// (it starts with {}:)",
                url.scheme()
            )));
        }
        // The address of Plex Web in a browser, pasted whole: the server is at its root.
        if url.path().starts_with("/web") || url.fragment().is_some_and(|f| f.starts_with('!')) {
            let mut root = url.clone();
            root.set_path("");
            root.set_fragment(None);
            root.set_query(None);
            return Err(ConfigError::new(format!(
                "the Plex URL is Plex Web's address in a browser ({}); plexsync talks to the server itself: use {}",
                redact(&url),
                redact(&root).trim_end_matches('/')
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new(
                "the Plex URL has no host; write it like http://localhost:32400",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
            return Err(ConfigError::new(format!(
                "the Plex URL must not carry a user name, password or query string ({}); put the token in the token setting",
                redact(&url)
            )));
        }
        let client_id = client_id.trim();
        if client_id.is_empty() || !client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "the client identifier must be a non-empty word without spaces",
            ));
        }
        let mut base_url = url;
        base_url.set_fragment(None);
        Ok(PlexConfig {
            base_url,
            token,
            client_id: client_id.to_owned(),
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            health_deadline: Duration::from_secs(5),
            max_body_bytes: 32 << 20,
            accept_invalid_certs: false,
            page_size: 200,
        })
    }

    /// How long to wait for a TCP connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may wait for the server between reads.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The deadline for the whole deep health check, separate from the read timeout.
    pub fn health_deadline(mut self, deadline: Duration) -> Self {
        self.health_deadline = deadline;
        self
    }

    /// The largest response body accepted.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Items per page when a library section has to be walked.
    pub fn page_size(mut self, items: u32) -> Self {
        self.page_size = items.max(1);
        self
    }

    /// Accepts any TLS certificate. Only for a server with a self-signed certificate on a
    /// network you trust; the user must ask for it.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// The server's URL, safe to print.
    pub fn redacted_url(&self) -> String {
        redact(&self.base_url)
    }
}

/// `url` without user name, password, query or fragment: safe for logs and messages.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}
