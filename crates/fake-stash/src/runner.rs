//! Stash's job queue for plugin tasks, as `runPluginTask` fills it: jobs run one at a time, in
//! order, each as Stash runs a raw plugin (`pkg/plugin/raw.go`): the command from the
//! plugin's `exec`, the input document on standard input (the task's default arguments
//! under the arguments given, `pkg/plugin/args.go`), the whole standard output read as the
//! `{"output", "error"}` result, standard error as log lines.

use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::lock;

/// The plugin the fake Stash has installed, for `runPluginTask`.
#[derive(Clone, Debug)]
pub struct Plugin {
    /// Its id: the name of its YAML file, e.g. `plexsync`.
    pub id: String,
    /// What Stash runs: the program and its arguments (`exec` in the YAML), e.g. the path of
    /// the binary and `stash`.
    pub exec: Vec<String>,
    /// Its tasks, by name, with their default arguments.
    pub tasks: Vec<(String, Map<String, Value>)>,
    /// The environment the process gets (Stash passes its own; tests pass little).
    pub env: Vec<(String, String)>,
    /// Stash's configuration directory (`server_connection.Dir`).
    pub dir: PathBuf,
    /// The plugin's directory (`server_connection.PluginDir`).
    pub plugin_dir: PathBuf,
}

/// A job in the fake's queue.
#[derive(Clone, Debug)]
pub struct Job {
    /// Its id, as `runPluginTask` returned it.
    pub id: String,
    /// What the task list shows.
    pub description: String,
    /// The arguments the plugin got, defaults applied.
    pub args: Map<String, Value>,
    /// Where it is.
    pub status: JobStatus,
    /// The result object the plugin printed (`Null` until it finishes).
    pub result: Value,
    /// What it wrote on standard error.
    pub log: String,
    /// When it was queued, started and finished.
    pub queued_at: Instant,
    /// When it started.
    pub started_at: Option<Instant>,
    /// When it finished.
    pub finished_at: Option<Instant>,
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for the one before it.
    Queued,
    /// Its process runs.
    Running,
    /// Its process ended.
    Finished,
}

/// The queue and the thread that works it.
#[derive(Debug)]
pub(crate) struct Runner {
    jobs: Arc<(Mutex<Vec<Job>>, Condvar)>,
    send: Mutex<mpsc::Sender<usize>>,
}

/// How the plugin reaches Stash, as each job's input says.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub(crate) scheme: &'static str,
    pub(crate) port: u16,
    pub(crate) cookie: Option<String>,
}

impl Runner {
    pub(crate) fn new(plugin: Plugin, connection: Connection) -> Runner {
        let jobs: Arc<(Mutex<Vec<Job>>, Condvar)> = Arc::default();
        let (send, receive) = mpsc::channel::<usize>();
        let worked = jobs.clone();
        std::thread::spawn(move || {
            for index in receive {
                let args = {
                    let (list, _) = &*worked;
                    let mut list = lock(list);
                    list[index].status = JobStatus::Running;
                    list[index].started_at = Some(Instant::now());
                    list[index].args.clone()
                };
                // The log grows as the task writes it, as Stash shows it.
                let logged = worked.clone();
                let result = run(&plugin, &connection, &args, move |line| {
                    let (list, _) = &*logged;
                    let mut list = lock(list);
                    list[index].log.push_str(line);
                    list[index].log.push('\n');
                });
                let (list, done) = &*worked;
                let mut list = lock(list);
                let job = &mut list[index];
                job.status = JobStatus::Finished;
                job.finished_at = Some(Instant::now());
                job.result = result;
                done.notify_all();
            }
        });
        Runner {
            jobs,
            send: Mutex::new(send),
        }
    }

    /// `runPluginTask`: queues a job; its id, or why not.
    pub(crate) fn queue(
        &self,
        plugin: &Plugin,
        task: Option<&str>,
        description: Option<&str>,
        args: Map<String, Value>,
    ) -> Result<String, String> {
        let mut args = args;
        if let Some(name) = task {
            let Some((_, defaults)) = plugin.tasks.iter().find(|(n, _)| n == name) else {
                return Err(format!("no task with name {name} in plugin {}", plugin.id));
            };
            for (key, value) in defaults {
                args.entry(key.clone()).or_insert_with(|| value.clone());
            }
        }
        let (list, _) = &*self.jobs;
        let mut list = lock(list);
        let index = list.len();
        let id = (index + 1).to_string();
        list.push(Job {
            id: id.clone(),
            description: description
                .or(task)
                .unwrap_or("Running plugin task")
                .to_owned(),
            args,
            status: JobStatus::Queued,
            result: Value::Null,
            log: String::new(),
            queued_at: Instant::now(),
            started_at: None,
            finished_at: None,
        });
        drop(list);
        lock(&self.send)
            .send(index)
            .map_err(|_| "the job runner stopped".to_owned())?;
        Ok(id)
    }

    pub(crate) fn jobs(&self) -> Vec<Job> {
        lock(&self.jobs.0).clone()
    }

    /// Waits until every job queued has finished, at most `limit`; whether they all had.
    pub(crate) fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let (list, done) = &*self.jobs;
        let mut list = lock(list);
        loop {
            if list.iter().all(|j| j.status == JobStatus::Finished) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            list = done
                .wait_timeout(list, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// The input document Stash writes for a plugin run with `args`.
pub(crate) fn input(plugin: &Plugin, connection: &Connection, args: &Map<String, Value>) -> Value {
    let cookie = connection.cookie.as_ref().map(|value| {
        json!({
            "Name": "session", "Value": value, "Path": "", "Domain": "", "Expires": "0001-01-01T00:00:00Z",
            "MaxAge": 0, "Secure": false, "HttpOnly": false, "SameSite": 0, "Raw": "", "Unparsed": null
        })
    });
    json!({
        "server_connection": {
            "Scheme": connection.scheme, "Host": "0.0.0.0", "Port": connection.port,
            "SessionCookie": cookie, "Dir": plugin.dir, "PluginDir": plugin.plugin_dir,
        },
        "args": args,
    })
}

/// Runs the plugin once: its result object (or the raw output as `output`, as Stash takes
/// output that is not one); each line of its standard error goes to `log` as it comes.
fn run(
    plugin: &Plugin,
    connection: &Connection,
    args: &Map<String, Value>,
    log: impl Fn(&str) + Send + 'static,
) -> Value {
    let Some((program, rest)) = plugin.exec.split_first() else {
        return json!({ "output": null, "error": "empty exec value" });
    };
    let spawned = Command::new(program)
        .args(rest)
        .env_clear()
        .envs(plugin.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&plugin.plugin_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let error = format!("error running plugin: {e}");
            return json!({ "output": null, "error": error });
        }
    };
    let document = input(plugin, connection, args).to_string();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(document.as_bytes());
    }
    let stderr = child.stderr.take();
    let logging = std::thread::spawn(move || {
        if let Some(err) = stderr {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                log(&line);
            }
        }
    });
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let status = child.wait();
    let _ = logging.join();
    let mut result: Value = serde_json::from_str(out.trim())
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({ "output": out, "error": null }));
    if let Ok(status) = status {
        if !status.success() && result["error"].is_null() {
            result["error"] = json!(status.to_string());
        }
    }
    result
}
