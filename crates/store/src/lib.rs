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
pub mod runs;
pub mod slo;

pub use error::StoreError;
pub use latency::LatencyHistogram;
pub use pool::{DbRole, connect, connect_as};

/// Every migration under the top-level `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Applies pending migrations; applying them again is a no-op.
pub async fn migrate(conn: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    MIGRATOR.run(conn).await?;
    Ok(())
}
