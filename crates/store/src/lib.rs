//! Persistence for every zone: the embedded migrations, a pool per database
//! role, typed repositories per schema, and the audit hash chain.
//!
//! Query functions take an executor (`impl PgExecutor` or `&mut
//! PgConnection`); the service layer decides where a transaction begins.

pub mod archive;
pub mod audit;
pub mod datasets;
pub mod error;
pub mod evidence;
pub mod experiments;
pub mod gate;
pub mod latency;
pub mod pool;
pub mod production;
pub mod quarantine;
pub mod reviews;
pub mod rollouts;
pub mod runs;
pub mod slo;

pub use error::StoreError;
pub use latency::LatencyHistogram;
pub use pool::{DbRole, connect, connect_as};

/// Every migration under the top-level `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Migrations amended after they were released, with the SHA-384 of each
/// first version: the change made each survive concurrent migrations and
/// does the same thing, so a database that applied the first version is
/// taken to have applied this one.
const AMENDED: &[(i64, &str)] = &[(
    20261202000015,
    "eebadc609e6cec775ef2f9122a065af677556ada91c241afeae0ddb08f0c33578c3478d209afb646e1c55461970a9ffe",
)];

/// Applies pending migrations; applying them again is a no-op.
pub async fn migrate(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    accept_amended(conn).await?;
    MIGRATOR.run(conn).await?;
    Ok(())
}

async fn accept_amended(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    let recorded: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(&mut *conn)
            .await?;
    if recorded.is_none() {
        return Ok(());
    }
    for (version, first) in AMENDED {
        let Some(migration) = MIGRATOR.iter().find(|m| m.version == *version) else {
            continue;
        };
        sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND encode(checksum, 'hex') = $3",
        )
        .bind(migration.checksum.as_ref())
        .bind(version)
        .bind(first)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
