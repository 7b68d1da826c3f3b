//! `trizone-gate`: the only component that moves a configuration between
//! zones. It judges finished runs (on a cron schedule and on demand),
//! promotes a PASS to V2 through a crash-safe saga, quarantines a FAIL to
//! V3, blacklists, and rolls V2 back by hand or when production SLOs break.
//! Several gates may run against one database: runs are taken with `SKIP
//! LOCKED`, decisions are unique per run, and sagas and rollbacks hold an
//! advisory lock.

mod abort;
pub mod api;
pub mod blacklist;
pub mod config;
pub mod error;
#[cfg(feature = "faults")]
pub mod faults;
pub mod judging;
pub mod kubernetes;
pub mod metrics;
pub mod openapi;
pub mod quarantine;
pub mod rollback;
pub mod rollout;
pub mod saga;
pub mod tasks;
pub mod v2;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
use trizone_core::Thresholds;
use trizone_http::layers::{self, Limits};
use trizone_http::zone::{Tasks, serve_zone};
use trizone_http::{HttpMetrics, KeyStore, Readiness};
use trizone_store::DbRole;
use utoipa::OpenApi;

pub use config::{Config, Policy};
pub use error::GateError;
#[cfg(feature = "faults")]
pub use faults::{Faults, Step};
use metrics::GateMetrics;
use v2::V2Client;

/// The gate's engine: what judging, sagas, quarantine and rollbacks need.
#[derive(Debug, Clone)]
pub struct Gate(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub db: PgPool,
    pub v2: V2Client,
    pub thresholds: Thresholds,
    pub policy: Policy,
    pub replica: String,
    pub metrics: GateMetrics,
    #[cfg(feature = "faults")]
    pub faults: Faults,
    pub cluster: Option<kubernetes::Cluster>,
    saga_wake: Notify,
    blacklist_wake: Notify,
    enabled: watch::Sender<Option<Enabled>>,
}

/// A deployment the gate just enabled, and when its transaction committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    pub version: i64,
    pub committed_at: std::time::Instant,
}

impl std::ops::Deref for Gate {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// What a gate is built from; tests fill it in directly.
#[derive(Debug)]
pub struct Parts {
    pub db: PgPool,
    pub v2: V2Client,
    pub thresholds: Thresholds,
    pub policy: Policy,
    pub replica: String,
    /// V2's Deployment, when the gate runs with a cluster.
    pub cluster: Option<kubernetes::Cluster>,
}

impl Gate {
    pub fn new(parts: Parts, registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        Ok(Self(Arc::new(Inner {
            db: parts.db,
            v2: parts.v2,
            thresholds: parts.thresholds,
            policy: parts.policy,
            replica: parts.replica,
            metrics: GateMetrics::new(registry)?,
            #[cfg(feature = "faults")]
            faults: Faults::default(),
            cluster: parts.cluster,
            saga_wake: Notify::new(),
            blacklist_wake: Notify::new(),
            enabled: watch::channel(None).0,
        })))
    }

    /// Follows the deployments this gate enables (in-process: `trizone up`,
    /// benchmarks).
    pub fn subscribe_enabled(&self) -> watch::Receiver<Option<Enabled>> {
        self.enabled.subscribe()
    }

    /// Asks the saga task to run now (a PASS was just recorded).
    pub fn wake_saga(&self) {
        self.saga_wake.notify_one();
    }

    fn refresh_blacklist_size_soon(&self) {
        self.blacklist_wake.notify_one();
    }

    async fn refresh_blacklist_size(&self) {
        match trizone_store::quarantine::blacklist_size(&self.db).await {
            Ok(size) => self.metrics.blacklist_size.set(size),
            Err(error) => tracing::warn!(%error, "cannot count the blacklist"),
        }
    }

    /// After V2's active deployment changed: the cluster hears of it.
    async fn after_transition(&self, transition: kubernetes::Transition<'_>) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let published = match trizone_store::production::active(&self.db).await {
            Ok(Some(active)) => cluster.publish(&active, transition).await,
            Ok(None) => Ok(()),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = published {
            tracing::warn!(%error, "the cluster was not told of the transition");
        }
    }
}

/// What every handler can reach; the shared extractors (auth, health,
/// metrics) find their part through the derived `FromRef`s.
#[derive(Debug, Clone, FromRef)]
pub struct AppState {
    pub gate: Gate,
    pub keys: KeyStore,
    pub http_metrics: HttpMetrics,
    pub readiness: Readiness,
}

/// Every gate route, with the shared layers.
pub fn router(state: AppState, limits: Limits) -> Router {
    let routes = Router::new()
        .route("/api/gate/experiments/{id}/judge", post(api::judge))
        .route("/api/gate/decisions", get(api::decisions))
        .route("/api/gate/decisions/{id}", get(api::decision))
        .route("/api/gate/blacklist", post(api::blacklist))
        .route("/api/gate/rollback", post(api::rollback))
        .route("/api/gate/rollout", get(api::rollout))
        .route("/api/gate/rollout/pause", post(api::rollout_pause))
        .route("/api/gate/rollout/resume", post(api::rollout_resume))
        .route("/api/gate/rollout/promote", post(api::rollout_promote))
        .route("/api/gate/rollout/abort", post(api::rollout_abort))
        .route(
            "/api/gate/rollout/plan",
            get(api::rollout_plan).put(api::set_rollout_plan),
        )
        .route("/api/gate/audit", get(api::audit));
    layers::service(routes, openapi::ApiDoc::openapi(), state, limits)
}

/// The state for a gate over `db` (tests build it this way).
pub fn state(parts: Parts, keys: KeyStore) -> anyhow::Result<AppState> {
    let http_metrics = HttpMetrics::new("gate")?;
    let readiness = Readiness::new(parts.db.clone());
    let gate = Gate::new(parts, http_metrics.registry())?;
    Ok(AppState {
        gate,
        keys,
        http_metrics,
        readiness,
    })
}

/// Serves the gate on `listener` and runs its tasks until `shutdown`.
pub async fn run(
    config: &Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let keys = config.auth.load()?;
    let schedule = cron::Schedule::from_str(&config.schedule)
        .map_err(|e| anyhow::anyhow!("TRIZONE_GATE_SCHEDULE `{}`: {e}", config.schedule))?;
    let db = trizone_http::zone::connect(&config.database_url, DbRole::Gate, 8).await?;
    let parts = Parts {
        db,
        v2: V2Client::new(&config.v2_url, config.v2_token()?)?,
        thresholds: config.thresholds.thresholds()?,
        policy: config.policy.policy(),
        replica: config.replica_name(),
        cluster: config.cluster().await?,
    };
    let state = state(parts, keys)?;
    let mut tasks = Tasks::default();
    tasks.spawn(state.gate.clone().run_tasks(
        schedule,
        Duration::from_secs(config.policy.slo_check_seconds.max(1)),
        tasks.stopped(),
    ));
    let app = router(state, Limits::default());
    serve_zone("gate", listener, app, tasks, shutdown).await
}
