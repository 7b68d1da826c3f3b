//! Progressive delivery, the saga's steps after the smoke test:
//!
//! smoke_passed → shadowing (a sample of live requests mirrored to the
//! candidate) → canary (each share of the plan in turn, sticky per API key)
//! → active; or, when a step fails on its own live data, → failed, with
//! the candidate quarantined for `shadow` or `canary` and V2 serving the
//! stable configuration alone again.
//!
//! The rollout lives in `production.rollouts`; every move is one
//! transaction with its audit row and the `NOTIFY` V2 follows, taken from
//! the stored step, so a gate that dies anywhere resumes where it was. A
//! first promotion (nothing active to compare with) and a disabled plan
//! go straight to `active`.

use serde_json::{Value, json};
use trizone_core::{Decision, RolloutPlan, Stage, StepEvidence, StepJudge, Verdict};
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::production::{self, Deployment, DeploymentStatus};
use trizone_store::quarantine;
use trizone_store::rollouts::{self, Rollout};
use trizone_store::slo;

use crate::Gate;
use crate::abort::AbortCause;
use crate::error::GateError;
#[cfg(feature = "faults")]
use crate::faults::Step;

pub use trizone_api::gate::{RolloutStage, RolloutView};

impl Gate {
    /// The plan rollouts start from: the admins' one, else the default
    /// steps, on when the operator turned progressive delivery on.
    pub async fn rollout_plan(&self) -> Result<RolloutPlan, GateError> {
        Ok(rollouts::plan(&self.db)
            .await?
            .unwrap_or_else(|| RolloutPlan {
                enabled: self.policy.progressive_delivery,
                ..RolloutPlan::default()
            }))
    }

    /// Starts `deployment`'s rollout (it passed its smoke test); false when
    /// it should be enabled at once instead.
    pub(crate) async fn begin_rollout(&self, deployment: &Deployment) -> Result<bool, GateError> {
        let plan = self.rollout_plan().await?;
        if !plan.enabled {
            return Ok(false);
        }
        let (status, share, sample) = match plan.stage(0) {
            Stage::Shadow { sample } => (DeploymentStatus::Shadowing, 0.0, sample),
            Stage::Canary { share, .. } => (DeploymentStatus::Canary, share, 0.0),
            Stage::Everyone => return Ok(false),
        };
        let mut tx = self.db.begin().await?;
        let Some(stable) = production::active(&mut *tx).await? else {
            return Ok(false);
        };
        let moved = production::advance(
            &mut *tx,
            deployment.id,
            DeploymentStatus::SmokePassed,
            status,
            None,
            None,
        )
        .await?;
        if !moved {
            return Ok(true);
        }
        rollouts::begin(&mut tx, deployment.id, stable.id, &plan, share, sample).await?;
        self.audit_rollout(
            &mut tx,
            AuditAction::RolloutStarted,
            deployment,
            json!({"stable_deployment_id": stable.id, "status": status, "share": share, "shadow_sample": sample, "plan": plan}),
        )
        .await?;
        production::notify_active(&mut *tx, deployment.id).await?;
        tx.commit().await?;
        self.metrics.rollout_share.set(share);
        tracing::info!(deployment = %deployment.id, %status, share, sample, "rollout started");
        Ok(true)
    }

    /// Judges the step `deployment` is at, and moves the rollout when the
    /// step is decided.
    pub(crate) async fn drive_rollout(&self, deployment: &Deployment) -> Result<(), GateError> {
        let Some(rollout) = rollouts::of(&self.db, deployment.id).await? else {
            tracing::warn!(deployment = %deployment.id, "in rollout without a rollout row");
            return Ok(());
        };
        if rollout.outcome.is_some() {
            return Ok(());
        }
        // The blacklist's own transaction aborts a rollout of what it
        // blacklists; this catches one blacklisted before that rule, paused
        // or not.
        let fingerprint =
            trizone_core::Fingerprint::parse(&deployment.fingerprint).map_err(|message| {
                trizone_store::StoreError::Corrupt {
                    column: "deployments.fingerprint",
                    value: message,
                }
            })?;
        if let Some(entry) = quarantine::blacklist_entry(&self.db, &fingerprint).await? {
            let cause = AbortCause::Blacklisted {
                reason: &entry.reason,
                by: &entry.blacklisted_by,
            };
            return self.abort(deployment, &rollout, cause).await;
        }
        if rollout.paused {
            return Ok(());
        }
        let (evidence, verdict) = self.judge_step(&rollout).await?;
        match verdict.decision {
            Decision::Pass => {
                self.next_stage(deployment, &rollout, &evidence, &verdict)
                    .await
            }
            Decision::Fail => {
                self.abort(
                    deployment,
                    &rollout,
                    AbortCause::Failed(&evidence, &verdict),
                )
                .await
            }
            Decision::Inconclusive => Ok(()),
        }
    }

