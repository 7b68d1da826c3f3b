//! The real `trizone-experiment` binary, killed with SIGKILL mid-run and
//! started again: the run finishes with every case counted once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;
use tokio::process::{Child, Command};
use trizone_http::auth::token_hash_hex;
use trizone_store::runs::RunStatus;

use crate::EXPERIMENTER;
use crate::runs::{dataset, recorded, simulator, start_run, wait_for, wait_until};

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

/// A providers file naming the simulator at `sim`, as an operator writes it,
/// with its key in a file of its own.
fn providers_file(sim: SocketAddr) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trizone-v1-providers-{}", sim.port()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("sim-key");
    std::fs::write(&key, "sk-test\n").unwrap();
    let file = dir.join("providers.yaml");
    std::fs::write(
        &file,
        format!(
            "providers:\n  - name: sim-openai\n    api: openai\n    base_url: http://{sim}/v1\n    key_file: {}\n",
            key.display()
        ),
    )
    .unwrap();
    file
}

async fn start(database_url: &str, address: SocketAddr, replica: &str, sim: SocketAddr) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_trizone-experiment"))
        .env("TRIZONE_V1_LISTEN", address.to_string())
        .env("TRIZONE_V1_DATABASE_URL", database_url)
        .env(
            "TRIZONE_API_KEYS",
            format!("experimenter:{}", token_hash_hex(EXPERIMENTER)),
        )
        .env("TRIZONE_V1_LEASE_SECONDS", "3")
        .env("TRIZONE_V1_REPLICA", replica)
        .env("TRIZONE_PROVIDERS_FILE", providers_file(sim))
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

#[sqlx::test(migrator = "trizone_store::MIGRATOR")]
async fn with_two_services_killing_the_one_holding_a_run_lets_the_other_finish_it(owner: PgPool) {
    let cases = dataset(40);
    let sim = simulator(
        &cases,
        json!({"latency_median_ms": 40, "latency_p95_ms": 60}),
    )
    .await;
    let database_url = v1_database_url(&owner).await;
    let (address_a, address_b) = (free_address(), free_address());
    let mut services = vec![
        (
            "process-a",
            start(&database_url, address_a, "process-a", sim.address).await,
            format!("http://{address_a}"),
        ),
        (
            "process-b",
            start(&database_url, address_b, "process-b", sim.address).await,
            format!("http://{address_b}"),
        ),
    ];
    let client = reqwest::Client::new();
    let id = start_run(&client, &services[0].2, &cases, 2).await;
    wait_until(&client, &services[0].2, &id, |v| {
        v["progress"]["cases_done"].as_i64().unwrap() >= 6
    })
    .await;
    let holder: String = sqlx::query_scalar(
        "SELECT lease_owner FROM experiments_v1.evaluation_runs WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&owner)
    .await
    .unwrap();
    let position = services
        .iter()
        .position(|(name, _, _)| *name == holder)
        .unwrap();
    let (_, mut killed, _) = services.remove(position);
    killed.kill().await.unwrap();
    let (survivor_name, mut survivor, survivor_base) = services.remove(0);
    let view = wait_for(&client, &survivor_base, &id, RunStatus::Finished).await;
    assert_eq!(view["metrics"]["cases"], 40);
    assert_eq!(recorded(&owner, &id).await, (40, 40));
    let finisher: String =
        sqlx::query_scalar("SELECT actor FROM audit.event_log WHERE action = 'run.finished'")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(finisher, format!("worker:{survivor_name}"));
    survivor.kill().await.unwrap();
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
    let mut service = start(&database_url, address, "process-1", sim.address).await;
    let id = start_run(&client, &base, &cases, 2).await;
    wait_until(&client, &base, &id, |v| {
        v["progress"]["cases_done"].as_i64().unwrap() >= 6
    })
    .await;
    service.kill().await.unwrap();
    let (done, _) = recorded(&owner, &id).await;
    assert!((6..40).contains(&done), "{done} cases done when killed");

    let mut service = start(&database_url, address, "process-2", sim.address).await;
    let view = wait_for(&client, &base, &id, RunStatus::Finished).await;
    assert_eq!(view["metrics"]["cases"], 40);
    assert_eq!(recorded(&owner, &id).await, (40, 40));
    service.kill().await.unwrap();
}
