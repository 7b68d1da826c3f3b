//! An admin's rollout through the CLI against `trizone up`: a plan set
//! from a file, a second promotion that shadows beside the first, and the
//! admin's moves on it.

use std::path::Path;

use serde_json::Value;
use sqlx::PgPool;

use crate::cli::database_url;
use crate::roles::{dataset, json_of, trizone};
use crate::up::{Shape, Up};

/// Registers `temperature`'s configuration, evaluates it and has the gate
/// judge it; returns the decision.
async fn evaluate_and_judge(up: &Up, dir: &Path, dataset: &str, temperature: f64) -> Value {
    let config = dir.join(format!("reviewer-{temperature}.yaml"));
    std::fs::write(
        &config,
        format!("name: rollout-{temperature}\nmodels:\n  primary: {{ provider: sim-openai, model: gpt-sim, input_per_mtok: 1, output_per_mtok: 2 }}\nstrategy: {{ kind: primary }}\nprompt:\n  system: Review carefully.\n  template: \"Review {{{{path}}}} ({{{{language}}}}):\\n{{{{code}}}}\"\nparameters: {{ max_retries: 0, temperature: {temperature} }}\n"),
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
                dataset,
                "--concurrency",
                "16",
                "--json",
            ],
        )
        .await,
    );
    json_of(&trizone(up, &["run", "watch", run["id"].as_str().unwrap(), "--json"]).await);
    json_of(&trizone(up, &["gate", "judge", &id, "--json"]).await)
}

#[sqlx::test(migrations = false)]
async fn an_admin_sets_a_plan_and_moves_the_rollout_through_the_cli(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::on_request()).await;
    let dir = std::env::temp_dir().join(format!("trizone-rollout-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = dataset(&dir);
    let uploaded = json_of(
        &trizone(
            &up,
            &["dataset", "upload", &cases, "--name", "rollout", "--json"],
        )
        .await,
    );
    let dataset_id = uploaded["id"].as_str().unwrap().to_owned();

    // The first promotion has nothing to be compared with: it serves at once.
    let first = evaluate_and_judge(&up, &dir, &dataset_id, 0.0).await;
    assert_eq!(first["outcome"], "promoting");

    let plan = dir.join("plan.yaml");
    std::fs::write(
        &plan,
        "shadow_sample: 0.5\nmin_requests: 20\nmin_agreement: 0.8\nsteps: [25, 100]\n",
    )
    .unwrap();
    let set = trizone(&up, &["gate", "rollout", "plan", plan.to_str().unwrap()]).await;
    let said = String::from_utf8_lossy(&set.stdout);
    assert!(
        said.starts_with("on: shadow 50% of requests, then 25% → 100%"),
        "{said}{}",
        String::from_utf8_lossy(&set.stderr)
    );
    std::fs::write(
        &plan,
        "shadow_sample: 0.5\nmin_requests: 20\nmin_agreement: 0.8\nsteps: [25, 90]\n",
    )
    .unwrap();
    let refused = trizone(&up, &["gate", "rollout", "plan", plan.to_str().unwrap()]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("steps[1]"));

    let second = evaluate_and_judge(&up, &dir, &dataset_id, 0.5).await;
    assert_eq!(second["outcome"], "promoting");
    // The saga starts the rollout on its next pass.
    let mut status = String::new();
    for _ in 0..100 {
        status =
            String::from_utf8_lossy(&trizone(&up, &["gate", "rollout", "status"]).await.stdout)
                .into_owned();
        if status.contains(" in shadow beside deployment ") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        status.contains("50% of requests mirrored to it"),
        "{status}"
    );
    assert!(status.contains("  error_rate "), "{status}");

    let paused = trizone(&up, &["gate", "rollout", "pause"]).await;
    let paused = String::from_utf8_lossy(&paused.stdout);
    assert!(
        paused.starts_with("rollout paused") && paused.contains("(paused)"),
        "{paused}"
    );
    let resumed = trizone(&up, &["gate", "rollout", "resume"]).await;
    assert!(String::from_utf8_lossy(&resumed.stdout).starts_with("rollout resumed"));
    let aborted = trizone(&up, &["gate", "rollout", "abort"]).await;
    assert!(
        String::from_utf8_lossy(&aborted.stdout)
            .starts_with("rollout aborted: the stable configuration serves everyone")
    );
    let none = trizone(&up, &["gate", "rollout", "promote"]).await;
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no_rollout"));
    let status = trizone(&up, &["gate", "rollout", "status"]).await;
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("no rollout in progress"));
    up.stop().await;
}
