//! `POST /internal/smoke/{deployment_id}`: the gate's last check before it
//! enables a deployment. The bundled cases go through the deployment's
//! configuration here, with V2's credentials and network, and nothing of
//! it reaches users or V2's records.
//!
//! A smoke test asks "does this configuration work in production?", not
//! "is it accurate?" (V1 measured that): it passes when every case gets a
//! well-formed review. How many expected findings were matched is
//! reported per case, for the gate's record.

use std::sync::LazyLock;

use axum::extract::State;
use serde::Deserialize;
use trizone_api::{ReviewOutcome, SmokeCaseReport, SmokeReport};
use trizone_core::{ExpectedFinding, Finding, Language, MatchPolicy, score_case};
use trizone_http::auth::GateCalls;
use trizone_http::{ApiError, Authorized, Json, Path};
use trizone_router::ReviewInput;
use trizone_store::production::DeploymentStatus;
use uuid::Uuid;

use crate::state::AppState;

#[derive(Debug, Deserialize)]
struct SmokeCase {
    id: String,
    language: Language,
    path: String,
    code: String,
    expected_findings: Vec<ExpectedFinding>,
}

const CASES_JSONL: &str = include_str!("../smoke/cases.jsonl");

static CASES: LazyLock<Result<Vec<SmokeCase>, String>> = LazyLock::new(|| {
    CASES_JSONL
        .lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| format!("smoke case {}: {e}", i + 1))
        })
        .collect()
});

/// Runs the smoke cases through a deployment (the gate's token only).
#[utoipa::path(
    post, path = "/internal/smoke/{deployment_id}", tag = "internal",
    params(("deployment_id" = Uuid, Path, description = "Deployment to smoke-test")),
    responses(
        (status = 200, description = "Pass or fail, with each case's outcome", body = SmokeReport),
        (status = 403, description = "Not the gate's token", body = trizone_http::error::ErrorBody),
        (status = 404, description = "No such deployment", body = trizone_http::error::ErrorBody),
        (status = 409, description = "The deployment is not being promoted", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn run(
    _: Authorized<GateCalls>,
    State(state): State<AppState>,
    Path(deployment_id): Path<Uuid>,
) -> Result<Json<SmokeReport>, ApiError> {
    let deployment = trizone_store::production::get(&state.db, deployment_id).await?;
    // Each smoke test makes real provider calls: only the promotion under
    // way (the gate stores `smoke_testing` before it asks) is tested, not
    // any deployment a token can name.
    if deployment.status != DeploymentStatus::SmokeTesting {
        return Err(ApiError::Refused {
            code: "not_being_promoted",
            message: format!(
                "deployment {deployment_id} is {}: only a deployment being promoted is smoke-tested",
                deployment.status
            ),
        });
    }
    let cases = CASES.as_ref().map_err(|e| ApiError::internal(e.clone()))?;
    let config = &deployment.configuration;
    let models = &state.models;
    let reports = futures::future::join_all(cases.iter().map(|case| async move {
        let input = ReviewInput {
            code: &case.code,
            language: case.language.as_str(),
            path: &case.path,
        };
        let expected_findings = case.expected_findings.len();
        let reviewed = models.review(config, input).await;
        let latency_ms = reviewed.usage.latency_ms;
        match reviewed.result {
            Ok(review) => {
                let found: Vec<Finding> =
                    review.findings.iter().map(|f| f.finding.clone()).collect();
                let score = score_case(&case.expected_findings, &found, MatchPolicy::default());
                SmokeCaseReport {
                    id: case.id.clone(),
                    outcome: ReviewOutcome::Ok,
                    error_kind: None,
                    message: None,
                    answered_by: review.answered_by,
                    latency_ms,
                    findings: found.len(),
                    expected_findings,
                    matched: score.true_positives,
                    false_positives: score.false_positives,
                }
            }
            Err(error) => SmokeCaseReport {
                id: case.id.clone(),
                outcome: ReviewOutcome::Error,
                error_kind: Some(error.kind),
                message: Some(error.message),
                answered_by: Vec::new(),
                latency_ms,
                findings: 0,
                expected_findings,
                matched: 0,
                false_positives: 0,
            },
        }
    }))
    .await;
    let passed = reports.iter().all(|r| r.outcome == ReviewOutcome::Ok);
    tracing::info!(deployment = %deployment.id, version = deployment.version, passed, "smoke test");
    Ok(Json(SmokeReport {
        deployment_id: deployment.id,
        version: deployment.version,
        fingerprint: deployment.fingerprint,
        passed,
        cases: reports,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_cases_parse_and_cover_clean_and_faulty_code() {
        let cases = CASES.as_ref().unwrap();
        assert!(cases.len() >= 4);
        assert!(cases.iter().any(|c| c.expected_findings.is_empty()));
        assert!(cases.iter().any(|c| !c.expected_findings.is_empty()));
    }
}
