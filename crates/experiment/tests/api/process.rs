//! The real `trizone-experiment` binary, killed with SIGKILL mid-run and
//! started again: the run finishes with every case counted once.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::process::{Child, Command};
use trizone_http::auth::token_hash_hex;

use crate::EXPERIMENTER;
use crate::runs::{configuration, dataset, simulator};

/// The test database's URL, logging in as the experiment role.
async fn v1_database_url(owner: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(owner)
        .await
        .unwrap();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    url.set_path(&name);
    url.set_username("trizone_experiment").unwrap();
    url.set_password(None).unwrap();
    url.to_string()
}

fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

async fn start(database_url: &str, address: SocketAddr, replica: &str) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_trizone-experiment"))
        .env("TRIZONE_V1_LISTEN", address.to_string())
        .env("TRIZONE_V1_DATABASE_URL", database_url)
        .env(
            "TRIZONE_API_KEYS",
            format!("experimenter:{}", token_hash_hex(EXPERIMENTER)),
        )
        .env("TRIZONE_V1_LEASE_SECONDS", "3")
        .env("TRIZONE_V1_REPLICA", replica)
        .env("OPENAI_API_KEY", "sk-test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("trizone-experiment did not come up on {address}");
}

async fn run_view(client: &reqwest::Client, base: &str, id: &str) -> Value {
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

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn a_killed_service_restarted_finishes_the_run_counting_each_case_once(owner: PgPool) {
    let cases = dataset(40);
    let sim = simulator(
        &cases,
        json!({"latency_median_ms": 40, "latency_p95_ms": 60}),
    )
    .await;
    let database_url = v1_database_url(&owner).await;
    let address = free_address();
    let base = format!("http://{address}");
    let client = reqwest::Client::new();
    let mut service = start(&database_url, address, "process-1").await;

    let dataset: Value = client
        .post(format!("{base}/api/v1/datasets?name=sim"))
        .bearer_auth(EXPERIMENTER)
        .body(cases)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let registration = json!({"owner": "alice", "configuration": configuration(&sim)});
    let experiment: Value = client
        .post(format!("{base}/api/v1/experiments"))
        .bearer_auth(EXPERIMENTER)
        .json(&registration)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run: Value = client
        .post(format!(
            "{base}/api/v1/experiments/{}/runs",
            experiment["id"].as_str().unwrap()
        ))
        .bearer_auth(EXPERIMENTER)
        .json(&json!({"dataset_id": dataset["id"], "concurrency": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = run["id"].as_str().unwrap().to_owned();

    for _ in 0..400 {
        if run_view(&client, &base, &id).await["progress"]["cases_done"]
            .as_i64()
            .unwrap()
            >= 6
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    service.kill().await.unwrap();
    let done: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM experiments_v1.code_analyses WHERE run_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!((6..40).contains(&done), "{done} cases done when killed");

    let mut service = start(&database_url, address, "process-2").await;
    let mut view = Value::Null;
    for _ in 0..600 {
        view = run_view(&client, &base, &id).await;
        if view["status"] == "finished" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(view["status"], "finished", "{view}");
    assert_eq!(view["metrics"]["cases"], 40);
    let (rows, distinct): (i64, i64) = sqlx::query_as("SELECT count(*), count(DISTINCT case_id) FROM experiments_v1.code_analyses WHERE run_id = $1::uuid")
        .bind(&id)
        .fetch_one(&owner)
        .await
        .unwrap();
    assert_eq!((rows, distinct), (40, 40));
    service.kill().await.unwrap();
}
