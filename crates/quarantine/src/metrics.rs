//! V3's own metrics: what the archive holds, refreshed from the database.

use prometheus::{IntGauge, IntGaugeVec, Opts, Registry};
use sqlx::PgPool;

#[derive(Clone, Debug)]
pub struct V3Metrics {
    records: IntGaugeVec,
    blacklist_size: IntGauge,
}

/// Every reason a record can have, so each series exists from the start.
pub const REASONS: &[&str] = &[
    "accuracy",
    "latency",
    "error_rate",
    "cost",
    "non_inferiority",
    "smoke_test",
    "slo_breach",
    "blacklist",
    "shadow",
    "canary",
];

impl V3Metrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let records = IntGaugeVec::new(
            Opts::new("v3_records", "Quarantine records by reason"),
            &["reason"],
        )?;
        let blacklist_size = IntGauge::new("v3_blacklist_size", "Blacklisted fingerprints")?;
        registry.register(Box::new(records.clone()))?;
        registry.register(Box::new(blacklist_size.clone()))?;
        for reason in REASONS {
            records.with_label_values(&[reason]);
        }
        Ok(Self {
            records,
            blacklist_size,
        })
    }

    /// Reads the counts again.
    pub async fn refresh(&self, db: &PgPool) -> Result<(), trizone_store::StoreError> {
        for reason in REASONS {
            self.records.with_label_values(&[reason]).set(0);
        }
        for (reason, count) in trizone_store::archive::counts_by_reason(db).await? {
            self.records.with_label_values(&[&reason]).set(count);
        }
        self.blacklist_size
            .set(trizone_store::quarantine::blacklist_size(db).await?);
        Ok(())
    }
}
