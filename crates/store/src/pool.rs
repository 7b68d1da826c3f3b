//! One connection pool per database role. Each binary connects as its own
//! role, and refuses to run as any other.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::StoreError;

/// The database role of each zone binary (see `migrations/*_grants.sql`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbRole {
    Experiment,
    Gate,
    Stable,
    Quarantine,
}

impl DbRole {
    pub const ALL: [Self; 4] = [Self::Experiment, Self::Gate, Self::Stable, Self::Quarantine];

    pub fn name(self) -> &'static str {
        match self {
            Self::Experiment => "trizone_experiment",
            Self::Gate => "trizone_gate",
            Self::Stable => "trizone_stable",
            Self::Quarantine => "trizone_quarantine",
        }
    }
}

/// Opens a pool from `options` and checks it logged in as `role`, so a
/// misconfigured URL (say, the owner's) fails at start-up instead of quietly
/// bypassing the grants that isolate zones.
pub async fn connect(
    options: PgConnectOptions,
    role: DbRole,
    max_connections: u32,
) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let actual: Option<String> = sqlx::query_scalar!("SELECT session_user::text")
        .fetch_one(&pool)
        .await?;
    let actual = actual.unwrap_or_default();
    if actual != role.name() {
        pool.close().await;
        return Err(StoreError::WrongRole {
            expected: role.name(),
            actual,
        });
    }
    Ok(pool)
}

/// Like [`connect`], logging in as `role` on the server and database of
/// `owner_options` (local set-ups and tests, where roles use trust auth).
pub async fn connect_as(
    owner_options: &PgConnectOptions,
    role: DbRole,
    max_connections: u32,
) -> Result<PgPool, StoreError> {
    connect(
        owner_options.clone().username(role.name()),
        role,
        max_connections,
    )
    .await
}
