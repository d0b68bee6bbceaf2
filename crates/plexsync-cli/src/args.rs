//! Command-line arguments. These types only parse and validate; they run nothing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Keeps Plex in step with metadata edited in Stash, riding through Plex outages.
#[derive(Debug, Parser)]
#[command(name = "plexsync", version, arg_required_else_help = true)]
#[command(after_help = "\
Configuration, in order of precedence: flags; the environment (PLEX_URL, PLEX_TOKEN,
PLEXSYNC_DATA_DIR); config.toml in the data directory.

Examples:
  plexsync health                      # is Plex up? (exit 0 healthy, 1 not, 2 misconfigured)
  plexsync enqueue --scene 42 --file /data/Movies/Sintel.mkv --title Sintel
  plexsync process                     # sync everything queued, riding through outages
  plexsync status                      # breaker, queue, probes, outages")]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The Plex server, e.g. http://localhost:32400 [env: PLEX_URL]
    #[arg(long, global = true, value_name = "URL")]
    pub plex_url: Option<String>,
    /// A file holding the Plex token (there is no flag for the token itself: it would show
    /// in the process list) [env: PLEX_TOKEN holds the token]
    #[arg(long, global = true, value_name = "FILE")]
    pub plex_token_file: Option<PathBuf>,
    /// Where plexsync keeps its queue and state [env: PLEXSYNC_DATA_DIR] [default: the
    /// platform's user data directory, e.g. ~/.local/share/plexsync]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A configuration file other than config.toml in the data directory.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More detail in the log (-v, -vv).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Less in the log (-q: warnings and errors, -qq: errors).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Plex stage by stage: connect, /identity, the library (read-only; for Docker's
    /// HEALTHCHECK and systemd).
    #[command(after_help = "\
Exit status: 0 healthy, 1 unhealthy (down, maintenance, timeout), 2 configuration error
(missing or bad URL or token, unreadable config, a token Plex refuses).

Examples:
  plexsync health
  plexsync health --json
  HEALTHCHECK --interval=60s --timeout=10s CMD [\"plexsync\", \"health\"]")]
    Health(Health),
    /// Show the breaker, the queue, the last probes, outage history and the last sync.
    #[command(after_help = "\
Examples:
  plexsync status
  plexsync status --json
  plexsync status --prometheus > /var/lib/node_exporter/textfile/plexsync.prom")]
    Status(Status),
    /// Queue one sync job: from a JSON file, from standard input, or from flags.
    #[command(after_help = "\
Examples:
  plexsync enqueue --scene 42 --file '/data/Movies/Sintel (2010).mkv' --title Sintel --studio Blender
  plexsync enqueue --json job.json
  echo '{\"scene_id\":\"42\",\"files\":[\"/data/Movies/Sintel.mkv\"],\"edit\":{\"title\":\"Sintel\"},\"edited_at\":0}' | plexsync enqueue --json -")]
    Enqueue(Enqueue),
    /// Sync what is queued until nothing is ready, riding through outages on the way.
    #[command(after_help = "\
Examples:
  plexsync process
  plexsync process --max-outage 10m     # give up if Plex stays down 10 minutes (jobs stay queued)")]
    Process(Process),
    /// Keep syncing until stopped (SIGINT or SIGTERM): for setups without Stash hooks.
    ///
    /// While it runs it watches Plex on its notification socket (or checks /identity every
    /// 3 minutes where the socket cannot be opened): a Plex that stops is known at once, and
    /// jobs wait while Plex says it is optimising its database.
    #[command(after_help = "\
Examples:
  plexsync run
  systemctl --user start plexsync      # see the README for a unit file")]
    Run(Run),
    /// List, requeue or purge jobs in the dead-letter queue.
    #[command(subcommand)]
    Dlq(Dlq),
    /// Show, reset or open the circuit breaker.
    #[command(subcommand)]
    Breaker(Breaker),
    /// Run as a Stash plugin: read Stash's JSON document on standard input, answer with one
    /// JSON object on standard output (plexsync.yml runs this; see the README).
    #[command(after_help = "\
Hooks queue the scene and exit in milliseconds; tasks (args.mode) are process, health, status,
sync_all, sync_recent (args.days, default 7), dlq_list, dlq_requeue, dlq_purge,
reset_breaker and doctor. Settings come from Stash's plugin settings, then the environment (PLEX_URL,
PLEX_TOKEN, PLEXSYNC_DATA_DIR, STASH_API_KEY), then config.toml in the data directory.")]
    Stash(Stash),
    /// Show outage history with MTTR, MTBF and availability.
    #[command(after_help = "\
Examples:
  plexsync outages
  plexsync outages --limit 5 --json")]
    Outages(Outages),
    /// List the queued jobs: why each waits, and when it runs next.
    #[command(after_help = "\
