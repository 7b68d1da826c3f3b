//! A run's per-case results: what each case expected, what the model found
//! and how the two were matched, its raw answer and what it cost, so an
//! experimenter can see which cases a run got wrong, and why.

use axum::extract::State;
use serde::Deserialize;
use trizone_api::runs::CaseDetail;
use trizone_core::Language;
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::experiments;
use trizone_store::runs::{self, CaseFilter, CaseOutcome};
use uuid::Uuid;

pub use trizone_api::runs::{CasePage, CaseResult};

use crate::state::AppState;

/// At most this many cases a page.
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    /// Only cases that ended so: `correct`, `wrong`, `error` or
    /// `not_needed` (the run was decided before it got there).
    pub outcome: Option<CaseOutcome>,
    /// Only cases with (`true`) or without (`false`) a false positive.
    pub false_positive: Option<bool>,
    /// Only cases with (`true`) or without (`false`) a false negative.
    pub false_negative: Option<bool>,
    /// Only cases in this language.
    pub language: Option<Language>,
    /// Only cases whose answer had (`true`) or had not (`false`) to be
    /// unwrapped to be read (a fenced object).
    pub recovered: Option<bool>,
    /// The previous page's `next_after`.
    pub after: Option<String>,
    /// Cases per page, 1 to 500 (default 50).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/cases", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"), CaseQuery),
    responses((status = 200, body = CasePage), (status = 404, body = trizone_http::error::ErrorBody),
              (status = 400, description = "A filter that does not parse, named in the message", body = trizone_http::error::ErrorBody),
              (status = 422, description = "A filter or limit out of range", body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
    Query(query): Query<CaseQuery>,
) -> Result<Json<CasePage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be from 1 to {MAX_LIMIT}"),
        ));
    }
    let run = runs::get(&state.db, id).await?;
    let experiment = experiments::get(&state.db, run.experiment_id).await?;
    let filter = CaseFilter {
        outcome: query.outcome,
        false_positive: query.false_positive,
        false_negative: query.false_negative,
        language: query.language,
        recovered: query.recovered,
        case_id: None,
        after: query.after,
        // One more than asked for says whether another page follows.
        limit: limit + 1,
    };
    let mut cases = runs::cases(&state.db, &run, experiment.fingerprint.as_str(), &filter).await?;
    let more = cases.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    cases.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_after = more
        .then(|| cases.last().map(|c| c.case_id.clone()))
        .flatten();
    Ok(Json(CasePage { cases, next_after }))
}

/// One case of a run, with its code.
#[utoipa::path(get, path = "/api/v1/runs/{id}/cases/{case_id}", tag = "runs",
    params(("id" = Uuid, Path, description = "Run id"), ("case_id" = String, Path, description = "The case's id in its dataset")),
    responses((status = 200, body = CaseDetail), (status = 404, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path((id, case_id)): Path<(Uuid, String)>,
) -> Result<Json<CaseDetail>, ApiError> {
    let run = runs::get(&state.db, id).await?;
    let experiment = experiments::get(&state.db, run.experiment_id).await?;
    let filter = CaseFilter {
        outcome: None,
        false_positive: None,
        false_negative: None,
        language: None,
        recovered: None,
        case_id: Some(case_id.clone()),
        after: None,
        limit: 1,
    };
    let result = runs::cases(&state.db, &run, experiment.fingerprint.as_str(), &filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound {
            entity: "case",
            id: case_id.clone(),
        })?;
    let code = runs::case_code(&state.db, run.dataset_id, &case_id).await?;
    Ok(Json(CaseDetail { result, code }))
}
