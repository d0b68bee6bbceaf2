//! Log lines on standard error, through `tracing`: `-v`/`-q`, `RUST_LOG` and `NO_COLOR`.

use std::io::IsTerminal;

use engine::{Event, Level};
use tracing_subscriber::EnvFilter;

use crate::config::Env;

/// Sets up the log: info by default; `-v` debug, `-vv` trace; `-q` warnings, `-qq` errors;
/// `RUST_LOG` when set overrides both. Colour only on a terminal, and never with `NO_COLOR`.
pub(crate) fn init(verbose: u8, quiet: u8, env: &Env) {
    let level = match (verbose, quiet) {
        (0, 0) => "info",
        (1, _) => "debug",
        (v, _) if v >= 2 => "trace",
        (_, 1) => "warn",
        _ => "error",
    };
    let filter = env
        .get("RUST_LOG")
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new(format!("warn,plexsync={level},engine={level}")));
    let colour = std::io::stderr().is_terminal() && !env.contains_key("NO_COLOR");
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}

/// Logs an engine event at its level.
pub(crate) fn event(event: &Event) {
    let line = crate::text::printable(&event.render()).into_owned();
    match event.level() {
        Level::Debug => tracing::debug!(target: "plexsync", "{line}"),
        Level::Info => tracing::info!(target: "plexsync", "{line}"),
        Level::Warn => tracing::warn!(target: "plexsync", "{line}"),
        Level::Error => tracing::error!(target: "plexsync", "{line}"),
    }
}