    /// The current step's live evidence and the online judge's verdict.
    async fn judge_step(&self, rollout: &Rollout) -> Result<(StepEvidence, Verdict), GateError> {
        let bar = self.thresholds.max_p95_latency_ms;
        let since = rollout.step_started_at;
        let plan = &rollout.plan;
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let (evidence, agreement) = match rollout.stage() {
            Stage::Shadow { .. } => {
                let s =
                    rollouts::shadow_summary(&self.db, rollout.deployment_id, since, bar).await?;
                let evidence = StepEvidence {
                    requests: unsigned(s.requests),
                    errors: unsigned(s.errors),
                    slow: unsigned(s.slow),
                    compared: unsigned(s.compared),
                    agreed: unsigned(s.agreed),
                    stable_requests: unsigned(s.requests),
                    stable_errors: unsigned(s.stable_errors),
                };
                (evidence, Some(plan.min_agreement))
            }
            Stage::Canary { .. } | Stage::Everyone => {
                let candidate =
                    slo::counts_since(&self.db, rollout.deployment_id, since, bar).await?;
                let stable =
                    slo::counts_since(&self.db, rollout.stable_deployment_id, since, bar).await?;
                let evidence = StepEvidence {
                    requests: unsigned(candidate.requests),
                    errors: unsigned(candidate.errors),
                    slow: unsigned(candidate.slow),
                    compared: 0,
                    agreed: 0,
                    stable_requests: unsigned(stable.requests),
                    stable_errors: unsigned(stable.errors),
                };
                (evidence, None)
            }
        };
        let judge = StepJudge::new(&self.thresholds, plan.min_requests, agreement);
        let verdict = judge.verdict(&evidence);
        Ok((evidence, verdict))
    }

    /// The passed step's successor: the next canary share, or everyone.
    async fn next_stage(
        &self,
        deployment: &Deployment,
        rollout: &Rollout,
        evidence: &StepEvidence,
        verdict: &Verdict,
    ) -> Result<(), GateError> {
        let passed = rollout.passed() + 1;
        let Stage::Canary { share, step } = rollout.plan.stage(passed) else {
            self.metrics
                .rollout_steps
                .with_label_values(&["passed"])
                .inc();
            self.enable(deployment, Some(rollout)).await?;
            #[cfg(feature = "faults")]
            self.faults.check(Step::Enabled)?;
            return Ok(());
        };
        let mut tx = self.db.begin().await?;
        if deployment.status == DeploymentStatus::Shadowing {
            production::advance(
                &mut *tx,
                deployment.id,
                DeploymentStatus::Shadowing,
                DeploymentStatus::Canary,
                None,
                None,
            )
            .await?;
        }
        if !rollouts::next_step(&mut *tx, deployment.id, rollout.step, share, 0.0).await? {
            return Ok(());
        }
        self.audit_rollout(
            &mut tx,
            AuditAction::RolloutAdvanced,
            deployment,
            json!({"passed_step": rollout.step, "canary_step": step, "share": share, "evidence": evidence, "verdict": verdict}),
        )
        .await?;
        production::notify_active(&mut *tx, deployment.id).await?;
        tx.commit().await?;
        self.metrics
            .rollout_steps
            .with_label_values(&["passed"])
            .inc();
        self.metrics.rollout_share.set(share);
        tracing::info!(deployment = %deployment.id, share, "rollout step passed");
        #[cfg(feature = "faults")]
        self.faults.check(Step::StepPassed)?;
        Ok(())
    }

    async fn audit_rollout(
        &self,
        conn: &mut sqlx::PgConnection,
        action: AuditAction,
        deployment: &Deployment,
        details: Value,
    ) -> Result<(), GateError> {
        let actor = Actor::Gate {
            replica: &self.replica,
        }
        .to_string();
        let mut details = details;
        details["deployment_id"] = json!(deployment.id);
        details["version"] = json!(deployment.version);
        audit::append(
            &mut *conn,
            NewEvent {
                actor: &actor,
                action,
                subject: deployment.fingerprint.as_str(),
                details: &details,
            },
        )
        .await?;
        Ok(())
    }

