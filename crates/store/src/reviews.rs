//! Repository for what V2 served: `production.code_reviews` and
//! `production.review_feedback`. V2 writes them in batches off the request
//! path; every row carries a key V2 chose, so a retried batch is a no-op.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor};
use trizone_api::reviews::{DeploymentRef, Fallback, ReviewFinding, ReviewResponse};
use trizone_api::states::ReviewOutcome;
use trizone_core::Language;
use trizone_core::provider::ErrorKind;
use uuid::Uuid;

use crate::StoreError;

/// One review as V2 answered it, ok or failed: what its requester reads,
/// and what only the record keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewRecord {
    pub review: ReviewResponse,
    /// The code itself is not kept: its size and hash identify it.
    pub code_bytes: i32,
    pub code_sha256: String,
    pub cost_usd: f64,
    pub requested_by: String,
}

/// A review as stored: as its requester reads it, and who that is.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReview {
    pub review: ReviewResponse,
    pub requested_by: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedbackRecord {
    pub feedback_id: Uuid,
    pub review_id: Uuid,
    pub score: i16,
    pub comment: String,
    pub author: String,
    pub created_at: DateTime<Utc>,
}

/// Writes `reviews`, then `feedback` (which may refer to them), skipping
/// rows already written. Run it in a transaction so a batch lands whole.
pub async fn write_batch(
    conn: &mut PgConnection,
    reviews: &[&ReviewRecord],
    feedback: &[&FeedbackRecord],
) -> Result<u64, StoreError> {
    let mut written = 0;
    if !reviews.is_empty() {
        written += write_reviews(&mut *conn, reviews).await?;
    }
    if !feedback.is_empty() {
        written += write_feedback(&mut *conn, feedback).await?;
    }
    Ok(written)
}

async fn write_reviews(
    executor: impl PgExecutor<'_>,
    reviews: &[&ReviewRecord],
) -> Result<u64, StoreError> {
    let ids: Vec<Uuid> = reviews.iter().map(|r| r.review.id).collect();
    let deployments: Vec<Uuid> = reviews.iter().map(|r| r.review.deployment.id).collect();
    let fingerprints: Vec<&str> = reviews
        .iter()
        .map(|r| r.review.deployment.fingerprint.as_str())
        .collect();
    let languages: Vec<&str> = reviews.iter().map(|r| r.review.language.as_str()).collect();
    let paths: Vec<Option<&str>> = reviews.iter().map(|r| r.review.path.as_deref()).collect();
    let code_bytes: Vec<i32> = reviews.iter().map(|r| r.code_bytes).collect();
    let hashes: Vec<&str> = reviews.iter().map(|r| r.code_sha256.as_str()).collect();
    let outcomes: Vec<&str> = reviews.iter().map(|r| r.review.outcome.as_str()).collect();
    let error_kinds: Vec<Option<&str>> = reviews
        .iter()
        .map(|r| r.review.error_kind.map(ErrorKind::as_str))
        .collect();
    let findings: Vec<Json<&Vec<ReviewFinding>>> =
        reviews.iter().map(|r| Json(&r.review.findings)).collect();
    let summaries: Vec<&str> = reviews.iter().map(|r| r.review.summary.as_str()).collect();
    let answered_by: Vec<Json<&Vec<String>>> = reviews
        .iter()
        .map(|r| Json(&r.review.answered_by))
        .collect();
    let latencies: Vec<f64> = reviews.iter().map(|r| r.review.latency_ms).collect();
    let costs: Vec<f64> = reviews.iter().map(|r| r.cost_usd).collect();
    let requesters: Vec<&str> = reviews.iter().map(|r| r.requested_by.as_str()).collect();
    let created: Vec<DateTime<Utc>> = reviews.iter().map(|r| r.review.created_at).collect();
    let fallbacks: Vec<Option<Json<&Fallback>>> = reviews
        .iter()
        .map(|r| r.review.fallback.as_ref().map(Json))
        .collect();
    let written = sqlx::query!(
        r#"INSERT INTO production.code_reviews
               (id, deployment_id, fingerprint, language, path, code_bytes, code_sha256,
                outcome, error_kind, findings, summary, answered_by, latency_ms, cost_usd,
                requested_by, created_at, fallback)
           SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                                $6::int4[], $7::text[], $8::text[], $9::text[], $10::jsonb[],
                                $11::text[], $12::jsonb[], $13::float8[], $14::float8[],
                                $15::text[], $16::timestamptz[], $17::jsonb[])
           ON CONFLICT (id) DO NOTHING"#,
        &ids,
        &deployments,
        &fingerprints as &[&str],
        &languages as &[&str],
        &paths as &[Option<&str>],
        &code_bytes,
        &hashes as &[&str],
        &outcomes as &[&str],
        &error_kinds as &[Option<&str>],
        &findings as _,
        &summaries as &[&str],
        &answered_by as _,
        &latencies,
        &costs,
        &requesters as &[&str],
        &created,
        &fallbacks as _,
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(written)
}

