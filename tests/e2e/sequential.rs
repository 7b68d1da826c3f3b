//! Sequential evaluation through the real services and the simulator: a
//! run stops once the gate's judge is certain, a poor configuration fails
//! early, an inconclusive experiment continues on its pooled evidence, and
//! a case counts once however often it is offered.
//!
//! The simulator draws each answer from its seed (42 under `trizone up`),
//! the model and the code, and each run here fixes its own seed, so every
//! outcome below is reproducible.

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use trizone_core::Decision;

use crate::cli::database_url;
use crate::lifecycle::{Api, DATASET, EXPERIMENTER};
use crate::roles::{json_of, trizone};
use crate::up::{Shape, Up};

/// Lines `from..to` of the bundled 1,000-case dataset.
fn cases(from: usize, to: usize) -> String {
    DATASET
        .lines()
        .skip(from)
        .take(to - from)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Api<'_> {
    async fn registered(&self, name: &str, model: &str) -> String {
        let (status, experiment) = self.register(&self.configuration(name, model)).await;
        assert_eq!(status, 201, "{experiment}");
        experiment["id"].as_str().unwrap().to_owned()
    }

    async fn start(&self, id: &str, body: &Value) -> (u16, Value) {
        self.post(
            &format!("{}/api/v1/experiments/{id}/runs", self.up.v1),
            EXPERIMENTER,
            body,
        )
        .await
    }
}

/// A decision's verdict and what the gate did about it.
fn outcome(decision: &Value) -> (&str, &str) {
    (
        decision["decision"].as_str().unwrap_or_default(),
        decision["outcome"].as_str().unwrap_or_default(),
    )
}

