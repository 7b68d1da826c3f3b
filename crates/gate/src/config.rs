//! The gate's settings, read once by clap from flags or `TRIZONE_GATE_*`.

use std::net::SocketAddr;
use std::path::PathBuf;

use trizone_core::{Slo, Thresholds};
use trizone_http::AuthArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to serve on.
    #[arg(long, env = "TRIZONE_GATE_LISTEN", default_value = "127.0.0.1:8084")]
    pub listen: SocketAddr,
    /// PostgreSQL URL logging in as the `trizone_gate` role.
    #[arg(
        long = "database-url",
        env = "TRIZONE_GATE_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: secrecy::SecretString,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// V2's URL (its Service in a cluster), for health and smoke tests.
    #[arg(
        long,
        env = "TRIZONE_GATE_V2_URL",
        default_value = "http://127.0.0.1:8082"
    )]
    pub v2_url: String,
    /// A `gate` token V2 accepts.
    #[arg(long, env = "TRIZONE_GATE_V2_TOKEN", hide_env_values = true)]
    pub v2_token: Option<secrecy::SecretString>,
    /// A file holding that token (a mounted secret).
    #[arg(long, env = "TRIZONE_GATE_V2_TOKEN_FILE")]
    pub v2_token_file: Option<PathBuf>,
    /// When to judge, as a cron expression with seconds (`sec min hour
    /// day-of-month month day-of-week`).
    #[arg(long, env = "TRIZONE_GATE_SCHEDULE", default_value = "0 * * * * *")]
    pub schedule: String,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Talk to Kubernetes: `auto` (when in a cluster or given KUBECONFIG),
    /// `on` or `off`.
    #[arg(long, env = "TRIZONE_GATE_KUBERNETES", default_value = "auto")]
    pub kubernetes: KubernetesMode,
    /// This replica's name in decisions and audit rows (default: host name
    /// and process id).
    #[arg(long, env = "TRIZONE_GATE_REPLICA")]
    pub replica: Option<String>,
}

/// The bar a configuration must clear (defaults: the platform's SLOs).
#[derive(Debug, Clone, clap::Args)]
pub struct ThresholdArgs {
    #[arg(long, env = "TRIZONE_GATE_MIN_ACCURACY", default_value_t = 0.95)]
    pub min_accuracy: f64,
    #[arg(long, env = "TRIZONE_GATE_MAX_P95_MS", default_value_t = 3000.0)]
    pub max_p95_latency_ms: f64,
    #[arg(long, env = "TRIZONE_GATE_MAX_ERROR_RATE", default_value_t = 0.02)]
    pub max_error_rate: f64,
    /// No check is decided on fewer cases.
    #[arg(long, env = "TRIZONE_GATE_MIN_SAMPLE", default_value_t = 30)]
    pub min_sample_size: u64,
    /// How far on the wrong side of a threshold a rate must be for the
    /// risk guarantee to apply.
    #[arg(long, env = "TRIZONE_GATE_INDIFFERENCE", default_value_t = 0.01)]
    pub indifference: f64,
    /// Largest chance of promoting a configuration that misses a threshold
    /// by the indifference margin, however many times it is run.
    #[arg(long, env = "TRIZONE_GATE_RISK", default_value_t = 0.01)]
    pub risk: f64,
    /// Largest chance of quarantining a configuration that clears a
    /// threshold by twice the indifference margin.
    #[arg(long, env = "TRIZONE_GATE_QUARANTINE_RISK", default_value_t = 0.1)]
    pub quarantine_risk: f64,
    /// Optional ceiling on the mean cost of a case, in USD.
    #[arg(long, env = "TRIZONE_GATE_MAX_COST_PER_CASE")]
    pub max_cost_per_case_usd: Option<f64>,
    /// Optional: accuracy must be at least the stable configuration's minus this.
    #[arg(long, env = "TRIZONE_GATE_NON_INFERIORITY_MARGIN")]
    pub non_inferiority_margin: Option<f64>,
}

