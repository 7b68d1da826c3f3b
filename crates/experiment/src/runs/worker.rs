//! The evaluation worker: claims runs under a lease and works each until
//! the judge has decided on the configuration's pooled evidence.
//!
//! A replica works several runs at once, and their cases share one budget,
//! so a slow model on a concurrency-1 run holds one slot, not the replica.
//! Runs are claimed fairly between owners (see `runs::claim`), and a run
//! that outlives `max_run` fails rather than holding its slot for ever.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sqlx::PgPool;
use tokio::sync::{Semaphore, watch};
use tokio_util::task::AbortOnDropHandle;
use trizone_core::{
    Configuration, Decision, ExperimentStatus, Judge, MatchPolicy, Mover, Verdict, score_case,
};
use trizone_router::{ModelRouter, ReviewInput};
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::datasets::{self, Case};
use trizone_store::experiments::Experiment;
use trizone_store::runs::{self, Analysis, FinalMetrics, Recorded, Run, StopReason};
use trizone_store::{LatencyHistogram, StoreError, evidence, experiments};
use uuid::Uuid;

use super::ending::{self, Ended};
use super::order;
use crate::metrics::V1Metrics;

/// How a worker claims and holds runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// This replica's name in leases.
    pub owner: String,
    /// A lease not renewed for this long lets another replica take the run.
    pub lease: Duration,
    /// How often to look for a run when idle.
    pub poll: Duration,
    /// Runs this replica works at once.
    pub runs_at_once: usize,
    /// Cases in flight at once across all of this replica's runs.
    pub case_budget: usize,
    /// The longest a run may take from its start, across replicas and
    /// restarts; a run still going then fails, its recorded cases kept as
    /// evidence.
    pub max_run: Duration,
}

impl WorkerSettings {
    /// The defaults a V1 replica runs with, for the replica named `owner`.
    pub fn new(owner: impl Into<String>) -> Self {
        Self {
            owner: owner.into(),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            runs_at_once: 4,
            case_budget: 64,
            max_run: Duration::from_secs(6 * 60 * 60),
        }
    }
}

#[derive(Clone)]
pub struct Worker {
    db: PgPool,
    router: Arc<ModelRouter>,
    settings: WorkerSettings,
    metrics: V1Metrics,
    /// One permit per case in flight, shared by every run this replica works.
    budget: Arc<Semaphore>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Worker {
    pub fn new(
        db: PgPool,
        router: Arc<ModelRouter>,
        settings: WorkerSettings,
        metrics: V1Metrics,
    ) -> Self {
        let budget = Arc::new(Semaphore::new(settings.case_budget.max(1)));
        Self {
            db,
            router,
            settings,
            metrics,
            budget,
        }
    }

    /// Claims and works runs, up to `runs_at_once` of them, until
    /// `shutdown` flips to true; the runs in hand are then released for
    /// another replica to resume.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        // Each run is its own task: were they futures polled here, a claim
        // waiting for a connection would stall the runs holding them.
        let mut held = tokio::task::JoinSet::new();
        let mut stop = shutdown.clone();
        while !*stop.borrow() {
            if held.len() < self.settings.runs_at_once.max(1) {
                match runs::claim(&self.db, &self.settings.owner, self.settings.lease).await {
                    Ok(Some(run)) => {
                        held.spawn(self.clone().hold(run, shutdown.clone()));
                        // There may be more waiting: look again at once.
                        continue;
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(error = %error, "cannot claim runs; retrying"),
                }
            }
            tokio::select! {
                Some(_) = held.join_next() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
                _ = stop.changed() => {}
            }
        }
        // Each held run has seen the flag too and is letting go.
        while held.join_next().await.is_some() {}
    }

    /// Works one claimed run to its end, its deadline, or shutdown.
    async fn hold(self, run: Run, mut shutdown: watch::Receiver<bool>) {
        let (id, experiment_id) = (run.id, run.experiment_id);
        let deadline = self.deadline(&run);
        tokio::select! {
            result = tokio::time::timeout_at(deadline, self.work(run)) => match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => self.give_up(id, experiment_id, &error).await,
                Err(_) => self.time_out(id, experiment_id).await,
            },
            // The guard `wait_for` returns is not `Send`: drop it at once.
            () = async { drop(shutdown.wait_for(|stop| *stop).await) } => {
                let _ = runs::release(&self.db, id, &self.settings.owner).await;
                tracing::info!(run = %id, "run released on shutdown");
            }
        }
    }

