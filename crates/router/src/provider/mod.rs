//! Model providers behind one trait: OpenAI-compatible chat completions and
//! Anthropic's Messages API. A provider makes one HTTP request per call;
//! retrying, deadlines and circuit breaking belong to the router.

use futures::future::BoxFuture;

use crate::error::{CallError, ErrorKind};
use crate::request::ChatRequest;

pub mod anthropic;
pub mod openai;

/// A model's answer and what it cost in tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

pub trait ChatProvider: Send + Sync {
    /// One request to `model`. Errors carry the provider's message.
    fn complete<'a>(
        &'a self,
        model: &'a str,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, CallError>>;
}

/// Classifies an HTTP failure the same way for every provider.
pub(crate) fn http_error(
    status: u16,
    retry_after: Option<std::time::Duration>,
    message: String,
) -> CallError {
    let kind = match status {
        429 => ErrorKind::RateLimited,
        500..=599 => ErrorKind::Server,
        _ => ErrorKind::Client,
    };
    CallError {
        kind,
        message: format!("HTTP {status}: {message}"),
        status: Some(status),
        retry_after,
    }
}

pub(crate) fn transport_error(error: &reqwest::Error) -> CallError {
    let kind = if error.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Connect
    };
    CallError::new(kind, trizone_core::error::chain(error))
}

/// `Retry-After` in seconds (the HTTP-date form is rare from model APIs and
/// is ignored, falling back to the router's own backoff).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(std::time::Duration::from_secs_f64)
}

/// The message inside a provider's JSON error body, or the body itself.
pub(crate) fn error_message(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}
