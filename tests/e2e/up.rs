//! `trizone up`: every zone in one process, as a person runs it.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::cli::database_url;

/// The tokens the platform under test is started with.
pub const TOKENS: [(&str, &str); 4] = [
    ("TRIZONE_TOKEN_ADMIN", "e2e-admin"),
    ("TRIZONE_TOKEN_END_USER", "e2e-end-user"),
    ("TRIZONE_TOKEN_EXPERIMENTER", "e2e-experimenter"),
    ("TRIZONE_TOKEN_SERVICE", "e2e-service"),
];

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

/// `trizone up` on free ports, ready: V1, V2, V3, gate, simulator.
pub struct Up {
    pub ports: Vec<u16>,
    pub process: tokio::process::Child,
}

impl Up {
    pub async fn start(url: &str, schedule: &str) -> Self {
        let ports = free_ports();
        let flags = [
            "--v1-port",
            "--v2-port",
            "--v3-port",
            "--gate-port",
            "--sim-port",
        ];
        let args: Vec<String> = flags
            .iter()
            .zip(&ports)
            .flat_map(|(flag, port)| [flag.to_string(), port.to_string()])
            .collect();
        let process = tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
            .arg("up")
            .args(&args)
            .args(["--schedule", schedule])
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .envs(TOKENS)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let client = reqwest::Client::new();
        for port in &ports[..4] {
            let mut ready = false;
            for _ in 0..300 {
                if let Ok(response) = client
                    .get(format!("http://127.0.0.1:{port}/healthz"))
                    .send()
                    .await
                    && response.status() == 200
                {
                    ready = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ready, "port {port} never answered");
        }
        Self { ports, process }
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }
}

#[sqlx::test(migrations = false)]
async fn up_serves_every_zone_with_the_tokens_given_and_stops_on_ctrl_c(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, "*/10 * * * * *").await;
    let client = reqwest::Client::new();
    let get = |i: usize, path: &str, token: &str| {
        client
            .get(format!("{}{path}", up.url(i)))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(
        get(3, "/api/gate/decisions", "e2e-admin")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(3, "/api/gate/decisions", "not-a-token")
            .await
            .unwrap()
            .status(),
        401
    );
    let status: Value = get(1, "/api/v2/status", "e2e-end-user")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["active"], Value::Null);
    let models: Value = get(4, "/v1/models", "sk-any")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(models["data"].is_array(), "{models}");
    let v2 = up.url(1);

    let interrupted = tokio::process::Command::new("kill")
        .args(["-INT", &up.process.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(interrupted.success());
    let output = tokio::time::timeout(Duration::from_secs(30), up.process.wait_with_output())
        .await
        .expect("trizone up did not stop within 30 s of Ctrl-C")
        .unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains(&format!("V2 stable           {v2}")),
        "{printed}"
    );
    assert!(
        printed.contains("export TRIZONE_TOKEN_ADMIN=e2e-admin"),
        "{printed}"
    );
    assert!(
        printed.contains("export TRIZONE_TOKEN_SERVICE=e2e-service"),
        "{printed}"
    );
}
