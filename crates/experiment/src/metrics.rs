//! V1's own metrics, in the service's registry.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone, Debug)]
pub struct V1Metrics {
    experiments: IntCounterVec,
    cases: IntCounterVec,
    runs_in_progress: IntGauge,
}

/// Counts a run in progress until dropped.
#[derive(Debug)]
pub struct InProgress(IntGauge);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.dec();
    }
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
        let cases = IntCounterVec::new(
            Opts::new(
                "v1_evaluation_cases_total",
                "Evaluated cases by outcome: correct, incorrect, error",
            ),
            &["outcome"],
        )?;
        let runs_in_progress = IntGauge::new(
            "v1_runs_in_progress",
            "Evaluation runs this replica is working",
        )?;
        registry.register(Box::new(experiments.clone()))?;
        registry.register(Box::new(cases.clone()))?;
        registry.register(Box::new(runs_in_progress.clone()))?;
        Ok(Self {
            experiments,
            cases,
            runs_in_progress,
        })
    }

    pub fn case(&self, outcome: &str) {
        self.cases.with_label_values(&[outcome]).inc();
    }

    pub fn run_started(&self) -> InProgress {
        self.runs_in_progress.inc();
        InProgress(self.runs_in_progress.clone())
    }

    /// `created`, `existing`, `blacklisted`, `quarantined` or `invalid`.
    pub fn registration(&self, outcome: &str) {
        self.experiments.with_label_values(&[outcome]).inc();
    }
}
