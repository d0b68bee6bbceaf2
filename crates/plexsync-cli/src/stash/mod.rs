//! `plexsync stash`: plexsync as a Stash plugin (docs/stash.md). Reads Stash's JSON document from
//! standard input and dispatches: a hook queues the scene and exits; a task drains, checks,
//! reports or syncs in bulk.
//!
//! Standard output carries exactly one `{"output": …, "error": …}` object, whatever happens,
//! a panic included; everything else goes to standard error as Stash log lines.

mod drain;
mod hook;
pub(crate) mod log;
mod own_binary;
pub(crate) mod scene;
mod tasks;

use std::io::{IsTerminal, Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::config::{self, Env, Origin, Overrides, Settings};
use scene::PluginSettings;
use stash_client::Input;

/// The plugin's id: the name of its YAML file.
const PLUGIN_ID: &str = "plexsync";

/// The largest input read: a bulk update's hook context carries the whole list of scenes.
const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Runs as a plugin: reads standard input, prints the one result object, exits 0 on success
/// and 1 with `error` set otherwise.
pub(crate) fn main(verbose: bool) -> ExitCode {
    log::init(verbose);
    std::panic::set_hook(Box::new(|info| {
        log::line(
            tracing::Level::ERROR,
            &format!("plexsync stopped on a bug: {info}"),
        );
    }));
    let env: Env = std::env::vars().collect();
    let text = match read_input() {
        Ok(text) => text,
        Err(error) => return answer(Err(error)),
    };
    if let Some(status) = own_binary::hand_over(&text) {
        return status;
    }
    let result =
        std::panic::catch_unwind(AssertUnwindSafe(|| run(&text, &env))).unwrap_or_else(|_| {
            Err(
                "plexsync stopped on a bug (the log has the details); what was queued is kept"
                    .into(),
            )
        });
    answer(result)
}

/// Prints the one result object for `result`; the exit status that goes with it.
fn answer(result: Result<Value, String>) -> ExitCode {
    let (output, error) = match result {
        Ok(output) => (output, None),
        Err(error) => {
            log::line(tracing::Level::ERROR, &error);
            (Value::Null, Some(error))
        }
    };
    let document = json!({ "output": output, "error": error });
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "{document}").and_then(|()| stdout.flush());
    match (written, &document["error"]) {
        (Ok(()), Value::Null) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Stash's input document, whole.
fn read_input() -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err("`plexsync stash` is run by Stash as a plugin: it reads Stash's JSON document on standard input (see the README)".into());
    }
    let mut text = String::new();
    stdin
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("could not read Stash's input: {e}"))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "Stash's input is larger than {MAX_INPUT_BYTES} bytes"
        ));
    }
    Ok(text)
}

fn run(text: &str, env: &Env) -> Result<Value, String> {
    let input = Input::parse(text).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))?;
    runtime.block_on(async {
        match input.hook().map_err(|e| e.to_string())? {
            Some(hook) => hook::run(&input, &hook, env).await,
            None => {
                let mode = input.arg("mode").filter(|m| !m.is_empty()).ok_or(
                    "Stash sent neither a hook context nor a task mode (args.mode); is plexsync.yml the one shipped with this binary?",
                )?;
                tasks::run(&mode, &input, env).await
            }
        }
    })
}

/// The settings: the plugin's settings in Stash, then the environment, then config.toml in
/// the data directory, which is by default `plexsync` in Stash's configuration directory.
fn resolve(input: &Input, plugin: &PluginSettings, env: &Env) -> Result<Settings, String> {
    let stash_dir = input
        .server_connection
        .dir
        .as_deref()
        .filter(|d| !d.is_empty());
    let data_dir = match (&plugin.data_dir, stash_dir) {
        (Some(dir), Some(base)) => Some(Path::new(base).join(dir)),
        (Some(dir), None) => Some(dir.into()),
        (None, Some(base)) if !env.contains_key("PLEXSYNC_DATA_DIR") => {
            Some(Path::new(base).join("plexsync"))
        }
        (None, _) => None,
    };
    let overrides = Overrides {
        origin: Origin::StashPlugin,
        plex_url: plugin.plex_url.clone(),
        plex_token: plugin.plex_token.clone(),
        data_dir,
        preserve_plex_edits: plugin.preserve_plex_edits,
        ..Overrides::default()
    };
    config::resolve(&overrides, env).map_err(|e| e.0)
}

