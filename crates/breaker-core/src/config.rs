use core::fmt;

/// Most half-open permits a breaker can hand out at once.
///
/// The breaker keeps its leases in a fixed array so that it needs no allocator.
pub const MAX_HALF_OPEN_PERMITS: u32 = 16;

/// A validated breaker configuration. Build one with [`Config::builder`].
///
/// All durations are milliseconds. With the `serde` feature a configuration is data: it
/// (de)serializes as a map of the builder's values (`failure_threshold`, `open_wait_ms`,
/// `open_wait_factor`, `open_wait_cap_ms`, `half_open_permits`, `permit_lease_ms`,
/// `success_threshold`, `slow_call_ms`), each optional with its default, and is checked on
/// the way in exactly as [`ConfigBuilder::build`] checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "RawConfig", into = "RawConfig")
)]
pub struct Config {
    failure_threshold: u32,
    open_wait_ms: u64,
    open_wait_factor: u32,
    open_wait_cap_ms: u64,
    half_open_permits: u32,
    permit_lease_ms: u64,
    success_threshold: u32,
    slow_call_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

impl Config {
    /// The defaults, as a constant (for a `static` breaker, or `no_std` code): trip after 5
    /// consecutive outage-class failures, stay open 60 s, one half-open trial at a time on a
    /// 60 s lease, close after 2 trial successes, no slow-call rule.
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// assert_eq!(Config::DEFAULT, Config::default());
    /// assert_eq!(Config::DEFAULT.failure_threshold(), 5);
    /// ```
    pub const DEFAULT: Config = Config {
        failure_threshold: 5,
        open_wait_ms: 60_000,
        open_wait_factor: 1,
        open_wait_cap_ms: 60_000,
        half_open_permits: 1,
        permit_lease_ms: 60_000,
        success_threshold: 2,
        slow_call_ms: None,
    };
}

impl Config {
    /// Starts from the defaults: 5 consecutive failures trip, 60 s open wait without growth,
    /// 1 half-open permit leased for 60 s, 2 successes close, no slow-call threshold.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }

    /// Consecutive outage-class failures in CLOSED that open the breaker.
    pub fn failure_threshold(&self) -> u32 {
        self.failure_threshold
    }

    /// How long OPEN waits before it moves to HALF_OPEN on its own, after `reopens`
    /// consecutive re-opens without a close in between.
    pub fn open_wait_ms(&self, reopens: u32) -> u64 {
        let growth = u64::from(self.open_wait_factor)
            .checked_pow(reopens)
            .unwrap_or(u64::MAX);
        self.open_wait_ms
            .saturating_mul(growth)
            .min(self.open_wait_cap_ms)
    }

    /// Trials HALF_OPEN admits at once.
    pub fn half_open_permits(&self) -> u32 {
        self.half_open_permits
    }

    /// How long a half-open permit stays valid before its slot is freed.
    pub fn permit_lease_ms(&self) -> u64 {
        self.permit_lease_ms
    }

    /// Successful trials HALF_OPEN needs before it closes.
    pub fn success_threshold(&self) -> u32 {
        self.success_threshold
    }

    /// A success that took at least this long counts as an outage-class failure.
    pub fn slow_call_ms(&self) -> Option<u64> {
        self.slow_call_ms
    }
}

/// Builds a [`Config`]; [`ConfigBuilder::build`] checks every value.
#[derive(Clone, Copy, Debug)]
pub struct ConfigBuilder {
    config: Config,
}

impl ConfigBuilder {
    /// Consecutive outage-class failures that open the breaker (at least 1).
    pub fn failure_threshold(mut self, failures: u32) -> Self {
        self.config.failure_threshold = failures;
        self
    }

    /// A fixed open wait: the same wait after every open.
    pub fn open_wait_ms(mut self, wait_ms: u64) -> Self {
        self.config.open_wait_ms = wait_ms;
        self.config.open_wait_factor = 1;
        self.config.open_wait_cap_ms = wait_ms;
        self
    }

    /// An open wait that starts at `base_ms` and is multiplied by `factor` on every re-open
    /// from HALF_OPEN, up to `cap_ms`. Closing the breaker starts it over.
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// let config = Config::builder().open_wait_growth(30_000, 2, 120_000).build()?;
    /// let waits: Vec<u64> = (0..4).map(|reopens| config.open_wait_ms(reopens)).collect();
    /// assert_eq!(waits, [30_000, 60_000, 120_000, 120_000]);
    /// # Ok::<(), breaker_core::ConfigError>(())
    /// ```
    pub fn open_wait_growth(mut self, base_ms: u64, factor: u32, cap_ms: u64) -> Self {
        self.config.open_wait_ms = base_ms;
        self.config.open_wait_factor = factor;
        self.config.open_wait_cap_ms = cap_ms;
        self
    }

    /// Trials admitted at once in HALF_OPEN (1 to [`MAX_HALF_OPEN_PERMITS`]).
    pub fn half_open_permits(mut self, permits: u32) -> Self {
        self.config.half_open_permits = permits;
        self
    }

