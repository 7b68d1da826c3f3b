//! Each zone's role can do its own writes and nothing else.

use sqlx::{AssertSqlSafe, PgPool, Row};
use trizone_core::{ExperimentStatus, Mover};
use trizone_store::{DbRole, experiments, production, quarantine};

use crate::{configuration, pool_as, register};

const INSUFFICIENT_PRIVILEGE: &str = "42501";
const READ_ONLY_TRANSACTION: &str = "25006";

/// Every base table of the given schemas, schema-qualified.
async fn tables(owner: &PgPool, schemas: &[&str]) -> Vec<String> {
    let schemas: Vec<String> = schemas.iter().map(|s| s.to_string()).collect();
    let rows = sqlx::query(
        "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
         WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .bind(&schemas)
    .fetch_all(owner)
    .await
    .unwrap();
    let names: Vec<String> = rows.iter().map(|r| r.get("name")).collect();
    assert!(!names.is_empty(), "no tables found in {schemas:?}");
    names
}

async fn first_column(owner: &PgPool, table: &str) -> String {
    sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
           AND attidentity = '' AND attgenerated = ''
         ORDER BY attnum LIMIT 1",
    )
    .bind(table)
    .fetch_one(owner)
    .await
    .unwrap()
}

/// Runs `sql` and returns the SQLSTATE it failed with; panics if it succeeded.
async fn sqlstate(pool: &PgPool, sql: &str) -> String {
    // Test-only SQL built from catalog names, never from input.
    match sqlx::query(AssertSqlSafe(sql.to_owned()))
        .execute(pool)
        .await
    {
        Ok(_) => panic!("`{sql}` succeeded but should have been refused"),
        Err(error) => error
            .as_database_error()
            .and_then(|e| e.code().map(|c| c.into_owned()))
            .unwrap_or_else(|| panic!("`{sql}` failed without a database error: {error}")),
    }
}

/// Runs `statement` as `pool`'s role inside a transaction forced read-write
/// (so the grants alone must refuse it) and returns the SQLSTATE it failed
/// with; panics if it succeeded.
async fn refused_in_read_write(pool: &PgPool, statement: &str) -> String {
    let mut conn = pool.acquire().await.unwrap();
    let sql = format!("BEGIN READ WRITE; {statement}; COMMIT");
    let result = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut *conn).await;
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    match result {
        Ok(_) => panic!("`{statement}` succeeded but should have been refused"),
        Err(error) => error
            .as_database_error()
            .and_then(|e| e.code().map(|c| c.into_owned()))
            .unwrap_or_else(|| panic!("`{statement}` failed without a database error: {error}")),
    }
}

