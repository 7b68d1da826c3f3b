//! The JSON envelope of every error response, written by every service and
//! read by their clients (the CLI prints its message and code).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use trizone_core::FieldError;
use trizone_core::provider::ErrorKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code: bad_request, invalid, unauthenticated, forbidden,
    /// not_found, conflict, payload_too_large, rate_limited, unavailable, ...
    /// (borrowed where a server writes it, owned where a client reads it).
    #[schema(value_type = String)]
    pub code: Cow<'static, str>,
    pub message: String,
    /// The offending field's dotted path, when one field is to blame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every field problem, when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
    /// What kind of provider failure, for `provider_failed` and
    /// `provider_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
}
