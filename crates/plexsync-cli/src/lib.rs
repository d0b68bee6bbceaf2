//! The plexsync command line: parses arguments, resolves them into a configuration and runs
//! the chosen command.
//!
//! The binary's `main` only calls [`main`]. Parsing lives in [`args`], which only parses and
//! validates; [`config`] resolves flags, the environment and the configuration file into
//! settings before any command runs; each command lives in a module of its own.
#![forbid(unsafe_code)]

pub mod args;
mod clock;
mod commands;
pub mod config;
mod logging;
mod paths;
mod stash;
mod text;
mod time;
mod watch;

use std::process::ExitCode;

use clap::Parser;
use commands::Failure;
use engine::Mode;

/// Parses the process arguments and runs the command they name.
pub fn main() -> ExitCode {
    // As a Stash plugin, nothing but the result object may reach standard output, and the
    // log takes Stash's form; so the plugin takes over before anything else is set up.
    // `plexsync stash --help` is a person asking, not Stash: clap answers.
    let asks_help = std::env::args_os()
        .skip(2)
        .any(|a| a == "--help" || a == "-h");
    if std::env::args_os().nth(1).is_some_and(|a| a == "stash") && !asks_help {
        let verbose = std::env::args_os()
            .skip(2)
            .any(|a| a == "-v" || a == "--verbose");
        return stash::main(verbose);
    }
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help and version to stdout and usage errors to stderr, with the
            // exit status that fits (0 or 2).
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let env: config::Env = std::env::vars().collect();
    logging::init(cli.global.verbose, cli.global.quiet, &env);
    match run(&cli, &env) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("plexsync: {failure}");
            match failure {
                Failure::Config(_) => ExitCode::from(2),
                Failure::Failed(_) => ExitCode::FAILURE,
                Failure::Busy(_) => ExitCode::from(commands::work::BUSY),
            }
        }
    }
}

fn run(cli: &args::Cli, env: &config::Env) -> Result<ExitCode, Failure> {
    let settings = config::resolve(&config::Overrides::from(&cli.global), env)?;
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::Failed(format!("could not start the async runtime: {e}")))
    };
    use args::Command;
    match &cli.command {
        Command::Health(a) => runtime()?.block_on(commands::health::run(&settings, a.json)),
        Command::Status(a) => commands::status::run(&settings, a.json, a.prometheus),
        Command::Enqueue(a) => commands::enqueue::run(&settings, a),
        Command::Process(a) => {
            let limit = a.max_outage.map(|i| match i {
                scheduler::Interval::Never => None,
                scheduler::Interval::Every(ms) => Some(ms),
            });
            runtime()?.block_on(commands::work::run(&settings, Mode::Drain, limit))
        }
        Command::Run(_) => runtime()?.block_on(commands::work::run(&settings, Mode::Run, None)),
        Command::Dlq(a) => commands::dlq::run(&settings, a),
        Command::Breaker(a) => commands::breaker::run(&settings, a),
        Command::Outages(a) => commands::outages::run(&settings, a.limit, a.json),
        Command::Queue(a) => commands::queue::run(&settings, a.json),
        Command::Doctor(a) => runtime()?.block_on(commands::doctor::run(&settings, env, a.json)),
        // Handled in `main` before the arguments are parsed; here only for `--help`.
        Command::Stash(_) => Ok(stash::main(false)),
    }
}
