//! `trizone migrate` and `trizone audit verify`, run as a user runs them.

use std::process::Output;

use sqlx::PgPool;
use trizone_store::audit::{self, AuditAction, NewEvent};

/// The URL of this test's database: the server of `DATABASE_URL`, the
/// database `#[sqlx::test]` created.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&name);
    url.to_string()
}

async fn trizone(url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[sqlx::test(migrations = false)]
async fn migrate_builds_the_schema_and_running_it_again_is_a_no_op(pool: PgPool) {
    let url = database_url(&pool).await;
    for _ in 0..2 {
        let output = trizone(&url, &["migrate"]).await;
        assert!(output.status.success(), "{output:?}");
        assert!(
            stdout(&output).starts_with("migrated database `_sqlx_test"),
            "{output:?}"
        );
    }
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname IN ('experiments_v1', 'production', 'quarantine', 'audit') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        schemas,
        ["audit", "experiments_v1", "production", "quarantine"]
    );
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn audit_verify_exits_0_on_an_intact_chain_and_1_naming_an_altered_row(pool: PgPool) {
    let url = database_url(&pool).await;
    for subject in ["a", "b", "c"] {
        audit::append(
            &pool,
            NewEvent {
                actor: "test",
                action: AuditAction::ExperimentRegistered,
                subject,
                details: &serde_json::json!({}),
            },
        )
        .await
        .unwrap();
    }
    let output = trizone(&url, &["audit", "verify"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output).starts_with("audit chain intact: 3 events, head "),
        "{output:?}"
    );

    sqlx::raw_sql(
        "ALTER TABLE audit.event_log DISABLE TRIGGER USER;
         UPDATE audit.event_log SET actor = 'someone-else' WHERE seq = 2;
         ALTER TABLE audit.event_log ENABLE TRIGGER USER;",
    )
    .execute(&pool)
    .await
    .unwrap();
    let output = trizone(&url, &["audit", "verify"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output).trim(),
        "audit chain broken at event 2: its content does not match its hash: the row was altered"
    );
    let output = trizone(&url, &["audit", "verify", "--json"]).await;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report,
        serde_json::json!({"status": "broken", "seq": 2, "problem": "hash_mismatch"})
    );
}

#[tokio::test]
async fn an_unreachable_database_is_a_clear_error_without_the_password() {
    let output = trizone(
        "postgres://trizone:hunter2@127.0.0.1:1/nowhere",
        &["audit", "verify"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to database `nowhere` on 127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[sqlx::test(migrations = false)]
async fn migrate_create_makes_a_missing_database_then_migrates_it(pool: PgPool) {
    let mut url = url::Url::parse(&database_url(&pool).await).unwrap();
    let name = format!("trizone_cli_create_{}", std::process::id());
    url.set_path(&name);
    let output = trizone(url.as_str(), &["migrate", "--create"]).await;
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.starts_with(&format!("created database `{name}`")),
        "{text}"
    );
    // Already there: nothing to create, still a success.
    let output = trizone(url.as_str(), &["migrate", "--create"]).await;
    assert!(
        output.status.success() && !stdout(&output).contains("created"),
        "{output:?}"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE \"{name}\" WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
}
