//! Repository for `quarantine`: the permanent blacklist (read by V1 at
//! registration, written by the gate).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;
use trizone_core::Fingerprint;
use uuid::Uuid;

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlacklistEntry {
    pub fingerprint: String,
    pub reason: String,
    pub record_id: Option<Uuid>,
    pub blacklisted_by: String,
    pub created_at: DateTime<Utc>,
}

pub async fn blacklist_entry(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
) -> Result<Option<BlacklistEntry>, StoreError> {
    let entry = sqlx::query_as!(
        BlacklistEntry,
        r#"SELECT fingerprint, reason, record_id, blacklisted_by, created_at
           FROM quarantine.blacklist WHERE fingerprint = $1"#,
        fingerprint.as_str()
    )
    .fetch_optional(executor)
    .await?;
    Ok(entry)
}

/// Blacklists a fingerprint for good. Blacklisting it again is a no-op that
/// keeps the first reason.
pub async fn add_to_blacklist(
    executor: impl PgExecutor<'_>,
    fingerprint: &Fingerprint,
    reason: &str,
    record_id: Option<Uuid>,
    blacklisted_by: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        r#"INSERT INTO quarantine.blacklist (fingerprint, reason, record_id, blacklisted_by)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (fingerprint) DO NOTHING"#,
        fingerprint.as_str(),
        reason,
        record_id,
        blacklisted_by
    )
    .execute(executor)
    .await?;
    Ok(())
}
