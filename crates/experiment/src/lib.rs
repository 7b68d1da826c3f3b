//! `trizone-experiment`, the V1 zone: experimenters register configurations
//! and measure them on labelled datasets. Library: [`router`] builds the
//! service for a state; [`run`] serves it. The binary is a thin `main`.

pub mod compare;
pub mod config;
pub mod datasets;
pub mod evidence_path;
pub mod experiments;
pub mod me;
pub mod metrics;
pub mod openapi;
pub mod per_key;
pub mod providers;
pub mod reevaluations;
pub mod register;
pub mod runs;
pub mod state;

use axum::Router;
use axum::routing::{get, post};
use trizone_http::layers::{self, Limits};
use trizone_http::zone::{Tasks, serve_zone};
use trizone_http::{HttpMetrics, Readiness};
use trizone_store::DbRole;
use utoipa::OpenApi;

pub use config::Config;
use metrics::V1Metrics;
pub use state::AppState;

/// Every V1 route, with the shared layers.
pub fn router(state: AppState, limits: Limits) -> Router {
    let routes = Router::new()
        .route(
            "/api/v1/experiments",
            post(register::register).get(experiments::list),
        )
        .route(
            "/api/v1/experiments/{id}",
            get(experiments::get).delete(experiments::withdraw),
        )
        .route("/api/v1/experiments/{a}/compare/{b}", get(compare::compare))
        .route(
            "/api/v1/experiments/{id}/evidence",
            get(evidence_path::path),
        )
        .route(
            "/api/v1/experiments/{id}/feedback",
            post(experiments::feedback),
        )
        .route("/api/v1/readiness", get(experiments::readiness))
        .route("/api/v1/providers", get(providers::list))
        .route("/api/v1/me", get(me::me))
        .route("/api/v1/reevaluations", post(reevaluations::create))
        .route(
            "/api/v1/datasets",
            post(datasets::upload).get(datasets::list),
        )
        .route("/api/v1/datasets/{id}", get(datasets::get))
        .route(
            "/api/v1/experiments/{id}/runs",
            post(runs::start).get(runs::list),
        )
        .route("/api/v1/runs/{id}", get(runs::get))
        .route("/api/v1/runs/{id}/events", get(runs::events))
        .route("/api/v1/runs/{id}/cases", get(runs::cases::list))
        .route("/api/v1/runs/{id}/cases/{case_id}", get(runs::cases::get))
        .route("/api/v1/runs/{id}/cancel", post(runs::cancel));
    layers::service(routes, openapi::ApiDoc::openapi(), state, limits)
}

/// Builds the state from `config`: keys, the database pool (as the
/// experiment role, or it refuses to start), metrics, and the providers
/// registrations may name.
pub async fn state(config: &Config, catalog: trizone_router::Catalog) -> anyhow::Result<AppState> {
    let keys = config.auth.load()?;
    let options: sqlx::postgres::PgConnectOptions =
        secrecy::ExposeSecret::expose_secret(&config.database_url).parse()?;
    let db = trizone_store::connect(options, DbRole::Experiment, 16).await?;
    let mut state = state_with(db, keys, catalog)?;
    state.upload_limits.max_bytes = config.dataset_limit;
    state.parsing = register::Parsing::new(config.parse_at_once, config.yaml_limit);
    state.max_concurrency = config.max_concurrency;
    state.v3 = config.v3_client()?;
    Ok(state)
}

/// The state for an existing pool (tests build it this way).
pub fn state_with(
    db: sqlx::PgPool,
    keys: trizone_http::KeyStore,
    catalog: trizone_router::Catalog,
) -> anyhow::Result<AppState> {
    let http_metrics = HttpMetrics::new("v1")?;
    let metrics = V1Metrics::new(http_metrics.registry())?;
    Ok(AppState {
        readiness: Readiness::new(db.clone()),
        db,
        keys,
        catalog,
        http_metrics,
        metrics,
        upload_limits: datasets::UploadLimits::default(),
        parsing: register::Parsing::default(),
        uploads: per_key::PerKey::new(2),
        streams: runs::streams::Streams::new(runs::streams::StreamSettings::default()),
        max_concurrency: 64,
        v3: None,
    })
}

/// The evaluation worker for `state`, asking models through `router`.
pub fn worker(
    state: &AppState,
    router: std::sync::Arc<trizone_router::ModelRouter>,
    settings: runs::worker::WorkerSettings,
) -> runs::worker::Worker {
    runs::worker::Worker::new(state.db.clone(), router, settings, state.metrics.clone())
}

/// Serves V1 on `listener` and works evaluation runs, asking the
/// operator's `providers`, until `shutdown` completes; a run in hand is
/// then released for another replica.
pub async fn run(
    config: &Config,
    providers: trizone_router::Providers,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = state(config, providers.catalog()).await?;
    // The worker has a pool of its own: requests that exhaust the API's
    // pool (slow uploads, a burst of reads) do not interrupt an evaluation.
    let pool_size = u32::try_from(config.runs_at_once.saturating_mul(2) + 2).unwrap_or(u32::MAX);
    let worker_db =
        trizone_http::zone::connect(&config.database_url, DbRole::Experiment, pool_size.max(8))
            .await?;
    let models = trizone_router::ModelRouter::new(
        providers,
        trizone_router::ResilienceSettings::default(),
        state.http_metrics.registry(),
    )?;
    let settings = runs::worker::WorkerSettings {
        lease: std::time::Duration::from_secs(config.lease_seconds.max(3)),
        runs_at_once: config.runs_at_once,
        case_budget: config.case_budget,
        max_run: std::time::Duration::from_secs(config.max_run_seconds),
        ..runs::worker::WorkerSettings::new(config.replica_name())
    };
    let mut tasks = Tasks::default();
    tasks.spawn(
        runs::worker::Worker::new(
            worker_db,
            std::sync::Arc::new(models),
            settings,
            state.metrics.clone(),
        )
        .run(tasks.stopped()),
    );
    let gauges = state.clone();
    tasks.spawn(trizone_http::zone::refresh_every(
        "read the experiments' latest runs",
        std::time::Duration::from_secs(15),
        tasks.stopped(),
        move || {
            let state = gauges.clone();
            async move { state.metrics.refresh(&state.db).await }
        },
    ));
    let limits = Limits {
        body_bytes: config.body_limit,
        ..Limits::default()
    };
    // Progress streams end first, so the server has nothing held open to
    // wait for.
    let streams = state.streams.clone();
    let shutdown = async move {
        shutdown.await;
        streams.close();
    };
    let app = router(state, limits);
    serve_zone("V1 experimentation", listener, app, tasks, shutdown).await
}
