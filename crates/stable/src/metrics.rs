//! V2's own metrics, beside the shared HTTP ones (`v2_requests_total`,
//! `v2_request_duration_seconds`, `v2_active_requests`, `v2_errors_total`)
//! in the service's registry.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

#[derive(Clone, Debug)]
pub struct V2Metrics {
    /// Records that never reach the database, by reason: `buffer_full`,
    /// `rejected` (the database refused the row), `shutdown`.
    pub records_dropped: IntCounterVec,
    /// Records waiting to be written.
    pub records_pending: IntGauge,
    pub records_written: IntCounter,
    /// 1 while the last write succeeded, 0 while the database is away.
    pub database_available: IntGauge,
    /// Closed windows of this replica in which an SLO was broken, by `slo`:
    /// `latency_p95` (p95 ≥ 3 s) or `error_rate` (≥ 2 %).
    pub slo_violations: IntCounterVec,
    /// Request time minus time spent waiting on providers.
    pub latency_overhead: Histogram,
    /// Reviews no model answered, by the kind of failure.
    pub provider_failures: IntCounterVec,
    pub rate_limited: IntCounter,
    /// End users' scores (0–5) on this replica, by the reviewed
    /// deployment's `version`: `_sum / _count` is the mean.
    pub feedback_score: HistogramVec,
    /// Reviews by the `role` of the configuration that answered (`stable`,
    /// `canary`, `shadow`) and `outcome` (`ok`, `error`).
    pub role_reviews: IntCounterVec,
    /// Review latency by role.
    pub role_duration: HistogramVec,
    /// Requests sampled for shadowing that were not mirrored: `queue_full`.
    pub shadow_dropped: IntCounterVec,
    pub canary_failovers: IntCounter,
}

/// Review latency buckets, in seconds, around the 3 s SLO.
const ROLE_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0];

/// One bucket per score.
const SCORE_BUCKETS: &[f64] = &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0];

const OVERHEAD_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
];

impl V2Metrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            records_dropped: IntCounterVec::new(
                Opts::new(
                    "v2_records_dropped_total",
                    "Review, feedback and SLO records that were not written, by reason",
                ),
                &["reason"],
            )?,
            records_pending: IntGauge::new(
                "v2_records_pending",
                "Records buffered for the database",
            )?,
            records_written: IntCounter::new(
                "v2_records_written_total",
                "Review and feedback records written to the database",
            )?,
            database_available: IntGauge::new(
                "v2_database_available",
                "1 while records reach the database, 0 while V2 serves fail-static",
            )?,
            slo_violations: IntCounterVec::new(
                Opts::new(
                    "v2_slo_violations_total",
                    "Closed SLO windows of this replica with p95 >= 3 s or error rate >= 2%",
                ),
                &["slo"],
            )?,
            latency_overhead: Histogram::with_opts(
                HistogramOpts::new(
                    "v2_latency_overhead_seconds",
                    "Review request time not spent waiting on model providers",
                )
                .buckets(OVERHEAD_BUCKETS.to_vec()),
            )?,
            provider_failures: IntCounterVec::new(
                Opts::new(
                    "v2_provider_failures_total",
                    "Reviews no model answered, by kind of failure",
                ),
                &["kind"],
            )?,
            rate_limited: IntCounter::new(
                "v2_rate_limited_total",
                "Review requests refused by the per-key rate limit",
            )?,
            feedback_score: HistogramVec::new(
                HistogramOpts::new(
                    "v2_feedback_score",
                    "End users' satisfaction scores (0-5), by deployment version",
                )
                .buckets(SCORE_BUCKETS.to_vec()),
                &["version"],
            )?,
            role_reviews: IntCounterVec::new(
                Opts::new(
                    "v2_role_reviews_total",
                    "Reviews by the role of the configuration that answered: stable, canary or shadow",
                ),
                &["role", "outcome"],
            )?,
            role_duration: HistogramVec::new(
                HistogramOpts::new(
                    "v2_role_review_duration_seconds",
                    "Review latency by the role of the configuration that answered",
                )
                .buckets(ROLE_BUCKETS.to_vec()),
                &["role"],
            )?,
            shadow_dropped: IntCounterVec::new(
                Opts::new(
                    "v2_shadow_dropped_total",
                    "Requests sampled for the shadow candidate but not mirrored, by reason",
                ),
                &["reason"],
            )?,
            canary_failovers: IntCounter::new(
                "v2_canary_failovers_total",
                "Canary answers that failed and were answered again by the stable configuration",
            )?,
        };
        registry.register(Box::new(metrics.records_dropped.clone()))?;
        registry.register(Box::new(metrics.records_pending.clone()))?;
        registry.register(Box::new(metrics.records_written.clone()))?;
        registry.register(Box::new(metrics.database_available.clone()))?;
        registry.register(Box::new(metrics.slo_violations.clone()))?;
        registry.register(Box::new(metrics.latency_overhead.clone()))?;
        registry.register(Box::new(metrics.provider_failures.clone()))?;
        registry.register(Box::new(metrics.rate_limited.clone()))?;
        registry.register(Box::new(metrics.feedback_score.clone()))?;
        registry.register(Box::new(metrics.role_reviews.clone()))?;
        registry.register(Box::new(metrics.role_duration.clone()))?;
        registry.register(Box::new(metrics.shadow_dropped.clone()))?;
        registry.register(Box::new(metrics.canary_failovers.clone()))?;
        metrics.database_available.set(1);
        // Zero series exist from the start, so dashboards and alerts see them.
        for slo in ["latency_p95", "error_rate"] {
            metrics.slo_violations.with_label_values(&[slo]);
        }
        for reason in ["buffer_full", "rejected", "shutdown"] {
            metrics.records_dropped.with_label_values(&[reason]);
        }
        for role in ["stable", "canary", "shadow"] {
            for outcome in ["ok", "error"] {
                metrics.role_reviews.with_label_values(&[role, outcome]);
            }
            metrics.role_duration.with_label_values(&[role]);
        }
        metrics.shadow_dropped.with_label_values(&["queue_full"]);
        Ok(metrics)
    }
}
