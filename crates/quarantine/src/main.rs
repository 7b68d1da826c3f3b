//! `trizone-quarantine`: serves the V3 zone until SIGTERM or Ctrl-C.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "trizone-quarantine",
    version,
    about = "trizone V3 quarantine service"
)]
struct Args {
    #[command(flatten)]
    config: trizone_quarantine::Config,
    /// Log format: text or json.
    #[arg(long, env = "TRIZONE_LOG_FORMAT", default_value = "json")]
    log_format: trizone_http::telemetry::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    trizone_http::telemetry::init(args.log_format);
    let listener = tokio::net::TcpListener::bind(args.config.listen).await?;
    trizone_quarantine::run(
        &args.config,
        listener,
        trizone_http::serve::shutdown_signal(),
    )
    .await
}
