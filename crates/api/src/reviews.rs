//! V2's reviews as end users send and read them (`/api/v2/reviews`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use trizone_core::provider::ErrorKind;
use trizone_core::{Finding, Language};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use uuid::Uuid;

use crate::states::{ReviewOutcome, SkipReason};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub language: Language,
    /// The source to review.
    pub code: String,
    /// Where the file lives, for the reviewer's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The deployment that produced a review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeploymentRef {
    pub id: Uuid,
    pub version: i64,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewResponse {
    pub id: Uuid,
    pub deployment: DeploymentRef,
    pub language: Language,
    pub path: Option<String>,
    /// `error` for a review no model answered.
    pub outcome: ReviewOutcome,
    /// The kind of failure, for an `error` outcome.
    pub error_kind: Option<ErrorKind>,
    pub findings: Vec<ReviewFinding>,
    pub summary: String,
    /// `provider/model` of every model whose answer is in the review.
    pub answered_by: Vec<String>,
    /// Set when the secondary model answered because the primary failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    pub latency_ms: f64,
    pub created_at: DateTime<Utc>,
}

/// A unified diff reviewed: each changed file is its own review (readable
/// and open to feedback at `/api/v2/reviews/{id}`) of the hunks' new side,
/// with findings on the lines the diff adds, numbered as in the new file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiffReviewResponse {
    pub deployment: DeploymentRef,
    /// One review per reviewed file, in the diff's order.
    pub files: Vec<ReviewResponse>,
    /// The files the diff changes that were not reviewed, and why.
    pub skipped: Vec<SkippedFile>,
    /// From the request to the last file's answer.
    pub latency_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SkippedFile {
    pub path: String,
    pub reason: SkipReason,
}

/// What `POST /api/v2/reviews` answers in JSON: one review for a file, or
/// a diff's reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ReviewAnswer {
    File(ReviewResponse),
    Diff(DiffReviewResponse),
}

/// A finding with how many models raised it (2 when both ensemble members
/// agreed, otherwise 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// Why the adaptive strategy answered with the secondary model. V2 keeps
/// it with the review, so it reads back as it was served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fallback {
    /// `provider/model` of the primary that failed.
    pub from: String,
    pub reason: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// 0 (useless) to 5 (excellent).
    pub satisfaction: i64,
    #[serde(default)]
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedbackResponse {
    pub id: Uuid,
    pub review_id: Uuid,
    pub satisfaction: i16,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_reads_back_with_its_agreement() {
        let json = r#"{"line_start":3,"line_end":4,"severity":"high","category":"sql-injection","message":"m","agreement":2}"#;
        let finding: ReviewFinding = serde_json::from_str(json).unwrap();
        assert_eq!(finding.agreement, 2);
        assert_eq!(finding.finding.category, "sql-injection");
        assert_eq!(serde_json::to_string(&finding).unwrap(), json);
    }
}
