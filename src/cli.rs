//! Command-line arguments and what each command does.

use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
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
    Migrate(Database),
    /// Inspect the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain; exit 0 when intact, 1 naming the first bad event.
    Verify {
        #[command(flatten)]
        database: Database,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct Database {
    /// PostgreSQL URL of the database owner (migrations need it).
    #[arg(long = "database-url", env = "DATABASE_URL", hide_env_values = true, value_parser = parse_url)]
    url: PgConnectOptions,
}

/// Parses without echoing the URL back: it may hold a password.
fn parse_url(raw: &str) -> Result<PgConnectOptions, String> {
    PgConnectOptions::from_str(raw).map_err(|_| "not a valid postgres:// URL".to_owned())
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate(database) => migrate(database).await,
        Command::Audit {
            command: AuditCommand::Verify { database, json },
        } => verify(database, json).await,
    }
}

/// One connection: a command does one thing and should fail at once when
/// the server is not there.
async fn connect(database: Database) -> anyhow::Result<PgConnection> {
    let host = database.url.get_host().to_owned();
    let name = database
        .url
        .get_database()
        .unwrap_or("(default)")
        .to_owned();
    PgConnection::connect_with(&database.url)
        .await
        .with_context(|| format!("cannot connect to database `{name}` on {host}"))
}

async fn migrate(database: Database) -> anyhow::Result<ExitCode> {
    let mut conn = connect(database).await?;
    trizone_store::migrate(&mut conn)
        .await
        .context("migration failed")?;
    let latest = trizone_store::MIGRATOR
        .iter()
        .last()
        .map(|m| format!("{} ({})", m.version, m.description));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "database migrated: schema at version {}",
        latest.unwrap_or_else(|| "0".into())
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn verify(database: Database, json: bool) -> anyhow::Result<ExitCode> {
    let mut conn = connect(database).await?;
    let report = audit::verify(&mut conn)
        .await
        .context("cannot read the audit trail")?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        match &report {
            ChainReport::Intact { events, head } => {
                writeln!(out, "audit chain intact: {events} events, head {head}")?;
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
