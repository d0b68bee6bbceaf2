//! A policy: every number the engine decides by, as data. It loads from JSON or TOML, every
//! part optional, and is checked as a whole before anything runs.

use breaker_core::Config;

use crate::action::ProbeDepth;
use plex_client::Field;
use scheduler::{
    Backoff, FirstProbe, Jitter, PaceConfig, ProbePlan, RampConfig, RetryPolicy, RetryRule,
};
use serde::{Deserialize, Serialize};

/// The breaker, the probe plan, the retry rules, the ramp and the engine's own knobs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// When to stop calling Plex, and when to try again.
    pub breaker: Config,
    /// When to probe a Plex that is down.
    pub probes: ProbePlan,
    /// What to do with a job that failed, by class.
    pub retry: RetryPolicy,
    /// How fast to drain after an outage: a fixed rising rate (the predecessor's; off by
    /// default, where `pace` does the work).
    pub ramp: RampConfig,
    /// How many jobs go to Plex together, from its latency.
    pub pace: PaceConfig,
    /// Everything else.
    pub engine: Knobs,
}

/// The engine's own settings. All durations are milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// The longest one job may take, all its requests together. Shorter than the queue lease
    /// and the breaker's trial lease, so a job ends before anyone else may take it.
    pub job_timeout_ms: u64,
    /// How long a taken job stays invisible to other workers.
    pub visibility_ms: u64,
    /// A pause after every job (the predecessor: 150 ms).
    pub pause_between_jobs_ms: u64,
    /// Wake at least this often while waiting (the predecessor polled every second); `None`
    /// sleeps until the next deadline.
    pub poll_ms: Option<u64>,
    /// A long-running worker with nothing to do looks at the queue again after this long,
    /// even if nothing woke it.
    pub idle_recheck_ms: u64,
    /// At most one partial scan of a folder in this long.
    pub scan_interval_ms: u64,
    /// While Plex is down, the first summary line comes this long after it went down; then
    /// the interval doubles up to `summary_cap_ms` (one line per change of state besides).
    pub summary_interval_ms: u64,
    /// The longest interval between summary lines.
    pub summary_cap_ms: u64,
    /// Probe when a hook arrives while the breaker is not CLOSED, at most this often (the
    /// predecessor's check-on-invocation scheduler: every 5 s). `None`: probes follow the
    /// schedule only.
    pub probe_on_invocation_ms: Option<u64>,
    /// `plexsync process` gives up when Plex has been down this long with jobs waiting
    /// (`None`: it waits for Plex however long it takes).
    pub max_outage_wait_ms: Option<u64>,
    /// A drain with nothing ready waits for a retry due within this long, rather than stop
    /// (`None`: it stops). The Stash plugin's automatic drain sets it, so that an edit whose
    /// first attempt failed still reaches Plex without another save.
    pub settle_ms: Option<u64>,
    /// Whether a failure that comes from an outage (a timeout, a 5xx, maintenance) spends one
    /// of a job's retries, so that a long outage can send it to the dead-letter queue. Off:
    /// the breaker protects Plex, and the job waits. The predecessor: on.
    pub outage_failures_spend_retries: bool,
    /// Whether probes only inform: a healthy probe does not move OPEN to HALF_OPEN, only the
    /// open wait does. The predecessor: on.
    pub informational_probes: bool,
    /// Whether a healthy probe in HALF_OPEN counts as a successful trial (and probes run in
    /// HALF_OPEN for that). The predecessor: on.
    pub probe_closes_half_open: bool,
    /// How deep a probe goes: `library` asks for the library too; `identity` stops at
    /// `/identity` (the predecessor's probe).
    pub probe_depth: ProbeDepth,
    /// After a job meets an outage while the breaker is closed, look with a probe before
    /// the next job, counting the probe as a call: a server in trouble meets one job, not
    /// five, and an outage is known sooner.
    pub probe_after_failure: bool,
    /// Whether probes keep Plex's rhythm: during an outage that began inside its known
    /// maintenance window, deep probes of a library that loads for about as long every night
    /// wait until about when it has been ready on the nights before, and near the usual end
    /// of the window's outages the cheap probes come every second (`docs/policy.md`).
    pub maintenance_windows: bool,
    /// Whether `plexsync run` watches Plex while nothing fails, on its notification socket
    /// (or a light check of `/identity` every few minutes where the socket cannot be
    /// opened): a socket that closes makes the probes look at once, and a database
    /// optimisation Plex announces holds back what needs its library until it is over.
    pub watch_plex: bool,
    /// What to sync.
    pub sync: SyncOptions,
}

