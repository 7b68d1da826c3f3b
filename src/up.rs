//! `trizone up`: every zone and the provider simulator in one process, each
//! on its own port, against one PostgreSQL database; the local way to run
//! the platform. Each zone still connects as its own database role.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use anyhow::Context;
use clap::{Args, Parser};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use trizone_http::Role;
use trizone_http::auth::{MIN_TOKEN_CHARS, token_hmac_hex};
use trizone_store::DbRole;

use crate::session::Session;

/// The simulator's providers, one per wire format it speaks.
pub const SIM_OPENAI: &str = "sim-openai";
pub const SIM_ANTHROPIC: &str = "sim-anthropic";

/// Where everything listens.
#[derive(Debug, Clone, Args)]
pub struct Ports {
    /// Address every service binds to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    #[arg(long, default_value_t = 8081)]
    pub v1_port: u16,
    /// One port per V2 replica (`8082,8085` runs two).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "8082")]
    pub v2_port: Vec<u16>,
    #[arg(long, default_value_t = 8083)]
    pub v3_port: u16,
    /// One port per gate replica; replica i asks V2 replica i (modulo their count).
    #[arg(long, value_delimiter = ',', num_args = 1.., default_value = "8084")]
    pub gate_port: Vec<u16>,
    #[arg(long, default_value_t = 8090)]
    pub sim_port: u16,
    /// When the gate judges (cron with seconds); locally every 10 s.
    #[arg(long, default_value = "*/10 * * * * *")]
    pub schedule: String,
}

/// End users `trizone up` makes keys for. A canary share is taken per
/// key, so the local platform needs a crowd: with 32 keys, a step of 25%
/// of them is empty with chance 0.75^32, about 1 in 10,000.
pub const LOCAL_END_USERS: usize = 32;

/// One local token per role: `TRIZONE_TOKEN_<ROLE>` or a fresh random one;
/// and more end users, each with a fresh token.
#[derive(Clone)]
pub struct Tokens {
    pub tokens: Vec<(Role, String)>,
    /// Every end user's token, `TRIZONE_TOKEN_END_USER`'s first.
    pub end_users: Vec<String>,
    /// The secret every zone's key hashes are HMACs under, fresh per run.
    key_secret: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("roles", &self.tokens.len())
            .field("end_users", &self.end_users.len())
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// The tokens, refusing one chosen shorter than `MIN_TOKEN_CHARS`, and
    /// a fresh secret for the zones to hash them under.
    pub fn from_env() -> anyhow::Result<Self> {
        let tokens = Role::ALL
            .into_iter()
            .map(|role| {
                let variable = env_name(role);
                let token = match std::env::var(&variable) {
                    Ok(token) if !token.trim().is_empty() => token.trim().to_owned(),
                    _ => format!(
                        "tz-{}-{}",
                        role.as_str().replace('_', "-"),
                        uuid::Uuid::new_v4().simple()
                    ),
                };
                if token.chars().count() < MIN_TOKEN_CHARS {
                    anyhow::bail!(
                        "{variable} is {} characters: a token needs at least {MIN_TOKEN_CHARS}",
                        token.chars().count()
                    );
                }
                Ok((role, token))
            })
            .collect::<anyhow::Result<Vec<(Role, String)>>>()?;
        let first = tokens
            .iter()
            .find(|(role, _)| *role == Role::EndUser)
            .map(|(_, token)| token.clone());
        let end_users = first
            .into_iter()
            .chain(
                (2..=LOCAL_END_USERS)
                    .map(|i| format!("tz-end-user-{i}-{}", uuid::Uuid::new_v4().simple())),
            )
            .collect();
        let key_secret = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Ok(Self {
            tokens,
            end_users,
            key_secret,
        })
    }

    /// `TRIZONE_API_KEYS` for a zone that checks `roles`: only their
    /// tokens' hashes, so no zone holds a key it has no use for, and each
    /// key bound to its role's name (what owns an experiment it registers).
    pub fn key_spec(&self, roles: &[Role]) -> anyhow::Result<String> {
        let hash = |token: &str| token_hmac_hex(self.key_secret.as_bytes(), token);
        let end_users = roles
            .contains(&Role::EndUser)
            .then_some(&self.end_users)
            .into_iter()
            .flatten()
            .enumerate()
            // The first is the role's own key, named as every role's is.
            .skip(1)
            .map(|(i, token)| Ok(format!("end_user:{}:end-user-{}", hash(token)?, i + 1)));
        let entries = self
            .tokens
            .iter()
            .filter(|(role, _)| roles.contains(role))
            .map(|(role, token)| Ok(format!("{0}:{1}:{0}", role.as_str(), hash(token)?)))
            .chain(end_users)
            .collect::<Result<Vec<_>, trizone_http::auth::KeyLoadError>>()?;
        Ok(entries.join(","))
    }

    /// The secret the zones hash keys under.
    pub fn key_secret(&self) -> &str {
        &self.key_secret
    }

    pub fn get(&self, role: Role) -> &str {
        self.tokens
            .iter()
            .find(|(r, _)| *r == role)
            .map_or("", |(_, t)| t.as_str())
    }
}

