//! `trizone-gate`: judges, promotes, quarantines and rolls back until SIGTERM or Ctrl-C.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    trizone_http::zone::main(
        "trizone-gate",
        "trizone gate service",
        async |config: trizone_gate::Config, listener, shutdown| {
            trizone_gate::run(&config, listener, shutdown).await
        },
    )
    .await
}
