//! The console in a real browser: `trizone up`, a configuration evaluated
//! and judged through the CLI, `trizone console`, then the journeys in
//! `tests/browser/journeys.mjs` in Debian's Chromium (scripts/test
//! installs it and the npm packages).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::cli::database_url;
use crate::roles::{json_of, trizone};
use crate::up::{Shape, TOKENS, Up, free_ports};

fn token(role: &str) -> &'static str {
    TOKENS
        .iter()
        .find(|(name, _)| *name == format!("TRIZONE_TOKEN_{role}"))
        .map(|(_, token)| *token)
        .unwrap()
}

/// 300 cases, half of which a careful model gets wrong: `eval(` on code
/// whose dataset says nothing is wrong, a finding it counts as false.
fn half_wrong(dir: &Path) -> String {
    let lines: Vec<String> = (0..300)
        .map(|i| {
            let expected = if i % 2 == 0 {
                json!([{"line_start": 2, "line_end": 2, "category": "security"}])
            } else {
                json!([])
            };
            json!({"id": format!("c{i:03}"), "language": "python", "path": format!("m{i}.py"),
                   "code": format!("def f{i}(x):\n    return eval(x)\n"), "expected_findings": expected})
            .to_string()
        })
        .collect();
    let path = dir.join("half-wrong.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.display().to_string()
}

const FLAGGER: &str = "models:\n  primary: { provider: sim-openai, model: gpt-sim, input_per_mtok: 1, output_per_mtok: 2 }\nstrategy: { kind: primary }\nprompt:\n  system: Review carefully.\n  template: \"Review {{path}} ({{language}}):\\n{{code}}\"\n";

/// Registers the flagger as `name` (its temperature makes its fingerprint)
/// and evaluates it on `dataset` until the judge is certain; its id.
async fn evaluated(up: &Up, dir: &Path, name: &str, temperature: f64, dataset: &str) -> String {
    let config = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "name: {name}\n{FLAGGER}parameters: {{ max_retries: 0, temperature: {temperature} }}\n"
        ),
    )
    .unwrap();
    let experiment = json_of(
        &trizone(
            up,
            &["experiment", "register", config.to_str().unwrap(), "--json"],
        )
        .await,
    );
    let id = experiment["id"].as_str().unwrap().to_owned();
    let run = json_of(&trizone(up, &["run", "start", &id, "--dataset", dataset, "--json"]).await);
    let finished =
        json_of(&trizone(up, &["run", "watch", run["id"].as_str().unwrap(), "--json"]).await);
    assert_eq!(finished["status"], "finished", "{finished}");
    id
}

/// Two configurations evaluated on the same half-wrong dataset, the first
/// failed by the gate and quarantined; their ids.
async fn two_experiments(up: &Up, dir: &Path) -> (String, String) {
    let cases = half_wrong(dir);
    let dataset = json_of(
        &trizone(
            up,
            &[
                "dataset",
                "upload",
                &cases,
                "--name",
                "half-wrong",
                "--json",
            ],
        )
        .await,
    );
    let dataset = dataset["id"].as_str().unwrap();
    let first = evaluated(up, dir, "e2e-flagger", 0.0, dataset).await;
    let decision = json_of(&trizone(up, &["gate", "judge", &first, "--json"]).await);
    assert_eq!(decision["decision"], "fail", "{decision}");
    let second = evaluated(up, dir, "e2e-flagger-warm", 0.3, dataset).await;
    (first, second)
}

