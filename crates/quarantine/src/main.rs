//! `trizone-quarantine`: serves the V3 zone until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    trizone_http::zone::main(
        "trizone-quarantine",
        "trizone V3 quarantine service",
        async |config: trizone_quarantine::Config, listener, shutdown| {
            trizone_quarantine::run(&config, listener, shutdown).await
        },
    )
    .await
}
