//! The router's one error type, and the kinds of failure a model call has.

use std::time::Duration;

use serde::Serialize;

pub use trizone_core::provider::ErrorKind;

/// One failed attempt at one model, with the provider's own message kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct CallError {
    pub kind: ErrorKind,
    pub message: String,
    /// HTTP status, when the provider answered.
    pub status: Option<u16>,
    /// The provider's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl CallError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            status: None,
            retry_after: None,
        }
    }
}

/// No model produced a review; the calls of its `Reviewed` say what each
/// model did.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("no review: {message}")]
pub struct RouterError {
    /// The kind of the last failure (what decided the outcome).
    pub kind: ErrorKind,
    pub message: String,
}
