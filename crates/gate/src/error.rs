//! The gate's one error type.

use trizone_http::ApiError;
use trizone_store::StoreError;

#[cfg(feature = "faults")]
use crate::faults::Step;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// V2 could not be asked (unreachable, or an answer that is not one).
    #[error("V2 at {url}: {message}")]
    V2 { url: String, message: String },
    /// A test's injected crash after a saga step.
    #[cfg(feature = "faults")]
    #[error("injected crash after the saga step `{0:?}`")]
    InjectedCrash(Step),
    /// The request cannot be done in the platform's current state.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// A value to store would not encode as JSON (a bug).
    #[error("cannot encode {what} as JSON")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl From<sqlx::Error> for GateError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

impl From<GateError> for ApiError {
    fn from(error: GateError) -> Self {
        match error {
            GateError::Store(error) => error.into(),
            GateError::Refused { code, message } => ApiError::Refused { code, message },
            GateError::V2 { .. } => ApiError::Unavailable {
                message: error.to_string(),
            },
            #[cfg(feature = "faults")]
            GateError::InjectedCrash(_) => ApiError::internal(error),
            GateError::Encode { .. } => ApiError::internal(error),
        }
    }
}