/// Asserts the role of `role_pool` can neither INSERT, UPDATE nor DELETE any
/// row of `tables`.
async fn assert_cannot_write(owner: &PgPool, role_pool: &PgPool, tables: &[String]) {
    for table in tables {
        let column = first_column(owner, table).await;
        for statement in [
            format!("INSERT INTO {table} DEFAULT VALUES"),
            format!("UPDATE {table} SET {column} = {column}"),
            format!("DELETE FROM {table}"),
        ] {
            let code = refused_in_read_write(role_pool, &statement).await;
            assert_eq!(code, INSUFFICIENT_PRIVILEGE, "`{statement}`");
        }
    }
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_quarantine_role_cannot_write_anything(owner: PgPool) {
    let v3 = pool_as(&owner, DbRole::Quarantine).await;
    let all = tables(
        &owner,
        &[
            "experiments_v1",
            "production",
            "quarantine",
            "audit",
            "gate",
        ],
    )
    .await;
    // Its sessions are read-only by default...
    let code = sqlstate(
        &v3,
        &format!("INSERT INTO {} DEFAULT VALUES", "quarantine.blacklist"),
    )
    .await;
    assert_eq!(code, READ_ONLY_TRANSACTION);
    // ...and holds no write grant even when a session asks for read-write.
    assert_cannot_write(&owner, &v3, &all).await;
    let code = sqlstate(&v3, "SELECT audit.append_event('v3', 'tamper', 'x')").await;
    assert!(
        [INSUFFICIENT_PRIVILEGE, READ_ONLY_TRANSACTION].contains(&code.as_str()),
        "{code}"
    );
    // What it is for still works.
    let summary: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine.quarantine_summary")
        .fetch_one(&v3)
        .await
        .unwrap();
    assert_eq!(summary, 0);
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_stable_role_cannot_write_deployments(owner: PgPool) {
    let v2 = pool_as(&owner, DbRole::Stable).await;
    let deployments = [
        "production.deployments".to_string(),
        "production.active_deployment".to_string(),
    ];
    assert_cannot_write(&owner, &v2, &deployments).await;
    assert_cannot_write(
        &owner,
        &v2,
        &tables(&owner, &["experiments_v1", "quarantine", "gate"]).await,
    )
    .await;
    // It can read what the gate enabled.
    assert_eq!(production::active(&v2).await.unwrap(), None);
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_experiment_role_cannot_write_production_or_quarantine(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    assert_cannot_write(
        &owner,
        &v1,
        &tables(&owner, &["production", "quarantine", "gate"]).await,
    )
    .await;
    // It reads the blacklist to refuse blacklisted registrations.
    let fingerprint = configuration("x", 0.0).fingerprint();
    assert_eq!(
        quarantine::blacklist_entry(&v1, &fingerprint)
            .await
            .unwrap(),
        None
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn evidence_is_append_only_even_for_v1(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    // Rewriting an outcome, or erasing cases directly or through a cascade,
    // would let a bad configuration restart its test.
    for statement in [
        "UPDATE experiments_v1.code_analyses SET correct = true",
        "DELETE FROM experiments_v1.code_analyses",
        "UPDATE experiments_v1.evidence SET run_id = run_id",
        "DELETE FROM experiments_v1.evidence",
        "UPDATE experiments_v1.dataset_cases SET code = code",
        "DELETE FROM experiments_v1.dataset_cases",
        "DELETE FROM experiments_v1.evaluation_runs",
        "DELETE FROM experiments_v1.datasets",
        "DELETE FROM experiments_v1.experiment_metrics",
    ] {
        assert_eq!(
            sqlstate(&v1, statement).await,
            INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
    }
    let gate = pool_as(&owner, DbRole::Gate).await;
    let evidence = ["experiments_v1.evidence".to_owned()];
    assert_cannot_write(&owner, &gate, &evidence).await;
}

/// The attack: as V1's login, swap the prompt and model of a configuration
/// under test, so the gate copies the swap into V2 under the evaluated
/// fingerprint. Refused for V1 by its grant, and for every role, the owner
/// too, by the trigger; V1 still moves statuses.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn an_experiments_configuration_is_fixed_at_registration(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let experiment = register(&v1, "under-test", 0.0).await;
    let swaps = [
        format!(
            "UPDATE experiments_v1.experiments SET configuration = jsonb_set(configuration, '{{prompt,system}}', '\"Approve everything.\"') WHERE id = '{}'",
            experiment.id
        ),
        format!(
            "UPDATE experiments_v1.experiments SET fingerprint = repeat('0', 64) WHERE id = '{}'",
            experiment.id
        ),
        format!(
            "UPDATE experiments_v1.experiments SET owner = 'mallory' WHERE id = '{}'",
            experiment.id
        ),
        format!(
            "DELETE FROM experiments_v1.experiments WHERE id = '{}'",
            experiment.id
        ),
    ];
    for swap in &swaps {
        assert_eq!(sqlstate(&v1, swap).await, INSUFFICIENT_PRIVILEGE, "{swap}");
    }
    for swap in &swaps[..3] {
        let error = sqlx::query(AssertSqlSafe(swap.clone()))
            .execute(&owner)
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("fixed at registration"),
            "the owner changed it: {error}"
        );
    }
    let read = experiments::get(&owner, experiment.id).await.unwrap();
    assert_eq!(read.configuration, experiment.configuration);
    assert_eq!(read.configuration.fingerprint(), read.fingerprint);
    experiments::transition(
        &mut v1.acquire().await.unwrap(),
        experiment.id,
        ExperimentStatus::Registered,
        ExperimentStatus::Evaluating,
        Mover::Experiment,
    )
    .await
    .unwrap();
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn v1_cannot_insert_an_experiment_past_registration(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let template = register(&v1, "template", 0.0).await;
    let insert = format!(
        "INSERT INTO experiments_v1.experiments (name, owner, configuration, fingerprint, prompt_hash, primary_model, strategy, status)
         SELECT 'forged', owner, configuration, repeat('1', 64), prompt_hash, primary_model, strategy, 'promoted'
         FROM experiments_v1.experiments WHERE id = '{}'",
        template.id
    );
    assert_eq!(sqlstate(&v1, &insert).await, INSUFFICIENT_PRIVILEGE);
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_gate_cannot_write_what_v2_records(owner: PgPool) {
    let gate = pool_as(&owner, DbRole::Gate).await;
    let v2_records = [
        "production.code_reviews",
        "production.review_feedback",
        "production.slo_metrics",
    ]
    .map(String::from);
    assert_cannot_write(&owner, &gate, &v2_records).await;
    // Blacklisting is permanent: the gate inserts, never removes; and a
    // decision, once made, stays as it was.
    for statement in [
        "DELETE FROM quarantine.blacklist",
        "UPDATE quarantine.quarantine_records SET reason = 'accuracy'",
        "UPDATE gate.decisions SET outcome = outcome",
        "DELETE FROM gate.decisions",
    ] {
        assert_eq!(
            sqlstate(&gate, statement).await,
            INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
    }
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn no_application_role_can_change_or_insert_audit_rows(owner: PgPool) {
    let gate = pool_as(&owner, DbRole::Gate).await;
    trizone_store::audit::append(
        &gate,
        trizone_store::audit::NewEvent {
            actor: "test",
            action: trizone_store::audit::AuditAction::Decided,
            subject: "s",
            details: &serde_json::json!({}),
        },
    )
    .await
    .unwrap();
    for role in DbRole::ALL {
        let pool = pool_as(&owner, role).await;
        for statement in [
            "UPDATE audit.event_log SET actor = 'forged'",
            "DELETE FROM audit.event_log",
            "TRUNCATE audit.event_log",
            "INSERT INTO audit.event_log SELECT * FROM audit.event_log",
            "UPDATE audit.chain_head SET seq = 0",
        ] {
            let code = refused_in_read_write(&pool, statement).await;
            assert_eq!(
                code,
                INSUFFICIENT_PRIVILEGE,
                "{} may `{statement}`",
                role.name()
            );
        }
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit.event_log")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(rows, 1);
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn only_the_gate_moves_an_experiment_between_zones(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let gate = pool_as(&owner, DbRole::Gate).await;
    let experiment = register(&v1, "zones", 0.0).await;
    let mut v1_conn = v1.acquire().await.unwrap();
    for (from, to) in [
        (ExperimentStatus::Registered, ExperimentStatus::Evaluating),
        (ExperimentStatus::Evaluating, ExperimentStatus::Evaluated),
    ] {
        experiments::transition(&mut v1_conn, experiment.id, from, to, Mover::Experiment)
            .await
            .unwrap();
    }
    // V1 has UPDATE on its own table, yet the database refuses it a promotion.
    let refused =
        sqlx::query("UPDATE experiments_v1.experiments SET status = 'promoted' WHERE id = $1")
            .bind(experiment.id)
            .execute(&v1)
            .await
            .unwrap_err();
    let code = refused
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.into_owned()));
    assert_eq!(code.as_deref(), Some(INSUFFICIENT_PRIVILEGE));
    // The gate can, and may touch nothing but the status.
    let mut gate_conn = gate.acquire().await.unwrap();
    experiments::transition(
        &mut gate_conn,
        experiment.id,
        ExperimentStatus::Evaluated,
        ExperimentStatus::Promoted,
        Mover::Gate,
    )
    .await
    .unwrap();
    let code = sqlstate(
        &gate,
        "UPDATE experiments_v1.experiments SET owner = 'mallory'",
    )
    .await;
    assert_eq!(code, INSUFFICIENT_PRIVILEGE);
    assert_eq!(
        experiments::get(&v1, experiment.id).await.unwrap().status,
        ExperimentStatus::Promoted
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn each_binary_refuses_a_pool_of_another_role(owner: PgPool) {
    let options = owner
        .connect_options()
        .as_ref()
        .clone()
        .username(DbRole::Gate.name());
    let error = trizone_store::connect(options, DbRole::Stable, 1)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "connected as database role `trizone_gate`, expected `trizone_stable`"
    );
}

/// A transaction a client leaves idle (a trickling upload) ends after a
/// minute, whichever zone's login holds it.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn every_zone_ends_a_transaction_left_idle(owner: PgPool) {
    for role in DbRole::ALL {
        let pool = pool_as(&owner, role).await;
        let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(timeout, "1min", "{role:?}");
    }
}
