//! The resolved configuration: flags, then the environment, then the configuration file.
//! Everything is checked here, before any command runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::Policy;
use plex_client::{PlexConfig, Token};
use serde::Deserialize;

use crate::args::Global;

/// Where settings given over the environment and the configuration file came from, so that
/// a message can say where to change them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Origin {
    /// The command line: flags.
    #[default]
    CommandLine,
    /// Stash: the plugin's settings.
    StashPlugin,
}

/// Settings given by the caller, taking precedence over the environment and the
/// configuration file: the command line's flags, or the Stash plugin's settings.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Where they come from.
    pub origin: Origin,
    /// The Plex server's URL.
    pub plex_url: Option<String>,
    /// The Plex token itself (a plugin setting; the command line takes only a file).
    pub plex_token: Option<String>,
    /// A file holding the Plex token.
    pub plex_token_file: Option<PathBuf>,
    /// The data directory.
    pub data_dir: Option<PathBuf>,
    /// A configuration file other than config.toml in the data directory.
    pub config: Option<PathBuf>,
    /// Leave fields locked in Plex as they are.
    pub preserve_plex_edits: Option<bool>,
}

impl From<&Global> for Overrides {
    fn from(global: &Global) -> Overrides {
        Overrides {
            origin: Origin::CommandLine,
            plex_url: global.plex_url.clone(),
            plex_token: None,
            plex_token_file: global.plex_token_file.clone(),
            data_dir: global.data_dir.clone(),
            config: global.config.clone(),
            preserve_plex_edits: None,
        }
    }
}

impl Origin {
    /// How to set the Plex URL from here.
    fn plex_url_hint(self) -> &'static str {
        match self {
            Origin::CommandLine => "pass --plex-url, set PLEX_URL,",
            Origin::StashPlugin => "set it in Stash (Settings → Plugins → plexsync → Plex URL)",
        }
    }

    /// How to set the data directory from here.
    fn data_dir_hint(self) -> &'static str {
        match self {
            Origin::CommandLine => "set PLEXSYNC_DATA_DIR or pass --data-dir",
            Origin::StashPlugin => "set it in Stash (Settings → Plugins → plexsync → Data folder)",
        }
    }

    /// How to set the Plex token from here.
    fn plex_token_hint(self) -> &'static str {
        match self {
            Origin::CommandLine => "set PLEX_TOKEN, pass --plex-token-file,",
            Origin::StashPlugin => "set it in Stash (Settings → Plugins → plexsync → Plex token)",
        }
    }
}

/// The largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// A setting that cannot work; the message says what to fix. Exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn problem(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// The environment, as a map (tests pass their own).
pub type Env = BTreeMap<String, String>;

/// What config.toml may hold. Every key is optional; an unknown key is an error.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct File {
    plex_url: Option<String>,
    plex_token: Option<String>,
    plex_token_file: Option<PathBuf>,
    accept_invalid_certs: bool,
    connect_timeout_ms: Option<u64>,
    read_timeout_ms: Option<u64>,
    health_timeout_ms: Option<u64>,
    policy: Option<Policy>,
}

/// Everything a command needs to know, checked.
#[derive(Debug)]
pub struct Settings {
    /// Where things are kept.
    pub paths: Paths,
    /// How to reach Plex, if it was said (commands that need it ask [`Settings::plex`]).
    plex: Result<PlexConfig, ConfigError>,
    /// The engine's policy.
    pub policy: Policy,
}

/// The data directory's layout.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The directory.
    pub data_dir: PathBuf,
    /// The engine's state.
    pub state: PathBuf,
    /// The job queue.
    pub queue: PathBuf,
    /// The stable Plex client identifier.
    pub client_id: PathBuf,
    /// One drainer at a time.
    pub worker_lock: PathBuf,
    /// A drain was asked of Stash, and has not started yet.
    pub drain_requested: PathBuf,
}

impl Paths {
    /// The layout of `data_dir`.
    pub fn new(data_dir: PathBuf) -> Paths {
        Paths {
            state: data_dir.join("state.json"),
            queue: data_dir.join("queue"),
            client_id: data_dir.join("client-id"),
            worker_lock: data_dir.join("worker.lock"),
            drain_requested: data_dir.join("drain-requested"),
            data_dir,
        }
    }
}

