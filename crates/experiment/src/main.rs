//! `trizone-experiment`: serves the V1 zone until SIGTERM or Ctrl-C.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "trizone-experiment",
    version,
    about = "trizone V1 experimentation service"
)]
struct Args {
    #[command(flatten)]
    config: trizone_experiment::Config,
    /// Log format: text or json.
    #[arg(long, env = "TRIZONE_LOG_FORMAT", default_value = "json")]
    log_format: trizone_http::telemetry::LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    trizone_http::telemetry::init(args.log_format);
    let listener = tokio::net::TcpListener::bind(args.config.listen).await?;
    trizone_experiment::run(
        &args.config,
        trizone_router::Providers::from_env()?,
        listener,
        trizone_http::serve::shutdown_signal(),
    )
    .await
}
