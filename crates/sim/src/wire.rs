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
const REFUSAL: &str = "I'm sorry, but I can't help with reviewing this code.";
/// The tool a model that calls the wrong one calls.
const OTHER_TOOL: &str = "suggest_refactoring";
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

/// The shape a request asked the answer in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// Free text: the prompt is all the model was told.
    Text,
    /// Text that is exactly an instance of a JSON schema (OpenAI's
    /// `response_format`, Anthropic's `output_format`).
    Schema,
    /// A call of this tool, among those offered.
    Tool(String),
}

/// `response_format`: `text` and `json_object` leave the form to the model;
/// a `json_schema` marked strict must be in the strict subset, or OpenAI
/// refuses the request before any model sees it.
fn openai_shape(format: &Value) -> Result<Shape, String> {
    match format["type"].as_str() {
        None | Some("text" | "json_object") => Ok(Shape::Text),
        Some("json_schema") => {
            let spec = &format["json_schema"];
            let Some(name) = spec["name"].as_str() else {
                return Err(
                    "Missing required parameter: 'response_format.json_schema.name'.".into(),
                );
            };
            if spec["strict"] == Value::Bool(true)
                && let Some(problem) = strict_problem(&spec["schema"])
            {
                return Err(format!(
                    "Invalid schema for response_format '{name}': {problem}"
                ));
            }
            Ok(Shape::Schema)
        }
        Some(other) => Err(format!(
            "Invalid value: '{other}'. Supported values are: 'json_object', 'json_schema', and 'text'."
        )),
    }
}

/// What OpenAI's strict mode refuses: an object that allows properties it
/// does not list, or that leaves one of them optional.
fn strict_problem(schema: &Value) -> Option<String> {
    match schema {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("object") {
                if map.get("additionalProperties") != Some(&Value::Bool(false)) {
                    return Some(
                        "'additionalProperties' is required to be supplied and to be false.".into(),
                    );
                }
                let required: Vec<&str> = map
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let properties = map.get("properties").and_then(Value::as_object);
                if let Some(missing) = properties
                    .into_iter()
                    .flat_map(|p| p.keys())
                    .find(|key| !required.contains(&key.as_str()))
                {
                    return Some(format!(
                        "'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'."
                    ));
                }
            }
            map.values().find_map(strict_problem)
        }
        Value::Array(items) => items.iter().find_map(strict_problem),
        _ => None,
    }
}

/// `tools` and `tool_choice` (or `output_config`), checked as Anthropic
/// checks them: every tool named with an object `input_schema`, and a
/// forced tool among them.
fn anthropic_shape(request: &Value) -> Result<Shape, String> {
    let Some(tools) = request["tools"].as_array() else {
        // `output_config.format` is the current spelling; `output_format`
        // the beta's.
        let schema = request["output_config"]["format"]["type"] == "json_schema"
            || request["output_format"]["type"] == "json_schema";
        return Ok(if schema { Shape::Schema } else { Shape::Text });
    };
    let mut names = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let Some(name) = tool["name"].as_str().filter(|n| !n.is_empty()) else {
            return Err(format!("tools.{i}.name: Field required"));
        };
        if tool["input_schema"]["type"] != "object" {
            return Err(format!(
                "tools.{i}.input_schema.type: Input should be 'object'"
            ));
        }
        names.push(name);
    }
    let choice = &request["tool_choice"];
    match choice["type"].as_str() {
        Some("none") => Ok(Shape::Text),
        Some("tool") => match choice["name"].as_str() {
            Some(name) if names.contains(&name) => Ok(Shape::Tool(name.to_owned())),
            name => Err(format!(
                "tool_choice: tool `{}` is not among the tools offered",
                name.unwrap_or_default()
            )),
        },
        _ => names
            .first()
            .map(|name| Shape::Tool((*name).to_owned()))
            .ok_or_else(|| "tools: List should have at least 1 item".to_owned()),
    }
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

