//! The promotion saga, persisted in `production.deployments.status`:
//!
//! pending → (V2 healthy) → smoke_testing → (smoke passed) → smoke_passed
//! → [shadowing → canary, each step judged live: see `rollout`] →
//! enabled (`active`, in one transaction with the active pointer, the
//! experiment's promotion, the audit row and the `NOTIFY`).
//!
//! Every step is idempotent and starts from the stored status, so a gate
//! that dies anywhere finishes the promotion when it (or another replica)
//! starts again; a failed smoke test ends it as `failed` and quarantines
//! the configuration. One saga runs at a time across all gates, under a
//! session advisory lock, so two never interleave on V2.

use std::time::Instant;

use serde_json::json;
use sqlx::Connection;
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use trizone_api::SmokeReport;
use trizone_core::ExperimentStatus;
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::experiments;
use trizone_store::production::{self, Deployment, DeploymentStatus};
use trizone_store::quarantine::Reason;
use trizone_store::rollouts::{self, Rollout, RolloutOutcome};

use crate::Gate;
use crate::error::GateError;
#[cfg(feature = "faults")]
use crate::faults::Step;
use crate::quarantine::Evidence;

/// The advisory lock key every gate takes to run sagas and rollbacks
/// ("trizone" in ASCII, as a number).
pub const V2_LOCK: i64 = 0x0074_7269_7a6f_6e65;

impl Gate {
    /// Drives every promotion under way to its end, unless another gate is
    /// driving them now.
    pub async fn drive_sagas(&self) -> Result<(), GateError> {
        let mut conn = self.db.acquire().await?;
        let locked: bool =
            sqlx::query_scalar!("SELECT pg_try_advisory_lock($1) AS \"locked!\"", V2_LOCK)
                .fetch_one(&mut *conn)
                .await?;
        if !locked {
            return Ok(());
        }
        let result = self.drive_locked().await;
        release(conn).await;
        result
    }

    async fn drive_locked(&self) -> Result<(), GateError> {
        for deployment in production::in_flight(&self.db).await? {
            self.advance(deployment).await?;
        }
        Ok(())
    }

    async fn advance(&self, deployment: Deployment) -> Result<(), GateError> {
        let id = deployment.id;
        let mut status = deployment.status;
        if status == DeploymentStatus::Pending {
            let started = Instant::now();
            if let Err(error) = self.v2.check_ready().await {
                tracing::warn!(%error, deployment = %id, "V2 is not ready; the promotion waits");
                return Ok(());
            }
            #[cfg(feature = "faults")]
            self.faults.check(Step::HealthChecked)?;
            production::advance(
                &self.db,
                id,
                DeploymentStatus::Pending,
                DeploymentStatus::SmokeTesting,
                None,
                None,
            )
            .await?;
            self.observe("health", started);
            #[cfg(feature = "faults")]
            self.faults.check(Step::SmokeStarted)?;
            status = DeploymentStatus::SmokeTesting;
        }
        if status == DeploymentStatus::SmokeTesting {
            let started = Instant::now();
            let report = self.v2.smoke(id).await?;
            self.observe("smoke", started);
            let result = serde_json::to_value(&report).map_err(|source| GateError::Encode {
                what: "the smoke report",
                source,
            })?;
            if !report.passed {
                return self.smoke_failed(&deployment, &report, result).await;
            }
            production::advance(
                &self.db,
                id,
                DeploymentStatus::SmokeTesting,
                DeploymentStatus::SmokePassed,
                Some(&result),
                None,
            )
            .await?;
            #[cfg(feature = "faults")]
            self.faults.check(Step::SmokePassed)?;
            status = DeploymentStatus::SmokePassed;
        }
        if status == DeploymentStatus::SmokePassed {
            if let Some(cluster) = &self.cluster
                && let Err(error) = cluster.check_available().await
            {
                tracing::warn!(%error, deployment = %id, "V2 is short of replicas; enabling waits");
                return Ok(());
            }
            if self.begin_rollout(&deployment).await? {
                #[cfg(feature = "faults")]
                self.faults.check(Step::RolloutStarted)?;
                return Ok(());
            }
            let started = Instant::now();
            self.enable(&deployment, None).await?;
            self.observe("enable", started);
            #[cfg(feature = "faults")]
            self.faults.check(Step::Enabled)?;
        }
        if matches!(
            status,
            DeploymentStatus::Shadowing | DeploymentStatus::Canary
        ) {
            self.drive_rollout(&deployment).await?;
        }
        Ok(())
    }

    fn observe(&self, step: &str, started: Instant) {
        self.metrics
            .saga_step
            .with_label_values(&[step])
            .observe(started.elapsed().as_secs_f64());
    }

