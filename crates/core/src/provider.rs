//! The name of a model provider. Providers are the operator's: each service
//! is given a list of them (name, API, base URL, key file), and a
//! configuration names one. A configuration never carries an endpoint of
//! its own, so a provider's key only ever goes to the host it belongs to.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MAX_CHARS: usize = 63;

/// A provider's name: 1 to 63 lowercase letters, digits and dashes,
/// starting with a letter or digit (`openai`, `anthropic`, `vllm-internal`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "openai")]
pub struct ProviderName(String);

impl ProviderName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_CHARS
            && !raw.starts_with('-')
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(format!(
                "a provider is named by 1 to {MAX_CHARS} lowercase letters, digits and dashes (`openai`, `vllm-internal`); ask your operator which providers this platform offers"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<ProviderName> for String {
    fn from(name: ProviderName) -> Self {
        name.0
    }
}

impl std::fmt::Display for ProviderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a model call failed. The kind decides retrying, fallback and the
/// circuit breaker; its name is the `outcome` label of the metrics.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "snake_case")
)]
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
    /// The model, or the provider's content filter, declined to answer.
    /// Not retried: the same request would be declined again.
    Refused,
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
            Self::Refused => "refused",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_lowercase_labels() {
        for good in [
            "openai",
            "anthropic",
            "vllm-internal",
            "sim-openai",
            "a",
            "9",
        ] {
            assert_eq!(ProviderName::parse(good).unwrap().as_str(), good);
        }
        let too_long = "a".repeat(MAX_CHARS + 1);
        for bad in [
            "",
            "OpenAI",
            "-x",
            "a b",
            "a_b",
            "https://evil.example",
            &too_long,
        ] {
            assert!(ProviderName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
