//! Evaluation runs against the simulator: exact metrics, crashes, takeover.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::watch;
use trizone_core::Configuration;
use trizone_experiment::runs::worker::WorkerSettings;
use trizone_router::request::{ChatRequest, ReviewInput};
use trizone_router::{ModelRouter, Providers, ResilienceSettings};
use trizone_sim::{Dataset, RunningSim};
use trizone_store::runs::RunStatus;
use trizone_testkit::{SIM_OPENAI, sim_providers, sim_providers_with};

use crate::{EXPERIMENTER, OTHER_EXPERIMENTER, TestApp, error_of};

pub const MODEL: &str = "gpt-sim";
const SEED: u64 = 11;

/// `n` cases, every code unique; every third is clean, the others have one
/// or two bugs.
pub fn dataset(n: usize) -> String {
    (0..n)
        .map(|i| {
            let findings = match i % 3 {
                0 => json!([]),
                1 => json!([{"line_start": 2, "line_end": 2, "category": "bug"}]),
                _ => json!([{"line_start": 2, "line_end": 2, "category": "bug"}, {"line_start": 4, "line_end": 5, "category": "security"}]),
            };
            json!({"id": format!("case-{i}"), "language": "python", "path": format!("src/m{i}.py"),
                   "code": format!("# module {i}\nx = load({i})\ny = x + 1\nrun(y)\nsend(y)\n"), "expected_findings": findings})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn simulator(cases: &str, profile: Value) -> RunningSim {
    let sim = RunningSim::start(SEED, Dataset::parse(cases).unwrap(), 0)
        .await
        .unwrap();
    sim.state
        .set_profile(MODEL, serde_json::from_value(profile).unwrap());
    sim
}

pub fn configuration() -> Value {
    json!({
        "name": "sim-reviewer",
        "models": {"primary": {"provider": SIM_OPENAI, "model": MODEL, "input_per_mtok": 1, "output_per_mtok": 2}},
        "strategy": {"kind": "primary"},
        "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
        "parameters": {"timeout_ms": 5000, "max_retries": 0}
    })
}

/// A worker on the app's database, killed (not released) when dropped.
struct Worker {
    task: tokio::task::JoinHandle<()>,
    stop: watch::Sender<bool>,
}

impl Worker {
    fn start(app: &TestApp, sim: &RunningSim, owner: &str) -> Self {
        Self::start_with(
            app,
            sim,
            WorkerSettings {
                lease: Duration::from_secs(1),
                poll: Duration::from_millis(50),
                ..WorkerSettings::new(owner)
            },
        )
    }

    fn start_with(app: &TestApp, sim: &RunningSim, settings: WorkerSettings) -> Self {
        Self::start_over(app, sim_providers(sim.address), settings)
    }

    /// A worker whose providers get no structured output, as an operator
    /// lists a server that takes no JSON schema.
    fn start_unstructured(app: &TestApp, sim: &RunningSim, owner: &str) -> Self {
        let settings = WorkerSettings {
            lease: Duration::from_secs(1),
            poll: Duration::from_millis(50),
            ..WorkerSettings::new(owner)
        };
        Self::start_over(app, sim_providers_with(sim.address, false), settings)
    }

    fn start_over(app: &TestApp, providers: Providers, settings: WorkerSettings) -> Self {
        let registry = prometheus::Registry::new();
        let router = ModelRouter::new(providers, ResilienceSettings::default(), &registry).unwrap();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(
            trizone_experiment::worker(&app.state, Arc::new(router), settings).run(stopped),
        );
        Self { task, stop }
    }

    /// A crash: the task dies where it stands, its lease left to expire.
    fn kill(self) {
        self.task.abort();
    }

    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Uploads `cases` as Alice's dataset through the V1 service at `base`;
/// returns its id.
pub async fn upload(client: &reqwest::Client, base: &str, cases: &str) -> Value {
    let dataset: Value = client
        .post(format!("{base}/api/v1/datasets?name=sim"))
        .bearer_auth(EXPERIMENTER)
        .body(cases.to_owned())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    dataset["id"].clone()
}

/// Registers `configuration` as `token`'s and starts an exhaustive run of
/// it on `dataset_id` through the V1 service at `base`; returns the run id.
pub async fn queue_run(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    configuration: Value,
    dataset_id: &Value,
    concurrency: i32,
) -> String {
    let body = json!({"dataset_id": dataset_id, "concurrency": concurrency, "exhaustive": true});
    queue_run_with(client, base, token, configuration, &body).await
}

/// Registers `configuration` and starts a run of it with `body`; its id.
pub async fn queue_run_with(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    configuration: Value,
    body: &Value,
) -> String {
    let experiment: Value = client
        .post(format!("{base}/api/v1/experiments"))
        .bearer_auth(token)
        .json(&json!({"configuration": configuration}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = client
        .post(format!(
            "{base}/api/v1/experiments/{}/runs",
            experiment["id"].as_str().unwrap()
        ))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{experiment}");
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Uploads the dataset, registers the configuration and starts an
/// exhaustive run (every case, so the measurements here are exact; early
/// stopping has tests of its own) through the V1 service at `base`
/// (in-process or a real process); returns the run id.
pub async fn start_run(
    client: &reqwest::Client,
    base: &str,
    cases: &str,
    concurrency: i32,
) -> String {
    let dataset_id = upload(client, base, cases).await;
    queue_run(
        client,
        base,
        EXPERIMENTER,
        configuration(),
        &dataset_id,
        concurrency,
    )
    .await
}

pub async fn run_view(client: &reqwest::Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/api/v1/runs/{id}"))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls until `done` holds (bounded: 600 polls of 50 ms).
pub async fn wait_until(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..600 {
        let view = run_view(client, base, id).await;
        if done(&view) {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "run {id} did not get there: {}",
        run_view(client, base, id).await
    );
}

/// Waits for run `id` to be `status`; its view then.
pub async fn wait_for(client: &reqwest::Client, base: &str, id: &str, status: RunStatus) -> Value {
    wait_until(client, base, id, |v| {
        RunStatus::deserialize(&v["status"]).unwrap() == status
    })
    .await
}

/// Analyses recorded for the run: rows, and distinct cases among them.
pub async fn recorded(owner: &PgPool, id: &str) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT case_id) FROM experiments_v1.code_analyses WHERE run_id = $1::uuid")
        .bind(id)
        .fetch_one(owner)
        .await
        .unwrap()
}

/// Each case with the answer a second simulator, with the same seed and
/// `profile`, gives its prompt when asked once: what a run should have seen.
async fn twin_answers(cases: &str, profile: Value) -> Vec<(Value, String)> {
    let twin = simulator(cases, profile).await;
    let config: Configuration = serde_json::from_value(configuration()).unwrap();
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for line in cases.lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let input = ReviewInput {
            code: case["code"].as_str().unwrap(),
            language: "python",
            path: case["path"].as_str().unwrap(),
        };
        let request = ChatRequest::build(&config, input).unwrap();
        let answer: Value = client
            .post(format!("{}/chat/completions", twin.openai_base_url()))
            .bearer_auth("sk")
            .json(&json!({"model": MODEL, "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.user}]}))
            .send().await.unwrap().json().await.unwrap();
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned();
        answers.push((case, content));
    }
    answers
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_run_measures_exactly_what_the_simulator_answered(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(60);
    let profile = json!({"accuracy": 0.6});
    let sim = simulator(&cases, profile.clone()).await;
    let worker = Worker::start(&app, &sim, "replica-a");
    let id = start_run(&app.client, &app.url(""), &cases, 8).await;
    let view = wait_for(&app.client, &app.url(""), &id, RunStatus::Finished).await;

    // The expectation, computed apart: a second simulator with the same seed
    // asked each case's prompt once, scored by exact line ranges.
    let (mut correct, mut false_positives, mut false_negatives) = (0, 0, 0);
    for (case, content) in twin_answers(&cases, profile).await {
        let review: Value = serde_json::from_str(&content).unwrap();
        let lines = |findings: &Value| -> BTreeSet<(u64, u64)> {
            findings
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["line_start"].as_u64().unwrap(),
                        f["line_end"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let (expected, found) = (
            lines(&case["expected_findings"]),
            lines(&review["findings"]),
        );
        let (fp, fn_) = (
            found.difference(&expected).count(),
            expected.difference(&found).count(),
        );
        false_positives += fp;
        false_negatives += fn_;
        correct += usize::from(fp == 0 && fn_ == 0);
    }
    let metrics = &view["metrics"];
    assert_eq!(metrics["cases"], 60);
    assert_eq!(metrics["correct"], correct, "{view}");
    assert_eq!(metrics["false_positives"], false_positives);
    assert_eq!(metrics["false_negatives"], false_negatives);
    assert_eq!(metrics["errors"], 0);
    // 0.6 accuracy really makes mistakes, and really gets some right.
    assert!(correct > 20 && correct < 55, "{correct} correct of 60");
    assert!(metrics["latency_p95_ms"].as_f64().unwrap() > 0.0);
    assert!(metrics["cost_usd"].as_f64().unwrap() > 0.0);
    let per_thousand = view["cost_per_1000_reviews_usd"].as_f64().unwrap();
    assert!((per_thousand - metrics["cost_usd"].as_f64().unwrap() * 1000.0 / 60.0).abs() < 1e-9);
    let experiment: Value = app
        .get(
            &format!(
                "/api/v1/experiments/{}",
                view["experiment_id"].as_str().unwrap()
            ),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(experiment["status"], "evaluated");
    assert_eq!(experiment["readiness"]["cases"], 60);

    // The dashboard's per-experiment gauges show the same run.
    app.state.metrics.refresh(&app.state.db).await.unwrap();
    let scraped = app
        .get("/metrics", crate::ADMIN)
        .await
        .text()
        .await
        .unwrap();
    let gauge = |name: &str| -> f64 {
        let series = format!(
            "{name}{{experiment=\"{}\",name=\"{}\"}} ",
            view["experiment_id"].as_str().unwrap(),
            experiment["name"].as_str().unwrap()
        );
        let line = scraped
            .lines()
            .find(|l| l.starts_with(&series))
            .unwrap_or_else(|| panic!("no {series} in\n{scraped}"));
        line[series.len()..].parse().unwrap()
    };
    assert!((gauge("v1_experiment_accuracy") - correct as f64 / 60.0).abs() < 1e-9);
    assert_eq!(
        gauge("v1_experiment_false_positives"),
        false_positives as f64
    );
    assert_eq!(
        gauge("v1_experiment_false_negatives"),
        false_negatives as f64
    );
    let p95 = metrics["latency_p95_ms"].as_f64().unwrap() / 1000.0;
    assert!((gauge("v1_experiment_latency_p95_seconds") - p95).abs() < 1e-9);
    assert!(
        (gauge("v1_experiment_cost_usd") - metrics["cost_usd"].as_f64().unwrap()).abs() < 1e-12
    );
    worker.stop().await;
    app.finish().await;
}

/// A model that fences one answer in ten, behind a provider that takes no
/// JSON schema, loses nothing for it: every fenced answer is read and
/// scored, and the run counts how many needed it.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn fenced_answers_are_scored_and_counted_as_recoveries(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(60);
    let profile = json!({"accuracy": 1.0, "errors": {"fenced": 0.1}});
    let sim = simulator(&cases, profile.clone()).await;
    let worker = Worker::start_unstructured(&app, &sim, "replica-a");
    let id = start_run(&app.client, &app.url(""), &cases, 8).await;
    let view = wait_for(&app.client, &app.url(""), &id, RunStatus::Finished).await;

    // How many answers the simulator fences, asked apart with the same seed.
    let fenced = twin_answers(&cases, profile)
        .await
        .iter()
        .filter(|(_, content)| content.starts_with("```"))
        .count();
    assert!(fenced > 0, "the profile fences some answers");
    assert_eq!(view["metrics"]["cases"], 60, "{view}");
    assert_eq!(view["metrics"]["correct"], 60, "{view}");
    assert_eq!(view["metrics"]["errors"], 0, "{view}");
    assert_eq!(view["progress"]["format_recoveries"], fenced, "{view}");
    assert_eq!(view["metrics"]["format_recoveries"], fenced, "{view}");
    worker.stop().await;
    app.finish().await;
}

/// GETs a page of the run's cases with `query`.
async fn cases_page(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/runs/{id}/cases?{query}")))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A run that scored below 1 can be read case by case: which cases it got
/// wrong, what each expected, what the model found and how they matched,
/// and the model's answer.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_runs_failing_cases_read_back_with_their_matches(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(30);
    let sim = simulator(
        &cases,
        json!({"accuracy": 0.6, "errors": {"truncated": 0.1}}),
    )
    .await;
    let worker = Worker::start(&app, &sim, "replica-a");
    let id = start_run(&app.client, &app.url(""), &cases, 8).await;
    let view = wait_for(&app.client, &app.url(""), &id, RunStatus::Finished).await;
    assert_eq!(view["cases_url"], format!("/api/v1/runs/{id}/cases"));
    let correct = view["metrics"]["correct"].as_i64().unwrap();
    let failed = view["metrics"]["errors"].as_i64().unwrap();

    // A review that failed says why, in the providers' words.
    let errors = cases_page(&app, &id, "outcome=error&limit=500").await;
    let errors = errors["cases"].as_array().unwrap();
    assert_eq!(errors.len() as i64, failed);
    assert!(!errors.is_empty(), "one answer in ten is cut off");
    for case in errors {
        assert_eq!(case["error_kind"], "malformed", "{case}");
        let message = case["error_message"].as_str().unwrap();
        assert!(message.contains("truncated at max_tokens"), "{case}");
        assert_eq!(case["found"], json!([]), "{case}");
    }

    let wrong = cases_page(&app, &id, "outcome=wrong&limit=500").await;
    let wrong = wrong["cases"].as_array().unwrap();
    assert_eq!(
        wrong.len() as i64,
        30 - correct - failed,
        "every case neither correct nor failed is wrong"
    );
    assert!(!wrong.is_empty(), "accuracy 0.6 gets some wrong");
    for case in wrong {
        let (expected, found) = (
            case["expected"].as_array().unwrap(),
            case["found"].as_array().unwrap(),
        );
        let matches = case["matches"].as_array().unwrap();
        // A wrong case missed an expected finding or invented one.
        assert!(
            matches.len() < expected.len() || found.len() > matches.len(),
            "{case}"
        );
        assert_eq!(
            case["false_negatives"].as_u64().unwrap() as usize,
            expected.len() - matches.len(),
            "{case}"
        );
        // Each match pairs a found finding with an expected one whose lines
        // it overlaps, within the default two lines of slack.
        assert_eq!(
            case["true_positives"].as_u64().unwrap() as usize,
            matches.len()
        );
        let line = |v: &Value, k: &str| v[k].as_i64().unwrap();
        for pair in matches {
            let f = &found[pair[0].as_u64().unwrap() as usize];
            let e = &expected[pair[1].as_u64().unwrap() as usize];
            assert!(
                line(f, "line_start") <= line(e, "line_end") + 2
                    && line(f, "line_end") >= line(e, "line_start") - 2,
                "{case}"
            );
        }
        // The raw answer is the findings the model wrote.
        let answer: Value = serde_json::from_str(case["answer"].as_str().unwrap()).unwrap();
        assert_eq!(&answer["findings"], &case["found"], "{case}");
        assert!(case["cost_usd"].as_f64().unwrap() > 0.0);
    }

    // Filters combine, and pages follow one another without overlap.
    let missed = cases_page(&app, &id, "false_negative=true&limit=500").await;
    assert!(
        missed["cases"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["false_negatives"].as_u64().unwrap() > 0)
    );
    let mut seen = Vec::new();
    let mut query = "limit=7".to_owned();
    loop {
        let page = cases_page(&app, &id, &query).await;
        seen.extend(
            page["cases"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["case_id"].as_str().unwrap().to_owned()),
        );
        match page["next_after"].as_str() {
            Some(after) => query = format!("limit=7&after={after}"),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        (seen.len(), sorted),
        (30, seen.clone()),
        "each case once, in id order"
    );
    worker.stop().await;
    app.finish().await;
}

/// Cases a run never needed, because it was decided first, are listed as
/// such.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn cases_a_decided_run_did_not_need_are_listed_as_not_needed(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(400);
    let sim = simulator(&cases, json!({"accuracy": 1.0})).await;
    let worker = Worker::start(&app, &sim, "replica-a");
    let dataset_id = upload(&app.client, &app.url(""), &cases).await;
    let body = json!({"dataset_id": dataset_id, "concurrency": 8});
    let id = &queue_run_with(
        &app.client,
        &app.url(""),
        EXPERIMENTER,
        configuration(),
        &body,
    )
    .await;
    let view = wait_for(&app.client, &app.url(""), id, RunStatus::Finished).await;
    assert_eq!(view["stop_reason"], "decided", "{view}");
    let not_needed = cases_page(&app, id, "outcome=not_needed&limit=500").await;
    let not_needed = not_needed["cases"].as_array().unwrap();
    assert!(
        !not_needed.is_empty(),
        "decided before the last case: {view}"
    );
    assert_eq!(
        not_needed.len() as i64,
        view["cases_not_needed"].as_i64().unwrap(),
        "{view}"
    );
    assert!(
        not_needed
            .iter()
            .all(|c| c["found"] == json!([]) && c["answer"].is_null())
    );
    worker.stop().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_run_survives_its_worker_dying_and_counts_each_case_once(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(40);
    let sim = simulator(
        &cases,
        json!({"latency_median_ms": 40, "latency_p95_ms": 60}),
    )
    .await;
    let first = Worker::start(&app, &sim, "replica-a");
    let id = start_run(&app.client, &app.url(""), &cases, 2).await;
    wait_until(&app.client, &app.url(""), &id, |v| {
        v["progress"]["cases_done"].as_i64().unwrap() >= 6
    })
    .await;
    first.kill();
    let partial = run_view(&app.client, &app.url(""), &id).await["progress"]["cases_done"]
        .as_i64()
        .unwrap();
    assert!(partial < 40, "the run finished before the crash");
    // A restarted service (another worker) resumes once the lease expires.
    let second = Worker::start(&app, &sim, "replica-b");
    let view = wait_for(&app.client, &app.url(""), &id, RunStatus::Finished).await;
    assert_eq!(view["metrics"]["cases"], 40);
    assert_eq!(recorded(&app.owner, &id).await, (40, 40));
    second.stop().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn with_two_replicas_the_survivor_finishes_the_run_of_the_one_that_died(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(40);
    let sim = simulator(
        &cases,
        json!({"latency_median_ms": 40, "latency_p95_ms": 60}),
    )
    .await;
    let (a, b) = (
        Worker::start(&app, &sim, "replica-a"),
        Worker::start(&app, &sim, "replica-b"),
    );
    let id = start_run(&app.client, &app.url(""), &cases, 2).await;
    wait_until(&app.client, &app.url(""), &id, |v| {
        v["progress"]["cases_done"].as_i64().unwrap() >= 6
    })
    .await;
    let holder: String = sqlx::query_scalar(
        "SELECT lease_owner FROM experiments_v1.evaluation_runs WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&app.owner)
    .await
    .unwrap();
    let (survivor, survivor_name) = if holder == "replica-a" {
        a.kill();
        (b, "replica-b")
    } else {
        b.kill();
        (a, "replica-a")
    };
    let view = wait_for(&app.client, &app.url(""), &id, RunStatus::Finished).await;
    assert_eq!(view["metrics"]["cases"], 40);
    assert_eq!(recorded(&app.owner, &id).await, (40, 40));
    let finisher: String =
        sqlx::query_scalar("SELECT actor FROM audit.event_log WHERE action = 'run.finished'")
            .fetch_one(&app.owner)
            .await
            .unwrap();
    assert_eq!(
        finisher,
        format!("worker:{survivor_name}"),
        "the survivor finished it"
    );
    survivor.stop().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_cancelled_run_stops_and_the_experiment_returns_to_registered(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(30);
    let sim = simulator(
        &cases,
        json!({"latency_median_ms": 100, "latency_p95_ms": 120}),
    )
    .await;
    let worker = Worker::start(&app, &sim, "replica-a");
    let id = start_run(&app.client, &app.url(""), &cases, 1).await;
    wait_for(&app.client, &app.url(""), &id, RunStatus::Running).await;
    let response = app
        .client
        .post(app.url(&format!("/api/v1/runs/{id}/cancel")))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.unwrap();
    assert_eq!(view["status"], "cancelled");
    let experiment: Value = app
        .get(
            &format!(
                "/api/v1/experiments/{}",
                view["experiment_id"].as_str().unwrap()
            ),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(experiment["status"], "registered");
    let again = app
        .client
        .post(app.url(&format!("/api/v1/runs/{id}/cancel")))
        .bearer_auth(EXPERIMENTER)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(again, 409).await["code"], "run_ended");
    worker.stop().await;
    // The worker gave up: nothing finished the cancelled run.
    assert_eq!(
        run_view(&app.client, &app.url(""), &id).await["status"],
        "cancelled"
    );
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn starting_a_run_is_validated_and_progress_streams_as_events(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(6);
    let sim = simulator(&cases, json!({})).await;
    let id = start_run(&app.client, &app.url(""), &cases, 2).await;
    let experiment = run_view(&app.client, &app.url(""), &id).await["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = app.url(&format!("/api/v1/experiments/{experiment}/runs"));
    let dataset_id = run_view(&app.client, &app.url(""), &id).await["dataset_id"].clone();
    let post = |body: Value| {
        app.client
            .post(&url)
            .bearer_auth(EXPERIMENTER)
            .json(&body)
            .send()
    };
    assert_eq!(
        error_of(
            post(json!({"dataset_id": dataset_id, "concurrency": 0}))
                .await
                .unwrap(),
            422
        )
        .await["field"],
        "concurrency"
    );
    assert_eq!(
        error_of(
            post(json!({"dataset_id": "00000000-0000-0000-0000-000000000000"}))
                .await
                .unwrap(),
            422
        )
        .await["field"],
        "dataset_id"
    );
    assert_eq!(
        error_of(post(json!({"dataset_id": dataset_id})).await.unwrap(), 409).await["code"],
        "run_in_progress"
    );
    error_of(
        app.get(
            "/api/v1/runs/00000000-0000-0000-0000-000000000000",
            EXPERIMENTER,
        )
        .await,
        404,
    )
    .await;
    // Work it, and read its progress as server-sent events to the end.
    let worker = Worker::start(&app, &sim, "replica-a");
    let events = app
        .get(&format!("/api/v1/runs/{id}/events"), EXPERIMENTER)
        .await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(30), events.text())
        .await
        .unwrap()
        .unwrap();
    assert!(text.contains("event: end"), "{text}");
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .unwrap();
    let last: Value = serde_json::from_str(last).unwrap();
    assert_eq!(
        (
            last["status"].as_str(),
            last["progress"]["cases_done"].as_i64()
        ),
        (Some("finished"), Some(6))
    );
    worker.stop().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_run_that_cannot_record_fails_and_the_experiment_can_be_evaluated_again(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(6);
    let sim = simulator(&cases, json!({})).await;
    // A permanent error: V1 loses the right to record analyses.
    sqlx::query("REVOKE INSERT ON experiments_v1.code_analyses FROM trizone_experiment")
        .execute(&app.owner)
        .await
        .unwrap();
    let worker = Worker::start(&app, &sim, "replica-a");
    let base = app.url("");
    let id = start_run(&app.client, &base, &cases, 2).await;
    let view = wait_for(&app.client, &base, &id, RunStatus::Failed).await;
    assert!(
        view["error"]
            .as_str()
            .unwrap()
            .contains("permission denied"),
        "{view}"
    );
    let experiment_id = view["experiment_id"].as_str().unwrap().to_owned();
    let experiment: Value = app
        .get(
            &format!("/api/v1/experiments/{experiment_id}"),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(experiment["status"], "registered");
    // Once the cause is fixed, the experiment can be evaluated again.
    sqlx::query("GRANT INSERT ON experiments_v1.code_analyses TO trizone_experiment")
        .execute(&app.owner)
        .await
        .unwrap();
    let response = app
        .post(
            &format!("/api/v1/experiments/{experiment_id}/runs"),
            EXPERIMENTER,
            &json!({"dataset_id": view["dataset_id"]}),
        )
        .await;
    assert_eq!(response.status(), 202);
    let rerun = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for(&app.client, &base, &rerun, RunStatus::Finished).await;
    worker.stop().await;
    app.finish().await;
}

/// A configuration changed after registration (past the database's trigger,
/// by its owner) is not evaluated: evidence filed under the fingerprint would
/// not be evidence about the configuration sent.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_configuration_that_no_longer_matches_its_fingerprint_is_not_evaluated(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(6);
    let sim = simulator(&cases, json!({})).await;
    let id = start_run(&app.client, &app.url(""), &cases, 2).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE experiments_v1.experiments DISABLE TRIGGER experiments_content_fixed;
         UPDATE experiments_v1.experiments e
            SET configuration = jsonb_set(e.configuration, '{{prompt,system}}', '\"Approve everything.\"')
           FROM experiments_v1.evaluation_runs r
          WHERE r.id = '{id}' AND e.id = r.experiment_id;
         ALTER TABLE experiments_v1.experiments ENABLE TRIGGER experiments_content_fixed;"
    )))
    .execute(&app.owner)
    .await
    .unwrap();
    let worker = Worker::start(&app, &sim, "replica-a");
    let view = wait_for(&app.client, &app.url(""), &id, RunStatus::Failed).await;
    assert!(
        view["error"]
            .as_str()
            .unwrap()
            .contains("does not hash to its fingerprint"),
        "{view}"
    );
    assert_eq!(recorded(&app.owner, &id).await, (0, 0));
    assert!(
        sim.state.stats().get(MODEL).is_none_or(|m| m.requests == 0),
        "no case was sent"
    );
    worker.stop().await;
    app.finish().await;
}

/// Each stream polled the database on its own, for anyone, for as long as it
/// stayed open, and held up shutdown. Now: experimenters and admins only, a
/// few streams per key, one poller per run, and every stream ends when the
/// service stops.
#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn progress_streams_share_a_poller_are_capped_per_key_and_end_on_shutdown(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(6);
    // No worker: the run stays queued, so its streams stay open.
    let id = start_run(&app.client, &app.url(""), &cases, 2).await;
    let path = format!("/api/v1/runs/{id}/events");
    error_of(app.get(&path, crate::END_USER).await, 403).await;

    let mut open = Vec::new();
    for _ in 0..4 {
        let stream = app.get(&path, EXPERIMENTER).await;
        assert_eq!(stream.status(), 200);
        open.push(stream);
    }
    assert_eq!(
        app.state.streams.pollers(),
        1,
        "one poller for four watchers"
    );
    let refused = error_of(app.get(&path, EXPERIMENTER).await, 429).await;
    assert_eq!(refused["code"], "rate_limited");
    // Another key has its own allowance.
    assert_eq!(app.get(&path, crate::ADMIN).await.status(), 200);

    app.state.streams.close();
    for stream in open {
        let text = tokio::time::timeout(Duration::from_secs(10), stream.text())
            .await
            .expect("a stream stayed open after the service began to stop")
            .unwrap();
        assert!(text.contains("event: progress"), "{text}");
        assert!(text.contains("event: closing"), "{text}");
    }
    app.finish().await;
}

/// `configuration()` asking `model`, its fingerprint varied by `temperature`.
fn configuration_of(model: &str, temperature: f64) -> Value {
    let mut configuration = configuration();
    configuration["models"]["primary"]["model"] = json!(model);
    configuration["parameters"]["temperature"] = json!(temperature);
    configuration
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn one_experimenters_slow_runs_do_not_hold_up_anothers(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(30);
    let sim = simulator(&cases, json!({})).await;
    sim.state.set_profile(
        "gpt-slow",
        serde_json::from_value(json!({"latency_median_ms": 400, "latency_p95_ms": 450})).unwrap(),
    );
    let base = app.url("");
    let dataset_id = upload(&app.client, &base, &cases).await;
    // Alice queues two slow runs (12 s each), then Bob one quick one.
    let alice_first = queue_run(
        &app.client,
        &base,
        EXPERIMENTER,
        configuration_of("gpt-slow", 0.1),
        &dataset_id,
        1,
    )
    .await;
    let alice_second = queue_run(
        &app.client,
        &base,
        EXPERIMENTER,
        configuration_of("gpt-slow", 0.2),
        &dataset_id,
        1,
    )
    .await;
    let bob = queue_run(
        &app.client,
        &base,
        OTHER_EXPERIMENTER,
        configuration_of(MODEL, 0.3),
        &dataset_id,
        1,
    )
    .await;
    let worker = Worker::start_with(
        &app,
        &sim,
        WorkerSettings {
            lease: Duration::from_secs(5),
            poll: Duration::from_millis(50),
            runs_at_once: 2,
            ..WorkerSettings::new("replica-a")
        },
    );
    let bobs = wait_for(&app.client, &base, &bob, RunStatus::Finished).await;
    assert_eq!(bobs["metrics"]["cases"], 30);
    // Bob's run took the second slot although Alice's second run is older,
    // and it finished while her first was still going.
    let (first, second) = (
        run_view(&app.client, &base, &alice_first).await,
        run_view(&app.client, &base, &alice_second).await,
    );
    assert_eq!(first["status"], "running", "{first}");
    let started = |view: &Value| view["started_at"].as_str().map(str::to_owned);
    assert!(
        started(&second).is_none_or(|s| s.as_str() >= bobs["finished_at"].as_str().unwrap()),
        "Alice's second run started before Bob's ended: {second} {bobs}"
    );
    for id in [&alice_first, &alice_second] {
        let cancelled = app
            .client
            .post(app.url(&format!("/api/v1/runs/{id}/cancel")))
            .bearer_auth(EXPERIMENTER)
            .send()
            .await
            .unwrap();
        assert_eq!(cancelled.status(), 200);
    }
    worker.stop().await;
    app.finish().await;
}

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_run_past_its_longest_duration_fails_and_keeps_its_evidence(owner: PgPool) {
    let app = TestApp::spawn(owner).await;
    let cases = dataset(30);
    let sim = simulator(
        &cases,
        json!({"latency_median_ms": 200, "latency_p95_ms": 220}),
    )
    .await;
    let worker = Worker::start_with(
        &app,
        &sim,
        WorkerSettings {
            poll: Duration::from_millis(50),
            max_run: Duration::from_secs(2),
            ..WorkerSettings::new("replica-a")
        },
    );
    let base = app.url("");
    let id = start_run(&app.client, &base, &cases, 1).await;
    let view = wait_for(&app.client, &base, &id, RunStatus::Failed).await;
    let error = view["error"].as_str().unwrap();
    assert!(error.contains("longest a run may take (2 s"), "{view}");
    let (done, _) = recorded(&app.owner, &id).await;
    assert!(done > 0 && done < 30, "{done} cases recorded");
    let experiment: Value = app
        .get(
            &format!(
                "/api/v1/experiments/{}",
                view["experiment_id"].as_str().unwrap()
            ),
            EXPERIMENTER,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(experiment["status"], "registered");
    assert_eq!(experiment["readiness"]["cases"], done, "{experiment}");
    worker.stop().await;
    app.finish().await;
}
