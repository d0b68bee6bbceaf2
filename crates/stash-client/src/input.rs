//! What Stash writes on a plugin's standard input (docs/stash.md, "What the plugin reads").

use crate::Error;

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The whole document.
#[derive(Debug, Deserialize)]
pub struct Input {
    /// How to reach Stash.
    pub server_connection: Connection,
    /// Task arguments (strings) and, for a hook, `hookContext`.
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// How to reach the Stash that started us.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Connection {
    /// `http` or `https`.
    #[serde(default = "http")]
    pub scheme: String,
    /// Where Stash listens; `0.0.0.0` or empty means every address.
    #[serde(default)]
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The session cookie (none when Stash has no authentication set up).
    #[serde(default)]
    pub session_cookie: Option<Cookie>,
    /// Stash's configuration directory.
    #[serde(default)]
    pub dir: Option<String>,
    /// The directory of the plugin's YAML file.
    #[serde(default)]
    pub plugin_dir: Option<String>,
}

fn http() -> String {
    "http".to_owned()
}

/// Stash's session cookie. Only ever sent back to Stash: its value never reaches a log, an
/// error, the queue or a file, and `Debug` shows only its name.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cookie {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie({}=<redacted>)", self.name)
    }
}

/// `args.hookContext`.
#[derive(Debug, Deserialize)]
pub struct HookContext {
    /// The object's id: a number from Stash, a string from some tools.
    pub id: Value,
    /// What happened, e.g. `Scene.Update.Post`.
    #[serde(rename = "type")]
    pub kind: String,
    // `input` (null for scan-triggered hooks, the whole list for bulk updates) and
    // `inputFields` are not read: the scene is fetched by id, so every shape works alike.
}

impl Input {
    /// Reads the document; the error says what is wrong with it, in one line.
    pub fn parse(text: &str) -> Result<Input, Error> {
        if text.trim().is_empty() {
            return Err(Error::Input(
                "no input: `plexsync stash` is run by Stash, which writes a JSON document on its standard input"
                    .into(),
            ));
        }
        serde_json::from_str(text).map_err(|e| {
            Error::Input(format!(
                "the input from Stash is not a plugin input document (line {}, column {}: {})",
                e.line(),
                e.column(),
                e.to_string().split(" at line").next().unwrap_or_default()
            ))
        })
    }

    /// The hook context, if this is a hook.
    pub fn hook(&self) -> Result<Option<HookContext>, Error> {
        match self.args.get("hookContext") {
            None | Some(Value::Null) => Ok(None),
            Some(value) => HookContext::deserialize(value).map(Some).map_err(|e| {
                Error::Input(format!(
                    "the hook context from Stash is not understood: {e}"
                ))
            }),
        }
    }

    /// A task argument; Stash sends them as strings, but a number or a boolean is taken too.
    pub fn arg(&self, name: &str) -> Option<String> {
        match self.args.get(name)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl HookContext {
    /// The id as Stash's GraphQL `ID` takes it.
    pub fn id(&self) -> Result<String, Error> {
        let id = match &self.id {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_owned(),
            other => {
                return Err(Error::Input(format!(
                    "the hook's object id {other} is not an id"
                )));
            }
        };
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_control) {
            return Err(Error::Input(
                "the hook's object id is empty or not printable".into(),
            ));
        }
        Ok(id)
    }
}

impl Connection {
    /// The GraphQL endpoint. Stash says `0.0.0.0` (or nothing) when it listens everywhere;
    /// then it is reached on loopback.
    pub fn graphql_url(&self) -> Result<String, Error> {
        let scheme = self.scheme.trim().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(Error::Input(format!(
                "Stash's connection scheme {:?} is neither http nor https",
                self.scheme
            )));
        }
        let host = self
            .host
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host = match host {
            "" | "0.0.0.0" => "127.0.0.1".to_owned(),
            "::" => "[::1]".to_owned(),
            h if h.contains(':') => format!("[{h}]"),
            h => h.to_owned(),
        };
        if host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
        {
            return Err(Error::Input(format!(
                "Stash's host {:?} is not a host name",
                self.host
            )));
        }
        if self.port == 0 {
            return Err(Error::Input("Stash's port is 0".into()));
        }
        Ok(format!("{scheme}://{host}:{}/graphql", self.port))
    }
}
