//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;
use trizone_http::{HttpMetrics, KeyStore, Readiness};
use trizone_router::ModelRouter;

use crate::active::ActiveDeployment;
use crate::config::ServiceLimits;
use crate::metrics::V2Metrics;
use crate::rate_limit::RateLimit;
use crate::records::Recorder;
use crate::slo::SloBook;

#[derive(Clone, FromRef)]
pub struct AppState {
    pub db: PgPool,
    pub keys: KeyStore,
    pub http_metrics: HttpMetrics,
    pub readiness: Readiness,
    pub metrics: V2Metrics,
    pub active: ActiveDeployment,
    pub models: Arc<ModelRouter>,
    pub recorder: Arc<Recorder>,
    pub slo: Arc<SloBook>,
    pub rate_limit: RateLimit,
    pub limits: ServiceLimits,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}
