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
    /// A value the database cannot hold (SQLSTATE class 22, "data
    /// exception", such as U+0000 in text or jsonb, or class 54, a value
    /// past a limit such as an index row's size). The row is at fault, so
    /// writing it again fails again.
    #[error("refused value (SQLSTATE {code}): {message}")]
    InvalidValue { code: String, message: String },
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
        let code = db.code().map(|code| code.into_owned()).unwrap_or_default();
        match code.as_str() {
            // unique_violation, exclusion_violation
            "23505" | "23P01" => Self::Conflict { constraint },
            // The rest of class 23, integrity constraint violation: foreign
            // key, check, not null, restrict.
            code if code.starts_with("23") => Self::Constraint {
                constraint,
                message,
            },
            // Class 22, data exception, and class 54, program limit
            // exceeded: the value itself cannot be stored.
            code if code.starts_with("22") || code.starts_with("54") => Self::InvalidValue {
                code: code.to_owned(),
                message,
            },
            // insufficient_privilege, read_only_sql_transaction
            "42501" | "25006" => Self::PermissionDenied { message },
            _ => Self::Database(error),
        }
    }
}

impl StoreError {
    /// True when the database answered and refused the rows themselves
    /// (a constraint, a value it cannot hold): writing the same rows again
    /// fails again, so a batch writer must set the offending row aside
    /// rather than wait for the database to recover.
    pub fn is_rejected_row(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. } | Self::Constraint { .. } | Self::InvalidValue { .. }
        )
    }

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
