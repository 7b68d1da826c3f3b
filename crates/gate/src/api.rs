//! The gate's HTTP API: judging on demand, decisions, blacklist, rollback,
//! and the rollout in progress.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trizone_core::{Decision, Fingerprint, RolloutPlan};
use trizone_http::auth::{Admins, Experimenters};
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::gate::{self, DecisionFilter, DecisionRecord};
use trizone_store::production::Deployment;
use trizone_store::quarantine::BlacklistEntry;
use trizone_store::{StoreError, audit};
use uuid::Uuid;

use crate::AppState;
use crate::rollback::RollbackReason;
use crate::rollout::RolloutAction;

const MAX_REASON_CHARS: usize = 2000;

/// Judges the experiment now, on its configuration's pooled evidence, when
/// its latest finished run is not judged yet.
#[utoipa::path(
    post, path = "/api/gate/experiments/{id}/judge", tag = "gate",
    params(("id" = Uuid, Path, description = "Experiment id")),
    responses(
        (status = 200, description = "The decision and what the gate did", body = DecisionRecord),
        (status = 404, description = "No such experiment", body = trizone_http::error::ErrorBody),
        (status = 409, description = "`already_decided` (with the decision), `not_judgeable` (no finished run) or `being_judged`", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn judge(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<DecisionRecord>, ApiError> {
    Ok(Json(
        state
            .gate
            .judge_now(id, &auth.caller().actor().to_string())
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DecisionQuery {
    pub experiment_id: Option<Uuid>,
    /// pass, fail or inconclusive.
    pub decision: Option<String>,
    /// 1 to 500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub use trizone_api::gate::{AuditReport, DecisionPage, RolloutAnswer};

/// Decisions, newest first.
#[utoipa::path(
    get, path = "/api/gate/decisions", tag = "gate",
    params(DecisionQuery),
    responses(
        (status = 200, description = "A page of decisions", body = DecisionPage),
        (status = 422, description = "A bad filter", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn decisions(
    _: Authorized<Experimenters>,
    State(state): State<AppState>,
    Query(query): Query<DecisionQuery>,
) -> Result<Json<DecisionPage>, ApiError> {
    let decision = query
        .decision
        .as_deref()
        .map(|raw| {
            Decision::parse(raw)
                .ok_or_else(|| ApiError::invalid("decision", "must be pass, fail or inconclusive"))
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be from 1 to 500"));
    }
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must not be negative"));
    }
    let filter = DecisionFilter {
        experiment_id: query.experiment_id,
        decision,
        limit,
        offset,
    };
    let decisions = gate::list(&state.gate.db, &filter).await?;
    let next_offset = (decisions.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(DecisionPage {
        decisions,
        next_offset,
    }))
}

/// One decision.
#[utoipa::path(
    get, path = "/api/gate/decisions/{id}", tag = "gate",
    params(("id" = Uuid, Path, description = "Decision id")),
    responses(
        (status = 200, description = "The decision", body = DecisionRecord),
        (status = 404, description = "No such decision", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn decision(
    _: Authorized<Experimenters>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<DecisionRecord>, ApiError> {
    Ok(Json(gate::get(&state.gate.db, id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlacklistRequest {
    /// 64 lowercase hexadecimal digits; it need not have been seen yet.
    pub fingerprint: String,
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlacklistResponse {
    pub fingerprint: String,
    pub reason: String,
    pub blacklisted_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<BlacklistEntry> for BlacklistResponse {
    fn from(entry: BlacklistEntry) -> Self {
        Self {
            fingerprint: entry.fingerprint,
            reason: entry.reason,
            blacklisted_by: entry.blacklisted_by,
            created_at: entry.created_at,
        }
    }
}

/// Blacklists a configuration for good, rolling V2 back first if it serves it.
#[utoipa::path(
    post, path = "/api/gate/blacklist", tag = "gate",
    request_body = BlacklistRequest,
    responses(
        (status = 201, description = "Blacklisted", body = BlacklistResponse),
        (status = 200, description = "Already blacklisted (the first reason stays)", body = BlacklistResponse),
        (status = 409, description = "`only_deployment`: V2 would have nothing left to serve", body = trizone_http::error::ErrorBody),
        (status = 422, description = "A malformed fingerprint or an empty reason", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn blacklist(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
    Json(request): Json<BlacklistRequest>,
) -> Result<(StatusCode, Json<BlacklistResponse>), ApiError> {
    let fingerprint = Fingerprint::parse(&request.fingerprint)
        .map_err(|e| ApiError::invalid("fingerprint", e))?;
    let reason = request.reason.trim();
    ApiError::check_prose("reason", reason, MAX_REASON_CHARS)?;
    if reason.is_empty() {
        return Err(ApiError::invalid(
            "reason",
            format!("must say why, in 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let (entry, new) = state
        .gate
        .blacklist(&fingerprint, reason, &auth.caller().actor().to_string())
        .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(entry.into())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Why, for the audit log.
    pub reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RollbackResponse {
    pub reason: RollbackReason,
    #[schema(value_type = Object)]
    pub from: Deployment,
    #[schema(value_type = Object)]
    pub to: Deployment,
}

/// Rolls V2 back to the previous deployment.
#[utoipa::path(
    post, path = "/api/gate/rollback", tag = "gate",
    request_body = RollbackRequest,
    responses(
        (status = 200, description = "Rolled back", body = RollbackResponse),
        (status = 409, description = "`no_rollback_target`", body = trizone_http::error::ErrorBody),
        (status = 422, description = "No reason given", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rollback(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
    Json(request): Json<RollbackRequest>,
) -> Result<Json<RollbackResponse>, ApiError> {
    let note = request.reason.trim();
    ApiError::check_prose("reason", note, MAX_REASON_CHARS)?;
    if note.is_empty() {
        return Err(ApiError::invalid(
            "reason",
            format!("must say why, in 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let rolled = state
        .gate
        .roll_back(
            RollbackReason::Manual,
            note,
            None,
            &auth.caller().actor().to_string(),
        )
        .await?;
    Ok(Json(RollbackResponse {
        reason: RollbackReason::Manual,
        from: rolled.from,
        to: rolled.to,
    }))
}

/// Recomputes the audit hash chain from every row, in one consistent
/// snapshot. A broken chain is an answer, not an error: 200 either way.
#[utoipa::path(
    get, path = "/api/gate/audit", tag = "gate",
    responses(
        (status = 200, description = "The chain, intact or broken at a named event", body = AuditReport),
    ),
    security(("bearer" = []))
)]
pub async fn audit(
    _: Authorized<Admins>,
    State(state): State<AppState>,
) -> Result<Json<AuditReport>, ApiError> {
    let mut conn = state.gate.db.acquire().await.map_err(StoreError::from)?;
    Ok(Json(AuditReport {
        chain: audit::verify(&mut conn).await?,
    }))
}

/// The rollout in progress: its step, its share and the online judge on
/// the step's live evidence.
#[utoipa::path(
    get, path = "/api/gate/rollout", tag = "gate",
    responses((status = 200, description = "The rollout, or none", body = RolloutAnswer)),
    security(("bearer" = []))
)]
pub async fn rollout(
    _auth: Authorized<Experimenters>,
    State(state): State<AppState>,
) -> Result<Json<RolloutAnswer>, ApiError> {
    Ok(Json(RolloutAnswer {
        rollout: state.gate.rollout_view().await?,
    }))
}

/// Pauses the rollout in progress: the online judge stops moving it, and
/// the traffic split stays as it is.
#[utoipa::path(
    post, path = "/api/gate/rollout/pause", tag = "gate",
    responses(
        (status = 200, description = "Paused", body = RolloutAnswer),
        (status = 409, description = "`no_rollout` or `already_paused`", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rollout_pause(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
) -> Result<Json<RolloutAnswer>, ApiError> {
    act(&state, &auth, RolloutAction::Pause).await
}

/// Resumes a paused rollout.
#[utoipa::path(
    post, path = "/api/gate/rollout/resume", tag = "gate",
    responses(
        (status = 200, description = "Resumed", body = RolloutAnswer),
        (status = 409, description = "`no_rollout` or `not_paused`", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rollout_resume(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
) -> Result<Json<RolloutAnswer>, ApiError> {
    act(&state, &auth, RolloutAction::Resume).await
}

/// Promotes the candidate past its remaining steps: it serves everyone.
#[utoipa::path(
    post, path = "/api/gate/rollout/promote", tag = "gate",
    responses(
        (status = 200, description = "Promoted: no rollout remains", body = RolloutAnswer),
        (status = 409, description = "`no_rollout`", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rollout_promote(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
) -> Result<Json<RolloutAnswer>, ApiError> {
    act(&state, &auth, RolloutAction::Promote).await
}

/// Aborts the rollout: the stable configuration serves everyone again and
/// the candidate stays in V1.
#[utoipa::path(
    post, path = "/api/gate/rollout/abort", tag = "gate",
    responses(
        (status = 200, description = "Aborted: no rollout remains", body = RolloutAnswer),
        (status = 409, description = "`no_rollout`", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rollout_abort(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
) -> Result<Json<RolloutAnswer>, ApiError> {
    act(&state, &auth, RolloutAction::Abort).await
}

async fn act(
    state: &AppState,
    auth: &Authorized<Admins>,
    action: RolloutAction,
) -> Result<Json<RolloutAnswer>, ApiError> {
    let actor = auth.caller().actor().to_string();
    Ok(Json(RolloutAnswer {
        rollout: state.gate.rollout_action(action, &actor).await?,
    }))
}

/// The plan rollouts start from.
#[utoipa::path(
    get, path = "/api/gate/rollout/plan", tag = "gate",
    responses((status = 200, description = "The plan", body = RolloutPlan)),
    security(("bearer" = []))
)]
pub async fn rollout_plan(
    _auth: Authorized<Experimenters>,
    State(state): State<AppState>,
) -> Result<Json<RolloutPlan>, ApiError> {
    Ok(Json(state.gate.rollout_plan().await?))
}

/// Sets the plan later rollouts follow; one under way keeps its own.
#[utoipa::path(
    put, path = "/api/gate/rollout/plan", tag = "gate",
    request_body = RolloutPlan,
    responses(
        (status = 200, description = "The plan, as set", body = RolloutPlan),
        (status = 422, description = "A share or sample out of range, or steps that do not rise to 100 (`field` names which)", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_rollout_plan(
    auth: Authorized<Admins>,
    State(state): State<AppState>,
    Json(plan): Json<RolloutPlan>,
) -> Result<Json<RolloutPlan>, ApiError> {
    plan.validate()?;
    state
        .gate
        .set_rollout_plan(&plan, &auth.caller().actor().to_string())
        .await?;
    Ok(Json(plan))
}
