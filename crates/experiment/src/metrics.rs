//! V1's own metrics, in the service's registry.

use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Clone, Debug)]
pub struct V1Metrics {
    experiments: IntCounterVec,
}

impl V1Metrics {
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let experiments = IntCounterVec::new(
            Opts::new(
                "v1_experiments_total",
                "Experiment registrations by outcome",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(experiments.clone()))?;
        Ok(Self { experiments })
    }

    /// `created`, `existing`, `blacklisted`, `quarantined` or `invalid`.
    pub fn registration(&self, outcome: &str) {
        self.experiments.with_label_values(&[outcome]).inc();
    }
}
