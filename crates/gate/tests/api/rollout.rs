//! Progressive delivery with a real V2 replica and the simulator: a
//! candidate shadows, then serves canary shares, each step judged on its
//! own live traffic, before it serves everyone, or is aborted.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::ExperimentStatus;
use trizone_gate::{GateError, Step};
use trizone_store::production;
use trizone_testkit::{END_USERS, key_id};
use uuid::Uuid;

use crate::{ADMIN, MODEL, Measured, Policy, TestApp, engine, error_of};

/// Traffic rounds before a test gives up on a rollout deciding.
const MAX_ROUNDS: usize = 200;

impl TestApp {
    async fn set_plan(&self, plan: Value) -> reqwest::Response {
        self.client
            .put(self.url("/api/gate/rollout/plan"))
            .bearer_auth(ADMIN)
            .json(&plan)
            .send()
            .await
            .unwrap()
    }

    /// One review from each end user; returns (user index, status, deployment id).
    async fn traffic(&self) -> Vec<(usize, u16, Option<String>)> {
        let reviews = format!("{}/api/v2/reviews", self.v2_url());
        let requests = END_USERS.iter().enumerate().map(|(i, token)| {
            let request = self
                .client
                .post(&reviews)
                .bearer_auth(token)
                .json(&json!({"language": "python", "path": "a.py", "code": format!("def f{i}(e):\n    return eval(e)\n")}));
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (i, status, body["deployment"]["id"].as_str().map(str::to_owned))
            }
        });
        futures::future::join_all(requests).await
    }

    async fn rollout(&self) -> Value {
        self.get("/api/gate/rollout", ADMIN)
            .await
            .json()
            .await
            .unwrap()
    }

    async fn deployment_status(&self, id: Uuid) -> String {
        production::get(&self.owner, id)
            .await
            .unwrap()
            .status
            .as_str()
            .to_owned()
    }
}