impl Settings {
    /// How to reach Plex, or what is missing to know it.
    pub fn plex(&self) -> Result<PlexConfig, ConfigError> {
        match &self.plex {
            Ok(config) => Ok(config.clone()),
            Err(e) => Err(problem(e.0.clone())),
        }
    }
}

/// Resolves the configuration: `overrides` (flags, or the plugin's settings), then `env`,
/// then the configuration file; then checks it as a whole.
pub fn resolve(overrides: &Overrides, env: &Env) -> Result<Settings, ConfigError> {
    let data_dir = match (&overrides.data_dir, env.get("PLEXSYNC_DATA_DIR")) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if !dir.trim().is_empty() => PathBuf::from(dir),
        _ => default_data_dir(env).ok_or_else(|| {
            problem(format!(
                "cannot tell where to keep plexsync's data: {}",
                overrides.origin.data_dir_hint()
            ))
        })?,
    };
    // A file where the folder (or one above it) should be would otherwise surface as "Not a
    // directory" on whatever is read first.
    if let Some(file) = data_dir
        .ancestors()
        .find(|a| a.exists())
        .filter(|a| !a.is_dir())
    {
        let what = if file == data_dir {
            format!("the data directory {} is a file", data_dir.display())
        } else {
            format!(
                "the data directory {} cannot be made: {} is a file",
                data_dir.display(),
                file.display()
            )
        };
        return Err(problem(format!(
            "{what}, not a folder: move the file away, or choose another folder ({})",
            overrides.origin.data_dir_hint()
        )));
    }
    let paths = Paths::new(data_dir);
    let (file, file_path) = match &overrides.config {
        Some(path) => (read_file(path, true)?, path.clone()),
        None => {
            let path = paths.data_dir.join("config.toml");
            (read_file(&path, false)?, path)
        }
    };
    let mut policy = file.policy.clone().unwrap_or_default();
    if let Some(preserve) = overrides.preserve_plex_edits {
        policy.engine.sync.preserve_plex_edits = preserve;
    }
    policy.check().map_err(|e| {
        let hint = match (overrides.origin, overrides.preserve_plex_edits) {
            (Origin::StashPlugin, Some(true)) if e.to_string().contains("preserve_plex_edits") => {
                " (Keep edits made in Plex is on in Stash: turn it off there, or take lock_written out of this file)"
            }
            _ => "",
        };
        problem(format!("{}: [policy]: {e}{hint}", file_path.display()))
    })?;
    let plex = plex_config(overrides, env, &file, &file_path, &paths);
    Ok(Settings {
        paths,
        plex,
        policy,
    })
}

fn plex_config(
    overrides: &Overrides,
    env: &Env,
    file: &File,
    file_path: &Path,
    paths: &Paths,
) -> Result<PlexConfig, ConfigError> {
    let url = overrides
        .plex_url
        .clone()
        .or_else(|| {
            env.get("PLEX_URL")
                .cloned()
                .filter(|u| !u.trim().is_empty())
        })
        .or_else(|| file.plex_url.clone())
        .ok_or_else(|| {
            problem(format!(
                "no Plex URL: {} or put plex_url in {}",
                overrides.origin.plex_url_hint(),
                file_path.display()
            ))
        })?;
    let token = match (
        &overrides.plex_token,
        &overrides.plex_token_file,
        env.get("PLEX_TOKEN"),
    ) {
        (Some(token), _, _) if !token.trim().is_empty() => token.trim().to_owned(),
        (_, Some(path), _) => read_token(path)?,
        (_, None, Some(token)) if !token.trim().is_empty() => token.trim().to_owned(),
        _ => match (&file.plex_token, &file.plex_token_file) {
            (Some(token), _) => token.trim().to_owned(),
            (None, Some(path)) => read_token(path)?,
            (None, None) => {
                return Err(problem(format!(
                    "no Plex token: {} or put plex_token in {}",
                    overrides.origin.plex_token_hint(),
                    file_path.display()
                )));
            }
        },
    };
    let token = Token::new(token).map_err(|e| problem(e.to_string()))?;
    let client_id = crate::paths::client_id(paths);
    let mut config =
        PlexConfig::new(&url, token, &client_id).map_err(|e| problem(e.to_string()))?;
    if let Some(ms) = file.connect_timeout_ms {
        config = config.connect_timeout(Duration::from_millis(ms.max(1)));
    }
    if let Some(ms) = file.read_timeout_ms {
        config = config.read_timeout(Duration::from_millis(ms.max(1)));
    }
    if let Some(ms) = file.health_timeout_ms {
        config = config.health_deadline(Duration::from_millis(ms.max(1)));
    }
    Ok(config.danger_accept_invalid_certs(file.accept_invalid_certs))
}

