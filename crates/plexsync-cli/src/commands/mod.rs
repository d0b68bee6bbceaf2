//! One module per command. Each takes the resolved settings and returns how it ended.

pub(crate) mod breaker;
pub(crate) mod dlq;
pub(crate) mod doctor;
pub(crate) mod enqueue;
pub(crate) mod health;
pub(crate) mod outages;
pub(crate) mod queue;
pub(crate) mod status;
pub(crate) mod storage;
pub(crate) mod work;

use std::time::Duration;

use engine::{EngineState, STATE_SCHEMA};
use persist::{Queue, QueueOptions, StateFile};

use crate::config::{ConfigError, Paths};

/// How a command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The settings are wrong: exit status 2.
    #[error("{0}")]
    Config(String),
    /// Something went wrong doing the work: exit status 1.
    #[error("{0}")]
    Failed(String),
    /// Another plexsync holds what this one needs: exit status 75 (try again later).
    #[error("{0}")]
    Busy(String),
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure::Config(e.0)
    }
}

impl From<persist::Error> for Failure {
    fn from(e: persist::Error) -> Self {
        match e {
            persist::Error::Held { .. } => Failure::Busy(e.to_string()),
            // Written by a newer plexsync: a setup to fix (upgrade), not a failure to retry.
            persist::Error::TooNew { .. }
            | persist::Error::Foreign { .. }
            | persist::Error::FutureSchema { .. } => Failure::Config(e.to_string()),
            // A data directory this user may not write is a setting to fix, not a failure
            // that a retry would get past.
            persist::Error::Io { ref source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::PermissionDenied
                        | std::io::ErrorKind::ReadOnlyFilesystem
                        | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Failure::Config(format!(
                    "{e}: make the data directory writable by this user, or choose another (--data-dir, PLEXSYNC_DATA_DIR)"
                ))
            }
            other => Failure::Failed(other.to_string()),
        }
    }
}

/// The engine's state file.
pub(crate) fn state_file(paths: &Paths) -> StateFile<EngineState> {
    StateFile::new(&paths.state, STATE_SCHEMA)
}

/// The engine's state file for a command that writes it: one that cannot be read is moved
/// aside and the command goes on from a fresh state, with a warning; one a newer plexsync
/// wrote is left as it is, and the command refuses (exit status 2).
pub(crate) fn writable_state(paths: &Paths) -> Result<StateFile<EngineState>, Failure> {
    let file = state_file(paths);
    match file.load() {
        Ok(_) => {}
        Err(e @ persist::Error::Corrupt { .. }) => {
            tracing::warn!(
                "{e}; going on from a fresh state (the breaker closed, no outage history)"
            );
        }
        Err(e @ persist::Error::FutureSchema { .. }) => return Err(Failure::Config(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(file)
}

/// The engine's state for a reader that may change nothing: the default if there is none yet,
/// and an error message (the file left as it is) if it cannot be read.
pub(crate) fn peek_state(paths: &Paths) -> (EngineState, Option<String>) {
    match state_file(paths).peek() {
        Ok(state) => (state, None),
        Err(e) => (EngineState::default(), Some(e.to_string())),
    }
}

/// The queue for a reader that may change nothing and may wait a second at most.
pub(crate) fn read_queue(paths: &Paths) -> Result<Queue, persist::Error> {
    read_queue_at(&paths.queue)
}

/// [`read_queue`] for the queue in `dir`.
pub(crate) fn read_queue_at(dir: &std::path::Path) -> Result<Queue, persist::Error> {
    Queue::open_read_only(
        dir,
        QueueOptions {
            lock_timeout: Duration::from_secs(1),
            ..QueueOptions::default()
        },
    )
}

/// The queue for work.
pub(crate) fn open_queue(paths: &Paths) -> Result<Queue, persist::Error> {
    Queue::open(&paths.queue, QueueOptions::default())
}

/// Prints `value` as pretty JSON on standard output.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Failed(format!("could not write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// Queue counts as JSON: the counts, or `{"error": "..."}`.
pub(crate) mod stats_or_error {
    use persist::Stats;
    use serde::Serialize;

    pub(crate) fn serialize<S: serde::Serializer>(
        value: &Result<Stats, String>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Failed<'a> {
            error: &'a str,
        }
        match value {
            Ok(stats) => stats.serialize(serializer),
            Err(error) => Failed { error }.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Failure;

    /// A data directory that cannot be written, for whatever reason the system gives, is a
    /// setting to fix (exit status 2) that names the way to choose another.
    #[test]
    fn an_unwritable_data_directory_is_a_setting_to_fix() {
        use std::io::ErrorKind::*;
        for kind in [PermissionDenied, ReadOnlyFilesystem, NotADirectory] {
            let e = persist::Error::Io {
                action: "create the folder",
                path: "/data/plexsync/queue".into(),
                source: kind.into(),
            };
            match Failure::from(e) {
                Failure::Config(message) => {
                    assert!(message.contains("/data/plexsync/queue"), "{message}");
                    assert!(message.contains("PLEXSYNC_DATA_DIR"), "{message}");
                }
                other => panic!("{kind:?}: {other:?}"),
            }
        }
        let full = persist::Error::Io {
            action: "write",
            path: "/data/plexsync/queue".into(),
            source: std::io::ErrorKind::StorageFull.into(),
        };
        assert!(matches!(Failure::from(full), Failure::Failed(_)));
    }
}
