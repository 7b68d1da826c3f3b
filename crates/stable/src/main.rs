//! `trizone-stable`: serves the V2 zone until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    trizone_http::zone::main(
        "trizone-stable",
        "trizone V2 stable service",
        async |config: trizone_stable::Config, listener, shutdown| {
            trizone_stable::run(
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
