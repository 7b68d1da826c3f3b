//! A candidate beside the active deployment, as the gate rolls it out:
//! canary requests answered by it (sticky per key), shadow requests
//! mirrored to it without changing what users get.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::RolloutPlan;
use trizone_http::auth::key_id;
use trizone_stable::shadow::ShadowSettings;
use trizone_store::production::{self, Deployment, DeploymentStatus};
use trizone_store::rollouts;

use crate::{ADMIN, END_USER, OTHER_USER, Options, TestApp, metric, python_file};

impl TestApp {
    /// Deploys `configuration` as a candidate the gate rolls out beside
    /// the active deployment, at `share` percent and `sample` shadowed, and
    /// waits until V2 follows it.
    async fn roll_out(&self, configuration: Value, share: f64, sample: f64) -> Deployment {
        let stable = production::active(&self.gate).await.unwrap().unwrap();
        let candidate = self.deploy_for_smoke(configuration).await;
        let mut tx = self.gate.begin().await.unwrap();
        let status = if share > 0.0 {
            DeploymentStatus::Canary
        } else {
            DeploymentStatus::Shadowing
        };
        for (from, to) in [
            (
                DeploymentStatus::SmokeTesting,
                DeploymentStatus::SmokePassed,
            ),
            (DeploymentStatus::SmokePassed, status),
        ] {
            assert!(
                production::advance(&mut *tx, candidate.id, from, to, None, None)
                    .await
                    .unwrap()
            );
        }
        rollouts::begin(
            &mut tx,
            candidate.id,
            stable.id,
            &RolloutPlan::default(),
            share,
            sample,
        )
        .await
        .unwrap();
        production::notify_active(&mut *tx, candidate.id)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self
            .state
            .active
            .candidate()
            .is_none_or(|c| c.deployment.id != candidate.id)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "V2 never followed the rollout"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        candidate
    }