/// Writes feedback, each replacing what its author said of the same review
/// before: in this batch (the last one wins, since one statement may not
/// touch a row twice) and in the table.
async fn write_feedback(
    executor: impl PgExecutor<'_>,
    feedback: &[&FeedbackRecord],
) -> Result<u64, StoreError> {
    let mut latest: Vec<&FeedbackRecord> = Vec::with_capacity(feedback.len());
    for record in feedback {
        match latest
            .iter_mut()
            .find(|kept| kept.review_id == record.review_id && kept.author == record.author)
        {
            Some(kept) => *kept = record,
            None => latest.push(record),
        }
    }
    let feedback = latest;
    let ids: Vec<Uuid> = feedback.iter().map(|f| f.feedback_id).collect();
    let reviews: Vec<Uuid> = feedback.iter().map(|f| f.review_id).collect();
    let scores: Vec<i16> = feedback.iter().map(|f| f.score).collect();
    let comments: Vec<&str> = feedback.iter().map(|f| f.comment.as_str()).collect();
    let authors: Vec<&str> = feedback.iter().map(|f| f.author.as_str()).collect();
    let created: Vec<DateTime<Utc>> = feedback.iter().map(|f| f.created_at).collect();
    let written = sqlx::query!(
        r#"INSERT INTO production.review_feedback
               (feedback_id, review_id, score, comment, author, created_at)
           SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int2[], $4::text[], $5::text[],
                                $6::timestamptz[])
           ON CONFLICT (review_id, author) DO UPDATE
               SET feedback_id = EXCLUDED.feedback_id, score = EXCLUDED.score,
                   comment = EXCLUDED.comment, created_at = EXCLUDED.created_at"#,
        &ids,
        &reviews,
        &scores,
        &comments as &[&str],
        &authors as &[&str],
        &created,
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(written)
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<StoredReview, StoreError> {
    sqlx::query!(
        r#"SELECT r.id, r.deployment_id, d.version AS deployment_version, r.fingerprint,
                  r.language AS "language: Language", r.path,
                  r.outcome AS "outcome: ReviewOutcome", r.error_kind AS "error_kind: ErrorKind",
                  r.findings AS "findings: Json<Vec<ReviewFinding>>", r.summary,
                  r.answered_by AS "answered_by: Json<Vec<String>>",
                  r.fallback AS "fallback: Json<Fallback>", r.latency_ms,
                  r.requested_by, r.created_at
           FROM production.code_reviews r
           JOIN production.deployments d ON d.id = r.deployment_id
           WHERE r.id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .map(|row| StoredReview {
        review: ReviewResponse {
            id: row.id,
            deployment: DeploymentRef {
                id: row.deployment_id,
                version: row.deployment_version,
                fingerprint: row.fingerprint,
            },
            language: row.language,
            path: row.path,
            outcome: row.outcome,
            error_kind: row.error_kind,
            findings: row.findings.0,
            summary: row.summary,
            answered_by: row.answered_by.0,
            fallback: row.fallback.map(|f| f.0),
            latency_ms: row.latency_ms,
            created_at: row.created_at,
        },
        requested_by: row.requested_by,
    })
    .ok_or_else(|| StoreError::NotFound {
        entity: "review",
        id: id.to_string(),
    })
}

/// Feedback left on `review_id`, oldest first.
pub async fn feedback_for(
    executor: impl PgExecutor<'_>,
    review_id: Uuid,
) -> Result<Vec<FeedbackRecord>, StoreError> {
    Ok(sqlx::query_as!(
        FeedbackRecord,
        r#"SELECT feedback_id, review_id, score, comment, author, created_at
           FROM production.review_feedback WHERE review_id = $1 ORDER BY created_at, id"#,
        review_id
    )
    .fetch_all(executor)
    .await?)
}

/// Whether `author` has left feedback on `review_id`.
pub async fn has_feedback_from(
    executor: impl PgExecutor<'_>,
    review_id: Uuid,
    author: &str,
) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT FROM production.review_feedback
                          WHERE review_id = $1 AND author = $2) AS "exists!""#,
        review_id,
        author
    )
    .fetch_one(executor)
    .await?)
}

/// End users' feedback on one deployment's reviews.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Satisfaction {
    /// Feedback given.
    pub feedback: i64,
    /// The mean score, 0 to 5; absent without feedback.
    pub mean: Option<f64>,
}

/// What end users made of `deployment_id`'s reviews.
pub async fn satisfaction(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
) -> Result<Satisfaction, StoreError> {
    Ok(sqlx::query_as!(
        Satisfaction,
        r#"SELECT count(*) AS "feedback!", avg(f.score)::float8 AS mean
           FROM production.review_feedback f
           JOIN production.code_reviews r ON r.id = f.review_id
           WHERE r.deployment_id = $1"#,
        deployment_id
    )
    .fetch_one(executor)
    .await?)
}