fn plan(shadow_sample: f64, steps: &[f64]) -> Value {
    json!({"shadow_sample": shadow_sample, "min_requests": 20, "min_agreement": 0.8, "steps": steps})
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_good_candidate_reaches_everyone_through_every_step_and_a_new_gate_resumes(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    let (_, stable) = app.promote(0.0).await;
    assert_eq!(app.set_plan(plan(1.0, &[50.0, 100.0])).await.status(), 200);
    let candidate = app
        .evaluated(&app.configuration(MODEL, 0.5), Measured::passing())
        .await;
    let decision = app.judge(candidate.experiment).await;
    let deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.deployment_status(deployment).await, "shadowing");
    assert_eq!(app.rollout().await["rollout"]["stage"], "shadow");

    let mut seen = Vec::new();
    let mut gate = app.gate.clone();
    let mut pools = Vec::new();
    for _ in 0..MAX_ROUNDS {
        for (_, status, _) in app.traffic().await {
            assert_eq!(status, 201);
        }
        gate.drive_sagas().await.unwrap();
        let status = app.deployment_status(deployment).await;
        if seen.last() != Some(&status) {
            seen.push(status.clone());
            // A gate that dies at any step: another one carries on from
            // what is stored.
            let (next, pool) = engine(&app.owner, &app.v2_url(), Policy::default()).await;
            gate = next;
            pools.push(pool);
        }
        if status == "active" {
            break;
        }
    }
    assert_eq!(seen, ["shadowing", "canary", "active"]);
    app.wait_for_v2(
        production::get(&app.owner, deployment)
            .await
            .unwrap()
            .version,
    )
    .await;
    assert_eq!(
        app.status(candidate.experiment).await,
        ExperimentStatus::Promoted
    );
    assert_eq!(app.rollout().await["rollout"], Value::Null);
    let actions: Vec<String> = sqlx::query_scalar!(
        "SELECT action FROM audit.event_log WHERE action LIKE 'gate.rollout%' OR action = 'gate.promoted' ORDER BY seq"
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "gate.promoted",
            "gate.rollout_plan_set",
            "gate.rollout_started",
            "gate.rollout_advanced",
            "gate.promoted"
        ]
    );
    assert_ne!(stable, 0);
    app.audit_is_intact().await;
    for pool in pools {
        pool.close().await;
    }
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_canary_failing_a_tenth_of_its_calls_is_aborted_and_no_user_saw_an_error(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (_, stable) = app.promote(0.0).await;
    assert_eq!(app.set_plan(plan(0.0, &[50.0, 100.0])).await.status(), 200);
    let candidate = app
        .evaluated(&app.configuration("flaky-model", 0.0), Measured::passing())
        .await;
    let decision = app.judge(candidate.experiment).await;
    let deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.deployment_status(deployment).await, "canary");
    // It passed its smoke test; on live traffic a tenth of its calls fail.
    app.sim.state.set_profile(
        "flaky-model",
        serde_json::from_value(json!({"errors": {"server": 0.1}})).unwrap(),
    );
    let stable_id = production::active(&app.owner).await.unwrap().unwrap().id;
    let in_canary = |user: usize| {
        trizone_core::rollout::in_canary(&key_id(END_USERS[user]), deployment.as_bytes(), 50.0)
    };
    let (mut by_candidate, mut failed_over, mut outside) = (0, 0, 0);
    for _ in 0..MAX_ROUNDS {
        for (user, status, answered_by) in app.traffic().await {
            // A canary answer that failed is answered by the stable one.
            assert_eq!(status, 201, "user {user}");
            let answered_by = answered_by.unwrap();
            if !in_canary(user) {
                assert_eq!(answered_by, stable_id.to_string(), "outside the canary");
                outside += 1;
            } else if answered_by == deployment.to_string() {
                by_candidate += 1;
            } else {
                assert_eq!(answered_by, stable_id.to_string());
                failed_over += 1;
            }
        }
        app.gate.drive_sagas().await.unwrap();
        if app.deployment_status(deployment).await == "failed" {
            break;
        }
    }
    assert_eq!(app.deployment_status(deployment).await, "failed");
    assert!(
        by_candidate > 0 && failed_over > 0 && outside > 0,
        "{by_candidate} {failed_over} {outside}"
    );
    assert_eq!(
        app.status(candidate.experiment).await,
        ExperimentStatus::Quarantined
    );
    let record = sqlx::query!(
        "SELECT reason, failed_checks, metrics FROM quarantine.quarantine_records WHERE experiment_id = $1",
        candidate.experiment
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(record.reason, "canary");
    assert_eq!(
        record.failed_checks[0]["name"], "error_rate",
        "{}",
        record.failed_checks
    );
    assert!(
        record.metrics.unwrap()["evidence"]["errors"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The stable configuration serves everyone again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (_, status, answered_by) in app.traffic().await {
        assert_eq!((status, answered_by), (201, Some(stable_id.to_string())));
    }
    assert_eq!(app.v2_version().await, Some(stable));
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn admins_pause_resume_promote_and_abort_and_bad_plans_are_refused(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (_, stable) = app.promote(0.0).await;
    for (bad, field) in [
        (plan(1.5, &[50.0, 100.0]), "shadow_sample"),
        (plan(0.2, &[50.0, 90.0]), "steps[1]"),
        (plan(0.2, &[0.0, 100.0]), "steps[0]"),
        (plan(0.2, &[120.0]), "steps[0]"),
    ] {
        let error = error_of(app.set_plan(bad).await, 422).await;
        assert_eq!(error["field"], field);
    }
    for action in ["pause", "resume", "promote", "abort"] {
        let response = app
            .post(&format!("/api/gate/rollout/{action}"), ADMIN, &json!({}))
            .await;
        assert_eq!(
            error_of(response, 409).await["code"],
            "no_rollout",
            "{action}"
        );
    }
    assert_eq!(app.set_plan(plan(1.0, &[50.0, 100.0])).await.status(), 200);

    let first = app
        .evaluated(&app.configuration(MODEL, 0.3), Measured::passing())
        .await;
    let decision = app.judge(first.experiment).await;
    let first_deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    let paused = app.post("/api/gate/rollout/pause", ADMIN, &json!({})).await;
    assert_eq!(paused.status(), 200);
    let paused: Value = paused.json().await.unwrap();
    assert_eq!(paused["rollout"]["paused"], true);
    let again = app.post("/api/gate/rollout/pause", ADMIN, &json!({})).await;
    assert_eq!(error_of(again, 409).await["code"], "already_paused");
    // Paused, it does not move, whatever the traffic says.
    for _ in 0..30 {
        app.traffic().await;
    }
    app.gate.drive_sagas().await.unwrap();
    assert_eq!(app.deployment_status(first_deployment).await, "shadowing");
    let resumed = app
        .post("/api/gate/rollout/resume", ADMIN, &json!({}))
        .await;
    assert_eq!(resumed.status(), 200);
    let promoted = app
        .post("/api/gate/rollout/promote", ADMIN, &json!({}))
        .await;
    assert_eq!(promoted.status(), 200);
    assert_eq!(
        promoted.json::<Value>().await.unwrap()["rollout"],
        Value::Null
    );
    assert_eq!(app.deployment_status(first_deployment).await, "active");
    assert_eq!(
        app.status(first.experiment).await,
        ExperimentStatus::Promoted
    );

    let second = app
        .evaluated(&app.configuration(MODEL, 0.4), Measured::passing())
        .await;
    let decision = app.judge(second.experiment).await;
    let second_deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.deployment_status(second_deployment).await, "shadowing");
    let aborted = app.post("/api/gate/rollout/abort", ADMIN, &json!({})).await;
    assert_eq!(aborted.status(), 200);
    assert_eq!(app.deployment_status(second_deployment).await, "failed");
    // An admin's abort is not a verdict: the candidate stays in V1.
    assert_eq!(
        app.status(second.experiment).await,
        ExperimentStatus::Evaluated
    );
    assert_eq!(
        production::active(&app.owner).await.unwrap().unwrap().id,
        first_deployment
    );
    assert_ne!(stable, 0);
    app.audit_is_intact().await;
    app.finish().await;
}

/// Drives end-user traffic and a fresh gate armed to die after `step`,
/// round after round, until it does.
async fn until_crash_after(app: &TestApp, step: Step) {
    for _ in 0..MAX_ROUNDS {
        app.traffic().await;
        let (doomed, pool) = engine(&app.owner, &app.v2_url(), Policy::default()).await;
        doomed.faults.crash_after(step);
        let driven = doomed.drive_sagas().await;
        drop(doomed);
        pool.close().await;
        match driven {
            Ok(()) => {}
            Err(GateError::InjectedCrash(at)) if at == step => return,
            Err(other) => panic!("expected a crash after {step:?}, got {other:?}"),
        }
    }
    panic!("the rollout never reached {step:?}");
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_gate_killed_after_each_rollout_move_is_carried_on_by_the_next(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    assert_eq!(app.set_plan(plan(1.0, &[50.0, 100.0])).await.status(), 200);

    // A good candidate: the gate dies right after it starts the rollout,
    // after the shadow step passes, and after the last step enables it.
    let good = app
        .evaluated(&app.configuration(MODEL, 0.5), Measured::passing())
        .await;
    let (doomed, pool) = engine(&app.owner, &app.v2_url(), Policy::default()).await;
    let decision = doomed
        .judge_now(good.experiment, "admin:test")
        .await
        .unwrap();
    let good_deployment = decision.deployment_id.unwrap();
    doomed.faults.crash_after(Step::RolloutStarted);
    assert!(matches!(
        doomed.drive_sagas().await,
        Err(GateError::InjectedCrash(Step::RolloutStarted))
    ));
    drop(doomed);
    pool.close().await;
    assert_eq!(app.deployment_status(good_deployment).await, "shadowing");
    until_crash_after(&app, Step::StepPassed).await;
    assert_eq!(app.deployment_status(good_deployment).await, "canary");
    until_crash_after(&app, Step::Enabled).await;
    // What the dead gates committed stands; the next finds nothing to redo.
    app.gate.drive_sagas().await.unwrap();
    assert_eq!(app.deployment_status(good_deployment).await, "active");
    assert_eq!(
        app.status(good.experiment).await,
        ExperimentStatus::Promoted
    );
    assert_eq!(app.rollout().await["rollout"], Value::Null);

    // A candidate whose every canary call fails: the gate dies right after
    // aborting it, and the next one quarantines nothing twice.
    assert_eq!(app.set_plan(plan(0.0, &[50.0, 100.0])).await.status(), 200);
    let broken = app
        .evaluated(&app.configuration("broken-model", 0.0), Measured::passing())
        .await;
    let decision = app.judge(broken.experiment).await;
    let broken_deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.deployment_status(broken_deployment).await, "canary");
    // It passed its smoke test; live, it fails every call.
    app.sim.state.set_profile(
        "broken-model",
        serde_json::from_value(json!({"errors": {"server": 1.0}})).unwrap(),
    );
    until_crash_after(&app, Step::StepFailed).await;
    app.gate.drive_sagas().await.unwrap();
    assert_eq!(app.deployment_status(broken_deployment).await, "failed");
    assert_eq!(
        app.status(broken.experiment).await,
        ExperimentStatus::Quarantined
    );
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, count(*) FROM audit.event_log
         WHERE action IN ('gate.rollout_started', 'gate.rollout_advanced', 'gate.rollout_aborted', 'gate.promoted', 'gate.quarantined')
         GROUP BY action ORDER BY action",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    let counts: Vec<(&str, i64)> = counts.iter().map(|(a, n)| (a.as_str(), *n)).collect();
    assert_eq!(
        counts,
        [
            ("gate.promoted", 2),
            ("gate.quarantined", 1),
            ("gate.rollout_aborted", 1),
            ("gate.rollout_advanced", 1),
            ("gate.rollout_started", 2),
        ]
    );
    assert_eq!(
        production::active(&app.owner).await.unwrap().unwrap().id,
        good_deployment
    );
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn without_an_admins_plan_a_second_promotion_rolls_out_unless_the_operator_says_not(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    for (temperature, policy, expected) in [
        (0.1, Policy::direct(), "active"),
        (0.2, Policy::default(), "shadowing"),
    ] {
        let candidate = app
            .evaluated(&app.configuration(MODEL, temperature), Measured::passing())
            .await;
        let (gate, pool) = engine(&app.owner, &app.v2_url(), policy).await;
        let decision = gate
            .judge_now(candidate.experiment, "admin:test")
            .await
            .unwrap();
        gate.drive_sagas().await.unwrap();
        let deployment = decision.deployment_id.unwrap();
        assert_eq!(app.deployment_status(deployment).await, expected);
        if expected == "shadowing" {
            let rollout = gate.rollout_view().await.unwrap().unwrap();
            assert_eq!(rollout.plan, trizone_core::RolloutPlan::default());
            assert_eq!(
                (rollout.stage, rollout.shadow_sample),
                (trizone_api::gate::RolloutStage::Shadow, 0.2)
            );
        }
        pool.close().await;
    }
    app.finish().await;
}

/// Rounds of traffic until no end user is answered by `deployment`
/// (bounded): V2 follows the rollout's end through `NOTIFY`.
async fn until_none_served_by(app: &TestApp, deployment: Uuid) -> usize {
    let id = deployment.to_string();
    for round in 0..MAX_ROUNDS {
        let answers = app.traffic().await;
        if answers
            .iter()
            .all(|(_, status, served)| *status == 201 && served.as_deref() != Some(id.as_str()))
        {
            return round;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("V2 still served the blacklisted candidate after {MAX_ROUNDS} rounds");
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn blacklisting_a_candidate_mid_canary_ends_its_rollout_in_the_same_transaction(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    let (_, stable) = app.promote(0.0).await;
    assert_eq!(app.set_plan(plan(0.0, &[50.0, 100.0])).await.status(), 200);
    let candidate = app
        .evaluated(&app.configuration(MODEL, 0.6), Measured::passing())
        .await;
    let decision = app.judge(candidate.experiment).await;
    let deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.deployment_status(deployment).await, "canary");
    // Paused, the candidate would serve its share for as long as it stays so.
    let paused = app.post("/api/gate/rollout/pause", ADMIN, &json!({})).await;
    assert_eq!(paused.status(), 200);
    let served_by = |answers: &[(usize, u16, Option<String>)]| {
        answers
            .iter()
            .filter(|(_, _, served)| served.as_deref() == Some(deployment.to_string().as_str()))
            .count()
    };
    assert!(
        served_by(&app.traffic().await) > 0,
        "the canary serves a share"
    );

    let fingerprint = production::get(&app.owner, deployment)
        .await
        .unwrap()
        .fingerprint;
    let blacklisted = app
        .post(
            "/api/gate/blacklist",
            ADMIN,
            &json!({"fingerprint": fingerprint, "reason": "leaks secrets into reviews"}),
        )
        .await;
    assert_eq!(blacklisted.status(), 201);
    // People are named by the principal their key is bound to, never by
    // anything derived from the token.
    let entry: Value = blacklisted.json().await.unwrap();
    assert_eq!(entry["blacklisted_by"], "admin:admin");
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM audit.event_log WHERE action IN ('gate.blacklisted', 'gate.rollout_aborted') ORDER BY seq",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert!(
        actors.len() >= 2 && actors.iter().all(|actor| actor == "admin:admin"),
        "{actors:?}"
    );
    // No gate tick in between: the blacklist itself ended the rollout.
    assert_eq!(app.rollout().await["rollout"], Value::Null);
    assert_eq!(app.deployment_status(deployment).await, "failed");
    assert_eq!(
        app.status(candidate.experiment).await,
        ExperimentStatus::Blacklisted
    );
    let reason: String = sqlx::query_scalar(
        "SELECT reason FROM quarantine.quarantine_records WHERE experiment_id = $1",
    )
    .bind(candidate.experiment)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(reason, "blacklist");
    until_none_served_by(&app, deployment).await;
    assert_eq!(served_by(&app.traffic().await), 0);
    assert_eq!(
        production::active(&app.owner)
            .await
            .unwrap()
            .unwrap()
            .version,
        stable
    );
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_paused_rollout_of_a_configuration_blacklisted_behind_the_gates_back_is_aborted(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    app.promote(0.0).await;
    assert_eq!(app.set_plan(plan(1.0, &[50.0, 100.0])).await.status(), 200);
    let candidate = app
        .evaluated(&app.configuration(MODEL, 0.7), Measured::passing())
        .await;
    let decision = app.judge(candidate.experiment).await;
    let deployment: Uuid = decision["deployment_id"].as_str().unwrap().parse().unwrap();
    let paused = app.post("/api/gate/rollout/pause", ADMIN, &json!({})).await;
    assert_eq!(paused.status(), 200);
    // As a blacklist written before blacklisting ended rollouts left it.
    sqlx::query(
        "INSERT INTO quarantine.blacklist (fingerprint, reason, blacklisted_by)
         SELECT fingerprint, 'found later', 'admin' FROM production.deployments WHERE id = $1",
    )
    .bind(deployment)
    .execute(&app.owner)
    .await
    .unwrap();
    app.gate.drive_sagas().await.unwrap();
    assert_eq!(app.deployment_status(deployment).await, "failed");
    assert_eq!(app.rollout().await["rollout"], Value::Null);
    until_none_served_by(&app, deployment).await;
    app.audit_is_intact().await;
    app.finish().await;
}
