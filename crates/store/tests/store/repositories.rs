//! Repositories, each used through the role of the zone that owns the write.

use sqlx::PgPool;
use trizone_core::{ExperimentStatus, Language, Mover};
use trizone_store::datasets::{self, NewCase};
use trizone_store::{DbRole, StoreError, experiments, production, quarantine};

use crate::{configuration, deploy_pending, pool_as, register};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn migrating_again_is_a_no_op(owner: PgPool) {
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&owner)
        .await
        .unwrap();
    trizone_store::migrate(&mut owner.acquire().await.unwrap())
        .await
        .unwrap();
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(
        (before, after),
        (trizone_store::MIGRATOR.iter().count() as i64, before)
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_database_that_applied_an_amended_migration_first_version_still_migrates(owner: PgPool) {
    // The first version of migration 15, as released.
    sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = decode($1, 'hex') WHERE version = 20261202000015",
    )
    .bind("eebadc609e6cec775ef2f9122a065af677556ada91c241afeae0ddb08f0c33578c3478d209afb646e1c55461970a9ffe")
    .execute(&owner)
    .await
    .unwrap();
    let mut conn = owner.acquire().await.unwrap();
    assert!(
        trizone_store::MIGRATOR.run(&mut *conn).await.is_err(),
        "sqlx refuses a changed migration"
    );
    trizone_store::migrate(&mut conn).await.unwrap();
    // Any other changed checksum is still refused.
    sqlx::query(
        "UPDATE _sqlx_migrations SET checksum = decode('00', 'hex') WHERE version = 20261202000015",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    assert!(trizone_store::migrate(&mut conn).await.is_err());
}

/// The values a column's CHECK constraint allows, in its order.
async fn allowed(owner: &PgPool, table: &str, column: &str) -> Vec<String> {
    let definition: String = sqlx::query_scalar(
        r"SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
         WHERE c.conrelid = $1::regclass AND c.contype = 'c'
           AND (pg_get_constraintdef(c.oid) LIKE '%(' || $2 || ' = ANY%'
                -- A list of one is rendered as a plain comparison.
                OR pg_get_constraintdef(c.oid) ~ ('^CHECK \(\(' || $2 || ' = ''[^'']*''::text\)\)$'))",
    )
    .bind(table)
    .bind(column)
    .fetch_one(owner)
    .await
    .unwrap();
    definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn each_status_enum_knows_exactly_what_its_column_allows(owner: PgPool) {
    use trizone_store::{gate, runs};
    fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|s| name(*s)).collect()
    }
    let columns = [
        (
            "production.deployments",
            "status",
            names(production::DeploymentStatus::ALL, |s| s.as_str()),
        ),
        (
            "experiments_v1.evaluation_runs",
            "status",
            names(runs::RunStatus::ALL, |s| s.as_str()),
        ),
        (
            "experiments_v1.evaluation_runs",
            "stop_reason",
            names(runs::StopReason::ALL, |s| s.as_str()),
        ),
        (
            "gate.decisions",
            "outcome",
            names(gate::Outcome::ALL, |s| s.as_str()),
        ),
        (
            "gate.decisions",
            "trigger",
            names(gate::Trigger::ALL, |s| s.as_str()),
        ),
        (
            "production.code_reviews",
            "outcome",
            names(trizone_api::states::ReviewOutcome::ALL, |s| s.as_str()),
        ),
        (
            "production.code_reviews",
            "language",
            names(Language::ALL, |s| s.as_str()),
        ),
        (
            "production.rollouts",
            "outcome",
            names(trizone_store::rollouts::RolloutOutcome::ALL, |s| s.as_str()),
        ),
        (
            "production.shadow_reviews",
            "outcome",
            names(trizone_api::states::ReviewOutcome::ALL, |s| s.as_str()),
        ),
        (
            "experiments_v1.dataset_cases",
            "language",
            names(Language::ALL, |s| s.as_str()),
        ),
        (
            "experiments_v1.code_analyses",
            "format_recovery",
            names(runs::FormatRecovery::ALL, |s| s.as_str()),
        ),
    ];
    for (table, column, values) in columns {
        assert_eq!(
            allowed(&owner, table, column).await,
            values,
            "{table}.{column}"
        );
    }
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_registered_configuration_reads_back_whole(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let experiment = register(&v1, "round-trip", 0.3).await;
    let read = experiments::get(&v1, experiment.id).await.unwrap();
    assert_eq!(read, experiment);
    assert_eq!(read.configuration, configuration("round-trip", 0.3));
    assert_eq!(
        read.fingerprint,
        configuration("round-trip", 0.3).fingerprint()
    );
    assert_eq!(read.status, ExperimentStatus::Registered);
    let found = experiments::find_live(&v1, &read.fingerprint)
        .await
        .unwrap();
    assert_eq!(found.map(|e| e.id), Some(experiment.id));
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn one_live_experiment_per_fingerprint(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let first = register(&v1, "same", 0.0).await;
    // A renamed copy is the same configuration.
    let config = configuration("renamed", 0.0);
    let duplicate = experiments::insert(
        &v1,
        experiments::NewExperiment {
            owner: "bob",
            description: "",
            configuration: &config,
            reevaluation_of: None,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&duplicate, StoreError::Conflict { constraint } if constraint == "experiments_live_fingerprint"),
        "{duplicate:?}"
    );
    // Once withdrawn, the fingerprint is free to register again.
    let mut conn = v1.acquire().await.unwrap();
    experiments::transition(
        &mut conn,
        first.id,
        ExperimentStatus::Registered,
        ExperimentStatus::Withdrawn,
        Mover::Experiment,
    )
    .await
    .unwrap();
    assert_ne!(register(&v1, "same", 0.0).await.id, first.id);
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_transition_from_a_stale_status_is_refused(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let experiment = register(&v1, "stale", 0.0).await;
    let mut conn = v1.acquire().await.unwrap();
    experiments::transition(
        &mut conn,
        experiment.id,
        ExperimentStatus::Registered,
        ExperimentStatus::Evaluating,
        Mover::Experiment,
    )
    .await
    .unwrap();
    let error = experiments::transition(
        &mut conn,
        experiment.id,
        ExperimentStatus::Registered,
        ExperimentStatus::Withdrawn,
        Mover::Experiment,
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("experiment {} is evaluating, not registered", experiment.id)
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn activation_moves_the_pointer_and_keeps_the_rollback_target(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let gate = pool_as(&owner, DbRole::Gate).await;
    let v2 = pool_as(&owner, DbRole::Stable).await;
    let mut deployed = Vec::new();
    for (name, temperature) in [("first", 0.0), ("second", 0.1)] {
        let deployment = deploy_pending(&v1, &gate, name, temperature).await;
        let mut tx = gate.begin().await.unwrap();
        production::activate(&mut tx, deployment.id).await.unwrap();
        tx.commit().await.unwrap();
        deployed.push(deployment);
    }
    let active = production::active(&v2).await.unwrap().unwrap();
    assert_eq!(active.id, deployed[1].id);
    assert_eq!(active.status, production::DeploymentStatus::Active);
    assert_eq!(active.previous_deployment_id, Some(deployed[0].id));
    assert!(active.version > deployed[0].version);
    assert_eq!(
        production::get(&v2, deployed[0].id).await.unwrap().status,
        production::DeploymentStatus::Superseded
    );
    // Activating the active deployment again changes nothing.
    let mut tx = gate.begin().await.unwrap();
    production::activate(&mut tx, deployed[1].id).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        production::active(&v2)
            .await
            .unwrap()
            .unwrap()
            .previous_deployment_id,
        Some(deployed[0].id)
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn blacklisting_is_permanent_and_keeps_the_first_reason(owner: PgPool) {
    let gate = pool_as(&owner, DbRole::Gate).await;
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let fingerprint = configuration("bad", 0.0).fingerprint();
    quarantine::add_to_blacklist(&gate, &fingerprint, "quarantined 3 times", None, "gate")
        .await
        .unwrap();
    quarantine::add_to_blacklist(&gate, &fingerprint, "again", None, "gate")
        .await
        .unwrap();
    let entry = quarantine::blacklist_entry(&v1, &fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.reason, "quarantined 3 times");
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_case_key_is_what_the_migration_backfills_older_cases_with(owner: PgPool) {
    // Keys of new cases come from trizone_core::case_key; migration 10
    // computed those of existing cases in SQL. Both must agree, or a case
    // uploaded before the upgrade would count again after it.
    let dataset = datasets::create(&owner, "keys", "", "alice").await.unwrap();
    let cases: Vec<NewCase> = [
        (Language::Python, "src/a.py", "x = 1\n"),
        (Language::Go, "naïve/ü.go", "// ½ × π\nfunc f() {}\n"),
        (Language::Shell, "", ""),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (language, path, code))| NewCase {
        case_id: format!("c{i}"),
        language,
        path: path.into(),
        code: code.into(),
        expected_findings: Vec::new(),
    })
    .collect();
    datasets::insert_cases(&owner, dataset, 0, &cases)
        .await
        .unwrap();
    let disagreeing: i64 = sqlx::query_scalar(
        r"SELECT count(*) FROM experiments_v1.dataset_cases
          WHERE dataset_id = $1
            AND case_key <> encode(sha256(convert_to(language || E'\x1f' || path || E'\x1f' || code, 'UTF8')), 'hex')",
    )
    .bind(dataset)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(disagreeing, 0);
    let stored = datasets::cases(&owner, dataset).await.unwrap();
    assert_eq!(
        stored[1].case_key,
        trizone_core::case_key("go", "naïve/ü.go", "// ½ × π\nfunc f() {}\n")
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_review_must_name_a_deployment_that_exists_and_stays(owner: PgPool) {
    let v1 = pool_as(&owner, DbRole::Experiment).await;
    let gate = pool_as(&owner, DbRole::Gate).await;
    let v2 = pool_as(&owner, DbRole::Stable).await;
    let deployment = deploy_pending(&v1, &gate, "reviewed", 0.0).await;
    let insert = |deployments: Vec<uuid::Uuid>| {
        sqlx::query(
            "INSERT INTO production.code_reviews
                 (deployment_id, fingerprint, language, code_bytes, code_sha256, outcome,
                  latency_ms, requested_by)
             SELECT d, 'f', 'python', 1, 'h', 'ok', 1, 'k' FROM UNNEST($1::uuid[]) d",
        )
        .bind(deployments)
        .execute(&v2)
    };
    insert(vec![deployment.id, deployment.id]).await.unwrap();
    // One review naming an unknown deployment refuses its whole batch.
    let unknown = uuid::Uuid::new_v4();
    let error = insert(vec![deployment.id, unknown]).await.unwrap_err();
    let refused = StoreError::from(error);
    assert!(
        matches!(&refused, StoreError::Constraint { constraint, .. }
            if constraint == "code_reviews_deployment_id_fkey"),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains(&unknown.to_string()),
        "{refused}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM production.code_reviews")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!(stored, 2);
    // Not even the owner can take a deployment from the reviews naming it.
    for statement in [
        "DELETE FROM production.deployments",
        "UPDATE production.deployments SET id = gen_random_uuid()",
        "TRUNCATE production.deployments CASCADE",
    ] {
        let error = sqlx::query(statement).execute(&owner).await.unwrap_err();
        assert!(
            error.to_string().contains("deployments are permanent"),
            "{statement}: {error}"
        );
    }
    // Moving a deployment through its states still works.
    let mut tx = gate.begin().await.unwrap();
    production::activate(&mut tx, deployment.id).await.unwrap();
    tx.commit().await.unwrap();
}
