//! `trizone-sim`: a stand-in for paid AI providers, for tests, benchmarks
//! and demos. It speaks OpenAI chat completions (`POST /v1/chat/completions`)
//! and Anthropic messages (`POST /v1/messages`) with per-model profiles of
//! latency, failures and answer quality, deterministic under a seed, and a
//! control API (`/control/...`) to change them while it runs.

pub mod answer;
pub mod control;
pub mod dataset;
pub mod profile;
pub mod state;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

pub use dataset::Dataset;
pub use profile::{Behaviour, ErrorRates, Profile};
pub use state::SimState;

/// Every route of the simulator.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(wire::chat_completions))
        .route("/v1/messages", post(wire::messages))
        .route("/v1/models", get(wire::models))
        .route("/control/profiles", get(control::list_profiles))
        .route(
            "/control/profiles/{model}",
            put(control::put_profile).delete(control::delete_profile),
        )
        .route("/control/scripts/{model}", put(control::put_script))
        .route("/control/dataset", put(control::put_dataset))
        .route("/control/stats", get(control::stats))
        .route("/control/reset", post(control::reset))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// A simulator serving on a loopback port, stopped when dropped.
#[derive(Debug)]
pub struct RunningSim {
    pub address: SocketAddr,
    pub state: Arc<SimState>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    /// Serves a simulator with `seed` and `dataset` on 127.0.0.1:`port` (0 = any).
    pub async fn start(seed: u64, dataset: Dataset, port: u16) -> std::io::Result<Self> {
        let state = Arc::new(SimState::new(seed, dataset));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let address = listener.local_addr()?;
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "simulator stopped");
            }
        });
        Ok(Self {
            address,
            state,
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
