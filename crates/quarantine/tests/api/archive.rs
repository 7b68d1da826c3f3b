//! The archive: records with their evidence, read-only to the bone.

use serde_json::Value;
use sqlx::PgPool;

use crate::{ADMIN, END_USER, EXPERIMENTATION, EXPERIMENTER, GATE, Platform, SCRAPER, error_of};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_quarantined_configuration_is_archived_with_its_reasons_impact_and_audit_trail(
    owner: PgPool,
) {
    let platform = Platform::start(owner, None).await;
    let (experiment, record) = platform.quarantined(&platform.configuration(0.0)).await;
    let (sibling, _) = platform.quarantined(&platform.configuration(0.5)).await;

    let page: Value = platform
        .get(
            platform.v3,
            "/api/v3/records?reason=accuracy&model=sim-openai/gpt-sim&owner=alice",
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    let listed: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&record.to_string().as_str()));
    let none: Value = platform
        .get(platform.v3, "/api/v3/records?reason=latency", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["records"].as_array().unwrap().len(), 0);
    let later: Value = platform
        .get(
            platform.v3,
            "/api/v3/records?since=2999-01-01T00:00:00Z",
            ADMIN,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["records"].as_array().unwrap().len(), 0);

    let view: Value = platform
        .get(
            platform.v3,
            &format!("/api/v3/records/{record}"),
            EXPERIMENTATION,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["experiment_id"], experiment.to_string());
    assert_eq!(view["reason"], "accuracy");
    // V1's key reads one record, to re-evaluate it, and nothing else; the
    // gate's and the scraper's keys read no record at all.
    for path in [
        "/api/v3/records",
        "/api/v3/summary",
        "/api/v3/blacklist",
        "/metrics",
    ] {
        let refused = platform.get(platform.v3, path, EXPERIMENTATION).await;
        assert_eq!(refused.status(), 403, "{path}");
    }
    for token in [GATE, SCRAPER] {
        let refused = platform
            .get(platform.v3, &format!("/api/v3/records/{record}"), token)
            .await;
        assert_eq!(refused.status(), 403, "{token}");
    }
    assert_eq!(view["configuration"]["name"], "reviewer-gpt-sim-0");
    let check = &view["failed_checks"][0];
    assert_eq!(
        (
            check["name"].as_str(),
            check["value"].as_f64(),
            check["threshold"].as_f64()
        ),
        (Some("accuracy"), Some(0.8), Some(0.95))
    );
    assert_eq!(view["metrics"]["cases"], 300);
    // The first quarantine saw no relative yet; the sibling's record shows the first.
    assert_eq!(view["impact"]["related"].as_array().unwrap().len(), 0);
    assert_eq!(
        (
            view["reevaluation"]["eligible"].as_bool(),
            view["reevaluation"]["open"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let actions: Vec<&str> = view["audit"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["gate.quarantined", "gate.decided"]);
    assert_eq!(view["audit"]["chain"]["status"], "intact");
    let sibling_record: Value = platform
        .get(platform.v3, "/api/v3/records?limit=1", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    let sibling_view: Value = platform
        .get(
            platform.v3,
            &format!(
                "/api/v3/records/{}",
                sibling_record["records"][0]["id"].as_str().unwrap()
            ),
            ADMIN,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sibling_view["experiment_id"], sibling.to_string());
    let related = &sibling_view["impact"]["related"][0];
    assert_eq!(
        (
            related["experiment_id"].as_str(),
            related["status"].as_str()
        ),
        (Some(experiment.to_string().as_str()), Some("quarantined"))
    );

    let summary: Value = platform
        .get(platform.v3, "/api/v3/summary", ADMIN)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary[0]["reason"], "accuracy");
    assert_eq!(summary[0]["records"], 2);
    assert_eq!(summary[0]["configurations"], 2);

    platform
        .v3_state
        .metrics
        .refresh(&platform.v3_state.db)
        .await
        .unwrap();
    let metrics = platform
        .get(platform.v3, "/metrics", SCRAPER)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("v3_records{reason=\"accuracy\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("v3_blacklist_size 0"), "{metrics}");
    platform.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_archive_refuses_bad_requests_and_end_users(owner: PgPool) {
    let platform = Platform::start(owner, None).await;
    let v3 = platform.v3;
    assert_eq!(
        error_of(platform.get(v3, "/api/v3/records", END_USER).await, 403).await["code"],
        "forbidden"
    );
    for (query, field) in [
        ("reason=rude", "reason"),
        ("limit=0", "limit"),
        ("offset=-2", "offset"),
        (
            "since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
    ] {
        let error = error_of(
            platform
                .get(v3, &format!("/api/v3/records?{query}"), ADMIN)
                .await,
            422,
        )
        .await;
        assert_eq!(error["field"], field, "{query}");
    }
    assert_eq!(
        error_of(
            platform
                .get(v3, "/api/v3/records?since=yesterday", ADMIN)
                .await,
            400
        )
        .await["code"],
        "bad_request"
    );
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        error_of(
            platform
                .get(v3, &format!("/api/v3/records/{unknown}"), ADMIN)
                .await,
            404
        )
        .await["code"],
        "not_found"
    );
    assert_eq!(
        error_of(platform.get(v3, "/api/v3/blacklist/xyz", ADMIN).await, 422).await["field"],
        "fingerprint"
    );
    let absent = "ab".repeat(32);
    assert_eq!(
        error_of(
            platform
                .get(v3, &format!("/api/v3/blacklist/{absent}"), ADMIN)
                .await,
            404
        )
        .await["code"],
        "not_found"
    );
    // No route writes.
    let response = platform
        .post(v3, "/api/v3/records", ADMIN, &serde_json::json!({}))
        .await;
    assert_eq!(response.status(), 405);
    platform.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn v3_own_pool_cannot_write(owner: PgPool) {
    let platform = Platform::start(owner, None).await;
    let db = &platform.v3_state.db;
    let read_only = sqlx::query("INSERT INTO quarantine.blacklist (fingerprint, reason, blacklisted_by) VALUES ($1, 'x', 'v3')")
        .bind("cd".repeat(32))
        .execute(db)
        .await
        .unwrap_err();
    assert_eq!(
        read_only.as_database_error().unwrap().code().as_deref(),
        Some("25006")
    );
    // Asking for a read-write transaction does not help: no grant.
    let mut conn = db.acquire().await.unwrap();
    let denied =
        sqlx::raw_sql("BEGIN READ WRITE; DELETE FROM quarantine.quarantine_records; COMMIT")
            .execute(&mut *conn)
            .await
            .unwrap_err();
    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
    assert_eq!(
        denied.as_database_error().unwrap().code().as_deref(),
        Some("42501")
    );
    drop(conn);
    platform.finish().await;
}

/// Whether a schema of the OpenAPI document admits `null`.
fn admits_null(schema: &Value) -> bool {
    let types_null = |s: &Value| match &s["type"] {
        Value::String(t) => t == "null",
        Value::Array(ts) => ts.iter().any(|t| t == "null"),
        _ => false,
    };
    types_null(schema)
        || schema["nullable"] == true
        || ["oneOf", "anyOf"].iter().any(|k| {
            schema[k]
                .as_array()
                .is_some_and(|alternatives| alternatives.iter().any(types_null))
        })
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_record_not_blacklisted_matches_its_schema(owner: PgPool) {
    let platform = Platform::start(owner, None).await;
    let (_, record) = platform.quarantined(&platform.configuration(0.0)).await;
    let view: Value = platform
        .get(
            platform.v3,
            &format!("/api/v3/records/{record}"),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["reevaluation"]["blacklisted"], Value::Null);
    let doc: Value = platform
        .get(platform.v3, "/openapi.json", EXPERIMENTER)
        .await
        .json()
        .await
        .unwrap();
    let schema = &doc["components"]["schemas"]["ReevaluationStatus"]["properties"]["blacklisted"];
    assert!(admits_null(schema), "{schema}");
    assert!(
        schema
            .to_string()
            .contains("#/components/schemas/BlacklistEntry"),
        "the entry is described, not an opaque object: {schema}"
    );
}