/// What a model says, before the wire format dresses it.
#[derive(Debug)]
enum Reply {
    Text(String),
    /// Cut off at `max_tokens`, with the text written so far.
    Truncated(String),
    Refusal,
    Call {
        name: String,
        input: Value,
    },
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
    let mut review = || {
        answer::review(
            &state.dataset(),
            prompt,
            user,
            profile.accuracy,
            &mut decision.rng,
        )
    };
    // The schema or the tool is what the model writes, in structured mode.
    let answered = |review: Value| match &shape {
        Shape::Tool(name) => Reply::Call {
            name: name.clone(),
            input: review,
        },
        Shape::Text | Shape::Schema => Reply::Text(review.to_string()),
    };
    let free = shape == Shape::Text;
    let reply = match decision.behaviour {
        Behaviour::Server => {
            return error(
                api,
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "the simulated model failed",
            );
        }
        Behaviour::RateLimited => {
            let mut response = error(
                api,
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "simulated rate limit reached",
            );
            let seconds = format!("{}", profile.retry_after_s);
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
        Behaviour::Garbage => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/html")],
                GARBAGE_BODY,
            )
                .into_response();
        }
        Behaviour::ErrorBody => {
            return (StatusCode::OK, Json(json!({"error": {"message": "overloaded while generating", "type": "server_error"}}))).into_response();
        }
        Behaviour::Hang => {
            tokio::time::sleep(Duration::from_millis(profile.hang_ms)).await;
            answered(review())
        }
        Behaviour::Malformed if free => Reply::Text(MALFORMED_ANSWER.to_owned()),
        Behaviour::Fenced if free => Reply::Text(format!("```json\n{}\n```", review())),
        Behaviour::Preamble if free => Reply::Text(format!(
            "Here is my review of the code:\n\n{}\n\nLet me know if you would like me to fix any of these.",
            review()
        )),
        Behaviour::Truncated => {
            let full = review().to_string();
            Reply::Truncated(full.chars().take(full.len() / 2).collect())
        }
        Behaviour::Refusal => Reply::Refusal,
        Behaviour::Empty => Reply::Text(String::new()),
        Behaviour::OutOfRange => answered(answer::beyond_the_file(review(), user)),
        Behaviour::WrongTool if matches!(shape, Shape::Tool(_)) => Reply::Call {
            name: OTHER_TOOL.to_owned(),
            input: review(),
        },
        Behaviour::NoTool if matches!(shape, Shape::Tool(_)) => Reply::Text(review().to_string()),
        Behaviour::Answer
        | Behaviour::Malformed
        | Behaviour::Fenced
        | Behaviour::Preamble
        | Behaviour::WrongTool
        | Behaviour::NoTool => answered(review()),
    };
    let usage = Usage::of(profile, tokens(prompt), &reply);
    let body = match api {
        Api::OpenAi => openai_body(model, reply, &shape, usage),
        Api::Anthropic => anthropic_body(model, reply, &shape, usage),
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// Tokens as the simulated provider bills them.
#[derive(Debug, Clone, Copy)]
struct Usage {
    input: u64,
    cached_input: u64,
    /// Reasoning included.
    output: u64,
    reasoning: u64,
}

impl Usage {
    fn of(profile: &crate::profile::Profile, input: u64, reply: &Reply) -> Self {
        let written = match reply {
            Reply::Text(text) | Reply::Truncated(text) => tokens(text),
            Reply::Refusal => tokens(REFUSAL),
            Reply::Call { input, .. } => tokens(&input.to_string()),
        };
        Self {
            input,
            cached_input: (input as f64 * profile.cached_input_share).floor() as u64,
            output: written + profile.reasoning_tokens,
            reasoning: profile.reasoning_tokens,
        }
    }
}

fn openai_body(model: &str, reply: Reply, shape: &Shape, usage: Usage) -> Value {
    let (content, refusal, finish) = match reply {
        Reply::Text(text) => (Value::from(text), Value::Null, "stop"),
        Reply::Truncated(text) => (Value::from(text), Value::Null, "length"),
        // Under a schema the refusal has a field of its own; otherwise the
        // apology is the answer.
        Reply::Refusal if *shape == Shape::Schema => (Value::Null, Value::from(REFUSAL), "stop"),
        Reply::Refusal => (Value::from(REFUSAL), Value::Null, "stop"),
        Reply::Call { input, .. } => (Value::from(input.to_string()), Value::Null, "stop"),
    };
    json!({
        "id": "chatcmpl-sim",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": refusal},
            "finish_reason": finish,
        }],
        "usage": {
            "prompt_tokens": usage.input,
            "completion_tokens": usage.output,
            "total_tokens": usage.input + usage.output,
            "prompt_tokens_details": {"cached_tokens": usage.cached_input},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning},
        },
    })
}

