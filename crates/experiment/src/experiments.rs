//! Reading, withdrawing and rating experiments.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trizone_api::experiments::ExperimentPage;
use trizone_core::{Decision, ExperimentStatus, Judge, Mover, Verdict};
use trizone_http::auth::Experimenters;
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::audit::{self, AuditAction, NewEvent};
use trizone_store::experiments::{self, Experiment, ListFilter, Readiness};
use trizone_store::{StoreError, evidence};
use uuid::Uuid;

use crate::state::AppState;
pub use trizone_api::experiments::ExperimentView;

const MAX_PAGE: i64 = 200;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub status: Option<ExperimentStatus>,
    pub owner: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/experiments", tag = "experiments", params(ListQuery),
    responses((status = 200, body = ExperimentPage),
              (status = 400, description = "A query that does not parse", body = trizone_http::error::ErrorBody),
              (status = 422, description = "A limit or offset out of range", body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Query(query): Query<ListQuery>,
) -> Result<Json<ExperimentPage>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be from 1 to {MAX_PAGE}"),
        ));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must not be negative"));
    }
    let filter = ListFilter {
        status: query.status,
        owner: query.owner,
        limit: limit + 1,
        offset,
    };
    let mut items: Vec<ExperimentView> = experiments::list(&state.db, &filter)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let next_offset = (items.len() as i64 > limit).then(|| offset + limit);
    items.truncate(limit as usize);
    Ok(Json(ExperimentPage { items, next_offset }))
}

