//! `ApiError`: every failure a service answers with, rendered as
//! `{"error": {"code", "message", "field"?, "details"?}}` with its status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trizone_core::FieldError;
#[cfg(feature = "store")]
use trizone_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be read (malformed JSON, bad query string).
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// The request was read but breaks a rule; every broken rule is listed.
    #[error("{message}")]
    Unprocessable {
        message: String,
        field: Option<String>,
        details: Vec<FieldError>,
    },
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("this endpoint needs one of these roles: {allowed}")]
    Forbidden { allowed: &'static str },
    /// A caller of the right role acting on what is not theirs.
    #[error("{message}")]
    NotYours { message: String },
    #[error("{entity} {id} not found")]
    NotFound { entity: &'static str, id: String },
    #[error("no such endpoint")]
    NoRoute,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { message: String },
    /// The platform refuses the request for a domain reason a client may
    /// branch on (`blacklisted`, `quarantined`, `run_in_progress`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The body, or one field of it, is larger than the endpoint accepts.
    #[error("{message}")]
    PayloadTooLarge {
        message: String,
        field: Option<String>,
    },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    /// The `Accept` header asks for nothing the endpoint serves.
    #[error("the Accept header asks for none of what this endpoint serves: {}", served.join(", "))]
    NotAcceptable { served: &'static [&'static str] },
    #[error("too many requests; retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// A dependency is down or the request ran out of time; retrying later may work.
    #[error("{message}")]
    Unavailable { message: String },
    /// No model produced an answer, after the strategy's fallback: 504 when
    /// the deadline passed, 502 otherwise. `kind` names the failure.
    #[error("{message}")]
    Provider {
        kind: trizone_core::provider::ErrorKind,
        message: String,
    },
    /// A bug or an unexpected failure. The client sees a generic message;
    /// the cause is logged once, when the response is built.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    /// Refuses `text`, prose a person sent in `field`, that holds control
    /// characters (tab and line breaks aside) or is longer than `max_chars`.
    pub fn check_prose(field: &str, text: &str, max_chars: usize) -> Result<(), Self> {
        if text.chars().count() > max_chars {
            return Err(Self::invalid(
                field,
                format!("must be at most {max_chars} characters"),
            ));
        }
        trizone_core::text::check_prose(text).map_err(|message| Self::invalid(field, message))
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let detail = FieldError::new(field, message);
        Self::Unprocessable {
            message: detail.to_string(),
            field: Some(detail.field.clone()),
            details: vec![detail],
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::NotYours { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } | Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::Refused { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Provider {
                kind: trizone_core::provider::ErrorKind::Timeout,
                ..
            } => StatusCode::GATEWAY_TIMEOUT,
            Self::Provider { .. } => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable code for clients to branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { .. } => "bad_request",
            Self::Unprocessable { .. } => "invalid",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden { .. } => "forbidden",
            Self::NotYours { .. } => "not_owner",
            Self::NotFound { .. } | Self::NoRoute => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { .. } => "conflict",
            Self::Refused { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::NotAcceptable { .. } => "not_acceptable",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Provider {
                kind: trizone_core::provider::ErrorKind::Timeout,
                ..
            } => "provider_timeout",
            Self::Provider { .. } => "provider_failed",
            Self::Internal(_) => "internal",
        }
    }
}

pub use trizone_api::{ErrorBody, ErrorDetail};

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            tracing::error!(error = %trizone_core::error::chain(source.as_ref()), "request failed");
        }
        let status = self.status();
        let (field, details) = match &self {
            Self::BadRequest { field, .. } | Self::PayloadTooLarge { field, .. } => {
                (field.clone(), Vec::new())
            }
            Self::Unprocessable { field, details, .. } => (field.clone(), details.clone()),
            _ => (None, Vec::new()),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().into(),
                message: self.to_string(),
                field,
                details,
                kind: match &self {
                    Self::Provider { kind, .. } => Some(*kind),
                    _ => None,
                },
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        match self {
            Self::Unauthenticated => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::RateLimited { retry_after_s } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            }
            _ => {}
        }
        response
    }
}

impl From<trizone_core::Error> for ApiError {
    fn from(error: trizone_core::Error) -> Self {
        match error {
            trizone_core::Error::Transition { .. } => Self::Conflict {
                message: error.to_string(),
            },
            trizone_core::Error::Malformed(_) | trizone_core::Error::Invalid(_) => {
                let details = error.field_errors().to_vec();
                let field = details
                    .first()
                    .map(|d| d.field.clone())
                    .filter(|f| !f.is_empty());
                Self::Unprocessable {
                    message: error.to_string(),
                    field,
                    details,
                }
            }
        }
    }
}

#[cfg(feature = "store")]
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound { entity, id } => Self::NotFound { entity, id },
            StoreError::Conflict { .. } | StoreError::StaleStatus { .. } => Self::Conflict {
                message: error.to_string(),
            },
            StoreError::Constraint {
                constraint,
                message,
            } => Self::Unprocessable {
                message,
                field: None,
                details: vec![FieldError::new(constraint, "refused by this constraint")],
            },
            // A client's value the database cannot hold: every text a client
            // sends is checked first, so this names no field it could have
            // checked; it is still the request's fault, not the server's.
            StoreError::InvalidValue { message, .. } => Self::Unprocessable {
                message: format!("a value cannot be stored: {message}"),
                field: None,
                details: Vec::new(),
            },
            StoreError::Domain(domain) => domain.into(),
            error if error.is_transient() => {
                tracing::warn!(error = %trizone_core::error::chain(&error), "database unavailable");
                Self::Unavailable {
                    message: "the database is unavailable; retry shortly".into(),
                }
            }
            error => Self::internal(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_client_errors_except_unavailable_and_internal() {
        assert_eq!(
            ApiError::invalid("a", "b").status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            ApiError::internal(std::io::Error::other("x")).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert!(ApiError::Unauthenticated.status().is_client_error());
    }

    #[test]
    fn a_domain_validation_error_names_its_field() {
        let error: ApiError = trizone_core::Error::Invalid(vec![FieldError::new(
            "parameters.temperature",
            "must be from 0 to 2",
        )])
        .into();
        match error {
            ApiError::Unprocessable { field, .. } => {
                assert_eq!(field.as_deref(), Some("parameters.temperature"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn internal_errors_hide_their_cause_from_the_client() {
        let error = ApiError::internal(std::io::Error::other("password=hunter2"));
        assert_eq!(error.to_string(), "internal error");
    }
}
