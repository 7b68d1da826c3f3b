//! The V1 service over HTTP against a real PostgreSQL, logged in as its own role.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test loudly when set-up breaks"
)]

mod contract;
mod datasets;
mod experiments;
mod process;
mod register;
mod runs;

use std::net::SocketAddr;

use serde_json::Value;
use sqlx::PgPool;
use trizone_core::ProviderName;
use trizone_http::layers::Limits;
use trizone_http::{KeyStore, Role};
use trizone_router::{Api, ProviderInfo};
use trizone_store::DbRole;
/// `EXPERIMENTER` is Alice's key: the registrations here are hers.
pub use trizone_testkit::{ADMIN, END_USER, EXPERIMENTER};
use trizone_testkit::{SIM_ANTHROPIC, SIM_OPENAI, Served};

/// Another experimenter's key, Bob's.
pub const OTHER_EXPERIMENTER: &str = "other-experimenter-token";

#[derive(Debug)]
pub struct TestApp {
    pub address: SocketAddr,
    pub client: reqwest::Client,
    /// The owner's pool, for arranging what V1 itself cannot write.
    pub owner: PgPool,
    /// V1's own pool, as the experiment role.
    db: PgPool,
    pub state: trizone_experiment::AppState,
    server: Option<Served>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Connections left open make the test database's DROP wait 5 s and
        // fail, leaking the database: every test must end with `finish`.
        assert!(
            self.server.is_none() || std::thread::panicking(),
            "end the test with `app.finish().await`"
        );
    }
}

/// What the tests' operator offers: the public providers the registration
/// examples name (OpenAI's with its models listed), and the simulator the
/// runs use.
pub fn catalog() -> trizone_router::Catalog {
    let names = [
        ("anthropic", Api::Anthropic),
        ("openai", Api::Openai),
        (SIM_ANTHROPIC, Api::Anthropic),
        (SIM_OPENAI, Api::Openai),
    ];
    trizone_router::Catalog::new(names.map(|(name, api)| ProviderInfo {
        name: ProviderName::parse(name).unwrap(),
        api,
        models: (name == "openai").then(|| vec!["gpt-4o".to_owned(), "gpt-4o-mini".to_owned()]),
    }))
}

impl TestApp {
    pub async fn spawn(owner: PgPool) -> Self {
        Self::spawn_with(owner, trizone_experiment::datasets::UploadLimits::default()).await
    }

    pub async fn spawn_with(
        owner: PgPool,
        upload_limits: trizone_experiment::datasets::UploadLimits,
    ) -> Self {
        trizone_http::telemetry::init_for_test();
        let db = trizone_store::connect_as(&owner.connect_options(), DbRole::Experiment, 4)
            .await
            .unwrap();
        let keys = KeyStore::from_named_tokens([
            (Role::Experimenter, "alice", EXPERIMENTER),
            (Role::Experimenter, "bob", OTHER_EXPERIMENTER),
            (Role::EndUser, "end-user", END_USER),
            (Role::Admin, "admin", ADMIN),
        ]);
        let mut state = trizone_experiment::state_with(db.clone(), keys, catalog()).unwrap();
        state.upload_limits = upload_limits;
        let app = trizone_experiment::router(state.clone(), Limits::default());
        let server = trizone_testkit::serve(app).await;
        Self {
            address: server.address,
            client: reqwest::Client::new(),
            owner,
            db,
            state,
            server: Some(server),
        }
    }

    /// Stops the server and closes V1's pool, so the test database can go.
    pub async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        self.db.close().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// Posts a registration as JSON (or YAML when `yaml`), as an experimenter.
    pub async fn register(&self, body: String, yaml: bool) -> reqwest::Response {
        let content_type = if yaml {
            "application/yaml"
        } else {
            "application/json"
        };
        self.client
            .post(self.url("/api/v1/experiments"))
            .bearer_auth(EXPERIMENTER)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(self.client.get(self.url(path)), token).await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.send(self.client.post(self.url(path)).json(body), token)
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(self.client.delete(self.url(path)), token).await
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: &str) -> reqwest::Response {
        request.bearer_auth(token).send().await.unwrap()
    }
}

/// A registration document in JSON, with `temperature` to vary the fingerprint.
pub fn registration(name: &str, temperature: f64) -> String {
    serde_json::json!({
        "owner": "alice",
        "description": "strict reviewer",
        "configuration": {
            "name": name,
            "models": {
                "primary": {"provider": "openai", "model": "gpt-4o", "input_per_mtok": 2.5, "output_per_mtok": 10},
                "secondary": {"provider": "anthropic", "model": "claude-3-opus", "input_per_mtok": 15, "output_per_mtok": 75}
            },
            "strategy": {"kind": "adaptive"},
            "prompt": {"system": "You are a meticulous code reviewer.", "template": "Review {{path}}:\n{{code}}"},
            "parameters": {"temperature": temperature}
        }
    })
    .to_string()
}

/// Reads an error response, checking the shared envelope.
pub async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
    body["error"].clone()
}
