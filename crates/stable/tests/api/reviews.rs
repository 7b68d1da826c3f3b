//! Reviews, feedback, status and every refusal an end user can meet.

use std::num::NonZeroU32;

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_stable::config::ServiceLimits;

use crate::{
    ADMIN, END_USER, EXPERIMENTER, GATE, MODEL, OTHER_USER, Options, TestApp, error_of, metric,
    python_file,
};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_review_is_served_by_the_active_deployment_and_recorded_with_its_feedback(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let deployment = app.promote(0.0).await;

    let response = app.review(END_USER, &python_file()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let review: Value = response.json().await.unwrap();
    assert_eq!(review["deployment"]["version"], deployment.version);
    assert_eq!(review["deployment"]["fingerprint"], deployment.fingerprint);
    assert_eq!(
        review["answered_by"],
        json!([format!("sim-openai/{MODEL}")])
    );
    assert_eq!(review["outcome"], "ok");
    let finding = &review["findings"][0];
    assert_eq!(
        (finding["line_start"].as_u64(), finding["category"].as_str()),
        (Some(2), Some("security"))
    );
    assert!(review["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(
        location,
        format!("/api/v2/reviews/{}", review["id"].as_str().unwrap())
    );

    // Readable at once (from the queue or the table), the same review.
    let read: Value = app.get(&location, END_USER).await.json().await.unwrap();
    assert_eq!(
        (&read["id"], &read["findings"]),
        (&review["id"], &review["findings"])
    );

    let feedback = app
        .client
        .post(app.url(&format!("{location}/feedback")))
        .bearer_auth(END_USER)
        .json(&json!({"satisfaction": 4, "comment": "spot on"}))
        .send()
        .await
        .unwrap();
    assert_eq!(feedback.status(), 201);

    app.wait_until_written().await;
    let id: uuid::Uuid = review["id"].as_str().unwrap().parse().unwrap();
    let stored = sqlx::query!(
        "SELECT deployment_id, outcome, code_bytes, requested_by, answered_by FROM production.code_reviews WHERE id = $1",
        id
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(stored.deployment_id, deployment.id);
    assert_eq!(stored.outcome, "ok");
    assert_eq!(
        stored.code_bytes as usize,
        python_file()["code"].as_str().unwrap().len()
    );
    assert_eq!(stored.answered_by, json!([format!("sim-openai/{MODEL}")]));
    let scores: Vec<(i16, String)> = sqlx::query_as(
        "SELECT score, comment FROM production.review_feedback WHERE review_id = $1",
    )
    .bind(id)
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(scores, vec![(4, "spot on".to_owned())]);

    // Read back from the table once written.
    let read: Value = app.get(&location, ADMIN).await.json().await.unwrap();
    assert_eq!(
        (&read["deployment"]["version"], &read["findings"]),
        (&json!(deployment.version), &review["findings"])
    );

    let status = app.status().await;
    assert_eq!(status["active"]["fingerprint"], deployment.fingerprint);
    assert_eq!(status["slo"]["scope"], "all_replicas");
    assert_eq!(status["slo"]["requests"], 1);
    assert_eq!(status["slo"]["errors"], 0);
    assert_eq!(status["slo"]["latency_compliant"], true);
    assert_eq!(status["degraded"], false);
    app.finish().await;
}

/// What end users think of the deployment's reviews shows in its status.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn end_users_feedback_moves_the_deployments_satisfaction(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    assert_eq!(
        app.status().await["satisfaction"],
        json!({"feedback": 0, "mean": null})
    );
    for score in [5, 2] {
        let response = app.review(END_USER, &python_file()).await;
        assert_eq!(response.status(), 201);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let feedback = app
            .client
            .post(app.url(&format!("{location}/feedback")))
            .bearer_auth(END_USER)
            .json(&json!({"satisfaction": score}))
            .send()
            .await
            .unwrap();
        assert_eq!(feedback.status(), 201);
    }
    app.wait_until_written().await;
    assert_eq!(
        app.status().await["satisfaction"],
        json!({"feedback": 2, "mean": 3.5})
    );
    let scraped = app.metrics().await;
    let version = app.status().await["active"]["version"].clone();
    for (series, expected) in [("count", 2.0), ("sum", 7.0)] {
        let prefix = format!("v2_feedback_score_{series}{{version=\"{version}\"}}");
        assert_eq!(metric(&scraped, &prefix), Some(expected), "{scraped}");
    }
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn before_the_first_promotion_reviews_answer_503_and_the_replica_is_ready_for_its_smoke_test(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    let error = error_of(app.review(END_USER, &python_file()).await, 503).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("no configuration is active"),
        "{error}"
    );

    // Ready, so the Service in front of V2 sends the gate's first smoke test
    // here; degraded, saying why reviews are refused meanwhile.
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded");
    let check = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "active_deployment")
        .unwrap()
        .clone();
    assert_eq!(check["ok"], false);
    assert!(
        check["reason"]
            .as_str()
            .unwrap()
            .contains("ready for the gate's smoke test of the first promotion"),
        "{check}"
    );
    assert_eq!(app.status().await["active"], Value::Null);

    app.promote(0.0).await;
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn tokens_are_checked_and_bad_requests_get_a_clear_4xx(owner: PgPool) {
    let options = Options {
        limits: ServiceLimits {
            code_bytes: 1000,
            ..ServiceLimits::default()
        },
        ..Options::default()
    };
    let app = TestApp::spawn_with(owner, options).await;
    app.promote(0.0).await;
    let url = app.url("/api/v2/reviews");

    let anonymous = app
        .client
        .post(&url)
        .json(&python_file())
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(anonymous, 401).await["code"], "unauthenticated");
    assert_eq!(
        error_of(app.review("no-such-token", &python_file()).await, 401).await["code"],
        "unauthenticated"
    );
    assert_eq!(
        error_of(app.review(EXPERIMENTER, &python_file()).await, 403).await["code"],
        "forbidden"
    );
    assert_eq!(
        error_of(app.review(GATE, &python_file()).await, 403).await["code"],
        "forbidden"
    );

    let post_raw = |content_type: &'static str, body: &'static str| {
        app.client
            .post(&url)
            .bearer_auth(END_USER)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(
        error_of(post_raw("text/plain", "{}").await.unwrap(), 415).await["code"],
        "unsupported_media_type"
    );
    assert_eq!(
        error_of(
            post_raw("application/json", "{\"language\":")
                .await
                .unwrap(),
            400
        )
        .await["code"],
        "bad_request"
    );

    let cases = [
        (json!({"language": "python"}), 422, "code"),
        (json!({"language": "python", "code": "  \n"}), 422, "code"),
        (
            json!({"language": "cobol", "code": "x = 1"}),
            422,
            "language",
        ),
        (
            json!({"language": "python", "code": "x = 1", "author": "me"}),
            422,
            "",
        ),
        (
            json!({"language": "python", "code": "x".repeat(1001)}),
            413,
            "code",
        ),
        (
            json!({"language": "python", "code": "x = 1", "path": "a\u{0}b"}),
            422,
            "path",
        ),
    ];
    for (body, status, field) in cases {
        let error = error_of(app.review(END_USER, &body).await, status).await;
        let message = error["message"].as_str().unwrap();
        if !field.is_empty() {
            assert!(
                error["field"] == field || message.contains(field),
                "{body} -> {error}"
            );
        }
    }
    let unknown_language = error_of(
        app.review(END_USER, &json!({"language": "cobol", "code": "x"}))
            .await,
        422,
    )
    .await;
    assert!(
        unknown_language["message"]
            .as_str()
            .unwrap()
            .contains("python"),
        "{unknown_language}"
    );

    // Another user's review is not theirs to read or rate; an admin may read it.
    let review: Value = app
        .review(END_USER, &python_file())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/v2/reviews/{}", review["id"].as_str().unwrap());
    assert_eq!(
        error_of(app.get(&path, OTHER_USER).await, 404).await["code"],
        "not_found"
    );
    assert_eq!(app.get(&path, ADMIN).await.status(), 200);
    assert_eq!(
        error_of(app.get("/api/v2/reviews/not-a-uuid", END_USER).await, 400).await["code"],
        "bad_request"
    );
    assert_eq!(
        error_of(
            app.get(
                &format!("/api/v2/reviews/{}", uuid::Uuid::new_v4()),
                END_USER
            )
            .await,
            404
        )
        .await["code"],
        "not_found"
    );

    let rate = |token: &'static str, body: Value| {
        app.client
            .post(app.url(&format!("{path}/feedback")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let error = error_of(
        rate(END_USER, json!({"satisfaction": 6})).await.unwrap(),
        422,
    )
    .await;
    assert_eq!(error["field"], "satisfaction");
    let error = error_of(
        rate(
            END_USER,
            json!({"satisfaction": 3, "comment": "x".repeat(4001)}),
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    assert_eq!(error["field"], "comment");
    assert_eq!(
        error_of(
            rate(OTHER_USER, json!({"satisfaction": 3})).await.unwrap(),
            404
        )
        .await["code"],
        "not_found"
    );
    assert_eq!(
        rate(END_USER, json!({"satisfaction": 0}))
            .await
            .unwrap()
            .status(),
        201
    );

    // No endpoint changes what V2 serves.
    for (method, path) in [
        ("PUT", "/api/v2/deployments/active"),
        ("POST", "/api/v2/activate"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
    }
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_go_on(owner: PgPool) {
    let options = Options {
        limits: ServiceLimits {
            rate_per_minute: NonZeroU32::new(2).unwrap(),
            rate_burst: NonZeroU32::new(2).unwrap(),
            ..ServiceLimits::default()
        },
        ..Options::default()
    };
    let app = TestApp::spawn_with(owner, options).await;
    app.promote(0.0).await;
    for _ in 0..2 {
        assert_eq!(app.review(END_USER, &python_file()).await.status(), 201);
    }
    let limited = app.review(END_USER, &python_file()).await;
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(error_of(limited, 429).await["code"], "rate_limited");
    assert_eq!(app.review(OTHER_USER, &python_file()).await.status(), 201);
    assert_eq!(
        metric(&app.metrics().await, "v2_rate_limited_total"),
        Some(1.0)
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn provider_failures_answer_502_or_504_with_their_kind_and_are_counted(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let deployment = app.promote(0.0).await;
    app.sim.state.set_profile(
        MODEL,
        serde_json::from_value(json!({"errors": {"server": 1.0}})).unwrap(),
    );
    let error = error_of(app.review(END_USER, &python_file()).await, 502).await;
    assert_eq!(
        (error["code"].as_str(), error["kind"].as_str()),
        (Some("provider_failed"), Some("server"))
    );
    assert!(
        error["message"].as_str().unwrap().contains(MODEL),
        "{error}"
    );

    app.sim.state.set_profile(
        MODEL,
        serde_json::from_value(json!({"errors": {"hang": 1.0}, "hang_ms": 10_000})).unwrap(),
    );
    let error = error_of(app.review(END_USER, &python_file()).await, 504).await;
    assert_eq!(
        (error["code"].as_str(), error["kind"].as_str()),
        (Some("provider_timeout"), Some("timeout"))
    );

    let metrics = app.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "v2_errors_total{method=\"POST\",route=\"/api/v2/reviews\",status=\"502\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &metrics,
            "v2_errors_total{method=\"POST\",route=\"/api/v2/reviews\",status=\"504\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "v2_provider_failures_total{kind=\"timeout\"}"),
        Some(1.0)
    );

    // Failed reviews are records too, and count against the error SLO.
    app.wait_until_written().await;
    let kinds: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT error_kind FROM production.code_reviews WHERE deployment_id = $1 AND outcome = 'error' ORDER BY created_at",
    )
    .bind(deployment.id)
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        kinds,
        vec![Some("server".to_owned()), Some("timeout".to_owned())]
    );
    let status = app.status().await;
    assert_eq!(
        (
            status["slo"]["errors"].as_i64(),
            status["slo"]["error_rate_compliant"].as_bool()
        ),
        (Some(2), Some(false))
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn metrics_carry_the_platform_names_and_the_active_deployment(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let deployment = app.promote(0.0).await;
    assert_eq!(app.review(END_USER, &python_file()).await.status(), 201);
    assert_eq!(
        error_of(app.get("/metrics", END_USER).await, 403).await["code"],
        "forbidden"
    );
    let metrics = app.metrics().await;
    for name in [
        "v2_requests_total{",
        "v2_request_duration_seconds_bucket{",
        "v2_active_requests",
        "v2_slo_violations_total{slo=\"latency_p95\"}",
        "v2_slo_violations_total{slo=\"error_rate\"}",
        "v2_latency_overhead_seconds_count",
        "v2_records_pending",
        "v2_database_available",
    ] {
        assert!(
            metric(&metrics, name).is_some(),
            "{name} missing from\n{metrics}"
        );
    }
    let info = format!(
        "v2_active_deployment_info{{fingerprint=\"{}\",version=\"{}\"}}",
        deployment.fingerprint, deployment.version
    );
    assert_eq!(metric(&metrics, &info), Some(1.0), "{metrics}");
    assert_eq!(
        metric(&metrics, "v2_latency_overhead_seconds_count"),
        Some(1.0)
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_fallback_reads_back_as_it_was_served(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.sim.state.set_profile(
        "down-model",
        serde_json::from_value(json!({"errors": {"server": 1.0}})).unwrap(),
    );
    let adaptive = json!({
        "name": "adaptive-reviewer",
        "models": {
            "primary": {"provider": "sim-openai", "model": "down-model", "input_per_mtok": 1, "output_per_mtok": 2},
            "secondary": {"provider": "sim-anthropic", "model": MODEL, "input_per_mtok": 1, "output_per_mtok": 2}
        },
        "strategy": {"kind": "adaptive"},
        "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
        "parameters": {"temperature": 0.0, "timeout_ms": 2000, "max_retries": 0}
    });
    let deployment = app.deploy(adaptive).await;
    app.activate(&deployment, true).await;
    app.wait_for_version(deployment.version).await;

    let response = app.review(END_USER, &python_file()).await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let served: Value = response.json().await.unwrap();
    let fallback = &served["fallback"];
    assert_eq!(fallback["from"], "sim-openai/down-model", "{served}");
    assert_eq!(fallback["reason"], "server");
    // From V2's queue, then from the table once written: the same fallback.
    let queued: Value = app.get(&location, END_USER).await.json().await.unwrap();
    assert_eq!(&queued["fallback"], fallback);
    app.wait_until_written().await;
    let stored: Value = app.get(&location, END_USER).await.json().await.unwrap();
    assert_eq!(&stored["fallback"], fallback, "{stored}");
    assert_eq!(
        stored["answered_by"],
        json!([format!("sim-anthropic/{MODEL}")])
    );
    app.finish().await;
}
