//! `POST /api/v2/reviews` and what follows it: reading a review back and
//! leaving feedback. A review is written as JSON or SARIF, as asked. The request path never touches the database: the
//! record goes to the writer's queue, so reviews keep being served while
//! the database is away.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use trizone_api::reviews::{
    FeedbackRequest, FeedbackResponse, ReviewAnswer, ReviewRequest, ReviewResponse,
};
use trizone_api::sarif::SarifLog;
use trizone_http::auth::EndUsers;
use trizone_http::{ApiError, Authorized, Caller, Json, Path, Role};
use trizone_store::StoreError;
use trizone_store::reviews::FeedbackRecord;
use uuid::Uuid;

use crate::diff_reviews;
use crate::media::{Representation, ReviewBody};
use crate::records::Record;
use crate::serving;
use crate::state::AppState;

/// Longest `path` accepted.
const MAX_PATH_CHARS: usize = 1024;
/// Longest feedback comment accepted.
const MAX_COMMENT_CHARS: usize = 4000;

/// Reviews a file (JSON) or a unified diff (`text/x-diff`) with the active
/// configuration, answered as JSON or, with `Accept: application/sarif+json`,
/// as SARIF 2.1.0.
#[utoipa::path(
    post, path = "/api/v2/reviews", tag = "reviews",
    request_body(
        description = "One file as JSON, or a unified diff (`git diff`) of one or more files as `text/x-diff` (or `text/x-patch`)",
        content(
            (ReviewRequest = "application/json"),
            (String = "text/x-diff"),
            (String = "text/x-patch"),
        )
    ),
    responses(
        (status = 201, description = "The review of a file, or of each reviewable file of a diff (findings on added lines only, numbered as in the new file)", content(
            (ReviewAnswer = "application/json"),
            (SarifLog = "application/sarif+json"),
        )),
        (status = 401, description = "No valid token", body = trizone_http::error::ErrorBody),
        (status = 403, description = "Not an end user or admin", body = trizone_http::error::ErrorBody),
        (status = 406, description = "The Accept header asks for neither JSON nor SARIF", body = trizone_http::error::ErrorBody),
        (status = 413, description = "`code`, the diff, one diff file's hunks or the body is too large (`field` names which)", body = trizone_http::error::ErrorBody),
        (status = 415, description = "Neither JSON nor a diff", body = trizone_http::error::ErrorBody),
        (status = 422, description = "A field is missing or invalid, the diff does not parse (the message names its line), or it has too many files or hunks", body = trizone_http::error::ErrorBody),
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
    representation: Representation,
    body: ReviewBody,
) -> Result<Response, ApiError> {
    let caller = auth.caller();
    let request = match body {
        ReviewBody::File(request) => request,
        ReviewBody::Diff(diff) => {
            let answer = diff_reviews::review(&state, diff, &caller.key_id).await?;
            let body = match representation {
                Representation::Json => Json(ReviewAnswer::Diff(answer)).into_response(),
                Representation::Sarif => sarif(SarifLog::of(
                    &answer.deployment,
                    &answer.files,
                    &answer.skipped,
                )),
            };
            return Ok((StatusCode::CREATED, body).into_response());
        }
    };
    state.rate_limit.check(&caller.key_id).inspect_err(|_| {
        state.metrics.rate_limited.inc();
    })?;
    validate(&request, state.limits.code_bytes)?;
    let pick = state
        .active
        .pick(&caller.key_id)
        .ok_or_else(no_deployment)?;
    let (role, served) = serving::answer(&state, &pick, request, &caller.key_id).await;
    serving::mirror(&state, &pick, &served);
    let ((id, body), failure) = serving::record(&state, role, served, |review| {
        (review.id, represent(representation, review))
    });
    if let Some(error) = failure {
        return Err(error);
    }
    let location = [(header::LOCATION, format!("/api/v2/reviews/{id}"))];
    Ok((StatusCode::CREATED, location, body).into_response())
}

/// Before the first promotion there is nothing to review with.
pub fn no_deployment() -> ApiError {
    ApiError::Unavailable {
        message: "no configuration is active in V2 yet: the gate has not promoted one".into(),
    }
}

/// One review, as JSON (the answer to a request for one file) or as SARIF.
fn represent(representation: Representation, review: &ReviewResponse) -> Response {
    match representation {
        // `ReviewAnswer` is untagged: a file's answer is the review itself.
        Representation::Json => Json(review).into_response(),
        Representation::Sarif => sarif(SarifLog::of(
            &review.deployment,
            std::slice::from_ref(review),
            &[],
        )),
    }
}

fn sarif(log: SarifLog) -> Response {
    (
        [(header::CONTENT_TYPE, trizone_api::sarif::MEDIA_TYPE)],
        Json(log),
    )
        .into_response()
}