/// The roles each zone serves, so the keys each is given.
pub mod zone_roles {
    use trizone_http::Role::{self, Admin, EndUser, Experimentation, Experimenter, Gate, Scraper};

    pub const V1: &[Role] = &[Experimenter, Admin, Scraper];
    pub const V2: &[Role] = &[EndUser, Admin, Gate, Scraper];
    pub const V3: &[Role] = &[Experimenter, Admin, Experimentation, Scraper];
    pub const GATE: &[Role] = &[Experimenter, Admin, Scraper];
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

/// Every zone and the simulator, running in this process.
pub struct Platform {
    pub session: Session,
    /// What configurations may name here.
    pub providers: trizone_router::Providers,
    stop: watch::Sender<bool>,
    zones: JoinSet<anyhow::Result<()>>,
    sim: trizone_sim::RunningSim,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("zones", &self.zones.len())
            .finish_non_exhaustive()
    }
}

/// Each zone's flags, as its own binary would take them.
struct ZoneArgs {
    v1: Vec<String>,
    v2: Vec<Vec<String>>,
    v3: Vec<String>,
    gate: Vec<Vec<String>>,
}

fn zone_args(owner_url: &str, ports: &Ports, tokens: &Tokens) -> anyhow::Result<ZoneArgs> {
    let host = ports.host;
    let url = |port: u16| format!("http://{host}:{port}");
    let common = |port: u16, role: DbRole, roles: &[Role]| -> anyhow::Result<Vec<String>> {
        Ok(vec![
            "--listen".into(),
            format!("{host}:{port}"),
            "--database-url".into(),
            role_url(owner_url, role)?,
            "--api-keys".into(),
            tokens.key_spec(roles)?,
            "--api-key-secret".into(),
            tokens.key_secret().to_owned(),
        ])
    };
    let mut v1 = common(ports.v1_port, DbRole::Experiment, zone_roles::V1)?;
    v1.extend([
        "--v3-url".into(),
        url(ports.v3_port),
        "--v3-token".into(),
        tokens.get(Role::Experimentation).to_owned(),
    ]);
    let v2 = ports
        .v2_port
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            let mut args = common(port, DbRole::Stable, zone_roles::V2)?;
            args.extend(["--replica".into(), format!("local-v2-{}", i + 1)]);
            Ok(args)
        })
        .collect::<anyhow::Result<_>>()?;
    let gate = ports
        .gate_port
        .iter()
        .enumerate()
        .map(|(i, &port)| {
            let mut args = common(port, DbRole::Gate, zone_roles::GATE)?;
            args.extend([
                "--v2-url".into(),
                url(ports.v2_port[i % ports.v2_port.len()]),
                "--v2-token".into(),
                tokens.get(Role::Gate).to_owned(),
                "--schedule".into(),
                ports.schedule.clone(),
                "--kubernetes".into(),
                "off".into(),
                "--replica".into(),
                format!("local-gate-{}", i + 1),
            ]);
            Ok(args)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(ZoneArgs {
        v1,
        v2,
        v3: common(ports.v3_port, DbRole::Quarantine, zone_roles::V3)?,
        gate,
    })
}

impl Platform {
    /// Binds every port, then starts the zones; an error names what could
    /// not start.
    pub async fn start(owner_url: &str, ports: &Ports, tokens: &Tokens) -> anyhow::Result<Self> {
        if ports.v2_port.is_empty() || ports.gate_port.is_empty() {
            anyhow::bail!("--v2-port and --gate-port need at least one port each");
        }
        let host = ports.host;
        let args = zone_args(owner_url, ports, tokens)?;
        let v1: trizone_experiment::Config = config(&args.v1)?;
        let v3: trizone_quarantine::Config = config(&args.v3)?;
        let v2: Vec<trizone_stable::Config> = args
            .v2
            .iter()
            .map(|a| config(a))
            .collect::<Result<_, _>>()?;
        let gate: Vec<trizone_gate::Config> = args
            .gate
            .iter()
            .map(|a| config(a))
            .collect::<Result<_, _>>()?;

        let sim =
            // Its control API takes the admin token: whoever may change a
            // model's behaviour decides what gets promoted.
            trizone_sim::RunningSim::start_with(
                42,
                trizone_sim::Dataset::default(),
                ports.sim_port,
                tokens.get(Role::Admin),
            )
                .await
                .with_context(|| {
                    format!("cannot start the simulator on port {}", ports.sim_port)
                })?;
        let providers = providers(sim.address)?;

        let (stop, stopped) = watch::channel(false);
        let signal = || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut zones = JoinSet::new();
        let listener = bind(host, ports.v1_port, "V1").await?;
        let shutdown = signal();
        let v1_providers = providers.clone();
        zones.spawn(
            async move { trizone_experiment::run(&v1, v1_providers, listener, shutdown).await },
        );
        for (config, &port) in v2.into_iter().zip(&ports.v2_port) {
            let listener = bind(host, port, "V2").await?;
            let shutdown = signal();
            let v2_providers = providers.clone();
            zones.spawn(async move {
                trizone_stable::run(&config, v2_providers, listener, shutdown).await
            });
        }
        let listener = bind(host, ports.v3_port, "V3").await?;
        let shutdown = signal();
        zones.spawn(async move { trizone_quarantine::run(&v3, listener, shutdown).await });
        for (config, &port) in gate.into_iter().zip(&ports.gate_port) {
            let listener = bind(host, port, "the gate").await?;
            let shutdown = signal();
            zones.spawn(async move { trizone_gate::run(&config, listener, shutdown).await });
        }

        let url = |port: u16| format!("http://{host}:{port}");
        let session = Session {
            v1_url: url(ports.v1_port),
            v2_url: url(ports.v2_port[0]),
            v3_url: url(ports.v3_port),
            gate_url: url(ports.gate_port[0]),
            sim_url: format!("http://{}", sim.address),
            tokens: tokens
                .tokens
                .iter()
                .map(|(role, token)| (role.as_str().to_owned(), token.clone()))
                .collect(),
            end_users: tokens.end_users.clone(),
        };
        Ok(Self {
            session,
            providers,
            stop,
            zones,
            sim,
        })
    }

    /// Waits until a zone stops by itself, which only an error makes it do.
    pub async fn failed(&mut self) -> anyhow::Error {
        match self.zones.join_next().await {
            Some(Ok(Err(error))) => error,
            Some(Ok(Ok(()))) => anyhow::anyhow!("a zone stopped unasked"),
            Some(Err(error)) => anyhow::Error::new(error).context("a zone panicked"),
            None => anyhow::anyhow!("no zone is running"),
        }
    }

    /// Asks every zone to stop and waits until they have.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        let mut result = Ok(());
        while let Some(joined) = self.zones.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = Err(error),
                Err(error) => result = Err(anyhow::Error::new(error).context("a zone panicked")),
            }
        }
        drop(self.sim);
        result
    }
}

