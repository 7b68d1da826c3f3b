//! Serving one review: the active configuration reviews the code, and its
//! latency is observed once, for the SLO windows and the overhead metric.
//! The handler turns the one value this returns into the record V2 keeps,
//! which holds the answer the user gets.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use trizone_api::reviews::{DeploymentRef, Fallback, ReviewRequest, ReviewResponse};
use trizone_api::states::ReviewOutcome;
use trizone_http::ApiError;
use trizone_router::{CallOutcome, Review, ReviewInput, Reviewed, RouterError};
use trizone_store::reviews::ReviewRecord;
use uuid::Uuid;

use std::sync::Arc;

use crate::active::{Active, Pick, Role};
use crate::records::Record;
use crate::shadow::{Shadow, ShadowJob};
use crate::state::AppState;

/// A request as served: what was asked, by whom, of which deployment, and
/// what the router did about it.
#[derive(Debug)]
pub struct Served {
    pub id: Uuid,
    pub deployment: DeploymentRef,
    pub request: ReviewRequest,
    pub requested_by: String,
    pub created_at: DateTime<Utc>,
    pub reviewed: Reviewed,
}

/// Reviews `request` with `active`'s configuration.
pub async fn serve(
    state: &AppState,
    active: &Active,
    request: ReviewRequest,
    requested_by: &str,
) -> Served {
    let created_at = Utc::now();
    let input = ReviewInput {
        code: &request.code,
        language: request.language.as_str(),
        path: request.path.as_deref().unwrap_or(""),
    };
    let reviewed = state.models.review(&active.configuration, input).await;
    let usage = reviewed.usage;
    state
        .metrics
        .latency_overhead
        .observe(((usage.latency_ms - usage.provider_wait_ms) / 1000.0).max(0.0));
    state.slo.observe(
        active.id,
        created_at,
        usage.latency_ms,
        reviewed.result.is_err(),
    );
    Served {
        // Time-ordered, so each review lands at the right edge of the
        // primary-key index instead of on a random page of it.
        id: Uuid::now_v7(),
        deployment: active.deployment_ref(),
        request,
        requested_by: requested_by.to_owned(),
        created_at,
        reviewed,
    }
}

impl Served {
    /// The error the user gets when no model answered (counted per kind).
    pub fn failure(&self, state: &AppState) -> Option<ApiError> {
        let error = self.reviewed.result.as_ref().err()?;
        Some(provider_error(state, error, &self.reviewed.calls))
    }

    pub fn outcome(&self) -> ReviewOutcome {
        if self.reviewed.result.is_ok() {
            ReviewOutcome::Ok
        } else {
            ReviewOutcome::Error
        }
    }
}

/// Serves `request` as `pick` says. A canary answer that failed is asked
/// again of the stable configuration: the failure counts against the
/// candidate (its SLO windows, where the gate judges it, and its role's
/// metrics), but the user gets the stable answer, told of the fallback.
/// The role returned is that of the configuration whose answer is kept.
pub async fn answer(
    state: &AppState,
    pick: &Pick,
    request: ReviewRequest,
    requested_by: &str,
) -> (Role, Served) {
    let served = serve(state, &pick.serving, request, requested_by).await;
    let (Some(stable), Err(error)) = (&pick.fallback, &served.reviewed.result) else {
        return (pick.role, served);
    };
    let failed = served.reviewed.usage;
    observe_role(state, pick.role, ReviewOutcome::Error, failed.latency_ms);
    state.metrics.canary_failovers.inc();
    let fallback = Fallback {
        from: served
            .reviewed
            .calls
            .last()
            .map_or_else(|| "the canary".to_owned(), CallOutcome::model_id),
        reason: error.kind,
        message: format!(
            "the canary configuration (deployment v{}) failed ({}); the stable one answered",
            served.deployment.version, error.kind
        ),
    };
    let mut again = serve(state, stable, served.request, requested_by).await;
    // The user waited for both, and both calls are paid for.
    again.reviewed.usage.latency_ms += failed.latency_ms;
    again.reviewed.usage.cost_usd += failed.cost_usd;
    if let Ok(review) = &mut again.reviewed.result {
        review.fallback.get_or_insert(fallback);
    }
    (Role::Stable, again)
}

