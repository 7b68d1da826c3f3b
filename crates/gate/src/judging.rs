//! Judging: each finished, unjudged run gets one verdict from the core
//! judge on its configuration's pooled evidence (every case evaluated for
//! the fingerprint, over all its runs), stored with every check, the counts
//! and the runs it rests on; PASS records a pending deployment (the
//! saga's first step), FAIL quarantines, INCONCLUSIVE keeps the experiment
//! in V1 and says how many more cases would decide. The decision, the run's
//! `judged_at`, the consequence and the audit row commit together.

use serde_json::json;
use sqlx::PgConnection;
use trizone_core::{Baseline, CheckName, Decision, ExperimentStatus, RunMetrics, Verdict, judge};
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::experiments::Experiment;
use trizone_store::gate::{self, DecisionRecord, NewDecision, Outcome, Trigger, UnjudgedRun};
use trizone_store::quarantine::{self, Reason};
use trizone_store::{StoreError, evidence, experiments, production, runs};
use uuid::Uuid;

use crate::Gate;
use crate::error::GateError;
use crate::quarantine::Evidence;

impl Gate {
    /// Judges every finished, unjudged run, one transaction each; returns
    /// how many were decided. Runs another gate holds are skipped.
    pub async fn judge_pending(&self) -> Result<usize, GateError> {
        let mut decided = 0;
        loop {
            let mut tx = self.db.begin().await?;
            let Some(run) = gate::take_unjudged(&mut tx).await? else {
                return Ok(decided);
            };
            let actor = Actor::Gate {
                replica: &self.replica,
            }
            .to_string();
            let experiment = experiments::get(&mut *tx, run.experiment_id).await?;
            let record = self
                .decide(&mut tx, &run, experiment, Trigger::Schedule, &actor)
                .await?;
            tx.commit().await?;
            self.count(&record);
            decided += 1;
        }
    }

    /// Judges `experiment_id`'s latest finished run now (`POST
    /// /api/gate/experiments/{id}/judge`).
    pub async fn judge_now(
        &self,
        experiment_id: Uuid,
        actor: &str,
    ) -> Result<DecisionRecord, GateError> {
        let mut tx = self.db.begin().await?;
        let experiment = experiments::get(&mut *tx, experiment_id).await?;
        let latest = match gate::lock_latest_finished(&mut tx, experiment_id).await {
            Err(StoreError::Database(e))
                if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("55P03") =>
            {
                return Err(GateError::Refused {
                    code: "being_judged",
                    message: "another gate is judging this experiment right now".into(),
                });
            }
            other => other?,
        };
        let Some((run, judged)) = latest else {
            return Err(GateError::Refused {
                code: "not_judgeable",
                message: "the experiment has no finished evaluation run to judge".into(),
            });
        };
        if judged {
            let previous = gate::for_run(&mut *tx, run.run_id).await?;
            let message = match previous {
                Some(d) => format!(
                    "its latest run was already decided: {} ({}), decision {}",
                    d.decision, d.outcome, d.id
                ),
                None => "its latest run was already judged".into(),
            };
            return Err(GateError::Refused {
                code: "already_decided",
                message,
            });
        }
        let record = self
            .decide(&mut tx, &run, experiment, Trigger::Request, actor)
            .await?;
        tx.commit().await?;
        self.count(&record);
        Ok(record)
    }

    fn count(&self, record: &DecisionRecord) {
        self.metrics
            .decisions
            .with_label_values(&[record.decision.as_str()])
            .inc();
        match record.outcome {
            Outcome::Quarantined | Outcome::Blacklisted => self.metrics.quarantines.inc(),
            Outcome::Promoting => self.wake_saga(),
            Outcome::KeptInV1 => {}
        }
        if record.outcome == Outcome::Blacklisted {
            self.refresh_blacklist_size_soon();
        }
    }

