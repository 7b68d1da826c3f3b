//! The router's one error type, and the kinds of failure a model call has.

use std::time::Duration;

use serde::Serialize;

use crate::outcome::CallOutcome;

/// Why a model call failed. The kind decides retrying, fallback and the
/// circuit breaker; its name is the `outcome` label of the metrics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The provider could not be reached (refused, reset, DNS).
    Connect,
    /// The call's deadline passed (including retries).
    Timeout,
    /// 429: the provider asks us to slow down.
    RateLimited,
    /// 5xx, or an error body the provider sent with a 200.
    Server,
    /// Another 4xx: our request was refused (bad model name, bad key).
    Client,
    /// The answer was not a review: unparseable, wrong shape, or truncated.
    Malformed,
    /// The circuit breaker for this provider and model is open.
    CircuitOpen,
    /// The router cannot make the call (no API key, bad template).
    Config,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Server => "server",
            Self::Client => "client",
            Self::Malformed => "malformed",
            Self::CircuitOpen => "circuit_open",
            Self::Config => "config",
        }
    }

    /// Worth another attempt at the same provider.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Connect | Self::RateLimited | Self::Server)
    }

    /// Says the provider is unhealthy, so it counts towards opening its
    /// circuit. Malformed answers and our own mistakes do not.
    pub fn is_provider_fault(self) -> bool {
        matches!(
            self,
            Self::Connect | Self::Timeout | Self::RateLimited | Self::Server
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// No model produced a review. `calls` says what each model did.
#[derive(Debug, Clone, thiserror::Error, Serialize)]
#[error("no review: {message}")]
pub struct RouterError {
    /// The kind of the last failure (what decided the outcome).
    pub kind: ErrorKind,
    pub message: String,
    pub calls: Vec<CallOutcome>,
    /// Wall time of the whole review, retries and fallback included.
    pub latency_ms: f64,
}
