//! Extractors whose rejections are `ApiError`s, so a bad request gets the
//! same JSON envelope as every other error.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body, rejected with an [`ApiError`]: 415 without a JSON content
/// type, 413 past the body limit, 400 for bad syntax, and 422 for valid
/// JSON of the wrong shape, naming the field (`configuration.models.primary`)
/// that `serde_path_to_error` found. A U+0000 anywhere is a 422 naming where:
/// no zone can store one, and a value the database refuses must never get
/// as far as a writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType {
                message: "expected a body with `Content-Type: application/json`".into(),
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge {
                        message: "the request body is larger than this endpoint accepts".into(),
                        field: None,
                    }
                } else {
                    ApiError::BadRequest {
                        message: rejection.body_text(),
                        field: None,
                    }
                }
            })?;
        parse(&bytes).map(Json)
    }
}

/// `application/json`, or any `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(path) = trizone_core::text::json_nul_path(bytes) {
        return Err(ApiError::invalid(
            path,
            "must not contain the NUL character (U+0000)",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let (path, shown) = (error.path().to_string(), error.to_string());
        let inner = error.into_inner();
        if inner.classify() == serde_json::error::Category::Data {
            ApiError::Unprocessable {
                message: format!(
                    "Failed to deserialize the JSON body into the target type: {shown}"
                ),
                field: (path != ".").then_some(path),
                details: Vec::new(),
            }
        } else {
            syntax(&inner)
        }
    })?;
    deserializer.end().map_err(|error| syntax(&error))?;
    Ok(value)
}

fn syntax(error: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        message: format!("Failed to parse the request body as JSON: {error}"),
        field: None,
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path`, rejecting with a JSON 400 naming the bad segment.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, rejecting with a JSON 400 naming the bad parameter.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::BadRequest {
            message: rejection.body_text(),
            field: None,
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadRequest {
            message: rejection.body_text(),
            field: None,
        }
    }
}
