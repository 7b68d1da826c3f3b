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
use crate::reply::{self, Reply, Usage, tokens};
use crate::shape::{Shape, anthropic_shape, openai_shape};
use crate::state::SimState;

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
    let shape = match openai_shape(&request["response_format"]) {
        Ok(shape) => shape,
        Err(message) => {
            return error(
                Api::OpenAi,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &message,
            );
        }
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
    respond(&state, Api::OpenAi, model, &prompt, &user, shape).await
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
    let shape = match anthropic_shape(&request) {
        Ok(shape) => shape,
        Err(message) => {
            return error(
                Api::Anthropic,
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &message,
            );
        }
    };
    let mut prompt = text_of(&request["system"]);
    for message in messages {
        prompt.push('\n');
        prompt.push_str(&text_of(&message["content"]));
    }
    let user = messages
        .last()
        .map(|m| text_of(&m["content"]))
        .unwrap_or_default();
    respond(&state, Api::Anthropic, model, &prompt, &user, shape).await
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
async fn respond(
    state: &SimState,
    api: Api,
    model: &str,
    prompt: &str,
    user: &str,
    shape: Shape,
) -> Response {
    let mut decision = state.decide(model, user);
    let profile = &decision.profile;
    let normal: f64 = standard_normal(&mut decision.rng);
    let latency = Duration::from_secs_f64(profile.latency_ms(normal) / 1000.0);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let review = || {
        answer::review(
            &state.dataset(),
            prompt,
            user,
            profile.accuracy,
            &mut decision.rng,
        )
    };
    let reply = match decision.behaviour {
        Behaviour::Server => {
            return error(
                api,
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "the simulated model failed",
            );
        }
        Behaviour::RateLimited => return rate_limited(api, profile.retry_after_s),
        Behaviour::Garbage => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                GARBAGE_BODY,
            )
                .into_response();
        }
        Behaviour::ErrorBody => {
            let body = json!({"error": {"message": "overloaded while generating", "type": "server_error"}});
            return (StatusCode::OK, Json(body)).into_response();
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_millis(profile.hang_ms)).await;
            Reply::of(Behaviour::Answer, &shape, review, user)
        }
        behaviour => Reply::of(behaviour, &shape, review, user),
    };
    let usage = Usage::of(profile, tokens(prompt), &reply);
    let body = match api {
        Api::OpenAi => reply::openai_body(model, reply, &shape, usage),
        Api::Anthropic => reply::anthropic_body(model, reply, &shape, usage),
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// A 429 with `Retry-After`.
fn rate_limited(api: Api, retry_after_s: f64) -> Response {
    let mut response = error(
        api,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limit_error",
        "simulated rate limit reached",
    );
    if let Ok(value) = HeaderValue::from_str(&format!("{retry_after_s}")) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn standard_normal(rng: &mut impl rand::Rng) -> f64 {
    // Box–Muller: two uniform draws make one standard normal one.
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
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