    /// [`TestApp::roll_out`] of a candidate whose every call fails.
    async fn roll_out_broken(&self, share: f64, sample: f64) -> Deployment {
        self.sim.state.set_profile(
            "gpt-broken",
            serde_json::from_value(json!({"errors": {"server": 1.0}})).unwrap(),
        );
        self.roll_out(self.configuration_of("gpt-broken", 0.0), share, sample)
            .await
    }
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_canary_answers_the_keys_in_its_share_and_each_key_stays_on_its_side(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let stable = app.promote(0.0).await;
    let candidate = app.roll_out(app.configuration(0.5), 50.0, 0.0).await;
    let status = app.status().await;
    assert_eq!(
        (&status["rollout"]["version"], &status["rollout"]["share"]),
        (&json!(candidate.version), &json!(50.0))
    );
    let mut sides = Vec::new();
    for token in [END_USER, OTHER_USER, ADMIN] {
        let in_canary =
            trizone_core::rollout::in_canary(&key_id(token), candidate.id.as_bytes(), 50.0);
        let expected = if in_canary { &candidate } else { &stable };
        for _ in 0..4 {
            let review: Value = app
                .review(token, &python_file())
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(
                review["deployment"]["id"],
                expected.id.to_string(),
                "{token}"
            );
            assert_eq!(review["outcome"], "ok");
        }
        sides.push(in_canary);
    }
    let scraped = app.metrics().await;
    let canary = sides.iter().filter(|&&c| c).count() as f64 * 4.0;
    assert_eq!(
        metric(
            &scraped,
            "v2_role_reviews_total{outcome=\"ok\",role=\"canary\"}"
        ),
        Some(canary)
    );
    assert_eq!(
        metric(
            &scraped,
            "v2_role_reviews_total{outcome=\"ok\",role=\"stable\"}"
        ),
        Some(12.0 - canary)
    );
    // The candidate's answers count in its own SLO windows.
    app.wait_until_written().await;
    let requests: Option<i64> = sqlx::query_scalar!(
        "SELECT sum(requests)::int8 FROM production.slo_metrics WHERE deployment_id = $1",
        candidate.id
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(requests.unwrap_or(0) as f64, canary);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_failed_canary_answer_is_answered_by_the_stable_one_and_counted_against_the_canary(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    let stable = app.promote(0.0).await;
    let broken = app.roll_out_broken(100.0, 0.0).await;
    for _ in 0..3 {
        let response = app.review(END_USER, &python_file()).await;
        assert_eq!(response.status(), 201);
        let review: Value = response.json().await.unwrap();
        assert_eq!(review["deployment"]["id"], stable.id.to_string());
        assert_eq!(review["outcome"], "ok");
        assert_eq!(review["findings"][0]["line_start"], 2);
        assert_eq!(review["fallback"]["reason"], "server", "{review}");
        assert!(
            review["fallback"]["from"]
                .as_str()
                .unwrap()
                .ends_with("/gpt-broken"),
            "{review}"
        );
    }
    let scraped = app.metrics().await;
    assert_eq!(metric(&scraped, "v2_canary_failovers_total"), Some(3.0));
    assert_eq!(
        metric(
            &scraped,
            "v2_role_reviews_total{outcome=\"error\",role=\"canary\"}"
        ),
        Some(3.0)
    );
    // The canary's failures are in its SLO windows, where the gate judges
    // it; what the user got is the one review kept.
    app.wait_until_written().await;
    let windows = sqlx::query!(
        r#"SELECT sum(requests)::int8 AS "requests!", sum(errors)::int8 AS "errors!"
           FROM production.slo_metrics WHERE deployment_id = $1"#,
        broken.id
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!((windows.requests, windows.errors), (3, 3));
    let kept: Vec<uuid::Uuid> = sqlx::query_scalar!(
        "SELECT deployment_id FROM production.code_reviews ORDER BY created_at"
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(kept, [stable.id; 3]);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_shadow_never_changes_an_answer_and_is_recorded_beside_it(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let stable = app.promote(0.0).await;
    // A candidate whose every call fails: users must not notice.
    let broken = app.roll_out_broken(0.0, 1.0).await;
    let mut reviews = Vec::new();
    for token in [END_USER, OTHER_USER] {
        for _ in 0..5 {
            let response = app.review(token, &python_file()).await;
            assert_eq!(response.status(), 201);
            let review: Value = response.json().await.unwrap();
            assert_eq!(review["deployment"]["id"], stable.id.to_string());
            assert_eq!(review["findings"][0]["line_start"], 2);
            reviews.push(review["id"].as_str().unwrap().to_owned());
        }
    }
    let shadows = wait_for_shadows(&app, &broken, 10).await;
    for shadow in &shadows {
        assert_eq!(
            (
                shadow.outcome.as_str(),
                shadow.stable_outcome.as_str(),
                shadow.agrees
            ),
            ("error", "ok", None)
        );
        assert!(reviews.contains(&shadow.review_id.to_string()));
    }
    // No shadow answer is a review anyone can read.
    let stored: i64 = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM production.code_reviews WHERE deployment_id = $1"#,
        broken.id
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(stored, 0);

    // A candidate that answers as the stable one does agrees with it.
    sqlx::query("UPDATE production.rollouts SET outcome = 'aborted', ended_at = now()")
        .execute(&app.owner)
        .await
        .unwrap();
    production::advance(
        &app.gate,
        broken.id,
        DeploymentStatus::Shadowing,
        DeploymentStatus::Failed,
        None,
        None,
    )
    .await
    .unwrap();
    let twin = app.roll_out(app.configuration(0.7), 0.0, 1.0).await;
    for _ in 0..4 {
        assert_eq!(app.review(END_USER, &python_file()).await.status(), 201);
    }
    let shadows = wait_for_shadows(&app, &twin, 4).await;
    assert!(
        shadows.iter().all(|s| s.agrees == Some(true)),
        "{shadows:?}"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn shadow_work_beyond_its_queue_is_dropped_and_counted_not_waited_for(owner: PgPool) {
    let app = TestApp::spawn_with(
        owner,
        Options {
            shadow: ShadowSettings {
                queue: 1,
                concurrency: 1,
            },
            ..Options::default()
        },
    )
    .await;
    app.promote(0.0).await;
    app.sim.state.set_profile(
        "gpt-slow",
        serde_json::from_value(json!({"latency_median_ms": 2000, "latency_p95_ms": 2500})).unwrap(),
    );
    app.roll_out(app.configuration_of("gpt-slow", 0.0), 0.0, 1.0)
        .await;
    for _ in 0..10 {
        assert_eq!(app.review(END_USER, &python_file()).await.status(), 201);
    }
    // One call in flight, one waiting for it and one queued: the rest
    // were dropped, while every user was answered at once.
    let dropped = metric(
        &app.metrics().await,
        "v2_shadow_dropped_total{reason=\"queue_full\"}",
    );
    assert!(dropped.is_some_and(|d| d >= 7.0), "{dropped:?}");
    app.finish().await;
}

#[derive(Debug)]
struct Shadow {
    review_id: uuid::Uuid,
    outcome: String,
    stable_outcome: String,
    agrees: Option<bool>,
}

/// Waits until `n` shadow answers of `candidate` are written (bounded).
async fn wait_for_shadows(app: &TestApp, candidate: &Deployment, n: usize) -> Vec<Shadow> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = sqlx::query_as!(
            Shadow,
            "SELECT review_id, outcome, stable_outcome, agrees FROM production.shadow_reviews
             WHERE deployment_id = $1",
            candidate.id
        )
        .fetch_all(&app.owner)
        .await
        .unwrap();
        if rows.len() >= n {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} shadow answers were written",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
