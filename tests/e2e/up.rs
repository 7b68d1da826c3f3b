//! `trizone up`: every zone in one process, as a person runs it.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::cli::database_url;

/// Five ports free right now.
fn free_ports() -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..5)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

#[sqlx::test(migrations = false)]
async fn up_serves_every_zone_with_the_tokens_given_and_stops_on_ctrl_c(pool: PgPool) {
    let url = database_url(&pool).await;
    let ports = free_ports();
    let args: Vec<String> = [
        "--v1-port",
        "--v2-port",
        "--v3-port",
        "--gate-port",
        "--sim-port",
    ]
    .iter()
    .zip(&ports)
    .flat_map(|(flag, port)| [flag.to_string(), port.to_string()])
    .collect();
    let up = tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
        .arg("up")
        .args(&args)
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .env("TRIZONE_TOKEN_ADMIN", "e2e-admin")
        .env("TRIZONE_TOKEN_END_USER", "e2e-end-user")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
    for i in 0..4 {
        let mut up_now = false;
        for _ in 0..300 {
            if let Ok(response) = client.get(format!("{}/healthz", base(i))).send().await
                && response.status() == 200
            {
                up_now = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up_now, "{} never answered", base(i));
    }
    let decisions = client
        .get(format!("{}/api/gate/decisions", base(3)))
        .bearer_auth("e2e-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(decisions.status(), 200);
    let refused = client
        .get(format!("{}/api/gate/decisions", base(3)))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let status: Value = client
        .get(format!("{}/api/v2/status", base(1)))
        .bearer_auth("e2e-end-user")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["active"], Value::Null);
    let models: Value = client
        .get(format!("{}/v1/models", base(4)))
        .bearer_auth("sk-any")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(models["data"].is_array(), "{models}");

    let interrupted = tokio::process::Command::new("kill")
        .args(["-INT", &up.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(interrupted.success());
    let output = tokio::time::timeout(Duration::from_secs(30), up.wait_with_output())
        .await
        .expect("trizone up did not stop within 30 s of Ctrl-C")
        .unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!("V2 stable           {}", base(1))),
        "{printed}"
    );
    assert!(
        printed.contains("export TRIZONE_TOKEN_ADMIN=e2e-admin"),
        "{printed}"
    );
    assert!(
        printed.contains("export TRIZONE_TOKEN_SERVICE=tz-service-"),
        "{printed}"
    );
}
