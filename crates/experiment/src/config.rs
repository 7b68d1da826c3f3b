//! The V1 service's settings, read once by clap from flags or `TRIZONE_*`.

use std::net::SocketAddr;

use trizone_http::AuthArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to serve on.
    #[arg(long, env = "TRIZONE_V1_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// PostgreSQL URL logging in as the `trizone_experiment` role.
    #[arg(
        long = "database-url",
        env = "TRIZONE_V1_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: String,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Largest request body, in bytes.
    #[arg(long, env = "TRIZONE_V1_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// Largest dataset upload, in bytes (it streams; lines are limited to 1 MiB).
    #[arg(long, env = "TRIZONE_V1_DATASET_LIMIT", default_value_t = 256 * 1024 * 1024)]
    pub dataset_limit: usize,
    /// Most cases one run may have in flight.
    #[arg(long, env = "TRIZONE_V1_MAX_CONCURRENCY", default_value_t = 64)]
    pub max_concurrency: i32,
    /// Seconds a run's lease lasts without renewal before another replica may take it.
    #[arg(long, env = "TRIZONE_V1_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u64,
    /// This replica's name in run leases (default: host name and process id).
    #[arg(long, env = "TRIZONE_V1_REPLICA")]
    pub replica: Option<String>,
}

impl Config {
    pub fn replica_name(&self) -> String {
        self.replica.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "v1".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }
}