/// Reads the configuration file; a missing one is empty unless it was named explicitly.
fn read_file(path: &Path, named: bool) -> Result<File, ConfigError> {
    let text = match read_small(path, MAX_CONFIG_BYTES) {
        Ok(Some(text)) => text,
        Ok(None) if !named => return Ok(File::default()),
        Ok(None) => {
            return Err(problem(format!(
                "the configuration file {} does not exist",
                path.display()
            )));
        }
        Err(why) => {
            return Err(problem(format!(
                "cannot read the configuration file {}: {why}",
                path.display()
            )));
        }
    };
    toml::from_str(&text).map_err(|e| {
        let at = e
            .span()
            .map(|span| format!(" (line {})", line_of(&text, span.start)))
            .unwrap_or_default();
        let message = e.message().trim_end_matches('\n').replace('\n', " ");
        problem(format!(
            "the configuration file {}{at} is not valid: {message}; fix it or move it away",
            path.display()
        ))
    })
}

/// The line (from 1) that byte `at` of `text` is on.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn read_token(path: &Path) -> Result<String, ConfigError> {
    match read_small(path, 4_096) {
        Ok(Some(text)) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        Ok(Some(_)) => Err(problem(format!(
            "the token file {} is empty",
            path.display()
        ))),
        Ok(None) => Err(problem(format!(
            "the token file {} does not exist",
            path.display()
        ))),
        Err(why) => Err(problem(format!(
            "cannot read the token file {}: {why}",
            path.display()
        ))),
    }
}

/// A small regular text file; `None` if it does not exist.
fn read_small(path: &Path, max: u64) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if !meta.is_file() {
        return Err("it is not a regular file".into());
    }
    if meta.len() > max {
        return Err(format!("it is larger than {max} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| "it is not UTF-8 text".into())
}

/// The platform's user data directory, `plexsync` in it.
fn default_data_dir(env: &Env) -> Option<PathBuf> {
    let nonempty = |key: &str| env.get(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        return nonempty("APPDATA").map(|d| d.join("plexsync"));
    }
    if cfg!(target_os = "macos") {
        return nonempty("HOME").map(|h| h.join("Library/Application Support/plexsync"));
    }
    nonempty("XDG_DATA_HOME")
        .or_else(|| nonempty("HOME").map(|h| h.join(".local/share")))
        .map(|d| d.join("plexsync"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Env, default_data_dir};

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Run natively and, as a Windows binary, under wine (`cargo xtask windows-tests`).
    #[test]
    fn the_data_directory_is_the_platform_s_own() {
        let all = env(&[
            ("APPDATA", r"C:\Users\ann\AppData\Roaming"),
            ("HOME", "/home/ann"),
            ("XDG_DATA_HOME", ""),
        ]);
        let expected = if cfg!(windows) {
            PathBuf::from(r"C:\Users\ann\AppData\Roaming\plexsync")
        } else if cfg!(target_os = "macos") {
            PathBuf::from("/home/ann/Library/Application Support/plexsync")
        } else {
            PathBuf::from("/home/ann/.local/share/plexsync")
        };
        assert_eq!(default_data_dir(&all), Some(expected));
        // Where the platform's own variable is missing or empty there is no default (the
        // caller says how to set one); HOME does not stand in for APPDATA on Windows.
        let own = if cfg!(windows) { "APPDATA" } else { "HOME" };
        for value in [None, Some("")] {
            let mut without = all.clone();
            match value {
                None => without.remove(own),
                Some(v) => without.insert(own.to_owned(), v.to_owned()),
            };
            assert_eq!(default_data_dir(&without), None, "{own}={value:?}");
        }
    }
}
