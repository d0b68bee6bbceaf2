//! What can go wrong talking to Stash, or reading what it sent.

/// A failure; the message says what happened and, where it can, what to do. It never holds
/// the session cookie or the API key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input document from Stash cannot be used.
    #[error("{0}")]
    Input(String),
    /// Stash could not be reached.
    #[error("could not reach Stash at {url}: {why}")]
    Unreachable {
        /// The GraphQL endpoint.
        url: String,
        /// What happened, in words.
        why: &'static str,
    },
    /// Stash's certificate was not accepted: a setting to fix, not an outage.
    #[error("could not reach Stash at {url}: {what}")]
    Certificate {
        /// The GraphQL endpoint.
        url: String,
        /// What was wrong, and what to do.
        what: String,
    },
    /// Stash refused the credentials (HTTP 401 or 403).
    #[error(
        "Stash at {url} refused plexsync's credentials (HTTP {status}): the session has expired, or an API key is needed"
    )]
    Refused {
        /// The GraphQL endpoint.
        url: String,
        /// The status code.
        status: u16,
    },
    /// Stash answered, but not with an answer to the query.
    #[error("Stash at {url} {what}")]
    Answer {
        /// The GraphQL endpoint.
        url: String,
        /// What was wrong with the answer.
        what: String,
    },
    /// Stash answered the query with a GraphQL error.
    #[error("Stash refused the query: {0}")]
    Query(String),
}
