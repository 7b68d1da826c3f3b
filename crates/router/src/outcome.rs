//! What a review produced: findings, which models answered, and the
//! per-call facts metrics and cost accounting need.

use serde::Serialize;
use trizone_core::Finding;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};

use crate::error::ErrorKind;

/// A finding with how many models raised it (2 when both ensemble members
/// agreed, otherwise 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub agreement: u8,
}

// Written out, not derived: derived, the schema is `allOf` a `Finding`
// whose own schema admits no other property, which rejects `agreement`
// in every answer. This is `Finding`'s object with `agreement` added.
impl utoipa::PartialSchema for ReviewFinding {
    fn schema() -> RefOr<Schema> {
        let mut object = match <Finding as utoipa::PartialSchema>::schema() {
            RefOr::T(Schema::Object(object)) => object,
            _ => Object::new(),
        };
        object.description = Some("A finding, with how many models raised it".into());
        object.properties.insert(
            "agreement".into(),
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .description(Some(
                    "How many models raised it: 2 when both ensemble members agreed, otherwise 1",
                ))
                .into(),
        );
        object.required.push("agreement".into());
        RefOr::T(Schema::Object(object))
    }
}

impl utoipa::ToSchema for ReviewFinding {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Finding as utoipa::ToSchema>::schemas(schemas);
    }
}

/// One model's part in a review.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CallOutcome {
    pub provider: String,
    pub model: String,
    /// HTTP requests made, retries included.
    pub attempts: u32,
    pub latency_ms: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Why the call failed, if it did.
    pub error: Option<ErrorKind>,
    /// The provider's message for a failure.
    pub message: Option<String>,
}

impl CallOutcome {
    pub fn model_id(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// Why the adaptive strategy answered with the secondary model. V2 keeps
/// it with the review, so it reads back as it was served.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Fallback {
    /// `provider/model` of the primary that failed.
    pub from: String,
    pub reason: ErrorKind,
    pub message: String,
}

/// A finished review.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub findings: Vec<ReviewFinding>,
    pub summary: String,
    /// `provider/model` of every model whose answer is in the review.
    pub answered_by: Vec<String>,
    /// Set when the adaptive strategy fell back to the secondary model.
    pub fallback: Option<Fallback>,
    /// Set when one ensemble member failed and the other's answer was used.
    pub degraded: Option<Fallback>,
    /// Every model call, failed ones included.
    pub calls: Vec<CallOutcome>,
    pub latency_ms: f64,
}

impl Review {
    pub fn cost_usd(&self) -> f64 {
        self.calls.iter().map(|c| c.cost_usd).sum()
    }

    pub fn input_tokens(&self) -> u64 {
        self.calls.iter().map(|c| c.input_tokens).sum()
    }

    pub fn output_tokens(&self) -> u64 {
        self.calls.iter().map(|c| c.output_tokens).sum()
    }
}
