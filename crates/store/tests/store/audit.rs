//! The audit hash chain: appends from every writing zone, concurrent
//! writers, and tampering detected at the first bad row.

use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool};
use trizone_store::DbRole;
use trizone_store::audit::{self, AuditAction, ChainProblem, ChainReport, NewEvent};

use crate::pool_as;

async fn append(pool: &PgPool, action: AuditAction, subject: &str) -> i64 {
    audit::append(
        pool,
        NewEvent {
            actor: "tester",
            action,
            subject,
            details: &json!({"n": 1, "note": "é"}),
        },
    )
    .await
    .unwrap()
}

async fn verify(pool: &PgPool) -> ChainReport {
    audit::verify(&mut pool.acquire().await.unwrap())
        .await
        .unwrap()
}

/// Changes a row as the owner would have to: past the append-only trigger.
async fn tamper(owner: &PgPool, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(format!(
        "ALTER TABLE audit.event_log DISABLE TRIGGER USER; {sql}; ALTER TABLE audit.event_log ENABLE TRIGGER USER;"
    )))
    .execute(owner)
    .await
    .unwrap();
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn an_empty_chain_is_intact(owner: PgPool) {
    assert!(matches!(
        verify(&owner).await,
        ChainReport::Intact { events: 0, .. }
    ));
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn events_from_every_writing_zone_chain_and_record_their_role(owner: PgPool) {
    for (i, (role, action)) in [
        (DbRole::Experiment, AuditAction::ExperimentRegistered),
        (DbRole::Gate, AuditAction::Decided),
    ]
    .into_iter()
    .enumerate()
    {
        let pool = pool_as(&owner, role).await;
        assert_eq!(append(&pool, action, "fp-1").await, i as i64 + 1);
    }
    let ChainReport::Intact { events, head } = verify(&owner).await else {
        panic!("chain broken")
    };
    assert_eq!(events, 2);
    assert_eq!(head.len(), 64);
    let events = audit::events_for_subject(&owner, "fp-1").await.unwrap();
    let roles: Vec<_> = events.iter().map(|e| e.db_role.as_str()).collect();
    assert_eq!(roles, ["trizone_experiment", "trizone_gate"]);
    assert_eq!(events[0].details, json!({"n": 1, "note": "é"}));
}

/// V2 wrote an `experiment.withdrawn` event before: each role now appends
/// only its own zone's actions, and V2 and V3 none.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn each_role_appends_only_its_own_zones_actions(owner: PgPool) {
    for (role, action) in [
        (DbRole::Experiment, AuditAction::Promoted),
        (DbRole::Gate, AuditAction::ExperimentWithdrawn),
        (DbRole::Stable, AuditAction::ExperimentWithdrawn),
        (DbRole::Quarantine, AuditAction::Quarantined),
    ] {
        let pool = pool_as(&owner, role).await;
        let error = audit::append(
            &pool,
            NewEvent {
                actor: "intruder",
                action,
                subject: "fp-1",
                details: &json!({}),
            },
        )
        .await
        .unwrap_err();
        assert!(
            error.to_string().contains("permission denied")
                || error.to_string().contains("may not append"),
            "{role:?} appended {action:?}: {error}"
        );
    }
    assert!(matches!(
        verify(&owner).await,
        ChainReport::Intact { events: 0, .. }
    ));
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn eight_concurrent_writers_leave_a_valid_chain(owner: PgPool) {
    const WRITERS: usize = 8;
    const EACH: usize = 25;
    let roles = [
        (DbRole::Experiment, AuditAction::RunStarted),
        (DbRole::Gate, AuditAction::Decided),
    ];
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (role, action) = roles[writer % roles.len()];
        let pool = pool_as(&owner, role).await;
        tasks.spawn(async move {
            for i in 0..EACH {
                // Half the events commit alone, half inside a longer transaction.
                if i % 2 == 0 {
                    append(&pool, action, &format!("writer-{writer}")).await;
                } else {
                    let mut tx = pool.begin().await.unwrap();
                    audit::append(
                        &mut *tx,
                        NewEvent {
                            actor: "tx",
                            action,
                            subject: &format!("writer-{writer}"),
                            details: &json!({"i": i}),
                        },
                    )
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    assert_eq!(
        verify(&owner).await,
        match verify(&owner).await {
            report @ ChainReport::Intact { events, .. } if events == (WRITERS * EACH) as i64 =>
                report,
            other => panic!(
                "expected an intact chain of {} events, got {other:?}",
                WRITERS * EACH
            ),
        }
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_rolled_back_append_leaves_no_gap(owner: PgPool) {
    let gate = pool_as(&owner, DbRole::Gate).await;
    append(&gate, AuditAction::Decided, "s").await;
    let mut tx = gate.begin().await.unwrap();
    audit::append(
        &mut *tx,
        NewEvent {
            actor: "t",
            action: AuditAction::Decided,
            subject: "s",
            details: &json!({}),
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(append(&gate, AuditAction::Decided, "s").await, 2);
    assert!(matches!(
        verify(&owner).await,
        ChainReport::Intact { events: 2, .. }
    ));
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn an_altered_row_is_named_as_the_first_bad_one(owner: PgPool) {
    for i in 0..5 {
        append(&owner, AuditAction::Decided, &format!("s{i}")).await;
    }
    tamper(
        &owner,
        "UPDATE audit.event_log SET details = '{\"n\": 2}' WHERE seq = 3",
    )
    .await;
    assert_eq!(
        verify(&owner).await,
        ChainReport::Broken {
            seq: 3,
            problem: ChainProblem::HashMismatch
        }
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn deleted_rows_are_detected_in_the_middle_and_at_the_tail(owner: PgPool) {
    for i in 0..5 {
        append(&owner, AuditAction::Decided, &format!("s{i}")).await;
    }
    tamper(&owner, "DELETE FROM audit.event_log WHERE seq = 5").await;
    assert_eq!(
        verify(&owner).await,
        ChainReport::Broken {
            seq: 5,
            problem: ChainProblem::TruncatedTail { head_seq: 5 }
        }
    );
    tamper(&owner, "DELETE FROM audit.event_log WHERE seq = 2").await;
    assert_eq!(
        verify(&owner).await,
        ChainReport::Broken {
            seq: 3,
            problem: ChainProblem::Gap { expected_seq: 2 }
        }
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_stale_snapshot_cannot_fork_the_chain(owner: PgPool) {
    let gate = pool_as(&owner, DbRole::Gate).await;
    append(&gate, AuditAction::Decided, "s").await;
    // A REPEATABLE READ transaction takes its snapshot before another append.
    let mut stale = gate.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *stale)
        .await
        .unwrap();
    sqlx::query("SELECT count(*) FROM audit.event_log")
        .execute(&mut *stale)
        .await
        .unwrap();
    append(&gate, AuditAction::Decided, "s").await;
    let error = audit::append(
        &mut *stale,
        NewEvent {
            actor: "t",
            action: AuditAction::Decided,
            subject: "s",
            details: &json!({}),
        },
    )
    .await
    .unwrap_err();
    assert!(
        error.is_transient(),
        "expected a serialization failure, got {error:?}"
    );
    drop(stale);
    assert!(matches!(
        verify(&owner).await,
        ChainReport::Intact { events: 2, .. }
    ));
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_verifier_walks_only_new_events_and_rechecks_the_subjects_own(owner: PgPool) {
    for i in 0..6 {
        append(
            &owner,
            AuditAction::Decided,
            if i % 2 == 0 { "fp-a" } else { "fp-b" },
        )
        .await;
    }
    let verifier = audit::ChainVerifier::default();
    let mut conn = owner.acquire().await.unwrap();
    let first = verifier.verify(&mut conn, "fp-a").await.unwrap();
    assert_eq!(first, verify(&owner).await);
    assert!(matches!(first, ChainReport::Intact { events: 6, .. }));
    append(&owner, AuditAction::Decided, "fp-b").await;
    let second = verifier.verify(&mut conn, "fp-a").await.unwrap();
    assert!(
        matches!(second, ChainReport::Intact { events: 7, .. }),
        "{second:?}"
    );

    // An already verified event of fp-a altered: reading fp-a sees it at
    // once, without walking the whole chain again.
    tamper(
        &owner,
        "UPDATE audit.event_log SET details = '{\"n\": 2}' WHERE seq = 3",
    )
    .await;
    assert_eq!(
        verifier.verify(&mut conn, "fp-a").await.unwrap(),
        ChainReport::Broken {
            seq: 3,
            problem: ChainProblem::HashMismatch
        }
    );
    // An event appended since is walked, whatever its subject.
    append(&owner, AuditAction::Decided, "fp-c").await;
    tamper(
        &owner,
        "UPDATE audit.event_log SET actor = 'someone else' WHERE seq = 8",
    )
    .await;
    assert_eq!(
        verifier.verify(&mut conn, "fp-b").await.unwrap(),
        ChainReport::Broken {
            seq: 8,
            problem: ChainProblem::HashMismatch
        }
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_subjects_event_relinked_or_with_a_neighbour_deleted_is_named(owner: PgPool) {
    for subject in ["x", "fp", "y", "fp", "z"] {
        append(&owner, AuditAction::Decided, subject).await;
    }
    let verifier = audit::ChainVerifier::default();
    let mut conn = owner.acquire().await.unwrap();
    assert!(matches!(
        verifier.verify(&mut conn, "fp").await.unwrap(),
        ChainReport::Intact { events: 5, .. }
    ));
    tamper(&owner, "DELETE FROM audit.event_log WHERE seq = 3").await;
    assert_eq!(
        audit::verify_subject(&owner, "fp").await.unwrap(),
        Some(ChainReport::Broken {
            seq: 3,
            problem: ChainProblem::Gap { expected_seq: 3 }
        })
    );
    assert_eq!(audit::verify_subject(&owner, "x").await.unwrap(), None);
}
