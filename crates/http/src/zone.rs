//! What every zone shares to start and stop: its binary's `main` (flags
//! and environment parsed, logging started, the listener bound) and its
//! `run` (served until SIGTERM or Ctrl-C, then its background work stopped
//! and awaited).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use anyhow::Context;
use axum::Router;
use clap::{Args, CommandFactory, FromArgMatches, Parser};
#[cfg(feature = "store")]
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// A zone's background work. Each task watches [`Tasks::stopped`]; once
/// the server has drained, [`serve_zone`] tells them to stop and waits
/// for every one to let go.
#[derive(Debug)]
pub struct Tasks {
    stop: watch::Sender<bool>,
    running: Vec<JoinHandle<()>>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self {
            stop: watch::channel(false).0,
            running: Vec::new(),
        }
    }
}

impl Tasks {
    /// Changes to `true` when the tasks should stop.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.running.push(tokio::spawn(task));
    }

    /// A task already running.
    pub fn adopt(&mut self, task: JoinHandle<()>) {
        self.running.push(task);
    }
}

/// Serves the zone `name`'s `app` on `listener` until `shutdown`
/// completes, lets in-flight requests finish, then stops its `tasks`.
pub async fn serve_zone(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    tasks: Tasks,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    tracing::info!(zone = name, address = %listener.local_addr()?, "serving");
    let served = crate::serve::serve(listener, app, shutdown).await;
    let _ = tasks.stop.send(true);
    for task in tasks.running {
        task.await?;
    }
    Ok(served?)
}

/// Runs `refresh` now and every `period` until `stop`: gauges a zone reads
/// from its database. A failed refresh is logged as `what` and retried at
/// the next tick; the gauges keep their last values meanwhile.
pub async fn refresh_every<F, E>(
    what: &str,
    period: std::time::Duration,
    mut stop: watch::Receiver<bool>,
    mut refresh: impl FnMut() -> F,
) where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    loop {
        if let Err(error) = refresh().await {
            tracing::warn!(%error, "cannot {what}");
        }
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(period) => {}
        }
    }
}

/// A pool for a zone's own database role, from the operator's URL.
#[cfg(feature = "store")]
pub async fn connect(
    url: &SecretString,
    role: trizone_store::DbRole,
    max_connections: u32,
) -> anyhow::Result<sqlx::PgPool> {
    let options: sqlx::postgres::PgConnectOptions = url.expose_secret().parse()?;
    Ok(trizone_store::connect(options, role, max_connections).await?)
}
