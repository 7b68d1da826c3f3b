//! Anthropic's Messages API over reqwest.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{ChatProvider, Completion, error_message, http_error, retry_after, transport_error};
use crate::error::{CallError, ErrorKind};
use crate::providers::Provider;
use crate::request::ChatRequest;

const API_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    http: reqwest::Client,
    url: String,
    api_key: String,
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// The provider's base URL is the API root without `/v1` (as
    /// Anthropic's SDKs take it).
    pub fn new(http: reqwest::Client, provider: &Provider) -> Self {
        let base = provider.base_url.as_str().trim_end_matches('/');
        Self {
            http,
            url: format!("{base}/v1/messages"),
            api_key: provider.key().to_owned(),
        }
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    temperature: f32,
    system: &'a str,
    messages: [Message<'a>; 1],
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

/// Why the model stopped; only a truncation matters here.
#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum StopReason {
    MaxTokens,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: BlockKind,
    #[serde(default)]
    text: String,
}

/// A block's type; the answer is the text blocks (others: thinking, tool use).
#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum BlockKind {
    Text,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
}

impl ChatProvider for AnthropicProvider {
    fn complete<'a>(
        &'a self,
        model: &'a str,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, CallError>> {
        Box::pin(async move {
            let body = MessagesRequest {
                model,
                max_tokens: request.max_tokens,
                temperature: request.temperature,
                system: &request.system,
                messages: [Message {
                    role: "user",
                    content: &request.user,
                }],
            };
            let response = self
                .http
                .post(&self.url)
                .header("x-api-key", &self.api_key)
                .header("anthropic-version", API_VERSION)
                .json(&body)
                .send()
                .await
                .map_err(|e| transport_error(&e))?;
            let status = response.status();
            let wait = retry_after(response.headers());
            let text = response.text().await.map_err(|e| transport_error(&e))?;
            if !status.is_success() {
                return Err(http_error(status.as_u16(), wait, error_message(&text)));
            }
            let parsed: MessagesResponse = serde_json::from_str(&text).map_err(|e| {
                // A 200 carrying an error object is the provider failing, not the model.
                let kind = if text.contains("\"error\"") {
                    ErrorKind::Server
                } else {
                    ErrorKind::Malformed
                };
                CallError::new(
                    kind,
                    format!("unreadable response ({e}): {}", error_message(&text)),
                )
            })?;
            if parsed.stop_reason == Some(StopReason::MaxTokens) {
                return Err(CallError::new(
                    ErrorKind::Malformed,
                    "the answer was truncated at max_tokens",
                ));
            }
            let answer: String = parsed
                .content
                .iter()
                .filter(|b| b.kind == BlockKind::Text)
                .map(|b| b.text.as_str())
                .collect();
            Ok(Completion {
                text: answer,
                input_tokens: parsed.usage.input_tokens,
                output_tokens: parsed.usage.output_tokens,
            })
        })
    }
}
