//! The gate's HTTP API: judging on demand, decisions, blacklist, rollback.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trizone_core::{Decision, Fingerprint};
use trizone_http::auth::{Admins, Experimenters};
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::gate::{self, DecisionFilter, DecisionRecord};
use trizone_store::production::Deployment;
use trizone_store::quarantine::BlacklistEntry;
use trizone_store::{StoreError, audit};
use uuid::Uuid;

use crate::AppState;
use crate::rollback::RollbackReason;

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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionRecord>,
    /// The offset of the next page, when there may be one.
    pub next_offset: Option<i64>,
}

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
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
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
    if note.is_empty() || note.chars().count() > MAX_REASON_CHARS {
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

/// The audit trail's integrity, as the gate reads it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditReport {
    /// `{"status": "intact", "events", "head"}`, or `{"status": "broken",
    /// "seq", "problem", ...}` naming the first bad event.
    #[schema(value_type = Object)]
    pub chain: audit::ChainReport,
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
