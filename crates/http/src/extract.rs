//! Extractors whose rejections are `ApiError`s, so a bad request gets the
//! same JSON envelope as every other error.

use axum::extract::FromRequest;
use axum::response::{IntoResponse, Response};

use crate::ApiError;

/// `axum::Json`, rejecting with an [`ApiError`] that names the bad field.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