    /// When the run must be over: `max_run` after it first started, on
    /// whichever replica, so restarts and takeovers do not extend it.
    fn deadline(&self, run: &Run) -> tokio::time::Instant {
        let started = run.started_at.unwrap_or(run.created_at);
        let elapsed = (chrono::Utc::now() - started).to_std().unwrap_or_default();
        tokio::time::Instant::now() + self.settings.max_run.saturating_sub(elapsed)
    }

    async fn time_out(&self, id: Uuid, experiment_id: Uuid) {
        let reason = format!(
            "the run took longer than the longest a run may take ({} s, TRIZONE_V1_MAX_RUN_SECONDS); the cases it recorded still count as evidence, and a new run continues from them",
            self.settings.max_run.as_secs()
        );
        tracing::warn!(run = %id, "run timed out");
        if let Err(error) = self.fail(id, experiment_id, &reason).await {
            tracing::error!(run = %id, error = %error, "cannot record the run's time-out; its lease will expire");
        }
    }

    /// A run that hit an error: a transient one (a dropped connection) hands
    /// the run back to be resumed; anything else fails it, and the
    /// experiment returns to where it stood before the run.
    async fn give_up(&self, id: Uuid, experiment_id: Uuid, error: &StoreError) {
        if error.is_transient() {
            tracing::warn!(run = %id, error = %error, "run interrupted; handing it back to be resumed");
            let _ = runs::release(&self.db, id, &self.settings.owner).await;
            return;
        }
        tracing::error!(run = %id, error = %error, "run failed");
        if let Err(e) = self.fail(id, experiment_id, &error.to_string()).await {
            tracing::error!(run = %id, error = %e, "cannot record the run's failure; its lease will expire");
        }
    }

