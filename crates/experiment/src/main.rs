//! `trizone-experiment`: serves the V1 zone until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    trizone_http::zone::main(
        "trizone-experiment",
        "trizone V1 experimentation service",
        async |config: trizone_experiment::Config, listener, shutdown| {
            trizone_experiment::run(
                &config,
                trizone_router::Providers::from_env()?,
                listener,
                shutdown,
            )
            .await
        },
    )
    .await
}
