//! `trizone-quarantine`, the V3 zone: the read-only archive of
//! configurations that failed. It connects as `trizone_quarantine`, whose
//! sessions are read-only and which holds no write grant: nothing here
//! writes. V1 reads records from it to re-evaluate them.

pub mod api;
pub mod config;
pub mod metrics;
pub mod openapi;

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use sqlx::PgPool;
use trizone_http::layers::{self, Limits};
use trizone_http::zone::{Tasks, serve_zone};
use trizone_http::{HttpMetrics, KeyStore, Readiness};
use trizone_store::DbRole;
use utoipa::OpenApi;

pub use config::Config;
use metrics::V3Metrics;

#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub keys: KeyStore,
    pub http_metrics: HttpMetrics,
    pub readiness: Readiness,
    pub metrics: V3Metrics,
    /// The audit chain as far as V3 has verified it.
    pub chain: std::sync::Arc<trizone_store::audit::ChainVerifier>,
}

/// Every V3 route, with the shared layers.
pub fn router(state: AppState, limits: Limits) -> Router {
    let routes = Router::new()
        .route("/api/v3/records", get(api::records))
        .route("/api/v3/records/{id}", get(api::record))
        .route("/api/v3/summary", get(api::summary))
        .route("/api/v3/blacklist", get(api::blacklist))
        .route("/api/v3/blacklist/{fingerprint}", get(api::blacklist_entry));
    layers::service(routes, openapi::ApiDoc::openapi(), state, limits)
}

/// The state for a pool of the quarantine role (tests build it this way).
pub fn state_with(db: PgPool, keys: KeyStore) -> anyhow::Result<AppState> {
    let http_metrics = HttpMetrics::new("v3")?;
    let metrics = V3Metrics::new(http_metrics.registry())?;
    Ok(AppState {
        readiness: Readiness::new(db.clone()),
        db,
        keys,
        http_metrics,
        metrics,
        chain: std::sync::Arc::default(),
    })
}

/// Serves V3 on `listener` until `shutdown` completes.
pub async fn run(
    config: &Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let keys = config.auth.load()?;
    let db = trizone_http::zone::connect(&config.database_url, DbRole::Quarantine, 8).await?;
    let state = state_with(db, keys)?;
    let mut tasks = Tasks::default();
    // `v3_records` and `v3_blacklist_size`, counted from the archive.
    let gauges = state.clone();
    tasks.spawn(trizone_http::zone::refresh_every(
        "count the archive",
        Duration::from_secs(15),
        tasks.stopped(),
        move || {
            let state = gauges.clone();
            async move { state.metrics.refresh(&state.db).await }
        },
    ));
    let app = router(state, Limits::default());
    serve_zone("V3 quarantine", listener, app, tasks, shutdown).await
}