Examples:
  plexsync queue
  plexsync queue --json")]
    Queue(Queue),
    /// Check the whole set-up: Plex, the token, what Plex is busy with, its maintenance
    /// window, its libraries, whether it has the queued files, and the queue.
    #[command(after_help = "\
Each check says what it found and what to do. It changes nothing, and takes at most 10 s.
Exit status: 0 without a problem, 1 with one, 2 for a setting that cannot work.

Examples:
  plexsync doctor
  plexsync doctor --json")]
    Doctor(Doctor),
}

/// `plexsync health`.
#[derive(Debug, Args)]
pub struct Health {
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `plexsync status`.
#[derive(Debug, Args)]
pub struct Status {
    /// Print the report as JSON.
    #[arg(long, conflicts_with = "prometheus")]
    pub json: bool,
    /// Print metrics in the node_exporter textfile format.
    #[arg(long)]
    pub prometheus: bool,
}

/// `plexsync enqueue`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["json", "scene"])))]
pub struct Enqueue {
    /// A job as JSON (`-` for standard input).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The Stash scene id.
    #[arg(long, requires = "file")]
    pub scene: Option<String>,
    /// The scene's file, as Plex sees it (repeat for several).
    #[arg(long, value_name = "PATH")]
    pub file: Vec<String>,
    /// Title.
    #[arg(long)]
    pub title: Option<String>,
    /// Sort title.
    #[arg(long)]
    pub sort_title: Option<String>,
    /// Summary.
    #[arg(long)]
    pub summary: Option<String>,
    /// Release date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Studio.
    #[arg(long)]
    pub studio: Option<String>,
    /// A performer (repeat for several).
    #[arg(long = "performer", value_name = "NAME")]
    pub performers: Vec<String>,
    /// A tag (repeat for several).
    #[arg(long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// A collection (repeat for several).
    #[arg(long = "collection", value_name = "NAME")]
    pub collections: Vec<String>,
}

/// `plexsync process`.
#[derive(Debug, Args)]
pub struct Process {
    /// Give up when Plex has been down this long with jobs waiting (e.g. 30m; `never` waits
    /// for it however long it takes).
    #[arg(long, value_name = "DURATION")]
    pub max_outage: Option<scheduler::Interval>,
}

/// `plexsync run`.
#[derive(Debug, Args)]
pub struct Run {}

/// `plexsync dlq`.
#[derive(Debug, Subcommand)]
pub enum Dlq {
    /// List dead-lettered jobs.
    #[command(
        after_help = "Examples:\n  plexsync dlq list\n  plexsync dlq list --class not_found --json"
    )]
    List {
        /// Only those of this class (server_down, outage, transient, item_error, not_found,
        /// permanent, configuration, invalid_job, deferred).
        #[arg(long)]
        class: Option<scheduler::ErrorClass>,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put dead-lettered jobs back in the queue, with their retries reset.
    #[command(
        after_help = "Examples:\n  plexsync dlq requeue --all\n  plexsync dlq requeue --id 1099511627777\n  plexsync dlq requeue --since 2026-11-27T22:00:00Z --until 2026-11-28T06:00:00Z"
    )]
    Requeue(Select),
    /// Delete dead-lettered jobs.
    #[command(
        after_help = "Examples:\n  plexsync dlq purge --class permanent\n  plexsync dlq purge --until 2026-11-01T00:00:00Z"
    )]
    Purge(Select),
}

/// Which dead letters.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "class", "since", "until", "all"])))]
pub struct Select {
    /// One job, by the id `plexsync dlq list` shows.
    #[arg(long)]
    pub id: Option<u64>,
    /// Every job of this class (as `plexsync dlq list` shows it).
    #[arg(long)]
    pub class: Option<scheduler::ErrorClass>,
    /// Jobs dead-lettered at or after this time (RFC 3339, e.g. 2026-11-27T22:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Jobs dead-lettered at or before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Every dead-lettered job.
    #[arg(long)]
    pub all: bool,
}

/// `plexsync breaker`.
#[derive(Debug, Subcommand)]
pub enum Breaker {
    /// Show the breaker.
    #[command(after_help = "Examples:\n  plexsync breaker show\n  plexsync breaker show --json")]
    Show {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Close the breaker and clear its counts (after fixing what kept Plex down).
    #[command(after_help = "Example:\n  plexsync breaker reset")]
    Reset,
    /// Open the breaker until it is reset: no job reaches Plex (e.g. during maintenance).
    #[command(after_help = "Example:\n  plexsync breaker open")]
    Open,
}

/// `plexsync stash`.
#[derive(Debug, Args)]
pub struct Stash {}

/// `plexsync doctor`.
#[derive(Debug, Args)]
pub struct Doctor {
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `plexsync queue`.
#[derive(Debug, Args)]
pub struct Queue {
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `plexsync outages`.
#[derive(Debug, Args)]
pub struct Outages {
    /// Show at most this many recent outages.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Print as JSON.
    #[arg(long)]
    pub json: bool,
}