    /// One transaction: the active pointer moves (the previous deployment
    /// becomes the rollback target), the experiment is promoted, the
    /// rollout (if it came through one) ends, the audit row is written and
    /// V2 replicas are notified at commit.
    pub(crate) async fn enable(
        &self,
        deployment: &Deployment,
        rollout: Option<&Rollout>,
    ) -> Result<(), GateError> {
        let actor = Actor::Gate {
            replica: &self.replica,
        }
        .to_string();
        let mut tx = self.db.begin().await?;
        let experiment = experiments::get(&mut *tx, deployment.experiment_id).await?;
        if experiment.status != ExperimentStatus::Evaluated {
            // V1 started another run while the promotion was under way: the
            // verdict no longer describes what the experiment is.
            let reason = format!(
                "the experiment became {} during the promotion",
                experiment.status
            );
            production::advance(
                &mut *tx,
                deployment.id,
                deployment.status,
                DeploymentStatus::Failed,
                None,
                Some(&reason),
            )
            .await?;
            if rollout.is_some() {
                rollouts::end(&mut *tx, deployment.id, RolloutOutcome::Aborted).await?;
                production::notify_active(&mut *tx, deployment.id).await?;
            }
            tx.commit().await?;
            tracing::warn!(deployment = %deployment.id, %reason, "promotion abandoned");
            return Ok(());
        }
        let previous = production::active(&mut *tx).await?;
        let enabled = production::activate(&mut tx, deployment.id).await?;
        if rollout.is_some() {
            rollouts::end(&mut *tx, deployment.id, RolloutOutcome::Promoted).await?;
        }
        experiments::transition(
            &mut tx,
            experiment.id,
            ExperimentStatus::Evaluated,
            ExperimentStatus::Promoted,
            trizone_core::Mover::Gate,
        )
        .await?;
        audit::append(
            &mut *tx,
            NewEvent {
                actor: &actor,
                action: AuditAction::Promoted,
                subject: experiment.fingerprint.as_str(),
                details: &json!({
                    "experiment_id": experiment.id,
                    "deployment_id": enabled.id,
                    "version": enabled.version,
                    "previous_deployment_id": previous.as_ref().map(|d| d.id),
                    "rollout": rollout.map(|r| json!({"steps_passed": r.step + 1, "plan": r.plan})),
                }),
            },
        )
        .await?;
        production::notify_active(&mut *tx, enabled.id).await?;
        tx.commit().await?;
        self.enabled.send_replace(Some(crate::Enabled {
            version: enabled.version,
            committed_at: Instant::now(),
        }));
        self.metrics.promotions.inc();
        if rollout.is_some() {
            self.metrics.rollout_share.set(0.0);
        }
        tracing::info!(deployment = %enabled.id, version = enabled.version, "promoted to V2");
        let message = format!(
            "version {} ({}) of experiment {} now serves V2",
            enabled.version, enabled.fingerprint, experiment.id
        );
        self.after_transition(crate::kubernetes::Transition {
            reason: "Promoted",
            message: &message,
            warning: false,
        })
        .await;
        Ok(())
    }

    async fn smoke_failed(
        &self,
        deployment: &Deployment,
        report: &SmokeReport,
        result: serde_json::Value,
    ) -> Result<(), GateError> {
        let actor = Actor::Gate {
            replica: &self.replica,
        }
        .to_string();
        let mut tx = self.db.begin().await?;
        let failed_cases = report
            .failed_cases()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| GateError::Encode {
                what: "the smoke test's failed cases",
                source,
            })?;
        production::advance(
            &mut *tx,
            deployment.id,
            DeploymentStatus::SmokeTesting,
            DeploymentStatus::Failed,
            Some(&result),
            Some("the smoke test failed on V2"),
        )
        .await?;
        let evidence = Evidence {
            reason: Reason::SmokeTest,
            failed_checks: serde_json::Value::Array(failed_cases),
            metrics: None,
            deployment_id: Some(deployment.id),
        };
        let quarantined = self
            .quarantine_if_still(
                &mut tx,
                deployment.experiment_id,
                ExperimentStatus::Evaluated,
                evidence,
                &actor,
            )
            .await?;
        tx.commit().await?;
        if quarantined {
            self.metrics.quarantines.inc();
        }
        tracing::warn!(deployment = %deployment.id, "smoke test failed; configuration quarantined");
        Ok(())
    }
}

/// Gives the saga lock back; a connection that cannot is closed instead,
/// which releases it too.
pub(crate) async fn release(mut conn: PoolConnection<Postgres>) {
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(V2_LOCK)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        let _ = conn.detach().close().await;
    }
}
