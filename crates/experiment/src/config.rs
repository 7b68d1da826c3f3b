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
    pub database_url: secrecy::SecretString,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Largest request body, in bytes.
    #[arg(long, env = "TRIZONE_V1_BODY_LIMIT", default_value_t = 2 * 1024 * 1024)]
    pub body_limit: usize,
    /// Largest dataset upload, in bytes (it streams; lines are limited to 1 MiB).
    #[arg(long, env = "TRIZONE_V1_DATASET_LIMIT", default_value_t = 256 * 1024 * 1024)]
    pub dataset_limit: usize,
    /// Largest YAML registration, in bytes: YAML costs more to parse than
    /// JSON, so it is capped apart from the body limit.
    #[arg(long, env = "TRIZONE_V1_YAML_LIMIT", default_value_t = 256 * 1024)]
    pub yaml_limit: usize,
    /// Registrations parsed at once, each on a blocking thread.
    #[arg(long, env = "TRIZONE_V1_PARSE_AT_ONCE", default_value_t = 2)]
    pub parse_at_once: usize,
    /// Most cases one run may have in flight.
    #[arg(long, env = "TRIZONE_V1_MAX_CONCURRENCY", default_value_t = 64)]
    pub max_concurrency: i32,
    /// Runs one replica works at once.
    #[arg(long, env = "TRIZONE_V1_RUNS_AT_ONCE", default_value_t = 4)]
    pub runs_at_once: usize,
    /// Cases in flight at once across all of a replica's runs.
    #[arg(long, env = "TRIZONE_V1_CASE_BUDGET", default_value_t = 64)]
    pub case_budget: usize,
    /// The longest a run may take, in seconds from its start; a run still
    /// going then fails, and the cases it recorded still count.
    #[arg(long, env = "TRIZONE_V1_MAX_RUN_SECONDS", default_value_t = 6 * 60 * 60)]
    pub max_run_seconds: u64,
    /// Seconds a run's lease lasts without renewal before another replica may take it.
    #[arg(long, env = "TRIZONE_V1_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u64,
    /// V3's URL, for re-evaluations.
    #[arg(
        long,
        env = "TRIZONE_V1_V3_URL",
        default_value = "http://127.0.0.1:8083"
    )]
    pub v3_url: String,
    /// An `experimentation` token V3 accepts.
    #[arg(long, env = "TRIZONE_V1_V3_TOKEN", hide_env_values = true)]
    pub v3_token: Option<secrecy::SecretString>,
    /// A file holding that token (a mounted secret).
    #[arg(long, env = "TRIZONE_V1_V3_TOKEN_FILE")]
    pub v3_token_file: Option<std::path::PathBuf>,
    /// This replica's name in run leases (default: host name and process id).
    #[arg(long, env = "TRIZONE_V1_REPLICA")]
    pub replica: Option<String>,
}

impl Config {
    /// The client for V3, when a token for it is configured.
    pub fn v3_client(&self) -> anyhow::Result<Option<crate::reevaluations::V3Client>> {
        let Some(token) =
            trizone_http::secret::token(self.v3_token.as_ref(), self.v3_token_file.as_deref())?
        else {
            return Ok(None);
        };
        Ok(Some(crate::reevaluations::V3Client::new(
            &self.v3_url,
            token,
        )?))
    }

    pub fn replica_name(&self) -> String {
        self.replica.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "v1".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }
}

impl trizone_http::zone::ZoneConfig for Config {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}