/// Counts one review by the role of the configuration that answered it.
pub fn observe_role(state: &AppState, role: Role, outcome: ReviewOutcome, latency_ms: f64) {
    state
        .metrics
        .role_reviews
        .with_label_values(&[role.as_str(), outcome.as_str()])
        .inc();
    state
        .metrics
        .role_duration
        .with_label_values(&[role.as_str()])
        .observe(latency_ms / 1000.0);
}

/// Mirrors `served` to the shadowing candidate `pick` names, when the
/// request falls in its sample: after the answer exists, never in its way.
pub fn mirror(state: &AppState, pick: &Pick, served: &Served) {
    let Some((candidate, sample)) = &pick.shadow else {
        return;
    };
    if !Shadow::sampled(served.id, *sample) {
        return;
    }
    let stable_findings = served
        .reviewed
        .result
        .as_ref()
        .map(|review| review.findings.iter().map(|f| f.finding.clone()).collect())
        .unwrap_or_default();
    state.shadow.offer(
        state,
        ShadowJob {
            candidate: Arc::clone(candidate),
            stable_id: served.deployment.id,
            review_id: served.id,
            request: served.request.clone(),
            stable_outcome: served.outcome(),
            stable_findings,
            stable_latency_ms: served.reviewed.usage.latency_ms,
            stable_cost_usd: served.reviewed.usage.cost_usd,
        },
    );
}

/// Counts `served` under `role`, queues its record and returns what the
/// user gets: `answer` made of the review (before the record is queued, so
/// the review is not copied for it), and the error to answer instead when
/// no model answered.
pub fn record<T>(
    state: &AppState,
    role: Role,
    served: Served,
    answer: impl FnOnce(&ReviewResponse) -> T,
) -> (T, Option<ApiError>) {
    observe_role(
        state,
        role,
        served.outcome(),
        served.reviewed.usage.latency_ms,
    );
    let failure = served.failure(state);
    let record = ReviewRecord::from(served);
    let answer = answer(&record.review);
    // A full buffer is counted by the recorder; the user still gets the review.
    let _ = state.recorder.push(Record::Review(Box::new(record)));
    (answer, failure)
}

impl From<Served> for ReviewRecord {
    fn from(served: Served) -> Self {
        let (outcome, error_kind, review) = match served.reviewed.result {
            Ok(review) => (ReviewOutcome::Ok, None, review),
            // An `error` review has no findings.
            Err(error) => (ReviewOutcome::Error, Some(error.kind), Review::default()),
        };
        let code = served.request.code;
        Self {
            review: ReviewResponse {
                id: served.id,
                deployment: served.deployment,
                language: served.request.language,
                path: served.request.path,
                outcome,
                error_kind,
                findings: review.findings,
                summary: review.summary,
                answered_by: review.answered_by,
                fallback: review.fallback,
                latency_ms: served.reviewed.usage.latency_ms,
                created_at: served.created_at,
            },
            code_bytes: i32::try_from(code.len()).unwrap_or(i32::MAX),
            code_sha256: hex::encode(Sha256::digest(code.as_bytes())),
            cost_usd: served.reviewed.usage.cost_usd,
            requested_by: served.requested_by,
        }
    }
}

fn provider_error(state: &AppState, error: &RouterError, calls: &[CallOutcome]) -> ApiError {
    let kind = error.kind;
    state
        .metrics
        .provider_failures
        .with_label_values(&[kind.as_str()])
        .inc();
    let models: Vec<String> = calls.iter().map(CallOutcome::model_id).collect();
    ApiError::Provider {
        kind,
        message: format!(
            "no model could review the code ({kind}); tried {}",
            if models.is_empty() {
                "none".to_owned()
            } else {
                models.join(", ")
            }
        ),
    }
}
