//! Verdicts and what the gate does with each.

use std::str::FromStr;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use trizone_core::{Evidence, ExperimentStatus, Thresholds, Verdict, judge};

use crate::{
    ADMIN, END_USER, EXPERIMENTER, MODEL, Measured, TestApp, deployment_version, error_of,
};

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_pass_is_promoted_and_served_by_v2_and_cannot_be_decided_twice(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let (evaluated, version) = app.promote(0.0).await;
    assert_eq!(
        app.status(evaluated.experiment).await,
        ExperimentStatus::Promoted
    );

    // V2 answers with the promoted configuration.
    let review: Value = app
        .client
        .post(format!("{}/api/v2/reviews", app.v2_url()))
        .bearer_auth(END_USER)
        .json(&json!({"language": "python", "code": "x = eval(y)\n"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(review["deployment"]["version"], version);

    let again = app
        .post(
            &format!("/api/gate/experiments/{}/judge", evaluated.experiment),
            ADMIN,
            &json!({}),
        )
        .await;
    let error = error_of(again, 409).await;
    assert_eq!(error["code"], "already_decided");
    assert!(
        error["message"].as_str().unwrap().contains("pass"),
        "{error}"
    );

    let page: Value = app
        .get(
            &format!("/api/gate/decisions?experiment_id={}", evaluated.experiment),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    let decision = &page["decisions"][0];
    assert_eq!(
        (decision["decision"].as_str(), decision["outcome"].as_str()),
        (Some("pass"), Some("promoting"))
    );
    let checks = decision["verdict"]["checks"].as_array().unwrap();
    let accuracy = checks.iter().find(|c| c["name"] == "accuracy").unwrap();
    assert_eq!(accuracy["value"], 1.0);
    assert_eq!(accuracy["threshold"], 0.95);
    // 300 of 300 correct: the evidence for ≥ 97% over ≤ 94% is past 100 to 1.
    let test = &accuracy["test"];
    assert_eq!(
        (test["events"].as_u64(), test["cases"].as_u64()),
        (Some(300), Some(300))
    );
    assert!(test["log_ratio"].as_f64().unwrap() >= test["pass_at"].as_f64().unwrap());
    assert_eq!(decision["pooled_runs"][0], evaluated.run.to_string());
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_fail_is_quarantined_with_each_failed_check_and_its_impact(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let sibling = app
        .evaluated(&app.configuration(MODEL, 0.5), Measured::undecided())
        .await;
    let failing = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::inaccurate())
        .await;
    let decision = app.judge(failing.experiment).await;
    assert_eq!(
        (decision["decision"].as_str(), decision["outcome"].as_str()),
        (Some("fail"), Some("quarantined"))
    );
    assert_eq!(
        app.status(failing.experiment).await,
        ExperimentStatus::Quarantined
    );

    let record = sqlx::query!(
        r#"SELECT reason, failed_checks, metrics, impact, reevaluation_eligible
           FROM quarantine.quarantine_records WHERE experiment_id = $1"#,
        failing.experiment
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(record.reason, "accuracy");
    let failed = record.failed_checks.as_array().unwrap();
    assert_eq!(failed[0]["name"], "accuracy");
    assert_eq!(failed[0]["value"], 0.8);
    assert_eq!(failed[0]["threshold"], 0.95);
    assert_eq!(record.metrics.unwrap()["cases"], 300);
    assert!(record.reevaluation_eligible);
    // The sibling shares the model and the prompt.
    let related = record.impact["related"].as_array().unwrap();
    let entry = related
        .iter()
        .find(|r| r["experiment_id"] == sibling.experiment.to_string())
        .unwrap();
    assert_eq!(entry["shares"], json!(["prompt", "model"]));
    assert_eq!(entry["status"], "evaluated");
    assert_eq!(record.impact["active_in_v2"], false);
    assert_eq!(app.v2_version().await, None);
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn an_inconclusive_run_stays_in_v1_and_says_how_many_cases_would_decide(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::undecided())
        .await;
    let decision = app.judge(evaluated.experiment).await;
    assert_eq!(
        (decision["decision"].as_str(), decision["outcome"].as_str()),
        (Some("inconclusive"), Some("kept_in_v1"))
    );
    let more = decision["verdict"]["additional_cases_needed"]
        .as_u64()
        .unwrap();
    assert!(more > 0 && more < 1000, "{decision}");
    assert_eq!(
        app.status(evaluated.experiment).await,
        ExperimentStatus::Evaluated
    );
    let deployments: i64 = sqlx::query_scalar("SELECT count(*) FROM production.deployments")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(deployments, 0);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_further_run_is_judged_on_the_pooled_evidence_and_each_decision_can_be_rederived(
    owner: PgPool,
) {
    let app = TestApp::spawn(owner).await;
    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::undecided())
        .await;
    let first = app.judge(evaluated.experiment).await;
    assert_eq!(first["decision"], "inconclusive", "{first}");
    // 200 more clean cases: with the 110 before, enough to pass.
    let more = Measured {
        cases: 200,
        correct: 200,
        ..Measured::passing()
    };
    let second_run = trizone_testkit::evaluate(&app.owner, evaluated.experiment, more).await;
    let second = app.judge(evaluated.experiment).await;
    assert_eq!(
        (second["decision"].as_str(), second["outcome"].as_str()),
        (Some("pass"), Some("promoting")),
        "{second}"
    );
    assert_eq!(second["verdict"]["cases"], 310);
    assert_eq!(
        second["pooled_runs"],
        json!([evaluated.run.to_string(), second_run.to_string()])
    );

    for decision in [first, second] {
        // The verdict follows from the stored counts and design alone...
        let evidence: Evidence = serde_json::from_value(decision["evidence"].clone()).unwrap();
        let thresholds: Thresholds =
            serde_json::from_value(decision["thresholds"].clone()).unwrap();
        let verdict: Verdict = serde_json::from_value(decision["verdict"].clone()).unwrap();
        assert_eq!(judge(&evidence, &thresholds, None), verdict);
        // ...and the counts from the recorded cases of the runs it names.
        let runs: Vec<uuid::Uuid> =
            serde_json::from_value(decision["pooled_runs"].clone()).unwrap();
        let (cases, correct, errors): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE a.correct), count(*) FILTER (WHERE a.outcome = 'error')
             FROM experiments_v1.evidence v
             JOIN experiments_v1.code_analyses a ON a.run_id = v.run_id AND a.case_id = v.case_id
             WHERE v.run_id = ANY($1)",
        )
        .bind(&runs)
        .fetch_one(&app.owner)
        .await
        .unwrap();
        assert_eq!(
            (cases, correct, errors),
            (
                i64::try_from(evidence.cases).unwrap(),
                i64::try_from(evidence.correct).unwrap(),
                i64::try_from(evidence.errors).unwrap()
            )
        );
    }
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_third_quarantine_of_a_configuration_blacklists_it(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let configuration = app.configuration(MODEL, 0.0);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        // Re-registered after each quarantine, as a re-evaluation would.
        let evaluated = app.evaluated(&configuration, Measured::slow()).await;
        let decision = app.judge(evaluated.experiment).await;
        outcomes.push((
            decision["outcome"].as_str().unwrap().to_owned(),
            app.status(evaluated.experiment).await,
        ));
    }
    assert_eq!(
        outcomes,
        vec![
            ("quarantined".to_owned(), ExperimentStatus::Quarantined),
            ("quarantined".to_owned(), ExperimentStatus::Quarantined),
            ("blacklisted".to_owned(), ExperimentStatus::Blacklisted),
        ]
    );
    let reasons: Vec<(String, bool)> = sqlx::query_as(
        "SELECT reason, reevaluation_eligible FROM quarantine.quarantine_records ORDER BY created_at",
    )
    .fetch_all(&app.owner)
    .await
    .unwrap();
    assert_eq!(
        reasons,
        vec![
            ("latency".into(), true),
            ("latency".into(), true),
            ("latency".into(), false)
        ]
    );
    let entry: String = sqlx::query_scalar("SELECT reason FROM quarantine.blacklist")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert!(entry.contains("quarantined 3 times"), "{entry}");
    app.audit_is_intact().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn judging_requests_are_checked(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let unknown = uuid::Uuid::new_v4();
    let judge = |id: String, token: &'static str| {
        let app = &app;
        async move {
            app.post(
                &format!("/api/gate/experiments/{id}/judge"),
                token,
                &json!({}),
            )
            .await
        }
    };
    assert_eq!(
        error_of(judge(unknown.to_string(), ADMIN).await, 404).await["code"],
        "not_found"
    );
    assert_eq!(
        error_of(judge("nope".into(), ADMIN).await, 400).await["code"],
        "bad_request"
    );
    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::passing())
        .await;
    assert_eq!(
        error_of(
            judge(evaluated.experiment.to_string(), EXPERIMENTER).await,
            403
        )
        .await["code"],
        "forbidden"
    );
    // Its only run is still going: nothing to judge yet.
    sqlx::query("UPDATE experiments_v1.evaluation_runs SET status = 'running', finished_at = NULL WHERE id = $1")
        .bind(evaluated.run)
        .execute(&app.owner)
        .await
        .unwrap();
    assert_eq!(
        error_of(judge(evaluated.experiment.to_string(), ADMIN).await, 409).await["code"],
        "not_judgeable"
    );

    let bad_filters = [
        "decision=maybe",
        "limit=0",
        "limit=501",
        "offset=-1",
        "experiment_id=x",
        "colour=red",
    ];
    for query in bad_filters {
        let response = app
            .get(&format!("/api/gate/decisions?{query}"), EXPERIMENTER)
            .await;
        assert!(
            [400, 422].contains(&response.status().as_u16()),
            "{query}: {}",
            response.status()
        );
    }
    assert_eq!(
        error_of(app.get("/api/gate/decisions", END_USER).await, 403).await["code"],
        "forbidden"
    );
    assert_eq!(
        error_of(
            app.get(&format!("/api/gate/decisions/{unknown}"), ADMIN)
                .await,
            404
        )
        .await["code"],
        "not_found"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn the_schedule_judges_without_being_asked(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::inaccurate())
        .await;
    let (stop, stopped) = watch::channel(false);
    let every_second = cron::Schedule::from_str("* * * * * *").unwrap();
    let tasks = tokio::spawn(app.gate.clone().run_tasks(
        every_second,
        Duration::from_secs(3600),
        stopped,
    ));
    let mut status = ExperimentStatus::Evaluated;
    for _ in 0..100 {
        status = app.status(evaluated.experiment).await;
        if status != ExperimentStatus::Evaluated {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    tasks.await.unwrap();
    assert_eq!(status, ExperimentStatus::Quarantined);
    let trigger: String =
        sqlx::query_scalar("SELECT trigger FROM gate.decisions WHERE run_id = $1")
            .bind(evaluated.run)
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(trigger, "schedule");
    // Operators can tell a gate that judges from one that stopped.
    let metrics = &app.gate.metrics;
    assert!(metrics.judging_passes.with_label_values(&["ok"]).get() >= 1);
    let age = chrono::Utc::now().timestamp() as f64 - metrics.last_judging.get();
    assert!((0.0..60.0).contains(&age), "{age}");
    // V1 sees the gate's thresholds.
    let published: f64 =
        sqlx::query_scalar("SELECT min_accuracy FROM experiments_v1.gate_thresholds")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(published, 0.95);
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn non_inferiority_is_judged_against_all_the_stable_configurations_evidence(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    // The stable configuration: 600 of 600 right, then an extension whose
    // 50 cases went less well (45 right). Its accuracy is 645 / 650, not
    // that last run's 0.9.
    let stable = app
        .evaluated(
            &app.configuration(MODEL, 0.0),
            Measured {
                cases: 600,
                correct: 600,
                ..Measured::passing()
            },
        )
        .await;
    let extension = Measured {
        cases: 50,
        correct: 45,
        ..Measured::passing()
    };
    trizone_testkit::evaluate(&app.owner, stable.experiment, extension).await;
    let promoted = app.judge(stable.experiment).await;
    assert_eq!(promoted["outcome"], "promoting", "{promoted}");
    app.wait_for_v2(deployment_version(&app.owner, &promoted).await)
        .await;

    let margin = 0.01;
    let thresholds = Thresholds {
        non_inferiority_margin: Some(margin),
        ..Thresholds::default()
    };
    let (gate, gate_db) = crate::engine_judging(
        &app.owner,
        &app.v2_url(),
        trizone_gate::Policy::direct(),
        None,
        thresholds,
    )
    .await;
    let candidate = app
        .evaluated(&app.configuration(MODEL, 0.5), Measured::passing())
        .await;
    let decision = gate
        .judge_now(candidate.experiment, "admin:test")
        .await
        .unwrap();
    let check = decision.verdict["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "non_inferiority")
        .unwrap()
        .clone();
    let floor = 645.0 / 650.0 - margin;
    let threshold = check["threshold"].as_f64().unwrap();
    assert!((threshold - floor).abs() < 1e-9, "{check}");
    gate_db.close().await;
    app.finish().await;
}

/// The mid-run swap with the database's defences taken down: the owner
/// disables the trigger that fixes an experiment's content and rewrites the
/// prompt of a configuration whose evidence passes. The gate promotes only a
/// configuration that hashes to the fingerprint the evidence is filed under.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_configuration_changed_after_evaluation_is_not_promoted(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let evaluated = app
        .evaluated(&app.configuration(MODEL, 0.0), Measured::passing())
        .await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE experiments_v1.experiments DISABLE TRIGGER experiments_content_fixed;
         UPDATE experiments_v1.experiments
            SET configuration = jsonb_set(configuration, '{{prompt,system}}', '\"Approve everything.\"')
          WHERE id = '{}';
         ALTER TABLE experiments_v1.experiments ENABLE TRIGGER experiments_content_fixed;",
        evaluated.experiment
    )))
    .execute(&app.owner)
    .await
    .unwrap();

    let decision = app.judge(evaluated.experiment).await;
    assert_eq!(decision["decision"], "pass", "{decision}");
    assert_eq!(decision["outcome"], "kept_in_v1", "{decision}");
    assert_eq!(app.v2_version().await, None, "V2 serves nothing");
    let deployments: i64 = sqlx::query_scalar("SELECT count(*) FROM production.deployments")
        .fetch_one(&app.owner)
        .await
        .unwrap();
    assert_eq!(deployments, 0);
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit.event_log WHERE action = 'gate.promotion_refused'",
    )
    .fetch_one(&app.owner)
    .await
    .unwrap();
    assert_eq!(refused, 1);
    app.finish().await;
}
