//! Repository for `production.slo_metrics`: per deployment, replica and
//! window, request and error counts and the latency histogram. A replica
//! writes the whole state of its window each time, so a rewrite after a
//! failed or doubtful commit is harmless; readers merge replicas exactly.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use crate::StoreError;
use crate::latency::LatencyHistogram;

/// One replica's view of one window of one deployment.
#[derive(Debug, Clone)]
pub struct SloWindow {
    pub deployment_id: Uuid,
    pub replica: String,
    /// Aligned to a multiple of `window_seconds` since the epoch, so every
    /// replica's windows line up.
    pub window_start: DateTime<Utc>,
    pub window_seconds: i32,
    pub requests: i64,
    pub errors: i64,
    /// A [`LatencyHistogram`], serialized.
    pub latency_histogram: Vec<u8>,
    pub latency_p95_ms: Option<f64>,
}

/// One window merged over replicas.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct WindowStats {
    pub window_start: DateTime<Utc>,
    pub window_seconds: i32,
    pub requests: i64,
    pub errors: i64,
    pub error_rate: f64,
    /// `None` without requests.
    pub latency_p95_ms: Option<f64>,
}

/// Windows of one deployment, and all of them merged.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SloHistory {
    /// Oldest first.
    pub windows: Vec<WindowStats>,
    pub requests: i64,
    pub errors: i64,
    pub error_rate: f64,
    pub latency_p95_ms: Option<f64>,
}

/// Writes each window's current state, never moving a window backwards.
pub async fn upsert(conn: &mut PgConnection, windows: &[&SloWindow]) -> Result<(), StoreError> {
    for window in windows {
        sqlx::query!(
            r#"INSERT INTO production.slo_metrics
                   (deployment_id, replica, window_start, window_seconds, requests, errors,
                    latency_histogram, latency_p95_ms)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT (deployment_id, replica, window_start) DO UPDATE
               SET requests = EXCLUDED.requests, errors = EXCLUDED.errors,
                   latency_histogram = EXCLUDED.latency_histogram,
                   latency_p95_ms = EXCLUDED.latency_p95_ms, updated_at = now()
               WHERE production.slo_metrics.requests <= EXCLUDED.requests"#,
            window.deployment_id,
            window.replica,
            window.window_start,
            window.window_seconds,
            window.requests,
            window.errors,
            window.latency_histogram,
            window.latency_p95_ms,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// `deployment_id`'s windows starting at or after `since`, each merged over
/// replicas.
pub async fn history_since(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
    since: DateTime<Utc>,
) -> Result<SloHistory, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT window_start, window_seconds, requests, errors, latency_histogram
           FROM production.slo_metrics
           WHERE deployment_id = $1 AND window_start >= $2
           ORDER BY window_start"#,
        deployment_id,
        since
    )
    .fetch_all(executor)
    .await?;
    let mut merged: BTreeMap<DateTime<Utc>, (i32, i64, i64, LatencyHistogram)> = BTreeMap::new();
    for row in rows {
        let latency =
            LatencyHistogram::from_bytes(&row.latency_histogram, "slo_metrics.latency_histogram")?;
        let entry = merged
            .entry(row.window_start)
            .or_insert_with(|| (row.window_seconds, 0, 0, LatencyHistogram::new()));
        entry.1 += row.requests;
        entry.2 += row.errors;
        entry.3.merge(&latency);
    }
    let mut all = LatencyHistogram::new();
    let (mut requests, mut errors) = (0, 0);
    let mut windows = Vec::with_capacity(merged.len());
    for (window_start, (window_seconds, window_requests, window_errors, latency)) in merged {
        requests += window_requests;
        errors += window_errors;
        all.merge(&latency);
        windows.push(WindowStats::new(
            window_start,
            window_seconds,
            window_requests,
            window_errors,
            &latency,
        ));
    }
    Ok(SloHistory {
        windows,
        requests,
        errors,
        error_rate: error_rate(errors, requests),
        latency_p95_ms: all.quantile_ms(0.95),
    })
}

/// Requests, errors and latencies over a bar in some windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Counts {
    pub requests: i64,
    pub errors: i64,
    /// Requests slower than the bar asked about.
    pub slow: i64,
}

/// `deployment_id`'s requests in windows that end after `since`, merged
/// over replicas, with latencies over `slow_ms` counted. A window that
/// began before `since` counts whole: windows are the finest grain kept.
pub async fn counts_since(
    executor: impl PgExecutor<'_>,
    deployment_id: Uuid,
    since: DateTime<Utc>,
    slow_ms: f64,
) -> Result<Counts, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT requests, errors, latency_histogram
           FROM production.slo_metrics
           WHERE deployment_id = $1
             AND window_start + make_interval(secs => window_seconds) > $2"#,
        deployment_id,
        since
    )
    .fetch_all(executor)
    .await?;
    let mut counts = Counts::default();
    for row in rows {
        let latency =
            LatencyHistogram::from_bytes(&row.latency_histogram, "slo_metrics.latency_histogram")?;
        counts.requests += row.requests;
        counts.errors += row.errors;
        counts.slow += i64::try_from(latency.count_over_ms(slow_ms)).unwrap_or(i64::MAX);
    }
    Ok(counts)
}

/// Errors per request; 0 without requests.
pub fn error_rate(errors: i64, requests: i64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

impl WindowStats {
    pub fn new(
        window_start: DateTime<Utc>,
        window_seconds: i32,
        requests: i64,
        errors: i64,
        latency: &LatencyHistogram,
    ) -> Self {
        Self {
            window_start,
            window_seconds,
            requests,
            errors,
            error_rate: error_rate(errors, requests),
            latency_p95_ms: latency.quantile_ms(0.95),
        }
    }
}