/// An experiment whose first run was cancelled after a few cases: its
/// evidence is inconclusive and its dataset has cases left. Its model
/// answers in 100 ms, so a run of it lasts long enough to be watched.
async fn inconclusive_experiment(up: &Up, dir: &Path) -> String {
    let profile = reqwest::Client::new()
        .put(format!("{}/control/profiles/slow-sim", up.sim))
        .bearer_auth(token("ADMIN"))
        .json(&json!({"latency_median_ms": 100.0, "latency_p95_ms": 120.0}))
        .send()
        .await
        .unwrap();
    assert!(profile.status().is_success(), "{}", profile.status());
    let cases = crate::roles::dataset(dir);
    let dataset = json_of(
        &trizone(
            up,
            &["dataset", "upload", &cases, "--name", "all-right", "--json"],
        )
        .await,
    );
    let config = dir.join("slow.yaml");
    let flagger = FLAGGER.replace("gpt-sim", "slow-sim");
    std::fs::write(
        &config,
        format!("name: e2e-slow\n{flagger}parameters: {{ max_retries: 0, timeout_ms: 5000 }}\n"),
    )
    .unwrap();
    let experiment = json_of(
        &trizone(
            up,
            &["experiment", "register", config.to_str().unwrap(), "--json"],
        )
        .await,
    );
    let id = experiment["id"].as_str().unwrap().to_owned();
    let run = json_of(
        &trizone(
            up,
            &[
                "run",
                "start",
                &id,
                "--dataset",
                dataset["id"].as_str().unwrap(),
                "--concurrency",
                "1",
                "--json",
            ],
        )
        .await,
    );
    let run = run["id"].as_str().unwrap().to_owned();
    // A few cases, then cancelled (bounded: 30 s of polling at most).
    let client = reqwest::Client::new();
    for _ in 0..300 {
        let seen: serde_json::Value = client
            .get(format!("{}/api/v1/runs/{run}", up.v1))
            .bearer_auth(token("EXPERIMENTER"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if seen["progress"]["cases_done"].as_i64().unwrap_or(0) >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancelled = trizone(up, &["run", "cancel", &run]).await;
    assert!(
        cancelled.status.success(),
        "{}",
        String::from_utf8_lossy(&cancelled.stderr)
    );
    id
}

/// `trizone console` on a free port, ready.
async fn console(up: &Up) -> (tokio::process::Child, String) {
    let port = free_ports(1)[0];
    let child = crate::roles::cli(up, env!("CARGO_BIN_EXE_trizone"))
        .args(["console", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{url}/healthz"))
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the console did not come up on {url}");
}

fn browser_tests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[sqlx::test(migrations = false)]
async fn journeys_in_a_real_browser(pool: PgPool) {
    let browser = browser_tests();
    assert!(
        browser.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").exists(),
        "the browser tests need Debian's chromium and `npm ci` in tests/browser: scripts/test installs both"
    );
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let dir = std::env::temp_dir().join(format!("trizone-console-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = two_experiments(&up, &dir).await;
    let inconclusive = inconclusive_experiment(&up, &dir).await;
    let compared: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/experiments/{a}/compare/{b}", up.v1))
        .bearer_auth(token("EXPERIMENTER"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(compared["shared_cases"].as_u64().unwrap() > 0, "{compared}");
    // The CLI says the same.
    let printed = trizone(&up, &["experiment", "compare", &a, &b]).await;
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains(&format!(
            "{} cases evaluated for both",
            compared["shared_cases"]
        )),
        "{printed}"
    );
    let (_console, console_url) = console(&up).await;
    let screenshots = std::env::var("TRIZONE_SCREENSHOTS")
        .map_or_else(|_| dir.join("screenshots"), PathBuf::from);
    let output = tokio::process::Command::new("node")
        .arg(browser.join("journeys.mjs"))
        .current_dir(&browser)
        .env("CONSOLE_URL", &console_url)
        .env("EXPERIMENTER_TOKEN", token("EXPERIMENTER"))
        .env("ADMIN_TOKEN", token("ADMIN"))
        .env("SCREENSHOTS", &screenshots)
        .env("EXTEND_EXPERIMENT", &inconclusive)
        .env("COMPARE_A", &a)
        .env("COMPARE_B", &b)
        .env("COMPARE_EXPECTED", compared["agreement"].to_string())
        .output()
        .await
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("ok experimenterOpensAWrongCase"),
        "{printed}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
