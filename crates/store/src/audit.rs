//! The audit trail: appending through `audit.append_event`, and verifying
//! the hash chain by recomputing every hash independently of the database.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgExecutor};

use crate::StoreError;

pub use trizone_api::audit::{AuditEvent, ChainProblem, ChainReport};

/// What an audit event records. Each zone's login may append only its
/// own prefix (`experiment.` and `run.` for V1, `gate.` for the gate):
/// `audit.append_event` checks it, whatever a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    ExperimentRegistered,
    /// An admin's re-evaluation of a quarantined configuration, registered.
    ReevaluationRegistered,
    ExperimentWithdrawn,
    RunStarted,
    RunFinished,
    RunFailed,
    RunCancelled,
    Decided,
    /// A pass whose promotion the gate refused (blacklisted meanwhile).
    PromotionRefused,
    Promoted,
    Quarantined,
    Blacklisted,
    RolledBack,
    /// A candidate began to shadow or serve a canary share.
    RolloutStarted,
    /// A rollout step passed and the next began.
    RolloutAdvanced,
    RolloutPaused,
    RolloutResumed,
    /// A step failed, or an admin stopped the rollout.
    RolloutAborted,
    /// An admin promoted the candidate past its remaining steps.
    RolloutPromoted,
    /// An admin set the plan later rollouts follow.
    RolloutPlanSet,
}

impl AuditAction {
    /// The stored name. Events already in the log keep theirs, so the log
    /// is read back as text: it may hold names no current action has.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExperimentRegistered => "experiment.registered",
            Self::ReevaluationRegistered => "experiment.reevaluation_registered",
            Self::ExperimentWithdrawn => "experiment.withdrawn",
            Self::RunStarted => "run.started",
            Self::RunFinished => "run.finished",
            Self::RunFailed => "run.failed",
            Self::RunCancelled => "run.cancelled",
            Self::Decided => "gate.decided",
            Self::PromotionRefused => "gate.promotion_refused",
            Self::Promoted => "gate.promoted",
            Self::Quarantined => "gate.quarantined",
            Self::Blacklisted => "gate.blacklisted",
            Self::RolledBack => "gate.rolled_back",
            Self::RolloutStarted => "gate.rollout_started",
            Self::RolloutAdvanced => "gate.rollout_advanced",
            Self::RolloutPaused => "gate.rollout_paused",
            Self::RolloutResumed => "gate.rollout_resumed",
            Self::RolloutAborted => "gate.rollout_aborted",
            Self::RolloutPromoted => "gate.rollout_promoted",
            Self::RolloutPlanSet => "gate.rollout_plan_set",
        }
    }
}

/// Who did what the trail records, in its one format: `<role>:<key id>`
/// for a request (the key id is a prefix of the key's hash, never the
/// token), `gate:<replica>` and `worker:<replica>` for what a replica does
/// on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// A person or service, by role and principal (the name the operator
    /// bound the key to), never by anything derived from the token.
    Caller {
        role: &'static str,
        principal: &'a str,
    },
    /// The gate's schedule, sagas and SLO watch.
    Gate { replica: &'a str },
    /// A V1 worker running an evaluation.
    Worker { replica: &'a str },
}

impl std::fmt::Display for Actor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Caller { role, principal } => write!(f, "{role}:{principal}"),
            Self::Gate { replica } => write!(f, "gate:{replica}"),
            Self::Worker { replica } => write!(f, "worker:{replica}"),
        }
    }
}

/// An event to append. `subject` is what it is about (a fingerprint, an
/// experiment or deployment id); `actor` is who asked.
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    pub actor: &'a str,
    pub action: AuditAction,
    pub subject: &'a str,
    pub details: &'a serde_json::Value,
}

/// Appends one event inside the caller's transaction (so it commits or rolls
/// back with the change it records) and returns its sequence number.
pub async fn append(executor: impl PgExecutor<'_>, event: NewEvent<'_>) -> Result<i64, StoreError> {
    let seq = sqlx::query_scalar!(
        "SELECT audit.append_event($1, $2, $3, $4)",
        event.actor,
        event.action.as_str(),
        event.subject,
        event.details,
    )
    .fetch_one(executor)
    .await?;
    seq.ok_or(StoreError::Corrupt {
        column: "audit.append_event",
        value: "NULL".into(),
    })
}