    /// What the audit trail records this worker as.
    fn actor(&self) -> Actor<'_> {
        Actor::Worker {
            replica: &self.settings.owner,
        }
    }

    async fn fail(&self, id: Uuid, experiment_id: Uuid, reason: &str) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        if !runs::fail(&mut *tx, id, &self.settings.owner, reason).await? {
            return Ok(());
        }
        ending::put_experiment_back(
            &mut tx,
            id,
            experiment_id,
            self.actor(),
            Ended::Failed { reason },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Works one claimed run until the judge has decided on the pooled
    /// evidence (or, for an exhaustive run, its cases run out), or until its
    /// lease is lost.
    async fn work(&self, run: Run) -> Result<(), StoreError> {
        let _in_progress = self.metrics.run_started();
        let experiment = experiments::get(&self.db, run.experiment_id).await?;
        check_unchanged(&experiment)?;
        let fingerprint = experiment.fingerprint.as_str();
        let thresholds = evidence::gate_thresholds(&self.db).await?;
        let judge = Judge::new(&thresholds, None);
        let mut pooled =
            evidence::pooled(&self.db, fingerprint, thresholds.max_p95_latency_ms).await?;
        let dataset = datasets::get(&self.db, run.dataset_id).await?;
        let pending = order::seeded(
            runs::pending_cases(&self.db, &run, fingerprint).await?,
            usize::try_from(dataset.case_count).unwrap_or(0),
            run.seed.unwrap_or(0),
        );
        tracing::info!(run = %run.id, pending = pending.len(), pooled = pooled.cases, "working run");
        // A re-evaluation continues a test that had failed: it goes on until
        // the evidence passes or the cases run out, and the gate judges it
        // then. Otherwise any decision ends the run.
        let enough = |decision: Decision| match decision {
            _ if run.exhaustive => false,
            Decision::Pass => true,
            Decision::Fail => experiment.reevaluation_of.is_none(),
            Decision::Inconclusive => false,
        };

        // Tied to this future: if the work stops in any way (finished, failed,
        // or the task killed), renewal stops with it and the lease can expire.
        let (_renewer, lost) = self.renew_lease(run.id);
        let config = &experiment.configuration;
        let concurrency = usize::try_from(run.concurrency).unwrap_or(1).max(1);
        let mut queue = pending.into_iter();
        // Each case is reviewed and recorded in its own future, so commits
        // overlap and `concurrency` reviews stay in flight. The judge is asked
        // after every recorded case; once it has decided no case is sent, and
        // those already in flight (paid for) are recorded and counted. If they
        // undo the decision, sending resumes.
        let mut in_flight = FuturesUnordered::new();
        let mut decided = enough(judge.decision(&pooled));
        loop {
            while !decided && in_flight.len() < concurrency {
                let Some(case) = queue.next() else { break };
                in_flight.push(self.evaluate(config, &run, fingerprint, case));
            }
            let Some(done) = in_flight.next().await else {
                break;
            };
            let (recorded, analysis) = done?;
            if recorded == Recorded::Counted {
                pooled = pooled.with_case(
                    analysis.correct,
                    analysis.error_kind.is_some(),
                    analysis.latency_ms > thresholds.max_p95_latency_ms,
                    analysis.cost_usd,
                );
            }
            if *lost.borrow() {
                tracing::info!(run = %run.id, "lease lost or run cancelled; stopping");
                return Ok(());
            }
            decided = enough(judge.decision(&pooled));
        }
        drop(in_flight);
        let not_needed = queue.len();
        // Judge what is stored, not what this replica tallied: another
        // replica may have recorded cases of this run meanwhile.
        let pooled = evidence::pooled(&self.db, fingerprint, thresholds.max_p95_latency_ms).await?;
        let stop = Stop {
            reason: if not_needed > 0 {
                StopReason::Decided
            } else {
                StopReason::Exhausted
            },
            cases_not_needed: i32::try_from(not_needed).unwrap_or(i32::MAX),
            verdict: judge.verdict(&pooled),
        };
        self.finish(&run, stop).await
    }

    /// Renews `run`'s lease every third of it, until dropped; the receiver
    /// turns true once the lease is lost (or the run was cancelled).
    fn renew_lease(&self, run: Uuid) -> (AbortOnDropHandle<()>, watch::Receiver<bool>) {
        let (lost_tx, lost) = watch::channel(false);
        let (db, owner, lease) = (
            self.db.clone(),
            self.settings.owner.clone(),
            self.settings.lease,
        );
        let renewer = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                if !matches!(runs::renew(&db, run, &owner, lease).await, Ok(true)) {
                    let _ = lost_tx.send(true);
                    return;
                }
            }
        });
        (AbortOnDropHandle::new(renewer), lost)
    }

    /// Reviews one case and records it.
    async fn evaluate(
        &self,
        config: &Configuration,
        run: &Run,
        fingerprint: &str,
        case: Case,
    ) -> Result<(Recorded, Analysis), StoreError> {
        // The semaphore is never closed, so this always yields a permit.
        let permit = self.budget.acquire().await.ok();
        let analysis = self.analyse(config, &case).await;
        drop(permit);
        let recorded =
            runs::record(&self.db, run.id, fingerprint, &case.case_key, &analysis).await?;
        if recorded != Recorded::Ignored {
            self.metrics.case(if analysis.error_kind.is_some() {
                "error"
            } else if analysis.correct {
                "correct"
            } else {
                "incorrect"
            });
        }
        Ok((recorded, analysis))
    }

    async fn analyse(&self, config: &Configuration, case: &Case) -> Analysis {
        let input = ReviewInput {
            code: &case.code,
            language: case.language.as_str(),
            path: &case.path,
        };
        let reviewed = self.router.review(config, input).await;
        let usage = reviewed.usage;
        let format_recovery = reviewed.calls.iter().find_map(|c| c.recovered);
        // The answer that decided the case: the last one a model gave.
        let answer = reviewed.calls.iter().rev().find_map(|c| c.answer.clone());
        let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        match reviewed.result {
            Ok(review) => {
                let findings: Vec<_> = review.findings.into_iter().map(|f| f.finding).collect();
                let score = score_case(&case.expected_findings, &findings, MatchPolicy::default());
                Analysis {
                    case_id: case.case_id.clone(),
                    error_kind: None,
                    true_positives: i32::try_from(score.true_positives).unwrap_or(i32::MAX),
                    false_positives: i32::try_from(score.false_positives).unwrap_or(i32::MAX),
                    false_negatives: i32::try_from(score.false_negatives).unwrap_or(i32::MAX),
                    correct: score.correct(),
                    latency_ms: usage.latency_ms,
                    input_tokens: tokens(usage.input_tokens),
                    output_tokens: tokens(usage.output_tokens),
                    cost_usd: usage.cost_usd,
                    answered_by: review.answered_by.first().cloned(),
                    fallback_reason: review.fallback.map(|f| f.reason.as_str().to_owned()),
                    format_recovery,
                    answer,
                    error_message: None,
                    findings,
                }
            }
            Err(error) => Analysis {
                case_id: case.case_id.clone(),
                error_kind: Some(error.kind.as_str().to_owned()),
                findings: Vec::new(),
                true_positives: 0,
                false_positives: 0,
                // An errored case found nothing it should have.
                false_negatives: i32::try_from(case.expected_findings.len()).unwrap_or(i32::MAX),
                correct: false,
                latency_ms: usage.latency_ms,
                input_tokens: tokens(usage.input_tokens),
                output_tokens: tokens(usage.output_tokens),
                cost_usd: usage.cost_usd,
                answered_by: None,
                fallback_reason: None,
                format_recovery,
                answer,
                error_message: Some(error.message),
            },
        }
    }

    /// Writes the run's metrics and verdict and moves the experiment to
    /// evaluated, in one transaction, only while this replica still holds
    /// the run.
    async fn finish(&self, run: &Run, stop: Stop) -> Result<(), StoreError> {
        let progress = runs::progress(&self.db, run.id).await?;
        let latencies = runs::latencies_ms(&self.db, run.id).await?;
        let mut histogram = LatencyHistogram::new();
        for latency in &latencies {
            histogram.record_ms(*latency);
        }
        let percentile = |q: f64| histogram.quantile_ms(q);
        let started = run.started_at.unwrap_or(run.created_at);
        let seconds = (chrono::Utc::now() - started).num_milliseconds() as f64 / 1000.0;
        let metrics = FinalMetrics {
            throughput_per_s: (seconds > 0.0).then(|| progress.cases_done as f64 / seconds),
            latency_p50_ms: percentile(0.5),
            latency_p95_ms: percentile(0.95),
            latency_p99_ms: percentile(0.99),
            latency_histogram: (!histogram.is_empty()).then(|| histogram.to_bytes()),
            progress,
            stop_reason: stop.reason,
            cases_not_needed: stop.cases_not_needed,
            verdict: stop.verdict,
        };
        let mut tx = self.db.begin().await?;
        if !runs::finish(&mut tx, run, &self.settings.owner, &metrics).await? {
            return Ok(());
        }
        experiments::transition(
            &mut tx,
            run.experiment_id,
            ExperimentStatus::Evaluating,
            ExperimentStatus::Evaluated,
            Mover::Experiment,
        )
        .await?;
        let experiment = experiments::get(&mut *tx, run.experiment_id).await?;
        let details = serde_json::json!({
            "run_id": run.id, "experiment_id": run.experiment_id, "cases": metrics.progress.cases_done,
            "correct": metrics.progress.correct, "errors": metrics.progress.errors,
            "stop_reason": metrics.stop_reason, "cases_not_needed": metrics.cases_not_needed,
            "pooled_cases": metrics.verdict.cases, "verdict": metrics.verdict.decision,
        });
        audit::append(
            &mut *tx,
            NewEvent {
                actor: &self.actor().to_string(),
                action: AuditAction::RunFinished,
                subject: experiment.fingerprint.as_str(),
                details: &details,
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            run = %run.id,
            cases = metrics.progress.cases_done,
            not_needed = metrics.cases_not_needed,
            verdict = ?metrics.verdict.decision,
            "run finished"
        );
        Ok(())
    }
}

/// How a run ended: why, how many cases it left unsent, and the judge's
/// verdict on the pooled evidence.
struct Stop {
    reason: StopReason,
    cases_not_needed: i32,
    verdict: Verdict,
}

/// Evidence is filed under the fingerprint of the configuration a worker
/// actually sends, so what the gate later promotes under that fingerprint
/// is what was evaluated: a configuration changed since registration is
/// not evaluated at all.
fn check_unchanged(experiment: &Experiment) -> Result<(), StoreError> {
    if experiment.configuration.fingerprint() == experiment.fingerprint {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        column: "experiments.configuration",
        value: format!(
            "experiment {}'s configuration does not hash to its fingerprint {}: it was changed after registration",
            experiment.id, experiment.fingerprint
        ),
    })
}
