//! Command-line arguments and what each command does.

use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Postgres};
use trizone_http::telemetry::LogFormat;
use trizone_store::audit::{self, ChainReport};

#[derive(Debug, Parser)]
#[command(
    name = "trizone",
    version,
    about = "Promotion pipeline for AI code-review configurations"
)]
pub struct Cli {
    /// Log format: text (readable) or json (one object per line).
    #[arg(
        long,
        global = true,
        env = "TRIZONE_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or update the schemas, roles and grants; running it again changes nothing.
    Migrate {
        #[command(flatten)]
        database: Database,
        /// Create the database first if it does not exist.
        #[arg(long)]
        create: bool,
    },
    /// Run every zone and the provider simulator in this process (migrating first).
    #[cfg(feature = "local")]
    Up {
        #[command(flatten)]
        database: Database,
        #[command(flatten)]
        ports: crate::up::Ports,
    },
    /// The whole lifecycle in under a minute, on the simulator: three
    /// configurations, one promoted, two quarantined, one re-evaluated.
    #[cfg(feature = "local")]
    Demo(crate::demo::DemoArgs),
    /// Experiments in V1 (experimenters).
    Experiment {
        #[command(flatten)]
        servers: crate::client::Servers,
        #[command(subcommand)]
        command: crate::client::ExperimentCommand,
    },
    /// Labelled datasets in V1 (experimenters).
    Dataset {
        #[command(flatten)]
        servers: crate::client::Servers,
        #[command(subcommand)]
        command: crate::client::DatasetCommand,
    },
    /// Evaluation runs in V1 (experimenters).
    Run {
        #[command(flatten)]
        servers: crate::client::Servers,
        #[command(subcommand)]
        command: crate::client::RunCommand,
    },
    /// The gate's decisions and moves (admins).
    Gate {
        #[command(flatten)]
        servers: crate::client::Servers,
        #[command(subcommand)]
        command: crate::client::GateCommand,
    },
    /// The V3 archive.
    Quarantine {
        #[command(flatten)]
        servers: crate::client::Servers,
        #[command(subcommand)]
        command: crate::client::QuarantineCommand,
    },
    /// What V2 serves and how it meets its SLOs.
    V2 {
        #[command(flatten)]
        servers: crate::client::Servers,
        #[command(subcommand)]
        command: crate::client::V2Command,
    },
    /// Send a source file or a diff to V2 and print the findings against
    /// their lines (end users).
    Review(crate::client::ReviewArgs),
    /// Serve the web console on this machine (experimenters and admins sign
    /// in with their own token).
    Console(crate::console::ConsoleArgs),
    /// Print the keys-file entry (`role:hex[:name]`) for the token on
    /// standard input, hashed under the zones' secret (operators).
    KeyEntry(crate::keys::KeyEntryArgs),
    /// Inspect the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exit 0 when intact, 1 naming the first bad
    /// event. With a database URL it reads the database itself; without,
    /// it asks the gate (as an admin), like every other command.
    Verify {
        /// PostgreSQL URL to read the audit trail from directly.
        #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, value_parser = parse_url)]
        database_url: Option<DatabaseUrl>,
        #[command(flatten)]
        servers: crate::client::Servers,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
struct Database {
    /// PostgreSQL URL of the database owner (migrations need it).
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, value_parser = parse_url)]
    url: DatabaseUrl,
}

