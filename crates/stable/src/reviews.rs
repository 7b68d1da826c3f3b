//! `POST /api/v2/reviews` and what follows it: reading a review back and
//! leaving feedback. The request path never touches the database: the
//! record goes to the writer's queue, so reviews keep being served while
//! the database is away.

use axum::extract::State;
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use trizone_core::Language;
use trizone_http::auth::EndUsers;
use trizone_http::{ApiError, Authorized, Caller, Json, Path, Role};
use trizone_router::{CallOutcome, Fallback, ReviewFinding, ReviewInput, RouterError, Usage};
use trizone_store::StoreError;
use trizone_store::reviews::{FeedbackRecord, ReviewRecord};
use uuid::Uuid;

use crate::active::Active;
use crate::records::{PendingReview, Record};
use crate::state::AppState;

/// Longest `path` accepted.
const MAX_PATH_CHARS: usize = 1024;
/// Longest feedback comment accepted.
const MAX_COMMENT_CHARS: usize = 4000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub language: Language,
    /// The source to review.
    pub code: String,
    /// Where the file lives, for the reviewer's context.
    #[serde(default)]
    pub path: Option<String>,
}

/// The deployment that produced a review.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeploymentRef {
    pub id: Uuid,
    pub version: i64,
    pub fingerprint: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewResponse {
    pub id: Uuid,
    pub deployment: DeploymentRef,
    pub language: String,
    pub path: Option<String>,
    /// `ok`, or `error` for a review no model answered.
    pub outcome: String,
    /// The kind of failure, for an `error` outcome.
    pub error_kind: Option<String>,
    #[schema(value_type = Vec<ReviewFinding>)]
    pub findings: serde_json::Value,
    pub summary: String,
    /// `provider/model` of every model whose answer is in the review.
    pub answered_by: Vec<String>,
    /// Set when the secondary model answered because the primary failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    pub latency_ms: f64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// 0 (useless) to 5 (excellent).
    pub satisfaction: i64,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackResponse {
    pub id: Uuid,
    pub review_id: Uuid,
    pub satisfaction: i16,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

/// Reviews a file with the active configuration.
#[utoipa::path(
    post, path = "/api/v2/reviews", tag = "reviews",
    request_body = ReviewRequest,
    responses(
        (status = 201, description = "The review", body = ReviewResponse),
        (status = 401, description = "No valid token", body = trizone_http::error::ErrorBody),
        (status = 403, description = "Not an end user or admin", body = trizone_http::error::ErrorBody),
        (status = 413, description = "`code` or the body is too large", body = trizone_http::error::ErrorBody),
        (status = 415, description = "Not JSON", body = trizone_http::error::ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = trizone_http::error::ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = trizone_http::error::ErrorBody),
        (status = 502, description = "No model answered (`kind` says why)", body = trizone_http::error::ErrorBody),
        (status = 503, description = "No configuration is active yet", body = trizone_http::error::ErrorBody),
        (status = 504, description = "The models ran out of time", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    auth: Authorized<EndUsers>,
    State(state): State<AppState>,
    Json(request): Json<ReviewRequest>,
) -> Result<
    (
        StatusCode,
        [(header::HeaderName, String); 1],
        Json<ReviewResponse>,
    ),
    ApiError,
> {
    let caller = auth.caller();
    state.rate_limit.check(&caller.key_id).inspect_err(|_| {
        state.metrics.rate_limited.inc();
    })?;
    request.validate(state.limits.code_bytes)?;
    let active = state.active.load().ok_or_else(|| ApiError::Unavailable {
        message: "no configuration is active in V2 yet: the gate has not promoted one".into(),
    })?;
    let created_at = Utc::now();
    let input = ReviewInput {
        code: &request.code,
        language: request.language.as_str(),
        path: request.path.as_deref().unwrap_or(""),
    };
    let reviewed = state.models.review(&active.configuration, input).await;
    let Usage {
        latency_ms,
        provider_wait_ms,
        cost_usd,
        ..
    } = reviewed.usage;
    state
        .metrics
        .latency_overhead
        .observe(((latency_ms - provider_wait_ms) / 1000.0).max(0.0));
    state
        .slo
        .observe(active.id, created_at, latency_ms, reviewed.result.is_err());

    let mut record = ReviewRecord {
        id: Uuid::new_v4(),
        deployment_id: active.id,
        fingerprint: active.fingerprint.clone(),
        language: request.language.as_str().to_owned(),
        path: request.path.clone(),
        code_bytes: i32::try_from(request.code.len()).unwrap_or(i32::MAX),
        code_sha256: hex::encode(Sha256::digest(request.code.as_bytes())),
        outcome: "ok",
        error_kind: None,
        findings: serde_json::Value::Array(Vec::new()),
        summary: String::new(),
        answered_by: Vec::new(),
        fallback: None,
        latency_ms,
        cost_usd,
        requested_by: caller.key_id.clone(),
        created_at,
    };
    let review = match reviewed.result {
        Ok(review) => review,
        Err(error) => {
            record.outcome = "error";
            record.error_kind = Some(error.kind.as_str().to_owned());
            keep(&state, record, &active);
            return Err(provider_error(&state, &error, &reviewed.calls));
        }
    };
    record.findings = serde_json::to_value(&review.findings).map_err(ApiError::internal)?;
    record.summary = review.summary;
    record.answered_by = review.answered_by;
    record.fallback = review
        .fallback
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(ApiError::internal)?;
    let response = ReviewResponse {
        id: record.id,
        deployment: deployment_ref(&active),
        language: record.language.clone(),
        path: record.path.clone(),
        outcome: record.outcome.to_owned(),
        error_kind: None,
        findings: record.findings.clone(),
        summary: record.summary.clone(),
        answered_by: record.answered_by.clone(),
        fallback: review.fallback,
        latency_ms,
        created_at,
    };
    keep(&state, record, &active);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v2/reviews/{}", response.id))],
        Json(response),
    ))
}

impl ReviewRequest {
    fn validate(&self, code_limit: usize) -> Result<(), ApiError> {
        if self.code.trim().is_empty() {
            return Err(ApiError::invalid("code", "must not be empty"));
        }
        if self.code.len() > code_limit {
            return Err(ApiError::PayloadTooLarge {
                message: format!(
                    "code is {} bytes; at most {code_limit} are reviewed",
                    self.code.len()
                ),
                field: Some("code".into()),
            });
        }
        if let Some(path) = &self.path
            && (path.chars().count() > MAX_PATH_CHARS || path.chars().any(char::is_control))
        {
            return Err(ApiError::invalid(
                "path",
                format!("must be at most {MAX_PATH_CHARS} characters, without control characters"),
            ));
        }
        Ok(())
    }
}

fn keep(state: &AppState, record: ReviewRecord, active: &Active) {
    // A full buffer is counted by the recorder; the user still gets the review.
    let _ = state.recorder.push(Record::Review(Box::new(PendingReview {
        record,
        deployment_version: active.version,
    })));
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

fn deployment_ref(active: &Active) -> DeploymentRef {
    DeploymentRef {
        id: active.id,
        version: active.version,
        fingerprint: active.fingerprint.clone(),
    }
}

/// A review, by whoever asked for it (or an admin).
#[utoipa::path(
    get, path = "/api/v2/reviews/{id}", tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "The review", body = ReviewResponse),
        (status = 404, description = "No such review of yours", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    auth: Authorized<EndUsers>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<ReviewResponse>, ApiError> {
    let review = find(&state, id, auth.caller()).await?;
    Ok(Json(review))
}

/// Finds a review the caller may see, written or still queued.
async fn find(state: &AppState, id: Uuid, caller: &Caller) -> Result<ReviewResponse, ApiError> {
    let not_found = || ApiError::NotFound {
        entity: "review",
        id: id.to_string(),
    };
    let (review, requested_by) = if let Some(pending) = state.recorder.find_review(id) {
        let requested_by = pending.record.requested_by.clone();
        (from_pending(pending), requested_by)
    } else {
        match trizone_store::reviews::get(&state.db, id).await {
            Ok(stored) => {
                let requested_by = stored.requested_by.clone();
                (from_stored(stored), requested_by)
            }
            Err(StoreError::NotFound { .. }) => return Err(not_found()),
            Err(error) => return Err(error.into()),
        }
    };
    // Someone else's review is as invisible as a missing one.
    if caller.role != Role::Admin && requested_by != caller.key_id {
        return Err(not_found());
    }
    Ok(review)
}

fn from_pending(pending: PendingReview) -> ReviewResponse {
    let record = pending.record;
    ReviewResponse {
        id: record.id,
        deployment: DeploymentRef {
            id: record.deployment_id,
            version: pending.deployment_version,
            fingerprint: record.fingerprint,
        },
        language: record.language,
        path: record.path,
        outcome: record.outcome.to_owned(),
        error_kind: record.error_kind,
        findings: record.findings,
        summary: record.summary,
        fallback: fallback_of(record.fallback.as_ref()),
        answered_by: record.answered_by,
        latency_ms: record.latency_ms,
        created_at: record.created_at,
    }
}

fn from_stored(stored: trizone_store::reviews::StoredReview) -> ReviewResponse {
    ReviewResponse {
        id: stored.id,
        deployment: DeploymentRef {
            id: stored.deployment_id,
            version: stored.deployment_version,
            fingerprint: stored.fingerprint,
        },
        language: stored.language,
        path: stored.path,
        outcome: stored.outcome,
        error_kind: stored.error_kind,
        findings: stored.findings,
        summary: stored.summary,
        fallback: fallback_of(stored.fallback.as_ref()),
        answered_by: stored.answered_by,
        latency_ms: stored.latency_ms,
        created_at: stored.created_at,
    }
}

/// The fallback a review was served with, read back from its record.
fn fallback_of(stored: Option<&serde_json::Value>) -> Option<Fallback> {
    let stored = stored?;
    serde_json::from_value(stored.clone())
        .inspect_err(
            |error| tracing::warn!(%error, "a stored review's fallback does not read back"),
        )
        .ok()
}

/// Says how useful a review was.
#[utoipa::path(
    post, path = "/api/v2/reviews/{id}/feedback", tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Feedback recorded", body = FeedbackResponse),
        (status = 404, description = "No such review of yours", body = trizone_http::error::ErrorBody),
        (status = 422, description = "Satisfaction outside 0-5, or comment too long", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn feedback(
    auth: Authorized<EndUsers>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(request): Json<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackResponse>), ApiError> {
    let satisfaction = i16::try_from(request.satisfaction)
        .ok()
        .filter(|s| (0..=5).contains(s))
        .ok_or_else(|| ApiError::invalid("satisfaction", "must be an integer from 0 to 5"))?;
    if request.comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(ApiError::invalid(
            "comment",
            format!("must be at most {MAX_COMMENT_CHARS} characters"),
        ));
    }
    find(&state, id, auth.caller()).await?;
    let record = FeedbackRecord {
        feedback_id: Uuid::new_v4(),
        review_id: id,
        score: satisfaction,
        comment: request.comment,
        author: auth.caller().key_id.clone(),
        created_at: Utc::now(),
    };
    let response = FeedbackResponse {
        id: record.feedback_id,
        review_id: id,
        satisfaction,
        comment: record.comment.clone(),
        created_at: record.created_at,
    };
    state
        .recorder
        .push(Record::Feedback(record))
        .map_err(|_| ApiError::Unavailable {
            message: "feedback cannot be kept right now; retry shortly".into(),
        })?;
    Ok((StatusCode::CREATED, Json(response)))
}
