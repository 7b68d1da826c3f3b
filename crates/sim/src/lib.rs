//! `trizone-sim`: a stand-in for paid AI providers, for tests, benchmarks
//! and demos. It speaks OpenAI chat completions (`POST /v1/chat/completions`)
//! and Anthropic messages (`POST /v1/messages`) with per-model profiles of
//! latency, failures and answer quality, deterministic under a seed, and a
//! control API (`/control/...`) to change them while it runs. The control
//! API takes a bearer token: whoever can change a profile can fake a
//! configuration's accuracy into promotion or force rollbacks.

pub mod answer;
pub mod control;
pub mod dataset;
pub mod fixed;
pub mod profile;
pub mod reply;
pub mod shape;
pub mod state;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use trizone_http::{KeyStore, Role};

pub use dataset::Dataset;
pub use profile::{Behaviour, ErrorRates, Profile};
pub use state::SimState;

/// Every route of the simulator; `/control` answers only `control_token`.
pub fn router(state: Arc<SimState>, control_token: &str) -> Router {
    let keys = KeyStore::from_tokens([(Role::Admin, control_token)]);
    let control = Router::new()
        .route("/control/profiles", get(control::list_profiles))
        .route(
            "/control/profiles/{model}",
            put(control::put_profile).delete(control::delete_profile),
        )
        .route("/control/scripts/{model}", put(control::put_script))
        .route("/control/dataset", put(control::put_dataset))
        .route("/control/stats", get(control::stats))
        .route("/control/reset", post(control::reset))
        .route_layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let keys = keys.clone();
                async move { authorize(&keys, request, next).await }
            },
        ));
    Router::new()
        .route("/v1/chat/completions", post(wire::chat_completions))
        .route("/v1/messages", post(wire::messages))
        .route("/v1/models", get(wire::models))
        .merge(control)
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

async fn authorize(keys: &KeyStore, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if token.and_then(|t| keys.authenticate(t)).is_some() {
        next.run(request).await
    } else {
        trizone_http::ApiError::Unauthenticated.into_response()
    }
}

/// A simulator serving on a loopback port, stopped when dropped.
#[derive(Debug)]
pub struct RunningSim {
    pub address: SocketAddr,
    pub state: Arc<SimState>,
    /// What `/control` takes as a bearer token.
    pub control_token: String,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// Serves a simulator with `seed` and `dataset` on 127.0.0.1:`port` (0 = any),
    /// its control API behind a random token.
    pub async fn start(seed: u64, dataset: Dataset, port: u16) -> std::io::Result<Self> {
        let token: u128 = rand::random();
        Self::start_with(seed, dataset, port, &format!("sim-control-{token:032x}")).await
    }

    /// [`RunningSim::start`] with the control token chosen.
    pub async fn start_with(
        seed: u64,
        dataset: Dataset,
        port: u16,
        control_token: &str,
    ) -> std::io::Result<Self> {
        let state = Arc::new(SimState::new(seed, dataset));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let app = router(state.clone(), control_token);
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "simulator stopped");
            }
        });
        Ok(Self {
            address,
            state,
            control_token: control_token.to_owned(),
            task,
        })
    }

    /// Base URL for OpenAI-compatible clients (`.../v1`).
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.address)
    }

    /// Base URL for Anthropic clients (the API root, without `/v1`).
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}