    /// How long a half-open permit holds its slot (at least 1 ms).
    pub fn permit_lease_ms(mut self, lease_ms: u64) -> Self {
        self.config.permit_lease_ms = lease_ms;
        self
    }

    /// Successful trials needed to close (at least 1).
    pub fn success_threshold(mut self, successes: u32) -> Self {
        self.config.success_threshold = successes;
        self
    }

    /// Successes that take at least this long count as outage-class failures (at least 1 ms).
    pub fn slow_call_ms(mut self, threshold_ms: u64) -> Self {
        self.config.slow_call_ms = Some(threshold_ms);
        self
    }

    /// Checks every value and returns the configuration, or the first value that is out of range.
    ///
    /// ```
    /// use breaker_core::Config;
    ///
    /// let err = Config::builder().half_open_permits(0).build().unwrap_err();
    /// assert_eq!(err.to_string(), "half-open permits must be between 1 and 16 (got 0)");
    /// ```
    pub fn build(self) -> Result<Config, ConfigError> {
        let c = self.config;
        let problem = if c.failure_threshold == 0 {
            Some(Problem::FailureThreshold)
        } else if c.success_threshold == 0 {
            Some(Problem::SuccessThreshold)
        } else if c.half_open_permits == 0 || c.half_open_permits > MAX_HALF_OPEN_PERMITS {
            Some(Problem::HalfOpenPermits(c.half_open_permits))
        } else if c.permit_lease_ms == 0 {
            Some(Problem::PermitLease)
        } else if c.open_wait_factor == 0 {
            Some(Problem::OpenWaitFactor)
        } else if c.open_wait_cap_ms < c.open_wait_ms {
            Some(Problem::OpenWaitCap {
                base_ms: c.open_wait_ms,
                cap_ms: c.open_wait_cap_ms,
            })
        } else if c.slow_call_ms == Some(0) {
            Some(Problem::SlowCall)
        } else {
            None
        };
        match problem {
            Some(problem) => Err(ConfigError { problem }),
            None => Ok(c),
        }
    }
}

/// A configuration value out of range; its message names the value and what is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    problem: Problem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    FailureThreshold,
    SuccessThreshold,
    HalfOpenPermits(u32),
    PermitLease,
    OpenWaitFactor,
    OpenWaitCap { base_ms: u64, cap_ms: u64 },
    SlowCall,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem {
            Problem::FailureThreshold => f.write_str("failure threshold must be at least 1"),
            Problem::SuccessThreshold => f.write_str("success threshold must be at least 1"),
            Problem::HalfOpenPermits(got) => write!(
                f,
                "half-open permits must be between 1 and {MAX_HALF_OPEN_PERMITS} (got {got})"
            ),
            Problem::PermitLease => f.write_str("permit lease must be at least 1 ms"),
            Problem::OpenWaitFactor => f.write_str("open wait growth factor must be at least 1"),
            Problem::OpenWaitCap { base_ms, cap_ms } => write!(
                f,
                "open wait cap ({cap_ms} ms) must not be below the base open wait ({base_ms} ms)"
            ),
            Problem::SlowCall => f.write_str("slow-call threshold must be at least 1 ms"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// The serialized form of a [`Config`]: every value, unchecked.
#[cfg(feature = "serde")]
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    failure_threshold: u32,
    open_wait_ms: u64,
    open_wait_factor: u32,
    open_wait_cap_ms: u64,
    half_open_permits: u32,
    permit_lease_ms: u64,
    success_threshold: u32,
    slow_call_ms: Option<u64>,
}

#[cfg(feature = "serde")]
impl Default for RawConfig {
    fn default() -> Self {
        Config::default().into()
    }
}

#[cfg(feature = "serde")]
impl From<Config> for RawConfig {
    fn from(c: Config) -> Self {
        RawConfig {
            failure_threshold: c.failure_threshold,
            open_wait_ms: c.open_wait_ms,
            open_wait_factor: c.open_wait_factor,
            open_wait_cap_ms: c.open_wait_cap_ms,
            half_open_permits: c.half_open_permits,
            permit_lease_ms: c.permit_lease_ms,
            success_threshold: c.success_threshold,
            slow_call_ms: c.slow_call_ms,
        }
    }
}

#[cfg(feature = "serde")]
impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(raw: RawConfig) -> Result<Config, ConfigError> {
        // A missing cap means "no growth": the cap follows the base, as `open_wait_ms` sets it.
        let cap = raw.open_wait_cap_ms.max(if raw.open_wait_factor == 1 {
            raw.open_wait_ms
        } else {
            0
        });
        ConfigBuilder {
            config: Config {
                failure_threshold: raw.failure_threshold,
                open_wait_ms: raw.open_wait_ms,
                open_wait_factor: raw.open_wait_factor,
                open_wait_cap_ms: cap,
                half_open_permits: raw.half_open_permits,
                permit_lease_ms: raw.permit_lease_ms,
                success_threshold: raw.success_threshold,
                slow_call_ms: raw.slow_call_ms,
            },
        }
        .build()
    }
}
