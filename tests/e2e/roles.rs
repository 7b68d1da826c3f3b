//! The role commands against `trizone up`: an experimenter registers,
//! uploads and evaluates; an admin has the gate judge; an end user gets a
//! review from V2 — all through the `trizone` binary.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::cli::database_url;
use crate::lifecycle::Api;
use crate::up::{Shape, TOKENS, Up};

pub(crate) async fn trizone(up: &Up, args: &[&str]) -> Output {
    cli(up, env!("CARGO_BIN_EXE_trizone"))
        .args(args)
        .output()
        .await
        .unwrap()
}

/// `program`, with the environment that points `trizone` at `up`.
pub(crate) fn cli(up: &Up, program: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command
        .env("TRIZONE_V1_URL", &up.v1)
        .env("TRIZONE_V2_URL", &up.v2[0])
        .env("TRIZONE_V3_URL", &up.v3)
        .env("TRIZONE_GATE_URL", &up.gate[0])
        .env("TRIZONE_SESSION_FILE", "/nonexistent/trizone-session.json")
        .env("RUST_LOG", "warn")
        .envs(TOKENS);
    command
}

pub(crate) fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// 300 cases the simulator reviews right: `eval(` flagged, clean code not.
pub(crate) fn dataset(dir: &Path) -> String {
    let lines: Vec<String> = (0..300)
        .map(|i| {
            if i % 2 == 0 {
                json!({"id": format!("c{i}"), "language": "python", "path": format!("m{i}.py"),
                       "code": format!("def f{i}(x):\n    return eval(x)\n"),
                       "expected_findings": [{"line_start": 2, "line_end": 2, "category": "security"}]})
            } else {
                json!({"id": format!("c{i}"), "language": "python", "path": format!("m{i}.py"),
                       "code": format!("def g{i}(x):\n    return x + {i}\n"), "expected_findings": []})
            }
            .to_string()
        })
        .collect();
    let path = dir.join("cases.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.display().to_string()
}

#[sqlx::test(migrations = false)]
async fn each_role_drives_its_part_of_the_lifecycle_through_the_cli(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let dir = std::env::temp_dir().join(format!("trizone-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("reviewer.yaml");
    std::fs::write(
        &config,
        "name: e2e-reviewer\nmodels:\n  primary: { provider: sim-openai, model: gpt-sim, input_per_mtok: 1, output_per_mtok: 2 }\nstrategy: { kind: primary }\nprompt:\n  system: Review carefully.\n  template: \"Review {{path}} ({{language}}):\\n{{code}}\"\nparameters: { max_retries: 0 }\n",
    )
    .unwrap();

    let experiment = json_of(
        &trizone(
            &up,
            &["experiment", "register", config.to_str().unwrap(), "--json"],
        )
        .await,
    );
    let id = experiment["id"].as_str().unwrap().to_owned();
    let cases = dataset(&dir);
    let dataset = json_of(
        &trizone(
            &up,
            &["dataset", "upload", &cases, "--name", "e2e", "--json"],
        )
        .await,
    );
    assert_eq!(dataset["case_count"], 300);
    let run = json_of(
        &trizone(
            &up,
            &[
                "run",
                "start",
                &id,
                "--dataset",
                dataset["id"].as_str().unwrap(),
                "--concurrency",
                "16",
                "--json",
            ],
        )
        .await,
    );
    let finished = json_of(
        &trizone(
            &up,
            &["run", "watch", run["id"].as_str().unwrap(), "--json"],
        )
        .await,
    );
    assert_eq!(finished["status"], "finished", "{finished}");
    // Every answer is right, so the run stops once the judge is certain
    // (226 clean cases show the error rate is under 2%), and the rest of
    // the dataset is never sent.
    assert_eq!(finished["stop_reason"], "decided", "{finished}");
    let done = finished["progress"]["cases_done"].as_i64().unwrap();
    assert_eq!(finished["progress"]["correct"], done);
    assert!(done < 300, "{finished}");
    assert_eq!(finished["cases_not_needed"], 300 - done);

    let decision = json_of(&trizone(&up, &["gate", "judge", &id, "--json"]).await);
    assert_eq!(
        (decision["decision"].as_str(), decision["outcome"].as_str()),
        (Some("pass"), Some("promoting"))
    );
    // Judged again: an error a person can act on, naming the server.
    let again = trizone(&up, &["gate", "judge", &id]).await;
    assert_eq!(again.status.code(), Some(2));
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        said.contains(&format!("the gate at {} answered 409", up.gate[0]))
            && said.contains("already_decided"),
        "{said}"
    );

    let file = dir.join("calc.py");
    std::fs::write(&file, "def calc(e):\n    return eval(e)\n").unwrap();
    let mut review = None;
    for _ in 0..100 {
        let output = trizone(&up, &["review", file.to_str().unwrap()]).await;
        if output.status.success() {
            review = Some(String::from_utf8_lossy(&output.stdout).into_owned());
            break;
        }
        // The saga is still enabling the configuration.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let review = review.expect("V2 never served the promoted configuration");
    assert!(
        review.contains("calc.py:2-2 [") && review.contains("security"),
        "{review}"
    );
    assert!(review.contains("   2 |     return eval(e)"), "{review}");
    crate::diff_review::an_end_user_reviews_a_pull_request(&up, &dir).await;

    let records = json_of(&trizone(&up, &["quarantine", "list", "--json"]).await);
    assert_eq!(records["records"], json!([]));
    let listed = trizone(&up, &["experiment", "list"]).await;
    assert!(String::from_utf8_lossy(&listed.stdout).contains("promoted"));

    // A model whose answers are cut off: it fails, and an admin has it re-evaluated.
    let garbled = reqwest::Client::new()
        .put(format!("{}/control/profiles/gpt-garbled", up.sim))
        .bearer_auth("e2e-admin-token-5b2e4680c1")
        .json(&json!({"errors": {"truncated": 1.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 200);
    let second = dir.join("garbled.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&second, text.replace("gpt-sim", "gpt-garbled")).unwrap();
    let experiment = json_of(
        &trizone(
            &up,
            &["experiment", "register", second.to_str().unwrap(), "--json"],
        )
        .await,
    );
    let garbled_id = experiment["id"].as_str().unwrap();
    let run = json_of(
        &trizone(
            &up,
            &[
                "run",
                "start",
                garbled_id,
                "--dataset",
                dataset["id"].as_str().unwrap(),
                "--json",
            ],
        )
        .await,
    );
    json_of(
        &trizone(
            &up,
            &["run", "watch", run["id"].as_str().unwrap(), "--json"],
        )
        .await,
    );
    // The experimenter sees why, case by case.
    let run_id = run["id"].as_str().unwrap();
    let failed = trizone(&up, &["run", "cases", run_id, "--failed"]).await;
    assert!(failed.status.success(), "{failed:?}");
    let failed = String::from_utf8_lossy(&failed.stdout);
    assert!(
        failed.contains("  error  ")
            && failed.contains(
                "error    malformed: sim-openai/gpt-garbled: the answer was truncated at max_tokens"
            ),
        "{failed}"
    );
    let lines = trizone(&up, &["run", "cases", run_id, "--jsonl"]).await;
    let lines = String::from_utf8_lossy(&lines.stdout);
    let cases: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!cases.is_empty());
    // Every case it reviewed failed; the judge needed no more than those.
    assert!(cases.iter().any(|c| c["outcome"] == "error"), "{lines}");
    assert!(
        cases
            .iter()
            .all(|c| c["outcome"] == "error" || c["outcome"] == "not_needed"),
        "{lines}"
    );
    let judged = trizone(&up, &["gate", "judge", garbled_id]).await;
    let judged = String::from_utf8_lossy(&judged.stdout);
    assert!(judged.starts_with("fail -> quarantined"), "{judged}");
    let records = json_of(&trizone(&up, &["quarantine", "list", "--json"]).await);
    let record = records["records"][0]["id"].as_str().unwrap();
    let shown = trizone(&up, &["quarantine", "show", record]).await;
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("quarantined for accuracy")
            && shown.contains("error_rate: error rate 100% over")
            && shown.contains("so it is not at most 2%")
            && shown.contains("re-evaluation eligible: true"),
        "{shown}"
    );
    let again = json_of(
        &trizone(
            &up,
            &[
                "quarantine",
                "reevaluate",
                record,
                "--owner",
                "bob",
                "--json",
            ],
        )
        .await,
    );
    assert_eq!(
        (&again["reevaluation_of"], &again["owner"], &again["status"]),
        (&json!(record), &json!("bob"), &json!("registered"))
    );
    assert_eq!(again["fingerprint"], experiment["fingerprint"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[sqlx::test(migrations = false)]
async fn run_watch_exits_1_when_the_run_did_not_finish(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let api = Api {
        up: &up,
        http: reqwest::Client::new(),
    };
    // Each review takes 3 s, so the run is still going when it is cancelled.
    api.simulate(
        "e2e-slow",
        json!({"latency_median_ms": 3000.0, "latency_p95_ms": 3000.0}),
    )
    .await;
    let (status, experiment) = api.register(&api.configuration("slow", "e2e-slow")).await;
    assert_eq!(status, 201, "{experiment}");
    let dir = std::env::temp_dir().join(format!("trizone-e2e-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = dataset(&dir);
    let dataset = json_of(
        &trizone(
            &up,
            &["dataset", "upload", &cases, "--name", "slow", "--json"],
        )
        .await,
    );
    let run = json_of(
        &trizone(
            &up,
            &[
                "run",
                "start",
                experiment["id"].as_str().unwrap(),
                "--dataset",
                dataset["id"].as_str().unwrap(),
                "--concurrency",
                "1",
                "--json",
            ],
        )
        .await,
    );
    let run = run["id"].as_str().unwrap();
    let (status, cancelled) = api
        .post(
            &format!("{}/api/v1/runs/{run}/cancel", up.v1),
            crate::lifecycle::EXPERIMENTER,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let watched = trizone(&up, &["run", "watch", run]).await;
    assert_eq!(watched.status.code(), Some(1));
    let printed = String::from_utf8_lossy(&watched.stdout);
    assert!(
        printed.contains(&format!("run {run} cancelled")),
        "{printed}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
