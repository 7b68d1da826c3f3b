//! The two wire formats: OpenAI chat completions and Anthropic messages.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::RngExt;
use serde_json::{Value, json};

use crate::answer;
use crate::profile::Behaviour;
use crate::state::SimState;

const MALFORMED_ANSWER: &str =
    "Sure! I looked at the code and it seems mostly fine, apart from a few style nits.";
const GARBAGE_BODY: &str = "<html><body><h1>502 Bad Gateway</h1></body></html>";

/// Which API a request came in on; they differ in shapes, not behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
}

pub async fn chat_completions(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer(&headers) {
        return error(
            Api::OpenAi,
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing bearer API key",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return not_json(Api::OpenAi, &e),
    };
    let Some(model) = request["model"].as_str() else {
        return error(
            Api::OpenAi,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "missing `model`",
        );
    };
    let Some(messages) = request["messages"].as_array() else {
        return error(
            Api::OpenAi,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "missing `messages`",
        );
    };
    let prompt: String = messages
        .iter()
        .map(|m| text_of(&m["content"]))
        .collect::<Vec<_>>()
        .join("\n");
    let user = messages
        .last()
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    respond(&state, Api::OpenAi, model, &prompt, &user).await
}

pub async fn messages(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Anthropic takes `x-api-key` or, as its current SDKs send, a bearer token.
    let keyed = headers.get("x-api-key").is_some_and(|v| !v.is_empty()) || bearer(&headers);
    if !keyed {
        return error(
            Api::Anthropic,
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "missing x-api-key header",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return not_json(Api::Anthropic, &e),
    };
    let (Some(model), Some(messages)) = (request["model"].as_str(), request["messages"].as_array())
    else {
        return error(
            Api::Anthropic,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "`model` and `messages` are required",
        );
    };
    if request["max_tokens"].as_u64().is_none() {
        return error(
            Api::Anthropic,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "max_tokens: Field required",
        );
    }
    let mut prompt = text_of(&request["system"]);
    for message in messages {
        prompt.push('\n');
        prompt.push_str(&text_of(&message["content"]));
    }
    let user = messages
        .last()
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    respond(&state, Api::Anthropic, model, &prompt, &user).await
}

pub async fn models(State(state): State<Arc<SimState>>) -> Json<Value> {
    let (_, profiles) = state.profiles();
    let data: Vec<Value> = profiles
        .keys()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "trizone-sim"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// A 400 in the API's own error shape for a body that is not JSON.
fn not_json(api: Api, cause: &serde_json::Error) -> Response {
    error(
        api,
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        &format!("body is not JSON: {cause}"),
    )
}

fn bearer(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| !token.trim().is_empty())
}

/// Message content is a string or a list of `{type: text, text}` parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Answers `prompt` (every message, for matching dataset cases and
/// counting tokens); `user` is the last message, the one holding the code.
/// What happens is drawn from the model and the code under review, not the
/// instructions around it: a simulated model's quality is its profile's, so
/// the same seed gives the same answers to configurations that differ only
/// in their prompts (the demo tags each of its prompts).
async fn respond(state: &SimState, api: Api, model: &str, prompt: &str, user: &str) -> Response {
    let mut decision = state.decide(model, user);
    let profile = &decision.profile;
    let normal: f64 = standard_normal(&mut decision.rng);
    let latency = Duration::from_secs_f64(profile.latency_ms(normal) / 1000.0);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let input_tokens = tokens(prompt);
    match decision.behaviour {
        Behaviour::Server => error(api, StatusCode::INTERNAL_SERVER_ERROR, "api_error", "the simulated model failed"),
        Behaviour::RateLimited => {
            let mut response = error(api, StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "simulated rate limit reached");
            let seconds = format!("{}", profile.retry_after_s);
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Behaviour::Garbage => (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], GARBAGE_BODY).into_response(),
        Behaviour::ErrorBody => {
            (StatusCode::OK, Json(json!({"error": {"message": "overloaded while generating", "type": "server_error"}}))).into_response()
        }
        Behaviour::Malformed => success(api, model, MALFORMED_ANSWER, input_tokens, false),
        Behaviour::Truncated => {
            let full = answer::review(&state.dataset(), prompt, user, profile.accuracy, &mut decision.rng);
            let cut: String = full.chars().take(full.len() / 2).collect();
            success(api, model, &cut, input_tokens, true)
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_millis(profile.hang_ms)).await;
            let text = answer::review(&state.dataset(), prompt, user, profile.accuracy, &mut decision.rng);
            success(api, model, &text, input_tokens, false)
        }
        Behaviour::Fenced => {
            let text = answer::review(&state.dataset(), prompt, user, profile.accuracy, &mut decision.rng);
            success(api, model, &format!("```json\n{text}\n```"), input_tokens, false)
        }
        Behaviour::Answer => {
            let text = answer::review(&state.dataset(), prompt, user, profile.accuracy, &mut decision.rng);
            success(api, model, &text, input_tokens, false)
        }
    }
}

/// About four characters a token, as tokenizers average on code and prose.
fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

fn standard_normal(rng: &mut impl rand::Rng) -> f64 {
    // Box–Muller: two uniform draws make one standard normal one.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn success(api: Api, model: &str, text: &str, input_tokens: u64, truncated: bool) -> Response {
    let output_tokens = tokens(text);
    let body = match api {
        Api::OpenAi => json!({
            "id": "chatcmpl-sim",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": if truncated { "length" } else { "stop" },
            }],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens, "total_tokens": input_tokens + output_tokens},
        }),
        Api::Anthropic => json!({
            "id": "msg_sim",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": if truncated { "max_tokens" } else { "end_turn" },
            "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }),
    };
    (StatusCode::OK, Json(body)).into_response()
}

fn error(api: Api, status: StatusCode, kind: &str, message: &str) -> Response {
    let body = match api {
        Api::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Api::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    };
    (status, Json(body)).into_response()
}
