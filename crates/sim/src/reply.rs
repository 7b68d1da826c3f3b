//! What a simulated model writes, and how each wire format dresses it:
//! message content, refusals, stop reasons, tool calls and `usage`.

use serde_json::{Value, json};

use crate::answer;
use crate::profile::{Behaviour, Profile};
use crate::shape::Shape;

const MALFORMED_ANSWER: &str =
    "Sure! I looked at the code and it seems mostly fine, apart from a few style nits.";
const REFUSAL: &str = "I'm sorry, but I can't help with reviewing this code.";
/// The tool a model that calls the wrong one calls.
const OTHER_TOOL: &str = "suggest_refactoring";

/// What a model says, before the wire format dresses it.
#[derive(Debug)]
pub enum Reply {
    Text(String),
    /// Cut off at `max_tokens`, with the text written so far.
    Truncated(String),
    Refusal,
    Call {
        name: String,
        input: Value,
    },
}

impl Reply {
    /// What a model with `behaviour` writes in `shape`; `review` writes the
    /// review it would give, `user` holds the code. Structured output
    /// removes the habits of form (prose, fences, preambles) and nothing
    /// else, as the real APIs do.
    pub fn of(
        behaviour: Behaviour,
        shape: &Shape,
        mut review: impl FnMut() -> Value,
        user: &str,
    ) -> Self {
        // The schema or the tool is what the model writes, in structured mode.
        let answered = |review: Value| match shape {
            Shape::Tool(name) => Reply::Call {
                name: name.clone(),
                input: review,
            },
            Shape::Text | Shape::Schema => Reply::Text(review.to_string()),
        };
        let free = *shape == Shape::Text;
        let tools = matches!(shape, Shape::Tool(_));
        match behaviour {
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
            Behaviour::WrongTool if tools => Reply::Call {
                name: OTHER_TOOL.to_owned(),
                input: review(),
            },
            Behaviour::NoTool if tools => Reply::Text(review().to_string()),
            // The provider's own failures are answered before any model
            // writes: for them, as for the habits the shape rules out, the
            // model answers.
            Behaviour::Answer
            | Behaviour::Malformed
            | Behaviour::Fenced
            | Behaviour::Preamble
            | Behaviour::WrongTool
            | Behaviour::NoTool
            | Behaviour::Server
            | Behaviour::RateLimited
            | Behaviour::Hang
            | Behaviour::Garbage
            | Behaviour::ErrorBody => answered(review()),
        }
    }
}

/// Tokens as the simulated provider bills them.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    input: u64,
    cached_input: u64,
    /// Reasoning included.
    output: u64,
    reasoning: u64,
}

impl Usage {
    pub fn of(profile: &Profile, input: u64, reply: &Reply) -> Self {
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

pub fn openai_body(model: &str, reply: Reply, shape: &Shape, usage: Usage) -> Value {
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

pub fn anthropic_body(model: &str, reply: Reply, shape: &Shape, usage: Usage) -> Value {
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
pub fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}
