//! Model providers behind one trait: OpenAI-compatible chat completions and
//! Anthropic's Messages API. A provider makes one HTTP request per call;
//! retrying, deadlines and circuit breaking belong to the router.

use futures::future::BoxFuture;

use crate::error::{CallError, ErrorKind};
use crate::request::ChatRequest;

pub mod anthropic;
pub mod openai;

/// What a provider billed for, and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The review as the model wrote it (the message text, or its tool
    /// call's input), or why there is none: a refusal, a truncation, the
    /// wrong tool. An answer is paid for whatever came of it, so these are
    /// not the call's errors.
    pub answer: Result<String, CallError>,
    pub tokens: Tokens,
}

/// Tokens as the provider's `usage` reports them, the parts billed at
/// their own rates broken out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Every prompt token, cached ones included.
    pub input: u64,
    /// Of `input`, those served from the provider's prompt cache.
    pub cached_input: u64,
    /// Every generated token, reasoning included (billed as output).
    pub output: u64,
    /// Of `output`, those a reasoning model spent thinking.
    pub reasoning: u64,
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

/// A refusal, with the model's own words when it gave some.
pub(crate) fn refused(said: &str) -> CallError {
    let said: String = said.trim().chars().take(200).collect();
    let message = if said.is_empty() {
        "the model declined to review the code".to_owned()
    } else {
        format!("the model declined to review the code: {said:?}")
    };
    CallError::new(ErrorKind::Refused, message)
}

pub(crate) fn truncated() -> CallError {
    CallError::new(
        ErrorKind::Malformed,
        "the answer was truncated at max_tokens",
    )
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
