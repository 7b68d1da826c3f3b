//! The V2 service's settings, read once by clap from flags or `TRIZONE_*`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use trizone_http::AuthArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to serve on.
    #[arg(long, env = "TRIZONE_V2_LISTEN", default_value = "127.0.0.1:8082")]
    pub listen: SocketAddr,
    /// PostgreSQL URL logging in as the `trizone_stable` role.
    #[arg(
        long = "database-url",
        env = "TRIZONE_V2_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: secrecy::SecretString,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub limits: ServiceLimits,
    #[command(flatten)]
    pub records: RecordSettings,
    #[command(flatten)]
    pub shadow: crate::shadow::ShadowSettings,
    /// Seconds between checks of the active deployment, as a safety net
    /// for a missed notification.
    #[arg(long, env = "TRIZONE_V2_POLL_SECONDS", default_value_t = 5)]
    pub poll_seconds: u64,
    /// This replica's name in SLO windows (default: host name and process id).
    #[arg(long, env = "TRIZONE_V2_REPLICA")]
    pub replica: Option<String>,
}

/// What one caller may ask of this replica.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct ServiceLimits {
    /// Largest `code` in a review request, in bytes.
    #[arg(long, env = "TRIZONE_V2_CODE_LIMIT", default_value_t = 256 * 1024)]
    pub code_bytes: usize,
    /// Largest diff in a review request, in bytes.
    #[arg(long, env = "TRIZONE_V2_DIFF_LIMIT", default_value_t = 1024 * 1024)]
    pub diff_bytes: usize,
    /// Most files one diff may ask to have reviewed (each is one review
    /// against the rate limit).
    #[arg(long, env = "TRIZONE_V2_DIFF_FILES", default_value_t = 50)]
    pub diff_files: usize,
    /// Most hunks one diff may hold, over all its files.
    #[arg(long, env = "TRIZONE_V2_DIFF_HUNKS", default_value_t = 500)]
    pub diff_hunks: usize,
    /// Most lines one diff may have; refused before it is read.
    #[arg(long, env = "TRIZONE_V2_DIFF_LINES", default_value_t = 50_000)]
    pub diff_lines: usize,
    /// Reviews one API key may request per minute from this replica (the
    /// platform's budget divided by the replica count).
    #[arg(long, env = "TRIZONE_V2_RATE_PER_MINUTE", default_value_t = NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN))]
    pub rate_per_minute: NonZeroU32,
    /// Reviews one key may send at once before the rate applies.
    #[arg(long, env = "TRIZONE_V2_RATE_BURST", default_value_t = NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN))]
    pub rate_burst: NonZeroU32,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        Self {
            code_bytes: 256 * 1024,
            diff_bytes: 1024 * 1024,
            diff_files: 50,
            diff_hunks: 500,
            diff_lines: 50_000,
            rate_per_minute: NonZeroU32::new(600).unwrap_or(NonZeroU32::MIN),
            rate_burst: NonZeroU32::new(60).unwrap_or(NonZeroU32::MIN),
        }
    }
}

/// How records and SLO windows reach the database.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordSettings {
    /// Records kept while the database is away; more are dropped and
    /// counted in `v2_records_dropped_total`.
    #[arg(long, env = "TRIZONE_V2_BUFFER_RECORDS", default_value_t = 50_000)]
    pub buffer_records: usize,
    /// Most records written in one transaction.
    #[arg(long, env = "TRIZONE_V2_BATCH_RECORDS", default_value_t = 500)]
    pub batch_records: usize,
    /// Milliseconds between writes of what has accumulated.
    #[arg(long, env = "TRIZONE_V2_FLUSH_MS", default_value_t = 250)]
    pub flush_ms: u64,
    /// Length of an SLO window, in seconds.
    #[arg(long, env = "TRIZONE_V2_WINDOW_SECONDS", default_value_t = 60)]
    pub window_seconds: u32,
    /// Seconds the database may refuse every write of records (while it
    /// answers) before `/readyz` says this replica is not ready.
    #[arg(long, env = "TRIZONE_V2_REFUSED_WRITES_SECONDS", default_value_t = 30)]
    pub refused_writes_seconds: u64,
}

impl Default for RecordSettings {
    fn default() -> Self {
        Self {
            buffer_records: 50_000,
            batch_records: 500,
            flush_ms: 250,
            window_seconds: 60,
            refused_writes_seconds: 30,
        }
    }
}

impl RecordSettings {
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_ms.max(10))
    }
}

impl Config {
    pub fn replica_name(&self) -> String {
        self.replica.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "v2".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_seconds.max(1))
    }
}

impl trizone_http::zone::ZoneConfig for Config {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}
