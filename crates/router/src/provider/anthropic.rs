//! Anthropic's Messages API over reqwest.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    ChatProvider, Completion, Tokens, error_message, http_error, refused, retry_after,
    transport_error, truncated,
};
use crate::error::{CallError, ErrorKind};
use crate::providers::Provider;
use crate::request::ChatRequest;
use crate::schema;

const API_VERSION: &str = "2023-06-01";

pub struct AnthropicProvider {
    http: reqwest::Client,
    url: String,
    api_key: String,
    /// The review tool every request forces, when structured output is on.
    tool: Option<[Tool; 1]>,
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("url", &self.url)
            .field("structured_output", &self.tool.is_some())
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// The provider's base URL is the API root without `/v1` (as
    /// Anthropic's SDKs take it).
    pub fn new(http: reqwest::Client, provider: &Provider) -> Self {
        let base = provider.base_url.as_str().trim_end_matches('/');
        let tool = provider.structured_output.then(|| {
            [Tool {
                name: schema::NAME,
                description: schema::DESCRIPTION,
                input_schema: schema::review_text(),
            }]
        });
        Self {
            http,
            url: format!("{base}/v1/messages"),
            api_key: provider.key().to_owned(),
            tool,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoice>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct Tool {
    name: &'static str,
    description: &'static str,
    input_schema: &'static serde_json::value::RawValue,
}

/// `{"type": "tool", "name": ...}`: the model must call that tool.
#[derive(Serialize)]
struct ToolChoice {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    stop_reason: Option<StopReason>,
    usage: Usage,
}

/// Why the model stopped; a truncation and a refusal end the answer.
#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum StopReason {
    MaxTokens,
    Refusal,
    #[serde(other)]
    Other,
}

/// A content block: text, a tool call, or another kind (thinking) that
/// is not part of the answer.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

/// Input tokens come in three parts: uncached, written to the cache and
/// read from it. trizone sets no `cache_control`, so writes stay at zero
/// and are billed, like uncached input, at the input rate.
#[derive(Deserialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl Usage {
    fn tokens(&self) -> Tokens {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        Tokens {
            input: self.input_tokens + self.cache_creation_input_tokens.unwrap_or(0) + cached,
            cached_input: cached,
            output: self.output_tokens,
            // Thinking is billed as output and not reported apart.
            reasoning: 0,
        }
    }
}

impl MessagesResponse {
    /// The review the model gave: its call of the review tool, or, when it
    /// called none (a server that ignores `tool_choice`, or no tool was
    /// offered), its text, which the contract in the prompt governs.
    fn answer(self) -> Result<String, CallError> {
        match self.stop_reason {
            Some(StopReason::MaxTokens) => return Err(truncated()),
            Some(StopReason::Refusal) => return Err(refused(&self.text())),
            _ => {}
        }
        let mut text = String::new();
        for block in self.content {
            match block {
                ContentBlock::ToolUse { name, input } if name == schema::NAME => {
                    return Ok(input.to_string());
                }
                ContentBlock::ToolUse { name, .. } => {
                    return Err(CallError::new(
                        ErrorKind::Malformed,
                        format!("the model called the tool `{name}`, not `{}`", schema::NAME),
                    ));
                }
                ContentBlock::Text { text: part } => text.push_str(&part),
                ContentBlock::Other => {}
            }
        }
        Ok(text)
    }

    fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|block| match block {
                ContentBlock::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }
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
                tools: self.tool.as_ref(),
                tool_choice: self.tool.as_ref().map(|_| ToolChoice {
                    kind: "tool",
                    name: schema::NAME,
                }),
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
            let tokens = parsed.usage.tokens();
            Ok(Completion {
                answer: parsed.answer(),
                tokens,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_of(content: Value, stop_reason: &str) -> Result<String, CallError> {
        let body = serde_json::json!({"content": content, "stop_reason": stop_reason, "usage": {"input_tokens": 1, "output_tokens": 1}});
        serde_json::from_value::<MessagesResponse>(body)
            .unwrap()
            .answer()
    }

    #[test]
    fn the_review_tools_input_is_the_answer_whatever_blocks_come_with_it() {
        let content = serde_json::json!([
            {"type": "thinking", "thinking": "hmm", "signature": "x"},
            {"type": "text", "text": "Calling the tool."},
            {"type": "tool_use", "id": "t", "name": "submit_review", "input": {"findings": [], "summary": "ok"}},
        ]);
        let answer = answer_of(content, "tool_use").unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&answer).unwrap(),
            serde_json::json!({"findings": [], "summary": "ok"})
        );
    }

    #[test]
    fn without_a_tool_call_the_text_is_the_answer() {
        let content = serde_json::json!([{"type": "text", "text": "{\"findings\": []"}, {"type": "text", "text": ", \"summary\": \"ok\"}"}]);
        assert_eq!(
            answer_of(content, "end_turn").unwrap(),
            r#"{"findings": [], "summary": "ok"}"#
        );
    }

    #[test]
    fn stop_reasons_and_other_tools_end_the_answer() {
        let text = serde_json::json!([{"type": "text", "text": "I can't."}]);
        let refused = answer_of(text.clone(), "refusal").unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Refused);
        assert!(refused.message.contains("I can't."), "{refused}");
        let cut = answer_of(text, "max_tokens").unwrap_err();
        assert!(cut.message.contains("truncated"), "{cut}");
        let other =
            serde_json::json!([{"type": "tool_use", "id": "t", "name": "run_code", "input": {}}]);
        let wrong = answer_of(other, "tool_use").unwrap_err();
        assert_eq!(wrong.kind, ErrorKind::Malformed);
        assert!(wrong.message.contains("`run_code`"), "{wrong}");
    }
}
