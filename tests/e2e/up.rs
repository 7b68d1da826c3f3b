//! `trizone up`: every zone in one process, as a person runs it.

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use crate::cli::database_url;

/// The tokens the platform under test is started with.
pub const TOKENS: [(&str, &str); 6] = [
    ("TRIZONE_TOKEN_ADMIN", "e2e-admin-token-5b2e4680c1"),
    ("TRIZONE_TOKEN_END_USER", "e2e-end-user-token-9d17c3"),
    ("TRIZONE_TOKEN_EXPERIMENTER", "e2e-experimenter-token-4a8f"),
    ("TRIZONE_TOKEN_GATE", "e2e-gate-token-1e5a7c30b2"),
    (
        "TRIZONE_TOKEN_EXPERIMENTATION",
        "e2e-experimentation-token-6f",
    ),
    ("TRIZONE_TOKEN_SCRAPER", "e2e-scraper-token-0c6b2d91"),
];

/// `n` ports free right now.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

fn joined(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What to start.
pub struct Shape<'a> {
    pub schedule: &'a str,
    pub v2_replicas: usize,
    pub gate_replicas: usize,
    /// Extra environment for the zones (their `TRIZONE_*` settings).
    pub env: &'a [(&'a str, &'a str)],
}

impl Default for Shape<'_> {
    fn default() -> Self {
        Self {
            schedule: "*/10 * * * * *",
            v2_replicas: 1,
            gate_replicas: 1,
            env: &[],
        }
    }
}

impl Shape<'_> {
    /// The gate judges only when asked (its schedule never fires), so a test
    /// sees every decision it asks for.
    pub fn on_request() -> Self {
        Self {
            schedule: "0 0 0 1 1 *",
            ..Self::default()
        }
    }
}

/// `trizone up` on free ports, every zone ready.
pub struct Up {
    pub v1: String,
    pub v2: Vec<String>,
    pub v3: String,
    pub gate: Vec<String>,
    pub sim: String,
    /// The session file it writes, private to this test.
    pub session: std::path::PathBuf,
    pub process: tokio::process::Child,
    /// Everything it printed so far. Its stdout is read all along: left
    /// unread, the pipe fills with its logs and every zone blocks writing
    /// (under load, slow-query warnings filled it within a minute).
    printed: std::sync::Arc<std::sync::Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Up {
    pub async fn start(url: &str, shape: Shape<'_>) -> Self {
        let ports = free_ports(3 + shape.v2_replicas + shape.gate_replicas);
        let (v1, rest) = (ports[0], &ports[1..]);
        let (v2, rest) = rest.split_at(shape.v2_replicas);
        let (gate, rest) = rest.split_at(shape.gate_replicas);
        let (v3, sim) = (rest[0], rest[1]);
        let session =
            std::env::temp_dir().join(format!("trizone-session-{}.json", uuid::Uuid::new_v4()));
        let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
            .arg("up")
            .args(["--v1-port", &v1.to_string(), "--v2-port", &joined(v2)])
            .args(["--v3-port", &v3.to_string(), "--gate-port", &joined(gate)])
            .args(["--sim-port", &sim.to_string(), "--schedule", shape.schedule])
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .env("TRIZONE_SESSION_FILE", &session)
            .envs(TOKENS)
            .envs(shape.env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let printed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let reader = {
            let mut stdout = process.stdout.take().unwrap();
            let printed = printed.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut chunk = vec![0u8; 16 * 1024];
                while let Ok(n @ 1..) = stdout.read(&mut chunk).await {
                    printed
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&chunk[..n]));
                }
            })
        };
        let url = |port: &u16| format!("http://127.0.0.1:{port}");
        let up = Self {
            v1: url(&v1),
            v2: v2.iter().map(url).collect(),
            v3: url(&v3),
            gate: gate.iter().map(url).collect(),
            sim: url(&sim),
            session,
            process,
            printed,
            reader,
        };
        let client = reqwest::Client::new();
        for base in up.v2.iter().chain(&up.gate).chain([&up.v1, &up.v3]) {
            let mut ready = false;
            for _ in 0..300 {
                if let Ok(response) = client.get(format!("{base}/healthz")).send().await
                    && response.status() == 200
                {
                    ready = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(ready, "{base} never answered");
        }
        up
    }

    /// What it printed, once it has stopped and its stdout is closed.
    pub async fn printed(self) -> String {
        let _ = self.reader.await;
        let printed = self.printed.lock().unwrap();
        printed.clone()
    }

    /// Stops it as Ctrl-C does (every zone drains and writes what it
    /// holds), within 30 s.
    pub async fn stop(mut self) {
        let interrupted = tokio::process::Command::new("kill")
            .args(["-INT", &self.process.id().unwrap().to_string()])
            .status()
            .await
            .unwrap();
        assert!(interrupted.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.process.wait())
            .await
            .unwrap_or_else(|_| panic!("trizone up did not stop within 30 s of Ctrl-C"))
            .unwrap();
        assert!(status.success(), "{status:?}");
    }
}

