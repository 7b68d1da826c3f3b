//! What every handler can reach, behind one `Arc`: axum clones the state
//! for every request, and one reference count is cheaper than two dozen.

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

#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

#[derive(Debug)]
pub struct Shared {
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
    pub shadow: crate::shadow::Shadow,
    /// Large diffs read at once, each on a blocking thread.
    pub diff_reading: tokio::sync::Semaphore,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

// The shared extractors and handlers (auth, health, metrics) find their
// part of the state through these. Written out, not derived: the derive
// needs the parts as fields of the state itself, and V2 keeps them behind
// its one `Arc` so a request clones one reference count.
impl FromRef<AppState> for KeyStore {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}

impl FromRef<AppState> for HttpMetrics {
    fn from_ref(state: &AppState) -> Self {
        state.http_metrics.clone()
    }
}

impl FromRef<AppState> for Readiness {
    fn from_ref(state: &AppState) -> Self {
        state.readiness.clone()
    }
}
