//! `trizone demo` against a running `trizone up`, finding it through the
//! session file alone, as a person in a second terminal does.

use serde_json::Value;
use sqlx::PgPool;

use crate::cli::database_url;
use crate::up::{Shape, Up};

async fn get(base: &str, path: &str, token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `trizone ARGS` with the session file alone, as a second terminal runs it.
async fn from_another_terminal(up: &Up, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
        .args(args)
        .env("TRIZONE_SESSION_FILE", &up.session)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .output()
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn the_demo_promotes_two_quarantines_three_and_rolls_out_step_by_step(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::default()).await;
    let output = from_another_terminal(&up, &["demo"]).await;
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("2 promoted to V2, 3 quarantined in V3"),
        "{printed}"
    );
    assert!(
        printed.contains("`trizone console` and open http://127.0.0.1:8085/"),
        "{printed}"
    );
    // Every run stopped once the judge was certain, well before the end.
    assert_eq!(
        printed
            .lines()
            .filter(|l| l.contains("decided after") && l.contains("of 1000 cases"))
            .count(),
        5,
        "{printed}"
    );

    // What the demo said is what the zones hold.
    let status = get(&up.v2[0], "/api/v2/status", "e2e-end-user-token-9d17c3").await;
    let serving = status["active"]["name"].as_str().unwrap();
    assert!(serving.starts_with("demo-sharper-"), "{status}");
    // The sharper one went through every step; the brittle one was stopped
    // in its canary, and no end user was refused meanwhile (the demo
    // fails if one is).
    for step in [
        "shadow: 20% of requests mirrored",
        "canary: v2 answers 25% of the keys",
        "canary: v2 answers 50% of the keys",
        "v2 serves everyone",
        "canary: v3 answers 25% of the keys",
        "the canary step failed on live traffic; V2 serves v2 alone again",
    ] {
        assert!(printed.contains(step), "{step}\n{printed}");
    }
    let records = get(&up.v3, "/api/v3/records", "e2e-experimenter-token-4a8f").await;
    let mut reasons: Vec<&str> = records["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["accuracy", "canary", "latency"]);
    let experiments = get(&up.v1, "/api/v1/experiments", "e2e-experimenter-token-4a8f").await;
    let reevaluations: Vec<&Value> = experiments["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reevaluation_of"].is_string())
        .collect();
    assert_eq!(reevaluations.len(), 1, "{experiments}");
    assert_eq!(reevaluations[0]["status"], "registered");
    assert!(printed.contains(serving), "{printed}");

    // From a second terminal, with the session file alone: the audit chain
    // verifies through the gate, as an admin, with no database URL.
    let verified = from_another_terminal(&up, &["audit", "verify"]).await;
    let said = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{said}");
    assert!(said.starts_with("audit chain intact: "), "{said}");
    let status = reqwest::Client::new()
        .get(format!("{}/api/gate/audit", up.gate[0]))
        .bearer_auth("e2e-experimenter-token-4a8f")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(
        status.as_u16(),
        403,
        "only admins verify the audit trail through the gate"
    );
}