#[sqlx::test(migrations = false)]
async fn up_serves_every_zone_with_the_tokens_given_and_stops_on_ctrl_c(pool: PgPool) {
    let url = database_url(&pool).await;
    let mut up = Up::start(&url, Shape::default()).await;
    let bases = [&up.v1, &up.v2[0], &up.v3, &up.gate[0], &up.sim];
    let client = reqwest::Client::new();
    let get = |i: usize, path: &str, token: &str| {
        client
            .get(format!("{}{path}", bases[i]))
            .bearer_auth(token.to_owned())
            .send()
    };
    assert_eq!(
        get(3, "/api/gate/decisions", "e2e-admin-token-5b2e4680c1")
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
    let status: Value = get(1, "/api/v2/status", "e2e-end-user-token-9d17c3")
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
    let v2 = up.v2[0].clone();
    let sim = up.sim.clone();
    let saved: Value = serde_json::from_slice(&std::fs::read(&up.session).unwrap()).unwrap();
    assert_eq!(saved["v1_url"], up.v1.as_str());
    assert_eq!(saved["tokens"]["admin"], "e2e-admin-token-5b2e4680c1");
    let session = up.session.clone();

    let interrupted = tokio::process::Command::new("kill")
        .args(["-INT", &up.process.id().unwrap().to_string()])
        .status()
        .await
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::time::timeout(Duration::from_secs(30), up.process.wait())
        .await
        .expect("trizone up did not stop within 30 s of Ctrl-C")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!session.exists(), "the session file outlived the platform");
    let printed = up.printed().await;
    assert!(
        printed.contains(&format!("V2 stable           {v2}")),
        "{printed}"
    );
    assert!(
        printed.contains("export TRIZONE_TOKEN_ADMIN=e2e-admin-token-5b2e4680c1"),
        "{printed}"
    );
    // The simulator is listed as the providers configurations may name.
    assert!(
        printed.contains(&format!("sim-openai          OpenAI API at {sim}/v1")),
        "{printed}"
    );
    assert!(
        printed.contains("export TRIZONE_TOKEN_GATE=e2e-gate-token-1e5a7c30b2"),
        "{printed}"
    );
}

#[sqlx::test(migrations = false)]
async fn each_zone_knows_only_the_keys_it_checks(pool: PgPool) {
    let url = database_url(&pool).await;
    let up = Up::start(&url, Shape::default()).await;
    let client = reqwest::Client::new();
    let status = |base: &str, path: &str, token: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(token.to_owned())
            .send()
    };
    // The internet-facing V2 holds no experimenter's key and no V1 key: a
    // stolen V2 pod yields no hash of theirs. V1 holds no end user's key.
    for (base, path, token, expected) in [
        (
            &up.v2[0],
            "/api/v2/status",
            "e2e-end-user-token-9d17c3",
            200,
        ),
        (
            &up.v2[0],
            "/api/v2/status",
            "e2e-experimenter-token-4a8f",
            401,
        ),
        (
            &up.v2[0],
            "/api/v2/status",
            "e2e-experimentation-token-6f",
            401,
        ),
        (
            &up.v1,
            "/api/v1/experiments",
            "e2e-end-user-token-9d17c3",
            401,
        ),
        (
            &up.v1,
            "/api/v1/experiments",
            "e2e-experimenter-token-4a8f",
            200,
        ),
        (&up.v3, "/api/v3/records", "e2e-gate-token-1e5a7c30b2", 401),
        (&up.v3, "/metrics", "e2e-scraper-token-0c6b2d91", 200),
    ] {
        let response = status(base, path, token).await.unwrap();
        assert_eq!(response.status(), expected, "{token} on {base}{path}");
    }
    up.stop().await;
}

#[test]
fn up_refuses_a_short_token() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_trizone"))
        .args(["up", "--v1-port", "1"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1/nowhere")
        .envs(TOKENS)
        .env("TRIZONE_TOKEN_ADMIN", "admin")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TRIZONE_TOKEN_ADMIN is 5 characters: a token needs at least 24"),
        "{stderr}"
    );
}
