//! Command-line arguments. These types only parse and validate; they run nothing.

use clap::Parser;

/// Keeps Plex in step with metadata edited in Stash, riding through Plex outages.
#[derive(Debug, Parser)]
#[command(name = "plexsync", version)]
#[command(arg_required_else_help = true)]
pub struct Cli {}
