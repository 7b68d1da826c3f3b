//! `GET /api/v1/experiments/{id}/evidence`: how the judge's sequential
//! tests moved as the configuration's evidence grew, for charts.

use axum::extract::State;
use serde::Deserialize;
use trizone_api::experiments::{CheckTest, EvidencePath, EvidencePoint};
use trizone_core::Judge;
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::{evidence, experiments};
use uuid::Uuid;

use crate::state::AppState;

/// Most points a path may have.
const MAX_POINTS: i64 = 1_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PathQuery {
    /// Points to sample the path at, 2 to 1,000 (default 200).
    pub points: Option<i64>,
}

/// Each sequential test (accuracy, error rate, latency) after every few
/// cases of the pooled evidence, under the gate's thresholds.
#[utoipa::path(get, path = "/api/v1/experiments/{id}/evidence", tag = "experiments",
    params(("id" = Uuid, Path, description = "Experiment id"), PathQuery),
    responses((status = 200, body = EvidencePath),
              (status = 404, body = trizone_http::error::ErrorBody),
              (status = 422, description = "`points` out of range", body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn path(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
    Query(query): Query<PathQuery>,
) -> Result<Json<EvidencePath>, ApiError> {
    let points = query.points.unwrap_or(200);
    if !(2..=MAX_POINTS).contains(&points) {
        return Err(ApiError::invalid(
            "points",
            format!("must be from 2 to {MAX_POINTS}"),
        ));
    }
    let experiment = experiments::get(&state.db, id).await?;
    let thresholds = evidence::gate_thresholds(&state.db).await?;
    let grown = evidence::path(
        &state.db,
        experiment.fingerprint.as_str(),
        thresholds.max_p95_latency_ms,
        points,
    )
    .await?;
    let judge = Judge::new(&thresholds, None);
    let points: Vec<EvidencePoint> = grown
        .iter()
        .map(|evidence| EvidencePoint {
            cases: evidence.cases,
            tests: judge
                .verdict(evidence)
                .checks
                .into_iter()
                .filter_map(|check| {
                    check.test.map(|test| CheckTest {
                        check: check.name,
                        test,
                    })
                })
                .collect(),
        })
        .collect();
    Ok(Json(EvidencePath {
        fingerprint: experiment.fingerprint.to_string(),
        cases: grown.last().map_or(0, |evidence| evidence.cases),
        points,
    }))
}
