//! `plexsync dlq`: the dead-letter queue.

use crate::text::say;
use std::process::ExitCode;

use engine::wall_ms;
use persist::{JobId, Selection};

use super::{Failure, open_queue, print_json, read_queue};
use crate::args::{Dlq, Select};
use crate::config::Settings;
use crate::time::{ago, parse, rfc3339};

/// Lists, requeues or purges dead letters.
pub(crate) fn run(settings: &Settings, command: &Dlq) -> Result<ExitCode, Failure> {
    let paths = &settings.paths;
    match command {
        Dlq::List { class, json } => {
            let mut dead = read_queue(paths)?.dead_letters()?;
            if let Some(class) = class {
                dead.retain(|d| d.class == class.as_str());
            }
            if *json {
                return print_json(&dead).map(|()| ExitCode::SUCCESS);
            }
            if dead.is_empty() {
                say!("the dead-letter queue is empty");
                return Ok(ExitCode::SUCCESS);
            }
            let now = wall_ms();
            let mut by_class = std::collections::BTreeMap::<&str, usize>::new();
            for d in &dead {
                *by_class.entry(d.class.as_str()).or_default() += 1;
                say!(
                    "{}  {}  {}  {}: {}",
                    d.job.id,
                    d.job.key,
                    ago(d.dead_at, now),
                    if d.class.is_empty() {
                        "unknown"
                    } else {
                        &d.class
                    },
                    d.error
                );
            }
            let summary: Vec<String> = by_class.iter().map(|(c, n)| format!("{n} {c}")).collect();
            say!("{} dead-lettered: {}", dead.len(), summary.join(", "));
            Ok(ExitCode::SUCCESS)
        }
        Dlq::Requeue(select) => {
            let n = open_queue(paths)?.requeue_dead(selection(select)?, wall_ms())?;
            say!("requeued {}", engine::count(n as u64, "job", "jobs"));
            Ok(ExitCode::SUCCESS)
        }
        Dlq::Purge(select) => {
            let n = open_queue(paths)?.purge_dead(selection(select)?)?;
            say!("purged {}", engine::count(n as u64, "job", "jobs"));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn selection(select: &Select) -> Result<Selection, Failure> {
    let time = |t: &Option<String>| -> Result<Option<u64>, Failure> {
        t.as_deref().map(parse).transpose().map_err(Failure::Config)
    };
    Ok(match select {
        Select { all: true, .. } => Selection::All,
        Select { id: Some(id), .. } => Selection::One(JobId::from_u64(*id)),
        Select {
            class: Some(class), ..
        } => Selection::Class(class.as_str().to_owned()),
        Select { since, until, .. } => {
            let from = time(since)?.unwrap_or(0);
            let to = time(until)?.unwrap_or(u64::MAX);
            if from > to {
                return Err(Failure::Config(format!(
                    "--since ({}) is after --until ({})",
                    rfc3339(from),
                    rfc3339(to)
                )));
            }
            Selection::DeadBetween { from, to }
        }
    })
}
