//! `trizone-stable`, the V2 zone: the only one end users reach. Reviews
//! are served by the deployment the gate enabled, held in memory and
//! swapped atomically when the gate enables another; records and SLO
//! windows are written off the request path, and buffered while the
//! database is away (fail-static). Nothing here changes what is active.

pub mod active;
pub mod config;
pub mod diff;
pub mod diff_reviews;
pub mod media;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
pub mod records;
pub mod reviews;
pub mod serving;
pub mod shadow;
pub mod slo;
pub mod smoke;
pub mod state;
pub mod status;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::watch;
use trizone_http::layers::{self, Limits};
use trizone_http::zone::{Tasks, serve_zone};
use trizone_http::{HttpMetrics, KeyStore, Readiness};
use trizone_router::ModelRouter;
use trizone_store::DbRole;
use utoipa::OpenApi;

pub use config::Config;
use config::{RecordSettings, ServiceLimits};
pub use state::AppState;

/// Every V2 route, with the shared layers.
pub fn router(state: AppState, limits: Limits) -> Router {
    let routes = Router::new()
        .route("/api/v2/reviews", post(reviews::create))
        .route("/api/v2/reviews/{id}", get(reviews::get))
        .route("/api/v2/reviews/{id}/feedback", post(reviews::feedback))
        .route("/api/v2/status", get(status::get))
        .route("/internal/smoke/{deployment_id}", post(smoke::run));
    layers::service(routes, openapi::ApiDoc::openapi(), state, limits)
}

/// What V2 is built from; tests fill it in directly.
#[derive(Debug)]
pub struct Parts {
    pub db: sqlx::PgPool,
    pub keys: KeyStore,
    pub limits: ServiceLimits,
    pub records: RecordSettings,
    pub shadow: shadow::ShadowSettings,
    pub replica: String,
}

/// The state and its background tasks, not yet started.
#[derive(Debug)]
pub struct Service {
    pub state: AppState,
    writer: records::Writer,
}

impl Service {
    /// Builds the state; `make_router` builds the model router in the
    /// service's registry (tests point its credentials at the simulator).
    pub fn new(
        parts: Parts,
        make_router: impl FnOnce(&prometheus::Registry) -> anyhow::Result<ModelRouter>,
    ) -> anyhow::Result<Self> {
        let http_metrics = HttpMetrics::new("v2")?;
        let registry = http_metrics.registry();
        let metrics = metrics::V2Metrics::new(registry)?;
        let active = active::ActiveDeployment::new(registry)?;
        let models = Arc::new(make_router(registry)?);
        let recorder = Arc::new(records::Recorder::new(
            parts.records.buffer_records,
            parts.records.batch_records,
            metrics.clone(),
        ));
        let slo = Arc::new(slo::SloBook::new(
            parts.replica,
            parts.records.window_seconds,
            &metrics,
        ));
        let readiness = Readiness::new(parts.db.clone())
            .database_optional()
            .with_probe(active::ActiveProbe(active.clone()))
            .with_probe(records::RecordsProbe {
                recorder: Arc::clone(&recorder),
                patience: std::time::Duration::from_secs(parts.records.refused_writes_seconds),
            });
        let writer = records::Writer {
            db: parts.db.clone(),
            recorder: Arc::clone(&recorder),
            slo: Arc::clone(&slo),
            metrics: metrics.clone(),
            interval: parts.records.flush_interval(),
        };
        let state = AppState::new(state::Shared {
            db: parts.db,
            keys: parts.keys,
            http_metrics,
            readiness,
            metrics,
            active,
            models,
            recorder,
            slo,
            rate_limit: rate_limit::RateLimit::new(
                parts.limits.rate_per_minute,
                parts.limits.rate_burst,
            ),
            limits: parts.limits,
            shadow: shadow::Shadow::new(parts.shadow),
            diff_reading: tokio::sync::Semaphore::new(2),
        });
        Ok(Self { state, writer })
    }

    /// Loads the active deployment (if the database answers), then starts
    /// following it and writing records until `stop` turns true. The
    /// returned handle finishes once the last records are written.
    pub async fn start(
        self,
        poll: std::time::Duration,
        stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let Self { state, writer } = self;
        if let Err(error) = state.active.refresh(&state.db).await {
            tracing::warn!(%error, "cannot read the active deployment yet; following it");
        }
        let follower = tokio::spawn(state.active.clone().follow(
            state.db.clone(),
            poll,
            stop.clone(),
        ));
        let shadow = tokio::spawn(shadow::Shadow::run(state.clone(), stop.clone()));
        let writer = tokio::spawn(writer.run(stop));
        tokio::spawn(async move {
            let _ = follower.await;
            let _ = shadow.await;
            let _ = writer.await;
        })
    }
}

/// Serves V2 on `listener`, asking the operator's `providers`, until
/// `shutdown` completes, then writes what is still buffered.
pub async fn run(
    config: &Config,
    providers: trizone_router::Providers,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let keys = config.auth.load()?;
    let db = trizone_http::zone::connect(&config.database_url, DbRole::Stable, 8).await?;
    let parts = Parts {
        db,
        keys,
        limits: config.limits,
        records: config.records.clone(),
        shadow: config.shadow,
        replica: config.replica_name(),
    };
    let service = Service::new(parts, |registry| {
        Ok(ModelRouter::new(
            providers,
            trizone_router::ResilienceSettings::default(),
            registry,
        )?)
    })?;
    let app = router(service.state.clone(), Limits::default());
    let mut tasks = Tasks::default();
    tasks.adopt(service.start(config.poll_interval(), tasks.stopped()).await);
    serve_zone("V2 stable", listener, app, tasks, shutdown).await
}