    /// The rollout under way, with its live evidence.
    pub async fn rollout_view(&self) -> Result<Option<RolloutView>, GateError> {
        let Some(rollout) = rollouts::current(&self.db).await? else {
            return Ok(None);
        };
        let deployment = production::get(&self.db, rollout.deployment_id).await?;
        let (evidence, verdict) = self.judge_step(&rollout).await?;
        let stage = match rollout.stage() {
            Stage::Shadow { .. } => RolloutStage::Shadow,
            Stage::Canary { .. } => RolloutStage::Canary,
            Stage::Everyone => RolloutStage::Everyone,
        };
        Ok(Some(RolloutView {
            deployment_id: deployment.id,
            version: deployment.version,
            fingerprint: deployment.fingerprint,
            stable_deployment_id: rollout.stable_deployment_id,
            status: deployment.status,
            stage,
            step: rollout.step,
            share: rollout.share,
            shadow_sample: rollout.shadow_sample,
            paused: rollout.paused,
            step_started_at: rollout.step_started_at,
            plan: rollout.plan,
            evidence,
            verdict,
        }))
    }

    /// An admin's move on the rollout under way; 409 `no_rollout` without
    /// one. Promote and abort wait for a saga in progress, as rollbacks do.
    pub async fn rollout_action(
        &self,
        action: RolloutAction,
        actor: &str,
    ) -> Result<Option<RolloutView>, GateError> {
        let mut conn = self.db.acquire().await?;
        sqlx::query!("SELECT pg_advisory_lock($1)", crate::saga::V2_LOCK)
            .execute(&mut *conn)
            .await?;
        let result = self.apply(action, actor).await;
        crate::saga::release(conn).await;
        result?;
        self.rollout_view().await
    }

    async fn apply(&self, action: RolloutAction, actor: &str) -> Result<(), GateError> {
        let Some(rollout) = rollouts::current(&self.db).await? else {
            return Err(GateError::Refused {
                code: "no_rollout",
                message: format!("no rollout is in progress to {}", action.as_str()),
            });
        };
        let deployment = production::get(&self.db, rollout.deployment_id).await?;
        match action {
            RolloutAction::Pause | RolloutAction::Resume => {
                let pause = action == RolloutAction::Pause;
                let mut tx = self.db.begin().await?;
                if !rollouts::set_paused(&mut *tx, deployment.id, pause).await? {
                    return Err(GateError::Refused {
                        code: if pause {
                            "already_paused"
                        } else {
                            "not_paused"
                        },
                        message: format!(
                            "the rollout of version {} is {}",
                            deployment.version,
                            if pause {
                                "paused already"
                            } else {
                                "not paused"
                            }
                        ),
                    });
                }
                let details = json!({"deployment_id": deployment.id, "version": deployment.version, "step": rollout.step});
                audit::append(
                    &mut *tx,
                    NewEvent {
                        actor,
                        action: if pause {
                            AuditAction::RolloutPaused
                        } else {
                            AuditAction::RolloutResumed
                        },
                        subject: deployment.fingerprint.as_str(),
                        details: &details,
                    },
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
            RolloutAction::Promote => {
                audit::append(
                    &self.db,
                    NewEvent {
                        actor,
                        action: AuditAction::RolloutPromoted,
                        subject: deployment.fingerprint.as_str(),
                        details: &json!({"deployment_id": deployment.id, "version": deployment.version, "skipped_from_step": rollout.step}),
                    },
                )
                .await?;
                self.enable(&deployment, Some(&rollout)).await
            }
            RolloutAction::Abort => {
                self.abort(&deployment, &rollout, AbortCause::Admin(actor))
                    .await
            }
        }
    }

    /// Sets the plan later rollouts follow (the one under way keeps its own).
    pub async fn set_rollout_plan(&self, plan: &RolloutPlan, actor: &str) -> Result<(), GateError> {
        let mut tx = self.db.begin().await?;
        rollouts::set_plan(&mut *tx, plan, actor).await?;
        audit::append(
            &mut *tx,
            NewEvent {
                actor,
                action: AuditAction::RolloutPlanSet,
                subject: "rollout_plan",
                details: &json!({"plan": plan}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What an admin may do to a rollout in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    /// Stop judging; the traffic split stays as it is.
    Pause,
    Resume,
    /// Skip the remaining steps: the candidate serves everyone.
    Promote,
    /// Stop the rollout: the stable configuration serves everyone, and the
    /// candidate stays in V1.
    Abort,
}

impl RolloutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Promote => "promote",
            Self::Abort => "abort",
        }
    }
}
