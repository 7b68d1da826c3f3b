//! What a review produced: findings, which models answered, and the
//! per-call facts metrics and cost accounting need.

use serde::Serialize;
pub use trizone_api::reviews::{Fallback, ReviewFinding};

use crate::error::{ErrorKind, RouterError};
use crate::output::FormatRecovery;

/// One model's part in a review.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallOutcome {
    pub provider: String,
    pub model: String,
    /// HTTP requests made, retries included.
    pub attempts: u32,
    pub latency_ms: f64,
    /// Every prompt token, cached ones included.
    pub input_tokens: u64,
    /// Of `input_tokens`, those the provider served from its prompt cache.
    pub cached_input_tokens: u64,
    /// Every generated token, reasoning included.
    pub output_tokens: u64,
    /// Of `output_tokens`, those a reasoning model spent thinking.
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
    /// Why the call failed, if it did.
    pub error: Option<ErrorKind>,
    /// The provider's message for a failure.
    pub message: Option<String>,
    /// Set when the answer broke the output contract in a way that was
    /// still read exactly (the model needed help).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<FormatRecovery>,
    /// The model's answer as it came, its first [`ANSWER_CHARS`] characters,
    /// for V1's per-case results; never sent to end users.
    #[serde(skip)]
    pub answer: Option<String>,
}

/// How much of a raw answer a call keeps.
pub const ANSWER_CHARS: usize = 4_000;

impl CallOutcome {
    pub fn model_id(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// A finished review: what the models answered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub findings: Vec<ReviewFinding>,
    pub summary: String,
    /// `provider/model` of every model whose answer is in the review.
    pub answered_by: Vec<String>,
    /// Set when the adaptive strategy fell back to the secondary model.
    pub fallback: Option<Fallback>,
    /// Set when one ensemble member failed and the other's answer was used.
    pub degraded: Option<Fallback>,
}

/// What a review used, counted once from its calls, where the strategy
/// is known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Wall time of the whole review, retries and fallback included.
    pub latency_ms: f64,
    /// Time spent waiting on providers: the calls one after another, except
    /// an ensemble's, which run side by side.
    pub provider_wait_ms: f64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    /// Paid for every call, failed ones too: tokens of an unusable answer
    /// still cost.
    pub cost_usd: f64,
}

/// A review attempt, whole: every call made, what they used, and the
/// review or why there is none.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub calls: Vec<CallOutcome>,
    pub usage: Usage,
    pub result: Result<Review, RouterError>,
}