/// What a sync writes to Plex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncOptions {
    /// The fields written; the others are left as Plex has them.
    pub fields: Vec<Field>,
    /// Leave alone a field that is locked in Plex (edited there by hand).
    pub preserve_plex_edits: bool,
    /// Lock every field written, so Plex's agents do not overwrite it. Unset: on, unless
    /// `preserve_plex_edits` is (then a lock in Plex means a person's edit, and plexsync's
    /// own locks would read as one: see [`SyncOptions::locks_written`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_written: Option<bool>,
}

impl SyncOptions {
    /// Whether the fields written are locked.
    pub fn locks_written(&self) -> bool {
        self.lock_written.unwrap_or(!self.preserve_plex_edits)
    }
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            fields: Field::ALL.to_vec(),
            preserve_plex_edits: false,
            lock_written: None,
        }
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            job_timeout_ms: 45_000,
            visibility_ms: 90_000,
            pause_between_jobs_ms: 0,
            poll_ms: None,
            idle_recheck_ms: 60_000,
            scan_interval_ms: 600_000,
            summary_interval_ms: 300_000,
            summary_cap_ms: 3_600_000,
            probe_on_invocation_ms: None,
            max_outage_wait_ms: Some(30 * 60_000),
            settle_ms: None,
            outage_failures_spend_retries: false,
            informational_probes: false,
            probe_closes_half_open: false,
            probe_depth: ProbeDepth::Library,
            probe_after_failure: true,
            maintenance_windows: true,
            watch_plex: true,
            sync: SyncOptions::default(),
        }
    }
}

impl Default for Policy {
    /// plexsync's defaults; `docs/policy.md` says why each is what it is.
    fn default() -> Self {
        Policy {
            breaker: Config::builder()
                .failure_threshold(5)
                .open_wait_growth(300_000, 2, 30 * 60_000)
                .half_open_permits(1)
                .permit_lease_ms(60_000)
                .success_threshold(2)
                .build()
                .expect("constant configuration is valid"),
            probes: ProbePlan {
                // A refused port, a connection that never completes and a 503 from the
                // front door cost the server next to nothing: watched closely, whatever the
                // outage's age, so that the recovery is seen within seconds.
                unreachable: backoff(2_000, 1.5, 4_000, Jitter::Equal),
                not_ready: backoff(2_000, 1.5, 4_000, Jitter::Equal),
                // A library that answers but is not ready pays for every look: backed off.
                loading: backoff(15_000, 2.0, 120_000, Jitter::Equal),
                first: FirstProbe::Jittered,
                early: None,
            },
            retry: RetryPolicy::default(),
            ramp: RampConfig::disabled(),
            pace: PaceConfig::default(),
            engine: Knobs::default(),
        }
    }
}

impl Policy {
    /// The predecessor's breaker settings on plexsync's engine: 5 failures trip it; OPEN
    /// moves to HALF_OPEN only after 60 s; probes of `/identity` (first after 5 s, then full
    /// jitter on 5 s doubling to 60 s) only inform, except that in HALF_OPEN a passing one
    /// closes; one trial success closes; outage failures spend retries; a 1 s poll and a
    /// 150 ms pause between jobs. The knobs' own tests use it; it is not a model of the
    /// predecessor (the simulator's `predecessor` module is one, transcribed from its code).
    pub fn predecessor_settings() -> Policy {
        let probe = backoff(5_000, 2.0, 60_000, Jitter::Full);
        Policy {
            breaker: Config::builder()
                .failure_threshold(5)
                .open_wait_ms(60_000)
                .half_open_permits(1)
                .permit_lease_ms(60_000)
                .success_threshold(1)
                .build()
                .expect("constant configuration is valid"),
            probes: ProbePlan {
                unreachable: probe,
                not_ready: probe,
                loading: probe,
                first: FirstProbe::Fixed(5_000),
                early: None,
            },
            retry: RetryPolicy::default(),
            ramp: RampConfig::default(),
            pace: PaceConfig::single(),
            engine: Knobs {
                pause_between_jobs_ms: 150,
                poll_ms: Some(1_000),
                outage_failures_spend_retries: true,
                informational_probes: true,
                probe_closes_half_open: true,
                probe_depth: ProbeDepth::Identity,
                probe_after_failure: false,
                probe_on_invocation_ms: Some(5_000),
                max_outage_wait_ms: None,
                maintenance_windows: false,
                watch_plex: false,
                ..Knobs::default()
            },
        }
    }

