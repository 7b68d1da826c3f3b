//! `trizone up`: every zone and the provider simulator in one process, each
//! on its own port, against one PostgreSQL database; the local way to run
//! the platform. Each zone still connects as its own database role.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::{Args, Parser};
use tokio::net::TcpListener;
use tokio::sync::watch;
use trizone_http::{Role, auth::token_hash_hex};
use trizone_store::DbRole;

/// Where everything listens.
#[derive(Debug, Clone, Args)]
pub struct Ports {
    /// Address every service binds to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    #[arg(long, default_value_t = 8081)]
    pub v1_port: u16,
    #[arg(long, default_value_t = 8082)]
    pub v2_port: u16,
    #[arg(long, default_value_t = 8083)]
    pub v3_port: u16,
    #[arg(long, default_value_t = 8084)]
    pub gate_port: u16,
    #[arg(long, default_value_t = 8090)]
    pub sim_port: u16,
    /// When the gate judges (cron with seconds); locally every 10 s.
    #[arg(long, default_value = "*/10 * * * * *")]
    pub schedule: String,
}

/// One local token per role: `TRIZONE_TOKEN_<ROLE>` or a fresh random one.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub tokens: Vec<(Role, String)>,
}

impl Tokens {
    pub fn from_env() -> Self {
        let tokens = Role::ALL
            .into_iter()
            .map(|role| {
                let variable = env_name(role);
                let token = std::env::var(&variable)
                    .ok()
                    .filter(|t| !t.trim().is_empty())
                    .unwrap_or_else(|| {
                        format!(
                            "tz-{}-{}",
                            role.as_str().replace('_', "-"),
                            uuid::Uuid::new_v4().simple()
                        )
                    });
                (role, token)
            })
            .collect();
        Self { tokens }
    }

