//! `trizone console`: the web console on this machine, like
//! `kubectl argo rollouts dashboard`. It finds the zones as every command
//! does (flags, environment, the session file `trizone up` writes) and
//! listens on 127.0.0.1 unless told otherwise. People sign in with their
//! own token; the console holds none of its own.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Args;
use trizone_console::{AppState, Shared, ZoneUrls, Zones};

use crate::client::{Servers, ZoneName};
use crate::session::Session;

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    servers: Servers,
    /// Where to listen; the console serves one person's browser here.
    #[arg(long, env = "TRIZONE_CONSOLE_LISTEN", default_value = "127.0.0.1:8085")]
    listen: SocketAddr,
    /// Mark the session cookie `Secure`: set it when the console is
    /// reached over HTTPS (behind a TLS-terminating proxy on Kubernetes).
    #[arg(long, env = "TRIZONE_CONSOLE_SECURE_COOKIES")]
    secure_cookies: bool,
}

pub async fn console(args: ConsoleArgs) -> anyhow::Result<()> {
    let session = Session::load();
    let url = |zone: ZoneName| -> anyhow::Result<url::Url> {
        let raw = args.servers.url(zone, session.as_ref());
        raw.parse().with_context(|| format!("{raw} is not a URL"))
    };
    let zones = Zones::new(ZoneUrls {
        v1: url(ZoneName::V1)?,
        v3: url(ZoneName::V3)?,
        gate: url(ZoneName::Gate)?,
    })?;
    let state = AppState::new(Shared {
        zones,
        sessions: Default::default(),
        secure_cookies: args.secure_cookies,
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    eprintln!(
        "trizone console: http://{}/ (Ctrl-C stops it)",
        listener.local_addr()?
    );
    trizone_console::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
