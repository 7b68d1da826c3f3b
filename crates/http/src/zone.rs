//! The `main` every zone binary shares: flags and environment parsed,
//! logging started, the listener bound, and the zone served until SIGTERM
//! or Ctrl-C.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::Context;
use clap::{Args, CommandFactory, FromArgMatches, Parser};
use tokio::net::TcpListener;

use crate::telemetry::{self, LogFormat};

/// A zone's configuration, from its flags and environment.
pub trait ZoneConfig: Args {
    /// Where the zone serves.
    fn listen(&self) -> SocketAddr;
}

/// Completes when the zone should stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Debug, Parser)]
#[command(version)]
struct ZoneArgs<C: Args> {
    #[command(flatten)]
    config: C,
    /// Log format: text or json.
    #[arg(long, env = "TRIZONE_LOG_FORMAT", default_value = "json")]
    log_format: LogFormat,
}

/// Runs the binary `name` (`about` is its --help line): `serve` gets the
/// parsed configuration, the bound listener and the shutdown signal.
pub async fn main<C: ZoneConfig>(
    name: &'static str,
    about: &'static str,
    serve: impl AsyncFnOnce(C, TcpListener, Shutdown) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let matches = ZoneArgs::<C>::command()
        .name(name)
        .bin_name(name)
        .about(about)
        .get_matches();
    let args = ZoneArgs::<C>::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    telemetry::init(args.log_format);
    let listen = args.config.listen();
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    serve(
        args.config,
        listener,
        Box::pin(crate::serve::shutdown_signal()),
    )
    .await
}
