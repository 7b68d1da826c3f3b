//! V1's own metrics, in the service's registry: counters of what this
//! replica does, and each recent experiment's latest run, refreshed from
//! the database.

use prometheus::{GaugeVec, IntCounterVec, IntGauge, Opts, Registry};
use sqlx::PgPool;
use trizone_store::StoreError;

/// Experiments the dashboard shows, the most recently measured first: a
/// bound on the series each gauge holds.
pub const SHOWN_EXPERIMENTS: i64 = 50;

#[derive(Clone, Debug)]
pub struct V1Metrics {
    experiments: IntCounterVec,
    cases: IntCounterVec,
    runs_in_progress: IntGauge,
    latest: LatestRun,
}

/// Each shown experiment's latest run, labelled by experiment id and name.
#[derive(Clone, Debug)]
struct LatestRun {
    accuracy: GaugeVec,
    false_positives: GaugeVec,
    false_negatives: GaugeVec,
    p95_seconds: GaugeVec,
    cost_usd: GaugeVec,
}

impl LatestRun {
    fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge = |name: &str, help: &str| -> Result<GaugeVec, prometheus::Error> {
            let gauge = GaugeVec::new(Opts::new(name, help), &["experiment", "name"])?;
            registry.register(Box::new(gauge.clone()))?;
            Ok(gauge)
        };
        Ok(Self {
            accuracy: gauge(
                "v1_experiment_accuracy",
                "Share of correct cases in the experiment's latest run",
            )?,
            false_positives: gauge(
                "v1_experiment_false_positives",
                "Findings the latest run reported that the cases do not expect",
            )?,
            false_negatives: gauge(
                "v1_experiment_false_negatives",
                "Expected findings the latest run missed",
            )?,
            p95_seconds: gauge(
                "v1_experiment_latency_p95_seconds",
                "95th percentile review latency of the latest run",
            )?,
            cost_usd: gauge(
                "v1_experiment_cost_usd",
                "What the latest run's model calls cost, in USD",
            )?,
        })
    }

    fn all(&self) -> [&GaugeVec; 5] {
        [
            &self.accuracy,
            &self.false_positives,
            &self.false_negatives,
            &self.p95_seconds,
            &self.cost_usd,
        ]
    }
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
            latest: LatestRun::new(registry)?,
        })
    }

    /// Reads each shown experiment's latest run again; an experiment no
    /// longer among them loses its series.
    pub async fn refresh(&self, db: &PgPool) -> Result<(), StoreError> {
        let latest = trizone_store::runs::latest_metrics(db, SHOWN_EXPERIMENTS).await?;
        for gauge in self.latest.all() {
            gauge.reset();
        }
        for run in latest {
            let id = run.experiment_id.to_string();
            let labels = [id.as_str(), run.name.as_str()];
            let LatestRun {
                accuracy,
                false_positives,
                false_negatives,
                p95_seconds,
                cost_usd,
            } = &self.latest;
            if run.cases > 0 {
                accuracy
                    .with_label_values(&labels)
                    .set(run.correct as f64 / run.cases as f64);
            }
            false_positives
                .with_label_values(&labels)
                .set(run.false_positives as f64);
            false_negatives
                .with_label_values(&labels)
                .set(run.false_negatives as f64);
            if let Some(p95) = run.latency_p95_ms {
                p95_seconds.with_label_values(&labels).set(p95 / 1000.0);
            }
            cost_usd.with_label_values(&labels).set(run.cost_usd);
        }
        Ok(())
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