/// Every event about `subject`, oldest first.
pub async fn events_for_subject(
    executor: impl PgExecutor<'_>,
    subject: &str,
) -> Result<Vec<AuditEvent>, StoreError> {
    let events = sqlx::query_as!(
        AuditEvent,
        r#"SELECT seq, occurred_at, db_role, actor, action, subject, details,
                  encode(hash, 'hex') AS "hash!"
           FROM audit.event_log WHERE subject = $1 ORDER BY seq"#,
        subject
    )
    .fetch_all(executor)
    .await?;
    Ok(events)
}

/// The point up to which an intact report verified the chain.
fn checkpoint_of(report: &ChainReport) -> Option<Checkpoint> {
    match report {
        ChainReport::Intact { events, head } => Some(Checkpoint {
            seq: *events,
            hash: hex::decode(head).ok()?,
        }),
        ChainReport::Broken { .. } => None,
    }
}

/// A prefix of the chain known to be intact: its last event and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: Vec<u8>,
}

impl Checkpoint {
    /// Before the first event.
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: vec![0u8; 32],
        }
    }
}

/// Walks the whole chain in one consistent snapshot, recomputing each hash
/// from the row's fields, and reports the first bad row.
pub async fn verify(conn: &mut PgConnection) -> Result<ChainReport, StoreError> {
    verify_after(conn, &Checkpoint::genesis()).await
}

/// Walks the chain after `from`, taking the rows up to it as intact, in one
/// consistent snapshot: the cost of the events since, not of the history.
pub async fn verify_after(
    conn: &mut PgConnection,
    from: &Checkpoint,
) -> Result<ChainReport, StoreError> {
    let mut tx = conn.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let head = sqlx::query!("SELECT seq, hash FROM audit.chain_head WHERE singleton")
        .fetch_one(&mut *tx)
        .await?;

    let mut rows = sqlx::query!(
        r#"SELECT seq, occurred_at, db_role, actor, action, subject,
                  details::text AS "details!", prev_hash, hash
           FROM audit.event_log WHERE seq > $1 ORDER BY seq"#,
        from.seq
    )
    .fetch(&mut *tx);
    let mut previous = from.hash.clone();
    let mut expected_seq = from.seq + 1;
    while let Some(row) = rows.try_next().await? {
        if row.seq != expected_seq {
            return Ok(ChainReport::Broken {
                seq: row.seq,
                problem: ChainProblem::Gap { expected_seq },
            });
        }
        if row.prev_hash != previous {
            return Ok(ChainReport::Broken {
                seq: row.seq,
                problem: ChainProblem::BrokenLink,
            });
        }
        let recomputed = row_hash(
            &previous,
            &CanonicalRow {
                seq: row.seq,
                occurred_at: row.occurred_at,
                db_role: &row.db_role,
                actor: &row.actor,
                action: &row.action,
                subject: &row.subject,
                details: &row.details,
            },
        );
        if recomputed != row.hash {
            return Ok(ChainReport::Broken {
                seq: row.seq,
                problem: ChainProblem::HashMismatch,
            });
        }
        previous = row.hash;
        expected_seq += 1;
    }
    drop(rows);
    tx.rollback().await?;

    let last_seq = expected_seq - 1;
    if head.seq != last_seq || head.hash != previous {
        return Ok(ChainReport::Broken {
            seq: last_seq + 1,
            problem: ChainProblem::TruncatedTail { head_seq: head.seq },
        });
    }
    Ok(ChainReport::Intact {
        events: last_seq,
        head: hex::encode(previous),
    })
}

