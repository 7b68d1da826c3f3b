//! The one error type of `trizone-store`.

use trizone_core::ExperimentStatus;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    /// A unique or exclusion constraint refused the write.
    #[error("conflicts with an existing row ({constraint})")]
    Conflict { constraint: String },
    /// A foreign-key, check or not-null constraint refused the write.
    #[error("refused by constraint {constraint}: {message}")]
    Constraint { constraint: String, message: String },
    /// The database role lacks the privilege: a zone overstepped its grants.
    #[error("permission denied: {message}")]
    PermissionDenied { message: String },
    /// The row moved on since it was read (optimistic concurrency).
    #[error("experiment {id} is {actual}, not {expected}")]
    StaleStatus {
        id: String,
        expected: ExperimentStatus,
        actual: ExperimentStatus,
    },
    #[error(transparent)]
    Domain(#[from] trizone_core::Error),
    /// The pool logged in as another role than the binary's own.
    #[error("connected as database role `{actual}`, expected `{expected}`")]
    WrongRole {
        expected: &'static str,
        actual: String,
    },
    /// A stored value the code cannot read back (a migration/code mismatch).
    #[error("unreadable stored value in {column}: {value}")]
    Corrupt { column: &'static str, value: String },
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let Some(db) = error.as_database_error() else {
            return Self::Database(error);
        };
        let constraint = db.constraint().unwrap_or("unnamed").to_owned();
        let message = db.message().to_owned();
        match db.code().as_deref() {
            // unique_violation, exclusion_violation
            Some("23505" | "23P01") => Self::Conflict { constraint },
            // foreign_key_violation, check_violation, not_null_violation
            Some("23503" | "23514" | "23502") => Self::Constraint {
                constraint,
                message,
            },
            // insufficient_privilege, read_only_sql_transaction
            Some("42501" | "25006") => Self::PermissionDenied { message },
            _ => Self::Database(error),
        }
    }
}

impl StoreError {
    /// True when retrying the same operation may succeed (lost connection,
    /// serialization failure, deadlock).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Database(error) => match error.as_database_error() {
                Some(db) => matches!(db.code().as_deref(), Some("40001" | "40P01")),
                None => matches!(
                    error,
                    sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
                ),
            },
            _ => false,
        }
    }
}
