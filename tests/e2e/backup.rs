//! A backup restores: the platform's database dumped with `pg_dump`, as the
//! backup CronJob (k8s/migrate/backup.yaml) dumps it, then restored with
//! `pg_restore` into a fresh database, verifies its audit chain and runs
//! every zone, V2 serving what it served before.

use serde_json::json;
use sqlx::PgPool;

use crate::cli::database_url;
use crate::lifecycle::{Api, DATASET};
use crate::up::{Shape, Up};

async fn run(program: &str, args: &[&str]) {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program} (PostgreSQL's client tools): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[sqlx::test(migrations = false)]
async fn a_dump_restores_into_a_fresh_database_that_verifies_and_runs_every_zone(pool: PgPool) {
    let source = database_url(&pool).await;
    let up = Up::start(&source, Shape::on_request()).await;
    let api = Api {
        up: &up,
        http: reqwest::Client::new(),
    };
    api.teach_simulator(DATASET).await;
    api.simulate("backup-model", json!({"accuracy": 1.0})).await;
    let dataset = api.upload("backup", DATASET.to_owned()).await;
    let (experiment, decision) = api
        .evaluate(&api.configuration("backed-up", "backup-model"), &dataset, 0)
        .await;
    assert_eq!(decision["outcome"], "promoting", "{decision}");
    let fingerprint = experiment["fingerprint"].as_str().unwrap().to_owned();
    api.await_served(&fingerprint).await;
    up.stop().await;

    let dump = std::env::temp_dir().join(format!("trizone-backup-{}.dump", uuid::Uuid::new_v4()));
    let dump = dump.to_str().unwrap();
    run("pg_dump", &["--format=custom", "--file", dump, &source]).await;
    let restored_name = format!("trizone_restored_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {restored_name}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let mut restored = url::Url::parse(&source).unwrap();
    restored.set_path(&restored_name);
    let restored = restored.to_string();
    run(
        "pg_restore",
        &["--exit-on-error", "--dbname", &restored, dump],
    )
    .await;

    // The chain verifies on the restored copy, event for event.
    let verified = tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
        .args(["audit", "verify", "--json", "--database-url", &restored])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    assert!(verified.status.success(), "{verified:?}");
    let report: serde_json::Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(report["status"], "intact", "{report}");
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM audit.event_log")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(report["events"], events);

    // Every zone starts on it (up migrates first: a no-op on a restored
    // copy), and V2 serves what it served before the backup.
    let again = Up::start(&restored, Shape::on_request()).await;
    let api = Api {
        up: &again,
        http: reqwest::Client::new(),
    };
    api.await_served(&fingerprint).await;
    again.stop().await;
    std::fs::remove_file(dump).unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {restored_name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
}
