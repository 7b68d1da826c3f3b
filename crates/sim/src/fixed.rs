//! The simulator at its cheapest: every chat completion answered at once
//! with one fixed review, the request read but not looked at. It is the
//! upstream of gateway-overhead benchmarks (`bench/peers.sh`), where
//! whatever the upstream spends is taken from the gateway under test.

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

/// A `chat.completion` whose content is a review in the strict schema:
/// one finding and a summary, with usage, as OpenAI answers.
pub const COMPLETION: &str = r#"{"id":"chatcmpl-fixed","object":"chat.completion","created":1767225600,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"{\"findings\":[{\"line_start\":2,\"line_end\":2,\"severity\":\"high\",\"category\":\"security\",\"message\":\"eval() runs arbitrary code from the caller\"}],\"summary\":\"One security issue.\"}","refusal":null},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":120,"completion_tokens":40,"total_tokens":160}}"#;

/// `POST /v1/chat/completions` answering [`COMPLETION`], and `/healthz`.
pub fn router() -> Router {
    Router::new()
        .route("/v1/chat/completions", post(complete))
        .route("/healthz", get(|| async { "ok" }))
}

/// The body is taken whole so the connection is ready for the next one.
async fn complete(_request: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], COMPLETION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_answer_is_a_completion_holding_a_review() {
        let completion: serde_json::Value = serde_json::from_str(COMPLETION).unwrap();
        let content = completion["choices"][0]["message"]["content"]
            .as_str()
            .unwrap();
        let review: serde_json::Value = serde_json::from_str(content).unwrap();
        assert_eq!(review["findings"][0]["line_start"], 2);
        assert_eq!(completion["usage"]["total_tokens"], 160);
    }
}
