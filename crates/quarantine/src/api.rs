//! V3's read-only API: records with their evidence, the summary, the
//! blacklist.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use trizone_api::quarantine::{AuditTrail, RecordPage, RecordView, ReevaluationStatus};
use trizone_core::Fingerprint;
use trizone_http::auth::{ArchiveReaders, RecordReaders};
use trizone_http::{ApiError, Authorized, Json, Path, Query};
use trizone_store::archive::{self, RecordFilter, SummaryRow};
use trizone_store::audit;
use trizone_store::quarantine::{self, BlacklistEntry};
use uuid::Uuid;

use crate::AppState;
use crate::metrics::REASONS;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecordQuery {
    /// accuracy, latency, error_rate, cost, non_inferiority, smoke_test,
    /// slo_breach or blacklist.
    pub reason: Option<String>,
    /// `provider/model`, as primary or secondary model.
    pub model: Option<String>,
    pub owner: Option<String>,
    /// Records created at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Records created before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// 1 to 500 (default 50).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn page(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be from 1 to 500"));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid("offset", "must not be negative"));
    }
    Ok((limit, offset))
}

/// Quarantine records, newest first.
#[utoipa::path(
    get, path = "/api/v3/records", tag = "records", params(RecordQuery),
    responses(
        (status = 200, description = "A page of records", body = RecordPage),
        (status = 422, description = "A bad filter", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn records(
    _: Authorized<ArchiveReaders>,
    State(state): State<AppState>,
    Query(query): Query<RecordQuery>,
) -> Result<Json<RecordPage>, ApiError> {
    if let Some(reason) = &query.reason
        && !REASONS.contains(&reason.as_str())
    {
        return Err(ApiError::invalid(
            "reason",
            format!("must be one of {}", REASONS.join(", ")),
        ));
    }
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since >= until
    {
        return Err(ApiError::invalid("until", "must be after since"));
    }
    let (limit, offset) = page(query.limit, query.offset)?;
    let filter = RecordFilter {
        reason: query.reason,
        model: query.model,
        owner: query.owner,
        since: query.since,
        until: query.until,
        limit,
        offset,
    };
    let records = archive::records(&state.db, &filter).await?;
    let next_offset = (records.len() as i64 == limit).then_some(offset + limit);
    Ok(Json(RecordPage {
        records,
        next_offset,
    }))
}

/// One record with all its evidence.
#[utoipa::path(
    get, path = "/api/v3/records/{id}", tag = "records",
    params(("id" = Uuid, Path, description = "Record id")),
    responses(
        (status = 200, description = "The record, its re-evaluations and its audit trail", body = RecordView),
        (status = 404, description = "No such record", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn record(
    _: Authorized<RecordReaders>,
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<RecordView>, ApiError> {
    let record = archive::record(&state.db, id).await?;
    let fingerprint = Fingerprint::parse(&record.summary.fingerprint)
        .map_err(|e| ApiError::internal(std::io::Error::other(e)))?;
    let blacklisted = quarantine::blacklist_entry(&state.db, &fingerprint).await?;
    let history = archive::reevaluations(&state.db, id).await?;
    let events = audit::events_for_subject(&state.db, fingerprint.as_str()).await?;
    let mut conn = state
        .db
        .acquire()
        .await
        .map_err(trizone_store::StoreError::from)?;
    let chain = state.chain.verify(&mut conn, fingerprint.as_str()).await?;
    Ok(Json(RecordView {
        reevaluation: ReevaluationStatus {
            eligible: record.summary.reevaluation_eligible && blacklisted.is_none(),
            open: history.iter().any(|r| r.status.awaits_decision()),
            blacklisted,
            history,
        },
        audit: AuditTrail { events, chain },
        record,
    }))
}

/// Counts by reason, model and week, with re-evaluations and their outcomes.
#[utoipa::path(
    get, path = "/api/v3/summary", tag = "records",
    responses((status = 200, description = "The quarantine_summary view", body = Vec<SummaryRow>)),
    security(("bearer" = []))
)]
pub async fn summary(
    _: Authorized<ArchiveReaders>,
    State(state): State<AppState>,
) -> Result<Json<Vec<SummaryRow>>, ApiError> {
    Ok(Json(archive::summary(&state.db).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// The blacklist, newest first.
#[utoipa::path(
    get, path = "/api/v3/blacklist", tag = "blacklist", params(PageQuery),
    responses((status = 200, description = "Blacklisted fingerprints", body = Vec<BlacklistEntry>)),
    security(("bearer" = []))
)]
pub async fn blacklist(
    _: Authorized<ArchiveReaders>,
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> Result<Json<Vec<BlacklistEntry>>, ApiError> {
    let (limit, offset) = page(query.limit, query.offset)?;
    Ok(Json(archive::blacklist(&state.db, limit, offset).await?))
}

/// One blacklist entry.
#[utoipa::path(
    get, path = "/api/v3/blacklist/{fingerprint}", tag = "blacklist",
    params(("fingerprint" = String, Path, description = "64 lowercase hex digits")),
    responses(
        (status = 200, description = "The entry", body = BlacklistEntry),
        (status = 404, description = "Not blacklisted", body = trizone_http::error::ErrorBody),
        (status = 422, description = "Not a fingerprint", body = trizone_http::error::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn blacklist_entry(
    _: Authorized<ArchiveReaders>,
    State(state): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<Json<BlacklistEntry>, ApiError> {
    let parsed =
        Fingerprint::parse(&fingerprint).map_err(|e| ApiError::invalid("fingerprint", e))?;
    quarantine::blacklist_entry(&state.db, &parsed)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound {
            entity: "blacklist entry",
            id: fingerprint,
        })
}