fn validate(request: &ReviewRequest, code_limit: usize) -> Result<(), ApiError> {
    if request.code.trim().is_empty() {
        return Err(ApiError::invalid("code", "must not be empty"));
    }
    if request.code.len() > code_limit {
        return Err(ApiError::PayloadTooLarge {
            message: format!(
                "code is {} bytes; at most {code_limit} are reviewed",
                request.code.len()
            ),
            field: Some("code".into()),
        });
    }
    if let Some(path) = &request.path {
        check_path(path, "path")?;
    }
    Ok(())
}

/// A path a review may carry: bounded, without control characters, and
/// relative to the repository. It is answered, printed and written into
/// SARIF's `uri`, where `/etc/…`, `../…` or `//host/…` would point outside
/// the repository (a network-path reference, for `//`).
pub fn check_path(path: &str, field: &str) -> Result<(), ApiError> {
    if path.chars().count() > MAX_PATH_CHARS
        || path
            .chars()
            .any(|c| c.is_control() || trizone_core::text::is_unsafe(c))
    {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_PATH_CHARS} characters, without control characters"),
        ));
    }
    if path.starts_with('/')
        || path.contains("//")
        || path.split(['/', '\\']).any(|part| part == "..")
    {
        return Err(ApiError::invalid(
            field,
            "must be a path inside the repository: not absolute, without `..` or `//`",
        ));
    }
    Ok(())
}

/// A review, by whoever asked for it (or an admin).
#[utoipa::path(
    get, path = "/api/v2/reviews/{id}", tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "The review", content(
            (ReviewResponse = "application/json"),
            (SarifLog = "application/sarif+json"),
        )),
        (status = 404, description = "No such review of yours", body = trizone_http::error::ErrorBody),
        (status = 406, description = "The Accept header asks for neither JSON nor SARIF", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    auth: Authorized<EndUsers>,
    State(state): State<AppState>,
    representation: Representation,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let review = find(&state, id, auth.caller()).await?;
    // A review read back is the file review it was answered as.
    Ok(represent(representation, &review))
}

/// Finds a review the caller may see, written or still queued.
async fn find(state: &AppState, id: Uuid, caller: &Caller) -> Result<ReviewResponse, ApiError> {
    let not_found = || ApiError::NotFound {
        entity: "review",
        id: id.to_string(),
    };
    let (review, requested_by) = if let Some(pending) = state.recorder.find_review(id) {
        (pending.review, pending.requested_by)
    } else {
        match trizone_store::reviews::get(&state.db, id).await {
            Ok(stored) => (stored.review, stored.requested_by),
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

/// Says how useful a review was. Each key has one say per review: a
/// second feedback replaces the first. Feedback is charged to the key's
/// rate limit like a review.
#[utoipa::path(
    post, path = "/api/v2/reviews/{id}/feedback", tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    request_body = FeedbackRequest,
    responses(
        (status = 201, description = "Feedback recorded", body = FeedbackResponse),
        (status = 200, description = "Feedback recorded in place of this key's earlier feedback on the review", body = FeedbackResponse),
        (status = 404, description = "No such review of yours", body = trizone_http::error::ErrorBody),
        (status = 422, description = "Satisfaction outside 0-5, or a comment too long or with control characters", body = trizone_http::error::ErrorBody),
        (status = 429, description = "Rate limited; see Retry-After", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn feedback(
    auth: Authorized<EndUsers>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(request): Json<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackResponse>), ApiError> {
    let caller = auth.caller();
    state.rate_limit.check(&caller.key_id).inspect_err(|_| {
        state.metrics.rate_limited.inc();
    })?;
    let satisfaction = i16::try_from(request.satisfaction)
        .ok()
        .filter(|s| (0..=5).contains(s))
        .ok_or_else(|| ApiError::invalid("satisfaction", "must be an integer from 0 to 5"))?;
    ApiError::check_prose("comment", &request.comment, MAX_COMMENT_CHARS)?;
    let review = find(&state, id, caller).await?;
    let replaces = state
        .recorder
        .find_feedback(id)
        .iter()
        .any(|pending| pending.author == caller.key_id)
        || trizone_store::reviews::has_feedback_from(&state.db, id, &caller.key_id)
            .await
            // The writer replaces it all the same; only the metric could
            // count it twice, which is no reason to refuse while away.
            .unwrap_or(false);
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
    // A replaced score was counted already; counting again would let one
    // key move the deployment's mean.
    if replaces {
        return Ok((StatusCode::OK, Json(response)));
    }
    state
        .metrics
        .feedback_score
        .with_label_values(&[review.deployment.version.to_string().as_str()])
        .observe(f64::from(satisfaction));
    Ok((StatusCode::CREATED, Json(response)))
}
