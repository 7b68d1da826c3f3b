//! What every handler can reach.

use axum::extract::FromRef;
use sqlx::PgPool;
use trizone_http::{HttpMetrics, KeyStore, Readiness};

use crate::datasets::UploadLimits;
use crate::metrics::V1Metrics;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub keys: KeyStore,
    /// The providers configurations may name.
    pub catalog: trizone_router::Catalog,
    pub http_metrics: HttpMetrics,
    pub readiness: Readiness,
    pub metrics: V1Metrics,
    pub upload_limits: UploadLimits,
    /// How registrations are parsed: how many at once, the YAML size cap.
    pub parsing: crate::register::Parsing,
    /// Uploads under way, per key.
    pub uploads: crate::per_key::PerKey,
    /// Open progress streams and the pollers they share.
    pub streams: crate::runs::streams::Streams,
    /// Most cases a run may have in flight.
    pub max_concurrency: i32,
    /// V3, for re-evaluations; `None` refuses them with a 503.
    pub v3: Option<crate::reevaluations::V3Client>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
