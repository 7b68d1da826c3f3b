//! `trizone-sim`: serves the provider simulator until Ctrl-C.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use trizone_sim::{Dataset, Profile};

/// TEST AND DEMO TOOL: a simulated AI provider speaking the OpenAI chat
/// completions and Anthropic messages APIs. It answers code reviews with
/// configurable latency, failures and accuracy; it is not a model.
#[derive(Debug, Parser)]
#[command(name = "trizone-sim", version)]
struct Args {
    /// Port on 127.0.0.1.
    #[arg(long, env = "TRIZONE_SIM_PORT", default_value_t = 8090)]
    port: u16,
    /// Seed: the same seed and requests give the same answers.
    #[arg(long, env = "TRIZONE_SIM_SEED", default_value_t = 42)]
    seed: u64,
    /// Cases with expected findings (JSON lines), answered at each profile's accuracy.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Profiles by model name (YAML or JSON map; `*` for every other model).
    #[arg(long)]
    profiles: Option<PathBuf>,
    /// The bearer token `/control` requires.
    #[arg(
        long,
        env = "TRIZONE_SIM_CONTROL_TOKEN",
        hide_env_values = true,
        required_unless_present = "fixed"
    )]
    control_token: Option<String>,
    /// Answer every chat completion at once with one fixed review, and
    /// nothing else: the upstream of gateway benchmarks.
    #[arg(long, conflicts_with_all = ["dataset", "profiles"])]
    fixed: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    trizone_http::telemetry::init(trizone_http::telemetry::LogFormat::Text);
    let args = Args::parse();
    let Some(control_token) = args.control_token.as_deref().filter(|_| !args.fixed) else {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        tracing::info!(address = %listener.local_addr()?, "trizone-sim serving one fixed review");
        axum::serve(listener, trizone_sim::fixed::router())
            .with_graceful_shutdown(trizone_http::serve::shutdown_signal())
            .await?;
        return Ok(());
    };
    let dataset = match &args.dataset {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Dataset::parse(&text)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("in {}", path.display()))?
        }
        None => Dataset::default(),
    };
    let sim =
        trizone_sim::RunningSim::start_with(args.seed, dataset, args.port, control_token).await?;
    if let Some(path) = &args.profiles {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let profiles: std::collections::HashMap<String, Profile> =
            yaml_serde::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        for (model, profile) in profiles {
            profile
                .validate()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("profile {model}"))?;
            sim.state.set_profile(&model, profile);
        }
    }
    tracing::info!(address = %sim.address, seed = args.seed, "trizone-sim serving (a test and demo tool, not a model)");
    trizone_http::serve::shutdown_signal().await;
    Ok(())
}