    async fn decide(
        &self,
        tx: &mut PgConnection,
        run: &UnjudgedRun,
        experiment: Experiment,
        trigger: Trigger,
        actor: &str,
    ) -> Result<DecisionRecord, GateError> {
        let metrics =
            runs::metrics(&mut *tx, run.run_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    column: "experiment_metrics",
                    value: format!("finished run {} has no metrics", run.run_id),
                })?;
        // The verdict rests on every case evaluated for this configuration,
        // in this run and all earlier ones: re-running continues one test.
        let pooled = evidence::pooled(
            &mut *tx,
            experiment.fingerprint.as_str(),
            self.thresholds.max_p95_latency_ms,
        )
        .await?;
        let pooled_runs = evidence::pooled_runs(&mut *tx, experiment.fingerprint.as_str()).await?;
        let baseline = self.baseline(&mut *tx).await?;
        let verdict = judge(&pooled, &self.thresholds, baseline);
        let consequence = self
            .act(tx, run, &experiment, &verdict, &metrics, actor)
            .await?;
        let record = gate::insert(
            &mut *tx,
            NewDecision {
                run_id: run.run_id,
                experiment_id: experiment.id,
                fingerprint: experiment.fingerprint.as_str(),
                verdict: &verdict,
                thresholds: &self.thresholds,
                metrics: &metrics,
                outcome: consequence.outcome,
                deployment_id: consequence.deployment_id,
                quarantine_record_id: consequence.record_id,
                decided_by: actor,
                trigger,
                evidence: &pooled,
                pooled_runs: &pooled_runs,
            },
        )
        .await?;
        gate::mark_judged(&mut *tx, run.run_id).await?;
        audit::append(
            &mut *tx,
            NewEvent {
                actor,
                action: AuditAction::Decided,
                subject: experiment.fingerprint.as_str(),
                details: &json!({
                    "decision_id": record.id,
                    "experiment_id": experiment.id,
                    "run_id": run.run_id,
                    "decision": record.decision,
                    "outcome": record.outcome,
                    "additional_cases_needed": verdict.additional_cases_needed,
                    "pooled_cases": pooled.cases,
                    "pooled_runs": pooled_runs.len(),
                }),
            },
        )
        .await?;
        tracing::info!(
            experiment = %experiment.id,
            decision = %record.decision,
            outcome = %record.outcome,
            "judged"
        );
        Ok(record)
    }

    /// Does what the verdict says to the experiment, within the decision's
    /// transaction.
    async fn act(
        &self,
        tx: &mut PgConnection,
        run: &UnjudgedRun,
        experiment: &Experiment,
        verdict: &Verdict,
        metrics: &RunMetrics,
        actor: &str,
    ) -> Result<Consequence, GateError> {
        // Otherwise a new run started since: the experiment stays in V1.
        if experiment.status != ExperimentStatus::Evaluated {
            return Ok(Consequence::kept());
        }
        if let Some(entry) = quarantine::blacklist_entry(&mut *tx, &experiment.fingerprint).await? {
            // A run that finished after its configuration was blacklisted.
            self.blacklist_in(
                tx,
                experiment,
                ExperimentStatus::Evaluated,
                &entry.reason,
                None,
                actor,
            )
            .await?;
            return Ok(Consequence {
                outcome: Outcome::Blacklisted,
                ..Consequence::kept()
            });
        }
        match verdict.decision {
            // Evidence counts under a fingerprint; a configuration that
            // no longer hashes to it is not what was evaluated.
            Decision::Pass if experiment.configuration.fingerprint() != experiment.fingerprint => {
                refuse_promotion(tx, run, experiment, actor).await?;
                Ok(Consequence::kept())
            }
            Decision::Pass => {
                let deployment = production::insert_pending(
                    &mut *tx,
                    experiment.id,
                    &experiment.fingerprint,
                    &experiment.configuration,
                )
                .await?;
                Ok(Consequence {
                    outcome: Outcome::Promoting,
                    deployment_id: Some(deployment.id),
                    record_id: None,
                })
            }
            Decision::Fail => {
                let evidence = Evidence {
                    reason: reason_of(verdict),
                    failed_checks: serde_json::to_value(
                        verdict.failed_checks().collect::<Vec<_>>(),
                    )
                    .unwrap_or_default(),
                    metrics: Some(serde_json::to_value(metrics).unwrap_or_default()),
                    deployment_id: None,
                };
                let done = self
                    .quarantine(tx, experiment, ExperimentStatus::Evaluated, evidence, actor)
                    .await?;
                Ok(Consequence {
                    outcome: if done.blacklisted {
                        Outcome::Blacklisted
                    } else {
                        Outcome::Quarantined
                    },
                    deployment_id: None,
                    record_id: Some(done.record_id),
                })
            }
            Decision::Inconclusive => Ok(Consequence::kept()),
        }
    }

    /// The stable configuration's accuracy, when non-inferiority is judged:
    /// over all its evidence, as the candidate's is, not over whichever run
    /// of it came last (a run that stopped early, or an extension, may be a
    /// few dozen cases).
    async fn baseline(&self, conn: &mut PgConnection) -> Result<Option<Baseline>, GateError> {
        if self.thresholds.non_inferiority_margin.is_none() {
            return Ok(None);
        }
        let Some(active) = production::active(&mut *conn).await? else {
            return Ok(None);
        };
        let stable = evidence::pooled(
            &mut *conn,
            &active.fingerprint,
            self.thresholds.max_p95_latency_ms,
        )
        .await?;
        Ok(stable.accuracy().map(|accuracy| Baseline { accuracy }))
    }
}

/// What a decision did, as its record keeps it.
struct Consequence {
    outcome: Outcome,
    deployment_id: Option<Uuid>,
    record_id: Option<Uuid>,
}

impl Consequence {
    fn kept() -> Self {
        Self {
            outcome: Outcome::KeptInV1,
            deployment_id: None,
            record_id: None,
        }
    }
}

/// A pass whose configuration no longer hashes to its fingerprint stays in
/// V1, with an audit row saying why.
async fn refuse_promotion(
    tx: &mut PgConnection,
    run: &UnjudgedRun,
    experiment: &Experiment,
    actor: &str,
) -> Result<(), GateError> {
    tracing::error!(
        experiment = %experiment.id,
        fingerprint = %experiment.fingerprint,
        "refusing to promote: the configuration does not hash to the fingerprint that was evaluated"
    );
    audit::append(
        &mut *tx,
        NewEvent {
            actor,
            action: AuditAction::PromotionRefused,
            subject: experiment.fingerprint.as_str(),
            details: &json!({
                "experiment_id": experiment.id,
                "run_id": run.run_id,
                "configuration_fingerprint": experiment.configuration.fingerprint(),
                "reason": "the configuration does not hash to the fingerprint that was evaluated",
            }),
        },
    )
    .await?;
    Ok(())
}

/// The quarantine reason: the first failed check, in the judge's order.
fn reason_of(verdict: &Verdict) -> Reason {
    match verdict.failed_checks().next().map(|c| c.name) {
        Some(CheckName::ErrorRate) => Reason::ErrorRate,
        Some(CheckName::LatencyP95) => Reason::Latency,
        Some(CheckName::CostPerCase) => Reason::Cost,
        Some(CheckName::NonInferiority) => Reason::NonInferiority,
        Some(CheckName::ErrorsAgainstStable) => Reason::ErrorRate,
        Some(CheckName::Accuracy | CheckName::SampleSize | CheckName::Agreement) | None => {
            Reason::Accuracy
        }
    }
}
