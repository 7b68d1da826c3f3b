//! How a simulated model behaves: latency, failures by kind, answer quality.

use serde::{Deserialize, Serialize};

/// One model's behaviour. Rates are probabilities per request; what is left
/// after all failure rates is a normal answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    /// Median and 95th percentile of a log-normal latency, in ms.
    pub latency_median_ms: f64,
    pub latency_p95_ms: f64,
    pub errors: ErrorRates,
    /// `Retry-After` sent with a 429, in seconds.
    pub retry_after_s: f64,
    /// How long a hanging request hangs before answering, in ms.
    pub hang_ms: u64,
    /// For a known case: the chance of answering exactly its expected findings.
    pub accuracy: f64,
    /// Share of each prompt reported as read from the provider's prompt
    /// cache (`cached_tokens`, `cache_read_input_tokens`).
    pub cached_input_share: f64,
    /// Tokens a reasoning model spends thinking on each answer, billed as
    /// output (reported apart by the OpenAI wire format only, as OpenAI does).
    pub reasoning_tokens: u64,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            latency_median_ms: 0.0,
            latency_p95_ms: 0.0,
            errors: ErrorRates::default(),
            retry_after_s: 1.0,
            hang_ms: 120_000,
            accuracy: 1.0,
            cached_input_share: 0.0,
            reasoning_tokens: 0,
        }
    }
}

/// The chance of each failure and each habit of real models. Structured
/// output (a strict `json_schema`, a forced tool) removes the habits of
/// form, `malformed`, `preamble` and `fenced`, as the real APIs do; it does
/// not stop refusals, truncation, empty answers or miscounted lines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorRates {
    /// 500 with an error body.
    pub server: f64,
    /// 429 with `Retry-After`.
    pub rate_limited: f64,
    /// No answer for `hang_ms`.
    pub hang: f64,
    /// 200 whose answer is prose, not the review JSON.
    pub malformed: f64,
    /// 200 whose body is not JSON at all.
    pub garbage: f64,
    /// 200 cut off at max_tokens.
    pub truncated: f64,
    /// 200 carrying an error object.
    pub error_body: f64,
    /// 200 whose answer is the review JSON inside a Markdown code fence,
    /// as chat models often write it.
    pub fenced: f64,
    /// 200 whose answer is the review JSON with a sentence before and after.
    pub preamble: f64,
    /// The model declines: OpenAI's `refusal` field under a schema, an
    /// apology as the answer without one; Anthropic's `stop_reason: refusal`.
    pub refusal: f64,
    /// 200 whose answer is empty.
    pub empty: f64,
    /// The review with one finding past the last line of the code.
    pub out_of_range: f64,
    /// Offered tools, the model calls one of another name.
    pub wrong_tool: f64,
    /// Offered tools, the model answers in text instead.
    pub no_tool: f64,
}

/// What one request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behaviour {
    Answer,
    Server,
    RateLimited,
    Hang,
    Malformed,
    Garbage,
    Truncated,
    ErrorBody,
    Fenced,
    Preamble,
    Refusal,
    Empty,
    OutOfRange,
    WrongTool,
    NoTool,
}

impl ErrorRates {
    fn table(&self) -> [(f64, Behaviour); 14] {
        [
            (self.server, Behaviour::Server),
            (self.rate_limited, Behaviour::RateLimited),
            (self.hang, Behaviour::Hang),
            (self.malformed, Behaviour::Malformed),
            (self.garbage, Behaviour::Garbage),
            (self.truncated, Behaviour::Truncated),
            (self.error_body, Behaviour::ErrorBody),
            (self.fenced, Behaviour::Fenced),
            (self.preamble, Behaviour::Preamble),
            (self.refusal, Behaviour::Refusal),
            (self.empty, Behaviour::Empty),
            (self.out_of_range, Behaviour::OutOfRange),
            (self.wrong_tool, Behaviour::WrongTool),
            (self.no_tool, Behaviour::NoTool),
        ]
    }

    /// The behaviour a uniform draw in [0, 1) lands on.
    pub fn pick(&self, draw: f64) -> Behaviour {
        let mut edge = 0.0;
        for (rate, behaviour) in self.table() {
            edge += rate;
            if draw < edge {
                return behaviour;
            }
        }
        Behaviour::Answer
    }
}

impl Profile {
    /// Every problem, as sentences naming the field.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let rates = self.errors.table();
        for (rate, behaviour) in rates {
            if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
                problems.push(format!(
                    "errors.{}: must be from 0 to 1",
                    serde_json::to_value(behaviour)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or("?")
                ));
            }
        }
        if rates.iter().map(|r| r.0).sum::<f64>() > 1.0 + 1e-9 {
            problems.push("errors: the rates add up to more than 1".to_owned());
        }
        for (name, share) in [
            ("accuracy", self.accuracy),
            ("cached_input_share", self.cached_input_share),
        ] {
            if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
                problems.push(format!("{name}: must be from 0 to 1"));
            }
        }
        let latencies = [
            self.latency_median_ms,
            self.latency_p95_ms,
            self.retry_after_s,
        ];
        if latencies.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            problems.push(
                "latency_median_ms, latency_p95_ms, retry_after_s: must be non-negative".to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// A latency sample from a uniform draw and a standard normal one.
    pub fn latency_ms(&self, standard_normal: f64) -> f64 {
        if self.latency_median_ms <= 0.0 {
            return 0.0;
        }
        // Log-normal: median e^μ, and p95 = median · e^(1.645 σ).
        let sigma =
            (self.latency_p95_ms.max(self.latency_median_ms) / self.latency_median_ms).ln() / 1.645;
        self.latency_median_ms * (sigma * standard_normal).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_fall_into_the_rates_in_order() {
        let rates = ErrorRates {
            server: 0.1,
            rate_limited: 0.2,
            ..ErrorRates::default()
        };
        assert_eq!(rates.pick(0.05), Behaviour::Server);
        assert_eq!(rates.pick(0.25), Behaviour::RateLimited);
        assert_eq!(rates.pick(0.31), Behaviour::Answer);
    }

    #[test]
    fn latency_hits_its_median_and_p95() {
        let profile = Profile {
            latency_median_ms: 100.0,
            latency_p95_ms: 400.0,
            ..Profile::default()
        };
        assert!((profile.latency_ms(0.0) - 100.0).abs() < 1e-9);
        assert!((profile.latency_ms(1.645) - 400.0).abs() < 1e-6);
    }

    #[test]
    fn rates_over_one_are_refused() {
        let profile = Profile {
            errors: ErrorRates {
                server: 0.7,
                hang: 0.7,
                ..ErrorRates::default()
            },
            ..Profile::default()
        };
        assert!(
            profile
                .validate()
                .unwrap_err()
                .contains("add up to more than 1")
        );
    }
}
