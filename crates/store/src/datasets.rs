//! Repository for datasets and their cases in `experiments_v1`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use sqlx::types::Json;
use trizone_core::{ExpectedFinding, Language};
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Dataset {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub case_count: i32,
    /// SHA-256 of the uploaded bytes, to recognise the same upload.
    pub content_sha256: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// One case of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCase {
    pub case_id: String,
    pub language: Language,
    pub path: String,
    pub code: String,
    pub expected_findings: Vec<ExpectedFinding>,
}

/// Starts a dataset (no cases yet); [`finish`] records its count and hash.
pub async fn create(
    executor: impl PgExecutor<'_>,
    name: &str,
    description: &str,
    created_by: &str,
) -> Result<Uuid, StoreError> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO experiments_v1.datasets (name, description, case_count, content_sha256, created_by)
           VALUES ($1, $2, 0, '', $3) RETURNING id"#,
        name,
        description,
        created_by
    )
    .fetch_one(executor)
    .await?;
    Ok(id)
}

/// Inserts a batch of cases in one statement; `first_ordinal` numbers them.
pub async fn insert_cases(
    executor: impl PgExecutor<'_>,
    dataset_id: Uuid,
    first_ordinal: i32,
    cases: &[NewCase],
) -> Result<(), StoreError> {
    let ordinals: Vec<i32> = (first_ordinal..).take(cases.len()).collect();
    let ids: Vec<&str> = cases.iter().map(|c| c.case_id.as_str()).collect();
    let languages: Vec<&str> = cases.iter().map(|c| c.language.as_str()).collect();
    let paths: Vec<&str> = cases.iter().map(|c| c.path.as_str()).collect();
    let codes: Vec<&str> = cases.iter().map(|c| c.code.as_str()).collect();
    let keys: Vec<String> = cases
        .iter()
        .map(|c| trizone_core::case_key(c.language.as_str(), &c.path, &c.code))
        .collect();
    let findings: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            serde_json::to_value(&c.expected_findings).unwrap_or_else(|_| serde_json::json!([]))
        })
        .collect();
    sqlx::query!(
        r#"INSERT INTO experiments_v1.dataset_cases
               (dataset_id, ordinal, case_id, language, path, code, expected_findings, case_key)
           SELECT $1, * FROM UNNEST($2::int4[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[])"#,
        dataset_id,
        &ordinals,
        &ids as &[&str],
        &languages as &[&str],
        &paths as &[&str],
        &codes as &[&str],
        &findings,
        &keys,
    )
    .execute(executor)
    .await?;
    Ok(())
}

pub async fn finish(
    executor: impl PgExecutor<'_>,
    dataset_id: Uuid,
    case_count: i32,
    content_sha256: &str,
) -> Result<Dataset, StoreError> {
    let dataset = sqlx::query_as!(
        Dataset,
        r#"UPDATE experiments_v1.datasets SET case_count = $2, content_sha256 = $3 WHERE id = $1
           RETURNING id, name, description, case_count, content_sha256, created_by, created_at"#,
        dataset_id,
        case_count,
        content_sha256
    )
    .fetch_one(executor)
    .await?;
    Ok(dataset)
}

pub async fn get(executor: impl PgExecutor<'_>, id: Uuid) -> Result<Dataset, StoreError> {
    sqlx::query_as!(
        Dataset,
        r#"SELECT id, name, description, case_count, content_sha256, created_by, created_at
           FROM experiments_v1.datasets WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        entity: "dataset",
        id: id.to_string(),
    })
}

pub async fn list(
    executor: impl PgExecutor<'_>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Dataset>, StoreError> {
    let datasets = sqlx::query_as!(
        Dataset,
        r#"SELECT id, name, description, case_count, content_sha256, created_by, created_at
           FROM experiments_v1.datasets ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"#,
        limit,
        offset
    )
    .fetch_all(executor)
    .await?;
    Ok(datasets)
}

/// A stored case, as an evaluation run reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub ordinal: i32,
    pub case_id: String,
    pub language: Language,
    pub path: String,
    pub code: String,
    pub expected_findings: Vec<ExpectedFinding>,
    /// What identifies the case to a configuration (`trizone_core::case_key`).
    pub case_key: String,
}

/// A case as stored; the findings column read as JSON.
pub(crate) struct CaseRow {
    pub(crate) ordinal: i32,
    pub(crate) case_id: String,
    pub(crate) language: Language,
    pub(crate) path: String,
    pub(crate) code: String,
    pub(crate) expected_findings: Json<Vec<ExpectedFinding>>,
    pub(crate) case_key: String,
}

impl From<CaseRow> for Case {
    fn from(r: CaseRow) -> Self {
        Self {
            ordinal: r.ordinal,
            case_id: r.case_id,
            language: r.language,
            path: r.path,
            code: r.code,
            expected_findings: r.expected_findings.0,
            case_key: r.case_key,
        }
    }
}

/// Every case of a dataset, in upload order.
pub async fn cases(
    executor: impl PgExecutor<'_>,
    dataset_id: Uuid,
) -> Result<Vec<Case>, StoreError> {
    let rows = sqlx::query_as!(
        CaseRow,
        r#"SELECT ordinal, case_id, language AS "language: Language", path, code,
                  expected_findings AS "expected_findings: Json<Vec<ExpectedFinding>>", case_key
           FROM experiments_v1.dataset_cases WHERE dataset_id = $1 ORDER BY ordinal"#,
        dataset_id
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(Case::from).collect())
}
