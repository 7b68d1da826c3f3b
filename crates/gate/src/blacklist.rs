//! Blacklisting: permanent, by fingerprint, allowed before the fingerprint
//! was ever seen. If V2 serves that configuration it is rolled back first;
//! a rollout of it ends in the blacklist's own transaction, so from its
//! commit no V2 replica shadows it or sends it a canary share.

use serde_json::json;
use trizone_core::{ExperimentStatus, Fingerprint};
use trizone_store::audit::{self, AuditAction, NewEvent};
use trizone_store::quarantine::{self, BlacklistEntry, Reason};
use trizone_store::{StoreError, production, rollouts};

use crate::Gate;
use crate::abort::AbortCause;
use crate::error::GateError;
use crate::quarantine::Evidence;
use crate::rollback::RollbackReason;

impl Gate {
    /// Blacklists `fingerprint`; returns the entry and whether it is new.
    pub async fn blacklist(
        &self,
        fingerprint: &Fingerprint,
        reason: &str,
        actor: &str,
    ) -> Result<(BlacklistEntry, bool), GateError> {
        if let Some(entry) = quarantine::blacklist_entry(&self.db, fingerprint).await? {
            return Ok((entry, false));
        }
        if let Some(active) = production::active(&self.db).await?
            && active.fingerprint == fingerprint.as_str()
        {
            let evidence = Evidence {
                reason: Reason::Blacklist,
                failed_checks: json!([{"name": "blacklist", "reason": reason}]),
                metrics: None,
                deployment_id: Some(active.id),
            };
            match self
                .roll_back(RollbackReason::Blacklist, reason, Some(evidence), actor)
                .await
            {
                Ok(_) => {}
                Err(GateError::Refused { .. }) => {
                    return Err(GateError::Refused {
                        code: "only_deployment",
                        message: "this configuration is the only one V2 has ever served: promote \
                                  another before blacklisting it"
                            .into(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        let mut tx = self.db.begin().await?;
        // Waits for a saga pass in progress, so no rollout of this
        // configuration can begin between this look and the commit.
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", crate::saga::V2_LOCK)
            .execute(&mut *tx)
            .await?;
        quarantine::add_to_blacklist(&mut *tx, fingerprint, reason, None, actor).await?;
        let mut aborted = None;
        if let Some(rollout) = rollouts::current(&mut *tx).await? {
            let deployment = production::get(&mut *tx, rollout.deployment_id).await?;
            if deployment.fingerprint == fingerprint.as_str() {
                let cause = AbortCause::Blacklisted { reason, by: actor };
                aborted = self
                    .abort_in(&mut tx, &deployment, &rollout, cause)
                    .await?
                    .map(|aborted| (deployment, aborted));
            }
        }
        // Every experiment of this configuration that may still move goes
        // with it, including one V2 served before (still promoted); one
        // mid-run is blacklisted when its run is judged, and one mid-
        // promotion is no longer evaluated, so the saga abandons it.
        let movable = [
            ExperimentStatus::Registered,
            ExperimentStatus::Evaluated,
            ExperimentStatus::Promoted,
            ExperimentStatus::Quarantined,
        ];
        let mut moved = Vec::new();
        for status in movable {
            while let Some(experiment) =
                trizone_store::experiments::find_with_status(&mut *tx, fingerprint, status).await?
            {
                trizone_store::experiments::transition(
                    &mut tx,
                    experiment.id,
                    status,
                    ExperimentStatus::Blacklisted,
                    trizone_core::Mover::Gate,
                )
                .await?;
                moved.push(experiment.id);
            }
        }
        audit::append(
            &mut *tx,
            NewEvent {
                actor,
                action: AuditAction::Blacklisted,
                subject: fingerprint.as_str(),
                details: &json!({"reason": reason, "experiments": moved}),
            },
        )
        .await?;
        tx.commit().await?;
        if let Some((deployment, aborted)) = &aborted {
            self.aborted(deployment, aborted);
        }
        self.refresh_blacklist_size_soon();
        let entry = quarantine::blacklist_entry(&self.db, fingerprint)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                entity: "blacklist entry",
                id: fingerprint.to_string(),
            })?;
        tracing::warn!(%fingerprint, experiments = moved.len(), "blacklisted");
        Ok((entry, true))
    }
}
