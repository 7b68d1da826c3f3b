//! The gate's metrics. `v1_promotions_total` and `v1_quarantines_total`
//! keep the names the platform's dashboards use.

use prometheus::{
    Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use trizone_core::Decision;

use crate::rollback::RollbackReason;

#[derive(Clone, Debug)]
pub struct GateMetrics {
    pub promotions: IntCounter,
    pub quarantines: IntCounter,
    /// By `verdict`: pass, fail, inconclusive.
    pub decisions: IntCounterVec,
    /// By `reason`: slo_breach, blacklist, manual.
    pub rollbacks: IntCounterVec,
    /// By `step`: health, smoke, enable.
    pub saga_step: HistogramVec,
    pub blacklist_size: IntGauge,
    /// Scheduled judging passes by `outcome`: ok, error.
    pub judging_passes: IntCounterVec,
    /// When a scheduled judging pass last completed (Unix seconds): an
    /// alert on its age catches a gate that stopped judging, which a
    /// counter of decisions cannot tell from having nothing to judge.
    pub last_judging: Gauge,
    /// Percent of V2's requests the candidate in rollout answers (0 with
    /// none, or while it shadows).
    pub rollout_share: Gauge,
    /// Rollout steps judged, by `outcome`: `passed`, `failed`.
    pub rollout_steps: IntCounterVec,
}

impl GateMetrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            promotions: IntCounter::new("v1_promotions_total", "Configurations promoted to V2")?,
            quarantines: IntCounter::new(
                "v1_quarantines_total",
                "Configurations quarantined to V3",
            )?,
            decisions: IntCounterVec::new(
                Opts::new("gate_decisions_total", "Gate decisions by verdict"),
                &["verdict"],
            )?,
            rollbacks: IntCounterVec::new(
                Opts::new("gate_rollbacks_total", "V2 rollbacks by reason"),
                &["reason"],
            )?,
            saga_step: HistogramVec::new(
                HistogramOpts::new(
                    "gate_saga_step_seconds",
                    "Duration of each promotion saga step",
                )
                .buckets(vec![
                    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0,
                ]),
                &["step"],
            )?,
            blacklist_size: IntGauge::new("gate_blacklist_size", "Blacklisted fingerprints")?,
            judging_passes: IntCounterVec::new(
                Opts::new(
                    "gate_judging_passes_total",
                    "Scheduled judging passes by outcome",
                ),
                &["outcome"],
            )?,
            last_judging: Gauge::new(
                "gate_last_judging_timestamp_seconds",
                "When a scheduled judging pass last completed, in Unix seconds",
            )?,
            rollout_share: Gauge::new(
                "gate_rollout_share_percent",
                "Percent of V2 requests the candidate in rollout answers",
            )?,
            rollout_steps: IntCounterVec::new(
                Opts::new(
                    "gate_rollout_steps_total",
                    "Rollout steps the online judge decided, by outcome",
                ),
                &["outcome"],
            )?,
        };
        registry.register(Box::new(metrics.promotions.clone()))?;
        registry.register(Box::new(metrics.quarantines.clone()))?;
        registry.register(Box::new(metrics.decisions.clone()))?;
        registry.register(Box::new(metrics.rollbacks.clone()))?;
        registry.register(Box::new(metrics.saga_step.clone()))?;
        registry.register(Box::new(metrics.blacklist_size.clone()))?;
        registry.register(Box::new(metrics.judging_passes.clone()))?;
        registry.register(Box::new(metrics.last_judging.clone()))?;
        registry.register(Box::new(metrics.rollout_share.clone()))?;
        registry.register(Box::new(metrics.rollout_steps.clone()))?;
        for outcome in ["passed", "failed"] {
            metrics.rollout_steps.with_label_values(&[outcome]);
        }
        for outcome in ["ok", "error"] {
            metrics.judging_passes.with_label_values(&[outcome]);
        }
        for decision in [Decision::Pass, Decision::Fail, Decision::Inconclusive] {
            metrics.decisions.with_label_values(&[decision.as_str()]);
        }
        for reason in [
            RollbackReason::SloBreach,
            RollbackReason::Blacklist,
            RollbackReason::Manual,
        ] {
            metrics.rollbacks.with_label_values(&[reason.as_str()]);
        }
        Ok(metrics)
    }
}
