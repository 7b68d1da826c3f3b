//! Rolling V2 back to the previous deployment: on an admin's request, before
//! blacklisting the active configuration, and when the SLO watcher sees a
//! sustained breach in production.

use chrono::Utc;
use serde::Serialize;
use serde_json::json;
use trizone_core::ExperimentStatus;
use trizone_store::audit::{self, Actor, AuditAction, NewEvent};
use trizone_store::production::{self, Rollback, RolledBack};
use trizone_store::quarantine::Reason;
use trizone_store::slo::{self, WindowStats};

use crate::Gate;
use crate::error::GateError;
use crate::quarantine::Evidence;
use crate::saga::V2_LOCK;

/// Why V2 was rolled back (`gate_rollbacks_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RollbackReason {
    SloBreach,
    Blacklist,
    Manual,
}

impl RollbackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SloBreach => "slo_breach",
            Self::Blacklist => "blacklist",
            Self::Manual => "manual",
        }
    }
}

impl Gate {
    /// Moves V2 back to the newest earlier deployment whose configuration
    /// is not blacklisted, in one transaction with the audit row and the
    /// `NOTIFY`; with `evidence`, the regressed configuration is
    /// quarantined in the same transaction. `Refused` when V2 has nothing
    /// to go back to that may be served.
    pub async fn roll_back(
        &self,
        reason: RollbackReason,
        note: &str,
        evidence: Option<Evidence>,
        actor: &str,
    ) -> Result<RolledBack, GateError> {
        let mut tx = self.db.begin().await?;
        // Waits for a saga in progress: the two never interleave on V2.
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", V2_LOCK)
            .execute(&mut *tx)
            .await?;
        let rolled = match production::roll_back(&mut tx).await? {
            Rollback::Done(rolled) => *rolled,
            Rollback::NothingEarlier => {
                return Err(GateError::Refused {
                    code: "no_rollback_target",
                    message: "V2 has no previous deployment to roll back to".into(),
                });
            }
            Rollback::OnlyBlacklistedEarlier { skipped } => {
                return Err(GateError::Refused {
                    code: "no_rollback_target",
                    message: format!(
                        "every earlier deployment ({skipped}) serves a blacklisted configuration, \
                         and a blacklisted configuration is never served again: promote another"
                    ),
                });
            }
        };
        let quarantined = match evidence {
            Some(evidence) => {
                self.quarantine_if_still(
                    &mut tx,
                    rolled.from.experiment_id,
                    ExperimentStatus::Promoted,
                    evidence,
                    actor,
                )
                .await?
            }
            None => false,
        };
        audit::append(
            &mut *tx,
            NewEvent {
                actor,
                action: AuditAction::RolledBack,
                subject: rolled.from.fingerprint.as_str(),
                details: &json!({
                    "reason": reason.as_str(),
                    "note": note,
                    "from": {"deployment_id": rolled.from.id, "version": rolled.from.version},
                    "to": {"deployment_id": rolled.to.id, "version": rolled.to.version},
                    "skipped_blacklisted": rolled.skipped_blacklisted,
                    "quarantined": quarantined,
                }),
            },
        )
        .await?;
        production::notify_active(&mut *tx, rolled.to.id).await?;
        tx.commit().await?;
        self.metrics
            .rollbacks
            .with_label_values(&[reason.as_str()])
            .inc();
        if quarantined {
            self.metrics.quarantines.inc();
        }
        tracing::warn!(
            from = rolled.from.version,
            to = rolled.to.version,
            reason = reason.as_str(),
            "V2 rolled back"
        );
        let message = format!(
            "rolled back from version {} to {} ({}): {note}",
            rolled.from.version,
            rolled.to.version,
            reason.as_str()
        );
        self.after_transition(crate::kubernetes::Transition {
            reason: "RolledBack",
            message: &message,
            warning: true,
        })
        .await;
        Ok(rolled)
    }

    /// Reads the active deployment's SLO windows and, when the last
    /// `slo_windows` closed windows in a row each had enough requests and
    /// broke an objective, rolls back and quarantines the configuration
    /// with the windows as evidence. Returns whether it rolled back.
    pub async fn watch_slo(&self) -> Result<bool, GateError> {
        let Some(active) = production::active(&self.db).await? else {
            return Ok(false);
        };
        let since = active.activated_at.unwrap_or(active.created_at);
        let history = slo::history_since(&self.db, active.id, since).await?;
        let now = Utc::now();
        let closed: Vec<&WindowStats> = history
            .windows
            .iter()
            .filter(|w| {
                w.window_start + chrono::Duration::seconds(i64::from(w.window_seconds)) <= now
            })
            .collect();
        let needed = self.policy.slo_windows.max(1);
        if closed.len() < needed {
            return Ok(false);
        }
        let last = &closed[closed.len() - needed..];
        let consecutive = last.windows(2).all(|pair| {
            pair[1].window_start - pair[0].window_start
                == chrono::Duration::seconds(i64::from(pair[0].window_seconds))
        });
        let breaching = last.iter().all(|w| {
            w.requests >= self.policy.slo_min_requests
                && self
                    .policy
                    .slo
                    .breaches(w.requests, w.errors, w.latency_p95_ms)
                    .any()
        });
        if !(consecutive && breaching) {
            return Ok(false);
        }
        let evidence = Evidence {
            reason: Reason::SloBreach,
            failed_checks: json!([{
                "name": "slo",
                "reason": "SLO breach in production",
                "objectives": self.policy.slo,
                "windows": last,
            }]),
            metrics: None,
            deployment_id: Some(active.id),
        };
        let actor = Actor::Gate {
            replica: &self.replica,
        }
        .to_string();
        match self
            .roll_back(
                RollbackReason::SloBreach,
                "SLO breach in production",
                Some(evidence),
                &actor,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(GateError::Refused { message, .. }) => {
                tracing::error!(
                    version = active.version,
                    %message,
                    "V2 breaks its SLOs and cannot be rolled back"
                );
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}
