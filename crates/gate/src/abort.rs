//! Ending a rollout without promoting: its candidate's deployment fails
//! and V2 serves the stable configuration alone again, in one transaction
//! with the audit row and the `NOTIFY` V2 follows.

use serde_json::{Value, json};
use sqlx::PgConnection;
use trizone_core::{ExperimentStatus, Stage, StepEvidence, Verdict};
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::production::{self, Deployment, DeploymentStatus};
use trizone_store::quarantine::Reason;
use trizone_store::rollouts::{self, Rollout, RolloutOutcome};

use crate::Gate;
use crate::error::GateError;
#[cfg(feature = "faults")]
use crate::faults::Step;
use crate::quarantine::Evidence;

/// Why a rollout ends without promoting.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AbortCause<'a> {
    /// The online judge failed the step on live traffic: the candidate is
    /// quarantined (`shadow` or `canary`) with the step's evidence.
    Failed(&'a StepEvidence, &'a Verdict),
    /// An admin aborted it: the candidate stays in V1.
    Admin(&'a str),
    /// Its configuration was blacklisted: nothing blacklisted is served,
    /// so it is quarantined (`blacklist`) with the blacklist's reason.
    Blacklisted { reason: &'a str, by: &'a str },
}

/// What an abort did, for what follows its commit.
#[derive(Debug)]
pub(crate) struct Aborted {
    failure: String,
    quarantined: bool,
}

impl Gate {
    /// Aborts `rollout` of `deployment` in a transaction of its own.
    pub(crate) async fn abort(
        &self,
        deployment: &Deployment,
        rollout: &Rollout,
        cause: AbortCause<'_>,
    ) -> Result<(), GateError> {
        let mut tx = self.db.begin().await?;
        let Some(aborted) = self.abort_in(&mut tx, deployment, rollout, cause).await? else {
            return Ok(());
        };
        tx.commit().await?;
        self.aborted(deployment, &aborted);
        #[cfg(feature = "faults")]
        self.faults.check(Step::StepFailed)?;
        Ok(())
    }

    /// Aborts `rollout` in the caller's transaction; `None` when it had
    /// ended already. The caller commits, then calls [`Gate::aborted`].
    pub(crate) async fn abort_in(
        &self,
        conn: &mut PgConnection,
        deployment: &Deployment,
        rollout: &Rollout,
        cause: AbortCause<'_>,
    ) -> Result<Option<Aborted>, GateError> {
        let (step_reason, label) = match rollout.stage() {
            Stage::Shadow { .. } => (Reason::Shadow, "shadow"),
            _ => (Reason::Canary, "canary"),
        };
        let gate_actor = Actor::Gate {
            replica: &self.replica,
        }
        .to_string();
        let (failure, actor, evidence) = match cause {
            AbortCause::Failed(evidence, verdict) => {
                let failed: Vec<Value> = verdict
                    .failed_checks()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect();
                let failure = format!(
                    "the {label} step failed on live traffic: {}",
                    verdict
                        .failed_checks()
                        .map(|c| c.reason.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                let evidence = Evidence {
                    reason: step_reason,
                    failed_checks: Value::Array(failed),
                    metrics: Some(
                        json!({"step": label, "share": rollout.share, "since": rollout.step_started_at, "evidence": evidence}),
                    ),
                    deployment_id: Some(deployment.id),
                };
                (failure, gate_actor.as_str(), Some(evidence))
            }
            AbortCause::Admin(by) => (format!("the rollout was aborted by {by}"), by, None),
            AbortCause::Blacklisted { reason, by } => {
                let evidence = Evidence {
                    reason: Reason::Blacklist,
                    failed_checks: json!([{"name": "blacklist", "reason": reason}]),
                    metrics: Some(
                        json!({"step": label, "share": rollout.share, "since": rollout.step_started_at}),
                    ),
                    deployment_id: Some(deployment.id),
                };
                let failure = format!("the candidate was blacklisted during its {label} step");
                (failure, by, Some(evidence))
            }
        };
        if !rollouts::end(&mut *conn, deployment.id, RolloutOutcome::Aborted).await? {
            return Ok(None);
        }
        production::advance(
            &mut *conn,
            deployment.id,
            deployment.status,
            DeploymentStatus::Failed,
            None,
            Some(&failure),
        )
        .await?;
        let mut quarantined = false;
        if let Some(evidence) = evidence {
            quarantined = self
                .quarantine_if_still(
                    conn,
                    deployment.experiment_id,
                    ExperimentStatus::Evaluated,
                    evidence,
                    actor,
                )
                .await?;
        }
        audit::append(
            &mut *conn,
            NewEvent {
                actor,
                action: AuditAction::RolloutAborted,
                subject: deployment.fingerprint.as_str(),
                details: &json!({"deployment_id": deployment.id, "version": deployment.version, "step": label, "reason": failure, "quarantined": quarantined}),
            },
        )
        .await?;
        production::notify_active(&mut *conn, deployment.id).await?;
        Ok(Some(Aborted {
            failure,
            quarantined,
        }))
    }

    /// Counts and logs an abort once it is committed.
    pub(crate) fn aborted(&self, deployment: &Deployment, aborted: &Aborted) {
        self.metrics
            .rollout_steps
            .with_label_values(&["failed"])
            .inc();
        self.metrics.rollout_share.set(0.0);
        if aborted.quarantined {
            self.metrics.quarantines.inc();
        }
        tracing::warn!(deployment = %deployment.id, failure = %aborted.failure, "rollout aborted");
    }
}
