//! Quarantine (→ V3) in the caller's transaction: the record with every
//! failed check, the metrics at failure and the impact analysis; the
//! experiment's move; the audit row; and, at the configured count, the
//! permanent blacklist.

use serde_json::{Value, json};
use sqlx::PgConnection;
use trizone_core::{ExperimentStatus, Mover};
use trizone_store::audit::{self, AuditAction, NewEvent};
use trizone_store::experiments::{self, Experiment};
use trizone_store::quarantine::{self, NewRecord, Reason};
use uuid::Uuid;

use crate::Gate;
use crate::error::GateError;

/// Why and with what evidence a configuration goes to V3.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub reason: Reason,
    /// Each failed check (value vs threshold), or the smoke cases, or the
    /// SLO windows.
    pub failed_checks: Value,
    pub metrics: Option<Value>,
    pub deployment_id: Option<Uuid>,
}

/// Where a quarantine left the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quarantined {
    pub record_id: Uuid,
    /// True when this quarantine reached the blacklist count.
    pub blacklisted: bool,
}

impl Gate {
    /// Quarantines the experiment `experiment_id` when it is still in
    /// `from`; false when V1 or another gate moved it meanwhile (what
    /// happened to the deployment stands either way). The caller commits,
    /// then counts it.
    pub(crate) async fn quarantine_if_still(
        &self,
        conn: &mut PgConnection,
        experiment_id: Uuid,
        from: ExperimentStatus,
        evidence: Evidence,
        actor: &str,
    ) -> Result<bool, GateError> {
        let experiment = experiments::get(&mut *conn, experiment_id).await?;
        if experiment.status != from {
            return Ok(false);
        }
        self.quarantine(conn, &experiment, from, evidence, actor)
            .await?;
        Ok(true)
    }

    /// Quarantines `experiment` (now in `from`) with `evidence`. The caller
    /// commits, then counts it in the metrics.
    pub(crate) async fn quarantine(
        &self,
        conn: &mut PgConnection,
        experiment: &Experiment,
        from: ExperimentStatus,
        evidence: Evidence,
        actor: &str,
    ) -> Result<Quarantined, GateError> {
        let fingerprint = &experiment.fingerprint;
        let impact = quarantine::impact(&mut *conn, experiment.id).await?;
        let earlier = quarantine::record_count(&mut *conn, fingerprint).await?;
        let already = quarantine::blacklist_entry(&mut *conn, fingerprint).await?;
        let times = earlier + 1;
        let blacklist = already.is_some() || times >= self.policy.max_quarantines;
        let impact = serde_json::to_value(&impact).unwrap_or(Value::Null);
        let record_id = quarantine::insert_record(
            &mut *conn,
            NewRecord {
                experiment_id: experiment.id,
                reason: evidence.reason,
                failed_checks: &evidence.failed_checks,
                metrics: evidence.metrics.as_ref(),
                impact: &impact,
                reevaluation_eligible: !blacklist,
                deployment_id: evidence.deployment_id,
                decided_by: actor,
            },
        )
        .await?;
        let details = json!({
            "experiment_id": experiment.id,
            "record_id": record_id,
            "reason": evidence.reason.as_str(),
            "times_quarantined": times,
            "deployment_id": evidence.deployment_id,
        });
        let to = (ExperimentStatus::Quarantined, AuditAction::Quarantined);
        move_experiment(conn, experiment, from, to, actor, &details).await?;
        if blacklist {
            let reason = match &already {
                Some(entry) => entry.reason.clone(),
                None => format!(
                    "quarantined {times} times (the limit is {})",
                    self.policy.max_quarantines
                ),
            };
            self.blacklist_in(
                conn,
                experiment,
                ExperimentStatus::Quarantined,
                &reason,
                Some(record_id),
                actor,
            )
            .await?;
        }
        Ok(Quarantined {
            record_id,
            blacklisted: blacklist,
        })
    }

    /// Blacklists the experiment's fingerprint (a no-op if it already is)
    /// and moves the experiment from `from` to blacklisted.
    pub(crate) async fn blacklist_in(
        &self,
        conn: &mut PgConnection,
        experiment: &Experiment,
        from: ExperimentStatus,
        reason: &str,
        record_id: Option<Uuid>,
        actor: &str,
    ) -> Result<(), GateError> {
        quarantine::add_to_blacklist(
            &mut *conn,
            &experiment.fingerprint,
            reason,
            record_id,
            actor,
        )
        .await?;
        let details =
            json!({"experiment_id": experiment.id, "reason": reason, "record_id": record_id});
        let to = (ExperimentStatus::Blacklisted, AuditAction::Blacklisted);
        move_experiment(conn, experiment, from, to, actor, &details).await
    }
}

/// Moves `experiment` from `from` to the status of `to`, with the audit
/// row of `to`'s action saying so.
async fn move_experiment(
    conn: &mut PgConnection,
    experiment: &Experiment,
    from: ExperimentStatus,
    (status, action): (ExperimentStatus, AuditAction),
    actor: &str,
    details: &Value,
) -> Result<(), GateError> {
    experiments::transition(&mut *conn, experiment.id, from, status, Mover::Gate).await?;
    audit::append(
        &mut *conn,
        NewEvent {
            actor,
            action,
            subject: experiment.fingerprint.as_str(),
            details,
        },
    )
    .await?;
    Ok(())
}