/// Runs the platform until Ctrl-C or SIGTERM.
pub async fn up(owner_url: &str, ports: Ports, tokens: &Tokens) -> anyhow::Result<()> {
    let mut platform = Platform::start(owner_url, &ports, tokens).await?;
    let session = platform.session.clone();
    let saved = session.save();

    let mut out = std::io::stdout().lock();
    writeln!(out, "trizone is up (Ctrl-C stops it):")?;
    writeln!(out, "  V1 experimentation  {}", session.v1_url)?;
    writeln!(
        out,
        "  V2 stable           {}",
        list_urls(ports.host, &ports.v2_port)
    )?;
    writeln!(out, "  V3 quarantine       {}", session.v3_url)?;
    writeln!(
        out,
        "  gate                {}",
        list_urls(ports.host, &ports.gate_port)
    )?;
    writeln!(out, "providers (a configuration names one):")?;
    for provider in platform.providers.iter() {
        writeln!(
            out,
            "  {:<18}  {} API at {}",
            provider.name.as_str(),
            provider.api,
            provider.base_url
        )?;
    }
    writeln!(out, "tokens (set these variables to choose your own):")?;
    for (role, token) in &tokens.tokens {
        writeln!(out, "  export {}={token}", env_name(*role))?;
    }
    writeln!(
        out,
        "  and {} more end users' tokens, in the session file",
        tokens.end_users.len().saturating_sub(1)
    )?;
    match &saved {
        Ok(path) => writeln!(
            out,
            "saved to {} (readable by you only): trizone commands in another terminal use it",
            path.display()
        )?,
        Err(error) => writeln!(out, "not saved for other terminals: {error:#}")?,
    }
    drop(out);

    let result = tokio::select! {
        error = platform.failed() => Err(error),
        () = trizone_http::serve::shutdown_signal() => {
            tracing::info!("stopping every zone");
            Ok(())
        }
    };
    let stopped = platform.stop().await;
    if saved.is_ok() {
        session.remove();
    }
    result.and(stopped)
}

/// The simulator, once per wire format, and whatever the operator lists
/// in `TRIZONE_PROVIDERS_FILE`.
fn providers(sim: SocketAddr) -> anyhow::Result<trizone_router::Providers> {
    use trizone_router::{Api, Provider, Providers};
    // The simulator accepts any key; this one only makes the router send one.
    let key = "sk-local-simulator";
    let simulated = [
        Provider::new(SIM_OPENAI, Api::Openai, &format!("http://{sim}/v1"), key)?,
        Provider::new(SIM_ANTHROPIC, Api::Anthropic, &format!("http://{sim}"), key)?,
    ];
    let operator = match std::env::var_os("TRIZONE_PROVIDERS_FILE") {
        Some(path) => Providers::from_file(std::path::Path::new(&path))?,
        None => Providers::default(),
    };
    Ok(Providers::new(
        simulated.into_iter().chain(operator.iter().cloned()),
    )?)
}

fn list_urls(host: IpAddr, ports: &[u16]) -> String {
    ports
        .iter()
        .map(|port| format!("http://{host}:{port}"))
        .collect::<Vec<_>>()
        .join(" ")
}
