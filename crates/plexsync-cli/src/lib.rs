//! The plexsync command line: parses arguments, resolves them into a configuration and runs
//! the chosen command.
//!
//! The binary's `main` only calls [`main`]. Parsing lives in [`args`]; nothing runs until the
//! arguments have been validated.
#![forbid(unsafe_code)]

pub mod args;

use std::process::ExitCode;

use clap::Parser;

/// Parses the process arguments and runs the command they name.
pub fn main() -> ExitCode {
    match args::Cli::try_parse() {
        // Only --help and --version exist so far; clap has handled them by now.
        Ok(_cli) => ExitCode::SUCCESS,
        Err(err) => {
            // clap prints help and version to stdout and usage errors to stderr, with the
            // exit status that fits (0 or 2).
            let _ = err.print();
            ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
        }
    }
}