/// Checks `subject`'s own events where they stand: each hashes to its
/// stored hash from its stored link, and links to the rows either side.
/// `None` when they all hold; the first bad row otherwise.
pub async fn verify_subject(
    executor: impl PgExecutor<'_>,
    subject: &str,
) -> Result<Option<ChainReport>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT e.seq, e.occurred_at, e.db_role, e.actor, e.action, e.subject,
                  e.details::text AS "details!", e.prev_hash, e.hash,
                  p.hash AS "before?", n.prev_hash AS "after?",
                  (SELECT seq FROM audit.chain_head WHERE singleton) AS "head_seq!"
           FROM audit.event_log e
           LEFT JOIN audit.event_log p ON p.seq = e.seq - 1
           LEFT JOIN audit.event_log n ON n.seq = e.seq + 1
           WHERE e.subject = $1 ORDER BY e.seq"#,
        subject
    )
    .fetch_all(executor)
    .await?;
    let genesis = Checkpoint::genesis().hash;
    for row in rows {
        let before = if row.seq == 1 {
            Some(genesis.clone())
        } else {
            row.before
        };
        match before {
            None => {
                return Ok(Some(ChainReport::Broken {
                    seq: row.seq,
                    problem: ChainProblem::Gap {
                        expected_seq: row.seq - 1,
                    },
                }));
            }
            Some(before) if before != row.prev_hash => {
                return Ok(Some(ChainReport::Broken {
                    seq: row.seq,
                    problem: ChainProblem::BrokenLink,
                }));
            }
            Some(_) => {}
        }
        let recomputed = row_hash(
            &row.prev_hash,
            &CanonicalRow {
                seq: row.seq,
                occurred_at: row.occurred_at,
                db_role: &row.db_role,
                actor: &row.actor,
                action: &row.action,
                subject: &row.subject,
                details: &row.details,
            },
        );
        if recomputed != row.hash {
            return Ok(Some(ChainReport::Broken {
                seq: row.seq,
                problem: ChainProblem::HashMismatch,
            }));
        }
        match row.after {
            Some(after) if after != row.hash => {
                return Ok(Some(ChainReport::Broken {
                    seq: row.seq + 1,
                    problem: ChainProblem::BrokenLink,
                }));
            }
            None if row.seq < row.head_seq => {
                return Ok(Some(ChainReport::Broken {
                    seq: row.seq + 1,
                    problem: ChainProblem::Gap {
                        expected_seq: row.seq + 1,
                    },
                }));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Verifies the chain for a reader that asks often (V3, on every record):
/// the whole chain once, then only the events appended since, plus the
/// asked-about subject's own events every time, so a read costs the
/// events since the last one and not the whole history.
///
/// What it cannot see between full walks: a row rewritten behind the
/// trigger, with every hash after it recomputed and the head moved. That
/// takes the owner's login; `trizone audit verify` walks it all.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    verified: tokio::sync::Mutex<Option<Checkpoint>>,
}

impl ChainVerifier {
    pub async fn verify(
        &self,
        conn: &mut PgConnection,
        subject: &str,
    ) -> Result<ChainReport, StoreError> {
        // Held while verifying, so concurrent readers walk new events once.
        let mut verified = self.verified.lock().await;
        let from = verified.clone().unwrap_or_else(Checkpoint::genesis);
        let report = verify_after(conn, &from).await?;
        let Some(checkpoint) = checkpoint_of(&report) else {
            // A broken chain is looked at again from the start next time.
            *verified = None;
            return Ok(report);
        };
        *verified = Some(checkpoint);
        drop(verified);
        Ok(verify_subject(&mut *conn, subject).await?.unwrap_or(report))
    }
}

fn row_hash(previous: &[u8], row: &CanonicalRow<'_>) -> Vec<u8> {
    Sha256::new()
        .chain_update(previous)
        .chain_update(canonical_row(row).as_bytes())
        .finalize()
        .to_vec()
}

struct CanonicalRow<'a> {
    seq: i64,
    occurred_at: DateTime<Utc>,
    db_role: &'a str,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    details: &'a str,
}

/// The same encoding as `audit.canonical_row` in the migration: each field
/// as a netstring, `<byte length>:<text>,`.
fn canonical_row(row: &CanonicalRow<'_>) -> String {
    let fields = [
        &row.seq.to_string(),
        &row.occurred_at.timestamp_micros().to_string(),
        row.db_role,
        row.actor,
        row.action,
        row.subject,
        row.details,
    ];
    let mut out = String::new();
    for field in fields {
        out.push_str(&field.len().to_string());
        out.push(':');
        out.push_str(field);
        out.push(',');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netstrings_count_bytes_not_characters() {
        let row = CanonicalRow {
            seq: 7,
            occurred_at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            db_role: "trizone_gate",
            actor: "ané",
            action: "promote",
            subject: "x",
            details: "{}",
        };
        assert_eq!(
            canonical_row(&row),
            "1:7,16:1700000000123456,12:trizone_gate,4:ané,7:promote,1:x,2:{},"
        );
    }
}