    /// `TRIZONE_API_KEYS` for the services: the tokens' hashes only.
    pub fn key_spec(&self) -> String {
        self.tokens
            .iter()
            .map(|(role, token)| format!("{}:{}", role.as_str(), token_hash_hex(token)))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn get(&self, role: Role) -> &str {
        self.tokens
            .iter()
            .find(|(r, _)| *r == role)
            .map_or("", |(_, t)| t.as_str())
    }
}

pub fn env_name(role: Role) -> String {
    format!("TRIZONE_TOKEN_{}", role.as_str().to_uppercase())
}

/// The URL of `owner_url`'s database, logging in as `role` (local trust
/// auth; a password in the owner's URL is not reused for the zone roles).
fn role_url(owner_url: &str, role: DbRole) -> anyhow::Result<String> {
    let mut url = url::Url::parse(owner_url).context("DATABASE_URL is not a URL")?;
    url.set_username(role.name())
        .map_err(|()| anyhow::anyhow!("DATABASE_URL cannot carry a user name"))?;
    url.set_password(None)
        .map_err(|()| anyhow::anyhow!("DATABASE_URL cannot carry a password"))?;
    Ok(url.to_string())
}

/// Parses a zone's flattened `Config` from arguments, as its binary would.
fn config<C: Args>(args: &[String]) -> anyhow::Result<C> {
    #[derive(Parser)]
    struct Wrapper<C: Args> {
        #[command(flatten)]
        config: C,
    }
    let parsed = Wrapper::<C>::try_parse_from(
        std::iter::once("trizone-up".to_owned()).chain(args.iter().cloned()),
    )?;
    Ok(parsed.config)
}

async fn bind(host: IpAddr, port: u16, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(SocketAddr::new(host, port))
        .await
        .with_context(|| {
            format!("cannot listen on {host}:{port} for {what} (is something else there?)")
        })
}

/// Runs the platform until Ctrl-C or SIGTERM.
pub async fn up(owner_url: &str, ports: Ports) -> anyhow::Result<()> {
    let tokens = Tokens::from_env();
    let keys = tokens.key_spec();
    let host = ports.host;
    let service_token = tokens.get(Role::Service).to_owned();
    let url = |port: u16| format!("http://{host}:{port}");

    let sim = trizone_sim::RunningSim::start(42, trizone_sim::Dataset::default(), ports.sim_port)
        .await
        .with_context(|| format!("cannot start the simulator on port {}", ports.sim_port))?;
    // The simulator accepts any key; these only make the router send one.
    let credentials =
        || trizone_router::Credentials::new(Some("sk-local-simulator"), Some("sk-local-simulator"));

    let v1: trizone_experiment::Config = config(&[
        "--listen".into(),
        format!("{host}:{}", ports.v1_port),
        "--database-url".into(),
        role_url(owner_url, DbRole::Experiment)?,
        "--api-keys".into(),
        keys.clone(),
        "--v3-url".into(),
        url(ports.v3_port),
        "--v3-token".into(),
        service_token.clone(),
    ])?;
    let v2: trizone_stable::Config = config(&[
        "--listen".into(),
        format!("{host}:{}", ports.v2_port),
        "--database-url".into(),
        role_url(owner_url, DbRole::Stable)?,
        "--api-keys".into(),
        keys.clone(),
    ])?;
    let v3: trizone_quarantine::Config = config(&[
        "--listen".into(),
        format!("{host}:{}", ports.v3_port),
        "--database-url".into(),
        role_url(owner_url, DbRole::Quarantine)?,
        "--api-keys".into(),
        keys.clone(),
    ])?;
    let gate: trizone_gate::Config = config(&[
        "--listen".into(),
        format!("{host}:{}", ports.gate_port),
        "--database-url".into(),
        role_url(owner_url, DbRole::Gate)?,
        "--api-keys".into(),
        keys.clone(),
        "--v2-url".into(),
        url(ports.v2_port),
        "--v2-token".into(),
        service_token,
        "--schedule".into(),
        ports.schedule.clone(),
        "--kubernetes".into(),
        "off".into(),
    ])?;

    let listeners = (
        bind(host, ports.v1_port, "V1").await?,
        bind(host, ports.v2_port, "V2").await?,
        bind(host, ports.v3_port, "V3").await?,
        bind(host, ports.gate_port, "the gate").await?,
    );
    let (stop, stopped) = watch::channel(false);
    let signal = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };

    let mut out = std::io::stdout().lock();
    writeln!(out, "trizone is up (Ctrl-C stops it):")?;
    writeln!(out, "  V1 experimentation  {}", url(ports.v1_port))?;
    writeln!(out, "  V2 stable           {}", url(ports.v2_port))?;
    writeln!(out, "  V3 quarantine       {}", url(ports.v3_port))?;
    writeln!(out, "  gate                {}", url(ports.gate_port))?;
    writeln!(
        out,
        "  provider simulator  {} (OpenAI) and {} (Anthropic)",
        sim.openai_base_url(),
        sim.anthropic_base_url()
    )?;
    writeln!(out, "tokens (set these variables to choose your own):")?;
    for (role, token) in &tokens.tokens {
        writeln!(out, "  export {}={token}", env_name(*role))?;
    }
    drop(out);

    let zones = async {
        tokio::try_join!(
            trizone_experiment::run(&v1, credentials(), listeners.0, signal(stopped.clone())),
            trizone_stable::run(&v2, credentials(), listeners.1, signal(stopped.clone())),
            trizone_quarantine::run(&v3, listeners.2, signal(stopped.clone())),
            trizone_gate::run(&gate, listeners.3, signal(stopped.clone())),
        )
    };
    tokio::pin!(zones);
    tokio::select! {
        result = &mut zones => { result?; }
        () = trizone_http::serve::shutdown_signal() => {
            tracing::info!("stopping every zone");
            let _ = stop.send(true);
            zones.await?;
        }
    }
    drop(sim);
    Ok(())
}