fn text(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[sqlx::test(migrations = false)]
async fn runs_stop_once_the_judge_is_certain_and_evidence_pools_across_runs(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let api = Api {
        up: &up,
        http: reqwest::Client::new(),
    };
    api.teach_simulator(DATASET).await;
    api.simulate("seq-good", json!({"accuracy": 0.97})).await;
    api.simulate("seq-poor", json!({"accuracy": 0.90})).await;
    api.simulate("seq-perfect", json!({"accuracy": 1.0})).await;
    let full = api.upload("full", cases(0, 1_000)).await;

    // A 0.97 configuration on 1,000 cases: decided long before the end, promoted.
    let good = api.registered("good", "seq-good").await;
    let run = api
        .run_to_end(
            &good,
            &json!({"dataset_id": full, "concurrency": 8, "seed": 1}),
        )
        .await;
    let done = run["progress"]["cases_done"].as_i64().unwrap();
    assert_eq!(run["stop_reason"], "decided", "{run}");
    assert!(done < 1_000, "{run}");
    assert_eq!(run["cases_not_needed"], 1_000 - done, "{run}");
    assert_eq!(run["seed"], 1);
    let summary = run["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("decided after {done} of 1000 cases: pass")),
        "{summary}"
    );
    let decision = api.judge(&good, 0).await;
    assert_eq!(outcome(&decision), ("pass", "promoting"), "{decision}");
    assert_eq!(decision["verdict"]["cases"], done);
    // The simulator was asked exactly the cases recorded: the rest were never sent.
    let stats: Value = api
        .http
        .get(format!("{}/control/stats", up.sim))
        .bearer_auth("e2e-admin-token-5b2e4680c1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["seq-good"]["requests"], done, "{stats}");

    // A 0.90 configuration fails early.
    let poor = api.registered("poor", "seq-poor").await;
    let run = api
        .run_to_end(
            &poor,
            &json!({"dataset_id": full, "concurrency": 8, "seed": 2}),
        )
        .await;
    let done = run["progress"]["cases_done"].as_i64().unwrap();
    assert!(done < 150, "{run}");
    let decision = api.judge(&poor, 0).await;
    assert_eq!(outcome(&decision), ("fail", "quarantined"), "{decision}");

    // A perfect configuration on 100 cases: too few to show an error rate
    // under 2%, so inconclusive, with how to go on.
    let perfect = api.registered("perfect", "seq-perfect").await;
    let first = api.upload("first-100", cases(0, 100)).await;
    let run = api
        .run_to_end(&perfect, &json!({"dataset_id": first, "seed": 3}))
        .await;
    assert_eq!(run["stop_reason"], "exhausted", "{run}");
    let judged = text(&trizone(&up, &["gate", "judge", &perfect]).await);
    assert!(
        judged.starts_with("inconclusive -> kept_in_v1 (on 100 cases pooled from 1 runs)"),
        "{judged}"
    );
    assert!(judged.contains("about 126 more cases expected"), "{judged}");
    assert!(
        judged.contains(&format!("continue: trizone run extend {perfect}")),
        "{judged}"
    );
    let shown = text(&trizone(&up, &["experiment", "show", &perfect]).await);
    assert!(
        shown.contains("100 cases over every run of this configuration: INCONCLUSIVE"),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("trizone run extend {perfect}")),
        "{shown}"
    );

    // Its cases count once: the same dataset, or the same cases uploaded
    // again, add nothing and are refused.
    for dataset in [
        first.clone(),
        api.upload("first-again", cases(0, 100)).await,
    ] {
        let (status, refused) = api.start(&perfect, &json!({"dataset_id": dataset})).await;
        assert_eq!(status, 409, "{refused}");
        assert_eq!(refused["error"]["code"], "no_new_cases", "{refused}");
    }

    // Continued with a second dataset that overlaps the first by 50 cases:
    // only its 250 new cases are offered, and the gate decides on the
    // pooled evidence of both runs.
    let second = api.upload("next-300", cases(50, 350)).await;
    let extended = json_of(
        &trizone(
            &up,
            &[
                "run",
                "extend",
                &perfect,
                "--dataset",
                &second,
                "--seed",
                "4",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(extended["cases_total"], 250, "{extended}");
    let run = api.await_run(extended["id"].as_str().unwrap()).await;
    let done = run["progress"]["cases_done"].as_i64().unwrap();
    assert_eq!(run["stop_reason"], "decided", "{run}");
    let decision = api.judge(&perfect, 0).await;
    assert_eq!(outcome(&decision), ("pass", "promoting"), "{decision}");
    assert_eq!(decision["verdict"]["cases"], 100 + done, "{decision}");
    assert_eq!(decision["pooled_runs"].as_array().unwrap().len(), 2);
    let checks = decision["verdict"]["checks"].as_array().unwrap();
    let errors = checks.iter().find(|c| c["name"] == "error_rate").unwrap();
    assert_eq!(errors["test"]["cases"], 100 + done);

    // A quarantined experiment cannot be continued, and the refusal says why.
    let (status, refused) = api.start(&poor, &json!({"dataset_id": full})).await;
    assert_eq!(status, 409, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quarantined it in V3"),
        "{refused}"
    );
}

/// The `decision_quality` benchmark's claims, through the real services:
/// `TRIALS` (default 20) configurations at each true accuracy in
/// `ACCURACIES` (default 0.94,0.97) on the bundled 1,000-case dataset, each run at concurrency 8 until
/// the judge is certain, then judged by the gate. Not a test of timing, and
/// too slow for every CI run:
/// `cargo test -p trizone --test e2e -- --ignored --nocapture through_the_real_services`.
#[sqlx::test(migrations = false)]
#[ignore = "a benchmark: run it by name"]
async fn decisions_through_the_real_services_match_the_benchmark(pool: PgPool) {
    let trials: usize = std::env::var("TRIALS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(20);
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let api = Api {
        up: &up,
        http: reqwest::Client::new(),
    };
    api.teach_simulator(DATASET).await;
    let dataset = api.upload("bench", cases(0, 1_000)).await;
    println!(
        "decisions through V1, the gate and the simulator: {trials} trials per accuracy, 1,000 cases, concurrency 8"
    );
    println!(
        "{:>8} | {:>9} {:>7} {:>7} {:>6} {:>5} | simulator's accuracy",
        "accuracy", "promoted", "failed", "incon.", "mean", "p90"
    );
    let accuracies: Vec<f64> = std::env::var("ACCURACIES").map_or_else(
        |_| vec![0.94, 0.97],
        |list| list.split(',').filter_map(|a| a.parse().ok()).collect(),
    );
    for accuracy in accuracies {
        let model = format!("bench-{accuracy}");
        api.simulate(&model, json!({"accuracy": accuracy})).await;
        let (mut promoted, mut failed, mut used) = (0, 0, Vec::new());
        for trial in 0..trials {
            // A prompt of its own gives each trial a configuration of its own.
            let mut configuration = api.configuration(&format!("bench-{trial}"), &model);
            configuration["prompt"]["system"] = json!(format!("Review carefully. (trial {trial})"));
            let (status, experiment) = api.register(&configuration).await;
            assert_eq!(status, 201, "{experiment}");
            let id = experiment["id"].as_str().unwrap();
            api.run_to_end(id, &json!({"dataset_id": dataset, "concurrency": 8}))
                .await;
            let decision = api.judge(id, 0).await;
            match Decision::deserialize(&decision["decision"]).unwrap() {
                Decision::Pass => promoted += 1,
                Decision::Fail => failed += 1,
                Decision::Inconclusive => {}
            }
            used.push(decision["verdict"]["cases"].as_u64().unwrap());
        }
        used.sort_unstable();
        // What the simulator's model really scores: one run over every case.
        let mut configuration = api.configuration("bench-exhaustive", &model);
        configuration["prompt"]["system"] = json!("Review carefully. (every case)");
        let (_, experiment) = api.register(&configuration).await;
        let all = api
            .run_to_end(
                experiment["id"].as_str().unwrap(),
                &json!({"dataset_id": dataset, "concurrency": 8, "exhaustive": true}),
            )
            .await;
        let measured = all["progress"]["correct"].as_f64().unwrap()
            / all["progress"]["cases_done"].as_f64().unwrap();
        let share = |count: usize| 100.0 * count as f64 / trials as f64;
        println!(
            "{accuracy:>8.2} | {:>8.1}% {:>6.1}% {:>6.1}% {:>6.0} {:>5} | {measured:.3} over all 1,000 cases",
            share(promoted),
            share(failed),
            share(trials - promoted - failed),
            used.iter().sum::<u64>() as f64 / trials as f64,
            used[(trials * 9).div_ceil(10) - 1]
        );
    }
}
