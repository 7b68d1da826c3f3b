//! OpenAI-compatible chat completions through async-openai: OpenAI itself,
//! Azure-style gateways, vLLM, Ollama, at the base URL the operator gave.

use std::task::{Context, Poll};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use async_openai::types::chat::{CompletionUsage, CreateChatCompletionResponse, FinishReason};
use futures::future::BoxFuture;
use serde::Serialize;

use super::{
    ChatProvider, Completion, Tokens, error_message, http_error, refused, retry_after,
    transport_error, truncated,
};
use crate::error::{CallError, ErrorKind};
use crate::providers::Provider;
use crate::request::ChatRequest;

pub struct OpenAiProvider {
    client: Client<OpenAIConfig>,
    response_format: ResponseFormat,
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider").finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    pub fn new(http: reqwest::Client, provider: &Provider) -> Self {
        let config = OpenAIConfig::new()
            .with_api_base(provider.base_url.as_str().trim_end_matches('/'))
            .with_api_key(provider.key());
        // Our own HTTP service replaces async-openai's default one, which
        // retries on its own: retries must live in one place, under the
        // router's deadline.
        let client = Client::with_config(config)
            .with_http_service(FailuresAsErrors(ReqwestService::new(http)));
        let response_format = if provider.structured_output {
            ResponseFormat {
                kind: "json_schema",
                json_schema: Some(JsonSchema {
                    name: crate::schema::NAME,
                    description: crate::schema::DESCRIPTION,
                    schema: crate::schema::review_text(),
                    strict: true,
                }),
            }
        } else {
            ResponseFormat {
                kind: "json_object",
                json_schema: None,
            }
        };
        Self {
            client,
            response_format,
        }
    }
}

/// The request body, borrowing the prompt and the code rather than copying
/// them into async-openai's owned request type (the code may be 256 KiB).
#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: [ChatMessage<'a>; 2],
    temperature: f32,
    max_completion_tokens: u32,
    response_format: &'a ResponseFormat,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

/// `json_object`, or a strict `json_schema` borrowing the one schema.
#[derive(Debug, Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    json_schema: Option<JsonSchema>,
}

#[derive(Debug, Serialize)]
struct JsonSchema {
    name: &'static str,
    description: &'static str,
    schema: &'static serde_json::value::RawValue,
    strict: bool,
}

impl ChatProvider for OpenAiProvider {
    fn complete<'a>(
        &'a self,
        model: &'a str,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Completion, CallError>> {
        Box::pin(async move {
            let body = ChatBody {
                model,
                messages: [
                    ChatMessage {
                        role: "system",
                        content: &request.system,
                    },
                    ChatMessage {
                        role: "user",
                        content: &request.user,
                    },
                ],
                temperature: request.temperature,
                max_completion_tokens: request.max_tokens,
                response_format: &self.response_format,
            };
            let response: CreateChatCompletionResponse = self
                .client
                .chat()
                .create_byot(body)
                .await
                .map_err(classify)?;
            let usage = response.usage.ok_or_else(|| {
                CallError::new(ErrorKind::Malformed, "the response has no token usage")
            })?;
            let choice = response.choices.into_iter().next().ok_or_else(|| {
                CallError::new(ErrorKind::Malformed, "the response has no choices")
            })?;
            let message = choice.message;
            let answer = match (message.refusal, choice.finish_reason) {
                // Structured outputs report a refusal in a field of its own.
                (Some(refusal), _) => Err(refused(&refusal)),
                (None, Some(FinishReason::Length)) => Err(truncated()),
                (None, Some(FinishReason::ContentFilter)) => Err(CallError::new(
                    ErrorKind::Refused,
                    "the provider's content filter stopped the answer",
                )),
                (None, _) => Ok(message.content.unwrap_or_default()),
            };
            Ok(Completion {
                answer,
                tokens: tokens(&usage),
            })
        })
    }
}

fn tokens(usage: &CompletionUsage) -> Tokens {
    let detail = |n: Option<u32>| n.map_or(0, u64::from);
    Tokens {
        input: usage.prompt_tokens.into(),
        cached_input: detail(
            usage
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
        ),
        output: usage.completion_tokens.into(),
        reasoning: detail(
            usage
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
        ),
    }
}

fn classify(error: OpenAIError) -> CallError {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<CallError>() {
            Ok(call_error) => *call_error,
            Err(other) => CallError::new(ErrorKind::Connect, other.to_string()),
        },
        OpenAIError::Reqwest(e) => transport_error(&e),
        OpenAIError::ApiError(e) => http_error(e.status_code.as_u16(), None, e.api_error.message),
        // A 200 whose body is not a completion: an error object, garbage or a cut-off body.
        OpenAIError::JSONDeserialize(e, content) => {
            let message = error_message(&content);
            let kind = if content.contains("\"error\"") {
                ErrorKind::Server
            } else {
                ErrorKind::Malformed
            };
            CallError::new(kind, format!("unreadable response ({e}): {message}"))
        }
        other => CallError::new(ErrorKind::Client, other.to_string()),
    }
}

/// Turns any non-2xx response into a [`CallError`] that keeps the status,
/// `Retry-After` and the provider's message, which async-openai's own error
/// type would drop.
#[derive(Clone, Debug)]
struct FailuresAsErrors(ReqwestService);

impl tower::Service<HttpRequestFactory> for FailuresAsErrors {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let call = self.0.call(request);
        Box::pin(async move {
            let response = call.await?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let wait = retry_after(response.headers());
            let body = response.text().await.unwrap_or_default();
            let error = http_error(status.as_u16(), wait, error_message(&body));
            Err(OpenAIError::Boxed(Box::new(error)))
        })
    }
}