/// The Stash API key from the environment, for running `plexsync stash` by hand against a
/// Stash that wants one (Stash itself passes its session cookie instead).
fn api_key(env: &Env) -> Option<&str> {
    env.get("STASH_API_KEY").map(String::as_str)
}

/// plexsync.yml, the plugin file shipped beside the binary (`cargo xtask dist` packs it).
#[cfg(test)]
const PLUGIN_FILE: &str = include_str!("../../plugin/plexsync.yml");

#[cfg(test)]
mod plugin_file {
    //! plexsync.yml against Stash's plugin schema (docs/stash.md), which Stash applies strictly:
    //! an unknown key fails the plugin's load.
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::PLUGIN_FILE;
    use super::scene::SETTINGS;
    use super::tasks::Task;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Plugin {
        name: String,
        description: Option<String>,
        version: Option<String>,
        url: Option<String>,
        exec: Vec<String>,
        interface: Option<String>,
        err_log: Option<String>,
        #[serde(default)]
        hooks: Vec<Hook>,
        #[serde(default)]
        tasks: Vec<TaskEntry>,
        #[serde(default)]
        settings: BTreeMap<String, Setting>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Hook {
        name: String,
        description: Option<String>,
        triggered_by: Vec<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct TaskEntry {
        name: String,
        description: Option<String>,
        #[serde(default)]
        default_args: BTreeMap<String, String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Setting {
        display_name: String,
        description: Option<String>,
        #[serde(rename = "type")]
        kind: String,
    }

    fn plugin() -> Plugin {
        serde_yaml_ng::from_str(PLUGIN_FILE).expect("plexsync.yml fits Stash's plugin schema")
    }

    #[test]
    fn the_plugin_file_runs_this_binary_as_a_raw_plugin() {
        let p = plugin();
        assert_eq!(p.name, "plexsync");
        // `./plexsync`: no PATH lookup finds it, so Stash runs the folder's own binary.
        assert_eq!(p.exec, ["./plexsync", "stash"]);
        assert_eq!(p.interface.as_deref(), Some("raw"));
        assert_eq!(p.err_log.as_deref(), Some("error"));
        assert_eq!(p.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn hooks_fire_on_scene_saves_only() {
        let p = plugin();
        assert_eq!(p.hooks.len(), 1);
        let mut triggers = p.hooks[0].triggered_by.clone();
        triggers.sort();
        assert_eq!(triggers, ["Scene.Create.Post", "Scene.Update.Post"]);
    }

    #[test]
    fn every_task_mode_has_a_task_and_every_task_a_known_mode() {
        let p = plugin();
        let modes: Vec<&str> = p
            .tasks
            .iter()
            .map(|t| {
                t.default_args
                    .get("mode")
                    .map(String::as_str)
                    .expect("a mode")
            })
            .collect();
        for mode in &modes {
            assert!(
                mode.parse::<Task>().is_ok(),
                "plexsync does not know the task mode {mode}"
            );
        }
        for task in Task::ALL {
            assert!(
                modes.contains(&task.mode()),
                "no task in plexsync.yml runs {}",
                task.mode()
            );
        }
        let recent = p
            .tasks
            .iter()
            .find(|t| t.default_args["mode"] == "sync_recent")
            .unwrap();
        assert!(recent.default_args["days"].parse::<u64>().is_ok());
    }

    #[test]
    fn the_settings_are_the_ones_plexsync_reads_with_their_types_and_descriptions() {
        let p = plugin();
        let declared: Vec<(&str, &str)> = p
            .settings
            .iter()
            .map(|(k, s)| (k.as_str(), s.kind.as_str()))
            .collect();
        let mut read: Vec<(&str, &str)> = SETTINGS.iter().map(|(k, t, _)| (*k, *t)).collect();
        read.sort();
        assert_eq!(declared, read);
        for (key, setting) in &p.settings {
            let shown = SETTINGS.iter().find(|(k, _, _)| k == key).unwrap().2;
            assert_eq!(setting.display_name, shown, "{key}: messages name it so");
            assert!(
                setting
                    .description
                    .as_deref()
                    .is_some_and(|d| !d.is_empty()),
                "{key}"
            );
        }
    }
}