/// A database URL, kept as given (sqlx creates databases from URLs) and
/// parsed once. It may hold a password, so it is never printed.
#[derive(Clone)]
struct DatabaseUrl {
    raw: String,
    options: PgConnectOptions,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

/// Parses without echoing the URL back.
fn parse_url(raw: &str) -> Result<DatabaseUrl, String> {
    let options =
        PgConnectOptions::from_str(raw).map_err(|_| "not a valid postgres:// URL".to_owned())?;
    Ok(DatabaseUrl {
        raw: raw.to_owned(),
        options,
    })
}

impl Database {
    /// `database `x` on host`, for messages.
    fn describe(&self) -> String {
        let options = &self.url.options;
        format!(
            "database `{}` on {}",
            options.get_database().unwrap_or("(default)"),
            options.get_host()
        )
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate { database, create } => migrate(database, create).await,
        #[cfg(feature = "local")]
        Command::Up { database, ports } => {
            // Bad tokens are refused before anything is touched.
            let tokens = crate::up::Tokens::from_env()?;
            migrate(database.clone(), true).await?;
            crate::up::up(&database.url.raw, ports, &tokens).await?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(feature = "local")]
        Command::Demo(args) => done(crate::demo::demo(args).await),
        Command::Audit {
            command:
                AuditCommand::Verify {
                    database_url,
                    servers,
                    json,
                },
        } => verify(database_url, &servers, json).await,
        Command::Experiment { servers, command } => {
            done(crate::client::experiment(&servers, command).await)
        }
        Command::Dataset { servers, command } => {
            done(crate::client::dataset(&servers, command).await)
        }
        Command::Run { servers, command } => crate::client::run(&servers, command).await,
        Command::Gate { servers, command } => crate::client::gate(&servers, command).await,
        Command::Quarantine { servers, command } => {
            done(crate::client::quarantine(&servers, command).await)
        }
        Command::V2 { servers, command } => done(crate::client::v2(&servers, command).await),
        Command::Console(args) => done(crate::console::console(args).await),
        Command::KeyEntry(args) => done(crate::keys::key_entry(&args)),
        Command::Review(args) => done(crate::client::review(args).await),
    }
}

fn done(result: anyhow::Result<()>) -> anyhow::Result<ExitCode> {
    result.map(|()| ExitCode::SUCCESS)
}

/// One connection: a command does one thing and should fail at once when
/// the server is not there.
async fn connect(database: &Database) -> anyhow::Result<PgConnection> {
    PgConnection::connect_with(&database.url.options)
        .await
        .with_context(|| format!("cannot connect to {}", database.describe()))
}

/// Migrates (creating the database if needed) the database at `raw`.
#[cfg(feature = "local")]
pub async fn migrate_url(raw: &str) -> anyhow::Result<()> {
    let database = Database {
        url: parse_url(raw).map_err(anyhow::Error::msg)?,
    };
    migrate(database, true).await.map(drop)
}

async fn migrate(database: Database, create: bool) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if create {
        let exists = Postgres::database_exists(&database.url.raw)
            .await
            .with_context(|| format!("cannot check whether {} exists", database.describe()))?;
        if !exists {
            Postgres::create_database(&database.url.raw)
                .await
                .with_context(|| format!("cannot create {}", database.describe()))?;
            writeln!(out, "created {}", database.describe())?;
        }
    }
    let mut conn = connect(&database).await?;
    trizone_store::migrate(&mut conn)
        .await
        .context("migration failed")?;
    let latest = trizone_store::MIGRATOR
        .iter()
        .last()
        .map(|m| format!("{} ({})", m.version, m.description));
    writeln!(
        out,
        "migrated {}: schema at version {}",
        database.describe(),
        latest.unwrap_or_else(|| "0".into())
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn verify(
    database_url: Option<DatabaseUrl>,
    servers: &crate::client::Servers,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let report = match database_url {
        Some(url) => {
            let mut conn = connect(&Database { url }).await?;
            audit::verify(&mut conn)
                .await
                .context("cannot read the audit trail")?
        }
        None => {
            let gate = crate::client::Zone::new(servers, crate::client::ZoneName::Gate, "admin")?;
            let answer = gate.get("/api/gate/audit").await?;
            serde_json::from_value(answer["chain"].clone())
                .context("the gate's audit report is not a chain report")?
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        match &report {
            ChainReport::Intact { events, head } => {
                let noun = if *events == 1 { "event" } else { "events" };
                writeln!(out, "audit chain intact: {events} {noun}, head {head}")?;
            }
            ChainReport::Broken { seq, problem } => {
                writeln!(out, "audit chain broken at event {seq}: {problem}")?;
            }
        }
    }
    Ok(match report {
        ChainReport::Intact { .. } => ExitCode::SUCCESS,
        ChainReport::Broken { .. } => ExitCode::FAILURE,
    })
}