fn anthropic_body(model: &str, reply: Reply, shape: &Shape, usage: Usage) -> Value {
    let text = |text: String| {
        if text.is_empty() {
            json!([])
        } else {
            json!([{"type": "text", "text": text}])
        }
    };
    let (content, stop) = match reply {
        Reply::Text(answer) => (text(answer), "end_turn"),
        // A tool call cut off leaves its input unfinished; Anthropic sends
        // what it has, and the stop reason says why.
        Reply::Truncated(answer) => match shape {
            Shape::Tool(name) => (
                json!([{"type": "tool_use", "id": "toolu_sim", "name": name, "input": {}}]),
                "max_tokens",
            ),
            Shape::Text | Shape::Schema => (text(answer), "max_tokens"),
        },
        Reply::Refusal => (text(REFUSAL.to_owned()), "refusal"),
        Reply::Call { name, input } => (
            json!([{"type": "tool_use", "id": "toolu_sim", "name": name, "input": input}]),
            "tool_use",
        ),
    };
    json!({
        "id": "msg_sim",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {
            "input_tokens": usage.input - usage.cached_input,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": usage.cached_input,
            "output_tokens": usage.output,
        },
    })
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

fn error(api: Api, status: StatusCode, kind: &str, message: &str) -> Response {
    let body = match api {
        Api::OpenAi => {
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
        Api::Anthropic => json!({"type": "error", "error": {"type": kind, "message": message}}),
    };
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strict_schema_must_close_and_require_every_object() {
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert!(
            strict_problem(&open)
                .unwrap()
                .contains("additionalProperties")
        );
        let optional = json!({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"], "additionalProperties": false});
        assert!(strict_problem(&optional).unwrap().contains("Missing 'b'"));
        let nested = json!({"type": "object", "additionalProperties": false, "required": ["x"], "properties": {"x": {"type": "array", "items": open}}});
        assert!(strict_problem(&nested).is_some());
        let closed = json!({"type": "object", "additionalProperties": false, "required": ["a"], "properties": {"a": {"type": "string"}}});
        assert_eq!(strict_problem(&closed), None);
        // Only a schema marked strict is held to it.
        let loose = json!({"type": "json_schema", "json_schema": {"name": "n", "schema": open}});
        assert_eq!(openai_shape(&loose), Ok(Shape::Schema));
        assert_eq!(openai_shape(&Value::Null), Ok(Shape::Text));
        assert!(openai_shape(&json!({"type": "xml"})).is_err());
    }

    #[test]
    fn a_forced_tool_must_be_one_offered() {
        let tool = json!({"name": "submit_review", "input_schema": {"type": "object"}});
        let forced = |name: &str| json!({"tools": [tool.clone()], "tool_choice": {"type": "tool", "name": name}});
        assert_eq!(
            anthropic_shape(&forced("submit_review")),
            Ok(Shape::Tool("submit_review".into()))
        );
        assert!(anthropic_shape(&forced("other")).is_err());
        assert_eq!(
            anthropic_shape(&json!({"tools": [tool]})),
            Ok(Shape::Tool("submit_review".into()))
        );
        assert!(anthropic_shape(&json!({"tools": [{"name": "t"}]})).is_err());
        let schema = json!({"output_config": {"format": {"type": "json_schema", "schema": {}}}});
        assert_eq!(anthropic_shape(&schema), Ok(Shape::Schema));
        assert_eq!(anthropic_shape(&json!({})), Ok(Shape::Text));
    }
}
