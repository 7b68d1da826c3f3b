//! `GET /api/v2/status`: what V2 serves and whether it meets its SLOs.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use trizone_core::Slo;
use trizone_http::auth::StatusReaders;
use trizone_http::{ApiError, Authorized, Json};
use trizone_store::reviews::Satisfaction;
use trizone_store::slo::WindowStats;
use uuid::Uuid;

use crate::state::AppState;

/// Windows the status looks back over.
const RECENT_WINDOWS: i64 = 5;
/// How long the status waits for the database before answering from this
/// replica's own windows.
const DATABASE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `None` until the gate promotes a first configuration.
    pub active: Option<ActiveStatus>,
    pub slo: Option<SloStatus>,
    /// True while V2 serves without its database (records are buffered).
    pub degraded: bool,
    /// Records waiting for the database on this replica.
    pub pending_records: usize,
    /// End users' feedback on the active deployment's reviews, over every
    /// replica; absent before a first promotion and while the database is
    /// away.
    pub satisfaction: Option<Satisfaction>,
    /// The candidate the gate is rolling out beside the active deployment,
    /// as this replica follows it; absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<RolloutStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RolloutStatus {
    pub deployment_id: Uuid,
    pub version: i64,
    pub fingerprint: String,
    /// Percent of API keys whose requests the candidate answers.
    pub share: f64,
    /// Share of requests mirrored to it after users are answered.
    pub shadow_sample: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActiveStatus {
    pub deployment_id: Uuid,
    pub version: i64,
    pub fingerprint: String,
    pub name: String,
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SloStatus {
    /// `all_replicas` (from the database) or `this_replica` (the database
    /// is away, so only this replica's windows are known).
    pub scope: &'static str,
    pub objectives: Slo,
    pub window_seconds: u32,
    pub requests: i64,
    pub errors: i64,
    pub error_rate: f64,
    pub latency_p95_ms: Option<f64>,
    pub latency_compliant: bool,
    pub error_rate_compliant: bool,
    /// The recent windows, oldest first.
    pub windows: Vec<WindowStats>,
}

/// The active deployment and its SLO compliance over the recent windows.
#[utoipa::path(
    get, path = "/api/v2/status", tag = "status",
    responses((status = 200, description = "Active deployment and SLO compliance", body = Status)),
    security(("bearer" = []))
)]
pub async fn get(
    _: Authorized<StatusReaders>,
    State(state): State<AppState>,
) -> Result<Json<Status>, ApiError> {
    let degraded = state.metrics.database_available.get() == 0;
    let pending_records = state.recorder.pending();
    let Some(active) = state.active.load() else {
        return Ok(Json(Status {
            active: None,
            slo: None,
            degraded,
            pending_records,
            satisfaction: None,
            rollout: None,
        }));
    };
    let window_seconds = state.slo.window_seconds();
    let since = state.slo.window_start(Utc::now())
        - chrono::Duration::seconds(i64::from(window_seconds) * (RECENT_WINDOWS - 1));
    let objectives = Slo::default();
    let history = tokio::time::timeout(
        DATABASE_WAIT,
        trizone_store::slo::history_since(&state.db, active.id, since),
    )
    .await;
    let slo = match history {
        Ok(Ok(history)) => SloStatus::new(
            "all_replicas",
            objectives,
            window_seconds,
            history.windows,
            history.requests,
            history.errors,
            history.latency_p95_ms,
        ),
        Ok(Err(_)) | Err(_) => {
            let windows: Vec<WindowStats> = state
                .slo
                .local_windows(active.id)
                .into_iter()
                .filter(|w| w.window_start >= since)
                .collect();
            let requests = windows.iter().map(|w| w.requests).sum();
            let errors = windows.iter().map(|w| w.errors).sum();
            // Without the histograms merged, the worst window's p95 bounds
            // the period's from above.
            let p95 = windows
                .iter()
                .filter_map(|w| w.latency_p95_ms)
                .reduce(f64::max);
            SloStatus::new(
                "this_replica",
                objectives,
                window_seconds,
                windows,
                requests,
                errors,
                p95,
            )
        }
    };
    let satisfaction = tokio::time::timeout(
        DATABASE_WAIT,
        trizone_store::reviews::satisfaction(&state.db, active.id),
    )
    .await
    .ok()
    .and_then(Result::ok);
    let rollout = state.active.candidate().map(|c| RolloutStatus {
        deployment_id: c.deployment.id,
        version: c.deployment.version,
        fingerprint: c.deployment.fingerprint.clone(),
        share: c.share,
        shadow_sample: c.shadow_sample,
    });
    Ok(Json(Status {
        satisfaction,
        rollout,
        active: Some(ActiveStatus {
            deployment_id: active.id,
            version: active.version,
            fingerprint: active.fingerprint.clone(),
            name: active.configuration.name.clone(),
            since: active.since,
        }),
        slo: Some(slo),
        degraded,
        pending_records,
    }))
}

impl SloStatus {
    fn new(
        scope: &'static str,
        objectives: Slo,
        window_seconds: u32,
        windows: Vec<WindowStats>,
        requests: i64,
        errors: i64,
        latency_p95_ms: Option<f64>,
    ) -> Self {
        let breaches = objectives.breaches(requests, errors, latency_p95_ms);
        Self {
            scope,
            objectives,
            window_seconds,
            requests,
            errors,
            error_rate: trizone_store::slo::error_rate(errors, requests),
            latency_p95_ms,
            latency_compliant: !breaches.latency_p95,
            error_rate_compliant: !breaches.error_rate,
            windows,
        }
    }
}