#[utoipa::path(get, path = "/api/v1/experiments/{id}", tag = "experiments",
    params(("id" = Uuid, Path, description = "Experiment id")),
    responses((status = 200, body = ExperimentView), (status = 404, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<ExperimentView>, ApiError> {
    let experiment = experiments::get(&state.db, id).await?;
    let readiness = experiments::readiness(&state.db, Some(id))
        .await?
        .into_iter()
        .next();
    let thresholds = evidence::gate_thresholds(&state.db).await?;
    let pooled = evidence::pooled(
        &state.db,
        experiment.fingerprint.as_str(),
        thresholds.max_p95_latency_ms,
    )
    .await?;
    let verdict = Judge::new(&thresholds, None).verdict(&pooled);
    let next_step = next_step(&experiment, &verdict);
    Ok(Json(ExperimentView {
        readiness,
        verdict: Some(verdict),
        next_step,
        ..experiment.into()
    }))
}

/// What an experimenter can do next, given where the evidence stands.
fn next_step(experiment: &Experiment, verdict: &Verdict) -> Option<String> {
    let id = experiment.id;
    let judge_now = format!("`trizone gate judge {id}` asks the gate now");
    match (experiment.status, verdict.decision) {
        (ExperimentStatus::Evaluating, _) => {
            Some("a run is under way: `trizone run watch <run>` follows it".to_owned())
        }
        (ExperimentStatus::Registered | ExperimentStatus::Evaluated, Decision::Inconclusive)
            if verdict.cases == 0 =>
        {
            Some(format!(
                "not evaluated yet: `trizone run start {id} --dataset <dataset>` \
                 (POST /api/v1/experiments/{id}/runs) evaluates it until the judge is certain"
            ))
        }
        (ExperimentStatus::Registered | ExperimentStatus::Evaluated, Decision::Inconclusive) => {
            let expected = match verdict.additional_cases_needed {
                Some(more) => format!("the judge expects to need about {more} more cases"),
                None => "it sits so close to the bar that more cases may not settle it; \
                         changing the configuration may"
                    .to_owned(),
            };
            Some(format!(
                "inconclusive after {} cases: {expected}. Continue with `trizone run extend {id}` \
                 (the cases its last dataset has left) or `trizone run extend {id} --dataset <other>` \
                 (POST /api/v1/experiments/{id}/runs); cases already evaluated count once",
                verdict.cases
            ))
        }
        (ExperimentStatus::Evaluated, Decision::Pass) => Some(format!(
            "the evidence passes every check: the gate promotes it at its next judgement; {judge_now}"
        )),
        (ExperimentStatus::Evaluated, Decision::Fail) => Some(format!(
            "the evidence fails {}: the gate quarantines it at its next judgement; {judge_now}",
            verdict
                .failed_checks()
                .map(|c| c.name.label())
                .collect::<Vec<_>>()
                .join(" and ")
        )),
        _ => None,
    }
}

/// Refuses a change to `experiment` by anyone but its owner or an admin.
pub(crate) fn check_owner(
    caller: &trizone_http::auth::Caller,
    experiment: &Experiment,
) -> Result<(), ApiError> {
    if caller.may_change(&experiment.owner) {
        Ok(())
    } else {
        Err(ApiError::NotYours {
            message: format!(
                "experiment {} belongs to {}: only its owner or an admin may change it",
                experiment.id, experiment.owner
            ),
        })
    }
}

/// Withdraws an experiment that is registered or evaluated. A running
/// evaluation must be cancelled first; a promoted, quarantined or
/// blacklisted one belongs to the gate.
#[utoipa::path(delete, path = "/api/v1/experiments/{id}", tag = "experiments",
    params(("id" = Uuid, Path, description = "Experiment id")),
    responses((status = 200, body = ExperimentView), (status = 403, description = "not the owner's nor an admin's", body = trizone_http::error::ErrorBody),
              (status = 404, body = trizone_http::error::ErrorBody), (status = 409, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn withdraw(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
) -> Result<Json<ExperimentView>, ApiError> {
    let mut tx = state.db.begin().await.map_err(StoreError::from)?;
    let experiment = experiments::get(&mut *tx, id).await?;
    check_owner(auth.caller(), &experiment)?;
    if experiment.status.mover_to(ExperimentStatus::Withdrawn) != Some(Mover::Experiment) {
        let hint = match experiment.status {
            ExperimentStatus::Evaluating => "; cancel its run first",
            _ => "",
        };
        return Err(ApiError::Refused {
            code: "not_withdrawable",
            message: format!(
                "experiment {id} is {} and cannot be withdrawn{hint}",
                experiment.status
            ),
        });
    }
    experiments::transition(
        &mut tx,
        id,
        experiment.status,
        ExperimentStatus::Withdrawn,
        Mover::Experiment,
    )
    .await?;
    let details = serde_json::json!({"experiment_id": id, "from": experiment.status});
    audit::append(
        &mut *tx,
        NewEvent {
            actor: &auth.caller().actor().to_string(),
            action: AuditAction::ExperimentWithdrawn,
            subject: experiment.fingerprint.as_str(),
            details: &details,
        },
    )
    .await?;
    let withdrawn = experiments::get(&mut *tx, id).await?;
    tx.commit().await.map_err(StoreError::from)?;
    Ok(Json(withdrawn.into()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// Satisfaction from 0 to 5.
    pub score: i16,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackRecorded {
    pub id: i64,
    pub experiment_id: Uuid,
    pub score: i16,
}

#[utoipa::path(post, path = "/api/v1/experiments/{id}/feedback", tag = "experiments",
    params(("id" = Uuid, Path, description = "Experiment id")), request_body = FeedbackRequest,
    responses((status = 201, body = FeedbackRecorded), (status = 403, description = "not the owner's nor an admin's", body = trizone_http::error::ErrorBody),
              (status = 404, body = trizone_http::error::ErrorBody),
              (status = 422, body = trizone_http::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn feedback(
    State(state): State<AppState>,
    auth: Authorized<Experimenters>,
    Path(id): Path<Uuid>,
    Json(request): Json<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackRecorded>), ApiError> {
    if !(0..=5).contains(&request.score) {
        return Err(ApiError::invalid("score", "must be from 0 to 5"));
    }
    ApiError::check_prose("comment", &request.comment, 2_000)?;
    check_owner(auth.caller(), &experiments::get(&state.db, id).await?)?;
    let feedback_id = experiments::add_feedback(
        &state.db,
        id,
        request.score,
        &request.comment,
        &auth.caller().principal,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(FeedbackRecorded {
            id: feedback_id,
            experiment_id: id,
            score: request.score,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/readiness", tag = "experiments",
    responses((status = 200, body = Vec<Readiness>)), security(("bearer" = [])))]
pub async fn readiness(
    State(state): State<AppState>,
    _: Authorized<Experimenters>,
) -> Result<Json<Vec<Readiness>>, ApiError> {
    Ok(Json(experiments::readiness(&state.db, None).await?))
}
