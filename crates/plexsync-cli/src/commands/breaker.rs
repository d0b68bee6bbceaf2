//! `plexsync breaker`: show, reset or open the circuit breaker.

use crate::text::say;
use std::process::ExitCode;

use engine::{force_open_breaker, reset_breaker, wall_ms};
use serde::Serialize;

use super::health::Breaker;
use super::{Failure, peek_state, print_json, writable_state};
use crate::args;
use crate::config::Settings;
use crate::logging;
use crate::time::ago;

#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    breaker: Breaker,
    next_probe_at: Option<u64>,
    halt: Option<&'a engine::Halt>,
}

/// Runs a `breaker` subcommand.
pub(crate) fn run(settings: &Settings, command: &args::Breaker) -> Result<ExitCode, Failure> {
    let now = wall_ms();
    let paths = &settings.paths;
    match command {
        args::Breaker::Show { json } => {
            let (state, error) = peek_state(paths);
            if let Some(e) = error {
                return Err(Failure::Failed(e));
            }
            let shown = Shown {
                breaker: Breaker::of(&state),
                next_probe_at: state.probe.next_at,
                halt: state.halt.as_ref(),
            };
            if *json {
                return print_json(&shown).map(|()| ExitCode::SUCCESS);
            }
            say!("breaker      {}", shown.breaker.line(now));
            if let Some(at) = shown.next_probe_at {
                say!("next probe   {}", ago(at, now));
            }
            if let Some(halt) = shown.halt {
                say!("stopped      {}: {}", ago(halt.at, now), halt.message);
            }
            Ok(ExitCode::SUCCESS)
        }
        args::Breaker::Reset | args::Breaker::Open => {
            let policy = &settings.policy;
            let events = writable_state(paths)?.update(|state| match command {
                args::Breaker::Reset => reset_breaker(state, policy, now),
                _ => force_open_breaker(state, policy, now),
            })?;
            for event in &events {
                logging::event(event);
            }
            if events.is_empty() {
                say!(
                    "nothing to do: the breaker was already {}",
                    if matches!(command, args::Breaker::Reset) {
                        "closed"
                    } else {
                        "open"
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