    /// A deep probe every 60 s, no backoff and no jitter, blind to Plex's rhythm;
    /// everything else plexsync's.
    pub fn naive() -> Policy {
        let every_minute = backoff(60_000, 1.0, 60_000, Jitter::None);
        Policy {
            probes: ProbePlan {
                unreachable: every_minute,
                not_ready: every_minute,
                loading: every_minute,
                first: FirstProbe::Fixed(60_000),
                early: None,
            },
            engine: Knobs {
                maintenance_windows: false,
                watch_plex: false,
                ..Knobs::default()
            },
            ..Policy::default()
        }
    }

    /// plexsync's defaults blind to Plex's rhythm, neither keeping its maintenance window
    /// nor watching it: the defaults before they did, which the simulator's `nightly`
    /// scenario holds them against.
    pub fn window_blind() -> Policy {
        let mut policy = Policy::default();
        policy.engine.maintenance_windows = false;
        policy.engine.watch_plex = false;
        policy
    }

    /// plexsync's defaults before they paced themselves: one job at a time, and after an
    /// outage the ramp (5 → 20 jobs a second over 5 minutes). The simulator holds the
    /// defaults' drains against it.
    pub fn single_flight() -> Policy {
        Policy {
            ramp: RampConfig::default(),
            pace: PaceConfig::single(),
            ..Policy::default()
        }
    }

    /// A preset by name: `plexsync` (or `default`), `plexsync-blind`, `plexsync-single`,
    /// `naive`.
    pub fn preset(name: &str) -> Option<Policy> {
        match name {
            "plexsync" | "default" => Some(Policy::default()),
            "plexsync-blind" => Some(Policy::window_blind()),
            "plexsync-single" => Some(Policy::single_flight()),
            "naive" => Some(Policy::naive()),
            _ => None,
        }
    }

    /// Checks the policy as a whole: each part is checked when it is read, but some values
    /// must agree with each other.
    pub fn check(&self) -> Result<(), PolicyError> {
        let k = &self.engine;
        let problem = |message: String| Err(PolicyError(message));
        if k.job_timeout_ms == 0 {
            return problem("engine.job_timeout_ms must be at least 1".into());
        }
        if k.visibility_ms <= k.job_timeout_ms {
            return problem(format!(
                "engine.visibility_ms ({}) must be longer than engine.job_timeout_ms ({}): a job must end before another worker may take it",
                k.visibility_ms, k.job_timeout_ms
            ));
        }
        if self.breaker.permit_lease_ms() <= k.job_timeout_ms {
            return problem(format!(
                "breaker.permit_lease_ms ({}) must be longer than engine.job_timeout_ms ({}): a trial must end before its permit lapses",
                self.breaker.permit_lease_ms(),
                k.job_timeout_ms
            ));
        }
        if k.summary_cap_ms < k.summary_interval_ms {
            return problem(format!(
                "engine.summary_cap_ms ({}) must not be below engine.summary_interval_ms ({})",
                k.summary_cap_ms, k.summary_interval_ms
            ));
        }
        if k.idle_recheck_ms == 0
            || k.summary_interval_ms == 0
            || k.poll_ms == Some(0)
            || k.settle_ms == Some(0)
        {
            return problem(
                "engine.idle_recheck_ms, engine.summary_interval_ms, engine.poll_ms and engine.settle_ms must be at least 1"
                    .into(),
            );
        }
        if k.sync.preserve_plex_edits && k.sync.lock_written == Some(true) {
            return problem("engine.sync.preserve_plex_edits and engine.sync.lock_written cannot both be on: plexsync's own locks would read as edits made in Plex, and those fields would never be synced again; leave lock_written out (it is off when preserve_plex_edits is on)".into());
        }
        if k.sync.fields.is_empty() {
            return problem("engine.sync.fields names no field: nothing would be synced".into());
        }
        self.ramp
            .validate()
            .map_err(|e| PolicyError(format!("ramp: {e}")))?;
        self.pace
            .validate()
            .map_err(|e| PolicyError(format!("pace: {e}")))?;
        if self.probes.early.is_some_and(|e| e.every_ms == 0) {
            return problem("probes.early.every_ms must be at least 1".into());
        }
        if let RetryRule::Backoff { max_retries: 0, .. } = self.retry.server_down {
            return problem("retry.server_down must not dead-letter: a server that is down is not the job's fault".into());
        }
        Ok(())
    }
}

/// A policy whose values do not agree; the message names them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

fn backoff(base_ms: u64, factor: f64, cap_ms: u64, jitter: Jitter) -> Backoff {
    Backoff::new(base_ms, factor, cap_ms, jitter).expect("constant backoff is valid")
}
