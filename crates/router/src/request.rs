//! What is sent to a model: the configuration's system prompt plus the
//! output contract, and the rendered user template.

use trizone_core::prompt::{PromptInput, Template};
use trizone_core::{Configuration, ModelSpec};

use crate::error::{CallError, ErrorKind};
use crate::provider::Tokens;

/// The output contract appended to every system prompt, so every provider
/// is asked for the same strictly parsed shape.
pub const OUTPUT_CONTRACT: &str = r#"Answer with one JSON object and nothing else:
{"findings": [{"line_start": <int>, "line_end": <int>, "severity": "info"|"low"|"medium"|"high"|"critical", "category": <string>, "message": <string>}], "summary": <string>}
Use an empty "findings" array when the code has no problem. Line numbers start at 1."#;

/// The code under review.
#[derive(Debug, Clone, Copy)]
pub struct ReviewInput<'a> {
    pub code: &'a str,
    pub language: &'a str,
    pub path: &'a str,
}

/// A chat request for one model.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub system: String,
    pub user: String,
    pub temperature: f32,
    pub max_tokens: u32,
    /// Lines in the code under review: no finding may lie beyond them.
    pub lines: usize,
}

impl ChatRequest {
    /// Renders the request; a template that does not parse is a
    /// configuration error (validation normally catches it first).
    pub fn build(config: &Configuration, input: ReviewInput<'_>) -> Result<Self, CallError> {
        let template = Template::parse(&config.prompt.template).map_err(|message| {
            CallError::new(ErrorKind::Config, format!("prompt.template {message}"))
        })?;
        let user = template.render(PromptInput {
            code: input.code,
            language: input.language,
            path: input.path,
        });
        Ok(Self {
            system: format!("{}\n\n{OUTPUT_CONTRACT}", config.prompt.system),
            user,
            temperature: config.parameters.temperature as f32,
            max_tokens: config.parameters.max_tokens,
            lines: input.code.lines().count(),
        })
    }
}

/// USD for the tokens one call used, at the model's prices: cached input
/// at its own rate when the configuration gives one, reasoning as output.
pub fn cost_usd(spec: &ModelSpec, tokens: &Tokens) -> f64 {
    let cached = tokens.cached_input.min(tokens.input);
    let cached_rate = spec.cached_input_per_mtok.unwrap_or(spec.input_per_mtok);
    ((tokens.input - cached) as f64 * spec.input_per_mtok
        + cached as f64 * cached_rate
        + tokens.output as f64 * spec.output_per_mtok)
        / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use trizone_core::ProviderName;

    #[test]
    fn cost_is_tokens_times_price_per_million() {
        let mut spec = ModelSpec {
            provider: ProviderName::parse("openai").unwrap(),
            model: "m".into(),
            input_per_mtok: 2.5,
            cached_input_per_mtok: None,
            output_per_mtok: 10.0,
        };
        let tokens = Tokens {
            input: 1_000,
            cached_input: 400,
            output: 500,
            reasoning: 200,
        };
        // Without a cached rate, cached input costs what input costs.
        assert!((cost_usd(&spec, &tokens) - 0.0075).abs() < 1e-12);
        spec.cached_input_per_mtok = Some(1.25);
        let expected = (600.0 * 2.5 + 400.0 * 1.25 + 500.0 * 10.0) / 1e6;
        assert!((cost_usd(&spec, &tokens) - expected).abs() < 1e-12);
    }
}