impl ThresholdArgs {
    pub fn thresholds(&self) -> Result<Thresholds, trizone_core::Error> {
        let thresholds = Thresholds {
            min_accuracy: self.min_accuracy,
            max_p95_latency_ms: self.max_p95_latency_ms,
            max_error_rate: self.max_error_rate,
            min_sample_size: self.min_sample_size,
            indifference: self.indifference,
            risk: self.risk,
            quarantine_risk: self.quarantine_risk,
            max_cost_per_case_usd: self.max_cost_per_case_usd,
            non_inferiority_margin: self.non_inferiority_margin,
        };
        thresholds.validate()?;
        Ok(thresholds)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// Quarantines after which a configuration is blacklisted for good.
    #[arg(long, env = "TRIZONE_GATE_MAX_QUARANTINES", default_value_t = 3)]
    pub max_quarantines: i64,
    /// Consecutive breaching SLO windows that trigger a rollback.
    #[arg(long, env = "TRIZONE_GATE_SLO_WINDOWS", default_value_t = 3)]
    pub slo_windows: usize,
    /// Requests a window needs to count towards a rollback.
    #[arg(long, env = "TRIZONE_GATE_SLO_MIN_REQUESTS", default_value_t = 20)]
    pub slo_min_requests: i64,
    /// Seconds between SLO checks.
    #[arg(long, env = "TRIZONE_GATE_SLO_CHECK_SECONDS", default_value_t = 15)]
    pub slo_check_seconds: u64,
    /// Roll candidates out through shadow and canary steps when admins
    /// have set no plan of their own (`PUT /api/gate/rollout/plan`); off,
    /// a candidate that passes its smoke test serves everyone at once.
    #[arg(long, env = "TRIZONE_GATE_PROGRESSIVE_DELIVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub progressive_delivery: bool,
}

/// What the gate does with decisions and production windows.
#[derive(Debug, Clone)]
pub struct Policy {
    pub max_quarantines: i64,
    pub slo: Slo,
    pub slo_windows: usize,
    pub slo_min_requests: i64,
    /// Whether the default plan rolls candidates out step by step.
    pub progressive_delivery: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_quarantines: 3,
            slo: Slo::default(),
            slo_windows: 3,
            slo_min_requests: 20,
            progressive_delivery: true,
        }
    }
}

impl Policy {
    /// The default policy with every passed candidate served at once,
    /// without a rollout: what `--progressive-delivery false` gives.
    pub fn direct() -> Self {
        Self {
            progressive_delivery: false,
            ..Self::default()
        }
    }
}

impl PolicyArgs {
    pub fn policy(&self) -> Policy {
        Policy {
            max_quarantines: self.max_quarantines.max(1),
            slo: Slo::default(),
            slo_windows: self.slo_windows.max(1),
            slo_min_requests: self.slo_min_requests.max(1),
            progressive_delivery: self.progressive_delivery,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KubernetesMode {
    Auto,
    On,
    Off,
}

impl Config {
    /// V2's Deployment in the cluster, if the gate is to use one.
    pub async fn cluster(&self) -> anyhow::Result<Option<crate::kubernetes::Cluster>> {
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
            || std::env::var_os("KUBECONFIG").is_some();
        let wanted = match self.kubernetes {
            KubernetesMode::Off => false,
            KubernetesMode::On => true,
            KubernetesMode::Auto => in_cluster,
        };
        if !wanted {
            return Ok(None);
        }
        Ok(Some(crate::kubernetes::Cluster::from_environment().await?))
    }

    pub fn replica_name(&self) -> String {
        self.replica.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gate".to_owned());
            format!("{host}-{}", std::process::id())
        })
    }

    /// The gate token for V2, from the flag or the file.
    pub fn v2_token(&self) -> anyhow::Result<secrecy::SecretString> {
        trizone_http::secret::token(self.v2_token.as_ref(), self.v2_token_file.as_deref())?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "set TRIZONE_GATE_V2_TOKEN or TRIZONE_GATE_V2_TOKEN_FILE: the gate needs a `gate` token for V2"
                )
            })
    }
}

impl trizone_http::zone::ZoneConfig for Config {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn the_configuration_never_prints_its_database_password_or_token() {
        let flags = Flags::try_parse_from([
            "trizone-gate",
            "--database-url",
            "postgres://trizone_gate:hunter2-db@db/trizone",
            "--v2-token",
            "  gate-token-hunter3\n",
        ])
        .unwrap();
        let shown = format!("{flags:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        use secrecy::ExposeSecret;
        assert_eq!(
            flags.config.v2_token().unwrap().expose_secret(),
            "gate-token-hunter3"
        );
    }
}
